/* harness/results: the sweep's results table saved and loaded exactly
 * (0, 1 and 3 axes, NaN axis values, empty tables, overlong strings, the
 * metadata); failed saves leave no temporary file and the old file intact;
 * missing, garbage, truncated and tampered files give a clean error naming
 * the file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/tmpfiles.h"
#include "harness/results.h"

/* ------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("test_results");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

/* Entries of g_dir whose name contains `part`. */
static int entries_with(const char *part)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part);
    closedir(d);
    return n;
}

/* A record whose every field depends on i. */
static RunRecord record(int i, int n_axes)
{
    RunRecord rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.model, sizeof rec.model, i % 2 ? "lenet5" : "mlp");
    snprintf(rec.dataset, sizeof rec.dataset, "mnist");
    snprintf(rec.hw, sizeof rec.hw, "configs/hw/tianji-ann.ini");
    snprintf(rec.strategy, sizeof rec.strategy, i % 3 ? "naive" : "reform");
    snprintf(rec.job, sizeof rec.job, "model=%s hw=%s strategy=%s seed=%d weights.bits=%d", rec.model,
             rec.hw, rec.strategy, i, 2 + i);
    rec.seed = i;
    int failed = i == 2;
    snprintf(rec.status, sizeof rec.status, failed ? "failed" : "ok");
    if (failed)
        snprintf(rec.error, sizeof rec.error, "models/x.h5: cannot read: \"quoted\", with, commas\n");
    rec.weights_bits = 2 + i;
    rec.io_bits = 8;
    rec.io_window = i % 2 ? 16 : 0;
    rec.crossbar_rows = 64 << (i % 3);
    rec.crossbar_cols = 256;
    rec.pim_adc_bits = -1;
    rec.approx_width = 16;
    rec.orig_accuracy = failed ? -1 : 0.9856;
    rec.compiled_accuracy = failed ? -1 : 0.1 + 0.2 * i; /* inexact in binary */
    rec.added_error_pp = failed ? -1 : 100 * (rec.orig_accuracy - rec.compiled_accuracy);
    rec.core_ops = 1000 + i;
    rec.cores = ((long long)1 << 60) + i; /* beyond a double's 53 bits */
    rec.cores_lower_bound = 52;
    rec.traffic = -1;
    rec.neurons = 123456789012LL;
    rec.utilization = 1.0 / 3;
    rec.transform_s = 1.25e-3 * (i + 1);
    rec.train_s = 31.5;
    rec.images_per_s = 5e4;
    rec.job_s = 2.5;
    rec.test_images = 10000;
    rec.rank = i % 4;
    for (int a = 0; a < RESULTS_MAX_AXES; a++)
        rec.axis[a] = a < n_axes ? (a == 1 && i % 2 ? NAN : i * 10.0 + a) : NAN;
    return rec;
}

static void fill_meta(RunMeta *m)
{
    snprintf(m->version, sizeof m->version, "0.1.0");
    snprintf(m->commit, sizeof m->commit, "0e90f913914fbb975936986c06df8bf18fefd8a9");
    snprintf(m->host, sizeof m->host, "node17.cluster");
    m->ranks = 64;
    snprintf(m->started, sizeof m->started, "2026-11-25T06:36:02Z");
    snprintf(m->finished, sizeof m->finished, "2026-11-25T07:01:44Z");
    m->config = strdup("[sweep]\nmodels = lenet5, mlp\n# comment \"quoted\"\n");
    assert_non_null(m->config);
}

static const char *axis_names[3] = {"weights.bits", "crossbar.rows", "io.window"};

static void make_results(Results *r, int n_rows, int n_axes)
{
    results_init(r);
    r->n_axes = n_axes;
    for (int a = 0; a < n_axes; a++)
        snprintf(r->axis_key[a], sizeof r->axis_key[a], "%s", axis_names[a]);
    for (int i = 0; i < n_rows; i++) {
        RunRecord rec = record(i, n_axes);
        assert_int_equal(results_add(r, &rec), 0);
    }
    fill_meta(&r->meta);
}

static void save_ok(const Results *r, const char *path)
{
    char err[1024];
    if (results_save(r, path, err, sizeof err))
        fail_msg("%s", err);
}

