/* Unit tests for datasets/: the idx and CIFAR loaders on small files written
 * at test time (plain and gzip), the registry and search path, and -- when
 * present -- the real MNIST, Fashion-MNIST and CIFAR-10 copies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/datasets.h"

#define assert_has(s, sub)                                                                     \
    do {                                                                                       \
        if (!strstr((s), (sub)))                                                               \
            fail_msg("expected \"%s\" in: %s", (sub), (s));                                    \
    } while (0)

#define IMAGES_MAGIC 2051u
#define LABELS_MAGIC 2049u
#define RECORD 3073

/* Each test gets a fresh temp dir; cwd and NNBENCH_DATA are restored after. */
typedef struct {
    char dir[64];
    char cwd[PATH_MAX];
    char *saved_env;
} Fixture;

static int setup(void **state)
{
    Fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/nnbench-ds-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(fx->dir) || !getcwd(fx->cwd, sizeof fx->cwd)) {
        free(fx);
        return -1;
    }
    const char *env = getenv("NNBENCH_DATA");
    fx->saved_env = env ? strdup(env) : NULL;
    *state = fx;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    Fixture *fx = *state;
    int rc = chdir(fx->cwd);
    if (fx->saved_env)
        setenv("NNBENCH_DATA", fx->saved_env, 1);
    else
        unsetenv("NNBENCH_DATA");
    rc |= nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->saved_env);
    free(fx);
    return rc;
}

/* ---------------------------------------------------------------- helpers */

static void path_in(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_MAX);
}

static void make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static void write_bytes(const char *path, const void *data, size_t len, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (len)
            assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

static uint8_t pattern(size_t i, unsigned mod) { return (uint8_t)((i * 31u + 7u) % mod); }

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An idx file: magic, the header words, then `n` data bytes (copied from
 * data, or pattern(i, mod) when data is NULL). */
static void write_idx(const char *path, uint32_t magic, const uint32_t *words, int nwords,
                      const uint8_t *data, size_t n, unsigned mod, int gz)
{
    size_t head = 4 * (size_t)(nwords + 1);
    uint8_t *buf = malloc(head + n + 1);
    assert_non_null(buf);
    put_be32(buf, magic);
    for (int i = 0; i < nwords; i++)
        put_be32(buf + 4 * (i + 1), words[i]);
    for (size_t i = 0; i < n; i++)
        buf[head + i] = data ? data[i] : pattern(i, mod);
    write_bytes(path, buf, head + n, gz);
    free(buf);
}

/* Both idx files of a split in dir, with the standard names. */
static void write_split(const char *dir, int test, uint32_t nimg, uint32_t nlab, uint32_t rows,
                        uint32_t cols, int gz)
{
    char path[PATH_MAX];
    const char *prefix = test ? "t10k" : "train";
    const char *ext = gz ? ".gz" : "";
    char name[64];
    make_dirs(dir);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, ext);
    path_in(path, dir, name);
    uint32_t w[3] = {nimg, rows, cols};
    write_idx(path, IMAGES_MAGIC, w, 3, NULL, (size_t)nimg * rows * cols, 256, gz);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, ext);
    path_in(path, dir, name);
    write_idx(path, LABELS_MAGIC, &nlab, 1, NULL, nlab, 10, gz);
}

/* n CIFAR records; record r has label (r + first) % 10 unless bad_label >= 0. */
static void write_cifar(const char *path, int n, int first, int bad_label, int gz)
{
    uint8_t *buf = malloc((size_t)n * RECORD + 1);
    assert_non_null(buf);
    for (int r = 0; r < n; r++) {
        uint8_t *rec = buf + (size_t)r * RECORD;
        rec[0] = (uint8_t)(bad_label >= 0 && r == n - 1 ? bad_label : (r + first) % 10);
        for (int j = 0; j < RECORD - 1; j++)
            rec[1 + j] = pattern((size_t)(r + first) * 3072 + j, 256);
    }
    write_bytes(path, buf, (size_t)n * RECORD, gz);
    free(buf);
}

static void use_data_root(const char *dir)
{
    assert_int_equal(setenv("NNBENCH_DATA", dir, 1), 0);
}

