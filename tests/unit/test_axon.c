/* Axon types (weights.encoding = axon_types): the verifier's rule, planted
 * violations; row types saved and loaded; the compiler's assignment on
 * random programs (always fits, exact where the rows allow it, cut blocks
 * compute the same, more types never fit worse, deterministic); and a
 * compiled truenorth program verifies clean. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tmpfiles.h"
#include "compiler/compiler.h"
#include "datasets/datasets.h"
#include "nn/nn.h"
#include "tests/unit/lenet5_fixture.h"
#include "tests/unit/verify_expect.h"

static int setup(void **state)
{
    (void)state;
    return tmpdir_setup("test_axon");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_teardown();
}

/* A chip of 8×4 crossbars with k = 2 axon types of 4-bit weights. */
static void axon_hw(Hw *hw, int k)
{
    hw_default(hw);
    hw->crossbar.rows = 8;
    hw->crossbar.cols = 4;
    hw->crossbar.fanout = 0;
    hw->weights.bits = 4;
    hw->weights.encoding = HW_ENC_AXON_TYPES;
    hw->weights.axon_types = k;
    hw->io.bits = 4;
    hw->neuron.shift_max = 6;
}

/* 4 pixels → a typed 4×2 block at two positions → a 4×1 linear block
 * (NULL types: one weight per column). Fits axon_hw(2). */
static Program *typed_program(void)
{
    Program *p = program_create(4, 4);
    /* rows 0, 2 type 0; rows 1, 3 type 1: col 0 = (3, -2, 3, -2), col 1 = (5, 0, 5, 0) */
    const int32_t wa[2 * 4] = {3, -2, 3, -2, 5, 0, 5, 0};
    int a = program_add_block(p, 4, 2, wa, NULL, 2, CORE_RELU);
    assert_int_equal(program_set_axon_types(p, a, (uint8_t[]){0, 1, 0, 1}), 0);
    assert_int_equal(program_add_op(p, a, (int32_t[]){0, 1, 2, 3}, 0, 0), 4);
    assert_int_equal(program_add_op(p, a, (int32_t[]){3, 2, 1, PROGRAM_ZERO}, 0, 0), 6);
    int b = program_add_block(p, 4, 1, (int32_t[]){7, 7, 7, 7}, NULL, 0, CORE_LINEAR);
    assert_int_equal(program_add_op(p, b, (int32_t[]){4, 5, 6, 7}, 1, 1), 8);
    assert_int_equal(program_set_outputs(p, (int32_t[]){8}, 1), 0);
    return p;
}

static void test_verify_rule(void **state)
{
    (void)state;
    Hw hw;
    axon_hw(&hw, 2);
    Program *p = typed_program();
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    assert_string_equal(verify_kind_name(V_AXON_TYPES), "axon_types");

    /* A type outside 0..k-1: reported for both ops of the shared block. */
    p->blocks[0].axon_type[2] = 2;
    expect_only_at(p, &hw, V_AXON_TYPES, 2, 0, 2, -1, 2, 2, "row 2 has axon type 2, outside 0..1");
    hw.weights.axon_types = 3; /* now allowed, but row 2 is alone in type 2: fine */
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    hw.weights.axon_types = 2;
    p->blocks[0].axon_type[2] = 0;

    /* Two rows of one type with different weights in a column. */
    p->blocks[0].w[1 * 4 + 3] = 1; /* col 1, row 3 (type 1; row 1 has 0) */
    expect_only_at(p, &hw, V_AXON_TYPES, 2, 0, 3, 1, 1, 0, "weight 1 at row 3, col 1, but 0 on an earlier row");
    /* Retyping row 3 alone does not help with k = 2 (row 2 is type 0, weight 3 vs -2 in col 0)... */
    p->blocks[0].axon_type[3] = 0;
    expect_only_at(p, &hw, V_AXON_TYPES, 2, 0, 3, 0, -2, 3, "weight -2 at row 3, col 0, but 3 on an earlier row");
    /* ...a third type does. */
    hw.weights.axon_types = 3;
    p->blocks[0].axon_type[3] = 2;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    p->blocks[0].w[1 * 4 + 3] = 0;
    p->blocks[0].axon_type[3] = 1;
    hw.weights.axon_types = 2;

    /* NULL types: every row type 0, so each column one weight. */
    p->blocks[1].w[2] = 6;
    expect_only_at(p, &hw, V_AXON_TYPES, 1, 2, 2, 0, 6, 7, "core op 2 (block 1): weight 6 at row 2, col 0");
    /* Without the axon-type encoding nothing of this is checked. */
    hw.weights.encoding = HW_ENC_INT;
    p->blocks[0].axon_type[0] = 9;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);
}

