/* Dense, conv, pooling and flatten layers: forward on hand-computed cases,
 * setup errors, and finite-difference checks of backward. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/gradcheck.h"

#define TOL 1e-2

/* -------------------------------------------------------------- helpers */

/* Adds layer `name` of type t reading `in`; fails the test on error. */
static void add(Net *net, const char *name, OpType t, const LayerAttrs *a, const char *in)
{
    char err[NN_ERR_MAX];
    int rc = net_add(net, name, t, a, (const char *[]){in}, 1, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
}

static void finalize(Net *net, uint64_t seed)
{
    char err[NN_ERR_MAX];
    if (net_finalize(net, err, sizeof err) != 0)
        fail_msg("%s", err);
    net_init_params(net, seed);
}

static LayerAttrs attrs(OpType t)
{
    LayerAttrs a;
    layer_attrs_default(&a, t);
    return a;
}

static void set_pads(LayerAttrs *a, int t, int l, int b, int r)
{
    a->pad_t = t, a->pad_l = l, a->pad_b = b, a->pad_r = r;
}

/* A net of one layer over `in`; returns it finalized. */
static Net *one_layer(Shape in, OpType t, const LayerAttrs *a)
{
    Net *net = net_create(in);
    add(net, "l", t, a, "input");
    finalize(net, 1);
    return net;
}

static void set_param(Net *net, const char *layer, const char *param, const float *v)
{
    Param *p = layer_param(&net->layers[net_find(net, layer)], param);
    assert_non_null(p);
    memcpy(p->data, v, p->size * sizeof *v);
}

/* Runs one inference pass and compares with `want` (batch × outputs). */
static void expect_forward(Net *net, const float *x, int batch, const float *want)
{
    assert_int_equal(net_reserve(net, batch, 0), 0);
    const float *y = net_forward(net, x, batch, 0);
    size_t n = (size_t)batch * shape_size(net_output_shape(net));
    for (size_t i = 0; i < n; i++)
        if (fabsf(y[i] - want[i]) > 1e-5f * (1 + fabsf(want[i])))
            fail_msg("output[%zu] = %g, want %g", i, y[i], want[i]);
}

static void expect_shape(Net *net, int c, int h, int w)
{
    Shape s = net_output_shape(net);
    assert_int_equal(s.c, c);
    assert_int_equal(s.h, h);
    assert_int_equal(s.w, w);
}

/* Finalizing must fail with `msg` inside the error. */
static void expect_setup_error(Shape in, OpType t, const LayerAttrs *a, const char *msg)
{
    char err[NN_ERR_MAX] = "";
    Net *net = net_create(in);
    add(net, "l", t, a, "input");
    assert_int_not_equal(net_finalize(net, err, sizeof err), 0);
    if (!strstr(err, msg))
        fail_msg("error '%s' lacks '%s'", err, msg);
    net_free(net);
}

static const float ramp9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* a 3×3 image */

/* ------------------------------------------------------------ forward */

static void test_dense_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_DENSE);
    a.units = 2;
    Net *net = one_layer((Shape){3, 1, 1}, OP_DENSE, &a);
    expect_shape(net, 2, 1, 1);
    set_param(net, "l", "weight", (float[]){1, 0, -1, 2, 1, 0});
    set_param(net, "l", "bias", (float[]){0.5f, -1});
    expect_forward(net, (float[]){1, 2, 3, -1, 0, 1}, 2, (float[]){-1.5f, 3, -1.5f, -3});
    net_free(net);
}

static void test_dense_any_shape_input(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_DENSE);
    a.units = 1;
    a.bias = 0;
    Net *net = one_layer((Shape){1, 2, 2}, OP_DENSE, &a);
    assert_null(layer_param(&net->layers[1], "bias"));
    assert_int_equal(layer_param(&net->layers[1], "weight")->dims[1], 4);
    set_param(net, "l", "weight", (float[]){1, 2, 3, 4});
    expect_forward(net, (float[]){1, 1, 1, 1}, 1, (float[]){10});
    net_free(net);
}

