/* The ops of imported graphs (clip, softmax, eltwise, transpose, pad, reshape,
 * matmul, constant) and layers that run over several blocks per sample
 * (Layer.outer): hand-computed forward values, finite-difference gradient
 * checks, attribute text round trips and rejected attributes. */
#include <float.h>
#include <omp.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "model/model.h"
#include "tests/unit/gradcheck.h"

#include "tests/unit/net_build.h"

#define FROM(...) (const char *[]){__VA_ARGS__}

static const float *run(Net *net, const float *x, int batch, int train)
{
    assert_int_equal(net_reserve(net, batch, 1), 0);
    return net_forward(net, x, batch, train);
}

static void assert_floats(const float *got, const float *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want[i] && !(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("value %d: got %.7g, want %.7g", i, got[i], want[i]);
}

static Layer *layer(Net *net, const char *name)
{
    int i = net_find(net, name);
    assert_true(i >= 0);
    return &net->layers[i];
}

static IntList ilist(int n, const int *v)
{
    IntList l;
    memset(&l, 0, sizeof l);
    l.n = n;
    for (int i = 0; i < n; i++)
        l.v[i] = v[i];
    return l;
}
static int total(const IntList *d)
{
    int n = 1;
    for (int i = 0; i < d->n; i++)
        n *= d->v[i];
    return n;
}
#define LIST(...) ilist((int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

static LayerAttrs attrs(OpType t)
{
    LayerAttrs a;
    layer_attrs_default(&a, t);
    return a;
}

/* Fills a parameter with values in ±scale around `centre`. */
static void fill_param(Param *p, float centre, float scale, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < p->size; i++)
        p->data[i] = centre + scale * (2 * rng_uniform(&r) - 1);
}

/* A gradcheck seed whose inputs (drawn first by gradcheck) all lie ≥ gap
 * from every point in pts, so ±h never crosses a kink there. */
static unsigned away_seed(size_t nin, const float *pts, int npts, double gap)
{
    for (unsigned seed = 1;; seed++) {
        Rng r;
        rng_seed(&r, seed);
        size_t i = 0;
        for (; i < nin; i++) {
            float v = rng_normal(&r);
            int near = 0;
            for (int k = 0; k < npts; k++)
                near |= fabs(v - pts[k]) < gap;
            if (near)
                break;
        }
        if (i == nin)
            return seed;
    }
}

/* --------------------------------------------------------------- views */

static void test_view_natural(void **state)
{
    (void)state;
    const int d[6] = {2, 3, 4, 5, 6, 7};
    struct {
        int rank, outer;
        Shape s;
    } cases[] = {
        {0, 1, {1, 1, 1}},  {1, 1, {2, 1, 1}},  {2, 2, {3, 1, 1}},
        {3, 2, {3, 1, 4}},  {4, 2, {3, 4, 5}},  {5, 6, {4, 5, 6}}, {6, 24, {5, 6, 7}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int outer = -1;
        Shape s = {0, 0, 0};
        view_natural(d, cases[i].rank, &outer, &s);
        assert_int_equal(outer, cases[i].outer);
        assert_memory_equal(&s, &cases[i].s, sizeof s);
    }
}

/* ---------------------------------------------------------------- clip */

static void test_clip_forward_and_gradcheck(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CLIP);
    Net *net = net_create((Shape){5, 1, 1});
    add_layer(net, "c", OP_CLIP, &a, IN, 1);
    finish(net);
    /* Defaults leave every finite number alone. */
    const float big[5] = {-FLT_MAX, -1e30f, 0, 1e30f, FLT_MAX};
    assert_floats(run(net, big, 1, 0), big, 5, 0);
    net_free(net);

    a.lo = -0.5f, a.hi = 0.7f;
    net = net_create((Shape){3, 2, 2});
    add_layer(net, "c", OP_CLIP, &a, IN, 1);
    finish(net);
    const float x[12] = {-3, -0.5f, 0.1f, 0.7f, 2, 0.69f, 0, 0, 0, 0, 0, -0.6f};
    const float *y = run(net, x, 1, 0);
    assert_floats(y, (float[]){-0.5f, -0.5f, 0.1f, 0.7f, 0.7f, 0.69f, 0, 0, 0, 0, 0, -0.5f}, 12, 0);
    unsigned seed = away_seed(2 * 12, (float[]){-0.5f, 0.7f}, 2, 0.03);
    assert_int_equal(gradcheck(net, 2, 1, seed, 1e-3), 0);
    net_free(net);

    /* lo > hi gives hi everywhere (ONNX); a NaN stays NaN. */
    a.lo = 2, a.hi = 1;
    net = net_create((Shape){3, 1, 1});
    add_layer(net, "c", OP_CLIP, &a, IN, 1);
    finish(net);
    y = run(net, (float[]){0, 5, NAN}, 1, 0);
    assert_true(y[0] == 1 && y[1] == 1 && isnan(y[2]));
    net_free(net);
}

/* ------------------------------------------------------------- softmax */

static void test_softmax_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_SOFTMAX);
    Net *net = net_create((Shape){3, 1, 1});
    add_layer(net, "s", OP_SOFTMAX, &a, IN, 1);
    finish(net);
    const float *y = run(net, (float[]){1, 2, 3, 1000, 0, -1000}, 2, 0);
    assert_floats(y, (float[]){0.09003057f, 0.24472847f, 0.66524096f, 1, 0, 0}, 6, 1e-6);
    net_free(net);

    /* Over c at every (h, w): 4 channels of 2×3 pixels; each position sums to 1. */
    net = net_create((Shape){4, 2, 3});
    add_layer(net, "s", OP_SOFTMAX, &a, IN, 1);
    finish(net);
    float x[2 * 24];
    Rng r;
    rng_seed(&r, 4);
    for (int i = 0; i < 48; i++)
        x[i] = 3 * rng_normal(&r);
    y = run(net, x, 2, 0);
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 6; p++) {
            double s = 0, e[4], se = 0;
            for (int c = 0; c < 4; c++) {
                s += y[n * 24 + c * 6 + p];
                e[c] = exp(x[n * 24 + c * 6 + p]);
                se += e[c];
            }
            assert_float_equal(s, 1, 1e-6);
            for (int c = 0; c < 4; c++)
                assert_float_equal(y[n * 24 + c * 6 + p], e[c] / se, 1e-6);
        }
    net_free(net);
}

