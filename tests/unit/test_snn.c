/* simulators/snn: spiking cores on programs built by hand, checked against
 * spike trains worked out here, on both the fast path (snn_run) and the
 * plain reference path (snn_reference.h), which must agree everywhere;
 * identical results on any thread count, batch split and (poisson) the same
 * seed. The fast path's corners are in test_snn_fast.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/hw.h"
#include "compiler/program.h"
#include "nn/nn.h"
#include "simulators/simulators.h"
#include "simulators/snn_reference.h"

static Hw snn_hw(int coding, int activation, int reset, double leak, int window)
{
    Hw hw;
    hw_default(&hw);
    hw.target.mode = HW_SNN;
    hw.io.window = window;
    hw.io.input_coding = coding;
    hw.io.seed = 1;
    hw.neuron.activation = activation;
    hw.neuron.reset = reset;
    hw.neuron.leak = leak;
    return hw;
}

static void must_validate(const Program *p)
{
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
}

typedef struct {
    int64_t *logits, *final, *spikes;
} Run;

static void run_free(Run *r)
{
    free(r->logits);
    free(r->final);
    free(r->spikes);
}

/* Runs n images; logits [n][T][n_outputs], final [n][n_outputs], spikes [n]
 * are allocated here (free them). The reference path must agree, so every
 * case below pins both paths. */
static Run run(const Program *p, const Hw *hw, const int32_t *x, int n, long first)
{
    Run r = {calloc((size_t)n * hw->io.window * p->n_outputs, sizeof(int64_t)),
             calloc((size_t)n * p->n_outputs, sizeof(int64_t)), calloc((size_t)n, sizeof(int64_t))};
    assert_non_null(r.logits);
    SnnOutput out = {r.logits, r.final, r.spikes, NULL};
    assert_int_equal(snn_run(p, hw, x, n, first, &out), 0);
    Run ref = {malloc(sizeof(int64_t) * n * hw->io.window * p->n_outputs),
               malloc(sizeof(int64_t) * n * p->n_outputs), malloc(sizeof(int64_t) * n)};
    assert_true(ref.logits && ref.final && ref.spikes);
    assert_int_equal(snn_reference_run(p, hw, x, n, first, &(SnnOutput){ref.logits, ref.final, ref.spikes, NULL}), 0);
    assert_memory_equal(r.logits, ref.logits, sizeof(int64_t) * n * hw->io.window * p->n_outputs);
    assert_memory_equal(r.final, ref.final, sizeof(int64_t) * n * p->n_outputs);
    assert_memory_equal(r.spikes, ref.spikes, sizeof(int64_t) * n);
    run_free(&ref);
    return r;
}


/* ------------------------------------------------------- by hand */

/* pixel → one IF neuron (weight 1, threshold 2^2) → a linear output of
 * weight 1, whose logit after step t is the neuron's spike count so far. */
static Program *one_neuron(int io_bits)
{
    Program *p = program_create(1, io_bits);
    int relu = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 2, CORE_RELU);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t h = program_add_op(p, relu, (int32_t[]){0}, 0, 0);
    int32_t o = program_add_op(p, lin, &h, 1, 1);
    assert_int_equal(program_set_outputs(p, &o, 1), 0);
    must_validate(p);
    return p;
}

static void expect_counts(const Program *p, const Hw *hw, int32_t x, const int64_t *want, int64_t spikes)
{
    Run r = run(p, hw, &x, 1, 0);
    for (int t = 0; t < hw->io.window; t++)
        assert_int_equal(r.logits[t], want[t]);
    assert_int_equal(r.final[0], want[hw->io.window - 1]);
    assert_int_equal(r.spikes[0], spikes);
    run_free(&r);
}

