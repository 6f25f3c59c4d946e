/* compiler/program_h5: programs saved and loaded bit-exactly with their
 * hardware description, stats and mapping; failed saves leave nothing;
 * missing, truncated, garbage and tampered files give a clean error naming
 * the file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tmpfiles.h"
#include "compiler/program.h"
#include "nn/nn.h"
#include "simulators/simulators.h"


/* ------------------------------------------------------------- helpers */

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("test_program_h5");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

/* Entries of g_dir (a failed save must add none); with `part` in their name only. */
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

/* ------------------------------------------------------------- programs */

/* 4 inputs → a shared 3×2 ReLU block at two positions (one padded) → a
 * 4×3 linear block; big biases and an input shift exercise every width. */
static Program *int_program(void)
{
    Program *p = program_create(4, 4);
    assert_non_null(p);
    p->input_shift = 4;
    const int32_t wa[2 * 3] = {1, 2, -1, 3, 0, INT32_MIN};
    const int64_t ba[2] = {(int64_t)1 << 40, -((int64_t)1 << 50)};
    assert_int_equal(program_add_block(p, 3, 2, wa, ba, 62, CORE_RELU), 0);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0, 1, 2}, 3, 0), 4);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){2, 3, PROGRAM_ZERO}, 3, 1), 6);
    const int32_t wb[3 * 4] = {1, 1, 1, 1, 2, 0, 0, -2, 0, -3, 5, INT32_MAX};
    assert_int_equal(program_add_block(p, 4, 3, wb, (int64_t[]){0, 10, -7}, 0, CORE_LINEAR), 1);
    assert_int_equal(program_add_op(p, 1, (int32_t[]){4, 5, 6, 7}, 9, 2), 8);
    assert_int_equal(program_set_outputs(p, (int32_t[]){10, 8, 9}, 3), 0);
    p->blocks[0].adc_full = 12345;
    p->blocks[1].adc_full = ((int64_t)1 << 40) + 1; /* beyond 32 bits */
    return p;
}

static Program *float_program(void)
{
    Program *p = program_create_float(3);
    assert_non_null(p);
    const float wa[2 * 3] = {0.5f, -0.0f, 1e-42f /* subnormal */, 3.25e30f, -1.0f / 3, 7};
    assert_int_equal(program_add_block_float(p, 3, 2, wa, (float[]){0.1f, -2}, CORE_RELU), 0);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0, 1, 2}, 0, 0), 3);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){PROGRAM_ZERO, 4, 3}, 1, 1), 5);
    const float wb[2 * 4] = {1, 2, 3, 4, -1, -2, -3, -4};
    assert_int_equal(program_add_block_float(p, 4, 2, wb, NULL, CORE_LINEAR), 1);
    assert_int_equal(program_add_op(p, 1, (int32_t[]){3, 4, 5, 6}, 2, 1), 7);
    assert_int_equal(program_set_outputs(p, (int32_t[]){7, 8}, 2), 0);
    return p;
}

static void some_hw(Hw *hw)
{
    const char *sets[] = {"target.name=my-chip.v2",       "pim.noise_sigma=0.03",
                          "io.seed=18446744073709551615", "tune.lr=0.000123456789",
                          "tune.phases=free,round",       "crossbar.fanout=17"};
    char err[1024];
    if (hw_open("prime", sets, 6, hw, NULL, 0, err, sizeof err))
        fail_msg("%s", err);
}

static int g_core_of_op[3] = {1, 0, 1}, g_x[2] = {0, 5}, g_y[2] = {3, 0};

static void some_info(ProgramInfo *info)
{
    program_info_init(info);
    snprintf(info->model, sizeof info->model, "models/lenet5.h5");
    snprintf(info->dataset, sizeof info->dataset, "mnist");
    snprintf(info->strategy, sizeof info->strategy, "naive");
    info->orig_accuracy = 0.9912;
    info->compiled_accuracy = 0.1 + 0.2; /* not exactly 0.3 */
    info->transform_s = 1.25e-3;
    info->utilization = 0.75;
    info->traffic = ((long long)1 << 60) + 3; /* beyond a double's 53 bits */
    info->chips = 1;
    info->n_cores = 2;
    info->core_of_op = g_core_of_op;
    info->core_x = g_x;
    info->core_y = g_y;
}