/* 3×3 ramp, 2×2 kernel [1 2; 3 4], bias 0.5: both the one-image sgemm and
 * the chunked-and-scattered path (batch 3: x, 2x, −x). */
static void test_conv_forward_2x2(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 1;
    a.kernel_h = a.kernel_w = 2;
    Net *net = one_layer((Shape){1, 3, 3}, OP_CONV, &a);
    expect_shape(net, 1, 2, 2);
    set_param(net, "l", "weight", (float[]){1, 2, 3, 4});
    set_param(net, "l", "bias", (float[]){0.5f});
    expect_forward(net, ramp9, 1, (float[]){37.5f, 47.5f, 67.5f, 77.5f});
    float x[27];
    for (int i = 0; i < 9; i++)
        x[i] = ramp9[i], x[9 + i] = 2 * ramp9[i], x[18 + i] = -ramp9[i];
    expect_forward(net, x, 3,
                   (float[]){37.5f, 47.5f, 67.5f, 77.5f, 74.5f, 94.5f, 134.5f, 154.5f, -36.5f,
                             -46.5f, -66.5f, -76.5f});
    net_free(net);
}

/* Stride 2 with padding top 1, right 1: the padded image is
 * [0 0 0 0; 1 2 3 0; 4 5 6 0; 7 8 9 0]. */
static void test_conv_forward_stride_asym_pad(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 1;
    a.kernel_h = a.kernel_w = 2;
    a.stride_h = a.stride_w = 2;
    a.bias = 0;
    set_pads(&a, 1, 0, 0, 1);
    Net *net = one_layer((Shape){1, 3, 3}, OP_CONV, &a);
    expect_shape(net, 1, 2, 2);
    set_param(net, "l", "weight", (float[]){1, 2, 3, 4});
    expect_forward(net, ramp9, 1, (float[]){11, 9, 67, 33});
    net_free(net);
}

/* 1×1 conv mixes channels per pixel: y0 = x0 + 2·x1, y1 = 3·x0 − x1 + 1. */
static void test_conv_forward_pointwise(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 2;
    Net *net = one_layer((Shape){2, 1, 2}, OP_CONV, &a);
    set_param(net, "l", "weight", (float[]){1, 2, 3, -1});
    set_param(net, "l", "bias", (float[]){0, 1});
    const float x[8] = {1, 2, 3, 4, -1, 0, 1, 1};
    const float want[8] = {7, 10, 1, 3, 1, 2, -3, 0};
    expect_forward(net, x, 1, want);
    expect_forward(net, x, 2, want);
    net_free(net);
}

/* 4×4 ramp 1..16 with padding top 1, left 1, kernel 2, stride 2, ceil mode:
 * 3×3 windows over rows {0}, {1,2}, {3} (the last one runs past the padded
 * edge and is clipped) and the same columns. */
static const float ramp16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void test_maxpool_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_MAXPOOL);
    Net *net = one_layer((Shape){1, 3, 3}, OP_MAXPOOL, &a); /* floor: one window */
    expect_shape(net, 1, 1, 1);
    expect_forward(net, ramp9, 1, (float[]){5});
    net_free(net);

    a.ceil_mode = 1;
    net = one_layer((Shape){1, 3, 3}, OP_MAXPOOL, &a);
    expect_forward(net, ramp9, 1, (float[]){5, 6, 8, 9});
    net_free(net);

    /* -inf padding never wins, even over negative inputs. */
    a.ceil_mode = 0;
    set_pads(&a, 1, 1, 1, 1);
    net = one_layer((Shape){1, 3, 3}, OP_MAXPOOL, &a);
    float neg[9];
    for (int i = 0; i < 9; i++)
        neg[i] = -ramp9[i];
    expect_forward(net, neg, 1, (float[]){-1, -2, -4, -5});
    net_free(net);

    a.ceil_mode = 1;
    set_pads(&a, 1, 1, 0, 0);
    net = one_layer((Shape){1, 4, 4}, OP_MAXPOOL, &a);
    expect_shape(net, 1, 3, 3);
    expect_forward(net, ramp16, 1, (float[]){1, 3, 4, 9, 11, 12, 13, 15, 16});
    net_free(net);
}