static void test_softmax_gradcheck(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_SOFTMAX);
    Net *net = net_create((Shape){4, 2, 3});
    add_layer(net, "s", OP_SOFTMAX, &a, IN, 1);
    finish(net);
    assert_int_equal(gradcheck(net, 2, 1, 41, 1e-3), 0);
    net_free(net);
    /* Rows of a [2, 5] tensor per sample: outer 2. */
    a = attrs(OP_RESHAPE);
    a.view = LIST(2, 5, 1, 1);
    net = net_create((Shape){10, 1, 1});
    add_layer(net, "rows", OP_RESHAPE, &a, IN, 1);
    a = attrs(OP_SOFTMAX);
    add_layer(net, "s", OP_SOFTMAX, &a, FROM("rows"), 1);
    finish(net);
    assert_int_equal(layer(net, "s")->outer, 2);
    const float *y = run(net, (float[]){0, 0, 0, 0, 0, 1, 2, 3, 4, 5}, 1, 0);
    assert_floats(y, (float[]){0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, 5, 1e-7);
    assert_float_equal(y[9], 0.63640865f, 1e-6);
    assert_int_equal(gradcheck(net, 3, 1, 42, 1e-3), 0);
    net_free(net);
}

/* ------------------------------------------------------------- eltwise */

static float binop_ref(int op, int rev, float x, float z)
{
    if (rev) {
        float t = x;
        x = z, z = t;
    }
    switch (op) {
    case BINOP_ADD:
        return x + z;
    case BINOP_SUB:
        return x - z;
    case BINOP_MUL:
        return x * z;
    default:
        return x / z;
    }
}

/* input [3,4,5] op a constant b of bdims; bidx maps an element to b's index. */
static void check_eltwise_const(IntList bdims, int (*bidx)(int), int op, int rev)
{
    LayerAttrs a = attrs(OP_ELTWISE);
    a.dims = LIST(3, 4, 5);
    a.bdims = bdims;
    a.binop = op, a.reverse = rev;
    Net *net = net_create((Shape){3, 4, 5});
    add_layer(net, "e", OP_ELTWISE, &a, IN, 1);
    finish(net);
    Layer *l = layer(net, "e");
    assert_int_equal(l->outer, 3);
    assert_int_equal(l->out_shape.c, 4);
    assert_int_equal(l->out_shape.w, 5);
    Param *b = layer_param(l, "b");
    assert_non_null(b);
    assert_int_equal(b->trainable, 0);
    for (size_t i = 0; i < b->size; i++)
        b->data[i] = 1.0f + (float)i;
    float x[60], want[60];
    for (int i = 0; i < 60; i++) {
        x[i] = 0.5f * (float)i - 7;
        want[i] = binop_ref(op, rev, x[i], b->data[bidx(i)]);
    }
    assert_floats(run(net, x, 1, 0), want, 60, 1e-6);
    net_free(net);
}

static int idx_last(int i) { return i % 5; }       /* b [5] */
static int idx_mid(int i) { return i / 5 % 4; }     /* b [4,1] */
static int idx_scalar(int i) { return (void)i, 0; } /* b [] */
static int idx_full(int i) { return i; }            /* b [3,4,5] */
static int idx_outer(int i) { return i / 20; }      /* b [3,1,1] */

static void test_eltwise_forward(void **state)
{
    (void)state;
    for (int op = BINOP_ADD; op <= BINOP_DIV; op++)
        for (int rev = 0; rev < 2; rev++) {
            check_eltwise_const(LIST(5), idx_last, op, rev);
            check_eltwise_const(LIST(4, 1), idx_mid, op, rev);
            check_eltwise_const(ilist(0, NULL), idx_scalar, op, rev);
            check_eltwise_const(LIST(3, 4, 5), idx_full, op, rev);
            check_eltwise_const(LIST(3, 1, 1), idx_outer, op, rev);
        }
    /* Hand-computed: [2,3] − [3] and [3] − [2,3] (reverse), and IEEE division by 0. */
    LayerAttrs a = attrs(OP_ELTWISE);
    a.dims = LIST(2, 3);
    a.bdims = LIST(3);
    a.binop = BINOP_SUB;
    Net *net = net_create((Shape){6, 1, 1});
    add_layer(net, "e", OP_ELTWISE, &a, IN, 1);
    a.reverse = 1;
    add_layer(net, "r", OP_ELTWISE, &a, IN, 1);
    a.binop = BINOP_DIV, a.reverse = 0;
    add_layer(net, "d", OP_ELTWISE, &a, IN, 1);
    finish(net);
    memcpy(layer_param(layer(net, "e"), "b")->data, (float[]){10, 20, 30}, 3 * sizeof(float));
    memcpy(layer_param(layer(net, "r"), "b")->data, (float[]){10, 20, 30}, 3 * sizeof(float));
    memcpy(layer_param(layer(net, "d"), "b")->data, (float[]){0, 2, -0.0f}, 3 * sizeof(float));
    const float x[6] = {1, 2, 3, 4, 5, -6};
    assert_int_equal(net_reserve(net, 1, 0), 0);
    net_forward(net, x, 1, 0);
    assert_floats(layer(net, "e")->out, (float[]){-9, -18, -27, -6, -15, -36}, 6, 0);
    assert_floats(layer(net, "r")->out, (float[]){9, 18, 27, 6, 15, 36}, 6, 0);
    const float *d = layer(net, "d")->out;
    assert_true(isinf(d[0]) && d[0] > 0 && d[1] == 1 && isinf(d[2]) && d[2] < 0);
    assert_true(isinf(d[3]) && d[4] == 2.5f && isinf(d[5]) && d[5] > 0);
    net_free(net);
}