static void load_ok(const char *path, Results *r)
{
    char err[1024];
    if (results_load(path, r, err, sizeof err))
        fail_msg("%s", err);
}

/* Equal doubles, NaN equal to NaN. */
static void assert_same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        assert_true(isnan(a) && isnan(b));
    else
        assert_memory_equal(&a, &b, sizeof a);
}

static void assert_same_record(const RunRecord *a, const RunRecord *b, int n_axes)
{
    for (int c = 0; c < RESULTS_N_COLUMNS; c++) {
        const ResultsColumn *col = &results_columns[c];
        const char *x = (const char *)a + col->offset, *y = (const char *)b + col->offset;
        if (col->kind == RESULTS_COL_TEXT)
            assert_string_equal(x, y);
        else if (col->kind == RESULTS_COL_REAL)
            assert_same_double(*(const double *)(const void *)x, *(const double *)(const void *)y);
        else
            assert_memory_equal(x, y, col->size);
    }
    for (int i = 0; i < n_axes; i++)
        assert_same_double(a->axis[i], b->axis[i]);
}

static void assert_same_results(const Results *a, const Results *b)
{
    assert_int_equal(a->n_axes, b->n_axes);
    for (int i = 0; i < a->n_axes; i++)
        assert_string_equal(a->axis_key[i], b->axis_key[i]);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_same_record(&a->runs[i], &b->runs[i], a->n_axes);
    assert_string_equal(a->meta.version, b->meta.version);
    assert_string_equal(a->meta.commit, b->meta.commit);
    assert_string_equal(a->meta.host, b->meta.host);
    assert_int_equal(a->meta.ranks, b->meta.ranks);
    assert_string_equal(a->meta.started, b->meta.started);
    assert_string_equal(a->meta.finished, b->meta.finished);
    assert_int_equal(!a->meta.config, !b->meta.config);
    if (a->meta.config)
        assert_string_equal(a->meta.config, b->meta.config);
}

/* A load that must fail: the message starts with the file and has `part`. */
static void expect_load_error(const char *path, const char *part)
{
    char err[2048] = "";
    Results r;
    assert_int_equal(results_load(path, &r, err, sizeof err), -1);
    assert_int_equal(r.n, 0);
    assert_null(r.runs);
    assert_null(r.meta.config);
    if (strncmp(err, path, strlen(path)) != 0 || strncmp(err + strlen(path), ": ", 2) != 0)
        fail_msg("message '%s' does not start with 'PATH: '", err);
    if (part)
        assert_has(err, part);
    results_free(&r);
}

static void round_trip(int n_rows, int n_axes, const char *name)
{
    Results r, back;
    make_results(&r, n_rows, n_axes);
    const char *path = tmp_path(name);
    save_ok(&r, path);
    load_ok(path, &back);
    assert_same_results(&r, &back);
    for (size_t i = 0; i < back.n; i++) /* the slots of no axis read as NaN */
        for (int a = n_axes; a < RESULTS_MAX_AXES; a++)
            assert_true(isnan(back.runs[i].axis[a]));
    results_free(&r);
    results_free(&back);
    assert_int_equal(entries_with(".tmp."), 0);
}

/* --------------------------------------------------------------- tests */

static void test_add_and_find(void **state)
{
    (void)state;
    Results r;
    make_results(&r, 200, 1); /* several reallocations */
    assert_int_equal(r.n, 200);
    RunRecord rec = record(137, 1);
    assert_int_equal(results_find(&r, rec.job), 137);
    assert_int_equal(results_find(&r, "model=nosuch"), -1);
    results_free(&r);
    assert_int_equal(r.n, 0);
    assert_null(r.runs);
    results_free(&r); /* twice is harmless */
}

static void test_round_trip_no_axes(void **state)
{
    (void)state;
    round_trip(5, 0, "axes0.h5");
}

static void test_round_trip_one_axis(void **state)
{
    (void)state;
    round_trip(4, 1, "axes1.h5");
}

static void test_round_trip_three_axes_nan(void **state)
{
    (void)state;
    round_trip(7, 3, "axes3.h5"); /* axis 2 is NaN in odd rows */
}