static void assert_same_program(const Program *a, const Program *b)
{
    assert_int_equal(a->is_float, b->is_float);
    assert_int_equal(a->io_bits, b->io_bits);
    assert_int_equal(a->input_shift, b->input_shift);
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_neurons, b->n_neurons);
    assert_int_equal(a->n_blocks, b->n_blocks);
    assert_int_equal(a->n_ops, b->n_ops);
    assert_int_equal(a->n_outputs, b->n_outputs);
    assert_int_equal(a->n_groups, b->n_groups);
    for (int i = 0; i < a->n_blocks; i++) {
        const CoreBlock *x = &a->blocks[i], *y = &b->blocks[i];
        assert_int_equal(x->rows, y->rows);
        assert_int_equal(x->cols, y->cols);
        assert_int_equal(x->shift, y->shift);
        assert_int_equal(x->act, y->act);
        assert_true(x->adc_full == y->adc_full);
        size_t nw = (size_t)x->rows * x->cols;
        assert_int_equal(!x->w, !y->w);
        assert_int_equal(!x->wf, !y->wf);
        if (x->w) {
            assert_memory_equal(x->w, y->w, nw * sizeof *x->w);
            assert_memory_equal(x->bias, y->bias, (size_t)x->cols * sizeof *x->bias);
        } else { /* bit patterns: -0, subnormals */
            assert_memory_equal(x->wf, y->wf, nw * sizeof *x->wf);
            assert_memory_equal(x->bf, y->bf, (size_t)x->cols * sizeof *x->bf);
        }
    }
    for (int k = 0; k < a->n_ops; k++) {
        const CoreOp *x = &a->ops[k], *y = &b->ops[k];
        assert_int_equal(x->block, y->block);
        assert_int_equal(x->out, y->out);
        assert_int_equal(x->part, y->part);
        assert_int_equal(x->group, y->group);
        assert_memory_equal(x->in, y->in, sizeof *x->in * (size_t)a->blocks[x->block].rows);
    }
    assert_memory_equal(a->outputs, b->outputs, sizeof *a->outputs * (size_t)a->n_outputs);
}

static void save_ok(const Program *p, const Hw *hw, const ProgramInfo *info, const char *path)
{
    char err[1024];
    if (program_save(p, hw, info, path, err, sizeof err))
        fail_msg("%s", err);
}

static Program *load_ok(const char *path, Hw *hw, ProgramInfo *info)
{
    char err[1024];
    Program *p = NULL;
    if (program_load(path, &p, hw, info, err, sizeof err))
        fail_msg("%s", err);
    assert_non_null(p);
    return p;
}

/* A load that must fail: the message names the file (and has `part`). */
static void expect_load_error(const char *path, const char *part)
{
    char err[2048] = "";
    Program *p = (Program *)&err; /* must come back NULL */
    Hw hw;
    ProgramInfo info;
    assert_int_equal(program_load(path, &p, &hw, &info, err, sizeof err), -1);
    assert_null(p);
    assert_null(info.core_of_op);
    if (strncmp(err, path, strlen(path)) != 0)
        fail_msg("message '%s' does not start with the file name", err);
    if (part)
        assert_has(err, part);
}

/* --------------------------------------------------------------- tests */

