/* Training engine: rng, schedule, normalisation, augmentation, optimisers,
 * and a full (tiny) training run that must learn and be deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

static void test_rng_is_seeded_and_bounded(void **state)
{
    (void)state;
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rng_next(&a), rng_next(&b));
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t v = rng_below(&a, 7);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(seen[i] > 800 && seen[i] < 1200);
    double sum = 0, sq = 0;
    for (int i = 0; i < 20000; i++) {
        float u = rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        float n = rng_normal(&a);
        sum += n;
        sq += (double)n * n;
    }
    assert_true(fabs(sum / 20000) < 0.05);
    assert_true(fabs(sq / 20000 - 1.0) < 0.05);
}

static void test_lr_schedules(void **state)
{
    (void)state;
    OptConfig o;
    opt_config_default(&o);
    o.lr = 0.1f;
    o.schedule = SCHED_COSINE;
    assert_float_equal(lr_at(&o, 0, 10), 0.1, 1e-6);
    assert_float_equal(lr_at(&o, 5, 10), 0.05, 1e-6);
    assert_float_equal(lr_at(&o, 10, 10), 0.0, 1e-6);
    o.schedule = SCHED_STEP;
    o.step_every = 3;
    o.step_gamma = 0.5f;
    assert_float_equal(lr_at(&o, 2.9f, 10), 0.1, 1e-6);
    assert_float_equal(lr_at(&o, 3, 10), 0.05, 1e-6);
    assert_float_equal(lr_at(&o, 6.5f, 10), 0.025, 1e-6);
    o.schedule = SCHED_CONSTANT;
    o.warmup_epochs = 2;
    assert_true(lr_at(&o, 0, 10) < lr_at(&o, 1, 10));
    assert_float_equal(lr_at(&o, 2, 10), 0.1, 1e-6);
}

static void test_normalize_pixels(void **state)
{
    (void)state;
    Normalize n;
    normalize_default(&n);
    n.mean[0] = 0.5f;
    n.std[0] = 0.25f;
    n.mean[1] = 0.0f;
    n.std[1] = 2.0f;
    uint8_t px[4] = {0, 255, 51, 102};
    float out[4];
    normalize_pixels(&n, px, (Shape){2, 1, 2}, out);
    assert_float_equal(out[0], -2.0, 1e-6);
    assert_float_equal(out[1], 2.0, 1e-6);
    assert_float_equal(out[2], 0.1, 1e-6);
    assert_float_equal(out[3], 0.2, 1e-6);
}

static void test_augment_shifts_and_flips(void **state)
{
    (void)state;
    Shape s = {1, 5, 5};
    float img[25], scratch[25], orig[25];
    for (int i = 0; i < 25; i++)
        orig[i] = (float)(i + 1);
    Rng r;
    rng_seed(&r, 3);
    int flipped = 0, identical = 0;
    for (int t = 0; t < 50; t++) {
        memcpy(img, orig, sizeof img);
        augment_image(img, s, 0, 1, &r, scratch);
        int is_flip = 1, is_same = 1;
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++) {
                is_flip &= img[y * 5 + x] == orig[y * 5 + 4 - x];
                is_same &= img[y * 5 + x] == orig[y * 5 + x];
            }
        assert_true(is_flip || is_same);
        flipped += is_flip;
        identical += is_same;
    }
    assert_true(flipped > 10 && identical > 10);
    /* A shift keeps every surviving pixel's neighbourhood and fills with zeros. */
    for (int t = 0; t < 50; t++) {
        memcpy(img, orig, sizeof img);
        augment_image(img, s, 2, 0, &r, scratch);
        for (int i = 0; i < 25; i++)
            assert_true(img[i] == 0.0f || (img[i] >= 1 && img[i] <= 25));
        for (int y = 0; y < 5; y++)
            for (int x = 0; x + 1 < 5; x++)
                if (img[y * 5 + x] != 0 && img[y * 5 + x + 1] != 0)
                    assert_float_equal(img[y * 5 + x + 1] - img[y * 5 + x], 1.0, 0);
    }
}

/* Two gaussian blobs per class in 2-D, scaled into uint8 "pixels". */
static void make_blobs(uint8_t *px, uint8_t *lab, int n, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    const float cx[3] = {60, 190, 120}, cy[3] = {60, 80, 200};
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        float x = cx[c] + 18 * rng_normal(&r), y = cy[c] + 18 * rng_normal(&r);
        px[2 * i] = (uint8_t)fminf(fmaxf(x, 0), 255);
        px[2 * i + 1] = (uint8_t)fminf(fmaxf(y, 0), 255);
        lab[i] = (uint8_t)c;
    }
}

static Net *small_net(void)
{
    char err[256];
    Net *net = net_create((Shape){2, 1, 1});
    LayerAttrs a;
    layer_attrs_default(&a, OP_DENSE);
    a.units = 16;
    assert_int_equal(net_add(net, "fc1", OP_DENSE, &a, (const char *[]){"input"}, 1, err, sizeof err), 0);
    layer_attrs_default(&a, OP_RELU);
    assert_int_equal(net_add(net, "relu", OP_RELU, &a, (const char *[]){"fc1"}, 1, err, sizeof err), 0);
    layer_attrs_default(&a, OP_DENSE);
    a.units = 3;
    assert_int_equal(net_add(net, "fc2", OP_DENSE, &a, (const char *[]){"relu"}, 1, err, sizeof err), 0);
    assert_int_equal(net_finalize(net, err, sizeof err), 0);
    return net;
}

