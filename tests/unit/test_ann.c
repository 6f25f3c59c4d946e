/* compiler/program + simulators/ann: programs built by hand, run on the ANN
 * core simulator and checked against arithmetic done here; structural
 * validation; identical results on any thread count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/compiler.h"
#include "compiler/program.h"
#include "nn/nn.h"
#include "simulators/ann_paths.h"
#include "simulators/gemm_u8.h"
#include "simulators/simulators.h"

/* 4 inputs → a shared 3×2 ReLU block at two positions (one padded) → a 4×3 linear block. */
static Program *small_program(void)
{
    Program *p = program_create(4, 4); /* I/O 0..15 */
    assert_non_null(p);
    const int32_t wa[2 * 3] = {1, 2, -1, /* neuron 0 */ 3, 0, 1};
    const int64_t ba[2] = {1, -2};
    int a = program_add_block(p, 3, 2, wa, ba, 1, CORE_RELU);
    assert_int_equal(a, 0);
    assert_int_equal(program_add_op(p, a, (int32_t[]){0, 1, 2}, 0, 0), 4);
    assert_int_equal(program_add_op(p, a, (int32_t[]){2, 3, PROGRAM_ZERO}, 0, 0), 6);
    const int32_t wb[3 * 4] = {1, 1, 1, 1, 2, 0, 0, -2, 0, -3, 5, 0};
    int b = program_add_block(p, 4, 3, wb, (int64_t[]){0, 10, -7}, 0, CORE_LINEAR);
    assert_int_equal(program_add_op(p, b, (int32_t[]){4, 5, 6, 7}, 1, 1), 8);
    assert_int_equal(program_set_outputs(p, (int32_t[]){8, 9, 10}, 3), 0);
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
    return p;
}

static int64_t relu_q(int64_t acc, int shift, int64_t top)
{
    int64_t y = acc >= 0 ? (acc + (1 << shift >> 1)) >> shift : -((-acc) >> shift); /* only sign matters below 0 */
    return y < 0 ? 0 : y > top ? top : y;
}

static void test_small_program(void **state)
{
    (void)state;
    Program *p = small_program();
    const int32_t x[2][4] = {{3, 5, 7, 2}, {15, 0, 15, 15}};
    int64_t got[2][3];
    assert_int_equal(ann_run(p, &x[0][0], 2, &got[0][0]), 0);
    for (int img = 0; img < 2; img++) {
        const int32_t *v = x[img];
        int64_t h[4] = {
            relu_q(1 + v[0] + 2 * v[1] - v[2], 1, 15), relu_q(-2 + 3 * v[0] + v[2], 1, 15),
            relu_q(1 + v[2] + 2 * v[3] - 0, 1, 15), relu_q(-2 + 3 * v[2] + 0, 1, 15)};
        int64_t want[3] = {h[0] + h[1] + h[2] + h[3], 10 + 2 * h[0] - 2 * h[3], -7 - 3 * h[1] + 5 * h[2]};
        for (int o = 0; o < 3; o++)
            assert_int_equal(got[img][o], want[o]);
    }
    program_free(p);
}

/* Round half up, clamp at 0 and at 2^bits − 1. */
static void test_rounding_and_saturation(void **state)
{
    (void)state;
    Program *p = program_create(1, 3); /* 0..7 */
    int relu = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 2, CORE_RELU);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t h = program_add_op(p, relu, (int32_t[]){0}, 0, 0);
    int32_t o = program_add_op(p, lin, &h, 1, 1);
    program_set_outputs(p, &o, 1);
    /* acc/4 rounded half up: 5→1.25→1, 6→1.5→2, 9→2.25→2, 10→2.5→3, 40→10→7 (saturated). */
    const int32_t in[] = {0, 1, 2, 5, 6, 9, 10, 40};
    const int64_t want[] = {0, 0, 1, 1, 2, 2, 3, 7};
    int64_t got[8];
    assert_int_equal(ann_run(p, in, 8, got), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(got[i], want[i]);
    program_free(p);

    p = program_create(1, 8); /* a negative accumulator clamps to 0 */
    relu = program_add_block(p, 1, 1, (int32_t[]){-3}, (int64_t[]){1}, 1, CORE_RELU);
    lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    h = program_add_op(p, relu, (int32_t[]){0}, 0, 0);
    o = program_add_op(p, lin, &h, 1, 1);
    program_set_outputs(p, &o, 1);
    assert_int_equal(ann_run(p, (int32_t[]){5}, 1, got), 0);
    assert_int_equal(got[0], 0);
    program_free(p);
}

