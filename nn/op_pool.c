/* Pooling: max, average and global average, with ONNX MaxPool / AveragePool
 * semantics (asymmetric pads, ceil_mode, count_include_pad), so imported
 * models compute exactly what their exporter computed.
 *
 * Every loop runs over whole (sample, channel) planes in parallel: each plane
 * is written by one thread in a fixed order, so results do not depend on the
 * thread count. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* Outputs [lo, hi) along one axis whose window lies wholly inside the input. */
static void inside(int in, int out, int kernel, int stride, int pad, int *lo, int *hi)
{
    *lo = (pad + stride - 1) / stride;
    *hi = in + pad - kernel < 0 ? 0 : (in + pad - kernel) / stride + 1;
    if (*lo > out)
        *lo = out;
    if (*hi > out)
        *hi = out;
    if (*hi < *lo)
        *hi = *lo;
}

/* Plane loops share one shape: per output row, the border outputs go through
 * the clipped per-output code, and the interior ones [c0, c1) through
 * vectorised passes, one per window offset (dh, dw), over the whole row. A
 * pass reads x[base + dh·W + dw + ow·sw]; the passes run in the scan order of
 * the per-output code, so both give the same bits. */
typedef struct {
    const LayerAttrs *a;
    Shape in, out;
    int r0, r1, c0, c1; /* interior rows and columns */
} Plane;

static Plane plane_of(const Layer *l)
{
    const LayerAttrs *a = &l->a;
    Plane p = {a, l->in_shape[0], l->out_shape, 0, 0, 0, 0};
    inside(p.in.h, p.out.h, a->kernel_h, a->stride_h, a->pad_t, &p.r0, &p.r1);
    inside(p.in.w, p.out.w, a->kernel_w, a->stride_w, a->pad_l, &p.c0, &p.c1);
    return p;
}

/* Interior columns of row oh ([*c0, *c1), empty on a border row); returns the
 * plane index of output (oh, 0)'s window corner (negative in the padding,
 * then unused). */
static inline int row_span(const Plane *p, int oh, int *c0, int *c1)
{
    int full = oh >= p->r0 && oh < p->r1;
    *c0 = full ? p->c0 : p->out.w;
    *c1 = full ? p->c1 : p->out.w;
    return (oh * p->a->stride_h - p->a->pad_t) * p->in.w - p->a->pad_l;
}

/* The border output after ow: outputs outside [c0, c1), in order. */
static inline int next_border(int ow, int c0, int c1) { return ow + 1 == c0 ? c1 : ow + 1; }

/* ------------------------------------------------------------- maxpool */

/* Padding is -inf, so only real pixels compete; ties go to the first in scan
 * order and a NaN wins (and stays), as in PyTorch. The argmax (index in the
 * plane) is kept for backward. */
static inline void max_clipped(const Plane *p, const float *x, int oh, int ow, float *y,
                               int32_t *arg)
{
    int h0, h1, w0, w1;
    window(p->a, p->in, oh, ow, &h0, &h1, &w0, &w1);
    int best = h0 * p->in.w + w0;
    float m = x[best];
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = x[h * p->in.w + w];
            if (v > m || v != v) {
                m = v;
                best = h * p->in.w + w;
            }
        }
    *y = m;
    *arg = best;
}

/* Value x[i] at index i takes over the running max m (argmax a) if larger or NaN. */
#define MAX_STEP(x, i, m, a)                                                                       \
    do {                                                                                           \
        float v_ = (x)[i];                                                                         \
        int win_ = (v_ > (m)) | (v_ != v_);                                                        \
        (m) = win_ ? v_ : (m);                                                                     \
        (a) = win_ ? (i) : (a);                                                                    \
    } while (0)