/* sigmoid(input) [3,4,5] op a constant b: sigmoid keeps a away from 0 for
 * the reverse division, and b is kept in [0.5, 1.5]. */
static void test_eltwise_gradcheck_const(void **state)
{
    (void)state;
    IntList bd[4] = {LIST(5), LIST(4, 1), LIST(3, 1, 5), ilist(0, NULL)};
    for (int op = BINOP_ADD; op <= BINOP_DIV; op++)
        for (int rev = 0; rev < 2; rev++)
            for (int k = 0; k < 4; k++) {
                LayerAttrs a = attrs(OP_ELTWISE);
                a.dims = LIST(3, 4, 5);
                a.bdims = bd[k];
                a.binop = op, a.reverse = rev;
                Net *net = net_create((Shape){60, 1, 1});
                add_layer(net, "s", OP_SIGMOID, &a, IN, 1);
                add_layer(net, "e", OP_ELTWISE, &a, FROM("s"), 1);
                finish(net);
                fill_param(layer_param(layer(net, "e"), "b"), 1.0f, 0.5f, 7);
                int bad = gradcheck(net, 2, 1, 50 + k, 2e-3);
                if (bad)
                    fail_msg("binop %d reverse %d bdims #%d: %d mismatches", op, rev, k, bad);
                net_free(net);
            }
}

/* Two inputs: a = sigmoid(x) as [3,4,5]; b = sigmoid(global average of x's
 * 4 channels) as [4,1], so both operands carry gradient back to x. */
static void test_eltwise_gradcheck_two_inputs(void **state)
{
    (void)state;
    for (int op = BINOP_ADD; op <= BINOP_DIV; op++)
        for (int rev = 0; rev < 2; rev++) {
            LayerAttrs a = attrs(OP_ELTWISE);
            Net *net = net_create((Shape){4, 3, 5});
            add_layer(net, "s", OP_SIGMOID, &a, IN, 1);
            add_layer(net, "g", OP_GLOBAL_AVGPOOL, &a, IN, 1);
            add_layer(net, "gs", OP_SIGMOID, &a, FROM("g"), 1);
            a.dims = LIST(3, 4, 5);
            a.bdims = LIST(4, 1);
            a.binop = op, a.reverse = rev;
            add_layer(net, "e", OP_ELTWISE, &a, FROM("s", "gs"), 2);
            finish(net);
            assert_null(layer_param(layer(net, "e"), "b"));
            int bad = gradcheck(net, 2, 1, 60 + op, 2e-3);
            if (bad)
                fail_msg("binop %d reverse %d: %d mismatches", op, rev, bad);
            net_free(net);
        }
    /* x · x through both inputs: d/dx = 2x. */
    LayerAttrs a = attrs(OP_ELTWISE);
    a.dims = LIST(6);
    a.bdims = LIST(6);
    a.binop = BINOP_MUL;
    Net *net = net_create((Shape){6, 1, 1});
    add_layer(net, "sq", OP_ELTWISE, &a, FROM("input", "input"), 2);
    finish(net);
    assert_int_equal(gradcheck(net, 2, 1, 70, 1e-3), 0);
    net_free(net);
}

/* ----------------------------------------------------------- transpose */

static void test_transpose_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_TRANSPOSE);
    a.dims = LIST(1, 2, 2, 3);
    a.perm = LIST(0, 3, 1, 2); /* NCHW → NWCH */
    Net *net = net_create((Shape){2, 2, 3});
    add_layer(net, "t", OP_TRANSPOSE, &a, IN, 1);
    finish(net);
    Layer *l = layer(net, "t");
    assert_int_equal(l->outer, 1);
    assert_memory_equal(&l->out_shape, (&(Shape){3, 2, 2}), sizeof(Shape));
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    /* out[w][c][h] = x[c][h][w] = 6c + 3h + w; the second sample adds 12. */
    const float want[24] = {0,  3,  6,  9,  1,  4,  7,  10, 2,  5,  8,  11,
                            12, 15, 18, 21, 13, 16, 19, 22, 14, 17, 20, 23};
    assert_floats(run(net, x, 2, 0), want, 24, 0);
    net_free(net);

    /* A rank-2 transpose of rows: [2,3] → [3,2], outer 3. */
    a.dims = LIST(2, 3);
    a.perm = LIST(1, 0);
    net = net_create((Shape){6, 1, 1});
    add_layer(net, "t", OP_TRANSPOSE, &a, IN, 1);
    finish(net);
    assert_int_equal(layer(net, "t")->outer, 3);
    assert_floats(run(net, (float[]){1, 2, 3, 4, 5, 6}, 1, 0), (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
    net_free(net);
}

static void test_transpose_gradcheck(void **state)
{
    (void)state;
    struct {
        IntList dims, perm;
    } cases[] = {
        {LIST(2, 3, 4), LIST(2, 0, 1)},
        {LIST(2, 3, 4), LIST(0, 2, 1)},
        {LIST(2, 3, 2, 2), LIST(0, 3, 1, 2)},
        {LIST(2, 3, 2, 2), LIST(3, 1, 0, 2)},
        {LIST(2, 1, 3, 1, 2, 2), LIST(5, 4, 3, 2, 1, 0)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        LayerAttrs a = attrs(OP_TRANSPOSE);
        a.dims = cases[i].dims;
        a.perm = cases[i].perm;
        Net *net = net_create((Shape){total(&a.dims), 1, 1});
        add_layer(net, "t", OP_TRANSPOSE, &a, IN, 1);
        add_layer(net, "act", OP_TANH, &a, FROM("t"), 1);
        finish(net);
        assert_int_equal(gradcheck(net, 2, 1, 80 + (unsigned)i, 1e-3), 0);
        net_free(net);
    }
}

/* ------------------------------------------------------------------ pad */

static void test_pad_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_PAD);
    a.dims = LIST(2, 3);
    a.pads = LIST(1, 0, 0, 2); /* one row before, two columns after */
    a.value = -1;
    Net *net = net_create((Shape){6, 1, 1});
    add_layer(net, "p", OP_PAD, &a, IN, 1);
    finish(net);
    Layer *l = layer(net, "p");
    assert_int_equal(l->outer, 3);
    assert_int_equal(l->out_shape.c, 5);
    const float want[15] = {-1, -1, -1, -1, -1, 1, 2, 3, -1, -1, 4, 5, 6, -1, -1};
    assert_floats(run(net, (float[]){1, 2, 3, 4, 5, 6}, 1, 0), want, 15, 0);
    net_free(net);

    /* NCHW spatial padding [0,0,1,2, 0,0,0,1] of a 1×1×2×2 image. */
    a.dims = LIST(1, 1, 2, 2);
    a.pads = LIST(0, 0, 1, 2, 0, 0, 0, 1);
    a.value = 0;
    net = net_create((Shape){1, 2, 2});
    add_layer(net, "p", OP_PAD, &a, IN, 1);
    finish(net);
    assert_memory_equal(&layer(net, "p")->out_shape, (&(Shape){1, 3, 5}), sizeof(Shape));
    const float want2[15] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 4, 0};
    assert_floats(run(net, (float[]){1, 2, 3, 4}, 1, 0), want2, 15, 0);
    net_free(net);
}

