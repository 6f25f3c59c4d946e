/* 2-D convolution (cross-correlation, as in ONNX Conv / PyTorch) by im2col + sgemm.
 *
 * The batch is cut into chunks of nb images, and OpenMP threads take whole
 * chunks: each lays its chunk out as one [K × nb·P] matrix (K = in_c·kh·kw,
 * P = OH·OW) in its own scratch, runs one single-threaded sgemm over it, and
 * scatters the [F × nb·P] result to NCHW. Batching images keeps sgemm wide
 * on small feature maps; with nb = 1 the sgemm writes straight into the
 * output, and a 1×1 stride-1 unpadded conv uses the input itself as the matrix.
 *
 * Why not threaded OpenBLAS plus OpenMP loops around it: the two thread pools
 * spin-wait against each other, which on 2 cores made convs 5-20× slower. So
 * OpenBLAS runs single-threaded (set in setup) and OpenMP is the only pool.
 *
 * Determinism: chunks go to threads statically; outputs and input gradients
 * of a chunk are written by its thread only; each thread sums its weight
 * gradient privately and the partial sums are added in thread order, so a
 * given thread count always gives the same bits. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

/* Chunks aim for this many sgemm columns; each thread's scratch stays under the cap. */
#ifndef CONV_COLS_TARGET
#define CONV_COLS_TARGET 1024
#endif
#define CONV_SCRATCH_MAX ((size_t)4 << 20) /* floats per thread */

typedef struct {
    int c, h, w;      /* input */
    int f, oh, ow;    /* output */
    int kh, kw, sh, sw, pt, pl;
    int k, p;         /* rows (c·kh·kw) and columns (oh·ow) of one image's matrix */
    int pointwise;    /* 1×1, stride 1, no padding: the input is already the matrix */
} Geom;

static Geom geom(const Layer *l)
{
    const LayerAttrs *a = &l->a;
    Geom g = {l->in_shape[0].c, l->in_shape[0].h, l->in_shape[0].w,
              l->out_shape.c,   l->out_shape.h,   l->out_shape.w,
              a->kernel_h,      a->kernel_w,      a->stride_h, a->stride_w, a->pad_t, a->pad_l,
              0,                0,                0};
    g.k = g.c * g.kh * g.kw;
    g.p = g.oh * g.ow;
    g.pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && !a->pad_t && !a->pad_l &&
                  !a->pad_b && !a->pad_r;
    return g;
}

static int conv_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in;
    const LayerAttrs *a = &l->a;
    if (a->filters < 1) {
        snprintf(err, errlen, "needs 'filters'");
        return -1;
    }
    int oh = window_out_size(in[0].h, a->kernel_h, a->stride_h, a->pad_t, a->pad_b, 0);
    int ow = window_out_size(in[0].w, a->kernel_w, a->stride_w, a->pad_l, a->pad_r, 0);
    if (oh < 1 || ow < 1) {
        snprintf(err, errlen, "kernel %dx%d does not fit input %dx%d with padding %d,%d,%d,%d",
                 a->kernel_h, a->kernel_w, in[0].h, in[0].w, a->pad_t, a->pad_l, a->pad_b,
                 a->pad_r);
        return -1;
    }
    l->out_shape = (Shape){a->filters, oh, ow};
    layer_add_param(l, "weight", 1, 1, 4, (int[]){a->filters, in[0].c, a->kernel_h, a->kernel_w});
    if (a->bias)
        layer_add_param(l, "bias", 1, 0, 1, (int[]){a->filters});
    openblas_set_num_threads(1); /* OpenMP is the only thread pool (see the top) */
    return 0;
}

/* He-normal weights (fan_in = in_c·kh·kw), zero bias. */
static void conv_init(Layer *l, Rng *rng)
{
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    float std = sqrtf(2.0f / (float)(w->dims[1] * w->dims[2] * w->dims[3]));
    for (size_t i = 0; i < w->size; i++)
        w->data[i] = std * rng_normal(rng);
    if (b)
        memset(b->data, 0, b->size * sizeof(float));
}

/* Images per chunk: about CONV_COLS_TARGET columns, at least one chunk per
 * thread, within the scratch cap. */
