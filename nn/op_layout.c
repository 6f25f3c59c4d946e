/* Layout ops of imported graphs, which move floats without arithmetic:
 *
 *   transpose  a tensor of `dims` with its axes permuted (out axis i = in axis perm[i]);
 *   pad        a tensor of `dims` with `value` added around it (ONNX Pad, constant mode);
 *   reshape    the same floats seen as another (outer; c, h, w) view.
 *
 * Backward moves the gradient back the same way, adding. Each element of a
 * sample has one place on either side, so rows split among threads freely. */
#include <stdio.h>
#include <string.h>

#include "ops.h"

#define PAR_MIN 32768

/* d[j] (+)= s[j·step] and d[j·step] (+)= s[j] for one row of a Walk. */
static void gather_row(float *restrict d, const float *restrict s, size_t step, int n, int add)
{
    if (add)
        for (int j = 0; j < n; j++)
            d[j] += s[j * step];
    else if (step == 1)
        memcpy(d, s, (size_t)n * sizeof *d);
    else
        for (int j = 0; j < n; j++)
            d[j] = s[j * step];
}

static void scatter_row(float *restrict d, size_t step, const float *restrict s, int n, int add)
{
    if (add)
        for (int j = 0; j < n; j++)
            d[j * step] += s[j];
    else if (step == 1)
        memcpy(d, s, (size_t)n * sizeof *d);
    else
        for (int j = 0; j < n; j++)
            d[j * step] = s[j];
}

/* ------------------------------------------------------------- transpose */

static int transpose_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)in, (void)n_in;
    const LayerAttrs *a = &l->a;
    char t[96];
    if (dims_check(&a->dims, "dims", 1, err, errlen))
        return -1;
    int seen[NN_MAX_RANK] = {0}, od[NN_MAX_RANK];
    int ok = a->perm.n == a->dims.n;
    for (int i = 0; ok && i < a->perm.n; i++) {
        int p = a->perm.v[i];
        ok = p >= 0 && p < a->dims.n && !seen[p];
        if (ok)
            seen[p] = 1, od[i] = a->dims.v[p];
    }
    if (!ok)
        return errf(err, errlen, "perm %s is not a permutation of the %d axes of dims",
                    dims_text(a->perm.v, a->perm.n, t, sizeof t), a->dims.n);
    if (input_total_check(l, 0, a->dims.v, a->dims.n, err, errlen))
        return -1;
    layer_set_dims(l, od, a->dims.n);
    return 0;
}

/* Over the output in order; strides are the input's along the permuted axes. */
static void transpose_walk(const LayerAttrs *a, Walk *w)
{
    const int r = a->dims.n;
    int od[NN_MAX_RANK] = {0};
    size_t ist[NN_MAX_RANK], st[NN_MAX_RANK];
    dims_strides(a->dims.v, r, ist);
    for (int i = 0; i < r; i++) {
        od[i] = a->dims.v[a->perm.v[i]];
        st[i] = ist[a->perm.v[i]];
    }
    walk_make(w, od, st, r);
}

/* out = transpose(in) (forward), or din += transposeᵀ(dout) (backward). */
static void transpose_run(Layer *l, Net *net, int batch, int backward)
{
    Walk w;
    transpose_walk(&l->a, &w);
    Layer *src = layer_input(net, l, 0);
    float *din = backward ? input_dout(net, src) : NULL;
    if (backward && !din)
        return;
    const size_t samples = (size_t)batch / l->outer, n = layer_size(l), rows = walk_rows(&w);
    const int len = w.n[w.rank - 1];
    const size_t step = w.st[w.rank - 1];
#pragma omp parallel for schedule(static) if (samples * n >= PAR_MIN)
    for (size_t i = 0; i < samples * rows; i++) {
        size_t s = i / rows, r = i % rows, o = s * n + r * (size_t)len;
        size_t io = s * n + walk_offset(&w, r); /* the row's first element in the input */
        if (backward)
            scatter_row(din + io, step, l->dout + o, len, 1);
        else
            gather_row(l->out + o, src->out + io, step, len, 0);
    }
}

static void transpose_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    transpose_run(l, net, batch, 0);
}

static void transpose_backward(Layer *l, Net *net, int batch) { transpose_run(l, net, batch, 1); }

/* ------------------------------------------------------------------- pad */

static int pad_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)in, (void)n_in;
    const LayerAttrs *a = &l->a;
    const int r = a->dims.n;
    if (dims_check(&a->dims, "dims", 1, err, errlen))
        return -1;
    if (a->pads.n != 2 * r)
        return errf(err, errlen, "pads must list %d numbers (the begin of each of the %d axes, "
                    "then the end of each), not %d", 2 * r, r, a->pads.n);
    IntList od = {.n = r};
    for (int k = 0; k < r; k++) {
        if (a->pads.v[k] < 0 || a->pads.v[r + k] < 0)
            return errf(err, errlen, "pads must be >= 0");
        od.v[k] = a->dims.v[k] + a->pads.v[k] + a->pads.v[r + k];
    }
    if (dims_check(&od, "dims + pads", 1, err, errlen) ||
        input_total_check(l, 0, a->dims.v, r, err, errlen))
        return -1;
    layer_set_dims(l, od.v, r);
    return 0;
}

