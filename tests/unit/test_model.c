/* model: INI parsing and its error messages, the recipe as text, the HDF5
 * model file (bit-exact round trip, hostile files), model_resolve. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <hdf5.h>

#include "tests/unit/tmpfiles.h"
#include "model/model.h"


/* ------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("test_model");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

/* A conv → relu → conv → add (residual) → maxpool → dense net on 1×8×8. */
static const char *TINY_INI =
    "; a small residual net\n"
    "[model]\n"
    "name = tiny\n"
    "input = 1,8,8\n"
    "classes = 10\n"
    "\n"
    "[train]\n"
    "epochs = 3\n"
    "optimizer = adam\n"
    "lr = 0.01\n"
    "input_mean = 0.1,0.2,0.3\n"
    "augment = crop,flip\n"
    "\n"
    "[conv1]\n"
    "type = conv\n"
    "filters = 4\n"
    "kernel = 3\n"
    "pad = 1\n"
    "\n"
    "[relu1]\n"
    "type = relu\n"
    "\n"
    "; section names are case-insensitive\n"
    "[Conv2]\n"
    "type = conv\n"
    "filters = 4\n"
    "kernel = 3\n"
    "pad = 1\n"
    "bias = no\n"
    "\n"
    "[add1]\n"
    "type = add\n"
    "inputs = relu1, conv2\n"
    "\n"
    "[pool1]\n"
    "type = maxpool\n"
    "kernel = 2\n"
    "\n"
    "[dense1]\n"
    "type = dense\n"
    "units = 10\n";

