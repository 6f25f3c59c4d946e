/* The compiler's own forward pass of a float program (calibration, and
 * later tuning): every neuron's value for a batch of images, neuron-major,
 * each core op one dgemm over the whole batch. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "compiler.h"

int program_forward_float(const Program *p, const float *inputs, int n, double *v)
{
    if (!p->is_float || n < 1)
        return -1;
    int max_rows = 1, max_cells = 1;
    for (int i = 0; i < p->n_blocks; i++) {
        const CoreBlock *b = &p->blocks[i];
        max_rows = b->rows > max_rows ? b->rows : max_rows;
        max_cells = b->rows * b->cols > max_cells ? b->rows * b->cols : max_cells;
    }
    double *x = malloc(sizeof *x * (size_t)max_rows * n), *w = malloc(sizeof *w * (size_t)max_cells);
    if (!x || !w) {
        free(x);
        free(w);
        return -1;
    }
    for (int img = 0; img < n; img++)
        for (int i = 0; i < p->n_inputs; i++)
            v[(size_t)i * n + img] = inputs[(size_t)img * p->n_inputs + i];
    int last_block = -1;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        if (op->block != last_block) { /* consecutive ops mostly share a block */
            for (size_t t = 0; t < (size_t)b->rows * b->cols; t++)
                w[t] = b->wf[t];
            last_block = op->block;
        }
        for (int i = 0; i < b->rows; i++) {
            if (op->in[i] == PROGRAM_ZERO)
                memset(x + (size_t)i * n, 0, sizeof *x * (size_t)n);
            else
                memcpy(x + (size_t)i * n, v + (size_t)op->in[i] * n, sizeof *x * (size_t)n);
        }
        double *y = v + (size_t)op->out * n;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->cols, n, b->rows, 1.0, w, b->rows, x, n,
                    0.0, y, n);
        for (int j = 0; j < b->cols; j++)
            for (int img = 0; img < n; img++) {
                double a = y[(size_t)j * n + img] + b->bf[j];
                y[(size_t)j * n + img] = b->act == CORE_RELU && a < 0 ? 0 : a;
            }
    }
    free(x);
    free(w);
    return 0;
}