static void test_int_round_trip(void **state)
{
    (void)state;
    Program *p = int_program();
    Hw hw, hw2;
    some_hw(&hw);
    ProgramInfo info, back;
    some_info(&info);
    const char *path = tmp_path("int.h5");
    save_ok(p, &hw, &info, path);
    Program *q = load_ok(path, &hw2, &back);
    assert_same_program(p, q);
    assert_true(hw_equal(&hw, &hw2));
    assert_string_equal(hw2.target.name, "my-chip.v2");
    assert_string_equal(back.model, info.model);
    assert_string_equal(back.dataset, "mnist");
    assert_string_equal(back.strategy, "naive");
    assert_memory_equal(&back.orig_accuracy, &info.orig_accuracy, sizeof(double));
    assert_memory_equal(&back.compiled_accuracy, &info.compiled_accuracy, sizeof(double));
    assert_memory_equal(&back.transform_s, &info.transform_s, sizeof(double));
    assert_memory_equal(&back.utilization, &info.utilization, sizeof(double));
    assert_true(back.traffic == info.traffic);
    assert_int_equal(back.chips, 1);
    assert_int_equal(back.n_cores, 2);
    assert_non_null(back.core_of_op);
    assert_memory_equal(back.core_of_op, g_core_of_op, sizeof g_core_of_op);
    assert_memory_equal(back.core_x, g_x, sizeof g_x);
    assert_memory_equal(back.core_y, g_y, sizeof g_y);

    /* the loaded program computes the same logits */
    const int32_t x[4] = {3, 15, 0, 9};
    int64_t a[3], b[3];
    assert_int_equal(ann_run(p, x, 1, a), 0);
    assert_int_equal(ann_run(q, x, 1, b), 0);
    assert_memory_equal(a, b, sizeof a);

    program_info_free(&back);
    assert_null(back.core_of_op);
    program_free(q);
    program_free(p);
    assert_int_equal(entries_with(".tmp."), 0);
}

static void test_float_round_trip(void **state)
{
    (void)state;
    Program *p = float_program();
    Hw hw, hw2;
    hw_default(&hw);
    const char *path = tmp_path("float.h5");
    save_ok(p, &hw, NULL, path); /* no info: every stat unknown, no mapping */
    ProgramInfo back;
    Program *q = load_ok(path, &hw2, &back);
    assert_same_program(p, q);
    assert_true(hw_equal(&hw, &hw2));
    assert_string_equal(back.model, "");
    assert_true(back.orig_accuracy == -1 && back.compiled_accuracy == -1 && back.transform_s == -1);
    assert_true(back.traffic == -1);
    assert_int_equal(back.n_cores, 0);
    assert_null(back.core_of_op);
    assert_null(back.core_x);
    float x[3] = {1, 2, 3}, a[2], b[2];
    assert_int_equal(ann_run_float(p, x, 1, a), 0);
    assert_int_equal(ann_run_float(q, x, 1, b), 0);
    assert_memory_equal(a, b, sizeof a);
    program_free(q);
    /* hw and info may be left out */
    char err[1024];
    assert_int_equal(program_load(path, &q, NULL, NULL, err, sizeof err), 0);
    assert_same_program(p, q);
    program_free(q);
    program_free(p);
}

/* A large program: compressed datasets read back exactly. */
static void test_large_round_trip(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 3);
    enum { IN = 300, ROWS = 100, COLS = 50, OPS = 200 };
    Program *p = program_create(IN, 8);
    int32_t *w = malloc(sizeof *w * ROWS * COLS), in[ROWS];
    for (int i = 0; i < ROWS * COLS; i++)
        w[i] = (int32_t)rng_below(&r, 255) - 127;
    assert_int_equal(program_add_block(p, ROWS, COLS, w, NULL, 7, CORE_RELU), 0);
    assert_int_equal(program_add_block(p, ROWS, COLS, w, NULL, 0, CORE_LINEAR), 1);
    for (int k = 0; k < OPS; k++) {
        for (int i = 0; i < ROWS; i++)
            in[i] = rng_below(&r, 7) == 0 ? PROGRAM_ZERO : (int32_t)rng_below(&r, IN);
        assert_true(program_add_op(p, k == OPS - 1, in, k / 10, k / 10) >= 0);
    }
    int32_t outs[COLS];
    for (int i = 0; i < COLS; i++)
        outs[i] = p->ops[OPS - 1].out + i;
    assert_int_equal(program_set_outputs(p, outs, COLS), 0);
    Hw hw;
    hw_default(&hw);
    const char *path = tmp_path("large.h5");
    save_ok(p, &hw, NULL, path);
    Program *q = load_ok(path, NULL, NULL);
    assert_same_program(p, q);
    program_free(q);
    program_free(p);
    free(w);
}

