/* ONNX → Net. Walks the graph's nodes in order (ONNX requires topological
 * order), keeping for every tensor either its constant value or the layer
 * that computes it with that layer's view (outer; c, h, w). Constant nodes
 * fold (onnx_fold.c); data nodes append to a list of planned layers; at the
 * end only the planned layers the output depends on become the Net, so
 * folded-away producers (a Pad merged into a conv, a Transpose cancelled by
 * another) cost nothing. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

#define PLAN_PARAMS 4

typedef struct {
    char name[NN_NAME_MAX];
    OpType type;
    LayerAttrs a;
    int n_in, in[NN_MAX_INPUTS];
    int n_params;
    struct {
        const char *name;
        float *data;
        size_t count;
    } params[PLAN_PARAMS];
    int outer; /* the view setup must produce (checked after finalize) */
    Shape shape;
    int live;
} Plan;

typedef struct {
    const char *name;  /* the ONNX tensor name (owned by the protobuf) */
    int is_const;
    OnnxTensor c;      /* value, when constant */
    int rank, dims[NN_MAX_RANK];
    int layer;         /* planned layer holding it, when not constant */
    int direct;        /* 1: the layer's own output, not a reshaped view of it */
    int uses;          /* consumers in the graph (node inputs and graph outputs) */
} Value;

typedef struct {
    const char *path;
    const Onnx__NodeProto *node; /* for messages */
    int opset;
    Plan *plan;
    int n_plan, cap_plan;
    Value *vals;
    int n_vals, cap_vals;
    char *err;
    size_t errlen;
} Imp;

/* ------------------------------------------------------------------ helpers */