static void test_pad_gradcheck(void **state)
{
    (void)state;
    struct {
        IntList dims, pads;
    } cases[] = {
        {LIST(2, 3), LIST(1, 0, 0, 2)},
        {LIST(2, 3, 2), LIST(0, 1, 1, 1, 0, 2)},
        {LIST(1, 2, 2, 3), LIST(0, 0, 1, 1, 0, 0, 2, 1)},
        {LIST(4), LIST(0, 0)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        LayerAttrs a = attrs(OP_PAD);
        a.dims = cases[i].dims;
        a.pads = cases[i].pads;
        a.value = 0.25f;
        Net *net = net_create((Shape){total(&a.dims), 1, 1});
        add_layer(net, "p", OP_PAD, &a, IN, 1);
        add_layer(net, "act", OP_TANH, &a, FROM("p"), 1);
        finish(net);
        assert_int_equal(gradcheck(net, 2, 1, 90 + (unsigned)i, 1e-3), 0);
        net_free(net);
    }
}

/* -------------------------------------------------------------- reshape */

static void test_reshape(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_RESHAPE);
    a.view = LIST(2, 3, 2, 2);
    Net *net = net_create((Shape){2, 3, 4});
    add_layer(net, "r", OP_RESHAPE, &a, IN, 1);
    add_layer(net, "t", OP_TANH, &a, FROM("r"), 1);
    finish(net);
    Layer *l = layer(net, "t");
    assert_int_equal(l->outer, 2);
    assert_int_equal(layer_size(l), 24);
    assert_int_equal(net_output_size(net), 24);
    float x[48];
    for (int i = 0; i < 48; i++)
        x[i] = 0.1f * (float)i;
    const float *y = run(net, x, 2, 0);
    for (int i = 0; i < 48; i++)
        assert_float_equal(y[i], tanhf(x[i]), 1e-6);
    assert_int_equal(gradcheck(net, 2, 1, 100, 1e-3), 0);
    net_free(net);
}

/* --------------------------------------------------------------- matmul */

static void test_matmul_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_MATMUL);
    a.dims = LIST(2, 2, 3); /* G = 2 blocks of 2×3 */
    a.units = 2;
    Net *net = net_create((Shape){12, 1, 1});
    add_layer(net, "m", OP_MATMUL, &a, IN, 1);
    finish(net);
    Layer *l = layer(net, "m");
    Param *w = layer_param(l, "weight");
    assert_int_equal(w->ndim, 3);
    assert_int_equal(w->dims[0], 2);
    assert_int_equal(w->dims[1], 3);
    assert_int_equal(w->dims[2], 2);
    assert_true(w->trainable && w->decay);
    assert_int_equal(l->outer, 2); /* [2,2,2]: (2; 2,1,2) */
    assert_memory_equal(&l->out_shape, (&(Shape){2, 1, 2}), sizeof(Shape));
    /* weight[0] = [[1,0],[0,1],[1,1]], weight[1] = [[2,0],[0,0],[0,-1]] */
    memcpy(w->data, (float[]){1, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0, -1}, 12 * sizeof(float));
    const float x[12] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6};
    /* g0: [1,2,3]→[4,5], [4,5,6]→[10,11]; g1: [1,2,3]→[2,-3], [4,5,6]→[8,-6] */
    assert_floats(run(net, x, 1, 0), (float[]){4, 5, 10, 11, 2, -3, 8, -6}, 8, 1e-6);
    net_free(net);
}

static void test_matmul_gradcheck(void **state)
{
    (void)state;
    IntList dims[3] = {LIST(2, 3, 4), LIST(3, 4), LIST(2, 1, 2, 3)};
    for (int i = 0; i < 3; i++) {
        LayerAttrs a = attrs(OP_MATMUL);
        a.dims = dims[i];
        a.units = 5;
        Net *net = net_create((Shape){total(&a.dims), 1, 1});
        add_layer(net, "m", OP_MATMUL, &a, IN, 1);
        finish(net);
        assert_int_equal(gradcheck(net, 3, 1, 110 + (unsigned)i, 2e-3), 0);
        net_free(net);
    }
}

