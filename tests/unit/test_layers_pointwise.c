/* Element-wise and merging layers (activations, LRN, batch norm, dropout, add,
 * concat) and the softmax cross-entropy loss: hand-computed forward values and
 * finite-difference gradient checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/gradcheck.h"

#include "tests/unit/net_build.h"


/* input → one layer of type t with attributes a. */
static Net *single(Shape s, OpType t, const LayerAttrs *a)
{
    Net *net = net_create(s);
    add_layer(net, "l1", t, a, IN, 1);
    finish(net);
    return net;
}

static Net *single_default(Shape s, OpType t)
{
    LayerAttrs a;
    layer_attrs_default(&a, t);
    return single(s, t, &a);
}

static const float *run(Net *net, const float *x, int batch, int train)
{
    assert_int_equal(net_reserve(net, batch, 1), 0);
    return net_forward(net, x, batch, train);
}

static void assert_floats(const float *got, const float *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (fabs((double)got[i] - want[i]) > tol)
            fail_msg("value %d: got %.7g, want %.7g", i, got[i], want[i]);
}

/* A gradcheck seed whose inputs all lie ≥ gap from 0, so ±h never crosses a
 * ReLU kink (gradcheck draws its inputs first, as here). */
static unsigned away_from_zero_seed(size_t nin, double gap)
{
    for (unsigned seed = 1;; seed++) {
        Rng r;
        rng_seed(&r, seed);
        size_t i = 0;
        while (i < nin && fabs(rng_normal(&r)) >= gap)
            i++;
        if (i == nin)
            return seed;
    }
}

/* ------------------------------------------------------------- activations */

static void test_activation_forward(void **state)
{
    (void)state;
    const float x[4] = {-2.0f, -0.5f, 0.0f, 3.0f};
    struct {
        OpType t;
        float want[4];
    } cases[] = {
        {OP_RELU, {0, 0, 0, 3}},
        {OP_LEAKY_RELU, {-0.2f, -0.05f, 0, 3}},
        {OP_SIGMOID, {0.11920292f, 0.37754067f, 0.5f, 0.95257413f}},
        {OP_TANH, {-0.96402758f, -0.46211716f, 0, 0.99505475f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        LayerAttrs a;
        layer_attrs_default(&a, cases[i].t);
        a.alpha = 0.1f;
        Net *net = single((Shape){4, 1, 1}, cases[i].t, &a);
        assert_floats(run(net, x, 1, 0), cases[i].want, 4, 1e-6);
        net_free(net);
    }
    /* Extreme inputs stay finite. */
    Net *net = single_default((Shape){2, 1, 1}, OP_SIGMOID);
    const float *y = run(net, (float[]){-200.0f, 200.0f}, 1, 0);
    assert_true(y[0] >= 0 && y[0] < 1e-30f);
    assert_true(y[1] == 1.0f);
    net_free(net);
}

static void test_activation_names_and_attrs(void **state)
{
    (void)state;
    const OpInfo *op = op_by_name("leaky_relu");
    assert_non_null(op);
    assert_int_equal(op->type, OP_LEAKY_RELU);
    LayerAttrs a;
    layer_attrs_default(&a, OP_LEAKY_RELU);
    assert_int_equal(layer_attr_set(&a, op, "alpha", "0.2", err, sizeof err), 0);
    assert_float_equal(a.alpha, 0.2f, 1e-7);
    assert_int_equal(layer_attr_set(&a, op_by_name("relu"), "alpha", "0.2", err, sizeof err), -1);
    assert_non_null(op_by_name("sigmoid"));
    assert_non_null(op_by_name("tanh"));
}

static void test_activation_gradcheck(void **state)
{
    (void)state;
    const Shape s = {3, 2, 2};
    const int batch = 2;
    unsigned seed = away_from_zero_seed((size_t)batch * shape_size(s), 0.03);
    OpType types[] = {OP_RELU, OP_LEAKY_RELU, OP_SIGMOID, OP_TANH};
    for (size_t i = 0; i < 4; i++) {
        LayerAttrs a;
        layer_attrs_default(&a, types[i]);
        a.alpha = 0.1f;
        Net *net = single(s, types[i], &a);
        assert_int_equal(gradcheck(net, batch, 1, seed, 1e-3), 0);
        net_free(net);
    }
}

/* Big enough for the parallel loops; must match the serial definition exactly. */
static void test_activation_parallel(void **state)
{
    (void)state;
    const Shape s = {16, 8, 8};
    const int batch = 64;
    size_t n = (size_t)batch * shape_size(s);
    Net *net = single_default(s, OP_LEAKY_RELU);
    float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)((int)(i % 17) - 8);
        g[i] = (float)(i % 5);
    }
    const float *y = run(net, x, batch, 1);
    for (size_t i = 0; i < n; i++)
        assert_true(y[i] == (x[i] > 0 ? x[i] : 0.01f * x[i]));
    net_backward(net, g, batch);
    for (size_t i = 0; i < n; i++)
        assert_true(net->layers[0].dout[i] == g[i] * (x[i] > 0 ? 1.0f : 0.01f));
    free(x);
    free(g);
    net_free(net);
}