static void test_save_failures(void **state)
{
    (void)state;
    Program *p = int_program();
    Hw hw;
    hw_default(&hw);
    char err[1024];
    int before = entries_with("");
    const char *bad = tmp_path("no/such/dir/p.h5");
    assert_int_equal(program_save(p, &hw, NULL, bad, err, sizeof err), -1);
    assert_has(err, bad);
    assert_has(err, "cannot write");
    assert_int_equal(entries_with(""), before);

    /* a file where a folder should be */
    const char *plain = tmp_path("plain");
    write_bytes(plain, "x", 1);
    assert_int_equal(program_save(p, &hw, NULL, tmp_path("plain/p.h5"), err, sizeof err), -1);
    assert_has(err, "Not a directory");
    assert_int_equal(entries_with(""), before + 1);

    /* an invalid program is refused, and a good file of the name stays */
    const char *good = tmp_path("keep.h5");
    save_ok(p, &hw, NULL, good);
    p->ops[1].in[0] = 7;
    assert_int_equal(program_save(p, &hw, NULL, good, err, sizeof err), -1);
    assert_has(err, "keep.h5: cannot save: core op 1: row 0 reads neuron 7");
    Program *q = load_ok(good, NULL, NULL);
    assert_int_equal(q->ops[1].in[0], 2);
    program_free(q);
    p->ops[1].in[0] = 2;

    /* a mapping that does not fit the program */
    ProgramInfo info;
    some_info(&info);
    info.n_cores = 1;
    assert_int_equal(program_save(p, &hw, &info, good, err, sizeof err), -1);
    assert_has(err, "core op 0 on core 1 of 1");
    assert_int_equal(entries_with(""), before + 2);
    program_free(p);
}

static void test_bad_files(void **state)
{
    (void)state;
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

    /* every truncation point on a coarse grid, and just short of the end */
    Program *prog = int_program();
    Hw hw;
    some_hw(&hw);
    ProgramInfo info;
    some_info(&info);
    const char *good = tmp_path("good.h5");
    save_ok(prog, &hw, &info, good);
    size_t n;
    unsigned char *bytes = read_all(good, &n);
    p = tmp_path("cut.h5");
    for (size_t cut = 1; cut < n; cut += n / 67 + 1) {
        write_bytes(p, bytes, cut);
        expect_load_error(p, NULL);
    }
    write_bytes(p, bytes, n - 1);
    expect_load_error(p, NULL);

    /* a damaged weight: the checksum catches it */
    unsigned char *at = memmem(bytes, n, prog->blocks[1].w, 12 * sizeof(int32_t));
    assert_non_null(at);
    at[5] ^= 0x10;
    write_bytes(p, bytes, n);
    expect_load_error(p, "/blocks/weights: cannot read");

    /* the signature followed by junk */
    memcpy(junk, bytes, 16);
    write_bytes(p, junk, sizeof junk);
    expect_load_error(p, NULL);
    free(bytes);
    program_free(prog);

    /* an HDF5 file that is not a program, and a model file */
    p = tmp_path("other.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    expect_load_error(p,
                      "other.h5: missing attribute format_version (not an nnbench program file?)");
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(f, "graph", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
    expect_load_error(p, "other.h5: a model file, not a compiled program");
}

/* ----------------------------------------------------------- tampering */

/* A fresh copy of the int program's file to edit with the HDF5 API. */
static hid_t tampered(const char *name, const char **path)
{
    Program *p = int_program();
    Hw hw;
    some_hw(&hw);
    ProgramInfo info;
    some_info(&info);
    *path = tmp_path(name);
    save_ok(p, &hw, &info, *path);
    program_free(p);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(*path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* Sets value i of an int32 dataset (through HDF5: checksums stay right). */
static void set_i32(hid_t f, const char *name, int i, int32_t v)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    assert_true(i < n);
    int32_t *all = malloc(sizeof *all * (size_t)n);
    assert_int_equal(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, all), 0);
    all[i] = v;
    assert_int_equal(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, all), 0);
    free(all);
    H5Sclose(s);
    H5Dclose(d);
}

