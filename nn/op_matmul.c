/* MatMul by a trained weight (ONNX MatMul with a constant right operand):
 * each sample's input is a tensor of `dims` = [.., M, K]; for every index g
 * of the leading dims (G of them in all, 1 for rank 2),
 *
 *   out[g] (M×N) = in[g] (M×K) · weight[g] (K×N),   N = units,
 *
 * giving [.., M, N]. The weight is [G, K, N] (G = 1 included), so a weight
 * broadcast over g by the exporter arrives repeated.
 *
 * G = 1 makes every sample's rows one [samples·M × K] matrix, multiplied by
 * one sgemm split by columns (sgemm_cols, as dense). Otherwise each (sample,
 * g) block is its own single-threaded sgemm, blocks shared among threads; the
 * weight gradient of each g is summed over samples by one thread, in order. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>

#include "ops.h"

typedef struct {
    int g, m, k, n;
} Mm;

static Mm mm_of(const Layer *l)
{
    const IntList *d = &l->a.dims;
    return (Mm){(int)dims_total(d->v, d->n - 2), d->v[d->n - 2], d->v[d->n - 1], l->a.units};
}

static int matmul_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)in, (void)n_in;
    const LayerAttrs *a = &l->a;
    if (dims_check(&a->dims, "dims", 2, err, errlen))
        return -1;
    if (a->units < 1)
        return errf(err, errlen, "needs 'units'");
    if (input_total_check(l, 0, a->dims.v, a->dims.n, err, errlen))
        return -1;
    Mm mm = mm_of(l);
    IntList od = a->dims;
    od.v[od.n - 1] = a->units;
    if (dims_check(&od, "output dims", 2, err, errlen))
        return -1;
    if ((double)mm.g * mm.k * mm.n > INT32_MAX)
        return errf(err, errlen, "weight %dx%dx%d has more than %d values", mm.g, mm.k, mm.n,
                    INT32_MAX);
    layer_add_param(l, "weight", 1, 1, 3, (int[]){mm.g, mm.k, mm.n});
    layer_set_dims(l, od.v, od.n);
    return 0;
}

/* PyTorch-default uniform, fan_in = K (as a Linear layer's). */
static void matmul_init(Layer *l, Rng *rng)
{
    Param *w = layer_param(l, "weight");
    init_fan_in_uniform(w, NULL, w->dims[1], rng);
}

static void matmul_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Mm mm = mm_of(l);
    const float *x = layer_input(net, l, 0)->out, *w = l->params[0].data;
    const int samples = batch / l->outer;
    if (mm.g == 1) {
        sgemm_cols(CblasNoTrans, CblasNoTrans, samples * mm.m, mm.n, mm.k, x, mm.k, w, mm.n, 0.0f,
                   l->out, mm.n);
        return;
    }
    const size_t xb = (size_t)mm.m * mm.k, yb = (size_t)mm.m * mm.n, wb = (size_t)mm.k * mm.n;
    const int blocks = samples * mm.g;
#pragma omp parallel for schedule(static) if ((double)blocks * xb * mm.n >= 1 << 18)
    for (int i = 0; i < blocks; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mm.m, mm.n, mm.k, 1.0f,
                    x + i * xb, mm.k, w + (size_t)(i % mm.g) * wb, mm.n, 0.0f, l->out + i * yb,
                    mm.n);
}

static void matmul_backward(Layer *l, Net *net, int batch)
{
    const Mm mm = mm_of(l);
    Layer *src = layer_input(net, l, 0);
    const float *x = src->out, *w = l->params[0].data, *dy = l->dout;
    float *dw = l->params[0].grad, *dx = input_dout(net, src);
    const int samples = batch / l->outer;
    if (mm.g == 1) {
        /* dW[K×N] += xᵀ · dy;  dx[rows×K] += dy · Wᵀ */
        sgemm_cols(CblasTrans, CblasNoTrans, mm.k, mm.n, samples * mm.m, x, mm.k, dy, mm.n, 1.0f,
                   dw, mm.n);
        if (dx)
            sgemm_cols(CblasNoTrans, CblasTrans, samples * mm.m, mm.k, mm.n, dy, mm.n, w, mm.n,
                       1.0f, dx, mm.k);
        return;
    }
    const size_t xb = (size_t)mm.m * mm.k, yb = (size_t)mm.m * mm.n, wb = (size_t)mm.k * mm.n;
    const int blocks = samples * mm.g;
    const int par = (double)blocks * xb * mm.n >= 1 << 18;
#pragma omp parallel for schedule(static) if (par)
    for (int g = 0; g < mm.g; g++)
        for (int s = 0; s < samples; s++) {
            size_t i = (size_t)s * mm.g + g;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, mm.k, mm.n, mm.m, 1.0f,
                        x + i * xb, mm.k, dy + i * yb, mm.n, 1.0f, dw + (size_t)g * wb, mm.n);
        }
    if (dx)
#pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < blocks; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mm.m, mm.k, mm.n, 1.0f,
                        dy + i * yb, mm.n, w + (size_t)(i % mm.g) * wb, mm.n, 1.0f, dx + i * xb,
                        mm.k);
}

const OpInfo op_matmul_info = {OP_MATMUL, "matmul", 1, 1, "dims,units", matmul_setup, matmul_init,
                               matmul_forward, matmul_backward, NULL, 1, 0};