static void maxpool_plane(const Plane *p, const float *restrict x, float *restrict y,
                          int32_t *restrict arg)
{
    int sw = p->a->stride_w, W = p->in.w;
    for (int oh = 0; oh < p->out.h; oh++, y += p->out.w, arg += p->out.w) {
        int c0, c1, base = row_span(p, oh, &c0, &c1);
        for (int ow = c0 ? 0 : c1; ow < p->out.w; ow = next_border(ow, c0, c1))
            max_clipped(p, x, oh, ow, &y[ow], &arg[ow]);
        if (p->a->kernel_h == 2 && p->a->kernel_w == 2) {
            /* The usual 2×2 window: one pass, the same scan order, no
             * reloads of y and arg between the window offsets. */
#pragma omp simd
            for (int ow = c0; ow < c1; ow++) {
                int o = base + ow * sw, a = o;
                float m = x[o];
                MAX_STEP(x, o + 1, m, a);
                MAX_STEP(x, o + W, m, a);
                MAX_STEP(x, o + W + 1, m, a);
                y[ow] = m;
                arg[ow] = a;
            }
            continue;
        }
#pragma omp simd
        for (int ow = c0; ow < c1; ow++) {
            y[ow] = x[base + ow * sw];
            arg[ow] = base + ow * sw;
        }
        for (int dh = 0; dh < p->a->kernel_h; dh++)
            for (int dw = dh ? 0 : 1; dw < p->a->kernel_w; dw++) {
                int off = base + dh * W + dw;
                /* Selects, not branches: data-dependent branches mispredict. */
#pragma omp simd
                for (int ow = c0; ow < c1; ow++) {
                    float v = x[off + ow * sw];
                    int win = (v > y[ow]) | (v != v);
                    y[ow] = win ? v : y[ow];
                    arg[ow] = win ? off + ow * sw : arg[ow];
                }
            }
    }
}

/* The argmax of every output, for backward. */
static size_t maxpool_aux_bytes(const Layer *l, int batch)
{
    return (size_t)batch * l->out_shape.c * l->out_shape.h * l->out_shape.w * sizeof(int32_t);
}

static int maxpool_reserve(Layer *l, Net *net, int batch, int training)
{
    (void)net, (void)training;
    return layer_aux(l, maxpool_aux_bytes(l, batch)) ? 0 : -1;
}

static void maxpool_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Layer *src = layer_input(net, l, 0);
    Plane p = plane_of(l);
    int planes = batch * p.in.c;
    size_t isz = (size_t)p.in.h * p.in.w, osz = (size_t)p.out.h * p.out.w;
    int32_t *arg = layer_aux(l, maxpool_aux_bytes(l, batch)); /* reserved: never NULL */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < planes; i++)
        maxpool_plane(&p, src->out + i * isz, l->out + i * osz, arg + i * osz);
}

static void maxpool_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    Shape in = l->in_shape[0], out = l->out_shape;
    int planes = batch * in.c;
    size_t isz = (size_t)in.h * in.w, osz = (size_t)out.h * out.w;
    const int32_t *arg = l->aux;
    const int set = src->dout_set;
    if (!src->dout || !arg)
        return;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < planes; i++) {
        float *dx = src->dout + i * isz;
        const float *dy = l->dout + i * osz;
        const int32_t *ai = arg + i * osz;
        if (set) /* zeroed here, plane by plane, while it is in cache */
            memset(dx, 0, isz * sizeof *dx);
        for (size_t o = 0; o < osz; o++)
            dx[ai[o]] += dy[o];
    }
}

/* ------------------------------------------------------------- avgpool */

/* Divisor of output (oh, ow). count_include_pad: the window clipped to the
 * padded input (ceil-mode windows may run past it, as in ONNX/PyTorch);
 * otherwise the real pixels only. An interior window divides by kh·kw. */
static inline int avg_divisor(const Plane *p, int oh, int ow)
{
    const LayerAttrs *a = p->a;
    int h0, h1, w0, w1;
    window(a, p->in, oh, ow, &h0, &h1, &w0, &w1);
    if (!a->count_include_pad)
        return (h1 - h0) * (w1 - w0);
    int hs = oh * a->stride_h - a->pad_t, ws = ow * a->stride_w - a->pad_l;
    int he = hs + a->kernel_h, we = ws + a->kernel_w;
    if (he > p->in.h + a->pad_b)
        he = p->in.h + a->pad_b;
    if (we > p->in.w + a->pad_r)
        we = p->in.w + a->pad_r;
    return (he - hs) * (we - ws);
}