/* Ties go to the first value in scan order and a NaN wins (the last NaN
 * stays), in the output and in where backward sends the gradient. */
static void test_maxpool_ties_and_nan(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_MAXPOOL); /* 2×2, stride 2 */
    Net *net = one_layer((Shape){1, 2, 4}, OP_MAXPOOL, &a);
    net->input_grad = 1;
    assert_int_equal(net_reserve(net, 1, 1), 0);
    const float x[8] = {1, 3, NAN, 5, 3, 2, 7, NAN};
    const float *y = net_forward(net, x, 1, 1);
    assert_float_equal(y[0], 3, 0);
    assert_true(isnan(y[1]));
    net_backward(net, (float[]){10, 20}, 1);
    const float want[8] = {0, 10, 0, 0, 0, 0, 0, 20};
    for (int i = 0; i < 8; i++)
        assert_float_equal(net->layers[0].dout[i], want[i], 0);
    net_free(net);
}

static void test_avgpool_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_AVGPOOL);
    set_pads(&a, 1, 1, 1, 1);
    a.count_include_pad = 1;
    Net *net = one_layer((Shape){1, 3, 3}, OP_AVGPOOL, &a);
    expect_forward(net, ramp9, 1, (float[]){0.25f, 1.25f, 2.75f, 7});
    net_free(net);
    a.count_include_pad = 0;
    net = one_layer((Shape){1, 3, 3}, OP_AVGPOOL, &a);
    expect_forward(net, ramp9, 1, (float[]){1, 2.5f, 5.5f, 7});
    net_free(net);

    /* Ceil mode without padding: partial windows divide by their real size
     * in both count modes (as PyTorch does). */
    set_pads(&a, 0, 0, 0, 0);
    a.ceil_mode = 1;
    for (int inc = 0; inc < 2; inc++) {
        a.count_include_pad = inc;
        net = one_layer((Shape){1, 3, 3}, OP_AVGPOOL, &a);
        expect_forward(net, ramp9, 1, (float[]){3, 4.5f, 7.5f, 9});
        net_free(net);
    }

    /* Padding and ceil mode: count_include_pad counts the padding but not the
     * part of the last window that runs past the padded edge. */
    set_pads(&a, 1, 1, 0, 0);
    a.count_include_pad = 1;
    net = one_layer((Shape){1, 4, 4}, OP_AVGPOOL, &a);
    expect_forward(net, ramp16, 1,
                   (float[]){0.25f, 1.25f, 2, 3.5f, 8.5f, 10, 6.5f, 14.5f, 16});
    net_free(net);
    a.count_include_pad = 0;
    net = one_layer((Shape){1, 4, 4}, OP_AVGPOOL, &a);
    expect_forward(net, ramp16, 1, (float[]){1, 2.5f, 4, 7, 8.5f, 10, 13, 14.5f, 16});
    net_free(net);
}

/* Pooling by the definition, one output at a time: the reference for the
 * layer's split into vectorised interior and clipped border. */
static float pool_reference(const LayerAttrs *a, int max, Shape in, const float *x, int oh, int ow)
{
    int hs = oh * a->stride_h - a->pad_t, ws = ow * a->stride_w - a->pad_l;
    float m = -INFINITY, s = 0;
    int real = 0, padded = 0;
    for (int h = hs; h < hs + a->kernel_h; h++)
        for (int w = ws; w < ws + a->kernel_w; w++) {
            if (h < in.h + a->pad_b && w < in.w + a->pad_r)
                padded++;
            if (h < 0 || w < 0 || h >= in.h || w >= in.w)
                continue;
            real++;
            s += x[h * in.w + w];
            m = x[h * in.w + w] > m ? x[h * in.w + w] : m;
        }
    return max ? m : s / (float)(a->count_include_pad ? padded : real);
}