/* Current coding, x = 3 every step, θ = 4, T = 5 (V after each step):
 *   IF, subtract:       3, 6→2 *, 5→1 *, 4→0 *, 3         train 0 1 1 1 0
 *   IF, zero:           3, 6→0 *, 3, 6→0 *, 3              train 0 1 0 1 0
 *   LIF λ = 1 (leak ¼), subtract:
 *                       3−1=2, 2+3−1=4→0 *, 2, 4→0 *, 2    train 0 1 0 1 0
 *   LIF λ = 2 (leak ½): 3−2=1, 1+3−2=2, 3, 4→0 *, 1        train 0 0 0 1 0 */
static void test_one_neuron_by_hand(void **state)
{
    (void)state;
    Program *p = one_neuron(2); /* pixels 0..3 */
    Hw hw = snn_hw(HW_IN_CURRENT, HW_ACT_IF, HW_RESET_SUBTRACT, 0, 5);
    expect_counts(p, &hw, 3, (int64_t[]){0, 1, 2, 3, 3}, 3);
    hw.neuron.reset = HW_RESET_ZERO;
    expect_counts(p, &hw, 3, (int64_t[]){0, 1, 1, 2, 2}, 2);
    hw = snn_hw(HW_IN_CURRENT, HW_ACT_LIF, HW_RESET_SUBTRACT, 0.25, 5);
    expect_counts(p, &hw, 3, (int64_t[]){0, 1, 1, 2, 2}, 2);
    hw.neuron.leak = 0.5;
    expect_counts(p, &hw, 3, (int64_t[]){0, 0, 0, 1, 1}, 1);
    /* leak 1 = θ: V = 3 − 4 → 0 (not past 0) every step, never a spike; an
     * if neuron ignores the leak. */
    hw.neuron.leak = 1;
    expect_counts(p, &hw, 3, (int64_t[]){0, 0, 0, 0, 0}, 0);
    hw.neuron.activation = HW_ACT_IF;
    expect_counts(p, &hw, 3, (int64_t[]){0, 1, 2, 3, 3}, 3);
    program_free(p);
}

/* The leak stops at 0 from either side. Rate coding, top = 3: pixel A
 * (x = 3) spikes every step, pixel B (x = 2) at t = 1 (⌊2·2/3⌋ > ⌊1·2/3⌋).
 * Two LIF neurons, θ = 4, λ = round(½ · 4) = 2, T = 2:
 *   n0 = A + 5B:  t0 1 → 0;   t1 0 + 1 + 5 = 6 → 4: fires (V 0)
 *   n1 = −A + 6B: t0 −1 → 0;  t1 0 − 1 + 6 = 5 → 3: silent
 * A leak that went past 0 (1 → −1, −1 → +1) would give 5 → 3 (silent) and
 * 6 → 4 (fires): the opposite. */
static void test_leak_stops_at_zero(void **state)
{
    (void)state;
    Program *p = program_create(2, 2);
    int relu = program_add_block(p, 2, 2, (int32_t[]){1, 5, /* n1 */ -1, 6}, NULL, 2, CORE_RELU);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t h = program_add_op(p, relu, (int32_t[]){0, 1}, 0, 0);
    int32_t o0 = program_add_op(p, lin, &h, 1, 1), o1 = program_add_op(p, lin, &(int32_t){h + 1}, 1, 1);
    assert_int_equal(program_set_outputs(p, (int32_t[]){o0, o1}, 2), 0);
    must_validate(p);
    Hw hw = snn_hw(HW_IN_RATE, HW_ACT_LIF, HW_RESET_SUBTRACT, 0.5, 2);
    Run r = run(p, &hw, (int32_t[]){3, 2}, 1, 0);
    assert_int_equal(r.logits[0], 0);
    assert_int_equal(r.logits[1], 0);
    assert_int_equal(r.final[0], 1);
    assert_int_equal(r.final[1], 0);
    assert_int_equal(r.spikes[0], 1);
    run_free(&r);
    program_free(p);
}

/* Rate coding, top = 15, T = 8: x = 7 (top/2) spikes where ⌊(t+1)·7/15⌋
 * grows: ⌊k·7/15⌋ for k = 0..8 is 0 0 0 1 1 2 2 3 3, so at t = 2, 4, 6;
 * x = 15 at every step; x = 0 never. Each pixel drives one neuron through
 * weight θ = 8, so every input spike is exactly one output spike. */