static void avgpool_plane(const Plane *p, const float *restrict x, float *restrict y)
{
    int sw = p->a->stride_w, W = p->in.w;
    float area = (float)(p->a->kernel_h * p->a->kernel_w);
    for (int oh = 0; oh < p->out.h; oh++, y += p->out.w) {
        int c0, c1, base = row_span(p, oh, &c0, &c1);
        for (int ow = c0 ? 0 : c1; ow < p->out.w; ow = next_border(ow, c0, c1)) {
            int h0, h1, w0, w1;
            window(p->a, p->in, oh, ow, &h0, &h1, &w0, &w1);
            float s = 0;
            for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++)
                    s += x[h * W + w];
            y[ow] = s / (float)avg_divisor(p, oh, ow);
        }
        for (int ow = c0; ow < c1; ow++)
            y[ow] = 0;
        for (int dh = 0; dh < p->a->kernel_h; dh++)
            for (int dw = 0; dw < p->a->kernel_w; dw++) {
                int off = base + dh * W + dw;
#pragma omp simd
                for (int ow = c0; ow < c1; ow++)
                    y[ow] += x[off + ow * sw];
            }
#pragma omp simd
        for (int ow = c0; ow < c1; ow++)
            y[ow] /= area;
    }
}

static void avgpool_plane_backward(const Plane *p, const float *restrict dy, float *restrict dx)
{
    int sw = p->a->stride_w, W = p->in.w;
    float area = (float)(p->a->kernel_h * p->a->kernel_w);
    for (int oh = 0; oh < p->out.h; oh++, dy += p->out.w) {
        int c0, c1, base = row_span(p, oh, &c0, &c1);
        for (int ow = c0 ? 0 : c1; ow < p->out.w; ow = next_border(ow, c0, c1)) {
            int h0, h1, w0, w1;
            window(p->a, p->in, oh, ow, &h0, &h1, &w0, &w1);
            float g = dy[ow] / (float)avg_divisor(p, oh, ow);
            for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++)
                    dx[h * W + w] += g;
        }
        /* Within a pass the outputs touch distinct pixels, so the pass is a safe simd loop. */
        for (int dh = 0; dh < p->a->kernel_h; dh++)
            for (int dw = 0; dw < p->a->kernel_w; dw++) {
                int off = base + dh * W + dw;
#pragma omp simd
                for (int ow = c0; ow < c1; ow++)
                    dx[off + ow * sw] += dy[ow] / area;
            }
    }
}

static void avgpool_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const Layer *src = layer_input(net, l, 0);
    Plane p = plane_of(l);
    size_t isz = (size_t)p.in.h * p.in.w, osz = (size_t)p.out.h * p.out.w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < batch * p.in.c; i++)
        avgpool_plane(&p, src->out + i * isz, l->out + i * osz);
}

static void avgpool_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    Plane p = plane_of(l);
    size_t isz = (size_t)p.in.h * p.in.w, osz = (size_t)p.out.h * p.out.w;
    const int set = src->dout_set;
    if (!src->dout)
        return;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < batch * p.in.c; i++) {
        if (set) /* windows may overlap: zero the plane, then add */
            memset(src->dout + i * isz, 0, isz * sizeof(float));
        avgpool_plane_backward(&p, l->dout + i * osz, src->dout + i * isz);
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
    const int set = src->dout_set;
    if (!src->dout)
        return;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *dx = src->dout + (size_t)p * isz;
        float g = l->dout[p] / (float)isz;
        for (size_t i = 0; i < isz; i++)
            dout_put(&dx[i], g, set);
    }
}

const OpInfo op_maxpool_info = {OP_MAXPOOL, "maxpool", 1, 1, "kernel,stride,pad,ceil_mode",
                                pool_setup, NULL, maxpool_forward, maxpool_backward,
                                maxpool_reserve, 0, 1};
const OpInfo op_avgpool_info = {OP_AVGPOOL, "avgpool", 1, 1,
                                "kernel,stride,pad,ceil_mode,count_include_pad", pool_setup, NULL,
                                avgpool_forward, avgpool_backward, NULL, 0, 1};
const OpInfo op_global_avgpool_info = {OP_GLOBAL_AVGPOOL, "global_avgpool", 1, 1, "", gap_setup,
                                       NULL, gap_forward, gap_backward, NULL, 0, 1};