static void test_threads_do_not_change_results(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 7);
    const int n_in = 64, rows = 32, cols = 16, layers = 3, images = 37;
    Program *p = program_create(n_in, 8);
    int32_t w[32 * 16], in[32];
    int64_t bias[16];
    int32_t prev = 0, prev_n = n_in;
    for (int l = 0; l < layers; l++) {
        for (int i = 0; i < rows * cols; i++)
            w[i] = (int32_t)rng_below(&r, 255) - 127;
        for (int j = 0; j < cols; j++)
            bias[j] = (int64_t)rng_below(&r, 2001) - 1000;
        int b = program_add_block(p, rows, cols, w, bias, 7, l == layers - 1 ? CORE_LINEAR : CORE_RELU);
        int32_t first = -1;
        for (int op = 0; op < 4; op++) {
            for (int i = 0; i < rows; i++)
                in[i] = rng_below(&r, 10) == 0 ? PROGRAM_ZERO : prev + (int32_t)rng_below(&r, (uint32_t)prev_n);
            int32_t o = program_add_op(p, b, in, l, l);
            first = first < 0 ? o : first;
        }
        prev = first;
        prev_n = 4 * cols;
    }
    int32_t outs[64];
    for (int i = 0; i < 64; i++)
        outs[i] = prev + i;
    assert_int_equal(program_set_outputs(p, outs, 64), 0);
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
    int32_t *x = malloc(sizeof *x * (size_t)images * n_in);
    for (int i = 0; i < images * n_in; i++)
        x[i] = (int32_t)rng_below(&r, 256);
    int64_t *a = malloc(sizeof *a * images * 64), *b = malloc(sizeof *b * images * 64);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(ann_run(p, x, images, a), 0);
    omp_set_num_threads(2);
    assert_int_equal(ann_run(p, x, images, b), 0);
    omp_set_num_threads(threads);
    assert_memory_equal(a, b, sizeof *a * images * 64);
    free(x);
    free(a);
    free(b);
    program_free(p);
}

static void expect_invalid(Program *p, const char *must_contain)
{
    char err[256] = "";
    assert_int_equal(program_validate(p, err, sizeof err), -1);
    if (!strstr(err, must_contain))
        fail_msg("'%s' lacks '%s'", err, must_contain);
    program_free(p);
}

static void test_validation(void **state)
{
    (void)state;
    Program *p = small_program();
    p->ops[1].in[0] = 7; /* reads a neuron it produces */
    expect_invalid(p, "core op 1: row 0 reads neuron 7");

    p = small_program();
    p->outputs[1] = 5; /* a ReLU neuron as a logit */
    expect_invalid(p, "output 1 is neuron 5");

    p = program_create(2, 8);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0}, 0, 0), -1); /* no such block */
    assert_int_equal(program_add_block(p, 0, 1, NULL, NULL, 0, CORE_RELU), -1);
    expect_invalid(p, "no outputs");
}

