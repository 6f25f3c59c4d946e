/* Eltwise: out = a op b (or b op a with `reverse`) for op add, sub, mul, div,
 * with numpy/ONNX broadcasting of b. Each sample's a is a row-major tensor of
 * `dims` (input 1); b has `bdims`, right-aligned against dims, every one equal
 * to its dim or 1 (none: a scalar). b is a second input (per sample) or, with
 * one input, a fixed parameter "b" (an imported initializer; not trained).
 * Division follows IEEE: x/0 is ±inf or NaN, as in ONNX.
 *
 * b's offsets come from a Walk over the output with stride 0 along broadcast
 * axes; its rows are contiguous in a and y, and step 0 or 1 in b. */
#include <stdio.h>

#include "ops.h"

#define PAR_MIN 32768

static int eltwise_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)in;
    const LayerAttrs *a = &l->a;
    char t1[96], t2[96];
    if (dims_check(&a->dims, "dims", 1, err, errlen) ||
        dims_check(&a->bdims, "bdims", 0, err, errlen))
        return -1;
    if (a->binop < BINOP_ADD || a->binop > BINOP_DIV)
        return errf(err, errlen, "unknown binop %d", a->binop);
    const int off = a->dims.n - a->bdims.n;
    for (int k = 0; k < a->bdims.n; k++) {
        int bd = a->bdims.v[k], d = off + k >= 0 ? a->dims.v[off + k] : 0;
        if (off < 0 || (bd != d && bd != 1))
            return errf(err, errlen,
                        "bdims %s do not broadcast to dims %s (right-aligned, each must equal "
                        "its dim or be 1)",
                        dims_text(a->bdims.v, a->bdims.n, t1, sizeof t1),
                        dims_text(a->dims.v, a->dims.n, t2, sizeof t2));
    }
    if (input_total_check(l, 0, a->dims.v, a->dims.n, err, errlen) ||
        (n_in == 2 && input_total_check(l, 1, a->bdims.v, a->bdims.n, err, errlen)))
        return -1;
    if (n_in == 1)
        layer_add_tensor_param(l, "b", 0, 0, a->bdims.v, a->bdims.n);
    layer_set_dims(l, a->dims.v, a->dims.n);
    return 0;
}

/* The walk over a tensor of dims giving b's offsets. */
static void bcast_walk(const LayerAttrs *a, Walk *w)
{
    const int r = a->dims.n, off = r - a->bdims.n;
    int bd[NN_MAX_RANK] = {0};
    size_t bst[NN_MAX_RANK];
    for (int k = 0; k < r; k++)
        bd[k] = k < off ? 1 : a->bdims.v[k - off];
    dims_strides(bd, r, bst);
    for (int k = 0; k < r; k++)
        bst[k] = bd[k] == 1 ? 0 : bst[k];
    walk_make(w, a->dims.v, bst, r);
}

/* Where sample s's b lives: input 2, or the parameter shared by all. */
static const float *b_of(Layer *l, Net *net, size_t s, size_t nb)
{
    if (l->n_inputs == 2)
        return layer_input(net, l, 1)->out + s * nb;
    return l->params[0].data;
}

