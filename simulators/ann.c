/* The ANN core simulator: integer crossbars with a quantised, saturating
 * ReLU (DESIGN.md §6), one image per thread at a time. */
#include <stdlib.h>
#include <string.h>

#include "simulators.h"

/* round(acc · 2^−shift) half up, then clamp to the I/O range. */
static inline int64_t quantise(int64_t acc, int shift, int64_t top)
{
    int64_t y = shift ? (acc + ((int64_t)1 << (shift - 1))) >> shift : acc;
    return y < 0 ? 0 : y > top ? top : y;
}

/* One core op on one image: v holds every neuron's value so far. */
static void run_op(const Program *p, const CoreOp *op, int64_t *v, int64_t *x)
{
    const CoreBlock *b = &p->blocks[op->block];
    const int64_t top = ((int64_t)1 << p->io_bits) - 1;
    for (int i = 0; i < b->rows; i++) /* gather the rows once */
        x[i] = op->in[i] == PROGRAM_ZERO ? 0 : v[op->in[i]];
    for (int j = 0; j < b->cols; j++) {
        const int32_t *w = b->w + (size_t)j * b->rows;
        int64_t acc = b->bias[j];
        for (int i = 0; i < b->rows; i++)
            acc += (int64_t)w[i] * x[i];
        v[op->out + j] = b->act == CORE_RELU ? quantise(acc, b->shift, top) : acc;
    }
}

int ann_run(const Program *p, const int32_t *inputs, int n, int64_t *logits)
{
    int max_rows = 1, failed = 0;
    for (int i = 0; i < p->n_blocks; i++)
        max_rows = p->blocks[i].rows > max_rows ? p->blocks[i].rows : max_rows;
#pragma omp parallel
    {
        int64_t *v = malloc(sizeof *v * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1));
        int64_t *x = malloc(sizeof *x * (size_t)max_rows);
        if (!v || !x) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int img = 0; img < n; img++) {
            if (!v || !x)
                continue;
            const int32_t *in = inputs + (size_t)img * p->n_inputs;
            for (int i = 0; i < p->n_inputs; i++)
                v[i] = in[i];
            for (int k = 0; k < p->n_ops; k++)
                run_op(p, &p->ops[k], v, x);
            for (int o = 0; o < p->n_outputs; o++)
                logits[(size_t)img * p->n_outputs + o] = v[p->outputs[o]];
        }
        free(v);
        free(x);
    }
    return failed ? -1 : 0;
}

static void run_op_float(const CoreOp *op, const CoreBlock *b, double *v, double *x)
{
    for (int i = 0; i < b->rows; i++)
        x[i] = op->in[i] == PROGRAM_ZERO ? 0 : v[op->in[i]];
    for (int j = 0; j < b->cols; j++) {
        const float *w = b->wf + (size_t)j * b->rows;
        double acc = b->bf[j];
        for (int i = 0; i < b->rows; i++)
            acc += (double)w[i] * x[i];
        v[op->out + j] = b->act == CORE_RELU && acc < 0 ? 0 : acc;
    }
}

int ann_run_float(const Program *p, const float *inputs, int n, float *logits)
{
    int max_rows = 1, failed = !p->is_float;
    for (int i = 0; i < p->n_blocks; i++)
        max_rows = p->blocks[i].rows > max_rows ? p->blocks[i].rows : max_rows;
#pragma omp parallel if (!failed)
    {
        double *v = malloc(sizeof *v * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1));
        double *x = malloc(sizeof *x * (size_t)max_rows);
        if (!v || !x) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int img = 0; img < n; img++) {
            if (!v || !x)
                continue;
            const float *in = inputs + (size_t)img * p->n_inputs;
            for (int i = 0; i < p->n_inputs; i++)
                v[i] = in[i];
            for (int k = 0; k < p->n_ops; k++)
                run_op_float(&p->ops[k], &p->blocks[p->ops[k].block], v, x);
            for (int o = 0; o < p->n_outputs; o++)
                logits[(size_t)img * p->n_outputs + o] = (float)v[p->outputs[o]];
        }
        free(v);
        free(x);
    }
    return failed ? -1 : 0;
}
