/* nnbench report, called as cmd_report on synthetic results: runs.csv has
 * a header and a row per run with every column (parsed back with libcsv),
 * each figure's PNG and SVG (and its data and script) exist and are not
 * empty, a figure with no variation in its x is left out, nothing temporary
 * is left behind; a bad results file exits 2 and a failing gnuplot 1. The
 * figure checks are skipped when gnuplot is not on PATH. */
/* before cmocka.h, whose fail() macro would rename harness.h's fail() */
#include "harness/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <csv.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/tmpfiles.h"
#include "harness/results.h"

static const char *figures[] = {"error_vs_weight_bits", "error_vs_io",    "error_vs_crossbar",
                                "cores_vs_crossbar",    "error_vs_cores", "transform_vs_train"};
#define N_FIGURES (sizeof figures / sizeof *figures)

/* ------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("test_report");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = strdup(path);
    assert_non_null(copy);
    int found = 0;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char p[1024];
        snprintf(p, sizeof p, "%s/gnuplot", dir);
        found = access(p, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* A run of model m (0, 1), strategy s (0, 1) and hardware point k. */
static RunRecord run(int m, int s, int k)
{
    static const int bits[] = {2, 4, 8}, rows[] = {64, 128, 256}, io[] = {4, 6, 8};
    RunRecord r;
    memset(&r, 0, sizeof r);
    /* a name gnuplot's quoting must survive */
    snprintf(r.model, sizeof r.model, m ? "mlp \"v2\" \\ #1" : "lenet5");
    snprintf(r.dataset, sizeof r.dataset, m ? "fashion-mnist" : "mnist");
    snprintf(r.hw, sizeof r.hw, "tianji-ann");
    snprintf(r.strategy, sizeof r.strategy, s ? "reform" : "naive");
    snprintf(r.job, sizeof r.job, "model=%s hw=tianji-ann strategy=%s seed=1 weights.bits=%d crossbar.rows=%d",
             r.model, r.strategy, bits[k], rows[k]);
    snprintf(r.status, sizeof r.status, "ok");
    r.seed = 1;
    r.weights_bits = bits[k];
    r.io_bits = io[k];
    r.crossbar_rows = rows[k];
    r.crossbar_cols = 256;
    r.pim_adc_bits = -1;
    r.approx_width = 16;
    r.orig_accuracy = m ? 0.90 : 0.985;
    r.added_error_pp = (s ? 0.2 : 3.0) / (k + 1) + 0.1 * m;
    r.compiled_accuracy = r.orig_accuracy - r.added_error_pp / 100;
    r.core_ops = 4000 >> k;
    r.cores = (long long)((m ? 300 : 120) * (s ? 1.0 : 1.3)) >> k;
    r.cores_lower_bound = (m ? 200 : 52) >> k;
    r.traffic = 1000000;
    r.neurons = 20000;
    r.utilization = 0.5 + 0.1 * k;
    r.transform_s = (s ? 2.5 : 0.4) * (m + 1);
    r.train_s = m ? 24 : 31;
    r.images_per_s = 1e5;
    r.job_s = r.transform_s + 1;
    r.test_images = 10000;
    r.axis[0] = bits[k];
    r.axis[1] = rows[k];
    return r;
}

/* 2 models x 2 strategies x 3 hardware points, 2 SNN runs and a failed
 * job whose error text needs quoting: 15 runs. With `same_bits`, every
 * run has 8-bit weights. */
static const char *make_results(const char *name, int same_bits)
{
    Results r;
    results_init(&r);
    r.n_axes = 2;
    snprintf(r.axis_key[0], sizeof r.axis_key[0], "weights.bits");
    snprintf(r.axis_key[1], sizeof r.axis_key[1], "crossbar.rows");
    for (int m = 0; m < 2; m++)
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 3; k++) {
                RunRecord rec = run(m, s, k);
                if (same_bits)
                    rec.weights_bits = 8, rec.axis[0] = 8;
                assert_int_equal(results_add(&r, &rec), 0);
            }
    for (int w = 0; w < 2; w++) { /* SNN: io_window 8 and 16 */
        RunRecord rec = run(0, 1, 2);
        snprintf(rec.hw, sizeof rec.hw, "tianji-snn");
        rec.io_window = 8 << w;
        rec.added_error_pp = w ? 0.5 : 1.5;
        rec.axis[0] = NAN;
        assert_int_equal(results_add(&r, &rec), 0);
    }
    RunRecord bad = run(1, 0, 0);
    snprintf(bad.status, sizeof bad.status, "failed");
    snprintf(bad.error, sizeof bad.error, "models/mlp.h5: \"weights.bits\" = 2, too few");
    bad.added_error_pp = bad.orig_accuracy = bad.compiled_accuracy = -1;
    bad.cores = -1;
    assert_int_equal(results_add(&r, &bad), 0);
    snprintf(r.meta.version, sizeof r.meta.version, "0.1.0");
    snprintf(r.meta.host, sizeof r.meta.host, "test");
    r.meta.ranks = 1;
    const char *path = tmp_path(name);
    char err[1024];
    if (results_save(&r, path, err, sizeof err))
        fail_msg("%s", err);
    results_free(&r);
    return path;
}

