/* The compiler's own forward pass of a float program (calibration, and
 * later tuning): every neuron's value for a batch of images, neuron-major,
 * each core op one dgemm over the whole batch. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "compiler.h"

/* Every block's weights as doubles for dgemm, converted once per call:
 * converting at each change of block cost a tenth of the pass, as the ops
 * of split layers alternate between blocks. NULL on OOM. */
static double **blocks_as_double(const Program *p)
{
    double **w = calloc((size_t)(p->n_blocks ? p->n_blocks : 1), sizeof *w);
    for (int i = 0; w && i < p->n_blocks; i++) {
        const CoreBlock *b = &p->blocks[i];
        size_t cells = (size_t)b->rows * b->cols;
        if (!(w[i] = malloc(sizeof **w * (cells ? cells : 1)))) {
            for (int k = 0; k < i; k++)
                free(w[k]);
            free(w);
            return NULL;
        }
        for (size_t t = 0; t < cells; t++)
            w[i][t] = b->wf[t];
    }
    return w;
}

static void free_blocks(double **w, int n)
{
    for (int i = 0; w && i < n; i++)
        free(w[i]);
    free(w);
}

int program_forward_float_each(const Program *p, const float *inputs, int n, double *v, FloatOpSeen seen,
                               void *ctx)
{
    if (!p->is_float || n < 1)
        return -1;
    int max_rows = 1;
    for (int i = 0; i < p->n_blocks; i++)
        max_rows = p->blocks[i].rows > max_rows ? p->blocks[i].rows : max_rows;
    double *x = malloc(sizeof *x * (size_t)max_rows * n), **w = blocks_as_double(p);
    if (!x || !w) {
        free(x);
        free_blocks(w, p->n_blocks);
        return -1;
    }
    for (int img = 0; img < n; img++)
        for (int i = 0; i < p->n_inputs; i++)
            v[(size_t)i * n + img] = inputs[(size_t)img * p->n_inputs + i];
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        for (int i = 0; i < b->rows; i++) {
            if (op->in[i] == PROGRAM_ZERO)
                memset(x + (size_t)i * n, 0, sizeof *x * (size_t)n);
            else
                memcpy(x + (size_t)i * n, v + (size_t)op->in[i] * n, sizeof *x * (size_t)n);
        }
        double *y = v + (size_t)op->out * n;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->cols, n, b->rows, 1.0, w[op->block], b->rows,
                    x, n, 0.0, y, n);
        /* The activation in its own loops, which the compiler vectorises. */
        for (int j = 0; j < b->cols; j++) {
            double *yj = y + (size_t)j * n, bias = b->bf[j];
            if (b->act == CORE_RELU)
                for (int img = 0; img < n; img++) {
                    double a = yj[img] + bias;
                    yj[img] = a < 0 ? 0 : a;
                }
            else
                for (int img = 0; img < n; img++)
                    yj[img] += bias;
        }
        if (seen)
            seen(ctx, op, b->cols, y, n);
    }
    free(x);
    free_blocks(w, p->n_blocks);
    return 0;
}

int program_forward_float(const Program *p, const float *inputs, int n, double *v)
{
    return program_forward_float_each(p, inputs, n, v, NULL, NULL);
}
