/* Constant folding for the ONNX front end: ops whose inputs are all known at
 * import time are evaluated here (in double), so exporters' shape sub-graphs
 * (Shape → Gather → Unsqueeze → Concat → Reshape) and weight arithmetic
 * vanish before anything becomes a layer. Also the shape rules that folding
 * and import share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

static int norm_axis(long axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return -1;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

/* Axes from input 1 (opset 13+) or the "axes" attribute; count or -1. */
int onnx_node_axes(const Onnx__NodeProto *n, const OnnxTensor *axes_in, long *axes, int max)
{
    if (axes_in) {
        if ((int)axes_in->count > max)
            return -1;
        for (size_t i = 0; i < axes_in->count; i++)
            axes[i] = (long)axes_in->v[i];
        return (int)axes_in->count;
    }
    int k = onnx_attr_ints(n, "axes", axes, max);
    return k == -1 ? 0 : k;
}

int onnx_reshape_dims(int rank, const int *dims, const OnnxTensor *shape, int allowzero,
                      int *out_rank, int *out, char *err, size_t errlen)
{
    if (shape->rank != 1 || shape->count > NN_MAX_RANK)
        return errf(err, errlen, "the target shape must be a list of at most %d dims", NN_MAX_RANK);
    size_t total = 1, known = 1;
    for (int d = 0; d < rank; d++)
        total *= (size_t)dims[d];
    int infer = -1;
    for (size_t i = 0; i < shape->count; i++) {
        long v = (long)shape->v[i];
        if (v == 0 && !allowzero) {
            if ((int)i >= rank)
                return errf(err, errlen, "target dim %zu is 0 (copy) beyond the input's rank %d", i, rank);
            v = dims[i];
        }
        if (v == -1) {
            if (infer >= 0)
                return errf(err, errlen, "more than one -1 in the target shape");
            infer = (int)i;
            v = 1;
        } else if (v < 0 || v > (1L << 28)) {
            return errf(err, errlen, "bad target dim %ld", v);
        }
        out[i] = (int)v;
        known *= (size_t)v;
    }
    if (infer >= 0) {
        if (known == 0 || total % known)
            return errf(err, errlen, "cannot infer the -1 dim: %zu elements into blocks of %zu", total, known);
        out[infer] = (int)(total / known);
        known = total;
    }
    if (known != total)
        return errf(err, errlen, "reshape of %zu elements into %zu", total, known);
    *out_rank = (int)shape->count;
    return 0;
}

int onnx_flatten_dims(int rank, const int *dims, long axis, int *out_rank, int *out)
{
    int a;
    if (axis == rank)
        a = rank;
    else if (norm_axis(axis, rank, &a))
        return -1;
    out[0] = out[1] = 1;
    for (int d = 0; d < rank; d++)
        out[d < a ? 0 : 1] *= dims[d];
    *out_rank = 2;
    return 0;
}

int onnx_squeeze_dims(int rank, const int *dims, const long *axes, int n_axes, int *out_rank,
                      int *out, char *err, size_t errlen)
{
    int drop[NN_MAX_RANK] = {0};
    for (int i = 0; i < n_axes; i++) {
        int a;
        if (norm_axis(axes[i], rank, &a) || dims[a] != 1)
            return errf(err, errlen, "cannot squeeze axis %ld of a rank-%d tensor", axes[i], rank);
        drop[a] = 1;
    }
    int r = 0;
    for (int d = 0; d < rank; d++)
        if (n_axes ? !drop[d] : dims[d] != 1)
            out[r++] = dims[d];
    *out_rank = r;
    return 0;
}