static int chunk_images(const Geom *g, int batch, int threads)
{
    int nb = (CONV_COLS_TARGET + g->p - 1) / g->p;
    int fair = (batch + threads - 1) / threads;
    if (nb > fair)
        nb = fair;
    while (nb > 1 && (size_t)(g->k + g->f) * nb * g->p > CONV_SCRATCH_MAX)
        nb--;
    return nb < 1 ? 1 : nb;
}

/* Per-thread scratch for chunks of nb images: col [K × nb·P] and, when
 * nb > 1, the [F × nb·P] product (or gathered output gradient). */
static size_t scratch_floats(const Geom *g, int nb)
{
    size_t ncols = (size_t)nb * g->p;
    return (size_t)(nb > 1 || !g->pointwise ? g->k : 0) * ncols +
           (size_t)(nb > 1 ? g->f : 0) * ncols;
}

/* Output columns [lo, hi) whose input column ow·s − pad + kj lies inside [0, w). */
static void valid_cols(int w, int ow, int s, int pad, int kj, int *lo, int *hi)
{
    int first = pad - kj; /* need ow·s >= first and ow·s < w + first */
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    *hi = w + first <= 0 ? 0 : (w + first + s - 1) / s;
    if (*lo > ow)
        *lo = ow;
    if (*hi > ow)
        *hi = ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* col[r][i·P + o] for nb images starting at x (r = (c·kh + ki)·kw + kj). */
static void im2col(const Geom *g, const float *x, int nb, float *col)
{
    size_t ncols = (size_t)nb * g->p, img = (size_t)g->c * g->h * g->w;
    for (int r = 0; r < g->k; r++) {
        int c = r / (g->kh * g->kw), ki = r / g->kw % g->kh, kj = r % g->kw;
        int lo, hi;
        valid_cols(g->w, g->ow, g->sw, g->pl, kj, &lo, &hi);
        for (int i = 0; i < nb; i++) {
            const float *plane = x + i * img + (size_t)c * g->h * g->w;
            float *dst = col + r * ncols + (size_t)i * g->p;
            for (int oh = 0; oh < g->oh; oh++, dst += g->ow) {
                int ih = oh * g->sh - g->pt + ki;
                if (ih < 0 || ih >= g->h) {
                    memset(dst, 0, (size_t)g->ow * sizeof *dst);
                    continue;
                }
                const float *row = plane + (size_t)ih * g->w;
                int off = kj - g->pl; /* input column of ow is ow·sw + off */
                memset(dst, 0, (size_t)lo * sizeof *dst);
                if (g->sw == 1)
                    memcpy(dst + lo, row + lo + off, (size_t)(hi - lo) * sizeof *dst);
                else
                    for (int ow = lo; ow < hi; ow++)
                        dst[ow] = row[ow * g->sw + off];
                memset(dst + hi, 0, (size_t)(g->ow - hi) * sizeof *dst);
            }
        }
    }
}

/* dx += col2im(col) for nb images. */
static void col2im_add(const Geom *g, const float *col, int nb, float *dx)
{
    size_t ncols = (size_t)nb * g->p, img = (size_t)g->c * g->h * g->w;
    for (int ic = 0; ic < nb * g->c; ic++) {
        int i = ic / g->c, c = ic % g->c;
        float *plane = dx + i * img + (size_t)c * g->h * g->w;
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                int r = (c * g->kh + ki) * g->kw + kj, lo, hi;
                valid_cols(g->w, g->ow, g->sw, g->pl, kj, &lo, &hi);
                const float *src = col + r * ncols + (size_t)i * g->p;
                for (int oh = 0; oh < g->oh; oh++, src += g->ow) {
                    int ih = oh * g->sh - g->pt + ki;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    float *row = plane + (size_t)ih * g->w;
                    for (int ow = lo; ow < hi; ow++)
                        row[ow * g->sw + kj - g->pl] += src[ow];
                }
            }
    }
}