static int node_fail(Imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int node_fail(Imp *im, const char *fmt, ...)
{
    char why[NN_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *n = im->node;
    if (n)
        return errf(im->err, im->errlen, "%s: node '%s' (%s): %s", im->path,
                    n->name && *n->name ? n->name : n->n_output ? n->output[0] : "?", n->op_type, why);
    return errf(im->err, im->errlen, "%s: %s", im->path, why);
}

static size_t prod(const int *d, int from, int to)
{
    size_t p = 1;
    for (int i = from; i < to; i++)
        p *= (size_t)d[i];
    return p;
}

/* A graph input's or output's name: protobuf-c leaves an unset proto2
 * string NULL, and a hostile file may leave any of them unset. */
static const char *vi_name(const Onnx__ValueInfoProto *vi) { return vi->name ? vi->name : ""; }

static Value *find_value(Imp *im, const char *name)
{
    for (int i = im->n_vals - 1; i >= 0; i--)
        if (!strcmp(im->vals[i].name, name))
            return &im->vals[i];
    return NULL;
}

/* A new value; pointers into im->vals stay valid only until the next call. */
static Value *add_value(Imp *im, const char *name)
{
    if (im->n_vals == im->cap_vals) {
        int cap = im->cap_vals ? im->cap_vals * 2 : 64;
        Value *g = realloc(im->vals, sizeof *g * (size_t)cap);
        if (!g)
            return NULL;
        im->vals = g;
        im->cap_vals = cap;
    }
    Value *v = &im->vals[im->n_vals++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->layer = -1;
    return v;
}

static int plan_layer(Imp *im, OpType type, const LayerAttrs *a, const int *in, int n_in,
                      int outer, Shape shape)
{
    if (im->n_plan == im->cap_plan) {
        int cap = im->cap_plan ? im->cap_plan * 2 : 64;
        Plan *g = realloc(im->plan, sizeof *g * (size_t)cap);
        if (!g)
            return node_fail(im, "out of memory");
        im->plan = g;
        im->cap_plan = cap;
    }
    int idx = im->n_plan++;
    Plan *p = &im->plan[idx];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s_%d", op_table[type]->name, idx);
    const Onnx__NodeProto *n = im->node;
    if (n && n->n_output && n->output[0] && *n->output[0])
        snprintf(p->name, sizeof p->name, "%.*s#%d", NN_NAME_MAX - 12, n->output[0], idx);
    p->type = type;
    if (a)
        p->a = *a;
    else
        layer_attrs_default(&p->a, type);
    p->n_in = n_in;
    if (n_in)
        memcpy(p->in, in, sizeof(int) * (size_t)n_in);
    p->outer = outer;
    p->shape = shape;
    return idx;
}

/* Attaches a copy of `count` values (converted to float, times `scale`) as parameter `name`. */
static int plan_param(Imp *im, int layer, const char *name, const double *v, size_t count, double scale)
{
    Plan *p = &im->plan[layer];
    float *f = malloc((count ? count : 1) * sizeof *f);
    if (!f || p->n_params == PLAN_PARAMS) {
        free(f);
        return node_fail(im, "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        f[i] = (float)(v ? v[i] * scale : 0);
    p->params[p->n_params].name = name;
    p->params[p->n_params].data = f;
    p->params[p->n_params].count = count;
    p->n_params++;
    return 0;
}

static void list_set(IntList *l, const int *v, int n)
{
    l->n = n;
    memcpy(l->v, v, sizeof(int) * (size_t)n);
}

/* The output value of the current node: a layer's direct output with these dims. */
static int set_output(Imp *im, int k, int layer, int rank, const int *dims_in)
{
    int dims[NN_MAX_RANK]; /* dims_in may point into im->vals, which add_value can move */
    memcpy(dims, dims_in, sizeof(int) * (size_t)rank);
    Value *v = add_value(im, im->node->output[k]);
    if (!v)
        return node_fail(im, "out of memory");
    v->layer = layer;
    v->direct = 1;
    v->rank = rank;
    memcpy(v->dims, dims, sizeof(int) * (size_t)rank);
    return 0;
}

/* A constant becomes a `constant` layer when a data op needs it as an input. */
static int const_layer(Imp *im, Value *v)
{
    if (!v->is_const)
        return v->layer;
    LayerAttrs a;
    layer_attrs_default(&a, OP_CONSTANT);
    list_set(&a.dims, v->c.dims, v->c.rank);
    int outer;
    Shape s;
    view_natural(v->c.dims, v->c.rank, &outer, &s);
    int l = plan_layer(im, OP_CONSTANT, &a, NULL, 0, outer, s);
    if (l < 0 || plan_param(im, l, "value", v->c.v, v->c.count, 1))
        return -1;
    return l;
}

/* The layer index holding v in view (outer; s), adding a reshape if needed. */
static int view_of(Imp *im, Value *v, int outer, Shape s)
{
    int l = const_layer(im, v);
    if (l < 0)
        return -1;
    Plan *p = &im->plan[l];
    if (p->outer == outer && p->shape.c == s.c && p->shape.h == s.h && p->shape.w == s.w)
        return l;
    LayerAttrs a;
    layer_attrs_default(&a, OP_RESHAPE);
    list_set(&a.view, (int[]){outer, s.c, s.h, s.w}, 4);
    return plan_layer(im, OP_RESHAPE, &a, &l, 1, outer, s);
}

/* A new value that is v's memory seen with other dims (reshape, flatten, squeeze). */
static int alias_output(Imp *im, Value *v, int rank, const int *dims_in)
{
    int dims[NN_MAX_RANK];
    memcpy(dims, dims_in, sizeof(int) * (size_t)rank);
    /* New dims are a view, no longer the producer's own output. */
    int layer = v->layer, direct = v->direct && rank == v->rank && !memcmp(dims, v->dims, sizeof(int) * (size_t)rank);
    Value *o = add_value(im, im->node->output[0]);
    if (!o)
        return node_fail(im, "out of memory");
    o->layer = layer;
    o->direct = direct;
    o->rank = rank;
    memcpy(o->dims, dims, sizeof(int) * (size_t)rank);
    return 0;
}

/* Spatial view of an [N, C, ...] tensor for conv/pool/norm ops: rank 4 is
 * (N; C, H, W), rank 3 is (N; C, 1, L), rank 2 is (N; C, 1, 1). */
static int spatial_view(Imp *im, Value *v, int *outer, Shape *s)
{
    *outer = 1;
    *s = (Shape){1, 1, 1};
    if (v->rank < 2 || v->rank > 4)
        return node_fail(im, "unsupported: a rank-%d input (2 to 4 handled: [N, C], [N, C, L], [N, C, H, W])", v->rank);
    *outer = v->dims[0];
    *s = (Shape){v->dims[1], v->rank == 4 ? v->dims[2] : 1, v->rank >= 3 ? v->dims[v->rank - 1] : 1};
    return 0;
}

static Value *const_input(Imp *im, Value **in, int n_in, int k, const char *what)
{
    if (k >= n_in || !in[k]) {
        node_fail(im, "input %d (%s) is required", k, what);
        return NULL;
    }
    if (!in[k]->is_const) {
        node_fail(im, "unsupported: %s computed from data (it must be a constant or initializer)", what);
        return NULL;
    }
    return in[k];
}

/* ------------------------------------------------------------ window ops */

typedef struct {
    int kernel[2], stride[2], pad[4]; /* pad: top, left, bottom, right */
} Window;

/* Kernel, strides and pads (explicit or auto_pad) of a conv or pool over the
 * spatial dims of x (1 or 2 of them); kernel given by the caller for conv. */
static int window_attrs(Imp *im, const Value *x, const int *kernel_in, Window *w, int ceil_mode)
{
    const Onnx__NodeProto *n = im->node;
    int sp = x->rank - 2;
    long k[2] = {1, 1}, s[2] = {1, 1}, p[4] = {0, 0, 0, 0}, d[2] = {1, 1};
    if (kernel_in)
        for (int i = 0; i < sp; i++)
            k[i] = kernel_in[i];
    long ks[2];
    int nk = onnx_attr_ints(n, "kernel_shape", ks, 2);
    if (nk == -2 || (nk >= 0 && nk != sp))
        return node_fail(im, "kernel_shape has the wrong length for a rank-%d input", x->rank);
    if (nk == sp)
        for (int i = 0; i < sp; i++) {
            if (kernel_in && ks[i] != kernel_in[i])
                return node_fail(im, "kernel_shape %ld differs from the weights' %d", ks[i], kernel_in[i]);
            k[i] = ks[i];
        }
    else if (!kernel_in)
        return node_fail(im, "kernel_shape is required");
    int ns = onnx_attr_ints(n, "strides", s, 2);
    int np = onnx_attr_ints(n, "pads", p, 4);
    int nd = onnx_attr_ints(n, "dilations", d, 2);
    if ((ns >= 0 && ns != sp) || (np >= 0 && np != 2 * sp) || (nd >= 0 && nd != sp))
        return node_fail(im, "strides, pads or dilations have the wrong length for a rank-%d input", x->rank);
    for (int i = 0; i < sp; i++)
        if (d[i] != 1)
            return node_fail(im, "unsupported: dilations %ld (only 1)", d[i]);
    char buf[32];
    const char *autopad = onnx_attr_str(n, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int i = 0; i < sp; i++) {
        if (k[i] < 1 || k[i] > 1024 || s[i] < 1 || s[i] > 1024)
            return node_fail(im, "kernel %ld or stride %ld out of range", k[i], s[i]);
        int in = x->dims[2 + i];
        if (!strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER")) {
            long out = (in + s[i] - 1) / s[i];
            long total = (out - 1) * s[i] + k[i] - in;
            total = total < 0 ? 0 : total;
            long small = total / 2, big = total - small;
            p[i] = autopad[5] == 'U' ? small : big;
            p[i + sp] = autopad[5] == 'U' ? big : small;
        } else if (!strcmp(autopad, "VALID")) {
            p[i] = p[i + sp] = 0;
        } else if (strcmp(autopad, "NOTSET")) {
            return node_fail(im, "bad auto_pad '%s'", autopad);
        }
    }
    for (int i = 0; i < 2 * sp; i++)
        if (p[i] < 0 || p[i] > 1024)
            return node_fail(im, "unsupported: pad %ld (0..1024)", p[i]);
    (void)ceil_mode;
    /* One spatial dim is the w axis of a (C, 1, L) view. */
    if (sp == 1) {
        *w = (Window){{1, (int)k[0]}, {1, (int)s[0]}, {0, (int)p[0], 0, (int)p[1]}};
    } else {
        *w = (Window){{(int)k[0], (int)k[1]}, {(int)s[0], (int)s[1]},
                      {(int)p[0], (int)p[1], (int)p[2], (int)p[3]}};
    }
    return 0;
}

static void window_to_attrs(const Window *w, LayerAttrs *a)
{
    a->kernel_h = w->kernel[0], a->kernel_w = w->kernel[1];
    a->stride_h = w->stride[0], a->stride_w = w->stride[1];
    a->pad_t = w->pad[0], a->pad_l = w->pad[1], a->pad_b = w->pad[2], a->pad_r = w->pad[3];
}

static int out_extent(int in, int k, int s, int lo, int hi, int ceil_mode)
{
    int span = in + lo + hi - k;
    if (span < 0)
        return -1;
    int out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + lo)
        out--;
    return out;
}

/* Output dims of a window op over x with `channels` output channels. */
static int window_out_dims(Imp *im, const Value *x, const Window *w, int channels, int ceil_mode, int *dims)
{
    int outer;
    Shape s;
    spatial_view(im, (Value *)x, &outer, &s);
    int oh = out_extent(s.h, w->kernel[0], w->stride[0], w->pad[0], w->pad[2], ceil_mode);
    int ow = out_extent(s.w, w->kernel[1], w->stride[1], w->pad[1], w->pad[3], ceil_mode);
    if (oh < 1 || ow < 1)
        return node_fail(im, "the window is larger than the padded input");
    dims[0] = x->dims[0];
    dims[1] = channels;
    if (x->rank == 4)
        dims[2] = oh, dims[3] = ow;
    else
        dims[2] = ow;
    return 0;
}

/* If x is the sole use of a zero Pad layer over the spatial dims only,
 * returns that Pad's input value (and its pads in *extra); else NULL. */
static Value *spatial_zero_pad(Imp *im, Value *x, int extra[4])
{
    if (x->is_const || !x->direct || x->uses != 1 || x->rank != 4)
        return NULL;
    Plan *p = &im->plan[x->layer];
    if (p->type != OP_PAD || p->a.value != 0 || p->a.pads.n != 8)
        return NULL;
    const int *q = p->a.pads.v;
    if (q[0] || q[1] || q[4] || q[5])
        return NULL;
    for (int i = im->n_vals - 1; i >= 0; i--) {
        Value *src = &im->vals[i];
        if (!src->is_const && src->layer == p->in[0] && src->rank == 4 &&
            src->dims[2] + q[2] + q[6] == x->dims[2] && src->dims[3] + q[3] + q[7] == x->dims[3]) {
            extra[0] = q[2], extra[1] = q[3], extra[2] = q[6], extra[3] = q[7];
            return src;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- lowering */

static int lower_conv(Imp *im, Value **in, int n_in)
{
    Value *x = in[0];
    Value *W = const_input(im, in, n_in, 1, "the weights W");
    if (!W)
        return -1;
    if (onnx_attr_int(im->node, "group", 1) != 1)
        return node_fail(im, "unsupported: group = %ld (only 1)", onnx_attr_int(im->node, "group", 1));
    if (x->rank != 3 && x->rank != 4)
        return node_fail(im, "unsupported: a rank-%d input (1-D and 2-D convolutions only)", x->rank);
    if (W->c.rank != x->rank || W->c.dims[1] != x->dims[1])
        return node_fail(im, "weights of rank %d with %d input channels for an input of rank %d with %d channels",
                         W->c.rank, W->c.rank > 1 ? W->c.dims[1] : 0, x->rank, x->dims[1]);
    Window w;
    if (window_attrs(im, x, W->c.dims + 2, &w, 0))
        return -1;
    int extra[4];
    Value *src = spatial_zero_pad(im, x, extra);
    if (src) { /* PyTorch and Keras export padding as a separate Pad */
        for (int i = 0; i < 4; i++)
            w.pad[i] += extra[i];
        x = src;
    }
    int F = W->c.dims[0], dims[4];
    if (window_out_dims(im, x, &w, F, 0, dims))
        return -1;
    Value *B = n_in > 2 && in[2] ? const_input(im, in, n_in, 2, "the bias B") : NULL;
    if (n_in > 2 && in[2] && (!B || B->c.count != (size_t)F))
        return B ? node_fail(im, "bias of %zu values for %d filters", B->c.count, F) : -1;
    LayerAttrs a;
    layer_attrs_default(&a, OP_CONV);
    a.filters = F;
    a.bias = 1; /* always: a following per-channel Add folds into it */
    window_to_attrs(&w, &a);
    int outer;
    Shape s;
    spatial_view(im, x, &outer, &s);
    int xl = view_of(im, x, outer, s);
    if (xl < 0)
        return -1;
    int oo;
    Shape os;
    view_natural(dims, x->rank, &oo, &os);
    if (x->rank == 3)
        os = (Shape){dims[1], 1, dims[2]};
    int l = plan_layer(im, OP_CONV, &a, &xl, 1, outer, os);
    if (l < 0 || plan_param(im, l, "weight", W->c.v, W->c.count, 1) ||
        plan_param(im, l, "bias", B ? B->c.v : NULL, (size_t)F, 1))
        return -1;
    return set_output(im, 0, l, x->rank, dims);
}

static int lower_pool(Imp *im, Value **in, OpType type)
{
    Value *x = in[0];
    const Onnx__NodeProto *n = im->node;
    if (n->n_output > 1 && n->output[1] && *n->output[1])
        return node_fail(im, "unsupported: the Indices output");
    if (x->rank != 3 && x->rank != 4)
        return node_fail(im, "unsupported: a rank-%d input (1-D and 2-D pooling only)", x->rank);
    if (onnx_attr_int(n, "storage_order", 0) != 0)
        return node_fail(im, "unsupported: storage_order 1");
    int ceil_mode = (int)onnx_attr_int(n, "ceil_mode", 0);
    int cip = (int)onnx_attr_int(n, "count_include_pad", 0);
    Window w;
    if (window_attrs(im, x, NULL, &w, ceil_mode))
        return -1;
    int extra[4];
    Value *src = type == OP_AVGPOOL && !ceil_mode && (cip || !(w.pad[0] | w.pad[1] | w.pad[2] | w.pad[3]))
                     ? spatial_zero_pad(im, x, extra) : NULL;
    if (src) { /* zeros from a Pad count in the average: count_include_pad */
        for (int i = 0; i < 4; i++)
            w.pad[i] += extra[i];
        cip = 1;
        x = src;
    }
    if (w.pad[0] >= w.kernel[0] || w.pad[2] >= w.kernel[0] || w.pad[1] >= w.kernel[1] || w.pad[3] >= w.kernel[1])
        return node_fail(im, "unsupported: padding as large as the kernel");
    int dims[4];
    if (window_out_dims(im, x, &w, x->dims[1], ceil_mode, dims))
        return -1;
    LayerAttrs a;
    layer_attrs_default(&a, type);
    window_to_attrs(&w, &a);
    a.ceil_mode = ceil_mode;
    a.count_include_pad = cip;
    int outer;
    Shape s;
    spatial_view(im, x, &outer, &s);
    int xl = view_of(im, x, outer, s);
    Shape os = x->rank == 4 ? (Shape){dims[1], dims[2], dims[3]} : (Shape){dims[1], 1, dims[2]};
    int l = xl < 0 ? -1 : plan_layer(im, type, &a, &xl, 1, outer, os);
    return l < 0 ? -1 : set_output(im, 0, l, x->rank, dims);
}

static int lower_global_pool(Imp *im, Value *x, int is_max)
{
    int outer;
    Shape s;
    if (x->rank < 3 || spatial_view(im, x, &outer, &s))
        return x->rank < 3 ? node_fail(im, "needs an [N, C, ...] input of rank 3 or 4") : -1;
    int xl = view_of(im, x, outer, s);
    LayerAttrs a;
    OpType t = is_max ? OP_MAXPOOL : OP_GLOBAL_AVGPOOL;
    layer_attrs_default(&a, t);
    if (is_max) {
        a.kernel_h = s.h, a.kernel_w = s.w;
        a.stride_h = a.stride_w = 1;
    }
    int dims[4] = {x->dims[0], x->dims[1], 1, 1};
    int l = xl < 0 ? -1 : plan_layer(im, t, &a, &xl, 1, outer, (Shape){s.c, 1, 1});
    return l < 0 ? -1 : set_output(im, 0, l, x->rank, dims);
}

static int lower_batchnorm(Imp *im, Value **in, int n_in)
{
    const Onnx__NodeProto *n = im->node;
    if (onnx_attr_int(n, "training_mode", 0) || (n->n_output > 1 && *n->output[1]))
        return node_fail(im, "unsupported: training mode (inference batch norm only)");
    if (onnx_attr_int(n, "spatial", 1) != 1)
        return node_fail(im, "unsupported: spatial = 0");
    Value *x = in[0], *p[4];
    static const char *const what[4] = {"scale", "B", "mean", "var"};
    for (int i = 0; i < 4; i++)
        if (!(p[i] = const_input(im, in, n_in, i + 1, what[i])))
            return -1;
    int outer;
    Shape s;
    if (spatial_view(im, x, &outer, &s))
        return -1;
    for (int i = 0; i < 4; i++)
        if (p[i]->c.count != (size_t)s.c)
            return node_fail(im, "%s has %zu values for %d channels", what[i], p[i]->c.count, s.c);
    LayerAttrs a;
    layer_attrs_default(&a, OP_BATCHNORM);
    a.eps = onnx_attr_float(n, "epsilon", 1e-5f);
    a.momentum = 0.1f;
    int xl = view_of(im, x, outer, s);
    int l = xl < 0 ? -1 : plan_layer(im, OP_BATCHNORM, &a, &xl, 1, outer, s);
    static const char *const names[4] = {"gamma", "beta", "running_mean", "running_var"};
    for (int i = 0; i < 4 && l >= 0; i++)
        if (plan_param(im, l, names[i], p[i]->c.v, p[i]->c.count, 1))
            return -1;
    return l < 0 ? -1 : set_output(im, 0, l, x->rank, x->dims);
}

/* Pointwise ops keep whatever view the input has. */
static int lower_pointwise(Imp *im, Value *x, OpType t, const LayerAttrs *a)
{
    int xl = const_layer(im, x);
    if (xl < 0)
        return -1;
    Plan *p = &im->plan[xl];
    int l = plan_layer(im, t, a, &xl, 1, p->outer, p->shape);
    return l < 0 ? -1 : set_output(im, 0, l, x->rank, x->dims);
}

static int lower_lrn(Imp *im, Value *x)
{
    const Onnx__NodeProto *n = im->node;
    LayerAttrs a;
    layer_attrs_default(&a, OP_LRN);
    a.size = (int)onnx_attr_int(n, "size", 0);
    a.alpha = onnx_attr_float(n, "alpha", 1e-4f);
    a.beta = onnx_attr_float(n, "beta", 0.75f);
    a.k = onnx_attr_float(n, "bias", 1.0f);
    if (a.size < 1)
        return node_fail(im, "size must be a positive integer");
    int outer;
    Shape s;
    if (spatial_view(im, x, &outer, &s))
        return -1;
    int xl = view_of(im, x, outer, s);
    int l = xl < 0 ? -1 : plan_layer(im, OP_LRN, &a, &xl, 1, outer, s);
    return l < 0 ? -1 : set_output(im, 0, l, x->rank, x->dims);
}

static int lower_clip(Imp *im, Value **in, int n_in)
{
    LayerAttrs a;
    layer_attrs_default(&a, OP_CLIP);
    a.lo = onnx_attr_float(im->node, "min", -FLT_MAX);
    a.hi = onnx_attr_float(im->node, "max", FLT_MAX);
    for (int k = 1; k < 3 && k < n_in; k++) {
        if (!in[k])
            continue;
        Value *b = const_input(im, in, n_in, k, k == 1 ? "min" : "max");
        if (!b)
            return -1;
        if (b->c.count != 1)
            return node_fail(im, "%s must be a scalar", k == 1 ? "min" : "max");
        *(k == 1 ? &a.lo : &a.hi) = (float)b->c.v[0];
    }
    return lower_pointwise(im, in[0], OP_CLIP, &a);
}

static int lower_softmax(Imp *im, Value *x)
{
    int r = x->rank, axis;
    long ax = onnx_attr_int(im->node, "axis", im->opset >= 13 ? -1 : 1);
    if (ax < -r || ax >= r)
        return node_fail(im, "axis %ld out of range for rank %d", ax, r);
    axis = (int)(ax < 0 ? ax + r : ax);
    int outer = (int)prod(x->dims, 0, axis);
    /* Before opset 13, Softmax works on the input flattened to 2-D at axis. */
    Shape s = im->opset >= 13 ? (Shape){x->dims[axis], (int)prod(x->dims, axis + 1, r), 1}
                              : (Shape){(int)prod(x->dims, axis, r), 1, 1};
    int xl = view_of(im, x, outer, s);
    int l = xl < 0 ? -1 : plan_layer(im, OP_SOFTMAX, NULL, &xl, 1, outer, s);
    return l < 0 ? -1 : set_output(im, 0, l, x->rank, x->dims);
}

/* An op that sees x as a whole tensor and gives one of `dims` (in its natural view). */
static int tensor_op(Imp *im, OpType t, const LayerAttrs *a, Value *x, int rank, const int *dims)
{
    int xl = const_layer(im, x), outer;
    Shape s;
    view_natural(dims, rank, &outer, &s);
    int l = xl < 0 ? -1 : plan_layer(im, t, a, &xl, 1, outer, s);
    return l < 0 ? -1 : set_output(im, 0, l, rank, dims);
}

static int lower_transpose(Imp *im, Value *x)
{
    int r = x->rank, perm[NN_MAX_RANK], seen[NN_MAX_RANK] = {0};
    long p[NN_MAX_RANK];
    int k = onnx_attr_ints(im->node, "perm", p, NN_MAX_RANK);
    if (k < 0)
        for (k = 0; k < r; k++)
            p[k] = r - 1 - k;
    if (k != r)
        return node_fail(im, "perm has %d entries for a rank-%d input", k, r);
    for (int i = 0; i < r; i++) {
        if (p[i] < 0 || p[i] >= r || seen[p[i]]++)
            return node_fail(im, "perm is not a permutation");
        perm[i] = (int)p[i];
    }
    int dims[NN_MAX_RANK], identity = 1;
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        identity &= perm[i] == i;
    }
    /* A transpose of a transpose is one transpose (or none): Keras models
     * start with NHWC → NCHW, which cancels the NCHW → NHWC of our input. */
    if (!x->is_const && x->direct && x->uses == 1 && im->plan[x->layer].type == OP_TRANSPOSE) {
        const Plan *t = &im->plan[x->layer];
        int composed[NN_MAX_RANK], src_dims[NN_MAX_RANK];
        identity = 1;
        for (int i = 0; i < r; i++) {
            composed[i] = t->a.perm.v[perm[i]];
            src_dims[i] = t->a.dims.v[i];
            identity &= composed[i] == i;
        }
        for (int i = im->n_vals - 1; i >= 0; i--) {
            Value *src = &im->vals[i];
            if (src->is_const || src->layer != t->in[0] || src->rank != r ||
                memcmp(src->dims, src_dims, sizeof(int) * (size_t)r))
                continue;
            if (identity)
                return alias_output(im, src, r, dims);
            x = src;
            memcpy(perm, composed, sizeof perm);
            break;
        }
    } else if (identity) {
        return alias_output(im, x, r, dims);
    }
    LayerAttrs a;
    layer_attrs_default(&a, OP_TRANSPOSE);
    list_set(&a.dims, x->dims, r);
    list_set(&a.perm, perm, r);
    return tensor_op(im, OP_TRANSPOSE, &a, x, r, dims);
}

static int lower_pad(Imp *im, Value **in, int n_in)
{
    Value *x = in[0];
    int r = x->rank;
    char buf[32];
    const char *mode = onnx_attr_str(im->node, "mode", "constant", buf, sizeof buf);
    if (strcmp(mode, "constant"))
        return node_fail(im, "unsupported: mode '%s' (constant only)", mode);
    long pads[2 * NN_MAX_RANK];
    int k;
    float value = onnx_attr_float(im->node, "value", 0);
    if (im->opset >= 11) {
        Value *p = const_input(im, in, n_in, 1, "pads");
        if (!p)
            return -1;
        if ((int)p->c.count != 2 * r)
            return node_fail(im, "%zu pads for a rank-%d input", p->c.count, r);
        for (k = 0; k < 2 * r; k++)
            pads[k] = (long)p->c.v[k];
        if (n_in > 2 && in[2]) {
            Value *v = const_input(im, in, n_in, 2, "constant_value");
            if (!v || v->c.count != 1)
                return v ? node_fail(im, "constant_value must be a scalar") : -1;
            value = (float)v->c.v[0];
        }
        if (n_in > 3 && in[3])
            return node_fail(im, "unsupported: the axes input");
    } else if ((k = onnx_attr_ints(im->node, "pads", pads, 2 * NN_MAX_RANK)) != 2 * r) {
        return node_fail(im, "pads must have %d entries", 2 * r);
    }
    int p[2 * NN_MAX_RANK], dims[NN_MAX_RANK];
    for (int i = 0; i < 2 * r; i++) {
        if (pads[i] < 0 || pads[i] > (1 << 20))
            return node_fail(im, "unsupported: pad %ld (0 .. 2^20; negative pads crop)", pads[i]);
        p[i] = (int)pads[i];
    }
    for (int i = 0; i < r; i++)
        dims[i] = x->dims[i] + p[i] + p[i + r];
    LayerAttrs a;
    layer_attrs_default(&a, OP_PAD);
    list_set(&a.dims, x->dims, r);
    list_set(&a.pads, p, 2 * r);
    a.value = value;
    return tensor_op(im, OP_PAD, &a, x, r, dims);
}

static int lower_concat(Imp *im, Value **in, int n_in)
{
    if (n_in > NN_MAX_INPUTS)
        return node_fail(im, "unsupported: %d inputs (up to %d)", n_in, NN_MAX_INPUTS);
    int r = in[0]->rank, axis;
    long ax = onnx_attr_int(im->node, "axis", 0);
    if (ax < -r || ax >= r)
        return node_fail(im, "axis %ld out of range for rank %d", ax, r);
    axis = (int)(ax < 0 ? ax + r : ax);
    int dims[NN_MAX_RANK], layers[NN_MAX_INPUTS];
    memcpy(dims, in[0]->dims, sizeof dims);
    dims[axis] = 0;
    int outer = (int)prod(in[0]->dims, 0, axis), inner = (int)prod(in[0]->dims, axis + 1, r);
    for (int i = 0; i < n_in; i++) {
        if (!in[i] || in[i]->rank != r)
            return node_fail(im, "inputs of different ranks");
        for (int d = 0; d < r; d++)
            if (d != axis && in[i]->dims[d] != in[0]->dims[d])
                return node_fail(im, "inputs differ in dim %d", d);
        dims[axis] += in[i]->dims[axis];
        if ((layers[i] = view_of(im, in[i], outer, (Shape){in[i]->dims[axis], inner, 1})) < 0)
            return -1;
    }
    int l = plan_layer(im, OP_CONCAT, NULL, layers, n_in, outer, (Shape){dims[axis], inner, 1});
    return l < 0 ? -1 : set_output(im, 0, l, r, dims);
}

/* A dense layer over the rows of x ([..., K] → [..., N]); w is [N][K] row-major after scaling. */
static int plan_dense(Imp *im, Value *x, const double *w, int N, const double *bias, double bscale)
{
    int K = x->dims[x->rank - 1];
    int rows = (int)prod(x->dims, 0, x->rank - 1);
    /* Dense reads each block as one vector, so any view with the right blocks will do. */
    int xl = const_layer(im, x);
    if (xl >= 0 && (im->plan[xl].outer != rows || shape_size(im->plan[xl].shape) != (size_t)K))
        xl = view_of(im, x, rows, (Shape){K, 1, 1});
    LayerAttrs a;
    layer_attrs_default(&a, OP_DENSE);
    a.units = N;
    a.bias = 1;
    int l = xl < 0 ? -1 : plan_layer(im, OP_DENSE, &a, &xl, 1, rows, (Shape){N, 1, 1});
    if (l < 0 || plan_param(im, l, "weight", w, (size_t)N * K, 1) ||
        plan_param(im, l, "bias", bias, (size_t)N, bscale))
        return -1;
    return l;
}

/* An elementwise op with a constant (1 input) or second input; b broadcast to a. */
static int plan_eltwise(Imp *im, Value *a, Value *b, int binop, int reverse)
{
    LayerAttrs at;
    layer_attrs_default(&at, OP_ELTWISE);
    at.binop = binop;
    at.reverse = reverse;
    list_set(&at.dims, a->dims, a->rank);
    list_set(&at.bdims, b->is_const ? b->c.dims : b->dims, b->is_const ? b->c.rank : b->rank);
    int ins[2], n = 1, outer;
    if ((ins[0] = const_layer(im, a)) < 0)
        return -1;
    if (!b->is_const) {
        ins[1] = b->layer;
        n = 2;
    }
    Shape s;
    view_natural(a->dims, a->rank, &outer, &s);
    int l = plan_layer(im, OP_ELTWISE, &at, ins, n, outer, s);
    if (l >= 0 && b->is_const && plan_param(im, l, "b", b->c.v, b->c.count, 1))
        return -1;
    return l;
}

static int lower_gemm(Imp *im, Value **in, int n_in)
{
    const Onnx__NodeProto *n = im->node;
    Value *A = in[0], *B = const_input(im, in, n_in, 1, "B"), *C = NULL, transposed;
    if (!B)
        return -1;
    double alpha = onnx_attr_float(n, "alpha", 1), beta = onnx_attr_float(n, "beta", 1);
    int ta = (int)onnx_attr_int(n, "transA", 0), tb = (int)onnx_attr_int(n, "transB", 0);
    if (A->rank != 2 || B->c.rank != 2)
        return node_fail(im, "A and B must be matrices");
    if (n_in > 2 && in[2] && !(C = const_input(im, in, n_in, 2, "C")))
        return -1;
    int M = A->dims[ta ? 1 : 0], K = A->dims[ta ? 0 : 1];
    int N = B->c.dims[tb ? 0 : 1];
    if (B->c.dims[tb ? 1 : 0] != K)
        return node_fail(im, "A is %dx%d and B %dx%d (after transposes) do not multiply", M, K,
                         B->c.dims[tb ? 1 : 0], N);
    if (ta) { /* a transposed data matrix: transpose it as a layer first */
        LayerAttrs a;
        layer_attrs_default(&a, OP_TRANSPOSE);
        list_set(&a.dims, A->dims, 2);
        list_set(&a.perm, (int[]){1, 0}, 2);
        int xl = const_layer(im, A);
        int tl = xl < 0 ? -1 : plan_layer(im, OP_TRANSPOSE, &a, &xl, 1, M, (Shape){K, 1, 1});
        if (tl < 0)
            return -1;
        transposed = (Value){.layer = tl, .direct = 1, .rank = 2, .dims = {M, K}};
        A = &transposed;
    }
    double *w = malloc(sizeof *w * (size_t)N * K);
    if (!w)
        return node_fail(im, "out of memory");
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++)
            w[(size_t)j * K + k] = alpha * B->c.v[tb ? (size_t)j * K + k : (size_t)k * N + j];
    /* C of [N], [1, N] or a scalar is the dense bias; another shape is added after. */
    int rowwise = !C || (C->c.count == (size_t)N && (C->c.rank == 1 || (C->c.rank == 2 && C->c.dims[0] == 1))) ||
                  C->c.count == 1;
    double *bias = NULL;
    if (C && rowwise) {
        bias = malloc(sizeof *bias * (size_t)N);
        for (int j = 0; bias && j < N; j++)
            bias[j] = C->c.v[C->c.count == 1 ? 0 : j];
    }
    int l = (C && rowwise && !bias) ? node_fail(im, "out of memory") : plan_dense(im, A, w, N, bias, beta);
    free(w);
    free(bias);
    if (l < 0)
        return -1;
    int dims[2] = {M, N};
    if (C && !rowwise) {
        int r, bd[NN_MAX_RANK];
        if (onnx_broadcast(2, dims, C->c.rank, C->c.dims, &r, bd) || r != 2 || bd[0] != M || bd[1] != N)
            return node_fail(im, "C does not broadcast to %dx%d", M, N);
        Value tmp = {.layer = l, .direct = 1, .rank = 2, .dims = {M, N}};
        Value scaled = *C;
        OnnxTensor c;
        if (onnx_tensor_copy(&c, &C->c))
            return node_fail(im, "out of memory");
        for (size_t i = 0; i < c.count; i++)
            c.v[i] *= beta;
        scaled.c = c;
        l = plan_eltwise(im, &tmp, &scaled, BINOP_ADD, 0);
        onnx_tensor_free(&c);
        if (l < 0)
            return -1;
    }
    return set_output(im, 0, l, 2, dims);
}

static int lower_matmul(Imp *im, Value **in, int n_in)
{
    Value *A = in[0];
    Value *B = const_input(im, in, n_in, 1, "B (data × data products are not supported)");
    if (!B)
        return -1;
    int ra = A->rank, rb = B->c.rank;
    if (ra < 1 || rb < 1)
        return node_fail(im, "scalar operands");
    int K = A->dims[ra - 1];
    int N = rb == 1 ? 1 : B->c.dims[rb - 1];
    if ((rb == 1 ? B->c.dims[0] : B->c.dims[rb - 2]) != K)
        return node_fail(im, "inner dimensions %d and %d differ", K, rb == 1 ? B->c.dims[0] : B->c.dims[rb - 2]);
    int dims[NN_MAX_RANK], r = ra;
    memcpy(dims, A->dims, sizeof dims);
    dims[ra - 1] = N;
    if (rb == 1) /* a vector B drops the last dim */
        r = ra - 1;
    if (rb <= 2) {
        double *w = malloc(sizeof *w * (size_t)N * K);
        if (!w)
            return node_fail(im, "out of memory");
        for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++)
                w[(size_t)j * K + k] = B->c.v[(size_t)k * N + j];
        int l = plan_dense(im, A, w, N, NULL, 0);
        free(w);
        return l < 0 ? -1 : set_output(im, 0, l, r, dims);
    }
    /* Batched: B's leading dims broadcast against A's, which must not grow. */
    int lr, lead[NN_MAX_RANK];
    if (ra < 2 || onnx_broadcast(ra - 2, A->dims, rb - 2, B->c.dims, &lr, lead) || lr != ra - 2 ||
        memcmp(lead, A->dims, sizeof(int) * (size_t)lr))
        return node_fail(im, "unsupported: B's batch dims broadcast A");
    size_t G = prod(A->dims, 0, ra - 2), KN = (size_t)K * N;
    double *w = malloc(sizeof *w * G * KN);
    if (!w)
        return node_fail(im, "out of memory");
    for (size_t g = 0; g < G; g++) { /* the B slice that index g of A meets */
        size_t rest = g, src = 0, stride = 1;
        for (int d = ra - 3; d >= 0; d--) {
            size_t x = rest % (size_t)A->dims[d];
            rest /= (size_t)A->dims[d];
            int bd = d - (ra - rb);
            if (bd >= 0) {
                if (B->c.dims[bd] != 1)
                    src += x * stride;
                stride *= (size_t)B->c.dims[bd];
            }
        }
        memcpy(w + g * KN, B->c.v + src * KN, KN * sizeof *w);
    }
    LayerAttrs a;
    layer_attrs_default(&a, OP_MATMUL);
    list_set(&a.dims, A->dims, ra);
    a.units = N;
    int xl = const_layer(im, A), outer;
    Shape s;
    view_natural(dims, r, &outer, &s);
    int l = xl < 0 ? -1 : plan_layer(im, OP_MATMUL, &a, &xl, 1, outer, s);
    if (l < 0 || plan_param(im, l, "weight", w, G * KN, 1)) {
        free(w);
        return -1;
    }
    free(w);
    return set_output(im, 0, l, r, dims);
}

/* If x is a conv's or dense's own output used only here and c is one value
 * per output channel, adds c (times sign) into its bias; returns 1 if done. */
static int fold_into_bias(Imp *im, Value *x, const Value *c, double sign)
{
    if (x->is_const || !x->direct || x->uses != 1)
        return 0;
    Plan *p = &im->plan[x->layer];
    if (p->type != OP_CONV && p->type != OP_DENSE)
        return 0;
    int ch = x->dims[p->type == OP_CONV ? 1 : x->rank - 1];
    int r, bd[NN_MAX_RANK];
    if (onnx_broadcast(x->rank, x->dims, c->c.rank, c->c.dims, &r, bd) || r != x->rank ||
        memcmp(bd, x->dims, sizeof(int) * (size_t)r))
        return 0;
    /* Only the channel axis may vary. */
    int axis = p->type == OP_CONV ? 1 : x->rank - 1;
    for (int d = 0; d < c->c.rank; d++) {
        int xd = d + (x->rank - c->c.rank);
        if (c->c.dims[d] != 1 && xd != axis)
            return 0;
    }
    float *bias = p->params[1].data;
    for (int j = 0; j < ch; j++)
        bias[j] += (float)(sign * c->c.v[c->c.count == 1 ? 0 : j]);
    return 1;
}

static int lower_binary(Imp *im, Value **in, int n_in)
{
    static const char *const names[] = {"Add", "Sub", "Mul", "Div"};
    int op = 0;
    while (strcmp(names[op], im->node->op_type))
        op++;
    if (n_in < 2 || !in[0] || !in[1])
        return node_fail(im, "needs two inputs");
    Value *a = in[0], *b = in[1];
    int r, dims[NN_MAX_RANK];
    if (onnx_broadcast(a->rank, a->dims, b->rank, b->dims, &r, dims))
        return node_fail(im, "operands of shapes that do not broadcast");
    int reverse = 0;
    if (a->is_const || (!b->is_const && (a->rank != r || memcmp(a->dims, dims, sizeof(int) * (size_t)r)))) {
        Value *t = a; /* the full-shape data operand goes first */
        a = b, b = t;
        reverse = 1;
    }
    if (a->rank != r || memcmp(a->dims, dims, sizeof(int) * (size_t)r))
        return node_fail(im, "unsupported: broadcasting grows the data tensor");
    if (b->is_const && (op == BINOP_ADD || (op == BINOP_SUB && !reverse)) &&
        fold_into_bias(im, a, b, op == BINOP_SUB ? -1 : 1)) {
        int layer = a->layer;
        return set_output(im, 0, layer, r, dims);
    }
    if (!b->is_const && op == BINOP_ADD && b->rank == r && !memcmp(b->dims, dims, sizeof(int) * (size_t)r)) {
        /* A residual add: both operands in one view. */
        int la = a->layer;
        const Plan *pa = &im->plan[la];
        int outer = pa->outer;
        Shape s = pa->shape;
        int lb = view_of(im, b, outer, s);
        int ins[2] = {la, lb};
        int l = lb < 0 ? -1 : plan_layer(im, OP_ADD, NULL, ins, 2, outer, s);
        return l < 0 ? -1 : set_output(im, 0, l, r, dims);
    }
    int l = plan_eltwise(im, a, b, op, reverse && (op == BINOP_SUB || op == BINOP_DIV));
    return l < 0 ? -1 : set_output(im, 0, l, r, dims);
}

/* Reshape, Flatten, Squeeze, Unsqueeze of data: the same memory with new dims. */
static int lower_reshape_like(Imp *im, Value **in, int n_in)
{
    const char *op = im->node->op_type;
    Value *x = in[0];
    int r, dims[NN_MAX_RANK];
    long axes[NN_MAX_RANK];
    char why[NN_ERR_MAX];
    if (!strcmp(op, "Reshape")) {
        Value *s = const_input(im, in, n_in, 1, "the target shape");
        if (!s || onnx_reshape_dims(x->rank, x->dims, &s->c, (int)onnx_attr_int(im->node, "allowzero", 0),
                                    &r, dims, why, sizeof why))
            return s ? node_fail(im, "%s", why) : -1;
    } else if (!strcmp(op, "Flatten")) {
        if (onnx_flatten_dims(x->rank, x->dims, onnx_attr_int(im->node, "axis", 1), &r, dims))
            return node_fail(im, "bad axis");
    } else {
        Value *ax = n_in > 1 && in[1] ? const_input(im, in, n_in, 1, "axes") : NULL;
        if (n_in > 1 && in[1] && !ax)
            return -1;
        int k = onnx_node_axes(im->node, ax ? &ax->c : NULL, axes, NN_MAX_RANK);
        if (k < 0)
            return node_fail(im, "too many axes");
        int rc = op[0] == 'U' ? onnx_unsqueeze_dims(x->rank, x->dims, axes, k, &r, dims, why, sizeof why)
                              : onnx_squeeze_dims(x->rank, x->dims, axes, k, &r, dims, why, sizeof why);
        if (rc)
            return node_fail(im, "%s", why);
    }
    return alias_output(im, x, r, dims);
}

/* One data node (at least one input is not constant). */
static int lower_node(Imp *im, Value **in, int n_in)
{
    const Onnx__NodeProto *n = im->node;
    const char *op = n->op_type;
    Value *x = in[0];
    if (!x)
        return node_fail(im, "input 0 is required");
    if (!strcmp(op, "Relu") || !strcmp(op, "Sigmoid") || !strcmp(op, "Tanh") || !strcmp(op, "LeakyRelu")) {
        OpType t = op[0] == 'R' ? OP_RELU : op[0] == 'S' ? OP_SIGMOID : op[0] == 'T' ? OP_TANH : OP_LEAKY_RELU;
        LayerAttrs a;
        layer_attrs_default(&a, t);
        if (t == OP_LEAKY_RELU)
            a.alpha = onnx_attr_float(n, "alpha", 0.01f);
        return lower_pointwise(im, x, t, &a);
    }
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        if (n->n_output > 1 && *n->output[1])
            return node_fail(im, "unsupported: the mask output");
        if (n_in > 2 && in[2] && (!in[2]->is_const || in[2]->c.v[0] != 0))
            return node_fail(im, "unsupported: training mode");
        return alias_output(im, x, x->rank, x->dims);
    }
    if (!strcmp(op, "Cast")) {
        long to = onnx_attr_int(n, "to", 1);
        if (to != 1)
            return node_fail(im, "unsupported: cast of data to %s (float32 only)", onnx_dtype_name((int)to));
        return alias_output(im, x, x->rank, x->dims);
    }
    if (!strcmp(op, "Conv"))
        return lower_conv(im, in, n_in);
    if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool"))
        return lower_pool(im, in, op[0] == 'M' ? OP_MAXPOOL : OP_AVGPOOL);
    if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool"))
        return lower_global_pool(im, x, op[6] == 'M');
    if (!strcmp(op, "BatchNormalization"))
        return lower_batchnorm(im, in, n_in);
    if (!strcmp(op, "LRN"))
        return lower_lrn(im, x);
    if (!strcmp(op, "Clip"))
        return lower_clip(im, in, n_in);
    if (!strcmp(op, "Softmax"))
        return lower_softmax(im, x);
    if (!strcmp(op, "Transpose"))
        return lower_transpose(im, x);
    if (!strcmp(op, "Pad"))
        return lower_pad(im, in, n_in);
    if (!strcmp(op, "Concat"))
        return lower_concat(im, in, n_in);
    if (!strcmp(op, "Gemm"))
        return lower_gemm(im, in, n_in);
    if (!strcmp(op, "MatMul"))
        return lower_matmul(im, in, n_in);
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div"))
        return lower_binary(im, in, n_in);
    if (!strcmp(op, "Reshape") && im->opset < 5)
        return node_fail(im, "unsupported: Reshape before opset 5 (a shape attribute)");
    if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze"))
        return lower_reshape_like(im, in, n_in);
    return node_fail(im, "unsupported: op %s", op);
}

/* ----------------------------------------------------------------- graph */

/* The constant of a Constant node's attribute. */
static int constant_node(Imp *im, OnnxTensor *t)
{
    const Onnx__NodeProto *n = im->node;
    char why[NN_ERR_MAX];
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        const char *k = a->name ? a->name : "";
        if (!strcmp(k, "value") && a->t)
            return onnx_tensor_from_proto(a->t, t, why, sizeof why) ? node_fail(im, "%s", why) : 0;
        int scalar = !strcmp(k, "value_float") || !strcmp(k, "value_int");
        int list = !strcmp(k, "value_floats") || !strcmp(k, "value_ints");
        if (scalar || list) {
            int is_int = strstr(k, "int") != NULL;
            int count = scalar ? 1 : (int)(is_int ? a->n_ints : a->n_floats);
            if (onnx_tensor_alloc(t, scalar ? 0 : 1, &count, is_int))
                return node_fail(im, "out of memory");
            for (int j = 0; j < count; j++)
                t->v[j] = scalar ? (is_int ? (double)a->i : a->f) : is_int ? (double)a->ints[j] : a->floats[j];
            return 0;
        }
    }
    return node_fail(im, "unsupported: a Constant without a value, value_float(s) or value_int(s)");
}

static int graph_dims(const Onnx__ValueInfoProto *vi, int *rank, int *dims, int *elem)
{
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !vi->type->tensor_type)
        return -3;
    const Onnx__TypeProto__Tensor *t = vi->type->tensor_type;
    *elem = t->has_elem_type ? t->elem_type : 1;
    if (!t->shape)
        return -1;
    if (t->shape->n_dim > NN_MAX_RANK)
        return -2;
    *rank = (int)t->shape->n_dim;
    for (int d = 0; d < *rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = t->shape->dim[d];
        /* A symbolic dim (the batch) is instantiated as 1. */
        long v = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? (long)dim->dim_value : 1;
        if (v == 0)
            return -4;
        if (v < 1 || v > (1L << 24))
            return -1;
        dims[d] = (int)v;
    }
    return 0;
}

/* The data input: its value over the net's input layer (plan 0), adding a
 * transpose when the model wants NHWC images. */
static int setup_input(Imp *im, const Onnx__GraphProto *g, const OnnxOptions *opt, Shape *net_in)
{
    const Onnx__ValueInfoProto *data = NULL;
    int n_data = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        const char *nm = vi_name(g->input[i]);
        if (find_value(im, nm))
            continue; /* an initializer (IR < 4 lists them as inputs) or bound */
        data = g->input[i];
        n_data++;
    }
    if (n_data > 1)
        return node_fail(im, "unsupported: %d data inputs (nnbench feeds one; weights must be initializers)", n_data);
    int rank = 1, dims[NN_MAX_RANK] = {1}, elem = 1;
    if (data) {
        int rc = graph_dims(data, &rank, dims, &elem);
        static const char *const why[] = {"", "input '%s' has no shape of positive dims",
                                          "unsupported: input '%s' has rank above 6",
                                          "unsupported: input '%s' is not a tensor (a sequence, map or optional)",
                                          "unsupported: input '%s' is empty (a zero dimension)"};
        if (rc)
            return node_fail(im, why[-rc], vi_name(data));
        if (elem != 1)
            return node_fail(im, "unsupported: input '%s' of type %s (float32 only)", vi_name(data), onnx_dtype_name(elem));
    }
    size_t total = prod(dims, 0, rank);
    int nhwc = 0;
    if (opt && opt->has_data_shape) {
        Shape d = opt->data_shape;
        if (total != shape_size(d))
            return node_fail(im, "input '%s' has %zu values; the data set's images have %dx%dx%d",
                             data ? vi_name(data) : "?", total, d.c, d.h, d.w);
        nhwc = rank == 4 && dims[3] == d.c && dims[1] == d.h && dims[2] == d.w && dims[1] != d.c;
        *net_in = d;
    } else {
        int outer;
        view_natural(dims, rank, &outer, net_in);
        if (outer != 1)
            *net_in = (Shape){(int)total, 1, 1};
    }
    im->node = NULL;
    if (plan_layer(im, OP_INPUT, NULL, NULL, 0, 1, *net_in) != 0)
        return -1;
    snprintf(im->plan[0].name, sizeof im->plan[0].name, "input");
    Value *v = add_value(im, data ? vi_name(data) : "");
    if (!v)
        return node_fail(im, "out of memory");
    v->layer = 0;
    v->direct = 1;
    v->rank = rank;
    memcpy(v->dims, dims, sizeof dims);
    if (nhwc) { /* images are CHW: transpose them to the HWC the model wants */
        Shape d = opt->data_shape;
        v->dims[1] = d.c, v->dims[2] = d.h, v->dims[3] = d.w;
        v->name = ""; /* the images as they come; the named value is the transpose */
        LayerAttrs a;
        layer_attrs_default(&a, OP_TRANSPOSE);
        list_set(&a.dims, v->dims, 4);
        list_set(&a.perm, (int[]){0, 2, 3, 1}, 4);
        int zero = 0, outer;
        Shape s;
        view_natural(dims, 4, &outer, &s);
        int l = plan_layer(im, OP_TRANSPOSE, &a, &zero, 1, outer, s);
        if (l < 0 || !(v = add_value(im, vi_name(data))))
            return l < 0 ? -1 : node_fail(im, "out of memory");
        v->layer = l;
        v->direct = 1;
        v->rank = 4;
        memcpy(v->dims, dims, sizeof dims);
    }
    return 0;
}