/* ------------------------------------------------------------- idx files */

static void check_idx_round_trip(const Fixture *fx, int gz)
{
    char dir[PATH_MAX], path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, gz ? "gz" : "plain");
    write_split(dir, 1, 3, 3, 4, 5, gz);
    uint8_t *px = NULL, *lb = NULL;
    int n = 0, rows = 0, cols = 0, nl = 0;
    path_in(path, dir, gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte");
    assert_int_equal(idx_read_images(path, &px, &n, &rows, &cols, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows, 4);
    assert_int_equal(cols, 5);
    for (size_t i = 0; i < 60; i++)
        assert_int_equal(px[i], pattern(i, 256));
    path_in(path, dir, gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte");
    assert_int_equal(idx_read_labels(path, &lb, &nl, err, sizeof err), 0);
    assert_int_equal(nl, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(lb[i], pattern(i, 10));
    free(px);
    free(lb);
}

static void test_idx_round_trip_plain(void **state) { check_idx_round_trip(*state, 0); }
static void test_idx_round_trip_gz(void **state) { check_idx_round_trip(*state, 1); }

static void test_idx_count_from_header(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(path, fx->dir, "imgs.gz");
    uint32_t w[3] = {7, 28, 28};
    write_idx(path, IMAGES_MAGIC, w, 3, NULL, 7 * 28 * 28, 256, 1);
    uint8_t *px = NULL;
    int n = 0, rows = 0, cols = 0;
    assert_int_equal(idx_read_images(path, &px, &n, &rows, &cols, err, sizeof err), 0);
    assert_int_equal(n, 7);
    assert_int_equal(px[7 * 28 * 28 - 1], pattern(7 * 28 * 28 - 1, 256));
    free(px);
}

static void test_idx_bad_magic(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    uint8_t *out = NULL;
    int n, rows, cols;
    /* A labels file where images are expected, and the other way round. */
    path_in(path, fx->dir, "swapped-images");
    uint32_t nlab = 4;
    write_idx(path, LABELS_MAGIC, &nlab, 1, NULL, 4, 10, 0);
    assert_int_equal(idx_read_images(path, &out, &n, &rows, &cols, err, sizeof err), -1);
    assert_null(out);
    assert_has(err, path);
    assert_has(err, "bad magic 2049, expected 2051");
    assert_has(err, "labels file");

    path_in(path, fx->dir, "swapped-labels.gz");
    uint32_t w[3] = {1, 2, 2};
    write_idx(path, IMAGES_MAGIC, w, 3, NULL, 4, 256, 1);
    assert_int_equal(idx_read_labels(path, &out, &n, err, sizeof err), -1);
    assert_has(err, "bad magic 2051, expected 2049");

    path_in(path, fx->dir, "junk");
    write_bytes(path, "hello world, not idx", 20, 0);
    assert_int_equal(idx_read_labels(path, &out, &n, err, sizeof err), -1);
    assert_has(err, "bad magic");

    path_in(path, fx->dir, "tiny");
    write_bytes(path, "\0\0", 2, 0);
    assert_int_equal(idx_read_images(path, &out, &n, &rows, &cols, err, sizeof err), -1);
    assert_has(err, "too short");
}

static void test_idx_truncated_images(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    uint8_t *out = NULL;
    int n, rows, cols;
    uint32_t w[3] = {5, 4, 5};
    for (int gz = 0; gz < 2; gz++) {
        path_in(path, fx->dir, gz ? "short.gz" : "short");
        write_idx(path, IMAGES_MAGIC, w, 3, NULL, 37, 256, gz);
        assert_int_equal(idx_read_images(path, &out, &n, &rows, &cols, err, sizeof err), -1);
        assert_null(out);
        assert_has(err, path);
        assert_has(err, "truncated: header says 5 images of 4x5, file holds 37 bytes of pixel data");
    }
    /* Header cut short. */
    path_in(path, fx->dir, "short-header");
    write_bytes(path, "\0\0\x08\x03\0\0", 6, 0);
    assert_int_equal(idx_read_images(path, &out, &n, &rows, &cols, err, sizeof err), -1);
    assert_has(err, "truncated: idx header needs 16 bytes, file holds 6");
}

/* A .gz file cut in the middle of the compressed stream. */
static void test_idx_truncated_gzip_stream(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(path, fx->dir, "cut.gz");
    uint32_t w[3] = {50, 28, 28};
    /* Pseudo-random pixels so the stream does not compress to a few bytes. */
    uint8_t *data = malloc(50 * 28 * 28);
    assert_non_null(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < 50 * 28 * 28; i++)
        data[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    write_idx(path, IMAGES_MAGIC, w, 3, data, 50 * 28 * 28, 256, 1);
    free(data);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    uint8_t *out = NULL;
    int n, rows, cols;
    assert_int_equal(idx_read_images(path, &out, &n, &rows, &cols, err, sizeof err), -1);
    assert_null(out);
    assert_has(err, "truncated: header says 50 images of 28x28");
}

static void test_idx_truncated_labels(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(path, fx->dir, "t10k-labels-idx1-ubyte.gz");
    uint32_t nlab = 10000;
    write_idx(path, LABELS_MAGIC, &nlab, 1, NULL, 1234, 10, 1);
    uint8_t *out = NULL;
    int n;
    assert_int_equal(idx_read_labels(path, &out, &n, err, sizeof err), -1);
    assert_null(out);
    assert_has(err, path);
    assert_has(err, "truncated: header says 10000 labels, file holds 1234 bytes of label data");
}

/* Absurd headers are refused before anything is allocated. */
static void test_idx_implausible_header(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    uint8_t *out = NULL;
    int n, rows, cols;
    const uint32_t bad[][3] = {{0xffffffffu, 28, 28}, {10, 0xffffffffu, 0xffffffffu},
                               {0, 28, 28}, {10, 0, 28}, {200000, 28, 28}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path_in(path, fx->dir, "absurd");
        write_idx(path, IMAGES_MAGIC, bad[i], 3, NULL, 16, 256, 0);
        assert_int_equal(idx_read_images(path, &out, &n, &rows, &cols, err, sizeof err), -1);
        assert_null(out);
        assert_has(err, "implausible idx header");
    }
    uint32_t nlab = 0xffffffffu;
    write_idx(path, LABELS_MAGIC, &nlab, 1, NULL, 16, 10, 0);
    assert_int_equal(idx_read_labels(path, &out, &n, err, sizeof err), -1);
    assert_has(err, "implausible idx header");
}

static void test_idx_missing_file(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(path, fx->dir, "nope.gz");
    uint8_t *out = NULL;
    int n;
    assert_int_equal(idx_read_labels(path, &out, &n, err, sizeof err), -1);
    assert_has(err, path);
    assert_has(err, "cannot open");
}

/* ------------------------------------------------------------ CIFAR files */

static void test_cifar_round_trip(void **state)
{
    Fixture *fx = *state;
    char a[PATH_MAX], b[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(a, fx->dir, "data_batch_1.bin");
    path_in(b, fx->dir, "data_batch_2.bin.gz");
    write_cifar(a, 3, 0, -1, 0);
    write_cifar(b, 4, 3, -1, 1);
    uint8_t *px = NULL, *lb = NULL;
    int n = 0;
    assert_int_equal(cifar_read_batch(a, &px, &lb, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(cifar_read_batch(b, &px, &lb, &n, err, sizeof err), 0);
    assert_int_equal(n, 7);
    for (int r = 0; r < 7; r++) {
        assert_int_equal(lb[r], r % 10);
        for (int j = 0; j < 3072; j += 97)
            assert_int_equal(px[(size_t)r * 3072 + j], pattern((size_t)r * 3072 + j, 256));
    }
    free(px);
    free(lb);
}

static void test_cifar_bad_files(void **state)
{
    Fixture *fx = *state;
    char path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    uint8_t *px = NULL, *lb = NULL;
    int n = 0;
    /* Two good records first: a failing batch must leave them intact. */
    path_in(path, fx->dir, "good.bin");
    write_cifar(path, 2, 0, -1, 0);
    assert_int_equal(cifar_read_batch(path, &px, &lb, &n, err, sizeof err), 0);

    uint8_t junk[2 * RECORD + 5];
    memset(junk, 1, sizeof junk);
    for (int gz = 0; gz < 2; gz++) {
        path_in(path, fx->dir, gz ? "odd.bin.gz" : "odd.bin");
        write_bytes(path, junk, sizeof junk, gz);
        assert_int_equal(cifar_read_batch(path, &px, &lb, &n, err, sizeof err), -1);
        assert_has(err, path);
        assert_has(err, "6151 bytes is not a whole number of 3073-byte records");
    }
    path_in(path, fx->dir, "empty.bin");
    write_bytes(path, "", 0, 0);
    assert_int_equal(cifar_read_batch(path, &px, &lb, &n, err, sizeof err), -1);
    assert_has(err, "empty file");

    path_in(path, fx->dir, "label.bin.gz");
    write_cifar(path, 3, 0, 10, 1);
    assert_int_equal(cifar_read_batch(path, &px, &lb, &n, err, sizeof err), -1);
    assert_has(err, "record 2 has label 10");

    path_in(path, fx->dir, "absent.bin");
    assert_int_equal(cifar_read_batch(path, &px, &lb, &n, err, sizeof err), -1);
    assert_has(err, "cannot open");

    assert_int_equal(n, 2);
    assert_int_equal(lb[1], 1);
    free(px);
    free(lb);
}

/* --------------------------------------------------- registry and loading */

static void test_registry(void **state)
{
    (void)state;
    const char *const *names = dataset_names();
    assert_string_equal(names[0], "mnist");
    assert_string_equal(names[1], "fashion-mnist");
    assert_string_equal(names[2], "cifar10");
    assert_null(names[3]);
    Shape s;
    int classes;
    assert_int_equal(dataset_info("cifar10", &s, &classes), 0);
    assert_true(s.c == 3 && s.h == 32 && s.w == 32 && classes == 10);
    assert_int_equal(dataset_info("fashion-mnist", &s, &classes), 0);
    assert_true(s.c == 1 && s.h == 28 && s.w == 28 && classes == 10);
    assert_int_equal(dataset_info("mnist", NULL, NULL), 0);
    assert_int_equal(dataset_info("imagenet", &s, &classes), -1);

    Dataset ds;
    char err[DATASET_ERR_MAX] = "";
    assert_int_equal(dataset_load("imagenet", SPLIT_BOTH, &ds, err, sizeof err), -1);
    assert_has(err, "unknown data set 'imagenet' (known: mnist, fashion-mnist, cifar10)");
    assert_int_equal(dataset_load("mnist", (SplitMask)0, &ds, err, sizeof err), -1);
    assert_has(err, "bad split mask");
    dataset_free(&ds);
}

static void test_free_is_idempotent(void **state)
{
    Fixture *fx = *state;
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    dataset_free(&ds);
    dataset_free(&ds);
    dataset_free(NULL);
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "mnist");
    write_split(dir, 1, 2, 2, 28, 28, 1);
    use_data_root(fx->dir);
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    dataset_free(&ds);
    assert_null(ds.test_pixels);
    assert_int_equal(ds.test.n, 0);
    dataset_free(&ds);
}

static void test_load_idx(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "fashion-mnist");
    write_split(dir, 0, 7, 7, 28, 28, 1); /* gzip */
    write_split(dir, 1, 3, 3, 28, 28, 0); /* plain names without .gz */
    use_data_root(fx->dir);
    Dataset ds;
    assert_int_equal(dataset_load("fashion-mnist", SPLIT_BOTH, &ds, err, sizeof err), 0);
    assert_string_equal(ds.name, "fashion-mnist");
    char canon[PATH_MAX];
    assert_non_null(realpath(dir, canon));
    assert_string_equal(ds.root, canon);
    assert_int_equal(ds.classes, 10);
    assert_int_equal(ds.train.n, 7);
    assert_int_equal(ds.test.n, 3);
    assert_true(ds.test.shape.c == 1 && ds.test.shape.h == 28 && ds.test.shape.w == 28);
    assert_int_equal(ds.train.classes, 10);
    assert_ptr_equal(ds.train.pixels, ds.train_pixels);
    assert_ptr_equal(ds.test.labels, ds.test_labels);
    for (size_t i = 0; i < 3 * 784; i++)
        assert_int_equal(ds.test.pixels[i], pattern(i, 256));
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(ds.train.labels[i], pattern(i, 10));
    dataset_free(&ds);

    /* Only the requested split is loaded. */
    assert_int_equal(dataset_load("fashion-mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    assert_int_equal(ds.train.n, 0);
    assert_null(ds.train.pixels);
    assert_null(ds.train_labels);
    assert_int_equal(ds.test.n, 3);
    dataset_free(&ds);
}

static void test_load_label_out_of_range(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "mnist");
    write_split(dir, 1, 4, 4, 28, 28, 1);
    path_in(path, dir, "t10k-labels-idx1-ubyte.gz");
    const uint8_t labels[4] = {1, 9, 10, 0};
    uint32_t n = 4;
    write_idx(path, LABELS_MAGIC, &n, 1, labels, 4, 10, 1);
    use_data_root(fx->dir);
    Dataset ds;
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), -1);
    assert_has(err, "mnist: ");
    assert_has(err, "t10k-labels-idx1-ubyte.gz: label 10 at index 2 is out of range");
    assert_has(err, "get the MNIST idx files");
    assert_null(ds.test_pixels);
    assert_int_equal(ds.test.n, 0);
}

static void test_load_count_mismatch(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "mnist");
    write_split(dir, 0, 4, 3, 28, 28, 1);
    use_data_root(fx->dir);
    Dataset ds;
    assert_int_equal(dataset_load("mnist", SPLIT_TRAIN, &ds, err, sizeof err), -1);
    assert_has(err, "train-images-idx3-ubyte.gz holds 4 images but ");
    assert_has(err, "train-labels-idx1-ubyte.gz holds 3 labels");
}

static void test_load_wrong_image_size(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "mnist");
    write_split(dir, 1, 2, 2, 32, 32, 0);
    use_data_root(fx->dir);
    Dataset ds;
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), -1);
    assert_has(err, "images are 32x32, expected 28x28");
}