static void test_pool_matches_reference(void **state)
{
    (void)state;
    static const int cfg[][8] = {/* kh, kw, sh, sw, pad t,l,b,r */
                                 {3, 3, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 0, 0, 0, 0},
                                 {3, 2, 2, 3, 1, 0, 1, 1}, {2, 3, 1, 2, 0, 2, 1, 0}};
    Shape in = {2, 9, 11};
    float x[2 * 9 * 11];
    Rng rng;
    rng_seed(&rng, 8);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = rng_normal(&rng);
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++)
        for (int mode = 0; mode < 6; mode++) { /* max, avg, avg incl. pad; × ceil */
            OpType t = mode % 3 ? OP_AVGPOOL : OP_MAXPOOL;
            LayerAttrs a = attrs(t);
            a.kernel_h = cfg[c][0], a.kernel_w = cfg[c][1];
            a.stride_h = cfg[c][2], a.stride_w = cfg[c][3];
            set_pads(&a, cfg[c][4], cfg[c][5], cfg[c][6], cfg[c][7]);
            a.count_include_pad = mode % 3 == 2;
            a.ceil_mode = mode / 3;
            Net *net = one_layer(in, t, &a);
            Shape o = net_output_shape(net);
            float want[2 * 9 * 11];
            for (int ch = 0; ch < in.c; ch++)
                for (int oh = 0; oh < o.h; oh++)
                    for (int ow = 0; ow < o.w; ow++)
                        want[(ch * o.h + oh) * o.w + ow] = pool_reference(
                            &a, t == OP_MAXPOOL, in, x + ch * in.h * in.w, oh, ow);
            expect_forward(net, x, 1, want);
            net_free(net);
        }
}

static void test_global_avgpool_flatten_forward(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_GLOBAL_AVGPOOL);
    Net *net = one_layer((Shape){2, 2, 2}, OP_GLOBAL_AVGPOOL, &a);
    expect_shape(net, 2, 1, 1);
    expect_forward(net, (float[]){1, 2, 3, 4, -1, 0, 0, 5}, 1, (float[]){2.5f, 1});
    net_free(net);

    a = attrs(OP_FLATTEN);
    net = one_layer((Shape){2, 1, 3}, OP_FLATTEN, &a);
    expect_shape(net, 6, 1, 1);
    const float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    expect_forward(net, x, 2, x);
    net_free(net);
}

static void test_setup_errors(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    expect_setup_error((Shape){1, 3, 3}, OP_CONV, &a, "needs 'filters'");
    a.filters = 2;
    a.kernel_h = a.kernel_w = 5;
    expect_setup_error((Shape){1, 3, 3}, OP_CONV, &a,
                       "kernel 5x5 does not fit input 3x3 with padding 0,0,0,0");
    a = attrs(OP_DENSE);
    expect_setup_error((Shape){4, 1, 1}, OP_DENSE, &a, "needs 'units'");
    a = attrs(OP_MAXPOOL);
    a.kernel_h = 4;
    expect_setup_error((Shape){1, 3, 3}, OP_MAXPOOL, &a,
                       "kernel 4x2 does not fit input 3x3 with padding 0,0,0,0");
    a = attrs(OP_AVGPOOL);
    set_pads(&a, 0, 2, 0, 0);
    expect_setup_error((Shape){1, 3, 3}, OP_AVGPOOL, &a, "smaller than the kernel");
}

/* --------------------------------------------------------- gradients */

