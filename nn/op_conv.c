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
 * OpenBLAS runs single-threaded (set in net_create) and OpenMP is the only pool.
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
#define CONV_COLS_TARGET 256
#define CONV_SCRATCH_MAX ((size_t)4 << 20) /* floats per thread */

typedef struct {
    int c, h, w;      /* input */
    int f, oh, ow;    /* output */
    int kh, kw, sh, sw, pt, pl;
    int hp, wp;       /* padded input */
    int k, p;         /* rows (c·kh·kw) and columns (oh·ow) of one image's matrix */
    int pointwise;    /* 1×1, stride 1, no padding: the input is already the matrix */
} Geom;

static Geom geom(const Layer *l)
{
    const LayerAttrs *a = &l->a;
    Geom g = {l->in_shape[0].c, l->in_shape[0].h, l->in_shape[0].w,
              l->out_shape.c,   l->out_shape.h,   l->out_shape.w,
              a->kernel_h,      a->kernel_w,      a->stride_h, a->stride_w, a->pad_t, a->pad_l,
              0,                0,                0,           0,           0};
    g.hp = g.h + a->pad_t + a->pad_b;
    g.wp = g.w + a->pad_l + a->pad_r;
    g.k = g.c * g.kh * g.kw;
    g.p = g.oh * g.ow;
    g.pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.hp == g.h && g.wp == g.w;
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
    return 0;
}

/* PyTorch-default uniform weights and bias, fan_in = in_c·kh·kw. */
static void conv_init(Layer *l, Rng *rng)
{
    Param *w = layer_param(l, "weight");
    init_fan_in_uniform(w, layer_param(l, "bias"), w->dims[1] * w->dims[2] * w->dims[3], rng);
}

/* ---------------------------------------------------------- scratch */

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

/* One thread's scratch for chunks of nb images. */
typedef struct {
    float *col;   /* [K × nb·P]: im2col matrix, reused for its gradient */
    float *tmp;   /* [F × nb·P]: the product (forward) or gathered dout (backward) */
    float *stage; /* nb padded planes of one channel */
    float *dw;    /* backward: this thread's weight-gradient partial sum, as dWᵀ [K × F] */
} Scratch;

static size_t scratch_layout(const Geom *g, int nb, size_t dw, float *base, Scratch *s)
{
    size_t ncols = (size_t)nb * g->p;
    size_t col = (size_t)g->k * ncols, tmp = (size_t)g->f * ncols;
    size_t stage = (size_t)nb * g->hp * g->wp;
    if (base) {
        s->col = base;
        s->tmp = s->col + col;
        s->stage = s->tmp + tmp;
        s->dw = s->stage + stage;
    }
    return col + tmp + stage + dw;
}

/* ------------------------------------------------------ im2col / col2im */

/* memcpy of n floats as constant-size pieces, which compile to plain moves:
 * rows here are often 4-16 floats, where a libc call per row dominates. The
 * tail is one more piece ending at n, overlapping the copied part (a tail
 * loop would itself become a memmove call). */
static inline void copy_floats(float *restrict d, const float *restrict s, int n)
{
    if (n >= 8) {
        int j = 0;
        for (; j + 8 <= n; j += 8)
            memcpy(d + j, s + j, 8 * sizeof *d);
        if (j < n)
            memcpy(d + n - 8, s + n - 8, 8 * sizeof *d);
    } else if (n >= 4) {
        memcpy(d, s, 4 * sizeof *d);
        memcpy(d + n - 4, s + n - 4, 4 * sizeof *d);
    } else {
        if (n > 0)
            d[0] = s[0];
        if (n > 1)
            d[1] = s[1];
        if (n > 2)
            d[2] = s[2];
    }
}

/* Copies channel c of n images into zero-padded hp × wp planes. */
static void stage_planes(const Geom *g, const float *x, int n, int c, float *st)
{
    size_t plane = (size_t)g->hp * g->wp, hw = (size_t)g->h * g->w;
    for (int i = 0; i < n; i++, st += plane) {
        const float *src = x + (size_t)i * g->c * hw + (size_t)c * hw;
        memset(st, 0, plane * sizeof *st);
        for (int h = 0; h < g->h; h++)
            copy_floats(st + (size_t)(h + g->pt) * g->wp + g->pl, src + (size_t)h * g->w, g->w);
    }
}

/* col[r][i·P + o] = padded input of image i under kernel tap r = (c·kh + ki)·kw + kj
 * at output o. Reading from padded planes leaves no bounds to test per pixel. */