/* Over the input in order; strides are the output's, from *base (the interior's corner). */
static void pad_walk(const LayerAttrs *a, Walk *w, size_t *base)
{
    const int r = a->dims.n;
    int od[NN_MAX_RANK] = {0};
    size_t ost[NN_MAX_RANK];
    for (int k = 0; k < r; k++)
        od[k] = a->dims.v[k] + a->pads.v[k] + a->pads.v[r + k];
    dims_strides(od, r, ost);
    *base = 0;
    for (int k = 0; k < r; k++)
        *base += (size_t)a->pads.v[k] * ost[k];
    walk_make(w, a->dims.v, ost, r);
}

static void pad_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    Walk w;
    size_t base;
    pad_walk(&l->a, &w, &base);
    const float *x = layer_input(net, l, 0)->out;
    const size_t samples = (size_t)batch / l->outer, n = layer_size(l), rows = walk_rows(&w);
    const size_t nin = dims_total(l->a.dims.v, l->a.dims.n);
    const int len = w.n[w.rank - 1];
    const size_t step = w.st[w.rank - 1];
    const float v = l->a.value;
#pragma omp parallel for simd schedule(static) if (samples * n >= PAR_MIN)
    for (size_t i = 0; i < samples * n; i++)
        l->out[i] = v;
#pragma omp parallel for schedule(static) if (samples * n >= PAR_MIN)
    for (size_t i = 0; i < samples * rows; i++) {
        size_t s = i / rows, r = i % rows;
        scatter_row(l->out + s * n + base + walk_offset(&w, r), step, x + s * nin + r * (size_t)len,
                    len, 0);
    }
}

static void pad_backward(Layer *l, Net *net, int batch)
{
    Walk w;
    size_t base;
    pad_walk(&l->a, &w, &base);
    float *dx = input_dout(net, layer_input(net, l, 0));
    const size_t samples = (size_t)batch / l->outer, n = layer_size(l), rows = walk_rows(&w);
    const size_t nin = dims_total(l->a.dims.v, l->a.dims.n);
    const int len = w.n[w.rank - 1];
    const size_t step = w.st[w.rank - 1];
    if (!dx)
        return;
#pragma omp parallel for schedule(static) if (samples * n >= PAR_MIN)
    for (size_t i = 0; i < samples * rows; i++) {
        size_t s = i / rows, r = i % rows;
        gather_row(dx + s * nin + r * (size_t)len, l->dout + s * n + base + walk_offset(&w, r),
                   step, len, 1);
    }
}

/* --------------------------------------------------------------- reshape */

static int reshape_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)in, (void)n_in;
    const IntList *v = &l->a.view;
    if (v->n != 4)
        return errf(err, errlen, "needs 'view' = OUTER,C,H,W");
    size_t want = input_total(l, 0), got = 1;
    for (int k = 0; k < 4 && got <= want; k++) /* stops before any overflow */
        got *= (size_t)v->v[k];
    if (got != want)
        return errf(err, errlen,
                    "view %d x %dx%dx%d does not hold the input's %zu values per sample "
                    "(%d x %dx%dx%d)",
                    v->v[0], v->v[1], v->v[2], v->v[3], want, l->in_outer[0],
                    l->in_shape[0].c, l->in_shape[0].h, l->in_shape[0].w);
    l->outer = v->v[0];
    l->out_shape = (Shape){v->v[1], v->v[2], v->v[3]};
    return 0;
}

/* `batch` counts this layer's blocks; the floats are batch × block either way. */
static void reshape_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    memcpy(l->out, layer_input(net, l, 0)->out,
           (size_t)batch * shape_size(l->out_shape) * sizeof(float));
}

static void reshape_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    float *dx = input_dout(net, src);
    size_t n = (size_t)batch * shape_size(l->out_shape);
    if (!dx)
        return;
    if (src->dout_set) {
        memcpy(dx, l->dout, n * sizeof *dx);
        return;
    }
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++)
        dx[i] += l->dout[i];
}

const OpInfo op_transpose_info = {OP_TRANSPOSE, "transpose", 1, 1, "dims,perm", transpose_setup,
                                  NULL, transpose_forward, transpose_backward, NULL, 1, 0};
const OpInfo op_pad_info = {OP_PAD, "pad", 1, 1, "dims,pads,value", pad_setup, NULL, pad_forward,
                            pad_backward, NULL, 1, 0};
const OpInfo op_reshape_info = {OP_RESHAPE, "reshape", 1, 1, "view", reshape_setup, NULL,
                                reshape_forward, reshape_backward, NULL, 1, 1};
