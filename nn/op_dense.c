/* Dense (fully connected): out = W·x + b over the whole batch by sgemm.
 * The input may have any shape; it is read as size(in) features (per block:
 * an imported [M, K] tensor, outer M, is M rows).
 *
 * OpenBLAS runs single-threaded in nn (see op_conv.c), so each product is
 * split by output columns across OpenMP threads: every element is then
 * reduced by one thread in one order, whatever the thread count. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

/* Row-major C[m×n] = op(A)·op(B) + beta·C with the n columns split across
 * threads (in blocks of 16, so each keeps full-width sgemm kernels). Shared
 * with matmul (ops.h). */
void sgemm_cols(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    int blocks = (n + 15) / 16;
#pragma omp parallel if ((double)m * n * k >= 1 << 18)
    {
        int t = omp_get_thread_num(), team = omp_get_num_threads();
        int lo = blocks * t / team * 16, hi = blocks * (t + 1) / team * 16;
        if (hi > n)
            hi = n;
        if (lo < hi) /* columns lo.. of op(B): along a row of B, or down its rows */
            cblas_sgemm(CblasRowMajor, ta, tb, m, hi - lo, k, 1.0f, a, lda,
                        tb == CblasNoTrans ? b + lo : b + (size_t)lo * ldb, ldb, beta, c + lo,
                        ldc);
    }
}

static int dense_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in;
    if (l->a.units < 1) {
        snprintf(err, errlen, "needs 'units'");
        return -1;
    }
    int fan_in = (int)shape_size(in[0]);
    l->out_shape = (Shape){l->a.units, 1, 1};
    layer_add_param(l, "weight", 1, 1, 2, (int[]){l->a.units, fan_in});
    if (l->a.bias)
        layer_add_param(l, "bias", 1, 0, 1, (int[]){l->a.units});
    return 0;
}

/* PyTorch-default uniform weights and bias (see init_fan_in_uniform). */
static void dense_init(Layer *l, Rng *rng)
{
    Param *w = layer_param(l, "weight");
    init_fan_in_uniform(w, layer_param(l, "bias"), w->dims[1], rng);
}

static void dense_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Layer *src = layer_input(net, l, 0);
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    int units = w->dims[0], fan_in = w->dims[1];
    /* Seed every row with the bias so the sgemm can accumulate onto it (beta = 1). */
    float beta = 0.0f;
    if (b) {
        for (int n = 0; n < batch; n++)
            memcpy(l->out + (size_t)n * units, b->data, (size_t)units * sizeof(float));
        beta = 1.0f;
    }
    /* out[batch × units] = in[batch × fan_in] · Wᵀ */
    sgemm_cols(CblasNoTrans, CblasTrans, batch, units, fan_in, src->out, fan_in, w->data, fan_in,
               beta, l->out, units);
}

static void dense_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    int units = w->dims[0], fan_in = w->dims[1];
    /* dW[units × fan_in] += doutᵀ · in */
    sgemm_cols(CblasTrans, CblasNoTrans, units, fan_in, batch, l->dout, units, src->out, fan_in,
               1.0f, w->grad, fan_in);
    if (b) /* serial over the batch: the same order on every run */
        for (int n = 0; n < batch; n++) {
            const float *d = l->dout + (size_t)n * units;
#pragma omp simd
            for (int u = 0; u < units; u++)
                b->grad[u] += d[u];
        }
    /* din[batch × fan_in] (+)= dout · W: beta 0 writes it when we are its only reader */
    if (input_dout(net, src))
        sgemm_cols(CblasNoTrans, CblasNoTrans, batch, fan_in, units, l->dout, units, w->data,
                   fan_in, src->dout_set ? 0.0f : 1.0f, src->dout, fan_in);
}

const OpInfo op_dense_info = {OP_DENSE, "dense", 1, 1, "units,bias", dense_setup, dense_init,
                              dense_forward, dense_backward, NULL, 0, 1};