static void test_rate_train(void **state)
{
    (void)state;
    Program *p = program_create(3, 4);
    int relu = program_add_block(p, 1, 1, (int32_t[]){8}, NULL, 3, CORE_RELU);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t outs[3];
    for (int i = 0; i < 3; i++) {
        int32_t h = program_add_op(p, relu, &(int32_t){i}, 0, 0);
        outs[i] = program_add_op(p, lin, &h, 1, 1);
    }
    assert_int_equal(program_set_outputs(p, outs, 3), 0);
    must_validate(p);
    Hw hw = snn_hw(HW_IN_RATE, HW_ACT_IF, HW_RESET_SUBTRACT, 0, 8);
    Run r = run(p, &hw, (int32_t[]){7, 15, 0}, 1, 0);
    const int64_t half[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    for (int t = 0; t < 8; t++) {
        assert_int_equal(r.logits[t * 3 + 0], half[t]);
        assert_int_equal(r.logits[t * 3 + 1], t + 1);
        assert_int_equal(r.logits[t * 3 + 2], 0);
    }
    assert_int_equal(r.spikes[0], 3 + 8 + 0);
    run_free(&r);
    /* x = 1 of 15 over T = 16: one spike, at t = 14 (⌊15/15⌋ > ⌊14/15⌋). */
    hw.io.window = 16;
    r = run(p, &hw, (int32_t[]){1, 0, 0}, 1, 0);
    for (int t = 0; t < 16; t++)
        assert_int_equal(r.logits[t * 3], t >= 14);
    run_free(&r);
    program_free(p);
}

/* The output layer integrates every step and never spikes: logits are the
 * running sums. Current x = (4, 1): column 0 gets 2·4 − 3·1 + 5 = 10 per
 * step, column 1 gets −1·4 − 2 = −6. Rate x = (15, 0) of top 15: a spike
 * every step on pixel 0 only: 2 + 5 = 7 and −1 − 2 = −3 per step. */
static void test_output_integrates(void **state)
{
    (void)state;
    Program *p = program_create(2, 4);
    int lin = program_add_block(p, 2, 2, (int32_t[]){2, -3, /* column 1 */ -1, 0}, (int64_t[]){5, -2},
                                0, CORE_LINEAR);
    int32_t o = program_add_op(p, lin, (int32_t[]){0, 1}, 0, 0);
    assert_int_equal(program_set_outputs(p, (int32_t[]){o, o + 1}, 2), 0);
    must_validate(p);
    Hw hw = snn_hw(HW_IN_CURRENT, HW_ACT_IF, HW_RESET_SUBTRACT, 0, 4);
    Run r = run(p, &hw, (int32_t[]){4, 1}, 1, 0);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(r.logits[t * 2], 10 * (t + 1));
        assert_int_equal(r.logits[t * 2 + 1], -6 * (t + 1));
    }
    assert_int_equal(r.final[0], 40);
    assert_int_equal(r.final[1], -24);
    assert_int_equal(r.spikes[0], 0);
    run_free(&r);
    hw.io.input_coding = HW_IN_RATE;
    r = run(p, &hw, (int32_t[]){15, 0}, 1, 0);
    assert_int_equal(r.final[0], 28);
    assert_int_equal(r.final[1], -12);
    run_free(&r);
    program_free(p);
}

/* A chain pixel → A → B → C → output, every neuron of threshold 1 and
 * weight 1, the pixel spiking every step: a spike crosses the whole chain in
 * the step it enters, so the output counts 1 already after step 0 (with a
 * one-step delay per layer it would start at step 3). 3 neurons × T spikes. */
