/* compiler/reform: the float program of core ops computes what the network
 * computes. Small nets covering every rewrite (batch-norm folding, pooling,
 * max trees, residual add, concat, split-and-merge over small crossbars,
 * leaky ReLU and clip from two ReLUs, layout ops), and the committed zoo
 * models on real test images; unsupported layers are named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/compiler.h"
#include "datasets/datasets.h"
#include "simulators/simulators.h"
#include "tests/unit/net_build.h"
#include "tests/unit/lenet5_fixture.h"

#define FROM(...) (const char *[]){__VA_ARGS__}

/* Random parameters, including batch-norm statistics (inference uses them). */
static void randomise(Net *net, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_params; k++) {
            Param *p = &net->layers[i].params[k];
            for (size_t j = 0; j < p->size; j++) {
                float v = rng_normal(&r) * 0.3f;
                p->data[j] = !strcmp(p->name, "running_var") ? 0.5f + v * v : v;
            }
        }
}

/* Largest |program − net| over n random images, relative to the largest |logit|. */
static double compare(Net *net, const Normalize *norm, const ReformOptions *opt, int n, uint64_t seed)
{
    Program *p;
    char err[512];
    if (reform(net, norm, opt, &p, err, sizeof err))
        fail_msg("%s", err);
    if (program_validate(p, err, sizeof err))
        fail_msg("invalid program: %s", err);
    Shape s = net_input_shape(net);
    size_t in = shape_size(s), outs = net_output_size(net);
    assert_int_equal(p->n_outputs, (int)outs);
    uint8_t *px = malloc(in * n);
    float *raw = malloc(sizeof *raw * in * n), *x = malloc(sizeof *x * in * n);
    float *got = malloc(sizeof *got * outs * n);
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < in * n; i++)
        raw[i] = px[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < n; i++)
        normalize_pixels(norm, px + i * in, s, x + i * in);
    assert_int_equal(net_reserve(net, n, 0), 0);
    const float *want = net_forward(net, x, n, 0);
    assert_int_equal(ann_run_float(p, raw, n, got), 0);
    double worst = 0, top = 1e-6;
    for (size_t i = 0; i < outs * n; i++) {
        top = fabs(want[i]) > top ? fabs(want[i]) : top;
        worst = fabs(got[i] - want[i]) > worst ? fabs(got[i] - want[i]) : worst;
    }
    free(px);
    free(raw);
    free(x);
    free(got);
    program_free(p);
    return worst / top;
}

static LayerAttrs attrs(OpType t)
{
    LayerAttrs a;
    layer_attrs_default(&a, t);
    return a;
}

/* conv → BN → relu → maxpool 3x3/2 pad 1 → conv → (+ shortcut) → relu → concat with
 * an avgpool branch → global avg pool → dense. */
static Net *mixed_net(void)
{
    Net *net = net_create((Shape){3, 8, 8});
    LayerAttrs c = attrs(OP_CONV);
    c.filters = 6, c.kernel_h = c.kernel_w = 3, c.pad_t = c.pad_l = c.pad_b = c.pad_r = 1;
    add_layer(net, "c1", OP_CONV, &c, IN, 1);
    LayerAttrs bn = attrs(OP_BATCHNORM);
    add_layer(net, "bn", OP_BATCHNORM, &bn, FROM("c1"), 1);
    LayerAttrs none = attrs(OP_RELU);
    add_layer(net, "r1", OP_RELU, &none, FROM("bn"), 1);
    LayerAttrs mp = attrs(OP_MAXPOOL);
    mp.kernel_h = mp.kernel_w = 3, mp.stride_h = mp.stride_w = 2, mp.pad_t = mp.pad_l = mp.pad_b = mp.pad_r = 1;
    add_layer(net, "mp", OP_MAXPOOL, &mp, FROM("r1"), 1);
    add_layer(net, "c2", OP_CONV, &c, FROM("mp"), 1);
    add_layer(net, "sum", OP_ADD, &none, FROM("c2", "mp"), 2);
    add_layer(net, "r2", OP_RELU, &none, FROM("sum"), 1);
    LayerAttrs ap = attrs(OP_AVGPOOL);
    ap.kernel_h = ap.kernel_w = 3, ap.stride_h = ap.stride_w = 1, ap.pad_t = ap.pad_l = ap.pad_b = ap.pad_r = 1;
    add_layer(net, "ap", OP_AVGPOOL, &ap, FROM("mp"), 1);
    add_layer(net, "cat", OP_CONCAT, &none, FROM("r2", "ap"), 2);
    LayerAttrs leaky = attrs(OP_LEAKY_RELU);
    leaky.alpha = 0.1f;
    add_layer(net, "lk", OP_LEAKY_RELU, &leaky, FROM("cat"), 1);
    add_layer(net, "gap", OP_GLOBAL_AVGPOOL, &none, FROM("lk"), 1);
    LayerAttrs d = attrs(OP_DENSE);
    d.units = 5;
    add_layer(net, "fc", OP_DENSE, &d, FROM("gap"), 1);
    finish(net);
    randomise(net, 3);
    return net;
}