/* ------------------------------------------------------------- constant */

static void test_constant(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONSTANT);
    a.dims = LIST(2, 3);
    Net *net = net_create((Shape){6, 1, 1});
    add_layer(net, "k", OP_CONSTANT, &a, NULL, 0);
    a = attrs(OP_ELTWISE);
    a.dims = LIST(2, 3);
    a.bdims = LIST(2, 3);
    a.binop = BINOP_MUL;
    add_layer(net, "e", OP_ELTWISE, &a, FROM("input", "k"), 2);
    finish(net);
    Layer *k = layer(net, "k");
    assert_int_equal(k->outer, 2);
    Param *v = layer_param(k, "value");
    assert_non_null(v);
    assert_int_equal(v->trainable, 0);
    assert_int_equal(net_param_count(net), 0);
    memcpy(v->data, (float[]){1, 2, 3, 4, 5, 6}, 6 * sizeof(float));
    const float x[12] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};
    assert_floats(run(net, x, 2, 0), (float[]){1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12}, 12, 0);
    assert_floats(k->out, (float[]){1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, 12, 0);
    assert_int_equal(gradcheck(net, 2, 1, 120, 1e-3), 0);
    /* Inputs are not allowed. */
    a = attrs(OP_CONSTANT);
    a.dims = LIST(1);
    assert_int_equal(net_add(net, "k2", OP_CONSTANT, &a, IN, 1, err, sizeof err), -1);
    net_free(net);
    /* Rank 5: the parameter is flat, the output keeps the natural view. */
    a.dims = LIST(2, 1, 3, 1, 2);
    net = net_create((Shape){1, 1, 1});
    add_layer(net, "k", OP_CONSTANT, &a, NULL, 0);
    finish(net);
    v = layer_param(layer(net, "k"), "value");
    assert_int_equal(v->ndim, 1);
    assert_int_equal(v->size, 12);
    assert_int_equal(layer(net, "k")->outer, 2);
    assert_memory_equal(&layer(net, "k")->out_shape, (&(Shape){3, 1, 2}), sizeof(Shape));
    net_free(net);
}

/* ------------------------------------------------------- outer blocks */

/* A conv and a batch norm after a reshape to 2 blocks per sample compute what
 * they compute on the blocks as separate samples: forward and backward. */
static void test_outer_blocks_match_samples(void **state)
{
    (void)state;
    enum { B = 3, C = 2, H = 3, W = 3 };
    LayerAttrs conv = attrs(OP_CONV);
    conv.filters = 3;
    conv.kernel_h = conv.kernel_w = 3;
    conv.pad_t = conv.pad_l = conv.pad_b = conv.pad_r = 1;
    LayerAttrs bn = attrs(OP_BATCHNORM);
    LayerAttrs r = attrs(OP_RESHAPE);
    r.view = LIST(2, C, H, W);

    Net *blocks = net_create((Shape){2 * C, H, W});
    add_layer(blocks, "r", OP_RESHAPE, &r, IN, 1);
    add_layer(blocks, "conv", OP_CONV, &conv, FROM("r"), 1);
    add_layer(blocks, "bn", OP_BATCHNORM, &bn, FROM("conv"), 1);
    finish(blocks);
    Net *plain = net_create((Shape){C, H, W});
    add_layer(plain, "conv", OP_CONV, &conv, IN, 1);
    add_layer(plain, "bn", OP_BATCHNORM, &bn, FROM("conv"), 1);
    finish(plain);
    assert_int_equal(layer(blocks, "bn")->outer, 2);
    for (int i = 1; i < 3; i++) {
        Layer *lb = &blocks->layers[i + 1], *lp = &plain->layers[i];
        for (int p = 0; p < lb->n_params; p++) {
            fill_param(&lb->params[p], p == 3 ? 1.0f : 0.0f, 0.5f, 130 + (uint64_t)p);
            memcpy(lp->params[p].data, lb->params[p].data, lb->params[p].size * sizeof(float));
        }
    }
    const size_t n = (size_t)B * 2 * C * H * W, nout = (size_t)B * 2 * 3 * H * W;
    float x[B * 2 * C * H * W], g[B * 2 * 3 * H * W];
    Rng rng;
    rng_seed(&rng, 131);
    for (size_t i = 0; i < n; i++)
        x[i] = rng_normal(&rng);
    for (size_t i = 0; i < nout; i++)
        g[i] = rng_normal(&rng);
    blocks->input_grad = plain->input_grad = 1;
    for (int train = 0; train < 2; train++) {
        float yb[B * 2 * 3 * H * W];
        memcpy(yb, run(blocks, x, B, train), sizeof yb);
        assert_floats(run(plain, x, 2 * B, train), yb, (int)nout, 1e-5);
        net_backward(blocks, g, B);
        net_backward(plain, g, 2 * B);
        assert_floats(plain->layers[0].dout, blocks->layers[0].dout, (int)n, 1e-5);
        for (int i = 1; i < 3; i++)
            for (int p = 0; p < 2; p++) {
                Param *pb = &blocks->layers[i + 1].params[p], *pp = &plain->layers[i].params[p];
                assert_floats(pp->grad, pb->grad, (int)pb->size, 1e-4);
            }
    }
    assert_int_equal(gradcheck(blocks, 2, 1, 132, 2e-3), 0);
    net_free(blocks);
    net_free(plain);
}

static void test_outer_mismatch_rejected(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_RESHAPE), f = attrs(OP_ADD);
    a.view = LIST(2, 1, 1, 1);
    Net *net = net_create((Shape){2, 1, 1});
    add_layer(net, "r", OP_RESHAPE, &a, IN, 1);
    add_layer(net, "f", OP_FLATTEN, &f, FROM("r"), 1);
    add_layer(net, "sum", OP_ADD, &f, FROM("input", "f"), 2);
    assert_int_equal(net_finalize(net, err, sizeof err), -1);
    assert_string_equal(err, "layer 'sum' (add): input 'f' comes in 2 blocks of 1x1x1 per sample "
                             "but input 'input' in 1");
    net_free(net);
}