static void test_layers_see_spikes_in_the_same_step(void **state)
{
    (void)state;
    Program *p = program_create(1, 1);
    int relu = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_RELU);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t prev = 0;
    for (int l = 0; l < 3; l++)
        prev = program_add_op(p, relu, &prev, l, l);
    int32_t o = program_add_op(p, lin, &prev, 3, 3);
    assert_int_equal(program_set_outputs(p, &o, 1), 0);
    must_validate(p);
    Hw hw = snn_hw(HW_IN_RATE, HW_ACT_IF, HW_RESET_SUBTRACT, 0, 5);
    expect_counts(p, &hw, 1, (int64_t[]){1, 2, 3, 4, 5}, 15);
    program_free(p);
}

/* ------------------------------------------------ reference path */

/* Three ReLU layers of ops sharing one block each (like the positions of a
 * convolution), some rows wired to PROGRAM_ZERO, then a linear layer.
 * Thresholds 2^2 .. 2^5 against weights in −8..8 keep the activity moderate. */
#define N_IN 64
#define N_OUT 10
static Program *random_program(uint64_t seed, int io_bits)
{
    Rng r;
    rng_seed(&r, seed);
    const int rows = 24, cols = 16, ops = 4;
    Program *p = program_create(N_IN, io_bits);
    int32_t w[24 * 16], in[24];
    int64_t bias[16];
    int32_t prev = 0, prev_n = N_IN;
    for (int l = 0; l < 3; l++) {
        for (int i = 0; i < rows * cols; i++)
            w[i] = (int32_t)rng_below(&r, 17) - 8;
        for (int j = 0; j < cols; j++)
            bias[j] = (int64_t)rng_below(&r, 7) - 3;
        int b = program_add_block(p, rows, cols, w, bias, 2 + (int)rng_below(&r, 4), CORE_RELU);
        int32_t first = -1;
        for (int k = 0; k < ops; k++) {
            for (int i = 0; i < rows; i++)
                in[i] = rng_below(&r, 8) == 0 ? PROGRAM_ZERO : prev + (int32_t)rng_below(&r, (uint32_t)prev_n);
            int32_t o = program_add_op(p, b, in, l, l);
            first = first < 0 ? o : first;
        }
        prev = first;
        prev_n = ops * cols;
    }
    int32_t lw[64 * N_OUT], lin_in[64], outs[N_OUT];
    for (int i = 0; i < 64 * N_OUT; i++)
        lw[i] = (int32_t)rng_below(&r, 17) - 8;
    for (int i = 0; i < 64; i++)
        lin_in[i] = prev + i;
    int b = program_add_block(p, 64, N_OUT, lw, NULL, 0, CORE_LINEAR);
    int32_t o = program_add_op(p, b, lin_in, 3, 3);
    for (int i = 0; i < N_OUT; i++)
        outs[i] = o + i;
    assert_int_equal(program_set_outputs(p, outs, N_OUT), 0);
    must_validate(p);
    return p;
}

static int32_t *random_images(uint64_t seed, int n, int io_bits)
{
    Rng r;
    rng_seed(&r, seed);
    int32_t *x = malloc(sizeof *x * (size_t)n * N_IN);
    assert_non_null(x);
    for (int i = 0; i < n * N_IN; i++) /* a third of the pixels dark, as in images */
        x[i] = rng_below(&r, 3) == 0 ? 0 : (int32_t)rng_below(&r, 1u << io_bits);
    return x;
}

/* Every coding, IF and LIF, both resets: equal to the reference path, bit
 * for bit (test_snn_fast.c covers the fast path's corners). */