static void conv_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    Geom g = geom(l);
    const float *x = layer_input(net, l, 0)->out;
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    size_t img = (size_t)g.c * g.h * g.w, oimg = (size_t)g.f * g.p;
    int threads = omp_get_max_threads();
    int nb = chunk_images(&g, batch, threads), chunks = (batch + nb - 1) / nb;
    size_t per = scratch_floats(&g, nb);
    float *work = net_work(net, per * threads + 1);
    if (!work)
        return; /* out of memory: forward and backward have no error path */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int ch = 0; ch < chunks; ch++) {
        float *col = work + per * omp_get_thread_num();
        int b0 = ch * nb, n = batch - b0 < nb ? batch - b0 : nb, cols = n * g.p;
        const float *a = col;
        if (n == 1 && g.pointwise)
            a = x + b0 * img;
        else
            im2col(&g, x + b0 * img, n, col);
        /* One image: straight into the output; several: into tmp, then scatter. */
        float *y = n == 1 ? l->out + b0 * oimg : col + (size_t)g.k * nb * g.p;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.f, cols, g.k, 1.0f, w->data, g.k,
                    a, cols, 0.0f, y, cols);
        for (int i = 0; i < n; i++)
            for (int f = 0; f < g.f; f++) {
                const float *s = y + (size_t)f * cols + (size_t)i * g.p;
                float *d = l->out + (b0 + i) * oimg + (size_t)f * g.p;
                float bias = b ? b->data[f] : 0.0f;
                for (int o = 0; o < g.p; o++)
                    d[o] = s[o] + bias;
            }
    }
}

static void conv_backward(Layer *l, Net *net, int batch)
{
    Geom g = geom(l);
    Layer *src = layer_input(net, l, 0);
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    size_t img = (size_t)g.c * g.h * g.w, oimg = (size_t)g.f * g.p, wsize = w->size;
    if (b) /* per channel, serial over the batch: the same order on every run */
#pragma omp parallel for schedule(static)
        for (int f = 0; f < g.f; f++) {
            double s = 0;
            for (int n = 0; n < batch; n++) {
                const float *d = l->dout + n * oimg + (size_t)f * g.p;
                for (int o = 0; o < g.p; o++)
                    s += d[o];
            }
            b->grad[f] += (float)s;
        }
    int threads = omp_get_max_threads();
    int nb = chunk_images(&g, batch, threads), chunks = (batch + nb - 1) / nb;
    size_t per = scratch_floats(&g, nb) + wsize; /* + a private weight gradient */
    float *work = net_work(net, per * threads + 1);
    if (!work)
        return;
#pragma omp parallel num_threads(threads)
    {
        float *col = work + per * omp_get_thread_num(), *dw = col + per - wsize;
        memset(dw, 0, wsize * sizeof *dw);
#pragma omp for schedule(static)
        for (int ch = 0; ch < chunks; ch++) {
            int b0 = ch * nb, n = batch - b0 < nb ? batch - b0 : nb, cols = n * g.p;
            const float *x = src->out + b0 * img;
            float *dx = src->dout ? src->dout + b0 * img : NULL;
            /* dy: this chunk's output gradient as [F × n·P]. */
            const float *dy = l->dout + b0 * oimg;
            if (n > 1) {
                float *t = col + (size_t)g.k * nb * g.p;
                for (int i = 0; i < n; i++)
                    for (int f = 0; f < g.f; f++)
                        memcpy(t + (size_t)f * cols + (size_t)i * g.p,
                               dy + i * oimg + (size_t)f * g.p, (size_t)g.p * sizeof *t);
                dy = t;
            }
            const float *a = col;
            if (n == 1 && g.pointwise)
                a = x;
            else
                im2col(&g, x, n, col);
            /* dW[F × K] += dy · colᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.f, g.k, cols, 1.0f, dy, cols,
                        a, cols, 1.0f, dw, g.k);
            if (!dx)
                continue;
            if (n == 1 && g.pointwise) { /* dx[C × P] += Wᵀ · dy directly */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.k, cols, g.f, 1.0f,
                            w->data, g.k, dy, cols, 1.0f, dx, cols);
                continue;
            }
            /* dcol[K × n·P] = Wᵀ · dy, overwriting col (no longer needed), then col2im. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.k, cols, g.f, 1.0f, w->data,
                        g.k, dy, cols, 0.0f, col, cols);
            col2im_add(&g, col, n, dx);
        }
        /* The implicit barrier above ends all chunks; add the partial sums in thread order. */
        int team = omp_get_num_threads();
#pragma omp for schedule(static)
        for (size_t i = 0; i < wsize; i++) {
            float s = 0;
            for (int t = 0; t < team; t++)
                s += work[per * t + per - wsize + i];
            w->grad[i] += s;
        }
    }
}

const OpInfo op_conv_info = {OP_CONV, "conv", 1, 1, "filters,kernel,stride,pad,bias", conv_setup,
                             conv_init, conv_forward, conv_backward};