int onnx_unsqueeze_dims(int rank, const int *dims, const long *axes, int n_axes, int *out_rank,
                        int *out, char *err, size_t errlen)
{
    int r = rank + n_axes, ins[NN_MAX_RANK] = {0};
    if (r > NN_MAX_RANK)
        return errf(err, errlen, "unsupported: rank %d (nnbench handles up to %d)", r, NN_MAX_RANK);
    for (int i = 0; i < n_axes; i++) {
        int a;
        if (norm_axis(axes[i], r, &a) || ins[a])
            return errf(err, errlen, "bad unsqueeze axis %ld for output rank %d", axes[i], r);
        ins[a] = 1;
    }
    for (int d = 0, k = 0; d < r; d++)
        out[d] = ins[d] ? 1 : dims[k++];
    *out_rank = r;
    return 0;
}

/* Row-major strides of dims, with 0 where a broadcast dim is 1 (aligned right to rank r). */
static void broadcast_strides(int rank, const int *dims, int r, const int *odims, size_t *st)
{
    size_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int k = i - (r - rank);
        int d = k >= 0 ? dims[k] : 1;
        st[i] = d == 1 && odims[i] != 1 ? 0 : s;
        s *= (size_t)d;
    }
}

static double binop(const char *op, double a, double b, int is_int)
{
    if (!strcmp(op, "Add")) return a + b;
    if (!strcmp(op, "Sub")) return a - b;
    if (!strcmp(op, "Mul")) return a * b;
    if (is_int)
        return b != 0 ? trunc(a / b) : 0;
    return a / b;
}

static int fold_binary(const char *op, const OnnxTensor *a, const OnnxTensor *b, OnnxTensor *o)
{
    int r, dims[NN_MAX_RANK];
    if (onnx_broadcast(a->rank, a->dims, b->rank, b->dims, &r, dims))
        return -1;
    int is_int = a->is_int && b->is_int;
    if (onnx_tensor_alloc(o, r, dims, is_int))
        return -1;
    size_t sa[NN_MAX_RANK], sb[NN_MAX_RANK];
    broadcast_strides(a->rank, a->dims, r, dims, sa);
    broadcast_strides(b->rank, b->dims, r, dims, sb);
    for (size_t i = 0; i < o->count; i++) {
        size_t rest = i, ia = 0, ib = 0;
        for (int d = r - 1; d >= 0; d--) {
            size_t x = rest % (size_t)dims[d];
            rest /= (size_t)dims[d];
            ia += x * sa[d];
            ib += x * sb[d];
        }
        double v = binop(op, a->v[ia], b->v[ib], is_int);
        o->v[i] = is_int ? v : (double)(float)v; /* float32 results, as a runtime would */
    }
    return 0;
}

/* out[i] = in[idx(i)] where out index i maps to input index through perm. */
static int fold_transpose(const OnnxTensor *in, const long *perm, OnnxTensor *o)
{
    int dims[NN_MAX_RANK];
    for (int d = 0; d < in->rank; d++)
        dims[d] = in->dims[perm[d]];
    if (onnx_tensor_alloc(o, in->rank, dims, in->is_int))
        return -1;
    size_t st[NN_MAX_RANK], s = 1;
    for (int d = in->rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= (size_t)in->dims[d];
    }
    for (size_t i = 0; i < o->count; i++) {
        size_t rest = i, src = 0;
        for (int d = in->rank - 1; d >= 0; d--) {
            src += rest % (size_t)dims[d] * st[perm[d]];
            rest /= (size_t)dims[d];
        }
        o->v[i] = in->v[src];
    }
    return 0;
}

static int same_data(OnnxTensor *o, const OnnxTensor *in, int rank, const int *dims)
{
    if (onnx_tensor_copy(o, in))
        return -1;
    o->rank = rank;
    memcpy(o->dims, dims, sizeof(int) * (size_t)rank);
    return 0;
}

#define FAIL(...) return errf(err, errlen, __VA_ARGS__)
#define NEED(k) if (n_in <= (k) || !in[k]) FAIL("input %d is required", (k))