/* -------------------------------------------------------------------- LRN */

static void test_lrn_forward(void **state)
{
    (void)state;
    const float x[3] = {1, 2, 3};
    LayerAttrs a;
    layer_attrs_default(&a, OP_LRN);
    a.size = 3, a.alpha = 0.3f, a.beta = 0.5f, a.k = 1; /* alpha/size = 0.1 */
    Net *net = single((Shape){3, 1, 1}, OP_LRN, &a);
    /* windows {0,1}, {0,1,2}, {1,2}: sums 5, 14, 13 */
    assert_floats(run(net, x, 1, 0), (float[]){0.81649658f, 1.29099445f, 1.97814142f}, 3, 1e-5);
    net_free(net);
    /* Even size (ONNX): floor((2−1)/2) = 0 before, 1 after: windows {0,1}, {1,2}, {2}. */
    a.size = 2, a.alpha = 0.2f;
    net = single((Shape){3, 1, 1}, OP_LRN, &a);
    assert_floats(run(net, x, 1, 0), (float[]){0.81649658f, 1.31876095f, 2.17642875f}, 3, 1e-5);
    net_free(net);
}

static void test_lrn_gradcheck(void **state)
{
    (void)state;
    int sizes[] = {3, 4, 5, 1};
    for (int i = 0; i < 4; i++) {
        LayerAttrs a;
        layer_attrs_default(&a, OP_LRN);
        a.size = sizes[i], a.alpha = 0.8f, a.beta = 0.75f, a.k = 2;
        Net *net = single((Shape){6, 2, 2}, OP_LRN, &a);
        assert_int_equal(gradcheck(net, 2, 1, 3, 1e-3), 0);
        net_free(net);
    }
}

/* -------------------------------------------------------------- batch norm */

static Param *param(Net *net, const char *layer, const char *name)
{
    Param *p = layer_param(&net->layers[net_find(net, layer)], name);
    assert_non_null(p);
    return p;
}

static void test_batchnorm_params(void **state)
{
    (void)state;
    Net *net = single_default((Shape){3, 2, 2}, OP_BATCHNORM);
    const char *names[4] = {"gamma", "beta", "running_mean", "running_var"};
    const float init[4] = {1, 0, 0, 1};
    const int trainable[4] = {1, 1, 0, 0};
    for (int i = 0; i < 4; i++) {
        Param *p = param(net, "l1", names[i]);
        assert_int_equal(p->size, 3);
        assert_int_equal(p->trainable, trainable[i]);
        assert_int_equal(p->decay, 0);
        for (int c = 0; c < 3; c++)
            assert_true(p->data[c] == init[i]);
    }
    assert_int_equal(net_param_count(net), 6);
    net_free(net);
}