/* Relay neurons: with fan-out 1 every neuron feeds one op, and the program computes the same. */
static void test_relays(void **state)
{
    (void)state;
    Program *p = small_program(), *q;
    char err[256];
    if (add_relays(p, 1, 4, &q, err, sizeof err))
        fail_msg("%s", err);
    if (program_validate(q, err, sizeof err))
        fail_msg("%s", err);
    int *readers = calloc((size_t)q->n_neurons, sizeof *readers);
    for (int k = 0; k < q->n_ops; k++) {
        const CoreBlock *b = &q->blocks[q->ops[k].block];
        for (int i = 0; i < b->rows; i++) {
            int seen = 0;
            for (int r = 0; r < i; r++)
                seen |= q->ops[k].in[r] == q->ops[k].in[i];
            if (q->ops[k].in[i] != PROGRAM_ZERO && !seen)
                readers[q->ops[k].in[i]]++;
        }
    }
    for (int n = 0; n < q->n_neurons; n++)
        assert_true(readers[n] <= 1);
    assert_true(q->n_ops > p->n_ops);
    const int32_t x[2][4] = {{3, 5, 7, 2}, {15, 0, 15, 15}};
    int64_t a[2][3], b[2][3];
    assert_int_equal(ann_run(p, &x[0][0], 2, &a[0][0]), 0);
    assert_int_equal(ann_run(q, &x[0][0], 2, &b[0][0]), 0);
    assert_memory_equal(a, b, sizeof a);
    /* Fan-out 2 needs fewer copies; a neuron needing more copies than columns is refused. */
    Program *q2;
    assert_int_equal(add_relays(p, 2, 4, &q2, err, sizeof err), 0);
    assert_true(q2->n_ops <= q->n_ops);
    program_free(q2);
    free(readers);
    program_free(q);
    program_free(p);
}