static void mark_live(Imp *im, int l)
{
    if (im->plan[l].live)
        return;
    im->plan[l].live = 1;
    for (int i = 0; i < im->plan[l].n_in; i++)
        mark_live(im, im->plan[l].in[i]);
}

/* Builds the Net from the live planned layers and fills their parameters. */
static Net *emit(Imp *im, int output, Shape net_in)
{
    mark_live(im, output);
    im->plan[0].live = 1;
    Net *net = net_create(net_in);
    if (!net) {
        node_fail(im, "out of memory");
        return NULL;
    }
    char why[NN_ERR_MAX];
    for (int i = 1; i < im->n_plan; i++) {
        Plan *p = &im->plan[i];
        if (!p->live)
            continue;
        const char *names[NN_MAX_INPUTS];
        for (int k = 0; k < p->n_in; k++)
            names[k] = im->plan[p->in[k]].name;
        if (net_add(net, p->name, p->type, &p->a, names, p->n_in, why, sizeof why))
            goto bad;
        if (i == output)
            break;
    }
    if (output == 0) {
        node_fail(im, "unsupported: the output is the input itself");
        goto fail;
    }
    if (net_finalize(net, why, sizeof why))
        goto bad;
    for (int i = 1; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        const Plan *p = NULL;
        for (int k = 1; k < im->n_plan && !p; k++)
            if (!strcmp(im->plan[k].name, l->name))
                p = &im->plan[k];
        if (l->outer != p->outer || l->out_shape.c != p->shape.c || l->out_shape.h != p->shape.h ||
            l->out_shape.w != p->shape.w) {
            snprintf(why, sizeof why, "internal: layer '%s' came out %d×%dx%dx%d, planned %d×%dx%dx%d", l->name,
                     l->outer, l->out_shape.c, l->out_shape.h, l->out_shape.w, p->outer, p->shape.c,
                     p->shape.h, p->shape.w);
            goto bad;
        }
        for (int k = 0; k < p->n_params; k++) {
            Param *q = layer_param(l, p->params[k].name);
            if (!q || q->size != p->params[k].count) {
                snprintf(why, sizeof why, "internal: layer '%s' parameter '%s' has %zu values, expected %zu",
                         l->name, p->params[k].name, q ? q->size : 0, p->params[k].count);
                goto bad;
            }
            memcpy(q->data, p->params[k].data, q->size * sizeof(float));
        }
    }
    return net;
bad:
    im->node = NULL;
    node_fail(im, "%s", why);
fail:
    net_free(net);
    return NULL;
}