/* Replaces a dataset by n values of `type` (no data written when v is NULL). */
static void replace(hid_t f, const char *name, hid_t type, hsize_t n, const void *v)
{
    H5Ldelete(f, name, H5P_DEFAULT);
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk = n < 1024 ? n : 1024;
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    if (v)
        assert_int_equal(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

static void set_attr_str(hid_t loc, const char *name, const char *value)
{
    H5Adelete(loc, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_int_equal(H5Awrite(a, t, value), 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void set_attr_num(hid_t loc, const char *name, double v)
{
    H5Adelete(loc, name);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_int_equal(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), 0);
    H5Aclose(a);
    H5Sclose(s);
}

static void test_tampered(void **state)
{
    (void)state;
    const char *p;
    hid_t f = tampered("block.h5", &p);
    set_i32(f, "ops/block", 1, 99);
    H5Fclose(f);
    expect_load_error(p, "block.h5: /ops/block: core op 1 uses block 99 of 2");

    f = tampered("short.h5", &p);
    replace(f, "ops/inputs", H5T_NATIVE_INT32, 9, (int32_t[]){0, 1, 2, 2, 3, -1, 4, 5, 6});
    H5Fclose(f);
    expect_load_error(p, "short.h5: /ops/inputs: 9 values, expected 10");

    f = tampered("later.h5", &p);
    set_i32(f, "ops/inputs", 4, 8); /* op 1 row 1 reads neuron 8, made after it */
    H5Fclose(f);
    expect_load_error(p, "later.h5: not a valid program: core op 1: row 1 reads neuron 8");

    f = tampered("negative.h5", &p);
    set_i32(f, "ops/inputs", 0, -2);
    H5Fclose(f);
    expect_load_error(p, "core op 0: row 0 reads neuron -2");

    f = tampered("output.h5", &p);
    set_i32(f, "outputs", 2, 1 << 30);
    H5Fclose(f);
    expect_load_error(p, "output.h5: not a valid program: output 2 is neuron 1073741824");

    f = tampered("cols.h5", &p);
    set_i32(f, "blocks/cols", 0, 3);
    H5Fclose(f);
    expect_load_error(p, "cols.h5: /blocks/weights: 18 values, expected 21");

    f = tampered("rows.h5", &p);
    set_i32(f, "blocks/rows", 1, 0);
    H5Fclose(f);
    expect_load_error(p, "/blocks: block 1 has 0 rows");

    f = tampered("act.h5", &p);
    set_i32(f, "blocks/act", 0, 7);
    H5Fclose(f);
    expect_load_error(p, "/blocks/act: block 0: 7 is neither");

    f = tampered("shift.h5", &p);
    set_i32(f, "blocks/shift", 0, 63);
    H5Fclose(f);
    expect_load_error(p, "/blocks/shift: block 0: 63 outside 0..62");

    f = tampered("out.h5", &p);
    set_i32(f, "ops/out", 1, 5);
    H5Fclose(f);
    expect_load_error(p, "/ops/out: core op 1 starts at neuron 5, expected 6");

    f = tampered("group.h5", &p);
    set_i32(f, "ops/group", 2, 3);
    H5Fclose(f);
    expect_load_error(p, "/ops/group: core op 2: group 3 outside 0..2");

    f = tampered("floatw.h5", &p);
    replace(f, "blocks/weights", H5T_NATIVE_FLOAT, 18, (float[18]){0});
    H5Fclose(f);
    expect_load_error(p, "/blocks/weights: integers expected");

    f = tampered("neurons.h5", &p);
    set_attr_num(f, "n_neurons", 12);
    H5Fclose(f);
    expect_load_error(p, "attribute /n_neurons: 12, but the core ops end at neuron 11");

    f = tampered("frac.h5", &p);
    set_attr_num(f, "io_bits", 4.5);
    H5Fclose(f);
    expect_load_error(p, "attribute /io_bits: 4.5 is not a whole number in 1..30");

    f = tampered("groups.h5", &p);
    set_attr_num(f, "n_groups", 1e18);
    H5Fclose(f);
    expect_load_error(p, "attribute /n_groups: 1e+18 is not a whole number");

    f = tampered("kind.h5", &p);
    set_attr_str(f, "kind", "double");
    H5Fclose(f);
    expect_load_error(p, "attribute /kind: 'double', expected int or float");

    f = tampered("kindf.h5", &p); /* says float, holds integers */
    set_attr_str(f, "kind", "float");
    H5Fclose(f);
    expect_load_error(p, "missing /blocks/weights_f");

    f = tampered("version.h5", &p);
    set_attr_num(f, "format_version", 2);
    H5Fclose(f);
    expect_load_error(p, "format_version 2 not supported");

    f = tampered("hwval.h5", &p);
    hid_t g = H5Gopen2(f, "hw", H5P_DEFAULT);
    set_attr_str(g, "crossbar.rows", "lots");
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(p, "hwval.h5: /hw crossbar.rows: bad value 'lots'");

    f = tampered("hwkey.h5", &p);
    g = H5Gopen2(f, "hw", H5P_DEFAULT);
    set_attr_str(g, "crossbar.rowz", "3");
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(p, "hwkey.h5: /hw crossbar.rowz: unknown key");

    f = tampered("hwcheck.h5", &p);
    g = H5Gopen2(f, "hw", H5P_DEFAULT);
    set_attr_str(g, "weights.cells", "1");
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(p, "hwcheck.h5: /hw: weights.encoding = cells needs");

    f = tampered("nohw.h5", &p);
    H5Ldelete(f, "hw", H5P_DEFAULT);
    H5Fclose(f);
    expect_load_error(p, "nohw.h5: missing /hw");

    f = tampered("core.h5", &p);
    set_i32(f, "mapping/core_of_op", 0, 50);
    H5Fclose(f);
    expect_load_error(p, "/mapping/core_of_op: core op 0 on core 50 of 2");

    f = tampered("cores.h5", &p);
    g = H5Gopen2(f, "stats", H5P_DEFAULT);
    set_attr_num(g, "cores", 3);
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(p, "/mapping/core_x: 2 values, expected 3");

    f = tampered("coreops.h5", &p);
    g = H5Gopen2(f, "stats", H5P_DEFAULT);
    set_attr_num(g, "core_ops", 4);
    H5Gclose(g);
    H5Fclose(f);
    expect_load_error(p, "attribute /stats/core_ops: 4, but the program has 3");

    /* a huge array that stores nothing is refused before it is allocated */
    f = tampered("huge.h5", &p);
    replace(f, "outputs", H5T_NATIVE_INT32, (hsize_t)1 << 30, NULL);
    H5Fclose(f);
    expect_load_error(p, "/outputs: 1073741824 values declared but 0 bytes stored");

    /* a dataset with a chunk never written reads as zeros: refused */
    f = tampered("hole.h5", &p);
    H5Ldelete(f, "ops/inputs", H5P_DEFAULT);
    hsize_t ten = 10, five = 5, zero = 0;
    hid_t s = H5Screate_simple(1, &ten, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &five);
    H5Pset_fletcher32(dcpl);
    hid_t d = H5Dcreate2(f, "ops/inputs", H5T_NATIVE_INT32, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hid_t m = H5Screate_simple(1, &five, NULL);
    H5Sselect_hyperslab(s, H5S_SELECT_SET, &zero, NULL, &five, NULL);
    assert_int_equal(H5Dwrite(d, H5T_NATIVE_INT32, m, s, H5P_DEFAULT, (int32_t[]){0, 1, 2, 2, 3}),
                     0);
    H5Dclose(d);
    H5Sclose(m);
    H5Sclose(s);
    H5Fclose(f);
    expect_load_error(p, "hole.h5: /ops/inputs: 1 of its 2 chunks stored");

    /* a chunk stored raw with its checksum filter marked as skipped */
    f = tampered("skip.h5", &p);
    H5Ldelete(f, "outputs", H5P_DEFAULT);
    hsize_t three = 3;
    s = H5Screate_simple(1, &three, NULL);
    H5Pset_chunk(dcpl, 1, &three);
    d = H5Dcreate2(f, "outputs", H5T_NATIVE_INT32, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_int_equal(H5Dwrite_chunk(d, H5P_DEFAULT, 1, (hsize_t[]){0}, 12, (int32_t[]){10, 8, 9}),
                     0);
    H5Dclose(d);
    H5Sclose(s);
    H5Pclose(dcpl);
    H5Fclose(f);
    expect_load_error(p, "skip.h5: /outputs: chunk 0 skips its filters");

    /* data in another file */
    f = tampered("external.h5", &p);
    H5Ldelete(f, "outputs", H5P_DEFAULT);
    s = H5Screate_simple(1, &three, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "/etc/hostname", 0, 12);
    d = H5Dcreate2(f, "outputs", H5T_NATIVE_INT32, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Sclose(s);
    H5Pclose(dcpl);
    H5Fclose(f);
    expect_load_error(p, "external.h5: /outputs: stored in external files");

    f = tampered("twod.h5", &p);
    H5Ldelete(f, "outputs", H5P_DEFAULT);
    hsize_t dims[2] = {1, 3};
    s = H5Screate_simple(2, dims, NULL);
    d = H5Dcreate2(f, "outputs", H5T_NATIVE_INT32, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, (int32_t[]){10, 8, 9});
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
    expect_load_error(p, "/outputs: a 1-D array");
}

/* /blocks/adc_full: files from before it load with 0s; a bad one is refused. */
static void test_adc_full(void **state)
{
    (void)state;
    const char *p;
    hid_t f = tampered("old.h5", &p);
    H5Ldelete(f, "blocks/adc_full", H5P_DEFAULT);
    H5Fclose(f);
    Program *q = load_ok(p, NULL, NULL);
    assert_true(q->blocks[0].adc_full == 0 && q->blocks[1].adc_full == 0);
    Program *want = int_program();
    want->blocks[0].adc_full = want->blocks[1].adc_full = 0;
    assert_same_program(want, q);
    program_free(q);

    f = tampered("negadc.h5", &p);
    replace(f, "blocks/adc_full", H5T_NATIVE_INT64, 2, (int64_t[]){7, -5});
    H5Fclose(f);
    expect_load_error(p, "negadc.h5: /blocks/adc_full: block 1: -5 is negative");

    f = tampered("countadc.h5", &p);
    replace(f, "blocks/adc_full", H5T_NATIVE_INT64, 1, (int64_t[]){7});
    H5Fclose(f);
    expect_load_error(p, "/blocks/adc_full: 1 values, expected 2 (one per block)");

    f = tampered("floatadc.h5", &p);
    replace(f, "blocks/adc_full", H5T_NATIVE_DOUBLE, 2, (double[]){7, 5});
    H5Fclose(f);
    expect_load_error(p, "/blocks/adc_full: integers expected");

    /* a negative full scale is not saved either */
    Hw hw;
    hw_default(&hw);
    char err[1024];
    want->blocks[0].adc_full = -1;
    assert_int_equal(program_save(want, &hw, NULL, tmp_path("neg.h5"), err, sizeof err), -1);
    assert_has(err, "cannot save: block 0: negative ADC full scale -1");
    program_free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_round_trip),   cmocka_unit_test(test_float_round_trip),
        cmocka_unit_test(test_large_round_trip), cmocka_unit_test(test_save_failures),
        cmocka_unit_test(test_bad_files),        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_adc_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