/* Feature 0 sees 1,2,3,4 (mean 2.5, biased var 1.25, unbiased 5/3); feature 1 sees zeros. */
static void test_batchnorm_train_forward_and_running_stats(void **state)
{
    (void)state;
    Net *net = single_default((Shape){2, 1, 1}, OP_BATCHNORM);
    param(net, "l1", "gamma")->data[0] = 2;
    param(net, "l1", "beta")->data[0] = 1;
    param(net, "l1", "beta")->data[1] = -1;
    const float x[8] = {1, 0, 2, 0, 3, 0, 4, 0}; /* batch 4 × 2 features */
    const float *y = run(net, x, 4, 1);
    float sd = sqrtf(1.25f + 1e-5f);
    for (int b = 0; b < 4; b++) {
        assert_float_equal(y[2 * b], 2 * (x[2 * b] - 2.5f) / sd + 1, 1e-5);
        assert_float_equal(y[2 * b + 1], -1, 1e-6);
    }
    Param *rm = param(net, "l1", "running_mean"), *rv = param(net, "l1", "running_var");
    assert_float_equal(rm->data[0], 0.25f, 1e-6);
    assert_float_equal(rv->data[0], 0.9f + 0.1f * 5.0f / 3.0f, 1e-6);
    assert_float_equal(rm->data[1], 0, 1e-7);
    assert_float_equal(rv->data[1], 0.9f, 1e-6);
    /* A second step moves them again by the same rule. */
    run(net, x, 4, 1);
    assert_float_equal(rm->data[0], 0.9f * 0.25f + 0.25f, 1e-6);
    net_free(net);

    /* The same numbers as one 1×2×2 image: statistics span h and w too. */
    LayerAttrs a;
    layer_attrs_default(&a, OP_BATCHNORM);
    a.momentum = 0.5f;
    net = single((Shape){1, 2, 2}, OP_BATCHNORM, &a);
    y = run(net, (float[]){1, 2, 3, 4}, 1, 1);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], (i + 1 - 2.5f) / sd, 1e-5);
    assert_float_equal(param(net, "l1", "running_mean")->data[0], 1.25f, 1e-6);
    assert_float_equal(param(net, "l1", "running_var")->data[0], 0.5f + 0.5f * 5.0f / 3.0f, 1e-6);
    net_free(net);
}

static void test_batchnorm_inference_forward(void **state)
{
    (void)state;
    Net *net = single_default((Shape){1, 1, 3}, OP_BATCHNORM);
    param(net, "l1", "running_mean")->data[0] = 1;
    param(net, "l1", "running_var")->data[0] = 4;
    param(net, "l1", "gamma")->data[0] = 2;
    param(net, "l1", "beta")->data[0] = 0.5f;
    const float *y = run(net, (float[]){1, 3, -1}, 1, 0);
    assert_floats(y, (float[]){0.5f, 2.5f, -1.5f}, 3, 1e-5);
    /* Inference leaves the running statistics alone. */
    assert_true(param(net, "l1", "running_mean")->data[0] == 1);
    assert_true(param(net, "l1", "running_var")->data[0] == 4);
    net_free(net);
}

/* Non-trivial affine parameters and running stats, so every term is exercised. */
static void bn_randomise(Net *net)
{
    Rng r;
    rng_seed(&r, 99);
    const char *names[4] = {"gamma", "beta", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        Param *p = param(net, "l1", names[i]);
        for (size_t c = 0; c < p->size; c++)
            p->data[c] = i == 3 ? 0.5f + rng_uniform(&r) : 0.5f * rng_normal(&r) + (i == 0);
    }
}

static void test_batchnorm_gradcheck(void **state)
{
    (void)state;
    struct {
        Shape s;
        int batch, train;
    } cases[] = {
        {{3, 2, 2}, 4, 1}, /* 4-D, training */
        {{5, 1, 1}, 6, 1}, /* flat, per feature */
        {{3, 2, 2}, 2, 0}, /* inference */
        {{5, 1, 1}, 3, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Net *net = single_default(cases[i].s, OP_BATCHNORM);
        bn_randomise(net);
        assert_int_equal(gradcheck(net, cases[i].batch, cases[i].train, 5, 2e-3), 0);
        net_free(net);
    }
}

static void test_batchnorm_bad_attrs(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_BATCHNORM);
    a.momentum = 1.5f;
    Net *net = net_create((Shape){2, 1, 1});
    add_layer(net, "bn", OP_BATCHNORM, &a, IN, 1);
    assert_int_equal(net_finalize(net, err, sizeof err), -1);
    assert_non_null(strstr(err, "momentum"));
    net_free(net);
}

/* ----------------------------------------------------------------- dropout */

static void test_dropout_forward(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_DROPOUT);
    a.rate = 0.25f;
    const Shape s = {10, 10, 10};
    Net *net = single(s, OP_DROPOUT, &a);
    size_t n = shape_size(s);
    float *x = malloc(n * sizeof *x), *first = malloc(n * sizeof *first);
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f + (float)i;
    /* Inference: exactly the identity. */
    assert_memory_equal(run(net, x, 1, 0), x, n * sizeof *x);
    /* Training: zeros or x / 0.75, about a quarter dropped, reproducible from the seed. */
    net_seed(net, 42);
    memcpy(first, run(net, x, 1, 1), n * sizeof *x);
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (first[i] == 0)
            dropped++;
        else
            assert_float_equal(first[i], x[i] / 0.75f, 1e-3);
    }
    assert_in_range(dropped, 200, 300);
    net_seed(net, 42);
    assert_memory_equal(run(net, x, 1, 1), first, n * sizeof *x);
    assert_memory_not_equal(run(net, x, 1, 1), first, n * sizeof *x); /* fresh mask */
    free(x);
    free(first);
    net_free(net);
}