static void test_load_truncated_names_dataset(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "mnist");
    write_split(dir, 1, 2, 2, 28, 28, 1);
    path_in(path, dir, "t10k-images-idx3-ubyte.gz");
    uint32_t w[3] = {10000, 28, 28};
    write_idx(path, IMAGES_MAGIC, w, 3, NULL, 1234, 256, 1);
    use_data_root(fx->dir);
    Dataset ds;
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), -1);
    assert_has(err, "mnist: /");
    assert_has(err, "/mnist/t10k-images-idx3-ubyte.gz: truncated: header says 10000 images of "
                    "28x28, file holds 1234 bytes of pixel data");
}

static void test_load_cifar(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX], err[DATASET_ERR_MAX] = "";
    path_in(dir, fx->dir, "cifar10");
    make_dirs(dir);
    path_in(path, dir, "data_batch_1.bin.gz");
    write_cifar(path, 3, 0, -1, 1);
    path_in(path, dir, "data_batch_2.bin");
    write_cifar(path, 2, 3, -1, 0);
    /* Batch 3 is missing, so batch 4 must not be read. */
    path_in(path, dir, "data_batch_4.bin");
    write_cifar(path, 5, 0, -1, 0);
    path_in(path, dir, "test_batch.bin.gz");
    write_cifar(path, 4, 0, -1, 1);
    use_data_root(fx->dir);
    Dataset ds;
    assert_int_equal(dataset_load("cifar10", SPLIT_BOTH, &ds, err, sizeof err), 0);
    assert_int_equal(ds.train.n, 5);
    assert_int_equal(ds.test.n, 4);
    assert_true(ds.train.shape.c == 3 && ds.train.shape.h == 32 && ds.train.shape.w == 32);
    for (int r = 0; r < 5; r++)
        assert_int_equal(ds.train.labels[r], r % 10);
    assert_int_equal(ds.train.pixels[4 * 3072 + 5], pattern(4 * 3072 + 5, 256));
    dataset_free(&ds);

    /* A broken later batch fails the whole load, naming the file. */
    path_in(path, dir, "data_batch_2.bin");
    write_bytes(path, "xyz", 3, 0);
    assert_int_equal(dataset_load("cifar10", SPLIT_TRAIN, &ds, err, sizeof err), -1);
    assert_has(err, "cifar10: /");
    assert_has(err, "data_batch_2.bin: 3 bytes is not a whole number");
    assert_null(ds.train_pixels);
}