static void test_dense_grad(void **state)
{
    (void)state;
    for (int bias = 0; bias < 2; bias++) {
        LayerAttrs a = attrs(OP_DENSE);
        a.units = 4;
        a.bias = bias;
        Net *net = net_create((Shape){2, 3, 3});
        add(net, "d", OP_DENSE, &a, "input");
        finalize(net, 3);
        assert_int_equal(gradcheck(net, 3, 1, 11, TOL), 0);
        net_free(net);
    }
}

/* Large enough for the products to be split across threads: compare with
 * the definition (sums in double). */
static void test_dense_large_matches_reference(void **state)
{
    (void)state;
    enum { B = 30, F = 300, U = 40 };
    LayerAttrs a = attrs(OP_DENSE);
    a.units = U;
    Net *net = net_create((Shape){3, 10, 10});
    add(net, "d", OP_DENSE, &a, "input");
    finalize(net, 2);
    Param *w = layer_param(&net->layers[1], "weight"), *b = layer_param(&net->layers[1], "bias");
    static float x[B * F], r[B * U];
    Rng rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < B * F; i++)
        x[i] = rng_normal(&rng);
    for (int i = 0; i < B * U; i++)
        r[i] = rng_normal(&rng);
    for (int u = 0; u < U; u++)
        b->data[u] = rng_normal(&rng);
    net->input_grad = 1;
    assert_int_equal(net_reserve(net, B, 1), 0);
    const float *y = net_forward(net, x, B, 1);
    for (int n = 0; n < B; n++)
        for (int u = 0; u < U; u++) {
            double s = b->data[u];
            for (int f = 0; f < F; f++)
                s += (double)x[n * F + f] * w->data[u * F + f];
            assert_float_equal(y[n * U + u], s, 1e-4 * (1 + fabs(s)));
        }
    net_backward(net, r, B);
    for (int u = 0; u < U; u++)
        for (int f = 0; f < F; f++) {
            double s = 0;
            for (int n = 0; n < B; n++)
                s += (double)r[n * U + u] * x[n * F + f];
            assert_float_equal(w->grad[u * F + f], s, 1e-4 * (1 + fabs(s)));
        }
    for (int n = 0; n < B; n++)
        for (int f = 0; f < F; f++) {
            double s = 0;
            for (int u = 0; u < U; u++)
                s += (double)r[n * U + u] * w->data[u * F + f];
            assert_float_equal(net->layers[0].dout[n * F + f], s, 1e-4 * (1 + fabs(s)));
        }
    net_free(net);
}

/* Stride 2, kernel 3×2, asymmetric padding; batch 3 runs as one chunk,
 * batch 1 through the one-image path. */
static void test_conv_grad_stride_pad(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 3;
    a.kernel_h = 3, a.kernel_w = 2;
    a.stride_h = a.stride_w = 2;
    set_pads(&a, 1, 0, 2, 1);
    for (int batch = 1; batch <= 3; batch += 2) {
        Net *net = net_create((Shape){2, 6, 5});
        add(net, "c", OP_CONV, &a, "input");
        finalize(net, 5);
        expect_shape(net, 3, 4, 3);
        assert_int_equal(gradcheck(net, batch, 1, 12, TOL), 0);
        net_free(net);
    }
}

static void test_conv_grad_pointwise(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 3;
    for (int batch = 1; batch <= 3; batch += 2) {
        Net *net = net_create((Shape){4, 3, 3});
        add(net, "c", OP_CONV, &a, "input");
        finalize(net, 6);
        assert_int_equal(gradcheck(net, batch, 1, 13, TOL), 0);
        net_free(net);
    }
}

/* Conv → flatten → dense: flatten's backward and a conv below a dense layer. */
static void test_flatten_grad(void **state)
{
    (void)state;
    Net *net = net_create((Shape){1, 4, 4});
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 2;
    a.kernel_h = a.kernel_w = 3;
    add(net, "c", OP_CONV, &a, "input");
    a = attrs(OP_FLATTEN);
    add(net, "f", OP_FLATTEN, &a, "c");
    a = attrs(OP_DENSE);
    a.units = 3;
    add(net, "d", OP_DENSE, &a, "f");
    finalize(net, 7);
    assert_int_equal(gradcheck(net, 2, 1, 14, TOL), 0);
    net_free(net);
}