static double train_blobs(OptKind kind, Net **out)
{
    enum { N = 600 };
    static uint8_t px[2 * N], lab[N];
    make_blobs(px, lab, N, 11);
    SampleSet set = {N, {2, 1, 1}, 3, px, lab};
    Net *net = small_net();
    net_init_params(net, 5);
    TrainConfig cfg;
    train_config_default(&cfg);
    cfg.epochs = 15;
    cfg.batch = 32;
    cfg.opt.kind = kind;
    cfg.opt.lr = kind == OPT_ADAM ? 0.01f : 0.1f;
    char err[256];
    TrainStats st;
    assert_int_equal(net_train(net, &set, &cfg, &st, err, sizeof err), 0);
    assert_true(st.seconds >= 0);
    double acc = net_evaluate(net, &set, &cfg.norm, 100, NULL);
    *out = net;
    return acc;
}

static void test_training_learns(void **state)
{
    (void)state;
    Net *net;
    assert_true(train_blobs(OPT_SGD, &net) > 0.95);
    net_free(net);
    assert_true(train_blobs(OPT_ADAM, &net) > 0.95);
    net_free(net);
}

static void test_training_is_deterministic(void **state)
{
    (void)state;
    Net *a, *b;
    train_blobs(OPT_SGD, &a);
    train_blobs(OPT_SGD, &b);
    for (int i = 0; i < a->n_layers; i++)
        for (int p = 0; p < a->layers[i].n_params; p++)
            assert_memory_equal(a->layers[i].params[p].data, b->layers[i].params[p].data,
                                a->layers[i].params[p].size * sizeof(float));
    net_free(a);
    net_free(b);
}

static void test_training_rejects_mismatched_data(void **state)
{
    (void)state;
    uint8_t px[8] = {0}, lab[4] = {0};
    SampleSet set = {4, {4, 1, 1}, 3, px, lab}; /* 4 inputs, net takes 2 */
    Net *net = small_net();
    TrainConfig cfg;
    train_config_default(&cfg);
    char err[512];
    assert_int_equal(net_train(net, &set, &cfg, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not fit"));
    net_free(net);
}

static void test_net_rejects_bad_graphs(void **state)
{
    (void)state;
    char err[256];
    Net *net = net_create((Shape){1, 4, 4});
    LayerAttrs a;
    layer_attrs_default(&a, OP_RELU);
    assert_int_equal(net_add(net, "r", OP_RELU, &a, (const char *[]){"later"}, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an earlier layer"));
    assert_int_equal(net_add(net, "r", OP_RELU, &a, (const char *[]){"input"}, 1, err, sizeof err), 0);
    assert_int_equal(net_add(net, "r", OP_RELU, &a, (const char *[]){"input"}, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "used twice"));
    assert_int_equal(net_add(net, "s", OP_RELU, &a, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "takes 1 to 1 inputs"));
    net_free(net);
}

static void test_attrs_parse_and_format(void **state)
{
    (void)state;
    char err[256], buf[512];
    LayerAttrs a;
    const OpInfo *conv = op_table[OP_CONV];
    layer_attrs_default(&a, OP_CONV);
    assert_int_equal(layer_attr_set(&a, conv, "kernel", "3,5", err, sizeof err), 0);
    assert_int_equal(a.kernel_h, 3);
    assert_int_equal(a.kernel_w, 5);
    assert_int_equal(layer_attr_set(&a, conv, "pad", "1,2,3,4", err, sizeof err), 0);
    assert_int_equal(a.pad_r, 4);
    assert_int_equal(layer_attr_set(&a, conv, "pad", "1,2", err, sizeof err), -1);
    assert_int_equal(layer_attr_set(&a, conv, "kernel", "0", err, sizeof err), -1);
    assert_non_null(strstr(err, "kernel"));
    assert_int_equal(layer_attr_set(&a, conv, "rate", "0.5", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key 'rate'"));
    assert_int_equal(layer_attr_set(&a, conv, "bias", "maybe", err, sizeof err), -1);
    assert_int_equal(layer_attr_set(&a, conv, "filters", "8", err, sizeof err), 0);
    layer_attrs_format(&a, conv, buf, sizeof buf);
    assert_non_null(strstr(buf, "kernel = 3,5\n"));
    assert_non_null(strstr(buf, "pad = 1,2,3,4\n"));
    assert_non_null(strstr(buf, "filters = 8\n"));
    /* Formatting then parsing gives the same attributes back. */
    LayerAttrs b;
    layer_attrs_default(&b, OP_CONV);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strstr(line, " = ");
        *eq = '\0';
        assert_int_equal(layer_attr_set(&b, conv, line, eq + 3, err, sizeof err), 0);
    }
    assert_memory_equal(&a, &b, sizeof a);
    LayerAttrs l;
    layer_attrs_default(&l, OP_LRN);
    assert_float_equal(l.alpha, 1e-4, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_is_seeded_and_bounded),
        cmocka_unit_test(test_lr_schedules),
        cmocka_unit_test(test_normalize_pixels),
        cmocka_unit_test(test_augment_shifts_and_flips),
        cmocka_unit_test(test_training_learns),
        cmocka_unit_test(test_training_is_deterministic),
        cmocka_unit_test(test_training_rejects_mismatched_data),
        cmocka_unit_test(test_net_rejects_bad_graphs),
        cmocka_unit_test(test_attrs_parse_and_format),
    };
    return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}