static void test_dropout_gradcheck(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_DROPOUT);
    a.rate = 0.4f;
    Net *net = net_create((Shape){4, 3, 3});
    add_layer(net, "t", OP_TANH, &a, IN, 1);
    add_layer(net, "drop", OP_DROPOUT, &a, (const char *[]){"t"}, 1);
    finish(net);
    assert_int_equal(gradcheck(net, 3, 1, 11, 1e-3), 0); /* training: fixed mask */
    assert_int_equal(gradcheck(net, 3, 0, 12, 1e-3), 0); /* inference: identity */
    net_free(net);
}

/* ------------------------------------------------------------- add, concat */

static void test_add_forward(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_ADD);
    Net *net = net_create((Shape){2, 1, 1});
    add_layer(net, "r", OP_RELU, &a, IN, 1);
    add_layer(net, "sum", OP_ADD, &a, (const char *[]){"input", "r", "input"}, 3);
    finish(net);
    assert_floats(run(net, (float[]){-1, 2}, 1, 0), (float[]){-2, 6}, 2, 0);
    net_free(net);
}

/* "t" feeds the add twice and "input" feeds three layers: the grads must accumulate. */
static void test_add_gradcheck(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_ADD);
    Net *net = net_create((Shape){3, 2, 2});
    add_layer(net, "t", OP_TANH, &a, IN, 1);
    add_layer(net, "s", OP_SIGMOID, &a, IN, 1);
    add_layer(net, "sum", OP_ADD, &a, (const char *[]){"t", "s", "t"}, 3);
    add_layer(net, "out", OP_ADD, &a, (const char *[]){"sum", "input"}, 2);
    finish(net);
    assert_int_equal(gradcheck(net, 2, 1, 21, 1e-3), 0);
    net_free(net);
}

static void test_add_shape_error(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_CONCAT);
    Net *net = net_create((Shape){2, 3, 3});
    add_layer(net, "cat", OP_CONCAT, &a, (const char *[]){"input", "input"}, 2);
    add_layer(net, "bad", OP_ADD, &a, (const char *[]){"input", "cat"}, 2);
    assert_int_equal(net_finalize(net, err, sizeof err), -1);
    assert_string_equal(err, "layer 'bad' (add): add inputs have different shapes: 2x3x3 and 4x3x3");
    /* One input is too few. */
    assert_int_equal(net_add(net, "one", OP_ADD, &a, IN, 1, err, sizeof err), -1);
    net_free(net);
}

static void test_concat_forward(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_CONCAT);
    Net *net = net_create((Shape){1, 1, 2});
    add_layer(net, "r", OP_RELU, &a, IN, 1);
    add_layer(net, "cat", OP_CONCAT, &a, (const char *[]){"input", "r", "input"}, 3);
    finish(net);
    Shape o = net_output_shape(net);
    assert_int_equal(o.c, 3);
    assert_int_equal(o.h, 1);
    assert_int_equal(o.w, 2);
    /* Per sample: input's channel, then r's, then input's again. */
    const float *y = run(net, (float[]){-1, 2, 3, -4}, 2, 0);
    assert_floats(y, (float[]){-1, 2, 0, 2, -1, 2, 3, -4, 3, 0, 3, -4}, 12, 0);
    net_free(net);
}

static void test_concat_gradcheck(void **state)
{
    (void)state;
    LayerAttrs a;
    layer_attrs_default(&a, OP_CONCAT);
    Net *net = net_create((Shape){2, 2, 3});
    add_layer(net, "t", OP_TANH, &a, IN, 1);
    add_layer(net, "s", OP_SIGMOID, &a, IN, 1);
    add_layer(net, "c1", OP_CONCAT, &a, (const char *[]){"t", "s"}, 2);
    add_layer(net, "c2", OP_CONCAT, &a, (const char *[]){"c1", "input", "t"}, 3);
    finish(net);
    assert_int_equal(net_output_shape(net).c, 8);
    assert_int_equal(gradcheck(net, 2, 1, 31, 1e-3), 0);
    net_free(net);
}