/* y[j] = EXPR(x = a[j], z = b[j·bs]) over a row, with bs 0 or 1. */
#define ROW(EXPR)                                                                                  \
    do {                                                                                           \
        if (bs) {                                                                                  \
            _Pragma("omp simd")                                                                    \
            for (int j = 0; j < n; j++) {                                                          \
                const float x = a[j], z = b[j];                                                    \
                y[j] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            const float z = b[0];                                                                  \
            _Pragma("omp simd")                                                                    \
            for (int j = 0; j < n; j++) {                                                          \
                const float x = a[j];                                                              \
                y[j] = (EXPR);                                                                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void row_forward(int op, int rev, const float *restrict a, const float *restrict b,
                        size_t bs, float *restrict y, int n)
{
    switch (op) {
    case BINOP_ADD:
        ROW(x + z);
        break;
    case BINOP_SUB:
        if (rev)
            ROW(z - x);
        else
            ROW(x - z);
        break;
    case BINOP_MUL:
        ROW(x * z);
        break;
    default:
        if (rev)
            ROW(z / x);
        else
            ROW(x / z);
        break;
    }
}

/* da[j] += g·GA and db[j·bs] += g·GB (x = a[j], z = b[j·bs], g = dy[j]);
 * either may be NULL. A broadcast b (bs 0) sums its row in double. */
#define BROW(GA, GB)                                                                               \
    do {                                                                                           \
        double sb = 0;                                                                             \
        for (int j = 0; j < n; j++) {                                                              \
            const float x = a[j], z = b[j * bs], g = dy[j];                                        \
            (void)x, (void)z;                                                                      \
            if (da)                                                                                \
                da[j] += g * (GA);                                                                 \
            if (db && bs)                                                                          \
                db[j] += g * (GB);                                                                 \
            else if (db)                                                                           \
                sb += g * (GB);                                                                    \
        }                                                                                          \
        if (db && !bs)                                                                             \
            db[0] += (float)sb;                                                                    \
    } while (0)

static void row_backward(int op, int rev, const float *a, const float *b, size_t bs,
                         const float *dy, float *da, float *db, int n)
{
    switch (op) {
    case BINOP_ADD:
        BROW(1.0f, 1.0f);
        break;
    case BINOP_SUB:
        if (rev)
            BROW(-1.0f, 1.0f);
        else
            BROW(1.0f, -1.0f);
        break;
    case BINOP_MUL:
        BROW(z, x);
        break;
    default:
        if (rev) /* z / x */
            BROW(-z / (x * x), 1.0f / x);
        else /* x / z */
            BROW(1.0f / z, -x / (z * z));
        break;
    }
}

/* How a batch is walked: rows of a, each against a row of b (stride bs). */
typedef struct {
    Walk w;
    size_t samples, na, nb, rows, bs;
    int len;
} EltPlan;

static void elt_plan(const Layer *l, int batch, EltPlan *p)
{
    bcast_walk(&l->a, &p->w);
    p->samples = (size_t)batch / l->outer;
    p->na = layer_size(l);
    p->nb = dims_total(l->a.bdims.v, l->a.bdims.n);
    p->rows = walk_rows(&p->w);
    p->len = p->w.n[p->w.rank - 1];
    p->bs = p->w.st[p->w.rank - 1];
}

static void eltwise_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const LayerAttrs *at = &l->a;
    EltPlan p;
    elt_plan(l, batch, &p);
    const size_t samples = p.samples, na = p.na, nb = p.nb, rows = p.rows, bs = p.bs;
    const int len = p.len;
    const float *x = layer_input(net, l, 0)->out;
#pragma omp parallel for schedule(static) if (samples * na >= PAR_MIN)
    for (size_t i = 0; i < samples * rows; i++) {
        size_t s = i / rows, r = i % rows, o = s * na + r * (size_t)len;
        row_forward(at->binop, at->reverse, x + o, b_of(l, net, s, nb) + walk_offset(&p.w, r), bs,
                    l->out + o, len);
    }
}

static void eltwise_backward(Layer *l, Net *net, int batch)
{
    const LayerAttrs *at = &l->a;
    EltPlan p;
    elt_plan(l, batch, &p);
    const size_t samples = p.samples, na = p.na, nb = p.nb, rows = p.rows, bs = p.bs;
    const int len = p.len;
    Layer *src = layer_input(net, l, 0);
    float *dx = input_dout(net, src);
    float *dbv = l->n_inputs == 2 ? input_dout(net, layer_input(net, l, 1)) : NULL;
    if (!dx && !dbv)
        return;
    /* One sample per thread: rows of a sample may add into the same db. */
#pragma omp parallel for schedule(static) if (samples * na >= PAR_MIN)
    for (size_t s = 0; s < samples; s++)
        for (size_t r = 0; r < rows; r++) {
            size_t o = s * na + r * (size_t)len, bo = walk_offset(&p.w, r);
            row_backward(at->binop, at->reverse, src->out + o, b_of(l, net, s, nb) + bo, bs,
                         l->dout + o, dx ? dx + o : NULL, dbv ? dbv + s * nb + bo : NULL, len);
        }
}

const OpInfo op_eltwise_info = {OP_ELTWISE, "eltwise", 1, 2, "binop,reverse,dims,bdims",
                                eltwise_setup, NULL, eltwise_forward, eltwise_backward, NULL, 1, 0};
