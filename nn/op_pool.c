/* Pooling: max, average and global average, with ONNX MaxPool / AveragePool
 * semantics (asymmetric pads, ceil_mode, count_include_pad), so imported
 * models compute exactly what their exporter computed.
 *
 * Every loop runs over whole (sample, channel) planes in parallel: each plane
 * is written by one thread in a fixed order, so results do not depend on the
 * thread count. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "ops.h"

/* Output shape of a pooling window over in[0]; validates kernel and padding. */
static int pool_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in;
    const LayerAttrs *a = &l->a;
    int oh = window_out_size(in[0].h, a->kernel_h, a->stride_h, a->pad_t, a->pad_b, a->ceil_mode);
    int ow = window_out_size(in[0].w, a->kernel_w, a->stride_w, a->pad_l, a->pad_r, a->ceil_mode);
    if (oh < 1 || ow < 1) {
        snprintf(err, errlen, "kernel %dx%d does not fit input %dx%d with padding %d,%d,%d,%d",
                 a->kernel_h, a->kernel_w, in[0].h, in[0].w, a->pad_t, a->pad_l, a->pad_b,
                 a->pad_r);
        return -1;
    }
    /* A window lying wholly in the padding would have no input pixel (as in PyTorch). */
    if (a->pad_t >= a->kernel_h || a->pad_b >= a->kernel_h || a->pad_l >= a->kernel_w ||
        a->pad_r >= a->kernel_w) {
        snprintf(err, errlen, "padding %d,%d,%d,%d must be smaller than the kernel %dx%d",
                 a->pad_t, a->pad_l, a->pad_b, a->pad_r, a->kernel_h, a->kernel_w);
        return -1;
    }
    l->out_shape = (Shape){in[0].c, oh, ow};
    return 0;
}

/* The window of output (oh, ow) clipped to the input: rows [*h0, *h1), cols [*w0, *w1). */
static inline void window(const LayerAttrs *a, Shape in, int oh, int ow, int *h0, int *h1,
                          int *w0, int *w1)
{
    int hs = oh * a->stride_h - a->pad_t, ws = ow * a->stride_w - a->pad_l;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = hs + a->kernel_h < in.h ? hs + a->kernel_h : in.h;
    *w1 = ws + a->kernel_w < in.w ? ws + a->kernel_w : in.w;
}

/* ------------------------------------------------------------- maxpool */

/* One plane of max pooling with a kh×kw window. Padding is -inf, so only real
 * pixels compete; ties go to the first in scan order and a NaN wins, as in
 * PyTorch. The argmax (index in the plane) is kept for backward. Called with
 * constant kh, kw for common kernels so the compiler unrolls the window. */
static inline __attribute__((always_inline)) void
maxpool_plane(const LayerAttrs *a, Shape in, Shape out, const float *x, float *y, int32_t *arg,
              int kh, int kw)
{
    for (int oh = 0; oh < out.h; oh++)
        for (int ow = 0; ow < out.w; ow++) {
            int h0, h1, w0, w1;
            window(a, in, oh, ow, &h0, &h1, &w0, &w1);
            if (h1 - h0 == kh && w1 - w0 == kw) /* a whole window: fixed trip counts */
                h1 = h0 + kh, w1 = w0 + kw;
            int best = h0 * in.w + w0;
            float m = x[best];
            for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++) {
                    /* Selects, not a branch: random data would mispredict it. */
                    float v = x[h * in.w + w];
                    int win = v > m || isnan(v);
                    m = win ? v : m;
                    best = win ? h * in.w + w : best;
                }
            y[oh * out.w + ow] = m;
            arg[oh * out.w + ow] = best;
        }
}

static void maxpool_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Layer *src = layer_input(net, l, 0);
    const LayerAttrs *a = &l->a;
    Shape in = l->in_shape[0], out = l->out_shape;
    int planes = batch * in.c;
    size_t isz = (size_t)in.h * in.w, osz = (size_t)out.h * out.w;
    int32_t *arg = layer_aux(l, (size_t)planes * osz * sizeof *arg);
    if (!arg)
        return; /* out of memory: leaves out unchanged rather than crash */
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *x = src->out + (size_t)p * isz;
        float *y = l->out + (size_t)p * osz;
        int32_t *ai = arg + (size_t)p * osz;
        if (a->kernel_h == 2 && a->kernel_w == 2)
            maxpool_plane(a, in, out, x, y, ai, 2, 2);
        else if (a->kernel_h == 3 && a->kernel_w == 3)
            maxpool_plane(a, in, out, x, y, ai, 3, 3);
        else
            maxpool_plane(a, in, out, x, y, ai, a->kernel_h, a->kernel_w);
    }
}

