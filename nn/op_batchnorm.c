/* Batch normalisation per channel (per feature for a flat {n,1,1} input, as
 * BatchNorm1d: then each "channel" simply has one pixel).
 *
 * Training: statistics over batch × h × w; x̂ = (x − μ)/√(σ² + eps) with the
 * biased σ²; y = γ·x̂ + β; running stats move by `momentum` towards μ and the
 * unbiased variance (PyTorch). Inference: μ, σ² are the running stats.
 * Sums run over each row in float (vectorised) and across rows in double, one
 * channel per thread: deterministic for any thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops.h"

enum { GAMMA, BETA, RMEAN, RVAR };

/* layer_aux: this header, then inv_std[c] and mean[c] of the last forward
 * (batch or running statistics). Backward recomputes x̂ from x with them,
 * which costs no more than reading a saved x̂ and saves writing it. */
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

static size_t bn_aux_bytes(const Layer *l) { return sizeof(BnState) + 2 * (size_t)l->out_shape.c * sizeof(float); }

static int bn_reserve(Layer *l, Net *net, int batch, int training)
{
    (void)net, (void)batch, (void)training;
    return layer_aux(l, bn_aux_bytes(l)) ? 0 : -1;
}

/* Reserved by bn_reserve, so never NULL here. */
static BnState *bn_state(Layer *l) { return layer_aux(l, bn_aux_bytes(l)); }
static float *bn_inv(BnState *s) { return (float *)(s + 1); }

/* Channel c of image n: hw contiguous floats. */
#define ROW(p, n, c) ((p) + ((size_t)(n) * C + (size_t)(c)) * hw)

static void bn_forward(Layer *l, Net *net, int batch, int train)
{
    const float *x = layer_input(net, l, 0)->out;
    float *y = l->out;
    const int C = l->out_shape.c;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w, m = (size_t)batch * hw;
    const float *gamma = l->params[GAMMA].data, *beta = l->params[BETA].data;
    float *rmean = l->params[RMEAN].data, *rvar = l->params[RVAR].data;
    const float eps = l->a.eps, mom = l->a.momentum;
    BnState *st = bn_state(l);
    st->train = train;
    float *inv = bn_inv(st), *mean = inv + C;
#pragma omp parallel for schedule(static) if (m * C >= 16384)
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {
            /* One pass for Σt and Σt², t = x − x₀ (x₀ the channel's first
             * value, so Σt² does not cancel when |mean| ≫ std): vectorised
             * float sums per row, added up in double. */
            const float x0 = ROW(x, 0, c)[0];
            double s = 0, s2 = 0;
            for (int n = 0; n < batch; n++) {
                const float *xr = ROW(x, n, c);
                float rs = 0, rs2 = 0;
#pragma omp simd reduction(+ : rs, rs2)
                for (size_t p = 0; p < hw; p++) {
                    float t = xr[p] - x0;
                    rs += t;
                    rs2 += t * t;
                }
                s += rs;
                s2 += rs2;
            }
            double ss = s2 - s * s / (double)m; /* Σ(x − μ)² */
            if (ss < 0)
                ss = 0;
            mu = x0 + s / (double)m;
            var = ss / (double)m;
            double unbiased = m > 1 ? ss / (double)(m - 1) : var;
            rmean[c] = (float)((1 - mom) * rmean[c] + mom * mu);
            rvar[c] = (float)((1 - mom) * rvar[c] + mom * unbiased);
        } else {
            mu = rmean[c];
            var = rvar[c];
        }
        double is = 1.0 / sqrt(var + eps);
        inv[c] = (float)is;
        mean[c] = (float)mu;
        /* y = (x − μ)·(γ·inv) + β: one vectorised pass */
        const float muf = mean[c], sc = (float)(gamma[c] * is), sh = beta[c];
        for (int n = 0; n < batch; n++) {
            const float *xr = ROW(x, n, c);
            float *yr = ROW(y, n, c);
#pragma omp simd
            for (size_t p = 0; p < hw; p++)
                yr[p] = (xr[p] - muf) * sc + sh;
        }
    }
}

/* Training: dx = γ·inv/m · (m·g − Σg − x̂·Σ(g·x̂)); dγ = Σ g·x̂; dβ = Σ g.
 * Inference: the statistics are constants, so dx = γ·inv·g. With x̂ =
 * (x − μ)·inv both are dx = a·g − b·(x − μ) − c0: one pass for the sums,
 * one for dx. */
static void bn_backward(Layer *l, Net *net, int batch)
{
    Layer *in = layer_input(net, l, 0);
    const float *x = in->out, *dy = l->dout;
    float *dx = in->dout;
    const int set = in->dout_set;
    const int C = l->out_shape.c;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w, m = (size_t)batch * hw;
    const float *gamma = l->params[GAMMA].data;
    float *dgamma = l->params[GAMMA].grad, *dbeta = l->params[BETA].grad;
    BnState *st = l->aux;
    const int train = st->train;
    const float *inv = bn_inv(st), *mean = inv + C;
#pragma omp parallel for schedule(static) if (m * C >= 16384)
    for (int c = 0; c < C; c++) {
        const float mu = mean[c];
        double sg = 0, sgx = 0; /* Σg, Σg·(x − μ) */
        for (int n = 0; n < batch; n++) {
            const float *xr = ROW(x, n, c), *gr = ROW(dy, n, c);
            float rg = 0, rgx = 0;
#pragma omp simd reduction(+ : rg, rgx)
            for (size_t p = 0; p < hw; p++) {
                rg += gr[p];
                rgx += gr[p] * (xr[p] - mu);
            }
            sg += rg;
            sgx += rgx;
        }
        sgx *= inv[c]; /* Σ g·x̂ */
        dgamma[c] += (float)sgx;
        dbeta[c] += (float)sg;
        double k = (double)gamma[c] * inv[c];
        const float a = (float)k;
        const float b = train ? (float)(k * inv[c] * sgx / (double)m) : 0.0f;
        const float c0 = train ? (float)(k * sg / (double)m) : 0.0f;
        for (int n = 0; n < batch; n++) {
            const float *xr = ROW(x, n, c), *gr = ROW(dy, n, c);
            float *dr = ROW(dx, n, c);
            if (set) {
#pragma omp simd
                for (size_t p = 0; p < hw; p++)
                    dr[p] = a * gr[p] - b * (xr[p] - mu) - c0;
            } else {
#pragma omp simd
                for (size_t p = 0; p < hw; p++)
                    dr[p] += a * gr[p] - b * (xr[p] - mu) - c0;
            }
        }
    }
}

const OpInfo op_batchnorm_info = {OP_BATCHNORM, "batchnorm", 1, 1, "eps,momentum", bn_setup,
                                  bn_init, bn_forward, bn_backward, bn_reserve, 0, 1};