static void test_exact_rewrites(void **state)
{
    (void)state;
    Net *net = mixed_net();
    Normalize norm = {1 / 255.0f, {0.5f, 0.4f, 0.3f}, {0.25f, 0.2f, 0.3f}};
    double rel = compare(net, &norm, &(ReformOptions){.rows = 256, .cols = 256}, 8, 1);
    if (rel > 1e-4)
        fail_msg("logits differ by %g (relative)", rel);
    net_free(net);
}

/* A first convolution's ReLU commutes with the max pooling after it (the
 * pooling tree then reads the pixels): the same logits. */
static void test_relu_pool_commute(void **state)
{
    (void)state;
    Net *net = net_create((Shape){1, 12, 12});
    LayerAttrs c = attrs(OP_CONV);
    c.filters = 4, c.kernel_h = c.kernel_w = 3, c.pad_t = c.pad_l = c.pad_b = c.pad_r = 1;
    add_layer(net, "c1", OP_CONV, &c, IN, 1);
    LayerAttrs none = attrs(OP_RELU);
    add_layer(net, "r1", OP_RELU, &none, FROM("c1"), 1);
    LayerAttrs mp = attrs(OP_MAXPOOL);
    mp.kernel_h = mp.kernel_w = 2, mp.stride_h = mp.stride_w = 2;
    add_layer(net, "mp", OP_MAXPOOL, &mp, FROM("r1"), 1);
    LayerAttrs d = attrs(OP_DENSE);
    d.units = 5;
    add_layer(net, "fc", OP_DENSE, &d, FROM("mp"), 1);
    finish(net);
    randomise(net, 5);
    Normalize norm;
    normalize_default(&norm);
    double rel = compare(net, &norm, &(ReformOptions){.rows = 256, .cols = 256}, 8, 3);
    if (rel > 1e-4)
        fail_msg("logits differ by %g (relative)", rel);
    net_free(net);
}

/* Crossbars of 16×8: conv fan-in 54 > 16 is split and merged, channels spread over ops. */
static void test_split_and_merge(void **state)
{
    (void)state;
    Net *net = mixed_net();
    Normalize norm;
    normalize_default(&norm);
    double rel = compare(net, &norm, &(ReformOptions){.rows = 16, .cols = 8}, 4, 2);
    if (rel > 1e-4)
        fail_msg("logits differ by %g with 16x8 crossbars", rel);
    net_free(net);
}

/* Data re-encoding (tune.expand): every ReLU value and partial sum on k
 * neurons, read as their mean, computes the same function, over crossbars
 * small enough to split; each re-encoded block holds k copies of a column. */
