/* compiler/program + simulators/ann: programs built by hand, run on the ANN
 * core simulator and checked against arithmetic done here; structural
 * validation; identical results on any thread count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/compiler.h"
#include "compiler/program.h"
#include "nn/nn.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_program),
        cmocka_unit_test(test_rounding_and_saturation),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_relays),
        cmocka_unit_test(test_relay_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