static void test_load_missing(void **state)
{
    Fixture *fx = *state;
    char err[DATASET_ERR_MAX] = "", empty[PATH_MAX];
    /* From the temp dir, ./datasets/data and ../shared/datasets hold nothing. */
    assert_int_equal(chdir(fx->dir), 0);
    path_in(empty, fx->dir, "empty");
    make_dirs(empty);
    use_data_root(empty);
    Dataset ds;
    assert_int_equal(dataset_load("cifar10", SPLIT_BOTH, &ds, err, sizeof err), -1);
    assert_has(err, "cifar10: no data found (looked in ");
    char where[PATH_MAX];
    path_in(where, empty, "cifar10, ");
    assert_has(err, where);
    assert_has(err, "./datasets/data/cifar10, ../shared/datasets/cifar10, "
                    "/usr/share/datasets/cifar10); get the CIFAR-10 binary version "
                    "(data_batch_*.bin, test_batch.bin) and set NNBENCH_DATA");
    assert_null(strchr(err, '\n'));

    unsetenv("NNBENCH_DATA");
    if (access("/usr/share/datasets/mnist", F_OK) == 0)
        skip();
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), -1);
    assert_has(err, "mnist: no data found (looked in $NNBENCH_DATA/mnist, ./datasets/data/mnist, "
                    "../shared/datasets/mnist, /usr/share/datasets/mnist)");
}