static void test_expand_exact(void **state)
{
    (void)state;
    Net *net = mixed_net();
    Normalize norm;
    normalize_default(&norm);
    Program *plain, *p;
    char err[512];
    for (int k = 2; k <= 3; k++) {
        ReformOptions opt = {.rows = 16, .cols = 8, .expand = k};
        double rel = compare(net, &norm, &opt, 4, 2);
        if (rel > 1e-4)
            fail_msg("logits differ by %g with expand = %d", rel, k);
        opt.expand = 1;
        assert_int_equal(reform(net, &norm, &opt, &plain, err, sizeof err), 0);
        opt.expand = k;
        assert_int_equal(reform(net, &norm, &opt, &p, err, sizeof err), 0);
        assert_true(p->n_neurons - p->n_inputs > (k - 1) * (plain->n_neurons - plain->n_inputs) / 2);
        int expanded = 0;
        for (int b = 0; b < p->n_blocks; b++) {
            const CoreBlock *blk = &p->blocks[b];
            if (blk->expand <= 1) {
                assert_true(blk->act == CORE_LINEAR);
                continue;
            }
            expanded++;
            assert_int_equal(blk->expand, k);
            assert_int_equal(blk->cols % k, 0);
            for (int c = 0; c < blk->cols; c += k)
                for (int m = 1; m < k; m++) {
                    assert_memory_equal(blk->wf + (size_t)(c + m) * blk->rows, blk->wf + (size_t)c * blk->rows,
                                        sizeof(float) * (size_t)blk->rows);
                    assert_true(blk->bf[c + m] == blk->bf[c]);
                }
        }
        assert_true(expanded > 0);
        program_free(plain);
        program_free(p);
    }
    net_free(net);
}

static void test_clip_and_layout(void **state)
{
    (void)state;
    Net *net = net_create((Shape){2, 3, 4});
    LayerAttrs t = attrs(OP_TRANSPOSE);
    t.dims = (IntList){3, {2, 3, 4}};
    t.perm = (IntList){3, {2, 0, 1}};
    add_layer(net, "t", OP_TRANSPOSE, &t, IN, 1);
    LayerAttrs p = attrs(OP_PAD);
    p.dims = (IntList){3, {4, 2, 3}};
    p.pads = (IntList){6, {0, 1, 0, 1, 0, 2}};
    p.value = 0.25f;
    add_layer(net, "p", OP_PAD, &p, FROM("t"), 1);
    LayerAttrs cl = attrs(OP_CLIP);
    cl.lo = -0.5f, cl.hi = 0.75f;
    add_layer(net, "clip", OP_CLIP, &cl, FROM("p"), 1);
    LayerAttrs d = attrs(OP_DENSE);
    d.units = 3;
    add_layer(net, "fc", OP_DENSE, &d, FROM("clip"), 1);
    finish(net);
    randomise(net, 5);
    Normalize norm;
    normalize_default(&norm);
    norm.mean[0] = norm.mean[1] = norm.mean[2] = 0.5f;
    norm.std[0] = norm.std[1] = norm.std[2] = 0.4f;
    double rel = compare(net, &norm, &(ReformOptions){.rows = 64, .cols = 64}, 6, 3);
    if (rel > 1e-4)
        fail_msg("logits differ by %g", rel);
    net_free(net);
}

/* tanh, LRN and sigmoid through their fitted approximators: close, not exact. */
static void test_approximators(void **state)
{
    (void)state;
    Net *net = net_create((Shape){2, 6, 6});
    LayerAttrs c = attrs(OP_CONV);
    c.filters = 4, c.kernel_h = c.kernel_w = 3;
    add_layer(net, "c1", OP_CONV, &c, IN, 1);
    LayerAttrs t = attrs(OP_TANH);
    add_layer(net, "t", OP_TANH, &t, FROM("c1"), 1);
    LayerAttrs lrn = attrs(OP_LRN);
    lrn.size = 3, lrn.k = 2;
    add_layer(net, "lrn", OP_LRN, &lrn, FROM("t"), 1);
    LayerAttrs d = attrs(OP_DENSE);
    d.units = 6;
    add_layer(net, "fc1", OP_DENSE, &d, FROM("lrn"), 1);
    LayerAttrs sg = attrs(OP_SIGMOID);
    add_layer(net, "sg", OP_SIGMOID, &sg, FROM("fc1"), 1);
    d.units = 3;
    add_layer(net, "fc2", OP_DENSE, &d, FROM("sg"), 1);
    finish(net);
    randomise(net, 11);
    Normalize norm;
    normalize_default(&norm);
    uint8_t *calib = malloc(72 * 256);
    Rng r;
    rng_seed(&r, 4);
    for (int i = 0; i < 72 * 256; i++)
        calib[i] = (uint8_t)rng_below(&r, 256);
    ReformOptions opt = {.rows = 256, .cols = 256, .calib = calib, .n_calib = 256, .approx_width = 16};
    double rel = compare(net, &norm, &opt, 16, 5);
    printf("approximated net: logits within %.3g (relative)\n", rel);
    if (rel > 0.05)
        fail_msg("approximated logits differ by %g", rel);
    opt.calib = NULL; /* without calibration images the approximators cannot be fitted */
    Program *p;
    char err[256];
    assert_int_equal(reform(net, &norm, &opt, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "layer 't' (tanh)"));
    free(calib);
    net_free(net);
}