/* Finite differences across a max are wrong when two window values lie
 * within the step h of each other (the argmax flips). gradcheck draws its
 * input from its seed, so pick the first seed whose input has a margin of
 * 4h between the top two of every window. */
static unsigned tie_free_seed(const Net *net, int batch)
{
    const Layer *l = &net->layers[1];
    Shape in = l->in_shape[0], out = l->out_shape;
    size_t n = (size_t)batch * shape_size(in);
    float *x = malloc(n * sizeof *x);
    for (unsigned seed = 1; seed < 1000; seed++) {
        Rng rng;
        rng_seed(&rng, seed);
        for (size_t i = 0; i < n; i++)
            x[i] = rng_normal(&rng);
        int ok = 1;
        for (int p = 0; ok && p < batch * in.c; p++)
            for (int oh = 0; ok && oh < out.h; oh++)
                for (int ow = 0; ok && ow < out.w; ow++) {
                    float top = -INFINITY, second = -INFINITY;
                    for (int kh = 0; kh < l->a.kernel_h; kh++)
                        for (int kw = 0; kw < l->a.kernel_w; kw++) {
                            int h = oh * l->a.stride_h - l->a.pad_t + kh;
                            int w = ow * l->a.stride_w - l->a.pad_l + kw;
                            if (h < 0 || h >= in.h || w < 0 || w >= in.w)
                                continue;
                            float v = x[(size_t)p * in.h * in.w + (size_t)h * in.w + w];
                            if (v > top)
                                second = top, top = v;
                            else if (v > second)
                                second = v;
                        }
                    ok = top - second > 0.04f;
                }
        if (ok) {
            free(x);
            return seed;
        }
    }
    free(x);
    fail_msg("no tie-free seed");
    return 0;
}

/* Overlapping 3×3 windows, stride 2, padding and ceil mode: a pixel can be
 * the max of several windows and must collect all their gradients. */
static void test_maxpool_grad(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_MAXPOOL);
    a.kernel_h = a.kernel_w = 3;
    set_pads(&a, 1, 1, 0, 1);
    a.ceil_mode = 1;
    Net *net = net_create((Shape){2, 6, 5});
    add(net, "p", OP_MAXPOOL, &a, "input");
    finalize(net, 1);
    assert_int_equal(gradcheck(net, 2, 1, tie_free_seed(net, 2), TOL), 0);
    net_free(net);
}

static void test_avgpool_grad(void **state)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        LayerAttrs a = attrs(OP_AVGPOOL);
        a.kernel_h = 3, a.kernel_w = 2;
        set_pads(&a, 1, 1, 2, 0);
        a.count_include_pad = mode & 1;
        a.ceil_mode = mode >> 1;
        Net *net = net_create((Shape){2, 6, 5});
        add(net, "p", OP_AVGPOOL, &a, "input");
        finalize(net, 1);
        assert_int_equal(gradcheck(net, 2, 1, 20 + (unsigned)mode, TOL), 0);
        net_free(net);
    }
}

static void test_global_avgpool_grad(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_GLOBAL_AVGPOOL);
    Net *net = net_create((Shape){3, 3, 2});
    add(net, "g", OP_GLOBAL_AVGPOOL, &a, "input");
    finalize(net, 1);
    assert_int_equal(gradcheck(net, 2, 1, 30, TOL), 0);
    net_free(net);
}

/* c feeds three consumers (a conv, an avgpool and the add itself): its dout
 * is the sum of all three contributions, so every backward must add. */