static void test_matches_reference(void **state)
{
    (void)state;
    const int n = 12, T = 16, io_bits = 4;
    Program *p = random_program(11, io_bits);
    int32_t *x = random_images(12, n, io_bits);
    int64_t want[16 * N_OUT], want_spikes, active = 0;
    for (int coding = HW_IN_CURRENT; coding <= HW_IN_POISSON; coding++)
        for (int act = HW_ACT_IF; act <= HW_ACT_LIF; act++)
            for (int reset = HW_RESET_SUBTRACT; reset <= HW_RESET_ZERO; reset++) {
                Hw hw = snn_hw(coding, act, reset, 0.125, T);
                Run r = run(p, &hw, x, n, 100);
                for (int i = 0; i < n; i++) {
                    SnnOutput ref = {want, NULL, &want_spikes, NULL};
                    assert_int_equal(snn_reference_run(p, &hw, x + i * N_IN, 1, 100 + i, &ref), 0);
                    assert_memory_equal(r.logits + (size_t)i * T * N_OUT, want, sizeof want);
                    assert_memory_equal(r.final + (size_t)i * N_OUT, want + (T - 1) * N_OUT,
                                        sizeof(int64_t) * N_OUT);
                    assert_int_equal(r.spikes[i], want_spikes);
                    active += want_spikes;
                }
                run_free(&r);
            }
    assert_true(active > 1000); /* the comparison saw real activity */
    free(x);
    program_free(p);
}

/* ---------------------------------------------------- determinism */

static void test_threads_and_batches_do_not_change_results(void **state)
{
    (void)state;
    const int n = 97, T = 16, io_bits = 8;
    Program *p = random_program(21, io_bits);
    int32_t *x = random_images(22, n, io_bits);
    int threads = omp_get_max_threads();
    size_t per = (size_t)T * N_OUT;
    for (int coding = HW_IN_CURRENT; coding <= HW_IN_POISSON; coding++) {
        Hw hw = snn_hw(coding, HW_ACT_LIF, HW_RESET_SUBTRACT, 0.0625, T);
        omp_set_num_threads(1);
        Run a = run(p, &hw, x, n, 5000);
        omp_set_num_threads(2);
        Run b = run(p, &hw, x, n, 5000);
        omp_set_num_threads(threads);
        assert_memory_equal(a.logits, b.logits, sizeof(int64_t) * n * per);
        assert_memory_equal(a.final, b.final, sizeof(int64_t) * n * N_OUT);
        assert_memory_equal(a.spikes, b.spikes, sizeof(int64_t) * n);
        /* Images 5000..5039 and 5040..5096 in two calls: the same. */
        Run c1 = run(p, &hw, x, 40, 5000), c2 = run(p, &hw, x + 40 * N_IN, n - 40, 5040);
        assert_memory_equal(a.logits, c1.logits, sizeof(int64_t) * 40 * per);
        assert_memory_equal(a.logits + 40 * per, c2.logits, sizeof(int64_t) * (n - 40) * per);
        assert_memory_equal(a.spikes + 40, c2.spikes, sizeof(int64_t) * (n - 40));
        run_free(&a);
        run_free(&b);
        run_free(&c1);
        run_free(&c2);
    }
    free(x);
    program_free(p);
}

/* The same seed gives the same trains; another seed, or the same image
 * under another index, different ones. */
static void test_poisson_seeds(void **state)
{
    (void)state;
    const int n = 8, T = 16, io_bits = 8;
    Program *p = random_program(31, io_bits);
    int32_t *x = random_images(32, n, io_bits);
    size_t bytes = sizeof(int64_t) * n * T * N_OUT;
    Hw hw = snn_hw(HW_IN_POISSON, HW_ACT_IF, HW_RESET_SUBTRACT, 0, T);
    Run a = run(p, &hw, x, n, 0), b = run(p, &hw, x, n, 0), c = run(p, &hw, x, n, 1);
    hw.io.seed = 2;
    Run d = run(p, &hw, x, n, 0);
    assert_memory_equal(a.logits, b.logits, bytes);
    assert_memory_not_equal(a.logits, c.logits, bytes);
    assert_memory_not_equal(a.logits, d.logits, bytes);
    run_free(&a);
    run_free(&b);
    run_free(&c);
    run_free(&d);
    free(x);
    program_free(p);
}

/* x = 0 never spikes, x = top always, x = 64 of 255 about a quarter of the
 * steps: over T = 4096 the count is 1028 ± 28 (σ); accept ± 5σ. */