static void test_round_trip_empty(void **state)
{
    (void)state;
    round_trip(0, 0, "empty0.h5");
    round_trip(0, 3, "empty3.h5");
    Results r;
    results_init(&r); /* all zero: no meta text, no config */
    save_ok(&r, tmp_path("zero.h5"));
    Results back;
    load_ok(tmp_path("zero.h5"), &back);
    assert_same_results(&r, &back);
    results_free(&back);
}

/* Fields filled to the last byte (no terminator) come back cut by one
 * character; text written with snprintf comes back as it was cut. */
static void test_long_strings_truncated(void **state)
{
    (void)state;
    Results r, back;
    make_results(&r, 2, 1);
    memset(r.runs[0].job, 'j', sizeof r.runs[0].job);
    memset(r.runs[0].strategy, 's', sizeof r.runs[0].strategy);
    memset(r.runs[0].error, 'e', sizeof r.runs[0].error);
    char *longer = malloc(600); /* as a caller would cut it */
    assert_non_null(longer);
    memset(longer, 'x', 599);
    longer[599] = '\0';
    strncpy(r.runs[1].error, longer, sizeof r.runs[1].error - 1);
    r.runs[1].error[sizeof r.runs[1].error - 1] = '\0';
    free(longer);
    memset(r.meta.host, 'h', sizeof r.meta.host);
    memset(r.meta.started, 't', sizeof r.meta.started);
    save_ok(&r, tmp_path("long.h5"));
    load_ok(tmp_path("long.h5"), &back);
    assert_int_equal(strlen(back.runs[0].job), RESULTS_TEXT - 1);
    assert_memory_equal(back.runs[0].job, r.runs[0].job, RESULTS_TEXT - 1);
    assert_int_equal(strlen(back.runs[0].strategy), sizeof back.runs[0].strategy - 1);
    assert_int_equal(strlen(back.runs[0].error), RESULTS_TEXT - 1);
    assert_string_equal(back.runs[1].error, r.runs[1].error);
    assert_int_equal(strlen(back.meta.host), sizeof back.meta.host - 1);
    assert_int_equal(strlen(back.meta.started), sizeof back.meta.started - 1);
    assert_string_equal(back.runs[1].job, r.runs[1].job);
    results_free(&r);
    results_free(&back);
}