static void im2col(const Geom *g, const float *x, int n, float *col, float *st)
{
    size_t ncols = (size_t)n * g->p, plane = (size_t)g->hp * g->wp;
    for (int c = 0; c < g->c; c++) {
        stage_planes(g, x, n, c, st);
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *dst = col + (size_t)((c * g->kh + ki) * g->kw + kj) * ncols;
                for (int i = 0; i < n; i++) {
                    const float *src = st + i * plane + (size_t)ki * g->wp + kj;
                    for (int oh = 0; oh < g->oh; oh++, dst += g->ow) {
                        const float *row = src + (size_t)oh * g->sh * g->wp;
                        if (g->sw == 1)
                            copy_floats(dst, row, g->ow);
                        else
                            for (int j = 0; j < g->ow; j++)
                                dst[j] = row[j * g->sw];
                    }
                }
            }
    }
}

/* dx += col2im(col) for n images, accumulated in padded planes; with `set`,
 * dx = col2im(col) (the layer is the only reader of dx: see dout_set). */
static void col2im(const Geom *g, const float *col, int n, float *dx, float *st, int set)
{
    size_t ncols = (size_t)n * g->p, plane = (size_t)g->hp * g->wp, hw = (size_t)g->h * g->w;
    for (int c = 0; c < g->c; c++) {
        memset(st, 0, n * plane * sizeof *st);
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *src = col + (size_t)((c * g->kh + ki) * g->kw + kj) * ncols;
                for (int i = 0; i < n; i++) {
                    float *dst = st + i * plane + (size_t)ki * g->wp + kj;
                    for (int oh = 0; oh < g->oh; oh++, src += g->ow) {
                        float *row = dst + (size_t)oh * g->sh * g->wp;
                        if (g->sw == 1) {
#pragma omp simd
                            for (int j = 0; j < g->ow; j++)
                                row[j] += src[j];
                        } else {
#pragma omp simd
                            for (int j = 0; j < g->ow; j++)
                                row[j * g->sw] += src[j];
                        }
                    }
                }
            }
        for (int i = 0; i < n; i++) {
            float *d = dx + (size_t)i * g->c * hw + (size_t)c * hw;
            const float *s = st + i * plane + (size_t)g->pt * g->wp + g->pl;
            for (int h = 0; h < g->h; h++) {
                if (set) {
                    copy_floats(d + (size_t)h * g->w, s + (size_t)h * g->wp, g->w);
                    continue;
                }
#pragma omp simd
                for (int w = 0; w < g->w; w++)
                    d[(size_t)h * g->w + w] += s[(size_t)h * g->wp + w];
            }
        }
    }
}

/* Scratch floats for all threads: forward (dw = 0) or backward (dw = weight size). */
static size_t conv_work_floats(const Layer *l, int batch, size_t dw)
{
    Geom g = geom(l);
    int threads = omp_get_max_threads();
    return scratch_layout(&g, chunk_images(&g, batch, threads), dw, NULL, NULL) * (size_t)threads;
}

/* Chunks grow with the batch, so the scratch for `batch` covers every smaller one. */
static int conv_reserve(Layer *l, Net *net, int batch, int training)
{
    size_t dw = training ? layer_param(l, "weight")->size : 0;
    return net_work(net, conv_work_floats(l, batch, dw)) ? 0 : -1;
}

/* ------------------------------------------------------------ forward */

static void conv_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    Geom g = geom(l);
    const float *x = layer_input(net, l, 0)->out;
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    size_t img = (size_t)g.c * g.h * g.w, oimg = (size_t)g.f * g.p;
    int threads = omp_get_max_threads();
    int nb = chunk_images(&g, batch, threads), chunks = (batch + nb - 1) / nb;
    size_t per = scratch_layout(&g, nb, 0, NULL, NULL);
    float *work = net_work(net, per * threads); /* reserved: never NULL */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int ch = 0; ch < chunks; ch++) {
        Scratch s;
        scratch_layout(&g, nb, 0, work + per * omp_get_thread_num(), &s);
        int b0 = ch * nb, n = batch - b0 < nb ? batch - b0 : nb, cols = n * g.p;
        const float *a = s.col;
        if (n == 1 && g.pointwise)
            a = x + b0 * img;
        else
            im2col(&g, x + b0 * img, n, s.col, s.stage);
        /* One image: straight into the output; several: into tmp, then scatter. */
        float *y = n == 1 ? l->out + b0 * oimg : s.tmp;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.f, cols, g.k, 1.0f, w->data, g.k,
                    a, cols, 0.0f, y, cols);
        if (n == 1 && !b) /* already in place, nothing to add */
            continue;
        for (int i = 0; i < n; i++)
            for (int f = 0; f < g.f; f++) {
                const float *src = y + (size_t)f * cols + (size_t)i * g.p;
                float *d = l->out + (b0 + i) * oimg + (size_t)f * g.p;
                float bias = b ? b->data[f] : 0.0f;
                if (d == src) {
#pragma omp simd
                    for (int o = 0; o < g.p; o++)
                        d[o] += bias;
                } else {
#pragma omp simd
                    for (int o = 0; o < g.p; o++)
                        d[o] = src[o] + bias;
                }
            }
    }
}