static void load_tiny(Model *m)
{
    char err[1024] = "";
    const char *p = write_text("tiny.ini", TINY_INI);
    if (model_from_ini(p, NULL, m, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* ------------------------------------------------------------ INI parse */

static void test_ini_parse(void **state)
{
    (void)state;
    Model m;
    load_tiny(&m);
    assert_string_equal(m.name, "tiny");
    assert_int_equal(m.classes, 10);
    assert_int_equal(m.trained, 0);
    assert_true(m.accuracy < 0);
    Net *net = m.net;
    assert_non_null(net);
    assert_int_equal(net->n_layers, 7);
    const char *names[] = {"input", "conv1", "relu1", "conv2", "add1", "pool1", "dense1"};
    OpType types[] = {OP_INPUT, OP_CONV, OP_RELU, OP_CONV, OP_ADD, OP_MAXPOOL, OP_DENSE};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(net->layers[i].name, names[i]);
        assert_int_equal(net->layers[i].type, types[i]);
    }
    assert_int_equal(net->layers[1].inputs[0], 0);
    assert_int_equal(net->layers[3].inputs[0], 2);
    assert_int_equal(net->layers[4].n_inputs, 2);
    assert_int_equal(net->layers[4].inputs[0], 2);
    assert_int_equal(net->layers[4].inputs[1], 3);
    assert_int_equal(net->layers[1].a.filters, 4);
    assert_int_equal(net->layers[1].a.kernel_h, 3);
    assert_int_equal(net->layers[1].a.pad_r, 1);
    assert_int_equal(net->layers[3].a.bias, 0);
    assert_int_equal(net->layers[3].n_params, 1);
    assert_int_equal(net->layers[5].out_shape.c, 4);
    assert_int_equal(net->layers[5].out_shape.h, 4);
    assert_int_equal(net->layers[5].out_shape.w, 4);
    assert_int_equal(net_output_shape(net).c, 10);
    assert_int_equal(net->output, 6);
    /* the recipe */
    assert_int_equal(m.train.epochs, 3);
    assert_int_equal(m.train.opt.kind, OPT_ADAM);
    assert_true(m.train.opt.lr == 0.01f);
    assert_true(m.train.norm.mean[2] == 0.3f);
    assert_int_equal(m.train.augment_crop, 4) /* "crop" pads by 4 */;
    assert_int_equal(m.train.augment_flip, 1);
    TrainConfig def;
    train_config_default(&def);
    assert_int_equal(m.train.batch, def.batch);
    /* parameters are initialised (deterministically from the recipe seed) */
    Param *w = layer_param(&net->layers[6], "weight");
    assert_non_null(w);
    int nonzero = 0;
    for (size_t i = 0; i < w->size; i++)
        nonzero += w->data[i] != 0.0f;
    assert_true(nonzero > 0);
    Model again;
    load_tiny(&again);
    assert_memory_equal(w->data, layer_param(&again.net->layers[6], "weight")->data,
                        w->size * sizeof(float));
    model_free(&again);
    model_free(&m);
    assert_null(m.net);
}

static void test_ini_dataset(void **state)
{
    (void)state;
    char err[1024] = "";
    Model m;
    /* no [model]: name from the file stem, shape and classes from the data set */
    const char *p = write_text("mlp-test.ini", "[fc1]\ntype = dense\nunits = 32\n"
                                               "[act]\ntype = relu\n"
                                               "[fc2]\ntype = dense\nunits = 10\n");
    if (model_from_ini(p, "mnist", &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(m.name, "mlp-test");
    assert_string_equal(m.dataset, "mnist");
    assert_int_equal(m.classes, 10);
    Shape in = net_input_shape(m.net);
    assert_int_equal(in.c, 1);
    assert_int_equal(in.h, 28);
    assert_int_equal(in.w, 28);
    model_free(&m);

    /* [model] dataset, overridden by the argument */
    p = write_text("cnn.ini", "[model]\ndataset = mnist\n"
                              "[fc]\ntype = dense\nunits = 10\n");
    assert_int_equal(model_from_ini(p, "cifar10", &m, err, sizeof err), 0);
    assert_string_equal(m.dataset, "cifar10");
    assert_int_equal(net_input_shape(m.net).c, 3);
    model_free(&m);

    /* no data set at all */
    assert_int_equal(model_from_ini(p = write_text("nods.ini", "[fc]\ntype = dense\nunits = 10\n"),
                                    NULL, &m, err, sizeof err),
                     -1);
    assert_has(err, "nods.ini: [model] dataset:");
    assert_null(m.net);
    assert_int_equal(model_from_ini(p, "imagenet", &m, err, sizeof err), -1);
    assert_has(err, "unknown data set 'imagenet'");
    assert_has(err, "mnist");
}

/* Writes `text` as NAME and expects model_from_ini to fail with every part in the message. */
static void expect_ini_error(const char *name, const char *text, ...)
{
    char err[1024] = "";
    Model m;
    memset(&m, 0x5a, sizeof m);
    const char *p = write_text(name, text);
    int rc = model_from_ini(p, NULL, &m, err, sizeof err);
    if (rc == 0)
        fail_msg("%s: accepted", name);
    assert_null(m.net);
    assert_true(strncmp(err, p, strlen(p)) == 0);
    va_list ap;
    va_start(ap, text);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        assert_has(err, part);
    va_end(ap);
    model_free(&m);
}

#define HEAD "[model]\ninput = 1,8,8\nclasses = 10\n"

static void test_ini_errors(void **state)
{
    (void)state;
    expect_ini_error("bad_value.ini",
                     HEAD "[conv1]\ntype = conv\nfilters = 2\n[conv2]\ntype = conv\nfilters = 2\n"
                          "kernel = q\n[fc]\ntype = dense\nunits = 10\n",
                     "bad_value.ini: [conv2] kernel: bad value 'q'", "K or KH,KW", NULL);
    expect_ini_error("bad_op.ini", HEAD "[pool1]\ntype = maxpol\n[fc]\ntype = dense\nunits = 10\n",
                     "bad_op.ini: [pool1] type: unknown op 'maxpol' (known: ", "dense", "conv",
                     "maxpool", NULL);
    expect_ini_error("input_op.ini", HEAD "[in2]\ntype = input\n", "[in2] type: unknown op 'input'",
                     NULL);
    expect_ini_error("no_type.ini", HEAD "[fc]\nunits = 10\n", "no_type.ini: [fc] type: missing",
                     NULL);
    expect_ini_error("bad_input.ini",
                     HEAD "[conv1]\ntype = conv\nfilters = 2\n[dense1]\ntype = dense\nunits = 10\n"
                          "inputs = conv9\n",
                     "bad_input.ini: [dense1] inputs: 'conv9' is not an earlier layer", NULL);
    expect_ini_error("later_input.ini",
                     HEAD "[a]\ntype = relu\ninputs = b\n[b]\ntype = dense\nunits = 10\n",
                     "[a] inputs: 'b' is not an earlier layer", NULL);
    expect_ini_error("n_inputs.ini",
                     HEAD "[a]\ntype = relu\n[b]\ntype = relu\ninputs = input, a\n"
                          "[fc]\ntype = dense\nunits = 10\n",
                     "[b] inputs: a relu layer takes 1 input, not 2", NULL);
    expect_ini_error("add_one.ini", HEAD "[a]\ntype = add\n", "[a] inputs: a add layer takes 2 to",
                     NULL);
    expect_ini_error("empty_input.ini", HEAD "[a]\ntype = add\ninputs = input,,input\n",
                     "[a] inputs: bad value", NULL);
    expect_ini_error("unknown_key.ini", HEAD "[r]\ntype = relu\nunits = 3\n",
                     "unknown_key.ini: [r] units: unknown key 'units' for a relu layer", NULL);
    expect_ini_error("model_key.ini", "[model]\ninput = 1,8,8\nclasses = 10\ncolour = red\n"
                                      "[fc]\ntype = dense\nunits = 10\n",
                     "model_key.ini: [model] colour: unknown key", "classes", NULL);
    expect_ini_error("model_input.ini", "[model]\ninput = 1,8\nclasses = 10\n"
                                        "[fc]\ntype = dense\nunits = 10\n",
                     "model_input.ini: [model] input: bad value '1,8'", NULL);
    expect_ini_error("model_classes.ini", "[model]\ninput = 1,8,8\nclasses = x\n"
                                          "[fc]\ntype = dense\nunits = 10\n",
                     "[model] classes: bad value 'x'", NULL);
    expect_ini_error("model_mismatch.ini", "[model]\ndataset = mnist\ninput = 3,32,32\n"
                                           "[fc]\ntype = dense\nunits = 10\n",
                     "[model] input: 3,32,32 does not match data set mnist", NULL);
    expect_ini_error("train_key.ini", HEAD "[train]\nlr2 = 1\n[fc]\ntype = dense\nunits = 10\n",
                     "train_key.ini: [train] lr2: unknown key", "weight_decay", NULL);
    expect_ini_error("train_value.ini",
                     HEAD "[train]\noptimizer = rmsprop\n[fc]\ntype = dense\nunits = 10\n",
                     "train_value.ini: [train] optimizer: bad value 'rmsprop'", "sgd or adam",
                     NULL);
    expect_ini_error("no_layers.ini", HEAD "[train]\nepochs = 2\n", "no_layers.ini: no layers",
                     NULL);
    expect_ini_error("empty.ini", "", "empty.ini: ", NULL);
    expect_ini_error("classes.ini", HEAD "[fc]\ntype = dense\nunits = 5\n",
                     "classes.ini: [fc]: the last layer has 5 outputs", "10 classes", NULL);
    expect_ini_error("finalize.ini",
                     HEAD "[c]\ntype = conv\nfilters = 3\nkernel = 9\n[fc]\ntype = dense\n"
                          "units = 10\n",
                     "finalize.ini: layer 'c'", NULL);
    expect_ini_error("add_shapes.ini",
                     HEAD "[c]\ntype = conv\nfilters = 3\n[a]\ntype = add\ninputs = input, c\n",
                     "add_shapes.ini: layer 'a'", "different shapes", NULL);
    expect_ini_error("reserved.ini", HEAD "[input]\ntype = relu\n", "[input]", "reserved", NULL);
    expect_ini_error("dup_section.ini",
                     HEAD "[fc]\ntype = dense\nunits = 10\n[fc]\ntype = relu\n",
                     "dup_section.ini: line 7: [fc] appears twice (first at line 4)", NULL);
    expect_ini_error("dup_key.ini", HEAD "[fc]\ntype = dense\nunits = 10\nunits = 12\n",
                     "dup_key.ini: line 7: [fc] units: given twice", NULL);
    expect_ini_error("outside.ini", "units = 3\n" HEAD "[fc]\ntype = dense\nunits = 10\n",
                     "outside.ini: line 1: key 'units' comes before any [section]", NULL);
    expect_ini_error("bad_name.ini", HEAD "[a:b]\ntype = relu\n", "bad_name.ini: line 4: [a:b]",
                     NULL);
    expect_ini_error("syntax.ini", HEAD "[fc]\ntype = dense\nunits 10\n",
                     "syntax.ini: line 6: syntax error", "units 10", NULL);

    char err[1024];
    Model m;
    assert_int_equal(model_from_ini(tmp_path("missing.ini"), NULL, &m, err, sizeof err), -1);
    assert_has(err, "missing.ini: cannot read: No such file or directory");
    assert_int_equal(model_from_ini(g_dir, NULL, &m, err, sizeof err), -1);
    assert_has(err, "cannot read: Is a directory");
}

/* --------------------------------------------------------------- recipe */

static void recipe_roundtrip(const TrainConfig *t)
{
    char text[4096], err[512];
    int n = train_format(t, text, sizeof text);
    assert_true(n > 0 && (size_t)n < sizeof text);
    assert_int_equal((int)strlen(text), n);
    TrainConfig back;
    train_config_default(&back);
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        char *eq = strstr(line, " = ");
        assert_non_null(eq);
        *eq = '\0';
        if (train_key_set(&back, line, eq + 3, err, sizeof err) != 0)
            fail_msg("%s = %s: %s", line, eq + 3, err);
        line = nl + 1;
    }
    assert_memory_equal(&back, t, sizeof back);
}

static void test_recipe(void **state)
{
    (void)state;
    TrainConfig t;
    train_config_default(&t);
    recipe_roundtrip(&t);

    char err[512];
    const char *set[][2] = {
        {"epochs", "17"},         {"batch", "33"},          {"seed", "18446744073709551615"},
        {"optimizer", "adam"},    {"lr", "0.0123456789"},   {"momentum", "0.95"},
        {"nesterov", "no"},       {"weight_decay", "1e-7"}, {"beta1", "0.85"},
        {"beta2", "0.9999"},      {"schedule", "step"},     {"step_every", "7"},
        {"step_gamma", "0.3"},    {"warmup_epochs", "2"},   {"augment", "flip"},
        {"input_scale", "0.00392156863"},                   {"input_mean", "0.4914,0.4822,0.4465"},
        {"input_std", "0.247, 0.243, 0.261"},
    };
    for (size_t i = 0; i < sizeof set / sizeof *set; i++)
        if (train_key_set(&t, set[i][0], set[i][1], err, sizeof err) != 0)
            fail_msg("%s = %s: %s", set[i][0], set[i][1], err);
    assert_true(t.seed == UINT64_MAX);
    assert_int_equal(t.opt.kind, OPT_ADAM);
    assert_int_equal(t.opt.schedule, SCHED_STEP);
    assert_int_equal(t.augment_flip, 1);
    assert_int_equal(t.augment_crop, 0);
    assert_true(t.norm.std[1] == 0.243f);
    recipe_roundtrip(&t);

    /* random values: %.9g brings every float back bit-exact */
    Rng r;
    rng_seed(&r, 7);
    for (int k = 0; k < 200; k++) {
        train_config_default(&t);
        t.opt.lr = rng_uniform(&r) + 1e-6f;
        t.opt.momentum = rng_uniform(&r);
        t.opt.weight_decay = rng_uniform(&r) * 1e-3f;
        t.opt.beta2 = 1.0f - rng_uniform(&r) * 1e-3f;
        t.norm.scale = rng_uniform(&r) + 1e-3f;
        t.norm.mean[0] = rng_normal(&r);
        t.norm.mean[1] = t.norm.mean[2] = t.norm.mean[0];
        t.norm.std[k % 3] = rng_uniform(&r) + 0.5f;
        t.seed = rng_next(&r);
        t.augment_crop = k & 1;
        t.augment_flip = (k >> 1) & 1;
        t.opt.schedule = (SchedKind)(k % 3);
        recipe_roundtrip(&t);
    }

    /* input_mean M sets all channels */
    assert_int_equal(train_key_set(&t, "input_mean", "0.5", err, sizeof err), 0);
    assert_true(t.norm.mean[0] == 0.5f && t.norm.mean[1] == 0.5f && t.norm.mean[2] == 0.5f);
    assert_int_equal(train_key_set(&t, "augment", "none", err, sizeof err), 0);
    assert_int_equal(t.augment_crop + t.augment_flip, 0);

    /* errors */
    assert_int_equal(train_key_set(&t, "learning_rate", "1", err, sizeof err), -1);
    assert_has(err, "unknown key 'learning_rate'");
    assert_has(err, "input_std");
    const char *bad[][2] = {
        {"epochs", "0"},     {"epochs", "2.5"},        {"batch", "x"},     {"seed", "-1"},
        {"seed", "1e3"},     {"optimizer", "SGD2"},    {"lr", "0"},        {"lr", "nan"},
        {"momentum", "1.5"}, {"nesterov", "maybe"},    {"schedule", "exp"}, {"augment", "crop,crop"},
        {"augment", "rot"},  {"input_mean", "1,2"},    {"input_std", "0"}, {"input_std", "1,1,-1"},
        {"step_gamma", ""},  {"warmup_epochs", "-1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        TrainConfig before = t;
        err[0] = '\0';
        if (train_key_set(&t, bad[i][0], bad[i][1], err, sizeof err) == 0)
            fail_msg("%s = '%s' accepted", bad[i][0], bad[i][1]);
        assert_has(err, "bad value");
        assert_has(err, bad[i][0]);
        assert_memory_equal(&before, &t, sizeof t);
    }
    assert_int_equal(train_key_set(&t, "optimizer", "rmsprop", err, sizeof err), -1);
    assert_has(err, "sgd or adam");

    /* snprintf-like: a short buffer gets the needed length, terminated */
    char small[16];
    int need = train_format(&t, small, sizeof small);
    char big[4096];
    assert_int_equal(train_format(&t, big, sizeof big), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(train_format(&t, NULL, 0), need);
}

/* ------------------------------------------------------------------ HDF5 */

static void assert_models_identical(const Model *a, const Model *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->dataset, b->dataset);
    assert_int_equal(a->classes, b->classes);
    assert_int_equal(a->trained, b->trained);
    assert_string_equal(a->trained_on, b->trained_on);
    assert_memory_equal(&a->train_seconds, &b->train_seconds, sizeof(double));
    assert_memory_equal(&a->accuracy, &b->accuracy, sizeof(double));
    assert_memory_equal(&a->train, &b->train, sizeof(TrainConfig));
    const Net *x = a->net, *y = b->net;
    assert_int_equal(x->n_layers, y->n_layers);
    assert_int_equal(x->output, y->output);
    for (int i = 0; i < x->n_layers; i++) {
        const Layer *l = &x->layers[i], *m = &y->layers[i];
        assert_string_equal(l->name, m->name);
        assert_int_equal(l->type, m->type);
        assert_int_equal(l->n_inputs, m->n_inputs);
        for (int k = 0; k < l->n_inputs; k++)
            assert_int_equal(l->inputs[k], m->inputs[k]);
        assert_memory_equal(&l->a, &m->a, sizeof l->a);
        assert_memory_equal(&l->out_shape, &m->out_shape, sizeof(Shape));
        assert_int_equal(l->n_params, m->n_params);
        for (int p = 0; p < l->n_params; p++) {
            const Param *pa = &l->params[p], *pb = &m->params[p];
            assert_string_equal(pa->name, pb->name);
            assert_int_equal(pa->ndim, pb->ndim);
            assert_memory_equal(pa->dims, pb->dims, sizeof pa->dims);
            assert_int_equal(pa->trainable, pb->trainable);
            assert_memory_equal(pa->data, pb->data, pa->size * sizeof(float));
        }
    }
}

/* The tiny model with provenance, a non-default recipe and awkward floats. */
static void trained_tiny(Model *m)
{
    load_tiny(m);
    m->trained = 1;
    snprintf(m->trained_on, sizeof m->trained_on, "fashion-mnist");
    snprintf(m->dataset, sizeof m->dataset, "fashion-mnist");
    m->train_seconds = 12.345678901234567;
    m->accuracy = 0.98765432109876543;
    m->train.seed = 0xfedcba9876543210ULL;
    m->train.opt.step_gamma = 0.123456789f;
    Param *w = layer_param(&m->net->layers[1], "weight");
    uint32_t odd[] = {0x80000000u /* -0 */, 0x00000001u /* denormal */, 0x7f7fffffu /* max */,
                      0x7fc00123u /* NaN with payload */, 0xff800000u /* -inf */};
    memcpy(w->data, odd, sizeof odd);
}

static void test_h5_roundtrip(void **state)
{
    (void)state;
    Model m, back;
    trained_tiny(&m);
    char err[1024] = "";
    const char *p = tmp_path("tiny.h5");
    if (model_save(&m, p, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (model_load(p, &back, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_models_identical(&m, &back);

    /* saving again over the file replaces it, and the copy still loads the same */
    Model back2;
    assert_int_equal(model_save(&back, p, err, sizeof err), 0);
    assert_int_equal(model_load(p, &back2, err, sizeof err), 0);
    assert_models_identical(&m, &back2);
    model_free(&back2);

    /* an untrained model keeps accuracy -1 and trained 0 */
    Model fresh;
    load_tiny(&fresh);
    assert_int_equal(model_save(&fresh, tmp_path("fresh.h5"), err, sizeof err), 0);
    assert_int_equal(model_load(tmp_path("fresh.h5"), &back2, err, sizeof err), 0);
    assert_models_identical(&fresh, &back2);
    assert_int_equal(back2.trained, 0);
    assert_true(back2.accuracy == -1);
    model_free(&back2);
    model_free(&fresh);

    /* no temporary file is left behind */
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp."))
            fail_msg("left behind: %s", e->d_name);
    closedir(d);

    /* a failed save names the file and leaves nothing */
    const char *bad = tmp_path("no/such/dir/x.h5");
    assert_int_equal(model_save(&m, bad, err, sizeof err), -1);
    assert_has(err, "x.h5");
    assert_has(err, "No such file or directory");

    model_free(&m);
    model_free(&back);
    model_free(&back);                  /* twice is fine */
    Model zero;
    memset(&zero, 0, sizeof zero);
    model_free(&zero);                  /* and on a zeroed model */
}

/* Every op, with non-default float attributes, survives save → load. */
static void test_h5_all_ops(void **state)
{
    (void)state;
    const char *ini = write_text(
        "all.ini",
        "[model]\ninput = 3,12,12\nclasses = 7\n"
        "[train]\nschedule = constant\ninput_std = 0.2,0.3,0.4\nseed = 99\n"
        "[c1]\ntype = conv\nfilters = 6\nkernel = 3,2\nstride = 1,2\npad = 1,0,1,1\n"
        "[bn]\ntype = batchnorm\neps = 1e-3\nmomentum = 0.0123\n"
        "[lr]\ntype = leaky_relu\nalpha = 0.1234567\n"
        "[lrn]\ntype = lrn\nsize = 3\nalpha = 2e-4\nbeta = 0.7\nk = 2\n"
        "[mp]\ntype = maxpool\nkernel = 3\nstride = 2\npad = 1\nceil_mode = yes\n"
        "[ap]\ntype = avgpool\nkernel = 2\nstride = 1\ncount_include_pad = yes\ninputs = lr\n"
        "[sg]\ntype = sigmoid\ninputs = mp\n"
        "[th]\ntype = tanh\ninputs = mp\n"
        "[cat]\ntype = concat\ninputs = sg, th, mp\n"
        "[gap]\ntype = global_avgpool\ninputs = ap\n"
        "[fl]\ntype = flatten\ninputs = cat\n"
        "[d1]\ntype = dense\nunits = 6\nbias = no\n"
        "[fg]\ntype = flatten\ninputs = gap\n"
        "[cat2]\ntype = concat\ninputs = d1, fg\n"
        "[drop]\ntype = dropout\nrate = 0.3\n"
        "[out]\ntype = dense\nunits = 7\n");
    char err[1024] = "";
    Model m, back;
    if (model_from_ini(ini, NULL, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(m.net->n_layers, 17);
    /* running statistics are parameters too, and must survive bit-exact */
    Param *rv = layer_param(&m.net->layers[2], "running_var");
    assert_non_null(rv);
    for (size_t i = 0; i < rv->size; i++)
        rv->data[i] = 1.0f + (float)i / 3.0f;
    const char *p = tmp_path("all.h5");
    if (model_save(&m, p, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (model_load(p, &back, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_models_identical(&m, &back);
    assert_true(back.net->layers[3].a.alpha == 0.1234567f);
    model_free(&m);
    model_free(&back);
}

static void expect_load_error(const char *p, const char *part)
{
    char err[1024] = "";
    Model m;
    memset(&m, 0x5a, sizeof m);
    if (model_load(p, &m, err, sizeof err) == 0)
        fail_msg("%s: loaded", p);
    assert_null(m.net);
    assert_true(strncmp(err, p, strlen(p)) == 0);
    if (part)
        assert_has(err, part);
    model_free(&m);
}

static void test_h5_corrupt(void **state)
{
    (void)state;
    Model m;
    trained_tiny(&m);
    char err[1024];
    const char *good = tmp_path("good.h5");
    assert_int_equal(model_save(&m, good, err, sizeof err), 0);
    model_free(&m);

    expect_load_error(tmp_path("absent.h5"), ": cannot read: No such file or directory");
    expect_load_error(g_dir, "cannot read: Is a directory");
    const char *p = tmp_path("empty.h5");
    write_bytes(p, "", 0);
    expect_load_error(p, ": not an HDF5 file");

    Rng r;
    rng_seed(&r, 42);
    unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rng_next(&r);
    p = tmp_path("junk.h5");
    write_bytes(p, junk, sizeof junk);
    expect_load_error(p, "junk.h5: not an HDF5 file");

    size_t n;
    unsigned char *bytes = read_all(good, &n);
    p = tmp_path("half.h5");
    write_bytes(p, bytes, n / 2);
    expect_load_error(p, NULL);
    /* every truncation point on a coarse grid, and just short of the end */
    for (size_t cut = 1; cut < n; cut += n / 61 + 1) {
        write_bytes(p, bytes, cut);
        expect_load_error(p, NULL);
    }
    write_bytes(p, bytes, n - 1);
    expect_load_error(p, NULL);

    /* a damaged weight: the checksum catches it */
    Model t;
    load_tiny(&t);
    const Param *w = layer_param(&t.net->layers[6], "weight");
    assert_int_equal(model_save(&t, good, err, sizeof err), 0);
    free(bytes);
    bytes = read_all(good, &n);
    unsigned char *at = memmem(bytes, n, w->data, 64);
    assert_non_null(at);
    at[40] ^= 0x10;
    write_bytes(p, bytes, n);
    expect_load_error(p, "/params/dense1/weight: cannot read");
    model_free(&t);

    /* the signature followed by junk */
    memcpy(junk, bytes, 16);
    write_bytes(p, junk, sizeof junk);
    expect_load_error(p, NULL);
    free(bytes);
}

/* Opens a saved model for editing with the HDF5 API. */
static hid_t edit(const char *p)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static const char *saved_copy(const char *name)
{
    Model m;
    trained_tiny(&m);
    char err[1024];
    const char *p = tmp_path(name);
    if (model_save(&m, p, err, sizeof err) != 0)
        fail_msg("%s", err);
    model_free(&m);
    return p;
}

static void put_floats(hid_t loc, const char *name, int ndim, const hsize_t *dims)
{
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    hsize_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= dims[k];
    float *zeros = calloc(n, sizeof *zeros);
    assert_int_equal(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros), 0);
    free(zeros);
    H5Dclose(d);
    H5Sclose(s);
}

static void test_h5_bad_contents(void **state)
{
    (void)state;
    /* wrong parameter shape */
    const char *p = saved_copy("shape.h5");
    hid_t f = edit(p);
    assert_int_equal(H5Ldelete(f, "/params/conv1/weight", H5P_DEFAULT), 0);
    put_floats(f, "/params/conv1/weight", 4, (hsize_t[]){4, 1, 5, 5});
    H5Fclose(f);
    expect_load_error(p, "shape.h5: /params/conv1/weight: shape 4x1x3x3 expected, file has 4x1x5x5");

    p = saved_copy("rank.h5");
    f = edit(p);
    assert_int_equal(H5Ldelete(f, "/params/dense1/bias", H5P_DEFAULT), 0);
    put_floats(f, "/params/dense1/bias", 2, (hsize_t[]){10, 1});
    H5Fclose(f);
    expect_load_error(p, "/params/dense1/bias: shape 10 expected, file has 10x1");

    /* a parameter whose chunk was never written (HDF5 would read zeros) */
    p = saved_copy("hole.h5");
    f = edit(p);
    assert_int_equal(H5Ldelete(f, "/params/dense1/bias", H5P_DEFAULT), 0);
    hsize_t ten = 10;
    hid_t hs = H5Screate_simple(1, &ten, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &ten);
    H5Dclose(H5Dcreate2(f, "/params/dense1/bias", H5T_IEEE_F32LE, hs, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5Pclose(dcpl);
    H5Sclose(hs);
    H5Fclose(f);
    expect_load_error(p, "hole.h5: /params/dense1/bias: 0 of its 1 chunks stored");

    /* missing parameter */
    p = saved_copy("missing.h5");
    f = edit(p);
    assert_int_equal(H5Ldelete(f, "/params/conv1/bias", H5P_DEFAULT), 0);
    H5Fclose(f);
    expect_load_error(p, "missing.h5: missing /params/conv1/bias");
    p = saved_copy("missing_group.h5");
    f = edit(p);
    assert_int_equal(H5Ldelete(f, "/params", H5P_DEFAULT), 0);
    H5Fclose(f);
    expect_load_error(p, "missing /params/conv1/weight");

    /* a parameter no layer declares */
    p = saved_copy("extra.h5");
    f = edit(p);
    put_floats(f, "/params/conv2/bias", 1, (hsize_t[]){4});
    H5Fclose(f);
    expect_load_error(p, "/params/conv2/bias: layer conv2 (conv) has no parameter bias");
    p = saved_copy("extra_layer.h5");
    f = edit(p);
    hid_t g = H5Gcreate2(f, "/params/relu1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    put_floats(g, "weight", 1, (hsize_t[]){4});
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(p, "/params/relu1: no layer");

    /* format_version */
    p = saved_copy("version.h5");
    f = edit(p);
    assert_int_equal(H5Adelete(f, "format_version"), 0);
    int64_t seven = 7;
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &seven);
    H5Aclose(a);
    H5Sclose(s);
    H5Fclose(f);
    expect_load_error(p, "version.h5: format_version 7 not supported (this nnbench reads 1)");

    p = saved_copy("noversion.h5");
    f = edit(p);
    H5Adelete(f, "format_version");
    H5Fclose(f);
    expect_load_error(p, "noversion.h5: missing attribute format_version");

    /* a string where a number belongs */
    p = saved_copy("strversion.h5");
    f = edit(p);
    H5Adelete(f, "format_version");
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 2);
    s = H5Screate(H5S_SCALAR);
    a = H5Acreate2(f, "format_version", st, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "1");
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(st);
    H5Fclose(f);
    expect_load_error(p, "format_version: 1 number expected");

    /* no graph */
    p = saved_copy("nonodes.h5");
    f = edit(p);
    assert_int_equal(H5Ldelete(f, "/graph/nodes", H5P_DEFAULT), 0);
    H5Fclose(f);
    expect_load_error(p, "nonodes.h5: missing /graph/nodes");

    /* a bad recipe value */
    p = saved_copy("recipe.h5");
    f = edit(p);
    hid_t tg = H5Gopen2(f, "/train", H5P_DEFAULT);
    H5Adelete(tg, "lr");
    st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 5);
    s = H5Screate(H5S_SCALAR);
    a = H5Acreate2(tg, "lr", st, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "fast");
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(st);
    H5Gclose(tg);
    H5Fclose(f);
    expect_load_error(p, "recipe.h5: /train lr: bad value 'fast'");

    /* an HDF5 file that is not a model */
    p = tmp_path("other.h5");
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    put_floats(f, "data", 1, (hsize_t[]){3});
    H5Fclose(f);
    expect_load_error(p, "other.h5: missing attribute format_version");
}

/* Replaces a root string attribute with a variable-length UTF-8 one, as h5py writes. */
static void put_vlen_attr(const char *p, const char *name, const char *value)
{
    hid_t f = edit(p);
    H5Adelete(f, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_int_equal(H5Awrite(a, t, &value), 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
}

static void test_h5_foreign_strings(void **state)
{
    (void)state;
    const char *p = saved_copy("vlen.h5");
    put_vlen_attr(p, "name", "from-h5py");
    char err[1024];
    Model m;
    if (model_load(p, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(m.name, "from-h5py");
    assert_string_equal(m.trained_on, "fashion-mnist");
    model_free(&m);

    char long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    put_vlen_attr(p, "name", long_name);
    expect_load_error(p, "attribute /name: longer than 63 characters");
}

/* The same row layout as the writer's, to edit /graph/nodes. */
typedef struct {
    char name[64], op[64], inputs[512], attrs[1024];
    int out_shape[3];
} Row;

static hid_t row_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(Row));
    const struct {
        const char *n;
        size_t off, size;
    } m[] = {{"name", offsetof(Row, name), 64},
             {"op", offsetof(Row, op), 64},
             {"inputs", offsetof(Row, inputs), 512},
             {"attrs", offsetof(Row, attrs), 1024}};
    for (int i = 0; i < 4; i++) {
        hid_t s = H5Tcopy(H5T_C_S1);
        H5Tset_size(s, m[i].size);
        H5Tinsert(t, m[i].n, m[i].off, s);
        H5Tclose(s);
    }
    hsize_t three = 3;
    hid_t arr = H5Tarray_create2(H5T_NATIVE_INT, 1, &three);
    H5Tinsert(t, "out_shape", offsetof(Row, out_shape), arr);
    H5Tclose(arr);
    return t;
}

/* Rewrites row `i` of /graph/nodes with `fn` applied. */
static void edit_row(const char *p, int i, void (*fn)(Row *))
{
    hid_t f = edit(p);
    hid_t d = H5Dopen2(f, "/graph/nodes", H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t t = row_type();
    Row rows[6];
    assert_int_equal(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    fn(&rows[i]);
    assert_int_equal(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

static void set_op(Row *r) { snprintf(r->op, sizeof r->op, "maxpol"); }
static void set_kernel(Row *r) { snprintf(r->attrs, sizeof r->attrs, "filters = 4; kernel = 5; pad = 1"); }
static void set_attr_junk(Row *r) { snprintf(r->attrs, sizeof r->attrs, "filters 4"); }
static void set_input(Row *r) { snprintf(r->inputs, sizeof r->inputs, "relu1,conv9"); }
static void set_shape(Row *r) { r->out_shape[0] = 99; }

static void test_h5_bad_graph(void **state)
{
    (void)state;
    const char *p = saved_copy("g_op.h5");
    edit_row(p, 4, set_op);
    expect_load_error(p, "unknown op 'maxpol'");
    /* a changed attribute: the stored parameters no longer fit */
    p = saved_copy("g_kernel.h5");
    edit_row(p, 0, set_kernel);
    expect_load_error(p, "out_shape");
    p = saved_copy("g_attr.h5");
    edit_row(p, 0, set_attr_junk);
    expect_load_error(p, "conv1 attrs: 'filters 4' is not key = value");
    p = saved_copy("g_input.h5");
    edit_row(p, 3, set_input);
    expect_load_error(p, "input 'conv9' is not an earlier layer");
    p = saved_copy("g_shape.h5");
    edit_row(p, 5, set_shape);
    expect_load_error(p, "/graph/nodes dense1: out_shape 99x1x1 stored");
}

/* -------------------------------------------------------------- resolve */

static void test_resolve(void **state)
{
    (void)state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *zoo = tmp_path("zoo");
    assert_int_equal(mkdir(zoo, 0755), 0);
    assert_int_equal(chdir(zoo), 0);
    assert_int_equal(mkdir("configs", 0755), 0);
    assert_int_equal(mkdir("configs/models", 0755), 0);
    write_bytes("configs/models/lenet-t.ini", "", 0);
    write_bytes("configs/models/mlp-t.ini", "", 0);
    write_bytes("local.ini", "", 0);

    char path[4096], err[1024];
    assert_int_equal(model_resolve("mlp-t", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "configs/models/mlp-t.ini");
    assert_int_equal(model_resolve("lenet-t.ini", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "configs/models/lenet-t.ini");
    assert_int_equal(model_resolve("local.ini", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "local.ini");
    assert_int_equal(model_resolve("./configs/models/mlp-t.ini", path, sizeof path, err,
                                   sizeof err),
                     0);
    assert_string_equal(path, "./configs/models/mlp-t.ini");

    assert_int_equal(model_resolve("resnet99", path, sizeof path, err, sizeof err), -1);
    assert_has(err, "unknown model 'resnet99'");
    assert_has(err, "lenet-t, mlp-t");
    assert_int_equal(model_resolve("no/such.ini", path, sizeof path, err, sizeof err), -1);
    assert_has(err, "no/such.ini: cannot read");
    assert_int_equal(model_resolve("", path, sizeof path, err, sizeof err), -1);
    char tiny[8];
    assert_int_equal(model_resolve("mlp-t", tiny, sizeof tiny, err, sizeof err), -1);

    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini_parse),      cmocka_unit_test(test_ini_dataset),
        cmocka_unit_test(test_ini_errors),     cmocka_unit_test(test_recipe),
        cmocka_unit_test(test_h5_roundtrip),   cmocka_unit_test(test_h5_all_ops),
        cmocka_unit_test(test_h5_corrupt),
        cmocka_unit_test(test_h5_bad_contents), cmocka_unit_test(test_h5_bad_graph),
        cmocka_unit_test(test_h5_foreign_strings),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