static void test_conv_two_consumers_grad(void **state)
{
    (void)state;
    char err[NN_ERR_MAX];
    Net *net = net_create((Shape){2, 5, 5});
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 3;
    a.kernel_h = a.kernel_w = 3;
    set_pads(&a, 1, 1, 1, 1);
    add(net, "c", OP_CONV, &a, "input");
    add(net, "c2", OP_CONV, &a, "c");
    LayerAttrs p = attrs(OP_AVGPOOL);
    p.kernel_h = p.kernel_w = 3;
    p.stride_h = p.stride_w = 1;
    set_pads(&p, 1, 1, 1, 1);
    add(net, "p", OP_AVGPOOL, &p, "c");
    LayerAttrs s = attrs(OP_ADD);
    if (net_add(net, "sum", OP_ADD, &s, (const char *[]){"c2", "p", "c"}, 3, err, sizeof err))
        fail_msg("%s", err);
    finalize(net, 9);
    assert_int_equal(gradcheck(net, 2, 1, 31, TOL), 0);
    net_free(net);
}

/* Adds a layer reading several inputs; fails the test on error. */
static void add_n(Net *net, const char *name, OpType t, const char *const *in, int n)
{
    char err[NN_ERR_MAX];
    LayerAttrs a = attrs(t);
    if (net_add(net, name, t, &a, in, n, err, sizeof err))
        fail_msg("%s", err);
}

/* Backward writes an input's dout instead of adding into it only when the
 * layer is that input's one reader (dout_set). This net mixes both: the input
 * feeds a conv and a maxpool, c feeds relu and batchnorm, r is listed twice
 * in one add and m twice in one concat, while bn, s, avg, cat and f have one
 * reader each. gradcheck poisons every dout with NaN first, so a value that
 * is missed, or added where it should be written, shows. (The maxpool reads
 * the input, not the conv: a weight step would move its argmaxes.) */
static void test_multi_reader_grad(void **state)
{
    (void)state;
    Net *net = net_create((Shape){2, 4, 4});
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 3;
    a.kernel_h = a.kernel_w = 3;
    set_pads(&a, 1, 1, 1, 1);
    add(net, "c", OP_CONV, &a, "input");
    a = attrs(OP_MAXPOOL);
    a.kernel_h = a.kernel_w = 2;
    a.stride_h = a.stride_w = 2;
    add(net, "m", OP_MAXPOOL, &a, "input");
    a = attrs(OP_RELU);
    add(net, "r", OP_RELU, &a, "c");
    a = attrs(OP_BATCHNORM);
    add(net, "bn", OP_BATCHNORM, &a, "c");
    add_n(net, "s", OP_ADD, (const char *[]){"r", "bn", "r"}, 3);
    a = attrs(OP_AVGPOOL); /* overlapping windows: 3×3, stride 2 */
    a.kernel_h = a.kernel_w = 3;
    a.stride_h = a.stride_w = 2;
    set_pads(&a, 1, 1, 1, 1);
    add(net, "avg", OP_AVGPOOL, &a, "s");
    add_n(net, "cat", OP_CONCAT, (const char *[]){"m", "avg", "m"}, 3);
    a = attrs(OP_FLATTEN);
    add(net, "f", OP_FLATTEN, &a, "cat");
    a = attrs(OP_DENSE);
    a.units = 5;
    add(net, "d", OP_DENSE, &a, "f");
    finalize(net, 12);
    assert_int_equal(gradcheck(net, 2, 1, 32, TOL), 0);
    net_free(net);
}

/* Chunking must not change results: a 32×32 conv (two images per chunk) on
 * a batch of 3 equals the same images run one at a time, for the output and
 * for every gradient. */