/* ----------------------------------------------------------- backward */

static void conv_backward(Layer *l, Net *net, int batch)
{
    Geom g = geom(l);
    Layer *src = layer_input(net, l, 0);
    Param *w = layer_param(l, "weight"), *b = layer_param(l, "bias");
    size_t img = (size_t)g.c * g.h * g.w, oimg = (size_t)g.f * g.p, wsize = w->size;
    int threads = omp_get_max_threads();
    int nb = chunk_images(&g, batch, threads), chunks = (batch + nb - 1) / nb;
    size_t per = scratch_layout(&g, nb, wsize, NULL, NULL);
    float *work = net_work(net, per * threads); /* reserved: never NULL */
#pragma omp parallel num_threads(threads)
    {
        Scratch s;
        scratch_layout(&g, nb, wsize, work + per * omp_get_thread_num(), &s);
        memset(s.dw, 0, wsize * sizeof *s.dw);
        /* The bias gradient in the same team (a parallel region costs tens of
         * µs on small nets): per channel, serial over the batch, the same
         * order on every run; a vectorised float sum per plane, the planes
         * added in double. */
        if (b)
#pragma omp for schedule(static) nowait
            for (int f = 0; f < g.f; f++) {
                double sum = 0;
                for (int n = 0; n < batch; n++) {
                    const float *d = l->dout + n * oimg + (size_t)f * g.p;
                    float ps = 0;
#pragma omp simd reduction(+ : ps)
                    for (int o = 0; o < g.p; o++)
                        ps += d[o];
                    sum += ps;
                }
                b->grad[f] += (float)sum;
            }
#pragma omp for schedule(static)
        for (int ch = 0; ch < chunks; ch++) {
            int b0 = ch * nb, n = batch - b0 < nb ? batch - b0 : nb, cols = n * g.p;
            const float *x = src->out + b0 * img;
            float *dx = input_dout(net, src) ? src->dout + b0 * img : NULL;
            /* dy: this chunk's output gradient as [F × n·P]. */
            const float *dy = l->dout + b0 * oimg;
            if (n > 1) {
                for (int i = 0; i < n; i++)
                    for (int f = 0; f < g.f; f++)
                        copy_floats(s.tmp + (size_t)f * cols + (size_t)i * g.p,
                                    dy + i * oimg + (size_t)f * g.p, g.p);
                dy = s.tmp;
            }
            const float *a = s.col;
            if (n == 1 && g.pointwise)
                a = x;
            else
                im2col(&g, x, n, s.col, s.stage);
            /* dWᵀ[K × F] += col · dyᵀ: faster than dW = dy · colᵀ when F is small */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.k, g.f, cols, 1.0f, a, cols,
                        dy, cols, 1.0f, s.dw, g.f);
            if (!dx)
                continue;
            if (n == 1 && g.pointwise) { /* dx[C × P] (+)= Wᵀ · dy directly */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.k, cols, g.f, 1.0f,
                            w->data, g.k, dy, cols, src->dout_set ? 0.0f : 1.0f, dx, cols);
                continue;
            }
            /* dcol[K × n·P] = Wᵀ · dy, overwriting col (no longer needed), then col2im. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.k, cols, g.f, 1.0f, w->data,
                        g.k, dy, cols, 0.0f, s.col, cols);
            col2im(&g, s.col, n, dx, s.stage, src->dout_set);
        }
        /* The implicit barrier above ends all chunks; add the partial sums in thread order. */
        int team = omp_get_num_threads();
#pragma omp for schedule(static)
        for (int f = 0; f < g.f; f++)
            for (int k = 0; k < g.k; k++) {
                float sum = 0;
                for (int t = 0; t < team; t++) /* thread t's s.dw[k][f] */
                    sum += work[per * t + (per - wsize) + (size_t)k * g.f + f];
                w->grad[(size_t)f * g.k + k] += sum;
            }
    }
}

const OpInfo op_conv_info = {OP_CONV, "conv", 1, 1, "filters,kernel,stride,pad,bias", conv_setup,
                             conv_init, conv_forward, conv_backward, conv_reserve, 0, 1};
