/* harness/sweep: sweep files expand into the right tasks (the cartesian
 * product, axes only on their presets, one training per zoo model and
 * seed, none for model files, stable job keys), and bad files are refused
 * naming the file, section and key. */
/* Before cmocka.h, whose fail() macro would clash with harness.h's fail(). */
#include "harness/sweep.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tmpfiles.h"

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("sweep");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

static int count(const SweepTask *t, int n, TaskKind kind)
{
    int c = 0;
    for (int k = 0; k < n; k++)
        c += t[k].kind == kind;
    return c;
}

static void test_expansion(void **state)
{
    (void)state;
    const char *onnx = write_text("x.onnx", ""); /* the sweep checks that model files exist */
    char text[2048];
    snprintf(text, sizeof text, "[sweep]\n"
                                           "name = a\n"
                                           "models = mlp, onx\n"
                                           "hw = tianji-ann, prime\n"
                                           "strategies = naive, reform\n"
                                           "seeds = 1, 2\n"
                                           "limit = 100\n"
                                           "[model.onx]\n"
                                           "file = %s\n"
                                           "dataset = mnist\n"
                                           "input_scale = 1\n"
                                           "[axis.bits]\n"
                                           "key = weights.bits\n"
                                           "values = 4, 8\n"
                                           "[axis.xbar]\n"
                                           "key = crossbar.rows, crossbar.cols\n"
                                           "values = 64, 128, 256\n"
                                           "presets = tianji-ann\n", onnx);
    const char *path = write_text("a.ini", text);
    Sweep s;
    SweepTask *t = NULL;
    int n = 0;
    char err[1024];
    if (sweep_load(path, &s, err, sizeof err) || sweep_expand(&s, &t, &n, err, sizeof err))
        fail_msg("%s", err);
    /* Trainings: mlp × 2 seeds. Jobs per (model, seed): tianji-ann 2 strategies ×
     * 2 bits × 3 sizes = 12, prime 2 × 2 = 4; mlp has 2 seeds, the file 1. */
    assert_int_equal(count(t, n, TASK_TRAIN), 2);
    assert_int_equal(count(t, n, TASK_JOB), 3 * 16);
    assert_string_equal(s.output, "results/a.h5");
    assert_string_equal(s.report, "results/a");
    assert_string_equal(s.axes[1].key, "crossbar.rows+crossbar.cols");
    int found = 0;
    for (int k = 0; k < n; k++) {
        if (t[k].kind != TASK_JOB)
            continue;
        const SweepTask *j = &t[k];
        if (!strcmp(s.hw[j->hw], "prime"))
            assert_int_equal(j->value[1], -1); /* the crossbar axis is tianji-ann's */
        if (j->train >= 0) {
            assert_int_equal(t[j->train].kind, TASK_TRAIN);
            assert_int_equal(t[j->train].seed, j->seed);
            assert_string_equal(t[j->train].model_path, j->model_path);
        } else {
            assert_string_equal(j->model_path, onnx);
            assert_int_equal(j->seed, -1);
        }
        found += !strcmp(j->key, "model=mlp hw=tianji-ann strategy=reform seed=2 weights.bits=8 "
                                 "crossbar.rows+crossbar.cols=64");
        for (int q = 0; q < k; q++) /* every key once */
            if (t[q].kind == TASK_JOB)
                assert_string_not_equal(t[q].key, j->key);
    }
    assert_int_equal(found, 1);
    /* The two seeds train into different cache files; the same seed always into one. */
    const SweepTask *train[2];
    for (int k = 0, m = 0; k < n; k++)
        if (t[k].kind == TASK_TRAIN)
            train[m++] = &t[k];
    assert_string_not_equal(train[0]->model_path, train[1]->model_path);
    SweepTask *again;
    int n2;
    assert_int_equal(sweep_expand(&s, &again, &n2, err, sizeof err), 0);
    assert_int_equal(n2, n);
    assert_string_equal(again[0].model_path, t[0].model_path);
    free(again);
    free(t);
    sweep_free(&s);
}

/* expect_error(text, want): loading (and expanding) fails with want in the message. */
static void expect_error(const char *text, const char *want)
{
    const char *path = write_text("bad.ini", text);
    Sweep s;
    SweepTask *t = NULL;
    int n = 0;
    char err[1024] = "";
    int rc = sweep_load(path, &s, err, sizeof err);
    if (!rc) {
        rc = sweep_expand(&s, &t, &n, err, sizeof err);
        free(t);
        sweep_free(&s);
    }
    assert_int_not_equal(rc, 0);
    if (!strstr(err, want) || !strstr(err, "bad.ini"))
        fail_msg("message '%s' lacks '%s' or the file name", err, want);
}

#define HEAD "[sweep]\nname = b\nhw = tianji-ann\nstrategies = naive\n"

/* An axis with `strategies` applies to those only (an ablation of
 * tune.phases for full; '+' joins a set inside one list item), and an
 * unknown strategy there is refused. */