static void test_concat_shape_error(void **state)
{
    (void)state;
    Layer l;
    memset(&l, 0, sizeof l);
    layer_attrs_default(&l.a, OP_CONCAT);
    const Shape in[2] = {{16, 8, 8}, {32, 4, 4}};
    assert_int_equal(op_table[OP_CONCAT]->setup(&l, in, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "16x8x8 and 32x4x4"));
    const Shape ok[2] = {{16, 8, 8}, {32, 8, 8}};
    assert_int_equal(op_table[OP_CONCAT]->setup(&l, ok, 2, err, sizeof err), 0);
    assert_int_equal(l.out_shape.c, 48);
}

/* -------------------------------------------------------------------- loss */

static void test_softmax_ce_hand(void **state)
{
    (void)state;
    /* Sample 0: label 2 of logits 1,2,3: loss = log(1 + e^-1 + e^-2).
     * Sample 1: huge logits must not overflow; label 0 is the clear winner. */
    const float z[6] = {1, 2, 3, 1000, 0, -1000};
    const int labels[2] = {2, 0};
    float d[6];
    int correct = -1;
    float loss = softmax_cross_entropy(z, labels, 2, 3, d, &correct);
    assert_float_equal(loss, 0.40760596f / 2, 1e-6);
    assert_int_equal(correct, 2);
    const float p[3] = {0.09003057f, 0.24472847f, 0.66524096f};
    assert_floats(d, (float[]){p[0] / 2, p[1] / 2, (p[2] - 1) / 2, 0, 0, 0}, 6, 1e-6);
    /* Wrong label: not counted; NULL outputs are allowed. */
    correct = -1;
    softmax_cross_entropy(z, (int[]){0}, 1, 3, NULL, &correct);
    assert_int_equal(correct, 0);
    assert_float_equal(softmax_cross_entropy(z, (int[]){0}, 1, 3, NULL, NULL), 2.40760596f, 1e-5);
}

static void test_softmax_ce_gradient(void **state)
{
    (void)state;
    enum { B = 3, K = 5 };
    float z[B * K], d[B * K];
    const int labels[B] = {4, 0, 2};
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < B * K; i++)
        z[i] = 2 * rng_normal(&r);
    softmax_cross_entropy(z, labels, B, K, d, NULL);
    const float h = 1e-2f;
    for (int i = 0; i < B * K; i++) {
        float keep = z[i];
        z[i] = keep + h;
        double lp = softmax_cross_entropy(z, labels, B, K, NULL, NULL);
        z[i] = keep - h;
        double lm = softmax_cross_entropy(z, labels, B, K, NULL, NULL);
        z[i] = keep;
        assert_float_equal(d[i], (lp - lm) / (2 * h), 2e-4);
    }
    /* Each row of the gradient sums to zero. */
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += d[b * K + k];
        assert_float_equal(s, 0, 1e-6);
    }
}

static void test_argmax(void **state)
{
    (void)state;
    assert_int_equal(argmax((float[]){1, 3, 3, 2}, 4), 1);
    assert_int_equal(argmax((float[]){-5}, 1), 0);
    assert_int_equal(argmax((float[]){-3, -1, -2}, 3), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_forward),
        cmocka_unit_test(test_activation_names_and_attrs),
        cmocka_unit_test(test_activation_gradcheck),
        cmocka_unit_test(test_activation_parallel),
        cmocka_unit_test(test_lrn_forward),
        cmocka_unit_test(test_lrn_gradcheck),
        cmocka_unit_test(test_batchnorm_params),
        cmocka_unit_test(test_batchnorm_train_forward_and_running_stats),
        cmocka_unit_test(test_batchnorm_inference_forward),
        cmocka_unit_test(test_batchnorm_gradcheck),
        cmocka_unit_test(test_batchnorm_bad_attrs),
        cmocka_unit_test(test_dropout_forward),
        cmocka_unit_test(test_dropout_gradcheck),
        cmocka_unit_test(test_add_forward),
        cmocka_unit_test(test_add_gradcheck),
        cmocka_unit_test(test_add_shape_error),
        cmocka_unit_test(test_concat_forward),
        cmocka_unit_test(test_concat_gradcheck),
        cmocka_unit_test(test_concat_shape_error),
        cmocka_unit_test(test_softmax_ce_hand),
        cmocka_unit_test(test_softmax_ce_gradient),
        cmocka_unit_test(test_argmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