/* A folder with only some of the files is passed over, and named. */
static void test_load_partial_folder(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    assert_int_equal(chdir(fx->dir), 0);
    path_in(dir, fx->dir, "env/mnist");
    write_split(dir, 0, 2, 2, 28, 28, 1);
    path_in(dir, fx->dir, "env");
    use_data_root(dir);
    Dataset ds;
    if (access("/usr/share/datasets/mnist", F_OK) != 0) {
        assert_int_equal(dataset_load("mnist", SPLIT_BOTH, &ds, err, sizeof err), -1);
        assert_has(err, "/env/mnist has some files but not t10k-images-idx3-ubyte[.gz]");
    }
    assert_int_equal(dataset_load("mnist", SPLIT_TRAIN, &ds, err, sizeof err), 0);
    assert_int_equal(ds.train.n, 2);
    assert_int_equal(ds.test.n, 0);
    assert_null(ds.test.pixels);
    dataset_free(&ds);
}

static void test_search_order(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    assert_int_equal(chdir(fx->dir), 0);
    path_in(dir, fx->dir, "datasets/data/mnist");
    write_split(dir, 1, 5, 5, 28, 28, 1);
    path_in(dir, fx->dir, "env/mnist");
    write_split(dir, 1, 3, 3, 28, 28, 1);

    Dataset ds;
    path_in(dir, fx->dir, "env");
    use_data_root(dir);
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    assert_int_equal(ds.test.n, 3);
    assert_non_null(strstr(ds.root, "/env/mnist"));
    dataset_free(&ds);

    /* NNBENCH_DATA without the data set falls through to ./datasets/data. */
    path_in(dir, fx->dir, "datasets"); /* holds data/, not mnist/ */
    use_data_root(dir);
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    assert_int_equal(ds.test.n, 5);
    dataset_free(&ds);

    unsetenv("NNBENCH_DATA");
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    assert_int_equal(ds.test.n, 5);
    assert_non_null(strstr(ds.root, "/datasets/data/mnist"));
    dataset_free(&ds);
}