static void test_unsupported_named(void **state)
{
    (void)state;
    Net *net = net_create((Shape){4, 1, 1});
    LayerAttrs none = attrs(OP_SOFTMAX);
    add_layer(net, "squash", OP_SOFTMAX, &none, IN, 1);
    LayerAttrs d = attrs(OP_DENSE);
    d.units = 2;
    add_layer(net, "fc", OP_DENSE, &d, FROM("squash"), 1);
    finish(net);
    Program *p;
    char err[256];
    Normalize norm;
    normalize_default(&norm);
    assert_int_equal(reform(net, &norm, &(ReformOptions){.rows = 8, .cols = 8}, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "layer 'squash' (softmax)"));
    assert_null(p);
    net_free(net);
}

/* The committed zoo models that are quick to reform, on real test images. */
static void test_zoo_models(void **state)
{
    (void)state;
    const char *files[] = {"models/mlp.h5", "models/lenet5.h5", "models/fcnn.h5"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (access(files[i], R_OK) != 0) {
            printf("skip %s (not found from %s)\n", files[i], getcwd(NULL, 0));
            continue;
        }
        Model m;
        char err[512];
        if (model_load(files[i], &m, err, sizeof err))
            fail_msg("%s", err);
        double rel = compare(m.net, &m.train.norm, &(ReformOptions){.rows = 256, .cols = 256}, 16, 9);
        printf("%s: reform logits within %.2g (relative)\n", files[i], rel);
        if (rel > 1e-4)
            fail_msg("%s: logits differ by %g", files[i], rel);
        model_free(&m);
    }
}

/* naive lenet5 for tianji-ann: the simulator and the compiler's own integer
 * forward pass agree bit for bit on real images. */
static void test_naive_bit_exact(void **state)
{
    (void)state;
    Model m;
    Dataset ds;
    Hw hw;
    char err[1024];
    Program *fp, *p;
    if (lenet5_reformed("tianji-ann", SPLIT_BOTH, &m, &ds, &hw, &fp))
        return;
    if (quantise_naive(fp, &hw, ds.train.pixels, 128, &p, err, sizeof err))
        fail_msg("%s", err);
    const int n = 300;
    size_t in = shape_size(ds.shape);
    int32_t *q = malloc(sizeof *q * in * n);
    int64_t *a = malloc(sizeof *a * 10 * n), *b = malloc(sizeof *b * 10 * n);
    quantise_pixels(p, ds.test.pixels, in * n, q);
    assert_int_equal(ann_run(p, q, n, a), 0);
    assert_int_equal(program_forward_int(p, q, n, b), 0);
    assert_memory_equal(a, b, sizeof *a * 10 * n);
    int agree = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < 10; c++)
            best = a[i * 10 + c] > a[i * 10 + best] ? c : best;
        agree += best == ds.test.labels[i];
    }
    printf("naive lenet5: %d/%d correct, simulator = compiler forward bit for bit\n", agree, n);
    assert_true(agree >= n * 95 / 100);
    free(q);
    free(a);
    free(b);
    program_free(fp);
    program_free(p);
    model_free(&m);
    dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_rewrites),  cmocka_unit_test(test_split_and_merge),
        cmocka_unit_test(test_expand_exact),
        cmocka_unit_test(test_clip_and_layout), cmocka_unit_test(test_approximators),
        cmocka_unit_test(test_unsupported_named),
        cmocka_unit_test(test_relu_pool_commute), cmocka_unit_test(test_zoo_models),      cmocka_unit_test(test_naive_bit_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