static void maxpool_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    Shape in = l->in_shape[0], out = l->out_shape;
    int planes = batch * in.c;
    size_t isz = (size_t)in.h * in.w, osz = (size_t)out.h * out.w;
    const int32_t *arg = l->aux;
    if (!src->dout || !arg)
        return;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *dx = src->dout + (size_t)p * isz;
        const float *dy = l->dout + (size_t)p * osz;
        const int32_t *ai = arg + (size_t)p * osz;
        for (size_t o = 0; o < osz; o++)
            dx[ai[o]] += dy[o];
    }
}

/* ------------------------------------------------------------- avgpool */

/* Divisor of output (oh, ow). count_include_pad: the window clipped to the
 * padded input (ceil-mode windows may run past it, as in ONNX/PyTorch);
 * otherwise the real pixels only. */
static inline int avg_divisor(const LayerAttrs *a, Shape in, int oh, int ow, int h0, int h1,
                              int w0, int w1)
{
    if (!a->count_include_pad)
        return (h1 - h0) * (w1 - w0);
    int hs = oh * a->stride_h - a->pad_t, ws = ow * a->stride_w - a->pad_l;
    int he = hs + a->kernel_h, we = ws + a->kernel_w;
    if (he > in.h + a->pad_b)
        he = in.h + a->pad_b;
    if (we > in.w + a->pad_r)
        we = in.w + a->pad_r;
    return (he - hs) * (we - ws);
}

static void avgpool_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Layer *src = layer_input(net, l, 0);
    Shape in = l->in_shape[0], out = l->out_shape;
    int planes = batch * in.c;
    size_t isz = (size_t)in.h * in.w, osz = (size_t)out.h * out.w;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *x = src->out + (size_t)p * isz;
        float *y = l->out + (size_t)p * osz;
        for (int oh = 0; oh < out.h; oh++)
            for (int ow = 0; ow < out.w; ow++) {
                int h0, h1, w0, w1;
                window(&l->a, in, oh, ow, &h0, &h1, &w0, &w1);
                float s = 0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        s += x[h * in.w + w];
                y[oh * out.w + ow] = s / (float)avg_divisor(&l->a, in, oh, ow, h0, h1, w0, w1);
            }
    }
}

static void avgpool_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    Shape in = l->in_shape[0], out = l->out_shape;
    int planes = batch * in.c;
    size_t isz = (size_t)in.h * in.w, osz = (size_t)out.h * out.w;
    if (!src->dout)
        return;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *dx = src->dout + (size_t)p * isz;
        const float *dy = l->dout + (size_t)p * osz;
        for (int oh = 0; oh < out.h; oh++)
            for (int ow = 0; ow < out.w; ow++) {
                int h0, h1, w0, w1;
                window(&l->a, in, oh, ow, &h0, &h1, &w0, &w1);
                float g = dy[oh * out.w + ow] /
                          (float)avg_divisor(&l->a, in, oh, ow, h0, h1, w0, w1);
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        dx[h * in.w + w] += g;
            }
    }
}

/* ------------------------------------------------------ global avgpool */

static int gap_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in, (void)err, (void)errlen;
    l->out_shape = (Shape){in[0].c, 1, 1};
    return 0;
}

static void gap_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Layer *src = layer_input(net, l, 0);
    int planes = batch * l->in_shape[0].c;
    size_t isz = (size_t)l->in_shape[0].h * l->in_shape[0].w;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *x = src->out + (size_t)p * isz;
        double s = 0; /* per plane, fixed order: deterministic */
        for (size_t i = 0; i < isz; i++)
            s += x[i];
        l->out[p] = (float)(s / (double)isz);
    }
}

static void gap_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    int planes = batch * l->in_shape[0].c;
    size_t isz = (size_t)l->in_shape[0].h * l->in_shape[0].w;
    if (!src->dout)
        return;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *dx = src->dout + (size_t)p * isz;
        float g = l->dout[p] / (float)isz;
        for (size_t i = 0; i < isz; i++)
            dx[i] += g;
    }
}

const OpInfo op_maxpool_info = {OP_MAXPOOL, "maxpool", 1, 1, "kernel,stride,pad,ceil_mode",
                                pool_setup, NULL, maxpool_forward, maxpool_backward};
const OpInfo op_avgpool_info = {OP_AVGPOOL, "avgpool", 1, 1,
                                "kernel,stride,pad,ceil_mode,count_include_pad", pool_setup, NULL,
                                avgpool_forward, avgpool_backward};
const OpInfo op_global_avgpool_info = {OP_GLOBAL_AVGPOOL, "global_avgpool", 1, 1, "", gap_setup,
                                       NULL, gap_forward, gap_backward};