/* A value read by more ops than a core has columns gets a relay tree. */
static void test_relay_tree(void **state)
{
    (void)state;
    Program *p = program_create(2, 8), *q;
    int b = program_add_block(p, 2, 1, (int32_t[]){1, 2}, NULL, 0, CORE_RELU);
    int32_t outs[10];
    for (int k = 0; k < 10; k++) /* pixel 0 read by ten ops */
        outs[k] = program_add_op(p, b, (int32_t[]){0, 1}, 0, 0);
    int l = program_add_block(p, 10, 1, (int32_t[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, NULL, 0, CORE_LINEAR);
    int32_t logit = program_add_op(p, l, outs, 1, 1);
    assert_int_equal(program_set_outputs(p, &logit, 1), 0);
    char err[256];
    if (add_relays(p, 1, 4, &q, err, sizeof err)) /* 10 copies: 3 first copies, then 4 + 4 + 2 */
        fail_msg("%s", err);
    if (program_validate(q, err, sizeof err))
        fail_msg("%s", err);
    int *readers = calloc((size_t)q->n_neurons, sizeof *readers);
    for (int k = 0; k < q->n_ops; k++)
        for (int i = 0; i < q->blocks[q->ops[k].block].rows; i++)
            readers[q->ops[k].in[i]]++;
    for (int n = 0; n < q->n_neurons; n++)
        assert_true(readers[n] <= 1);
    const int32_t x[2][2] = {{3, 5}, {200, 1}};
    int64_t a[2], c[2];
    assert_int_equal(ann_run(p, &x[0][0], 2, a), 0);
    assert_int_equal(ann_run(q, &x[0][0], 2, c), 0);
    assert_memory_equal(a, c, sizeof a);
    program_free(q);
    /* 2 columns: 10 copies would need a third level. */
    assert_int_not_equal(add_relays(p, 1, 2, &q, err, sizeof err), 0);
    assert_non_null(strstr(err, "two levels of relays"));
    free(readers);
    program_free(p);
}

/* ------------------------------------------- fast path = reference */

/* A block of the kinds the fast path treats apart: dense random weights
 * (some columns negated or repeated copies of others: the split pairs),
 * or sparse ±small weights (pooling trees, merges); random shift and
 * biases that push the ReLU into both clamps. */
static int random_block(Program *p, Rng *r, int rows, int cols, CoreActivation act, int wbits)
{
    int32_t *w = calloc((size_t)rows * cols, sizeof *w);
    int64_t *bias = malloc(sizeof *bias * (size_t)cols);
    const int sparse = rng_below(r, 3) == 0, wmax = (1 << (wbits - 1)) - 1;
    for (int j = 0; j < cols; j++) {
        int32_t *col = w + (size_t)j * rows;
        if (j > 0 && rng_below(r, 3) == 0) { /* a copy of an earlier column, maybe negated */
            const int32_t *from = w + (size_t)rng_below(r, (uint32_t)j) * rows;
            const int32_t sign = rng_below(r, 2) ? -1 : 1;
            for (int i = 0; i < rows; i++)
                col[i] = sign * from[i];
        } else if (sparse) {
            for (int t = 0, nz = 1 + (int)rng_below(r, 3); t < nz; t++)
                col[rng_below(r, (uint32_t)rows)] = (int32_t)rng_below(r, 5) - 2;
        } else {
            for (int i = 0; i < rows; i++)
                col[i] = rng_below(r, 9) == 0 ? -wmax - 1 : (int32_t)rng_below(r, (uint32_t)(2 * wmax + 1)) - wmax;
        }
        bias[j] = (int64_t)rng_below(r, 20001) - 10000;
    }
    int shift = act == CORE_RELU ? (int)rng_below(r, 13) : 0;
    int b = program_add_block(p, rows, cols, w, bias, shift, act);
    assert_true(b >= 0);
    free(w);
    free(bias);
    return b;
}

/* Layers of blocks with several ops each (runs of the fast path), reading
 * random earlier neurons (1 in 10 rows wired to 0), then linear outputs. */
static Program *random_layered(Rng *r, int io_bits, int wbits)
{
    const int n_in = 20 + (int)rng_below(r, 60);
    Program *p = program_create(n_in, io_bits);
    int32_t *pool = malloc(sizeof *pool * 20000), *in = malloc(sizeof *in * 300), outs[256];
    int n_pool = 0, n_outs = 0;
    for (int i = 0; i < n_in; i++)
        pool[n_pool++] = i;
    for (int layer = 0, layers = 1 + (int)rng_below(r, 4); layer < layers; layer++) {
        int added = n_pool;
        for (int blocks = 1 + (int)rng_below(r, 3); blocks > 0; blocks--) {
            int rows = 1 + (int)rng_below(r, 300), cols = 1 + (int)rng_below(r, 40);
            int b = random_block(p, r, rows, cols, CORE_RELU, wbits);
            for (int ops = 1 + (int)rng_below(r, 40); ops > 0 && n_pool + cols < 20000; ops--) {
                for (int i = 0; i < rows; i++)
                    in[i] = rng_below(r, 10) == 0 ? PROGRAM_ZERO : pool[rng_below(r, (uint32_t)added)];
                int32_t out = program_add_op(p, b, in, layer, layer);
                assert_true(out >= 0);
                for (int j = 0; j < cols; j++)
                    pool[n_pool++] = out + j;
            }
        }
    }
    int rows = 1 + (int)rng_below(r, 200), cols = 1 + (int)rng_below(r, 12);
    int lin = random_block(p, r, rows, cols, CORE_LINEAR, wbits);
    for (int ops = 1 + (int)rng_below(r, 3); ops > 0; ops--) {
        for (int i = 0; i < rows; i++)
            in[i] = rng_below(r, 10) == 0 ? PROGRAM_ZERO : pool[rng_below(r, (uint32_t)n_pool)];
        int32_t out = program_add_op(p, lin, in, 99, 99);
        for (int j = 0; j < cols; j++)
            outs[n_outs++] = out + j;
    }
    assert_int_equal(program_set_outputs(p, outs, n_outs), 0);
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
    free(pool);
    free(in);
    return p;
}

static void expect_same_as_reference(const Program *p, const int32_t *x, int n, int want_fast)
{
    assert_int_equal(ann_fast_fits(p, x, n), want_fast);
    size_t bytes = sizeof(int64_t) * (size_t)n * p->n_outputs;
    int64_t *a = malloc(bytes ? bytes : 1), *b = malloc(bytes ? bytes : 1);
    assert_int_equal(ann_run(p, x, n, a), 0);
    assert_int_equal(ann_reference_run(p, x, NULL, n, b, NULL), 0);
    assert_memory_equal(a, b, bytes);
    free(a);
    free(b);
}

/* Random programs of 1..8-bit I/O and 2..8-bit weights (ReLU saturating at
 * both ends, zero rows, negated and repeated columns, sparse blocks, runs
 * longer than a chunk), 1..300 images: the fast path gives the reference's
 * logits bit for bit, on 1 and 2 threads. */
static void test_fast_equals_reference(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 2024);
    const int threads = omp_get_max_threads();
    long logits = 0;
    for (int trial = 0; trial < 24; trial++) {
        const int io_bits = 1 + (int)rng_below(&r, 8), wbits = 2 + (int)rng_below(&r, 7);
        Program *p = random_layered(&r, io_bits, wbits);
        const int n = 1 + (int)rng_below(&r, 300), top = (1 << io_bits) - 1;
        int32_t *x = malloc(sizeof *x * (size_t)n * p->n_inputs);
        for (int i = 0; i < n * p->n_inputs; i++) /* the first image all top */
            x[i] = i < p->n_inputs ? top : (int32_t)rng_below(&r, (uint32_t)top + 1);
        omp_set_num_threads(1 + trial % 2);
        setenv("NNBENCH_NO_VNNI", trial % 4 < 2 ? "0" : "1", 1); /* gemm_u8 and float paths */
        expect_same_as_reference(p, x, n, 1);
        logits += (long)n * p->n_outputs;
        free(x);
        program_free(p);
    }
    omp_set_num_threads(threads);
    unsetenv("NNBENCH_NO_VNNI");
    printf("fast path = reference on %ld logits (gemm_u8 %s)\n", logits,
           gemm_u8_supported() ? "and float paths" : "unsupported here: float path");
}

/* What the fast path leaves to the reference: inputs out of range, sums
 * beyond float's exact integers, an op reading a logit, a float program. */
static void test_fast_path_refusals(void **state)
{
    (void)state;
    Program *p = small_program();
    int32_t x[4] = {3, 5, 7, 2};
    expect_same_as_reference(p, x, 1, 1);
    x[2] = 16; /* outside 0..15 */
    expect_same_as_reference(p, x, 1, 0);
    x[2] = 7;
    p->blocks[1].w[0] = 1 << 21; /* 2^21 · 15 > 2^24 */
    expect_same_as_reference(p, x, 1, 0);
    program_free(p);

    p = program_create(1, 8); /* a linear neuron read by an op */
    int lin = program_add_block(p, 1, 1, (int32_t[]){3}, NULL, 0, CORE_LINEAR);
    int32_t h = program_add_op(p, lin, (int32_t[]){0}, 0, 0);
    int32_t o = program_add_op(p, lin, &h, 1, 1);
    assert_int_equal(program_set_outputs(p, &o, 1), 0);
    expect_same_as_reference(p, (int32_t[]){200}, 1, 0);
    program_free(p);

    p = program_create_float(1);
    assert_int_equal(program_add_block_float(p, 1, 1, (float[]){1}, NULL, CORE_LINEAR), 0);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0}, 0, 0), 1);
    assert_int_equal(program_set_outputs(p, (int32_t[]){1}, 1), 0);
    assert_int_equal(ann_fast_fits(p, (int32_t[]){0}, 1), 0);
    float fx = 2.5f, fa, fb;
    assert_int_equal(ann_run_float(p, &fx, 1, &fa), 0);
    assert_int_equal(ann_reference_run(p, NULL, &fx, 1, NULL, &fb), 0);
    assert_true(fa == fb && fa == 2.5f);
    program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_program),
        cmocka_unit_test(test_rounding_and_saturation),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_relays),
        cmocka_unit_test(test_relay_tree),
        cmocka_unit_test(test_fast_equals_reference),
        cmocka_unit_test(test_fast_path_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