/* NNBENCH_DATA may name the data set's folder itself, unless that folder is
 * named after another data set (MNIST and Fashion-MNIST share file names). */
static void test_env_direct_folder(void **state)
{
    Fixture *fx = *state;
    char dir[PATH_MAX], err[DATASET_ERR_MAX] = "";
    assert_int_equal(chdir(fx->dir), 0);
    path_in(dir, fx->dir, "my-digits");
    write_split(dir, 1, 4, 4, 28, 28, 1);
    use_data_root(dir);
    Dataset ds;
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    assert_int_equal(ds.test.n, 4);
    dataset_free(&ds);

    path_in(dir, fx->dir, "fashion-mnist/"); /* trailing slash on purpose */
    write_split(dir, 1, 4, 4, 28, 28, 1);
    use_data_root(dir);
    assert_int_equal(dataset_load("fashion-mnist", SPLIT_TEST, &ds, err, sizeof err), 0);
    dataset_free(&ds);
    if (access("/usr/share/datasets/mnist", F_OK) == 0)
        skip();
    assert_int_equal(dataset_load("mnist", SPLIT_TEST, &ds, err, sizeof err), -1);
    assert_has(err, "mnist: no data found");
    assert_has(err, "fashion-mnist/ is the fashion-mnist folder, not used for mnist");
}

