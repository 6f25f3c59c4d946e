/* The compiler's own integer forward pass of a program: what tuning will
 * run, batch-major (each core op over all images at once) where the
 * simulator goes image by image. Integer arithmetic is exact, so the two
 * must agree bit for bit (tests/unit/test_ann.c checks it). */
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

int program_forward_int(const Program *p, const int32_t *inputs, int n, int64_t *logits)
{
    if (p->is_float || n < 1)
        return -1;
    int64_t *v = malloc(sizeof *v * (size_t)p->n_neurons * n);
    if (!v || program_forward_int_values(p, inputs, n, v)) {
        free(v);
        return -1;
    }
    for (int img = 0; img < n; img++)
        for (int o = 0; o < p->n_outputs; o++)
            logits[(size_t)img * p->n_outputs + o] = v[(size_t)p->outputs[o] * n + img];
    free(v);
    return 0;
}

int program_forward_int_values(const Program *p, const int32_t *inputs, int n, int64_t *v)
{
    if (p->is_float || n < 1)
        return -1;
    int max_rows = 1;
    for (int i = 0; i < p->n_blocks; i++)
        max_rows = p->blocks[i].rows > max_rows ? p->blocks[i].rows : max_rows;
    /* v[neuron][image]: a neuron's values for every image are contiguous. */
    int64_t *x = malloc(sizeof *x * (size_t)max_rows * n);
    if (!x)
        return -1;
    for (int img = 0; img < n; img++)
        for (int i = 0; i < p->n_inputs; i++)
            v[(size_t)i * n + img] = inputs[(size_t)img * p->n_inputs + i];
    const int64_t top = ((int64_t)1 << p->io_bits) - 1;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        for (int i = 0; i < b->rows; i++) {
            if (op->in[i] == PROGRAM_ZERO)
                memset(x + (size_t)i * n, 0, sizeof *x * (size_t)n);
            else
                memcpy(x + (size_t)i * n, v + (size_t)op->in[i] * n, sizeof *x * (size_t)n);
        }
#pragma omp parallel for schedule(static) if ((size_t)b->cols * b->rows * n > 65536)
        for (int j = 0; j < b->cols; j++) {
            int64_t *y = v + (size_t)(op->out + j) * n;
            for (int img = 0; img < n; img++)
                y[img] = b->bias[j];
            for (int i = 0; i < b->rows; i++) {
                int64_t w = b->w[(size_t)j * b->rows + i];
                const int64_t *xi = x + (size_t)i * n;
                for (int img = 0; img < n; img++)
                    y[img] += w * xi[img];
            }
            if (b->act == CORE_RELU)
                for (int img = 0; img < n; img++) {
                    int64_t a = y[img];
                    if (b->shift)
                        a = (a + ((int64_t)1 << (b->shift - 1))) >> b->shift;
                    y[img] = a < 0 ? 0 : a > top ? top : a;
                }
        }
    }
    free(x);
    return 0;
}