/* ------------------------------------------------------------- files */

static void test_save_load(void **state)
{
    (void)state;
    Hw hw;
    axon_hw(&hw, 2);
    char err[1024];
    Program *p = typed_program(), *q = NULL;
    assert_int_equal(program_save(p, &hw, NULL, tmp_path("typed.h5"), err, sizeof err), 0);
    Hw got;
    assert_int_equal(program_load(tmp_path("typed.h5"), &q, &got, NULL, err, sizeof err), 0);
    assert_non_null(q->blocks[0].axon_type);
    assert_memory_equal(q->blocks[0].axon_type, p->blocks[0].axon_type, 4);
    assert_null(q->blocks[1].axon_type);
    VerifyReport rep;
    assert_int_equal(verify_checked(q, &got, &rep), 0);
    verify_report_free(&rep);
    program_free(q);

    /* Stored types of all 0 load as NULL (the same meaning). */
    memset(p->blocks[0].axon_type, 0, 4);
    assert_int_equal(program_save(p, &hw, NULL, tmp_path("zeros.h5"), err, sizeof err), 0);
    assert_int_equal(program_load(tmp_path("zeros.h5"), &q, &got, NULL, err, sizeof err), 0);
    assert_null(q->blocks[0].axon_type);
    program_free(q);

    /* No types anywhere: no dataset (older readers see the same file). */
    assert_int_equal(program_set_axon_types(p, 0, NULL), 0);
    assert_int_equal(program_save(p, &hw, NULL, tmp_path("none.h5"), err, sizeof err), 0);
    hid_t f = H5Fopen(tmp_path("none.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_int_equal(H5Lexists(f, "blocks/axon_type", H5P_DEFAULT), 0);
    H5Fclose(f);
    program_free(p);

    /* A file from before the types: the dataset removed loads NULL; a wrong count is an error. */
    f = H5Fopen(tmp_path("typed.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Ldelete(f, "blocks/axon_type", H5P_DEFAULT);
    hsize_t n = 3;
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "blocks/axon_type", H5T_STD_U8LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, (uint8_t[]){0, 1, 0});
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
    assert_int_not_equal(program_load(tmp_path("typed.h5"), &q, &got, NULL, err, sizeof err), 0);
    assert_null(q);
    if (!strstr(err, "/blocks/axon_type: 3 values, expected 8"))
        fail_msg("%s", err);
    f = H5Fopen(tmp_path("typed.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "blocks/axon_type", H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(program_load(tmp_path("typed.h5"), &q, &got, NULL, err, sizeof err), 0);
    assert_null(q->blocks[0].axon_type);
    program_free(q);
}

/* ------------------------------------------------------- assignment */

static uint64_t g_rng;
static double uniform(void)
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

/* A random float network: n_in pixels → hidden ReLU ops (two positions
 * sharing a block, reading overlapping pixels) → a linear output op. */
static Program *random_float(int n_in, int hidden, int outs, int dup_rows)
{
    Program *fp = program_create_float(n_in);
    int rows = n_in - 2;
    float *w = malloc(sizeof *w * (size_t)rows * hidden), *b = malloc(sizeof *b * (size_t)hidden);
    for (int i = 0; i < rows * hidden; i++)
        w[i] = (float)(uniform() * 2 - 1);
    if (dup_rows) /* rows i and i + 2 identical: 2 distinct rows */
        for (int j = 0; j < hidden; j++)
            for (int i = 2; i < rows; i++)
                w[j * rows + i] = w[j * rows + i % 2];
    for (int j = 0; j < hidden; j++)
        b[j] = (float)(uniform() - 0.5);
    int blk = program_add_block_float(fp, rows, hidden, w, b, CORE_RELU);
    int32_t *in = malloc(sizeof *in * (size_t)rows);
    for (int pos = 0; pos < 2; pos++) {
        for (int i = 0; i < rows; i++)
            in[i] = pos * 2 + i;
        assert_true(program_add_op(fp, blk, in, 0, 0) >= 0);
    }
    float *wo = malloc(sizeof *wo * (size_t)2 * hidden * outs);
    for (int i = 0; i < 2 * hidden * outs; i++)
        wo[i] = (float)(uniform() * 2 - 1);
    int ob = program_add_block_float(fp, 2 * hidden, outs, wo, NULL, CORE_LINEAR);
    int32_t *oin = malloc(sizeof *oin * (size_t)2 * hidden);
    for (int i = 0; i < 2 * hidden; i++)
        oin[i] = n_in + i;
    int32_t first = program_add_op(fp, ob, oin, 1, 1);
    int32_t *logits = malloc(sizeof *logits * (size_t)outs);
    for (int i = 0; i < outs; i++)
        logits[i] = first + i;
    assert_int_equal(program_set_outputs(fp, logits, outs), 0);
    free(w), free(b), free(in), free(wo), free(oin), free(logits);
    return fp;
}

static uint8_t *random_pixels(int n, int n_in)
{
    uint8_t *px = malloc((size_t)n * n_in);
    for (int i = 0; i < n * n_in; i++)
        px[i] = (uint8_t)(uniform() * 256);
    return px;
}

/* naive with plain weights, then the axon types of hw; rel_error out. */
static Program *typed(const Program *fp, const Hw *hw, const uint8_t *px, int n, Program **plain, double *rel)
{
    Hw hi = *hw;
    hi.weights.encoding = HW_ENC_INT;
    char err[1024];
    Program *p = NULL, *q = NULL;
    if (quantise_naive(fp, &hi, px, n, &p, err, sizeof err) || quantise_naive(fp, &hi, px, n, &q, err, sizeof err) ||
        assign_axon_types(&q, fp, hw, px, n, rel, err, sizeof err))
        fail_msg("%s", err);
    if (plain)
        *plain = p;
    else
        program_free(p);
    return q;
}

static void assert_same_weights(const Program *a, const Program *b)
{
    assert_int_equal(a->n_blocks, b->n_blocks);
    assert_int_equal(a->n_ops, b->n_ops);
    for (int i = 0; i < a->n_blocks; i++) {
        const CoreBlock *x = &a->blocks[i], *y = &b->blocks[i];
        assert_int_equal(x->rows, y->rows);
        assert_int_equal(x->cols, y->cols);
        assert_memory_equal(x->w, y->w, sizeof *x->w * (size_t)x->rows * x->cols);
        assert_int_equal(!x->axon_type, !y->axon_type);
        if (x->axon_type)
            assert_memory_equal(x->axon_type, y->axon_type, (size_t)x->rows);
    }
}

/* Within each op, rows reading one neuron have different types (a chip
 * holds one axon per neuron and type); returns the op rows beyond the
 * plain program's (copies on spare rows). */
static int check_copies(const Program *q, const Program *plain)
{
    long extra = 0;
    for (int k = 0; k < q->n_ops; k++) {
        const CoreBlock *b = &q->blocks[q->ops[k].block];
        extra += b->rows;
        for (int i = 0; i < b->rows; i++)
            for (int r = 0; r < i; r++)
                if (q->ops[k].in[i] == q->ops[k].in[r] && q->ops[k].in[i] != PROGRAM_ZERO)
                    assert_int_not_equal(b->axon_type ? b->axon_type[i] : 0, b->axon_type ? b->axon_type[r] : 0);
    }
    for (int k = 0; k < plain->n_ops; k++)
        extra -= plain->blocks[plain->ops[k].block].rows;
    return (int)extra;
}

/* Random programs always fit (types in range, one weight per neuron and
 * type), keep their neurons and outputs, are deterministic, and fit better
 * with more types; k = rows is exact. */
static void test_random_programs_fit(void **state)
{
    (void)state;
    g_rng = 7;
    int copies = 0;
    for (int trial = 0; trial < 6; trial++) {
        int n_in = 8 + (int)(uniform() * 12), hidden = 2 + (int)(uniform() * 6);
        Program *fp = random_float(n_in, hidden, 3, 0);
        uint8_t *px = random_pixels(32, n_in);
        double last = 2;
        for (int k = 1; k <= n_in - 2; k *= 2) {
            Hw hw;
            axon_hw(&hw, k);
            hw.crossbar.rows = hw.crossbar.cols = 64;
            double rel, rel2;
            Program *plain, *q = typed(fp, &hw, px, 32, &plain, &rel), *q2 = typed(fp, &hw, px, 32, NULL, &rel2);
            VerifyReport rep;
            long long v = verify_checked(q, &hw, &rep);
            if (v) {
                char line[512];
                verify_describe(&rep, 0, line, sizeof line);
                fail_msg("trial %d, k = %d: %s", trial, k, line);
            }
            verify_report_free(&rep);
            assert_int_equal(q->n_neurons, plain->n_neurons);
            copies += check_copies(q, plain);
            assert_memory_equal(q->outputs, plain->outputs, sizeof *q->outputs * (size_t)q->n_outputs);
            assert_same_weights(q, q2);
            assert_true(rel == rel2);
            assert_true(rel <= last + 1e-9); /* more types: never worse */
            last = rel;
            program_free(plain);
            program_free(q);
            program_free(q2);
        }
        Hw hw;
        axon_hw(&hw, n_in - 2 > 2 * hidden ? n_in - 2 : 2 * hidden); /* a type per row: exact */
        hw.crossbar.rows = hw.crossbar.cols = 64;
        double rel;
        Program *plain, *q = typed(fp, &hw, px, 32, &plain, &rel);
        assert_true(rel == 0);
        for (int b = 0; b < q->n_blocks; b++)
            assert_memory_equal(q->blocks[b].w, plain->blocks[b].w,
                                sizeof *q->blocks[b].w * (size_t)q->blocks[b].rows * q->blocks[b].cols);
        program_free(plain);
        program_free(q);
        program_free(fp);
        free(px);
    }
    assert_true(copies > 0); /* spare rows were spent somewhere */
}

/* Identical rows share a type at no cost; a relay's block-diagonal block
 * is cut into exact ops (more ops, the same neurons, no new reader), so
 * the program computes exactly what the plain one does. */
static void test_exact_cases(void **state)
{
    (void)state;
    g_rng = 11;
    Program *fp = random_float(14, 5, 3, 1);
    uint8_t *px = random_pixels(40, 14);
    Hw hw;
    axon_hw(&hw, 2);
    hw.crossbar.rows = hw.crossbar.cols = 64;
    double rel;
    char err[1024];
    Program *plain, *q = typed(fp, &hw, px, 40, &plain, &rel);
    assert_memory_equal(q->blocks[0].w, plain->blocks[0].w, sizeof(int32_t) * 12 * 5);
    program_free(q);
    /* Without calibration images: plain clustering, still a fit. */
    VerifyReport rep;
    assert_int_equal(assign_axon_types(&plain, fp, &hw, px, 0, &rel, err, sizeof err), 0);
    assert_true(rel > 0 && rel < 1);
    assert_int_equal(verify_checked(plain, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(plain);

    /* fan-out 1: every pixel read by both hidden ops gets a relay of two copies */
    Program *relayed;
    assert_int_equal(add_relays(fp, 1, 64, &relayed, err, sizeof err), 0);
    hw.crossbar.fanout = 1;
    hw.weights.axon_types = 4;
    q = typed(relayed, &hw, px, 40, &plain, &rel);
    assert_int_equal(verify_checked(q, &hw, &rep), 0);
    verify_report_free(&rep);
    assert_true(q->n_ops > plain->n_ops); /* the relay block was cut */
    assert_int_equal(q->n_neurons, plain->n_neurons);
    /* The relay pieces are exact: on the relayed program's hidden block
     * (the only lossy one: 12 distinct rows, hw's 4 types), values differ;
     * but every relay neuron equals its plain value. */
    const int n = 40;
    int32_t *in = malloc(sizeof *in * 14 * n);
    int64_t *va = malloc(sizeof *va * (size_t)q->n_neurons * n), *vb = malloc(sizeof *vb * (size_t)q->n_neurons * n);
    quantise_pixels(q, px, 14 * (size_t)n, in);
    assert_int_equal(program_forward_int_values(plain, in, n, va), 0);
    assert_int_equal(program_forward_int_values(q, in, n, vb), 0);
    int32_t relays_end = plain->ops[0].out; /* relays of pixels come before the first hidden op */
    for (int k = 0; k < plain->n_ops; k++)
        if (plain->blocks[plain->ops[k].block].rows == 12) {
            relays_end = plain->ops[k].out;
            break;
        }
    assert_true(relays_end > 14);
    assert_memory_equal(va, vb, sizeof *va * (size_t)relays_end * n);
    free(in), free(va), free(vb);
    program_free(plain);
    program_free(q);
    program_free(relayed);
    program_free(fp);
    free(px);
}

/* A lossy block whose last neurons have only zero weights (a dead filter
 * or approximator unit): the cut before them must not leave a piece of no
 * rows (once clustered into zero centroids of `cols` values, overflowing the
 * heap; alexnet-lite on truenorth). The zero columns join the piece before. */
static void test_trailing_zero_columns(void **state)
{
    (void)state;
    g_rng = 13;
    const int n_in = 18, hidden = 8, zeros = 5;
    Program *fp = random_float(n_in, hidden, 3, 0);
    CoreBlock *h = &fp->blocks[0];
    for (int j = hidden - zeros; j < hidden; j++)
        for (int i = 0; i < h->rows; i++)
            h->wf[(size_t)j * h->rows + i] = 0;
    uint8_t *px = random_pixels(32, n_in);
    Hw hw;
    axon_hw(&hw, 2);
    hw.crossbar.rows = hw.crossbar.cols = 64;
    double rel;
    Program *plain, *q = typed(fp, &hw, px, 32, &plain, &rel);
    VerifyReport rep;
    assert_int_equal(verify_checked(q, &hw, &rep), 0);
    verify_report_free(&rep);
    assert_int_equal(q->n_neurons, plain->n_neurons);
    for (int b = 0; b < q->n_blocks; b++)
        assert_true(q->blocks[b].rows >= 1);
    program_free(plain);
    program_free(q);
    program_free(fp);
    free(px);
}

/* The same types and weights on 1 and 2 threads. */
static void test_threads(void **state)
{
    (void)state;
    g_rng = 5;
    Program *fp = random_float(120, 40, 10, 0);
    uint8_t *px = random_pixels(200, 120);
    Hw hw;
    axon_hw(&hw, 4);
    hw.crossbar.rows = hw.crossbar.cols = 256;
    double r1, r2;
    omp_set_num_threads(1);
    Program *a = typed(fp, &hw, px, 200, NULL, &r1);
    omp_set_num_threads(2);
    Program *b = typed(fp, &hw, px, 200, NULL, &r2);
    assert_same_weights(a, b);
    assert_true(r1 == r2);
    program_free(a);
    program_free(b);
    program_free(fp);
    free(px);
}

/* lenet5 compiled naive for truenorth (4 axon types, fan-out 1) verifies clean. */
static void test_truenorth_lenet5(void **state)
{
    (void)state;
    Model m;
    Dataset ds;
    Hw hw;
    char err[1024];
    Program *fp = NULL, *relayed = NULL, *p = NULL;
    if (lenet5_reformed("truenorth", SPLIT_TRAIN, &m, &ds, &hw, &fp))
        return;
    assert_int_equal(hw.weights.encoding, HW_ENC_AXON_TYPES);
    if (add_relays(fp, hw.crossbar.fanout, hw.crossbar.cols, &relayed, err, sizeof err) ||
        quantise_naive(relayed, &hw, ds.train.pixels, 64, &p, err, sizeof err))
        fail_msg("%s", err);
    VerifyReport rep;
    long long v = verify_checked(p, &hw, &rep);
    if (v) {
        char line[512];
        verify_describe(&rep, 0, line, sizeof line);
        fail_msg("%lld violations: %s", v, line);
    }
    int typed_blocks = 0;
    for (int b = 0; b < p->n_blocks; b++)
        typed_blocks += p->blocks[b].axon_type != NULL;
    assert_true(typed_blocks > 0);
    verify_report_free(&rep);
    program_free(fp);
    program_free(relayed);
    program_free(p);
    model_free(&m);
    dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_rule),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_random_programs_fit),
        cmocka_unit_test(test_exact_cases),
        cmocka_unit_test(test_trailing_zero_columns),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_truenorth_lenet5),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