int onnx_fold(const Onnx__NodeProto *n, int opset, OnnxTensor *const *in, int n_in, OnnxTensor *out,
              char *err, size_t errlen)
{
    const char *op = n->op_type;
    int rank, dims[NN_MAX_RANK];
    long axes[NN_MAX_RANK];
    (void)opset;
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        NEED(0);
        return onnx_tensor_copy(out, in[0]) ? -1 : 1;
    }
    if (!strcmp(op, "Cast")) {
        NEED(0);
        long to = onnx_attr_int(n, "to", 1);
        if (onnx_tensor_copy(out, in[0]))
            return -1;
        out->dtype = (int)to;
        out->is_int = to != 1 && to != 10 && to != 11 && to != 16;
        for (size_t i = 0; i < out->count; i++)
            out->v[i] = out->is_int ? trunc(out->v[i]) : (to == 11 ? out->v[i] : (double)(float)out->v[i]);
        return 1;
    }
    if (!strcmp(op, "Shape")) {
        NEED(0);
        int r = in[0]->rank, s, e;
        long start = onnx_attr_int(n, "start", 0), end = onnx_attr_int(n, "end", r);
        s = (int)(start < 0 ? start + r : start);
        e = (int)(end < 0 ? end + r : end);
        s = s < 0 ? 0 : s > r ? r : s;
        e = e < 0 ? 0 : e > r ? r : e;
        int len = e > s ? e - s : 0;
        if (onnx_tensor_alloc(out, 1, &len, 1))
            return -1;
        for (int i = 0; i < len; i++)
            out->v[i] = in[0]->dims[s + i];
        return 1;
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div")) {
        NEED(0);
        NEED(1);
        if (fold_binary(op, in[0], in[1], out))
            FAIL("operands of shapes that do not broadcast");
        return 1;
    }
    if (!strcmp(op, "Neg") || !strcmp(op, "Sqrt") || !strcmp(op, "Reciprocal")) {
        NEED(0);
        if (onnx_tensor_copy(out, in[0]))
            return -1;
        for (size_t i = 0; i < out->count; i++) {
            double v = out->v[i];
            v = op[0] == 'N' ? -v : op[0] == 'S' ? sqrt(v) : 1 / v;
            out->v[i] = out->is_int ? v : (double)(float)v;
        }
        return 1;
    }
    if (!strcmp(op, "Gather")) {
        NEED(0);
        NEED(1);
        const OnnxTensor *d = in[0], *ix = in[1];
        int axis;
        if (norm_axis(onnx_attr_int(n, "axis", 0), d->rank, &axis))
            FAIL("bad axis for a rank-%d tensor", d->rank);
        rank = d->rank - 1 + ix->rank;
        if (rank > NN_MAX_RANK)
            FAIL("unsupported: result rank %d", rank);
        int k = 0;
        for (int i = 0; i < axis; i++) dims[k++] = d->dims[i];
        for (int i = 0; i < ix->rank; i++) dims[k++] = ix->dims[i];
        for (int i = axis + 1; i < d->rank; i++) dims[k++] = d->dims[i];
        if (onnx_tensor_alloc(out, rank, dims, d->is_int))
            return -1;
        size_t inner = 1, outer = 1;
        for (int i = axis + 1; i < d->rank; i++) inner *= (size_t)d->dims[i];
        for (int i = 0; i < axis; i++) outer *= (size_t)d->dims[i];
        size_t o = 0;
        for (size_t a = 0; a < outer; a++)
            for (size_t j = 0; j < ix->count; j++) {
                long q = (long)ix->v[j];
                if (q < 0)
                    q += d->dims[axis];
                if (q < 0 || q >= d->dims[axis])
                    FAIL("index %ld out of range 0..%d", (long)ix->v[j], d->dims[axis] - 1);
                for (size_t i = 0; i < inner; i++)
                    out->v[o++] = d->v[(a * (size_t)d->dims[axis] + (size_t)q) * inner + i];
            }
        return 1;
    }
    if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) {
        NEED(0);
        int k = onnx_node_axes(n, n_in > 1 ? in[1] : NULL, axes, NN_MAX_RANK);
        if (k < 0)
            FAIL("too many axes");
        int rc = op[0] == 'U' ? onnx_unsqueeze_dims(in[0]->rank, in[0]->dims, axes, k, &rank, dims, err, errlen)
                              : onnx_squeeze_dims(in[0]->rank, in[0]->dims, axes, k, &rank, dims, err, errlen);
        if (rc)
            return -1;
        return same_data(out, in[0], rank, dims) ? -1 : 1;
    }
    if (!strcmp(op, "Reshape")) {
        NEED(0);
        NEED(1);
        if (onnx_reshape_dims(in[0]->rank, in[0]->dims, in[1], (int)onnx_attr_int(n, "allowzero", 0),
                              &rank, dims, err, errlen))
            return -1;
        return same_data(out, in[0], rank, dims) ? -1 : 1;
    }
    if (!strcmp(op, "Flatten")) {
        NEED(0);
        if (onnx_flatten_dims(in[0]->rank, in[0]->dims, onnx_attr_int(n, "axis", 1), &rank, dims))
            FAIL("bad axis");
        return same_data(out, in[0], rank, dims) ? -1 : 1;
    }
    if (!strcmp(op, "Concat")) {
        NEED(0);
        int axis, r = in[0]->rank;
        if (norm_axis(onnx_attr_int(n, "axis", 0), r, &axis))
            FAIL("bad axis for rank %d", r);
        memcpy(dims, in[0]->dims, sizeof dims);
        int is_int = 1;
        for (int i = 1; i < n_in; i++) {
            NEED(i);
            if (in[i]->rank != r)
                FAIL("inputs of different ranks");
            for (int d = 0; d < r; d++)
                if (d != axis && in[i]->dims[d] != dims[d])
                    FAIL("inputs differ in dim %d", d);
            dims[axis] += in[i]->dims[axis];
        }
        for (int i = 0; i < n_in; i++)
            is_int &= in[i]->is_int;
        if (onnx_tensor_alloc(out, r, dims, is_int))
            return -1;
        size_t outer = 1, o = 0;
        for (int d = 0; d < axis; d++)
            outer *= (size_t)dims[d];
        for (size_t a = 0; a < outer; a++)
            for (int i = 0; i < n_in; i++) {
                size_t block = in[i]->count / (outer ? outer : 1);
                memcpy(out->v + o, in[i]->v + a * block, block * sizeof(double));
                o += block;
            }
        return 1;
    }
    if (!strcmp(op, "Transpose")) {
        NEED(0);
        long perm[NN_MAX_RANK];
        int k = onnx_attr_ints(n, "perm", perm, NN_MAX_RANK);
        if (k < 0)
            for (k = 0; k < in[0]->rank; k++)
                perm[k] = in[0]->rank - 1 - k;
        int seen[NN_MAX_RANK] = {0};
        if (k != in[0]->rank)
            FAIL("perm has %d entries for a rank-%d tensor", k, in[0]->rank);
        for (int d = 0; d < k; d++) {
            if (perm[d] < 0 || perm[d] >= k || seen[perm[d]]++)
                FAIL("perm is not a permutation");
        }
        return fold_transpose(in[0], perm, out) ? -1 : 1;
    }
    if (!strcmp(op, "ConstantOfShape")) {
        NEED(0);
        if ((int)in[0]->count > NN_MAX_RANK)
            FAIL("unsupported: rank %zu", in[0]->count);
        for (size_t i = 0; i < in[0]->count; i++)
            dims[i] = (int)in[0]->v[i];
        const Onnx__AttributeProto *a = onnx_attr(n, "value");
        OnnxTensor val;
        int is_int = 0;
        double fill = 0;
        if (a && a->t) {
            if (onnx_tensor_from_proto(a->t, &val, err, errlen))
                return -1;
            fill = val.count ? val.v[0] : 0;
            is_int = val.is_int;
            onnx_tensor_free(&val);
        }
        if (onnx_tensor_alloc(out, (int)in[0]->count, dims, is_int))
            FAIL("bad shape");
        for (size_t i = 0; i < out->count; i++)
            out->v[i] = fill;
        return 1;
    }
    return 0;
}