static int report(const char *results, const char *dir)
{
    char *argv[] = {"report", (char *)results, "-o", (char *)dir, NULL};
    return cmd_report(dir ? 4 : 2, argv);
}

typedef struct {
    size_t fields, records, widest, narrowest;
} CsvCount;

static void on_field(void *s, size_t len, void *data)
{
    (void)s, (void)len;
    ((CsvCount *)data)->fields++;
}

static void on_record(int ch, void *data)
{
    (void)ch;
    CsvCount *c = data;
    if (c->fields > c->widest)
        c->widest = c->fields;
    if (c->records == 0 || c->fields < c->narrowest)
        c->narrowest = c->fields;
    c->records++;
    c->fields = 0;
}

/* Records and fields of a CSV file, by libcsv's parser. */
static CsvCount count_csv(const char *path)
{
    size_t n;
    unsigned char *text = read_all(path, &n);
    struct csv_parser p;
    assert_int_equal(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
    CsvCount c;
    memset(&c, 0, sizeof c);
    assert_int_equal(csv_parse(&p, text, n, on_field, on_record, &c), n);
    assert_int_equal(csv_fini(&p, on_field, on_record, &c), 0);
    csv_free(&p);
    free(text);
    return c;
}

static size_t count_lines(const char *path)
{
    size_t n, lines = 0;
    unsigned char *text = read_all(path, &n);
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    free(text);
    return lines;
}

static long file_size(const char *dir, const char *name, const char *ext)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int temporaries_in(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void assert_figure(const char *dir, const char *name)
{
    const char *ext[] = {"png", "svg", "gp", "dat"};
    for (size_t i = 0; i < 4; i++)
        if (file_size(dir, name, ext[i]) <= 0)
            fail_msg("%s/%s.%s is missing or empty", dir, name, ext[i]);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.png", dir, name);
    unsigned char *png = read_all(p, NULL);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
    snprintf(p, sizeof p, "%s/%s.svg", dir, name);
    unsigned char *svg = read_all(p, NULL);
    assert_has((const char *)svg, "<svg");
    assert_has((const char *)svg, "</svg>");
    free(svg);
}

/* --------------------------------------------------------------- tests */

static void test_report_default_folder(void **state)
{
    (void)state;
    const char *path = make_results("quick.h5", 0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/quick", g_dir);
    int rc = report(path, NULL);
    int gnuplot = have_gnuplot();
    assert_int_equal(rc, gnuplot ? EXIT_OK : EXIT_WORK);
    char csv[700];
    snprintf(csv, sizeof csv, "%s/runs.csv", dir);
    CsvCount c = count_csv(csv);
    assert_int_equal(c.records, 1 + 15);
    assert_int_equal(c.widest, RESULTS_N_COLUMNS + 2);
    assert_int_equal(c.narrowest, RESULTS_N_COLUMNS + 2);
    assert_int_equal(count_lines(csv), 1 + 15);
    unsigned char *text = read_all(csv, NULL);
    assert_has((const char *)text, "\"weights.bits\",\"crossbar.rows\"\n");
    assert_has((const char *)text, "\"models/mlp.h5: \"\"weights.bits\"\" = 2, too few\"");
    free(text);
    if (!gnuplot) {
        print_message("gnuplot not on PATH: figure checks skipped\n");
        return;
    }
    for (size_t i = 0; i < N_FIGURES; i++)
        assert_figure(dir, figures[i]);
    assert_int_equal(temporaries_in(dir), 0);
    /* error_vs_cores: a Pareto front per model, never one across models */
    char gp[700];
    snprintf(gp, sizeof gp, "%s/error_vs_cores.gp", dir);
    text = read_all(gp, NULL);
    assert_has((const char *)text, "title \"lenet5: Pareto front\"");
    assert_has((const char *)text, ": Pareto front\"\n");
    int fronts = 0;
    for (const char *t = (const char *)text; (t = strstr(t, "Pareto front\"")); t++)
        fronts++;
    assert_int_equal(fronts, 2);
    free(text);
    /* a second run replaces every file */
    assert_int_equal(report(path, NULL), EXIT_OK);
    assert_int_equal(temporaries_in(dir), 0);
}

/* Every run with the same weight bits: that figure is left out, the rest made. */
static void test_figure_without_variation_skipped(void **state)
{
    (void)state;
    if (!have_gnuplot())
        skip();
    const char *path = make_results("same-bits.h5", 1);
    const char *dir = tmp_path("same-bits-report");
    assert_int_equal(report(path, dir), EXIT_OK);
    assert_int_equal(file_size(dir, "error_vs_weight_bits", "png"), -1);
    assert_int_equal(file_size(dir, "error_vs_weight_bits", "gp"), -1);
    for (size_t i = 1; i < N_FIGURES; i++)
        assert_figure(dir, figures[i]);
}

/* No rows at all: the CSV is a header, no figure. */
static void test_empty_results(void **state)
{
    (void)state;
    Results r;
    results_init(&r);
    const char *path = tmp_path("empty.h5");
    char err[1024];
    if (results_save(&r, path, err, sizeof err))
        fail_msg("%s", err);
    const char *dir = tmp_path("empty-report");
    assert_int_equal(report(path, dir), EXIT_OK);
    char csv[700];
    snprintf(csv, sizeof csv, "%s/runs.csv", dir);
    CsvCount c = count_csv(csv);
    assert_int_equal(c.records, 1);
    assert_int_equal(c.widest, RESULTS_N_COLUMNS);
    for (size_t i = 0; i < N_FIGURES; i++)
        assert_int_equal(file_size(dir, figures[i], "png"), -1);
}

static void test_bad_results_file(void **state)
{
    (void)state;
    const char *garbage = write_text("garbage.h5", "not a results file\n");
    assert_int_equal(report(garbage, tmp_path("garbage-report")), EXIT_USAGE);
    assert_int_equal(access(tmp_path("garbage-report"), F_OK), -1); /* nothing created */
    assert_int_equal(report(tmp_path("missing.h5"), NULL), EXIT_USAGE);
    char *none[] = {"report", NULL};
    assert_int_equal(cmd_report(1, none), EXIT_USAGE);
    char *bogus[] = {"report", "x.h5", "--bogus", NULL};
    assert_int_equal(cmd_report(3, bogus), EXIT_USAGE);
    char *no_value[] = {"report", "x.h5", "-o", NULL};
    assert_int_equal(cmd_report(3, no_value), EXIT_USAGE);
}

/* The report with this PATH (a broken gnuplot first, or none at all):
 * exit 1, the CSV but no figure, no temporary file. */
static void expect_gnuplot_failure(const char *name, const char *search_path)
{
    char results[64], out[64];
    snprintf(results, sizeof results, "%s.h5", name);
    snprintf(out, sizeof out, "%s-report", name);
    const char *path = make_results(results, 0);
    char *old = strdup(getenv("PATH") ? getenv("PATH") : "");
    assert_non_null(old);
    setenv("PATH", search_path, 1);
    const char *dir = tmp_path(out);
    int rc = report(path, dir);
    setenv("PATH", old, 1);
    free(old);
    assert_int_equal(rc, EXIT_WORK);
    for (size_t i = 0; i < N_FIGURES; i++) {
        assert_int_equal(file_size(dir, figures[i], "png"), -1);
        assert_int_equal(file_size(dir, figures[i], "svg"), -1);
    }
    assert_true(file_size(dir, "runs", "csv") > 0);
    assert_int_equal(temporaries_in(dir), 0);
}

static void test_gnuplot_fails(void **state)
{
    (void)state;
    const char *bin = tmp_path("fake-bin");
    assert_int_equal(mkdir(bin, 0755), 0);
    char fake[700];
    snprintf(fake, sizeof fake, "%s/gnuplot", bin);
    /* writes half a figure, complains, fails */
    const char *script = "#!/bin/sh\n"
                         "printf 'half' > \"$(echo \"$2\" | sed 's/.*outbase=.\\(.*\\)./\\1/').png\"\n"
                         "echo 'line 3: all points y value undefined!' >&2\nexit 3\n";
    write_bytes(fake, script, strlen(script));
    assert_int_equal(chmod(fake, 0755), 0);
    char search[800];
    snprintf(search, sizeof search, "%s:/usr/bin:/bin", bin); /* sed, for the script */
    expect_gnuplot_failure("gnuplot-fails", search);
}

static void test_gnuplot_missing(void **state)
{
    (void)state;
    const char *bin = tmp_path("empty-bin");
    assert_int_equal(mkdir(bin, 0755), 0);
    expect_gnuplot_failure("gnuplot-missing", bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_default_folder),
        cmocka_unit_test(test_figure_without_variation_skipped),
        cmocka_unit_test(test_empty_results),
        cmocka_unit_test(test_bad_results_file),
        cmocka_unit_test(test_gnuplot_fails),
        cmocka_unit_test(test_gnuplot_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