static void test_meta_round_trip(void **state)
{
    (void)state;
    Results r, back;
    make_results(&r, 1, 0);
    /* no config at all */
    free(r.meta.config);
    r.meta.config = NULL;
    r.meta.finished[0] = '\0'; /* still running */
    save_ok(&r, tmp_path("meta1.h5"));
    load_ok(tmp_path("meta1.h5"), &back);
    assert_same_results(&r, &back);
    assert_null(back.meta.config);
    results_free(&back);
    /* an empty config, then one far beyond HDF5's 64 KiB compact attributes */
    r.meta.config = strdup("");
    save_ok(&r, tmp_path("meta2.h5"));
    load_ok(tmp_path("meta2.h5"), &back);
    assert_same_results(&r, &back);
    results_free(&back);
    free(r.meta.config);
    size_t big = 300000;
    r.meta.config = malloc(big + 1);
    assert_non_null(r.meta.config);
    for (size_t i = 0; i < big; i++)
        r.meta.config[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
    r.meta.config[big] = '\0';
    save_ok(&r, tmp_path("meta3.h5"));
    load_ok(tmp_path("meta3.h5"), &back);
    assert_same_results(&r, &back);
    results_free(&back);
    results_free(&r);
}

/* Saving over an existing file replaces it whole. */
static void test_save_replaces(void **state)
{
    (void)state;
    Results a, b, back;
    make_results(&a, 6, 3);
    make_results(&b, 2, 1);
    const char *path = tmp_path("replace.h5");
    save_ok(&a, path);
    save_ok(&b, path);
    load_ok(path, &back);
    assert_same_results(&b, &back);
    results_free(&a);
    results_free(&b);
    results_free(&back);
}

static void test_bad_axes_refused(void **state)
{
    (void)state;
    Results r;
    make_results(&r, 1, 2);
    char err[1024];
    const char *path = tmp_path("axes-bad.h5");
    snprintf(r.axis_key[1], sizeof r.axis_key[1], "weights.bits");
    assert_int_equal(results_save(&r, path, err, sizeof err), -1);
    assert_has(err, "appears twice");
    snprintf(r.axis_key[1], sizeof r.axis_key[1], "seed");
    assert_int_equal(results_save(&r, path, err, sizeof err), -1);
    assert_has(err, "name of a fixed column");
    r.axis_key[1][0] = '\0';
    assert_int_equal(results_save(&r, path, err, sizeof err), -1);
    assert_has(err, "axis 2: no name");
    r.n_axes = RESULTS_MAX_AXES + 1;
    assert_int_equal(results_save(&r, path, err, sizeof err), -1);
    assert_has(err, path);
    assert_int_equal(access(path, F_OK), -1);
    results_free(&r);
}

/* A failed save leaves no temporary file and the previous file as it was. */
static void test_failed_save_leaves_nothing(void **state)
{
    (void)state;
    Results r;
    make_results(&r, 3, 1);
    char err[1024];
    /* a folder that does not exist */
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/folder/r.h5", g_dir);
    assert_int_equal(results_save(&r, path, err, sizeof err), -1);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_has(err, "No such file or directory");
    /* the target is a folder: the temporary file is written, the rename fails */
    const char *dir = tmp_path("a-folder.h5");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(results_save(&r, dir, err, sizeof err), -1);
    assert_has(err, dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(entries_with(".tmp."), 0);
    /* a refused save keeps the existing file byte for byte */
    const char *keep = tmp_path("keep.h5");
    save_ok(&r, keep);
    size_t n0, n1;
    unsigned char *before = read_all(keep, &n0);
    r.n_axes = -1;
    assert_int_equal(results_save(&r, keep, err, sizeof err), -1);
    unsigned char *after = read_all(keep, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(entries_with(".tmp."), 0);
    free(before);
    free(after);
    results_free(&r);
}

/* A full disk (here: RLIMIT_FSIZE, as `ulimit -f`): the journal append that
 * does not fit fails with the cause and leaves no torn record, so records
 * appended once there is room again still replay. (A results save that does
 * not fit is left out: HDF5 keeps the failed file open and crashes at exit.) */
static void test_full_disk(void **state)
{
    (void)state;
    Results r;
    make_results(&r, 3, 1);
    const char *path = tmp_path("full.h5");
    char err[1024], jpath[700];
    snprintf(jpath, sizeof jpath, "%s.journal", path);
    assert_int_equal(journal_append(path, &r.runs[0], 0, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(jpath, &st), 0);
    off_t one = st.st_size;
    save_ok(&r, path);
    size_t n0, n1;
    unsigned char *before = read_all(path, &n0);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)(one + one / 2); /* room for half a record more */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int append_rc = journal_append(path, &r.runs[1], 0, err, sizeof err);
    char append_err[1024];
    snprintf(append_err, sizeof append_err, "%s", err);
    lim.rlim_cur = (rlim_t)n0 / 2; /* half the results file */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int save_rc = results_save(&r, path, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);

    assert_int_equal(append_rc, -1);
    assert_has(append_err, "full.h5.journal: cannot append a finished job: File too large");
    assert_int_equal(stat(jpath, &st), 0);
    assert_int_equal(st.st_size, one); /* no torn record */
    assert_int_equal(save_rc, -1);
    assert_has(err, "full.h5: cannot write");
    unsigned char *after = read_all(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(entries_with(".tmp."), 0);

    /* With room again the journal goes on, and both records replay. */
    assert_int_equal(journal_append(path, &r.runs[2], 0, err, sizeof err), 0);
    Results back;
    results_init(&back);
    back.n_axes = 1;
    snprintf(back.axis_key[0], sizeof back.axis_key[0], "%s", axis_names[0]);
    assert_int_equal(journal_replay(path, &back, err, sizeof err), 2);
    assert_true(results_find(&back, r.runs[0].job) >= 0);
    assert_true(results_find(&back, r.runs[2].job) >= 0);
    results_free(&back);
    free(before);
    free(after);
    results_free(&r);
}

static void test_missing_garbage_truncated(void **state)
{
    (void)state;
    expect_load_error(tmp_path("missing.h5"), "cannot read");
    expect_load_error(write_text("garbage.h5", "not an hdf5 file at all\n"), "not an HDF5 file");
    write_bytes(tmp_path("empty.h5"), "", 0);
    expect_load_error(tmp_path("empty.h5"), "not an HDF5 file");
    expect_load_error(g_dir, "Is a directory");
    /* a real file cut short at several places */
    Results r;
    make_results(&r, 50, 3);
    const char *path = tmp_path("whole.h5");
    save_ok(&r, path);
    results_free(&r);
    size_t n;
    unsigned char *bytes = read_all(path, &n);
    const size_t cuts[] = {8, 100, 2048, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        const char *cut = tmp_path("cut.h5");
        write_bytes(cut, bytes, cuts[i]);
        expect_load_error(cut, NULL);
    }
    free(bytes);
}

/* An HDF5 file without /runs (here: an empty one). */
static void test_no_runs(void **state)
{
    (void)state;
    const char *path = tmp_path("noruns.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Fclose(f);
    expect_load_error(path, "no /runs table");
}

/* Rewrites one attribute of /meta of a saved file. */
static void set_meta_int(const char *path, const char *name, int v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gopen2(f, "meta", H5P_DEFAULT);
    assert_true(g >= 0);
    assert_true(H5Adelete(g, name) >= 0);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, name, H5T_NATIVE_INT, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Gclose(g);
    H5Fclose(f);
}

static void test_tampered_files(void **state)
{
    (void)state;
    Results r;
    make_results(&r, 3, 1);
    const char *path = tmp_path("tampered.h5");
    /* another format version */
    save_ok(&r, path);
    set_meta_int(path, "format_version", 2);
    expect_load_error(path, "format_version 2 not supported");
    save_ok(&r, path);
    set_meta_int(path, "ranks", -3);
    expect_load_error(path, "/meta/ranks");
    /* no /meta */
    save_ok(&r, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "meta", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_load_error(path, "no /meta");
    /* a string that fills its field: write the job column's raw bytes */
    save_ok(&r, path);
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "runs", H5P_DEFAULT);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, RESULTS_TEXT);
    hid_t only_job = H5Tcreate(H5T_COMPOUND, RESULTS_TEXT);
    H5Tinsert(only_job, "job", 0, str);
    char jobs[3][RESULTS_TEXT];
    memset(jobs, 'j', sizeof jobs);
    assert_true(H5Dwrite(d, only_job, H5S_ALL, H5S_ALL, H5P_DEFAULT, jobs) >= 0);
    H5Tclose(only_job);
    H5Tclose(str);
    H5Dclose(d);
    H5Fclose(f);
    expect_load_error(path, "row 1: column 'job' is not NUL-terminated");
    results_free(&r);
}

/* /runs written by someone else with a column of the wrong type. */
static void test_wrong_column_type(void **state)
{
    (void)state;
    Results r;
    make_results(&r, 0, 0);
    const char *path = tmp_path("wrongtype.h5");
    save_ok(&r, path);
    results_free(&r);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "runs", H5P_DEFAULT) >= 0);
    hid_t row = H5Tcreate(H5T_COMPOUND, 2 * sizeof(double));
    H5Tinsert(row, "job", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(row, "weights.bits", sizeof(double), H5T_NATIVE_DOUBLE);
    hsize_t dims = 1;
    hid_t s = H5Screate_simple(1, &dims, NULL);
    hid_t d = H5Dcreate2(f, "runs", row, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    double v[2] = {1, 2};
    H5Dwrite(d, row, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(s);
    H5Tclose(row);
    H5Fclose(f);
    expect_load_error(path, "column 'job': a fixed-length string of 256 bytes expected");
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tampering above makes HDF5 complain */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_find),
        cmocka_unit_test(test_round_trip_no_axes),
        cmocka_unit_test(test_round_trip_one_axis),
        cmocka_unit_test(test_round_trip_three_axes_nan),
        cmocka_unit_test(test_round_trip_empty),
        cmocka_unit_test(test_long_strings_truncated),
        cmocka_unit_test(test_meta_round_trip),
        cmocka_unit_test(test_save_replaces),
        cmocka_unit_test(test_bad_axes_refused),
        cmocka_unit_test(test_failed_save_leaves_nothing),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_missing_garbage_truncated),
        cmocka_unit_test(test_no_runs),
        cmocka_unit_test(test_tampered_files),
        cmocka_unit_test(test_wrong_column_type),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