/* ------------------------------------------------------------- real data */

static void test_real_mnist(void **state)
{
    (void)state;
    if (access("../shared/datasets/mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0)
        skip();
    unsetenv("NNBENCH_DATA");
    Dataset ds;
    char err[DATASET_ERR_MAX] = "";
    if (dataset_load("mnist", SPLIT_BOTH, &ds, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(ds.test.n, 10000);
    assert_int_equal(ds.train.n, 10000); /* the shared copy has the first 10000 only */
    assert_true(ds.train.shape.c == 1 && ds.train.shape.h == 28 && ds.train.shape.w == 28);
    long sum = 0;
    for (int i = 0; i < 784; i++)
        sum += ds.test.pixels[i];
    assert_true(sum > 0);
    assert_int_equal(ds.test.labels[0], 7); /* the first MNIST test digit is a 7 */
    dataset_free(&ds);
}

static void test_real_fashion_mnist(void **state)
{
    Fixture *fx = *state;
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0)
        skip();
    /* From the temp dir with NNBENCH_DATA unset only /usr/share/datasets can match. */
    assert_int_equal(chdir(fx->dir), 0);
    unsetenv("NNBENCH_DATA");
    Dataset ds;
    char err[DATASET_ERR_MAX] = "";
    if (dataset_load("fashion-mnist", SPLIT_BOTH, &ds, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(ds.root, "/usr/share/datasets/fashion-mnist");
    assert_int_equal(ds.train.n, 60000);
    assert_int_equal(ds.test.n, 10000);
    dataset_free(&ds);
}

static void test_real_cifar10(void **state)
{
    (void)state;
    if (access("../shared/datasets/cifar10/test_batch.bin.gz", R_OK) != 0)
        skip();
    unsetenv("NNBENCH_DATA");
    Dataset ds;
    char err[DATASET_ERR_MAX] = "";
    if (dataset_load("cifar10", SPLIT_TEST, &ds, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(ds.test.n, 10000);
    assert_int_equal(ds.train.n, 0);
    int seen[10] = {0};
    for (int i = 0; i < ds.test.n; i++)
        seen[ds.test.labels[i]]++;
    for (int c = 0; c < 10; c++)
        assert_int_equal(seen[c], 1000);
    dataset_free(&ds);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_idx_round_trip_plain),
        T(test_idx_round_trip_gz),
        T(test_idx_count_from_header),
        T(test_idx_bad_magic),
        T(test_idx_truncated_images),
        T(test_idx_truncated_gzip_stream),
        T(test_idx_truncated_labels),
        T(test_idx_implausible_header),
        T(test_idx_missing_file),
        T(test_cifar_round_trip),
        T(test_cifar_bad_files),
        T(test_registry),
        T(test_free_is_idempotent),
        T(test_load_idx),
        T(test_load_label_out_of_range),
        T(test_load_count_mismatch),
        T(test_load_wrong_image_size),
        T(test_load_truncated_names_dataset),
        T(test_load_cifar),
        T(test_load_missing),
        T(test_load_partial_folder),
        T(test_search_order),
        T(test_env_direct_folder),
        T(test_real_mnist),
        T(test_real_fashion_mnist),
        T(test_real_cifar10),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