static void test_conv_chunking_invariance(void **state)
{
    (void)state;
    LayerAttrs a = attrs(OP_CONV);
    a.filters = 4;
    a.kernel_h = a.kernel_w = 3;
    set_pads(&a, 1, 1, 1, 1);
    Net *net = net_create((Shape){2, 32, 32});
    add(net, "c", OP_CONV, &a, "input");
    finalize(net, 4);
    const int batch = 3;
    size_t nin = 2 * 32 * 32, nout = 4 * 32 * 32;
    float *x = malloc(batch * nin * sizeof *x), *r = malloc(batch * nout * sizeof *r);
    Rng rng;
    rng_seed(&rng, 5);
    for (size_t i = 0; i < batch * nin; i++)
        x[i] = rng_normal(&rng);
    for (size_t i = 0; i < batch * nout; i++)
        r[i] = rng_normal(&rng);
    net->input_grad = 1;
    assert_int_equal(net_reserve(net, batch, 1), 0);
    Layer *c = &net->layers[1];
    Param *w = layer_param(c, "weight"), *b = layer_param(c, "bias");
    float *y = malloc(batch * nout * sizeof *y), *dx = malloc(batch * nin * sizeof *dx);
    float *dw = calloc(w->size, sizeof *dw), *db = calloc(b->size, sizeof *db);
    for (int i = 0; i < batch; i++) {
        memcpy(y + i * nout, net_forward(net, x + i * nin, 1, 1), nout * sizeof *y);
        net_backward(net, r + i * nout, 1);
        memcpy(dx + i * nin, net->layers[0].dout, nin * sizeof *dx);
        for (size_t k = 0; k < w->size; k++)
            dw[k] += w->grad[k];
        for (size_t k = 0; k < b->size; k++)
            db[k] += b->grad[k];
    }
    const float *yb = net_forward(net, x, batch, 1);
    for (size_t i = 0; i < batch * nout; i++)
        assert_float_equal(yb[i], y[i], 1e-4);
    net_backward(net, r, batch);
    for (size_t i = 0; i < batch * nin; i++)
        assert_float_equal(net->layers[0].dout[i], dx[i], 1e-4);
    for (size_t k = 0; k < w->size; k++)
        assert_float_equal(w->grad[k], dw[k], 1e-3 * (1 + fabsf(dw[k])));
    for (size_t k = 0; k < b->size; k++)
        assert_float_equal(b->grad[k], db[k], 1e-3 * (1 + fabsf(db[k])));

    /* A second run gives the same bits. */
    memcpy(dx, net->layers[0].dout, batch * nin * sizeof *dx);
    memcpy(dw, w->grad, w->size * sizeof *dw);
    memcpy(y, net_forward(net, x, batch, 1), batch * nout * sizeof *y);
    net_backward(net, r, batch);
    assert_memory_equal(y, net_forward(net, x, batch, 1), batch * nout * sizeof *y);
    net_backward(net, r, batch);
    assert_memory_equal(dx, net->layers[0].dout, batch * nin * sizeof *dx);
    assert_memory_equal(dw, w->grad, w->size * sizeof *dw);
    free(x), free(r), free(y), free(dx), free(dw), free(db);
    net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_forward),
        cmocka_unit_test(test_dense_any_shape_input),
        cmocka_unit_test(test_conv_forward_2x2),
        cmocka_unit_test(test_conv_forward_stride_asym_pad),
        cmocka_unit_test(test_conv_forward_pointwise),
        cmocka_unit_test(test_maxpool_forward),
        cmocka_unit_test(test_avgpool_forward),
        cmocka_unit_test(test_pool_matches_reference),
        cmocka_unit_test(test_global_avgpool_flatten_forward),
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_dense_grad),
        cmocka_unit_test(test_dense_large_matches_reference),
        cmocka_unit_test(test_conv_grad_stride_pad),
        cmocka_unit_test(test_conv_grad_pointwise),
        cmocka_unit_test(test_flatten_grad),
        cmocka_unit_test(test_maxpool_grad),
        cmocka_unit_test(test_avgpool_grad),
        cmocka_unit_test(test_global_avgpool_grad),
        cmocka_unit_test(test_conv_two_consumers_grad),
        cmocka_unit_test(test_multi_reader_grad),
        cmocka_unit_test(test_maxpool_ties_and_nan),
        cmocka_unit_test(test_conv_chunking_invariance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