/* Every op the front end lowers or folds; checked before anything else, so
 * an unknown op is the first thing a user hears about. */
static int op_known(const char *op)
{
    static const char *const known[] = {
        "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
        "Tanh", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
        "BatchNormalization", "LRN", "Concat", "Flatten", "Reshape", "Transpose", "Squeeze",
        "Unsqueeze", "Softmax", "Dropout", "Identity", "Constant", "Pad", "Cast", "Shape",
        /* constants only: */
        "Gather", "ConstantOfShape", "Neg", "Sqrt", "Reciprocal"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(known[i], op))
            return 1;
    return 0;
}

static int count_uses(Imp *im, const Onnx__GraphProto *g, const char *name)
{
    int uses = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            uses += !strcmp(g->node[i]->input[k], name);
    for (size_t i = 0; i < g->n_output; i++)
        uses += !strcmp(vi_name(g->output[i]), name);
    (void)im;
    return uses;
}

static int import_graph(Imp *im, const Onnx__ModelProto *mp, const OnnxOptions *opt, Model *m)
{
    const Onnx__GraphProto *g = mp->graph;
    if (!g)
        return node_fail(im, "no graph");
    long ir = mp->has_ir_version ? (long)mp->ir_version : 0;
    if (ir < 3 || ir > 8)
        return node_fail(im, "unsupported: IR version %ld (3 to 8)", ir);
    im->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx"))
            im->opset = (int)o->version;
    }
    /* Opsets below 7 are read too: the ops whose meaning changed before 7
     * (Reshape's shape attribute, BatchNormalization's spatial flag, Dropout's
     * is_test) are refused or handled where they are lowered. */
    if (im->opset < 1 || im->opset > 17)
        return node_fail(im, "unsupported: opset %d (7 to 17; older ones where the op is unchanged)", im->opset);
    if (g->n_output != 1)
        return node_fail(im, "unsupported: %zu graph outputs (one: the logits)", g->n_output);
    for (size_t i = 0; i < g->n_node; i++) {
        im->node = g->node[i];
        if (!g->node[i]->op_type || !op_known(g->node[i]->op_type))
            return node_fail(im, "unsupported: op %s", g->node[i]->op_type ? g->node[i]->op_type : "(none)");
    }
    im->node = NULL;
    char why[NN_ERR_MAX];
    for (size_t i = 0; i < g->n_initializer; i++) {
        Value *v = add_value(im, g->initializer[i]->name ? g->initializer[i]->name : "");
        if (!v)
            return node_fail(im, "out of memory");
        v->is_const = 1;
        if (onnx_tensor_from_proto(g->initializer[i], &v->c, why, sizeof why))
            return v->is_const = 0, node_fail(im, "initializer: %s", why);
    }
    for (int i = 0; opt && i < opt->n_bound; i++) {
        Value *v = add_value(im, opt->bound[i].name);
        if (!v || onnx_tensor_copy(&v->c, &opt->bound[i]))
            return node_fail(im, "out of memory");
        v->is_const = 1;
    }
    for (int i = 0; i < im->n_vals; i++) {
        Value *v = &im->vals[i];
        v->rank = v->c.rank;
        memcpy(v->dims, v->c.dims, sizeof v->dims);
    }
    Shape net_in;
    if (setup_input(im, g, opt, &net_in))
        return -1;
    for (int i = 0; i < im->n_vals; i++)
        im->vals[i].uses = *im->vals[i].name ? count_uses(im, g, im->vals[i].name) : 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        im->node = n;
        if (!n->op_type || !n->n_output)
            return node_fail(im, "a node without op type or outputs");
        if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
            return node_fail(im, "unsupported: domain '%s'", n->domain);
        Value *in[16] = {0};
        OnnxTensor *cin[16] = {0};
        if (n->n_input > 16)
            return node_fail(im, "unsupported: %zu inputs", n->n_input);
        int all_const = 1;
        for (size_t k = 0; k < n->n_input; k++) {
            if (!*n->input[k])
                continue; /* an omitted optional input */
            if (!(in[k] = find_value(im, n->input[k])))
                return node_fail(im, "input '%s' is not computed before this node", n->input[k]);
            cin[k] = &in[k]->c;
            all_const &= in[k]->is_const;
        }
        int n_in = (int)n->n_input, folded = 0;
        OnnxTensor out;
        memset(&out, 0, sizeof out);
        if (!strcmp(n->op_type, "Constant")) {
            if (constant_node(im, &out))
                return -1;
            folded = 1;
        } else if (!strcmp(n->op_type, "Shape") && in[0]) { /* data shapes are static */
            OnnxTensor shape_only = {.rank = in[0]->rank};
            memcpy(shape_only.dims, in[0]->dims, sizeof shape_only.dims);
            OnnxTensor *sin[1] = {&shape_only};
            if ((folded = onnx_fold(n, im->opset, sin, 1, &out, why, sizeof why)) < 0)
                return node_fail(im, "%s", why);
        } else if (all_const && n_in > 0) {
            if ((folded = onnx_fold(n, im->opset, cin, n_in, &out, why, sizeof why)) < 0)
                return node_fail(im, "%s", why);
        }
        if (folded) {
            if (n->n_output > 1 && *n->output[1]) {
                onnx_tensor_free(&out);
                return node_fail(im, "unsupported: a second output");
            }
            Value *v = add_value(im, n->output[0]);
            if (!v) {
                onnx_tensor_free(&out);
                return node_fail(im, "out of memory");
            }
            v->is_const = 1;
            v->c = out;
            v->rank = out.rank;
            memcpy(v->dims, out.dims, sizeof v->dims);
            v->uses = count_uses(im, g, v->name);
            continue;
        }
        int before = im->n_vals;
        if (lower_node(im, in, n_in))
            return -1;
        for (int k = before; k < im->n_vals; k++)
            if (*im->vals[k].name)
                im->vals[k].uses = count_uses(im, g, im->vals[k].name);
        if (n->n_output > 1 && *n->output[1])
            return node_fail(im, "unsupported: a second output");
    }
    im->node = NULL;
    Value *out = find_value(im, vi_name(g->output[0]));
    if (!out)
        return node_fail(im, "the graph output '%s' is never computed", vi_name(g->output[0]));
    size_t total = prod(out->dims, 0, out->rank);
    /* The output is one block per sample (logits); an output that is the
     * input itself gets a copy, since the input layer computes nothing. */
    int ol = !out->is_const && im->plan[out->layer].outer == 1 && out->layer != 0
                 ? out->layer : view_of(im, out, 1, (Shape){(int)total, 1, 1});
    if (ol == 0) {
        LayerAttrs a;
        layer_attrs_default(&a, OP_RESHAPE);
        Shape s = im->plan[0].shape;
        list_set(&a.view, (int[]){1, s.c, s.h, s.w}, 4);
        ol = plan_layer(im, OP_RESHAPE, &a, &ol, 1, 1, s);
    }
    if (ol < 0)
        return -1;
    Net *net = emit(im, ol, net_in);
    if (!net)
        return -1;
    m->net = net;
    m->classes = (int)total;
    return 0;
}

int onnx_import(const char *path, const OnnxOptions *opt, Model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->accuracy = -1;
    train_config_default(&m->train);
    path_stem(path, m->name, sizeof m->name);
    Onnx__ModelProto *mp = onnx_unpack_file(path, &onnx__model_proto__descriptor, err, errlen);
    if (!mp)
        return -1;
    Imp im = {.path = path, .err = err, .errlen = errlen};
    int rc = import_graph(&im, mp, opt, m);
    for (int i = 0; i < im.n_vals; i++)
        if (im.vals[i].is_const)
            onnx_tensor_free(&im.vals[i].c);
    for (int i = 0; i < im.n_plan; i++)
        for (int k = 0; k < im.plan[i].n_params; k++)
            free(im.plan[i].params[k].data);
    free(im.vals);
    free(im.plan);
    onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}