/* Big enough for every parallel loop: one thread and two give the same bits. */
static void test_parallel_same_as_serial(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_TRANSPOSE);
    a.dims = LIST(4, 16, 8, 8);
    a.perm = LIST(0, 2, 3, 1);
    Net *net = net_create((Shape){64, 8, 8});
    add_layer(net, "t", OP_TRANSPOSE, &a, IN, 1);
    a = attrs(OP_PAD);
    a.dims = LIST(4, 8, 8, 16);
    a.pads = LIST(0, 1, 0, 2, 0, 1, 3, 0);
    a.value = 0.5f;
    add_layer(net, "p", OP_PAD, &a, FROM("t"), 1); /* [4,10,11,18] */
    a = attrs(OP_ELTWISE);
    a.dims = LIST(4, 10, 11, 18);
    a.bdims = LIST(10, 1, 18);
    a.binop = BINOP_MUL;
    add_layer(net, "e", OP_ELTWISE, &a, FROM("p"), 1);
    a = attrs(OP_SOFTMAX);
    add_layer(net, "s", OP_SOFTMAX, &a, FROM("e"), 1);
    a = attrs(OP_MATMUL);
    a.dims = LIST(40, 11, 18);
    a.units = 16;
    add_layer(net, "m", OP_MATMUL, &a, FROM("s"), 1);
    a = attrs(OP_CLIP);
    a.lo = -0.1f, a.hi = 0.1f;
    add_layer(net, "c", OP_CLIP, &a, FROM("m"), 1);
    finish(net);
    fill_param(layer_param(layer(net, "e"), "b"), 0, 2, 140);
    enum { B = 8 }; /* every op above its parallel threshold */
    const size_t nin = (size_t)B * 4096, nout = (size_t)B * net_output_size(net);
    float *x = malloc(nin * sizeof *x), *g = malloc(nout * sizeof *g);
    float *y1 = malloc(nout * sizeof *y1), *dx1 = malloc(nin * sizeof *dx1);
    Param *w = layer_param(layer(net, "m"), "weight");
    float *dw1 = malloc(w->size * sizeof *dw1);
    Rng r;
    rng_seed(&r, 141);
    for (size_t i = 0; i < nin; i++)
        x[i] = rng_normal(&r);
    for (size_t i = 0; i < nout; i++)
        g[i] = rng_normal(&r);
    net->input_grad = 1;
    int threads = omp_get_max_threads();
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        const float *y = run(net, x, B, 1);
        net_backward(net, g, B);
        if (t == 1) {
            memcpy(y1, y, nout * sizeof *y);
            memcpy(dx1, net->layers[0].dout, nin * sizeof *dx1);
            memcpy(dw1, w->grad, w->size * sizeof *dw1);
        } else {
            assert_memory_equal(y, y1, nout * sizeof *y);
            assert_memory_equal(net->layers[0].dout, dx1, nin * sizeof *dx1);
            assert_memory_equal(w->grad, dw1, w->size * sizeof *dw1);
        }
    }
    omp_set_num_threads(threads);
    free(x), free(g), free(y1), free(dx1), free(dw1);
    net_free(net);
}

/* ----------------------------------------------------------- attributes */

/* Formats a's attributes for op, parses them into defaults and compares. */
static void round_trip(const LayerAttrs *a, const OpInfo *op)
{
    char buf[2048];
    int need = layer_attrs_format(a, op, buf, sizeof buf);
    assert_true(need >= 0 && (size_t)need < sizeof buf); /* softmax has none */
    LayerAttrs b;
    layer_attrs_default(&b, op->type);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strstr(line, " = ");
        assert_non_null(eq);
        *eq = '\0';
        if (layer_attr_set(&b, op, line, eq + 3, err, sizeof err) != 0)
            fail_msg("%s: %s", op->name, err);
    }
    assert_memory_equal(a, &b, sizeof b);
}