static void test_strategy_axis(void **state)
{
    (void)state;
    const char *path = write_text("abl.ini", "[sweep]\nname = abl\nmodels = mlp\nhw = tianji-ann\n"
                                             "strategies = naive, full\n"
                                             "[axis.phases]\nkey = tune.phases\n"
                                             "values = none, range, range+free+round\nstrategies = full\n");
    Sweep s;
    SweepTask *t = NULL;
    int n = 0;
    char err[1024];
    if (sweep_load(path, &s, err, sizeof err) || sweep_expand(&s, &t, &n, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(count(t, n, TASK_JOB), 1 + 3); /* naive once, full per phase set */
    int naive = 0;
    for (int k = 0; k < n; k++)
        if (t[k].kind == TASK_JOB && !strcmp(s.strategies[t[k].strategy], "naive")) {
            naive++;
            assert_int_equal(t[k].value[0], -1);
        }
    assert_int_equal(naive, 1);
    free(t);
    sweep_free(&s);
    path = write_text("abl2.ini", "[sweep]\nname = abl\nmodels = mlp\nhw = tianji-ann\nstrategies = naive\n"
                                  "[axis.phases]\nkey = tune.phases\nvalues = none\nstrategies = full\n");
    assert_int_equal(sweep_load(path, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "'full' is not in [sweep] strategies"));
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_error("[sweep]\nname = b\nmodels = mlp\nstrategies = naive\n", "[sweep] hw: missing");
    expect_error(HEAD "models = mlp\nwhat = 1\n", "[sweep] what: unknown key");
    expect_error(HEAD "models = mlp, mlp\n", "[sweep] models: 'mlp' is listed twice");
    expect_error(HEAD "models = mlp,\n", "[sweep] models: a trailing comma");
    expect_error(HEAD "models = mlp\nlimit = -3\n", "[sweep] limit:");
    expect_error(HEAD "models = mlp\nseeds = x\n", "[sweep] seeds: 'x'");
    expect_error("[sweep]\nname = b\nmodels = mlp\nhw = nochip\nstrategies = naive\n", "[sweep] hw:");
    expect_error("[sweep]\nname = b\nmodels = mlp\nhw = tianji-ann\nstrategies = best\n", "[sweep] strategies: 'best'");
    expect_error(HEAD "models = m\n[model.m]\nzoo = mlp\nfile = x.h5\n", "[model.m] zoo: give exactly one");
    expect_error(HEAD "models = m\n[model.m]\nzoo = mlp\ncolour = red\n", "[model.m] colour: unknown key");
    expect_error(HEAD "models = m\n[model.m]\nfile = x.h5\nepochs = 3\n", "[model.m] epochs:");
    expect_error(HEAD "models = m\n[model.m]\nfile = x.onnx\ninput_std = 0\n", "[model.m] input_std:");
    expect_error(HEAD "models = nosuch\n", "[model.nosuch] zoo:");
    expect_error(HEAD "models = m\n[model.m]\nfile = no-such-model.onnx\n", "[model.m] file: cannot read 'no-such-model.onnx'");
    expect_error(HEAD "models = \n", "[sweep] models: empty");
    expect_error(HEAD "models = mlp\n[axis.a]\nvalues = 1\n", "[axis.a] key: missing");
    expect_error(HEAD "models = mlp\n[axis.a]\nkey = weights.bits\n", "[axis.a] values: missing");
    expect_error(HEAD "models = mlp\n[axis.a]\nkey = weights.bitz\nvalues = 4\n", "[axis.a] values:");
    expect_error(HEAD "models = mlp\n[axis.a]\nkey = weights.bits\nvalues = 4\npresets = prime\n",
                 "[axis.a] presets: 'prime' is not in [sweep] hw");
    expect_error(HEAD "models = mlp\n[axis.a]\nkey = weights.bits\nvalues = 4\n[axis.b]\nkey = weights.bits\n"
                      "values = 8\n",
                 "[axis.b] key: 'weights.bits' is already an axis");
    expect_error(HEAD "models = mlp\n[other]\nx = 1\n", "[other]: unknown section");
    expect_error("[model]\nname = x\n", "no [sweep] section");

    /* A few lines that multiply out to 64 x 7 x 16 x 16 x 3 jobs are refused
     * before anything is expanded. */
    char many[2048], seeds[512] = "", sizes[512] = "";
    for (int k = 1; k <= 64; k++)
        snprintf(seeds + strlen(seeds), sizeof seeds - strlen(seeds), "%s%d", k > 1 ? "," : "", k);
    for (int k = 1; k <= 16; k++)
        snprintf(sizes + strlen(sizes), sizeof sizes - strlen(sizes), "%s%d", k > 1 ? "," : "", 32 * k);
    snprintf(many, sizeof many,
             HEAD "models = mlp\nseeds = %s\n[axis.a]\nkey = weights.bits\nvalues = 2,3,4,5,6,7,8\n"
                  "[axis.b]\nkey = crossbar.rows\nvalues = %s\n[axis.c]\nkey = crossbar.cols\nvalues = %s\n"
                  "[axis.d]\nkey = io.bits\nvalues = 4,6,8\n",
             seeds, sizes, sizes);
    expect_error(many, "[sweep]: 3.441e+05 jobs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expansion), cmocka_unit_test(test_strategy_axis),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
