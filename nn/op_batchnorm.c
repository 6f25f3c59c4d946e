/* Batch normalisation per channel (per feature for a flat {n,1,1} input, as
 * BatchNorm1d: then each "channel" simply has one pixel).
 *
 * Training: statistics over batch × h × w; x̂ = (x − μ)/√(σ² + eps) with the
 * biased σ²; y = γ·x̂ + β; running stats move by `momentum` towards μ and the
 * unbiased variance (PyTorch). Inference: μ, σ² are the running stats.
 * Sums run in double, one channel per thread: deterministic for any thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops.h"

enum { GAMMA, BETA, RMEAN, RVAR };

/* layer_aux: this header, then inv_std[c], then x̂[batch × size] (training only). */
typedef struct {
    int train; /* mode of the last forward: selects the backward */
    int pad_;
} BnState;

static int bn_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in;
    if (!(l->a.eps > 0) || !(l->a.momentum >= 0 && l->a.momentum <= 1)) {
        snprintf(err, errlen, "batchnorm needs eps > 0 and momentum in [0, 1] (eps %g, momentum %g)",
                 l->a.eps, l->a.momentum);
        return -1;
    }
    l->out_shape = in[0];
    const int dims[1] = {in[0].c};
    layer_add_param(l, "gamma", 1, 0, 1, dims);
    layer_add_param(l, "beta", 1, 0, 1, dims);
    layer_add_param(l, "running_mean", 0, 0, 1, dims);
    layer_add_param(l, "running_var", 0, 0, 1, dims);
    return 0;
}

static void bn_init(Layer *l, Rng *rng)
{
    (void)rng;
    for (int c = 0; c < l->out_shape.c; c++) {
        l->params[GAMMA].data[c] = 1;
        l->params[BETA].data[c] = 0;
        l->params[RMEAN].data[c] = 0;
        l->params[RVAR].data[c] = 1;
    }
}

static size_t bn_aux_bytes(const Layer *l, int batch)
{
    size_t floats = (size_t)l->out_shape.c + (size_t)batch * shape_size(l->out_shape);
    return sizeof(BnState) + floats * sizeof(float);
}

static int bn_reserve(Layer *l, Net *net, int batch, int training)
{
    (void)net, (void)training;
    return layer_aux(l, bn_aux_bytes(l, batch)) ? 0 : -1;
}

/* Reserved by bn_reserve, so never NULL here. */
static BnState *bn_state(Layer *l, int batch) { return layer_aux(l, bn_aux_bytes(l, batch)); }
static float *bn_inv(BnState *s) { return (float *)(s + 1); }

static void bn_forward(Layer *l, Net *net, int batch, int train)
{
    const float *x = layer_input(net, l, 0)->out;
    float *y = l->out;
    const int C = l->out_shape.c;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w, m = (size_t)batch * hw;
    const float *gamma = l->params[GAMMA].data, *beta = l->params[BETA].data;
    float *rmean = l->params[RMEAN].data, *rvar = l->params[RVAR].data;
    const float eps = l->a.eps, mom = l->a.momentum;
    BnState *st = bn_state(l, batch);
    st->train = train;
    float *inv = bn_inv(st), *xhat = inv + C;
#pragma omp parallel for schedule(static) if (m * C >= 16384)
    for (int c = 0; c < C; c++) {
        double mean, var;
        if (train) {
            double s = 0, s2 = 0;
            for (int n = 0; n < batch; n++)
                for (size_t p = 0; p < hw; p++)
                    s += x[((size_t)n * C + c) * hw + p];
            mean = s / (double)m;
            for (int n = 0; n < batch; n++)
                for (size_t p = 0; p < hw; p++) {
                    double t = x[((size_t)n * C + c) * hw + p] - mean;
                    s2 += t * t;
                }
            var = s2 / (double)m;
            double unbiased = m > 1 ? s2 / (double)(m - 1) : var;
            rmean[c] = (float)((1 - mom) * rmean[c] + mom * mean);
            rvar[c] = (float)((1 - mom) * rvar[c] + mom * unbiased);
        } else {
            mean = rmean[c];
            var = rvar[c];
        }
        double is = 1.0 / sqrt(var + eps);
        inv[c] = (float)is;
        for (int n = 0; n < batch; n++)
            for (size_t p = 0; p < hw; p++) {
                size_t i = ((size_t)n * C + c) * hw + p;
                float h = (float)((x[i] - mean) * is);
                if (train)
                    xhat[i] = h;
                y[i] = gamma[c] * h + beta[c];
            }
    }
}

/* Training: dx = γ·inv/m · (m·g − Σg − x̂·Σ(g·x̂)); dγ = Σ g·x̂; dβ = Σ g.
 * Inference: the statistics are constants, so dx = γ·inv·g. */
static void bn_backward(Layer *l, Net *net, int batch)
{
    Layer *in = layer_input(net, l, 0);
    const float *x = in->out, *dy = l->dout;
    float *dx = in->dout;
    const int C = l->out_shape.c;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w, m = (size_t)batch * hw;
    const float *gamma = l->params[GAMMA].data, *rmean = l->params[RMEAN].data;
    float *dgamma = l->params[GAMMA].grad, *dbeta = l->params[BETA].grad;
    BnState *st = l->aux;
    const int train = st->train;
    const float *inv = bn_inv(st), *xhat = inv + C;
#pragma omp parallel for schedule(static) if (m * C >= 16384)
    for (int c = 0; c < C; c++) {
        double sg = 0, sgx = 0;
        for (int n = 0; n < batch; n++)
            for (size_t p = 0; p < hw; p++) {
                size_t i = ((size_t)n * C + c) * hw + p;
                double h = train ? xhat[i] : (x[i] - rmean[c]) * inv[c];
                sg += dy[i];
                sgx += dy[i] * h;
            }
        dgamma[c] += (float)sgx;
        dbeta[c] += (float)sg;
        double k = (double)gamma[c] * inv[c];
        double mg = sg / (double)m, mgx = sgx / (double)m;
        for (int n = 0; n < batch; n++)
            for (size_t p = 0; p < hw; p++) {
                size_t i = ((size_t)n * C + c) * hw + p;
                dx[i] += train ? (float)(k * (dy[i] - mg - xhat[i] * mgx)) : (float)(k * dy[i]);
            }
    }
}

const OpInfo op_batchnorm_info = {OP_BATCHNORM, "batchnorm", 1, 1, "eps,momentum", bn_setup,
                                  bn_init, bn_forward, bn_backward, bn_reserve, 0};
