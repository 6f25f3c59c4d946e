/* Cross-channel local response normalisation (ONNX LRN):
 *
 *   b_c = a_c · d_c^(−β),   d_c = k + α/size · Σ_{c' ∈ W(c)} a_{c'}²,
 *   W(c) = c − lo .. c + hi clipped to the channels, lo = ⌊(size−1)/2⌋, hi = ⌈(size−1)/2⌉.
 *
 * Backward (j ∈ W(c) ⇔ c ∈ j − hi .. j + lo):
 *   ∂L/∂a_j = g_j·d_j^(−β) − (2αβ/size)·a_j · Σ_{c: j ∈ W(c)} g_c·b_c / d_c
 * The forward pass keeps d in layer_aux for this. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops.h"

static int lrn_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in;
    if (l->a.size < 1 || l->a.k < 0 || l->a.alpha < 0 || l->a.beta < 0) {
        snprintf(err, errlen, "lrn needs size >= 1 and alpha, beta, k >= 0 (size %d, alpha %g, "
                 "beta %g, k %g)", l->a.size, l->a.alpha, l->a.beta, l->a.k);
        return -1;
    }
    l->out_shape = in[0];
    return 0;
}

/* d must be positive for the power; k = 0 with an all-zero window would give 0^−β. */
static inline float lrn_floor(float d) { return d > 1e-30f ? d : 1e-30f; }

/* The denominators d, kept for backward. */
static int lrn_reserve(Layer *l, Net *net, int batch, int training)
{
    (void)net, (void)training;
    return layer_aux(l, sizeof(float) * (size_t)batch * shape_size(l->out_shape)) ? 0 : -1;
}

static void lrn_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train; /* same in both modes; d is kept for a later backward either way */
    const float *x = layer_input(net, l, 0)->out;
    float *y = l->out;
    const int C = l->out_shape.c, lo = (l->a.size - 1) / 2, hi = l->a.size - 1 - lo;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w;
    const float scale = l->a.alpha / (float)l->a.size, k = l->a.k, beta = l->a.beta;
    float *d = layer_aux(l, sizeof(float) * (size_t)batch * C * hw); /* reserved: never NULL */
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)batch * C * hw >= 16384)
    for (int n = 0; n < batch; n++)
        for (int c = 0; c < C; c++) {
            int c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi >= C ? C - 1 : c + hi;
            const float *xs = x + (size_t)n * C * hw;
            size_t o = ((size_t)n * C + c) * hw;
            /* Pixels innermost: contiguous, vectorisable; d holds the window sum first. */
            for (size_t p = 0; p < hw; p++)
                d[o + p] = 0;
            for (int cc = c0; cc <= c1; cc++)
                for (size_t p = 0; p < hw; p++)
                    d[o + p] += xs[cc * hw + p] * xs[cc * hw + p];
            for (size_t p = 0; p < hw; p++) {
                d[o + p] = lrn_floor(k + scale * d[o + p]);
                y[o + p] = x[o + p] * powf(d[o + p], -beta);
            }
        }
}

static void lrn_backward(Layer *l, Net *net, int batch)
{
    Layer *in = layer_input(net, l, 0);
    const float *x = in->out, *y = l->out, *dy = l->dout, *d = l->aux;
    float *dx = in->dout;
    const int C = l->out_shape.c, lo = (l->a.size - 1) / 2, hi = l->a.size - 1 - lo;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w;
    const float beta = l->a.beta, coef = 2.0f * l->a.alpha * beta / (float)l->a.size;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)batch * C * hw >= 16384)
    for (int n = 0; n < batch; n++)
        for (int j = 0; j < C; j++) {
            int c0 = j - hi < 0 ? 0 : j - hi, c1 = j + lo >= C ? C - 1 : j + lo;
            size_t base = (size_t)n * C * hw, o = base + (size_t)j * hw;
            for (size_t p = 0; p < hw; p++)
                dx[o + p] += dy[o + p] * powf(d[o + p], -beta);
            for (int c = c0; c <= c1; c++) {
                size_t q = base + c * hw;
                for (size_t p = 0; p < hw; p++)
                    dx[o + p] -= coef * x[o + p] * dy[q + p] * y[q + p] / d[q + p];
            }
        }
}

const OpInfo op_lrn_info = {OP_LRN, "lrn", 1, 1, "size,alpha,beta,k", lrn_setup, NULL,
                            lrn_forward, lrn_backward, lrn_reserve, 0, 0};