static void test_attrs_round_trip(void **state)
{
    (void)state;
    /* Defaults, including empty lists and ±FLT_MAX bounds (units has no
     * valid default, as for dense: 0 is refused). */
    for (OpType t = OP_CLIP; t <= OP_CONSTANT; t++) {
        LayerAttrs a = attrs(t);
        a.units = t == OP_MATMUL;
        round_trip(&a, op_table[t]);
    }
    LayerAttrs a = attrs(OP_CLIP);
    a.lo = -0.1f, a.hi = 6.0f;
    round_trip(&a, op_table[OP_CLIP]);
    const float hard[] = {0.1f, -0.0f, 1e-40f, 3.3333333f, FLT_MIN, -FLT_MAX, 16777217.0f};
    for (size_t i = 0; i < sizeof hard / sizeof *hard; i++) {
        a.lo = hard[i];
        a.hi = -hard[i];
        round_trip(&a, op_table[OP_CLIP]);
    }
    a = attrs(OP_ELTWISE);
    a.dims = LIST(16777216, 1, 2, 3, 4, 5);
    a.bdims = LIST(1, 1);
    for (a.binop = BINOP_ADD; a.binop <= BINOP_DIV; a.binop++)
        for (a.reverse = 0; a.reverse < 2; a.reverse++)
            round_trip(&a, op_table[OP_ELTWISE]);
    a = attrs(OP_TRANSPOSE);
    a.dims = LIST(2, 3, 4, 5, 6, 7);
    a.perm = LIST(5, 4, 3, 2, 1, 0);
    round_trip(&a, op_table[OP_TRANSPOSE]);
    a = attrs(OP_PAD);
    a.dims = LIST(1, 2, 3, 4, 5, 6);
    a.pads = LIST(0, 1, 2, 3, 4, 5, 1048576, 7, 8, 9, 10, 11);
    a.value = -1.5e-7f;
    round_trip(&a, op_table[OP_PAD]);
    a = attrs(OP_RESHAPE);
    a.view = LIST(3, 1, 1, 7);
    round_trip(&a, op_table[OP_RESHAPE]);
    a = attrs(OP_MATMUL);
    a.dims = LIST(5, 7);
    a.units = 3;
    round_trip(&a, op_table[OP_MATMUL]);

    /* The text forms themselves. */
    char buf[512];
    a = attrs(OP_ELTWISE);
    a.binop = BINOP_DIV;
    a.dims = LIST(2, 3);
    layer_attrs_format(&a, op_table[OP_ELTWISE], buf, sizeof buf);
    assert_string_equal(buf, "binop = div\nreverse = no\ndims = 2,3\nbdims = none\n");
    const OpInfo *elt = op_by_name("eltwise");
    assert_int_equal(layer_attr_set(&a, elt, "bdims", "4, 1", err, sizeof err), 0);
    assert_int_equal(a.bdims.n, 2);
    assert_int_equal(a.bdims.v[1], 1);
    assert_int_equal(layer_attr_set(&a, elt, "bdims", "", err, sizeof err), 0);
    assert_int_equal(a.bdims.n, 0);
    assert_int_equal(a.bdims.v[0], 0); /* cleared, so equal lists compare equal */
    assert_int_equal(layer_attr_set(&a, elt, "binop", "mul", err, sizeof err), 0);
    assert_int_equal(a.binop, BINOP_MUL);
    a = attrs(OP_CLIP);
    assert_float_equal(a.lo, -FLT_MAX, 0);
    layer_attrs_format(&a, op_table[OP_CLIP], buf, sizeof buf);
    assert_string_equal(buf, "lo = -3.40282347e+38\nhi = 3.40282347e+38\n");
}

/* Every new op saved to an HDF5 model file and loaded back: the same
 * attributes, views and parameters, and the same outputs. */
static void test_h5_round_trip(void **state)
{
    (void)state;
    Net *net = net_create((Shape){2, 3, 4});
    LayerAttrs a = attrs(OP_CONSTANT);
    a.dims = LIST(5, 6);
    add_layer(net, "k", OP_CONSTANT, &a, NULL, 0);
    a = attrs(OP_TRANSPOSE);
    a.dims = LIST(2, 3, 4);
    a.perm = LIST(0, 2, 1);
    add_layer(net, "t", OP_TRANSPOSE, &a, IN, 1); /* [2,4,3] */
    a = attrs(OP_PAD);
    a.dims = LIST(2, 4, 3);
    a.pads = LIST(0, 1, 0, 0, 0, 2);
    a.value = 0.1f;
    add_layer(net, "p", OP_PAD, &a, FROM("t"), 1); /* [2,5,5] */
    a = attrs(OP_ELTWISE);
    a.dims = LIST(2, 5, 5);
    a.bdims = LIST(5, 1);
    a.binop = BINOP_DIV, a.reverse = 1;
    add_layer(net, "e", OP_ELTWISE, &a, FROM("p"), 1);
    a = attrs(OP_CLIP);
    a.lo = -3.3f, a.hi = 2.7182817f;
    add_layer(net, "c", OP_CLIP, &a, FROM("e"), 1);
    a = attrs(OP_MATMUL);
    a.dims = LIST(2, 5, 5);
    a.units = 3;
    add_layer(net, "m", OP_MATMUL, &a, FROM("c"), 1); /* [2,5,3]: (2; 5,1,3) */
    a = attrs(OP_SOFTMAX);
    add_layer(net, "sm", OP_SOFTMAX, &a, FROM("m"), 1);
    a = attrs(OP_RESHAPE);
    a.view = LIST(1, 30, 1, 1);
    add_layer(net, "r", OP_RESHAPE, &a, FROM("sm"), 1);
    a = attrs(OP_ELTWISE);
    a.dims = LIST(5, 6);
    a.bdims = LIST(5, 6);
    add_layer(net, "out", OP_ELTWISE, &a, FROM("r", "k"), 2);
    finish(net);
    fill_param(layer_param(layer(net, "k"), "value"), 0, 1, 150);
    fill_param(layer_param(layer(net, "e"), "b"), 1, 0.5f, 151);

    Model m, back;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "layout");
    m.classes = (int)net_output_size(net);
    m.net = net;
    m.accuracy = -1;
    train_config_default(&m.train);
    char path[] = "/tmp/test_layers_layout.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (model_save(&m, path, err, sizeof err) != 0 || model_load(path, &back, err, sizeof err) != 0)
        fail_msg("%s", err);
    unlink(path);
    assert_int_equal(back.net->n_layers, net->n_layers);
    for (int i = 0; i < net->n_layers; i++) {
        Layer *l = &net->layers[i], *k = &back.net->layers[i];
        assert_int_equal(l->type, k->type);
        assert_memory_equal(&l->a, &k->a, sizeof l->a);
        assert_int_equal(l->outer, k->outer);
        assert_memory_equal(&l->out_shape, &k->out_shape, sizeof(Shape));
        for (int p = 0; p < l->n_params; p++)
            assert_memory_equal(l->params[p].data, k->params[p].data,
                                l->params[p].size * sizeof(float));
    }
    float x[48], y[60];
    for (int i = 0; i < 48; i++)
        x[i] = 0.3f * (float)(i % 11) - 1;
    memcpy(y, run(net, x, 2, 0), sizeof y);
    assert_memory_equal(run(back.net, x, 2, 0), y, sizeof y);
    model_free(&m);
    model_free(&back);
}