static void test_poisson_rates(void **state)
{
    (void)state;
    Program *p = program_create(3, 8);
    int relu = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_RELU);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t outs[3];
    for (int i = 0; i < 3; i++) {
        int32_t h = program_add_op(p, relu, &(int32_t){i}, 0, 0);
        outs[i] = program_add_op(p, lin, &h, 1, 1);
    }
    assert_int_equal(program_set_outputs(p, outs, 3), 0);
    Hw hw = snn_hw(HW_IN_POISSON, HW_ACT_IF, HW_RESET_SUBTRACT, 0, 4096);
    Run r = run(p, &hw, (int32_t[]){0, 255, 64}, 1, 0);
    assert_int_equal(r.final[0], 0);
    assert_int_equal(r.final[1], 4096);
    assert_in_range(r.final[2], 1028 - 140, 1028 + 140);
    run_free(&r);
    program_free(p);
}

/* -------------------------------------------------------- errors */

/* snn_run's status, which the reference path must share. */
static int run_both(const Program *p, const Hw *hw, const int32_t *x, int n, long first, SnnOutput *out)
{
    int status = snn_run(p, hw, x, n, first, out);
    assert_int_equal(snn_reference_run(p, hw, x, n, first, out), status);
    return status;
}

static void test_bad_arguments(void **state)
{
    (void)state;
    Program *p = one_neuron(2);
    Hw hw = snn_hw(HW_IN_RATE, HW_ACT_IF, HW_RESET_SUBTRACT, 0, 4);
    int64_t final[1];
    SnnOutput out = {NULL, final, NULL, NULL};
    int32_t x = 3;
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), 0);
    assert_int_equal(final[0], 1); /* a spike every step, weight 1, θ = 4: one in 4 steps */
    assert_int_equal(run_both(p, &hw, &x, 0, 0, &out), 0); /* nothing to do */
    assert_int_equal(run_both(p, &hw, &x, -1, 0, &out), -1);
    assert_int_equal(run_both(NULL, &hw, &x, 1, 0, &out), -1);
    assert_int_equal(run_both(p, NULL, &x, 1, 0, &out), -1);
    assert_int_equal(run_both(p, &hw, NULL, 1, 0, &out), -1);
    assert_int_equal(run_both(p, &hw, &x, 1, 0, NULL), -1);
    x = 4; /* above top = 3 */
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    x = -1;
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    x = 3;
    hw.io.window = 0;
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    hw.io.window = 4;
    hw.neuron.leak = 1.5;
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    hw.neuron.leak = 0;
    hw.io.input_coding = 7;
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    program_free(p);

    /* A linear neuron feeding a core op: it has no spikes to send. */
    p = program_create(1, 2);
    int lin = program_add_block(p, 1, 1, (int32_t[]){1}, NULL, 0, CORE_LINEAR);
    int32_t a = program_add_op(p, lin, (int32_t[]){0}, 0, 0);
    int32_t b = program_add_op(p, lin, &a, 1, 1);
    assert_int_equal(program_set_outputs(p, &b, 1), 0);
    must_validate(p);
    hw.io.input_coding = HW_IN_RATE;
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    program_free(p);

    p = program_create_float(1);
    int fb = program_add_block_float(p, 1, 1, (float[]){1}, NULL, CORE_LINEAR);
    a = program_add_op(p, fb, (int32_t[]){0}, 0, 0);
    assert_int_equal(program_set_outputs(p, &a, 1), 0);
    assert_int_equal(run_both(p, &hw, &x, 1, 0, &out), -1);
    program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_neuron_by_hand),
        cmocka_unit_test(test_leak_stops_at_zero),
        cmocka_unit_test(test_rate_train),
        cmocka_unit_test(test_output_integrates),
        cmocka_unit_test(test_layers_see_spikes_in_the_same_step),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_threads_and_batches_do_not_change_results),
        cmocka_unit_test(test_poisson_seeds),
        cmocka_unit_test(test_poisson_rates),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