static void expect_attr_error(OpType t, const char *key, const char *value, const char *want)
{
    LayerAttrs a = attrs(t);
    assert_int_equal(layer_attr_set(&a, op_table[t], key, value, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("%s = %s: '%s' lacks '%s'", key, value, err, want);
}

static void test_attrs_bad_text(void **state)
{
    (void)state;
    expect_attr_error(OP_ELTWISE, "binop", "pow", "add, sub, mul or div");
    expect_attr_error(OP_ELTWISE, "dims", "2,0", "key 'dims'");
    expect_attr_error(OP_ELTWISE, "dims", "1,2,3,4,5,6,7", "1 to 6 dims");
    expect_attr_error(OP_ELTWISE, "bdims", "2.5", "key 'bdims'");
    expect_attr_error(OP_TRANSPOSE, "perm", "0,6", "axes 0..5");
    expect_attr_error(OP_PAD, "pads", "-1,0", "key 'pads'");
    expect_attr_error(OP_RESHAPE, "view", "1,2,3", "OUTER,C,H,W");
    expect_attr_error(OP_CLIP, "lo", "1e39", "a finite number");
    expect_attr_error(OP_CLIP, "hi", "nan", "a finite number");
    expect_attr_error(OP_CLIP, "value", "1", "unknown key 'value'");
    expect_attr_error(OP_SOFTMAX, "dims", "1", "unknown key 'dims'");
}

/* The net refuses bad attributes at finalize with the layer named. */
static void expect_setup_error(OpType t, const LayerAttrs *a, Shape in, const char *want)
{
    Net *net = net_create(in);
    add_layer(net, "bad", t, a, IN, 1);
    assert_int_equal(net_finalize(net, err, sizeof err), -1);
    if (!strstr(err, "layer 'bad'") || !strstr(err, want))
        fail_msg("'%s' lacks '%s'", err, want);
    net_free(net);
}

static void test_setup_errors(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_TRANSPOSE);
    a.dims = LIST(2, 3, 4);
    a.perm = LIST(0, 1, 1);
    expect_setup_error(OP_TRANSPOSE, &a, (Shape){24, 1, 1}, "perm [0,1,1] is not a permutation");
    a.perm = LIST(1, 0);
    expect_setup_error(OP_TRANSPOSE, &a, (Shape){24, 1, 1}, "not a permutation");
    a.perm = LIST(2, 0, 1);
    expect_setup_error(OP_TRANSPOSE, &a, (Shape){25, 1, 1}, "has 25 values per sample");
    a.dims = ilist(0, NULL);
    expect_setup_error(OP_TRANSPOSE, &a, (Shape){1, 1, 1}, "'dims' must list 1 to 6 dims");

    a = attrs(OP_ELTWISE);
    a.dims = LIST(3, 4, 5);
    a.bdims = LIST(4, 5, 1);
    expect_setup_error(OP_ELTWISE, &a, (Shape){60, 1, 1},
                       "bdims [4,5,1] do not broadcast to dims [3,4,5]");
    a.bdims = LIST(2, 3, 4, 5);
    expect_setup_error(OP_ELTWISE, &a, (Shape){60, 1, 1}, "do not broadcast");
    a.bdims = LIST(5);
    expect_setup_error(OP_ELTWISE, &a, (Shape){59, 1, 1}, "input 1 has 59 values");

    a = attrs(OP_RESHAPE);
    a.view = LIST(2, 3, 1, 1);
    expect_setup_error(OP_RESHAPE, &a, (Shape){7, 1, 1},
                       "view 2 x 3x1x1 does not hold the input's 7 values");
    a = attrs(OP_RESHAPE);
    expect_setup_error(OP_RESHAPE, &a, (Shape){7, 1, 1}, "needs 'view'");

    a = attrs(OP_PAD);
    a.dims = LIST(2, 3);
    a.pads = LIST(1, 1);
    expect_setup_error(OP_PAD, &a, (Shape){6, 1, 1}, "pads must list 4 numbers");

    a = attrs(OP_MATMUL);
    a.dims = LIST(6);
    a.units = 2;
    expect_setup_error(OP_MATMUL, &a, (Shape){6, 1, 1}, "'dims' must list 2 to 6 dims");
    a.dims = LIST(2, 3);
    a.units = 0;
    expect_setup_error(OP_MATMUL, &a, (Shape){6, 1, 1}, "needs 'units'");

    /* An eltwise whose second input has the wrong size. */
    a = attrs(OP_ELTWISE);
    a.dims = LIST(2, 3);
    a.bdims = LIST(3);
    Net *net = net_create((Shape){6, 1, 1});
    add_layer(net, "bad", OP_ELTWISE, &a, FROM("input", "input"), 2);
    assert_int_equal(net_finalize(net, err, sizeof err), -1);
    assert_non_null(strstr(err, "input 2 has 6 values per sample"));
    net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_natural),
        cmocka_unit_test(test_clip_forward_and_gradcheck),
        cmocka_unit_test(test_softmax_forward),
        cmocka_unit_test(test_softmax_gradcheck),
        cmocka_unit_test(test_eltwise_forward),
        cmocka_unit_test(test_eltwise_gradcheck_const),
        cmocka_unit_test(test_eltwise_gradcheck_two_inputs),
        cmocka_unit_test(test_transpose_forward),
        cmocka_unit_test(test_transpose_gradcheck),
        cmocka_unit_test(test_pad_forward),
        cmocka_unit_test(test_pad_gradcheck),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_matmul_forward),
        cmocka_unit_test(test_matmul_gradcheck),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_outer_blocks_match_samples),
        cmocka_unit_test(test_outer_mismatch_rejected),
        cmocka_unit_test(test_parallel_same_as_serial),
        cmocka_unit_test(test_attrs_round_trip),
        cmocka_unit_test(test_h5_round_trip),
        cmocka_unit_test(test_attrs_bad_text),
        cmocka_unit_test(test_setup_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
