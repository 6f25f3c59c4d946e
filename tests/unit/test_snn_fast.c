/* simulators/snn: the fast path behind snn_run (16-step spike trains, ops
 * grouped into layers by depth, int32 where snn_plan.c proves it safe and
 * int64 elsewhere, code per CPU) against the plain reference path
 * (snn_reference.h), bit for bit: logits after every step, final logits,
 * spike counts, and what the harness makes of them (predictions, the
 * accuracy after every step). Random programs shaped to reach its corners:
 * T not a multiple of 16, layers cut at SNN_LAYER_COLS, a layer of one wider
 * op, ops out of depth order, rows at constant 0, saturated rows (the
 * drive path), weights big enough for the int64 path, int8 weights (the
 * AMX and VNNI paths where the CPU has them, and the portable one), all three codings,
 * IF and LIF, both resets, 1 and 2 threads. */
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
#include "simulators/snn_plan.h"
#include "simulators/snn_reference.h"
#include "simulators/snn_amx.h"
#include "simulators/snn_vnni.h"

#define N_IN 40
#define N_OUT 10
#define N_IMAGES 12

/* Neurons a layer may read. */
typedef struct {
    int32_t ids[2048];
    int n;
} Pool;

static void pool_add(Pool *to, const Pool *from)
{
    assert_true(to->n + from->n <= (int)(sizeof to->ids / sizeof to->ids[0]));
    memcpy(to->ids + to->n, from->ids, sizeof from->ids[0] * (size_t)from->n);
    to->n += from->n;
}

/* How big a block's numbers are: 's'mall, weights ±8 against thresholds
 * 2^2..2^4, int32 throughout; 'm'edium, ±2^16, int32 for spikes but not for
 * pixels of 8 bits under current coding; 'b'ig, ±2^26 against 2^28..2^30,
 * potentials outside int32 within a few steps. */
typedef struct {
    int32_t w_max;
    int64_t bias_max;
    int shift;
} Scale;

static Scale scale_of(char c)
{
    return c == 'b' ? (Scale){1 << 26, 1 << 24, 28} : c == 'm' ? (Scale){1 << 16, 1 << 10, 14} : (Scale){8, 3, 2};
}

/* A block of rows × cols of the given scale (shift: scale.shift + extra),
 * one column in six with bias θ (it fires nearly every step: rows that are
 * saturated downstream), and n_ops ops reading random neurons of `from`, a
 * row in eight at PROGRAM_ZERO. Their neurons go to `to` (if not NULL);
 * returns the first op's first neuron. */
static int32_t add_ops(Program *p, Rng *r, int rows, int cols, Scale s, int extra, CoreActivation act,
                       int n_ops, const Pool *from, Pool *to)
{
    int32_t *w = malloc(sizeof *w * (size_t)rows * (size_t)cols), *in = malloc(sizeof *in * (size_t)rows);
    int64_t *bias = malloc(sizeof *bias * (size_t)cols);
    assert_true(w && in && bias);
    const int shift = act == CORE_LINEAR ? 0 : s.shift + extra;
    for (int i = 0; i < rows * cols; i++)
        w[i] = (int32_t)rng_below(r, 2u * (uint32_t)s.w_max + 1) - s.w_max;
    for (int j = 0; j < cols; j++)
        bias[j] = act != CORE_LINEAR && j % 6 == 5
                      ? (int64_t)1 << shift
                      : (int64_t)rng_below(r, 2u * (uint32_t)s.bias_max + 1) - s.bias_max;
    int b = program_add_block(p, rows, cols, w, bias, shift, act);
    assert_true(b >= 0);
    int32_t first = -1;
    for (int k = 0; k < n_ops; k++) {
        for (int i = 0; i < rows; i++)
            in[i] = rng_below(r, 8) == 0 ? PROGRAM_ZERO : from->ids[rng_below(r, (uint32_t)from->n)];
        int32_t o = program_add_op(p, b, in, b, b);
        assert_true(o >= 0);
        first = first < 0 ? o : first;
        for (int j = 0; to && j < cols; j++)
            to->ids[to->n++] = o + j;
    }
    free(w);
    free(in);
    free(bias);
    return first;
}

/* depth 1: A, 45 ops of 13 columns from the pixels (cut into two layers at
 *          SNN_LAYER_COLS), and A2 of another threshold (its own layer),
 *          one op here and one after B (out of depth order);
 * depth 2: B from pixels and A (current-coded pixels and spikes in one op),
 *          and W, one op of 530 columns from A2 (wider than a layer);
 * depth 3: C from A, B and W; outputs Q from B and R from B and W (two
 *          linear ops in one layer);
 * depth 4: output P (linear) from C and B. The logits interleave P, Q, R.
 * scales: the scale_of A, A2, B (and Q), W (and R), C (and P). */
static Program *random_program(uint64_t seed, int io_bits, const char scales[5])
{
    Rng r;
    rng_seed(&r, seed);
    Program *p = program_create(N_IN, io_bits);
    assert_non_null(p);
    Scale s[5];
    for (int k = 0; k < 5; k++)
        s[k] = scale_of(scales[k]);
    static Pool px, a, a2, b, w, c, from;
    px.n = a.n = a2.n = b.n = w.n = c.n = 0;
    for (int i = 0; i < N_IN; i++)
        px.ids[px.n++] = i;
    add_ops(p, &r, 20, 13, s[0], 0, CORE_RELU, 45, &px, &a);
    add_ops(p, &r, 12, 24, s[1], 1, CORE_RELU, 1, &px, &a2);
    from.n = 0;
    pool_add(&from, &px);
    pool_add(&from, &a);
    add_ops(p, &r, 30, 19, s[2], 0, CORE_RELU, 3, &from, &b);
    add_ops(p, &r, 12, 24, s[1], 1, CORE_RELU, 1, &px, &a2);
    add_ops(p, &r, 16, 530, s[3], 2, CORE_RELU, 1, &a2, &w);
    from.n = 0;
    pool_add(&from, &a);
    pool_add(&from, &b);
    pool_add(&from, &w);
    add_ops(p, &r, 24, 7, s[4], 1, CORE_RELU, 2, &from, &c);
    int32_t q = add_ops(p, &r, 20, 2, s[2], 0, CORE_LINEAR, 1, &b, NULL);
    from.n = 0;
    pool_add(&from, &b);
    pool_add(&from, &w);
    int32_t rr = add_ops(p, &r, 25, 2, s[3], 0, CORE_LINEAR, 1, &from, NULL);
    from.n = 0;
    pool_add(&from, &c);
    pool_add(&from, &b);
    int32_t o = add_ops(p, &r, 21, 6, s[4], 0, CORE_LINEAR, 1, &from, NULL);
    int32_t outs[N_OUT] = {o + 3, q + 1, o, o + 5, rr + 1, o + 1, q, o + 2, rr, o + 4};
    assert_int_equal(program_set_outputs(p, outs, N_OUT), 0);
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
    return p;
}

/* Pixels 0 .. 2^io_bits − 1: a third dark, a sixth at the top (saturated
 * rows under rate coding), the rest anywhere. */
static int32_t *random_images(uint64_t seed, int io_bits)
{
    Rng r;
    rng_seed(&r, seed);
    const uint32_t top = (1u << io_bits) - 1;
    int32_t *x = malloc(sizeof *x * N_IMAGES * N_IN);
    assert_non_null(x);
    for (int i = 0; i < N_IMAGES * N_IN; i++) {
        uint32_t kind = rng_below(&r, 6);
        x[i] = (int32_t)(kind < 2 ? 0 : kind == 2 ? top : rng_below(&r, top + 1));
    }
    return x;
}

static Hw snn_hw(int coding, int activation, int reset, int window)
{
    Hw hw;
    hw_default(&hw);
    hw.target.mode = HW_SNN;
    hw.io.window = window;
    hw.io.input_coding = coding;
    hw.io.seed = 7;
    hw.neuron.activation = activation;
    hw.neuron.reset = reset;
    hw.neuron.leak = 0.3;
    return hw;
}

#define MAX_NEURONS 8192

typedef struct {
    int64_t logits[N_IMAGES * 40 * N_OUT], final[N_IMAGES * N_OUT], spikes[N_IMAGES];
    int32_t counts[N_IMAGES * MAX_NEURONS]; /* each neuron's spikes (the tuning reads them) */
} Outputs;

/* The first largest logit, as the harness picks (harness/run_program.c). */
static int prediction(const int64_t *v)
{
    int best = 0;
    for (int c = 1; c < N_OUT; c++)
        best = v[c] > v[best] ? c : best;
    return best;
}

/* Images right after each step, against arbitrary labels i mod N_OUT. */
static void right_by_step(const Outputs *o, int T, long *right)
{
    for (int t = 0; t < T; t++) {
        right[t] = 0;
        for (int i = 0; i < N_IMAGES; i++)
            right[t] += prediction(o->logits + ((size_t)i * T + t) * N_OUT) == i % N_OUT;
    }
}

/* The fast path on 1 and 2 threads equals the reference on everything.
 * Returns the spikes the reference counted (so callers can demand activity). */
static int64_t expect_fast_equals_reference(const Program *p, const Hw *hw, const int32_t *x)
{
    const int T = hw->io.window;
    assert_true(T <= 40);
    assert_true(p->n_neurons <= MAX_NEURONS);
    static Outputs ref, fast;
    assert_int_equal(snn_reference_run(p, hw, x, N_IMAGES, 300, &(SnnOutput){ref.logits, ref.final, ref.spikes, ref.counts}), 0);
    long want_right[40], right[40];
    right_by_step(&ref, T, want_right);
    const int threads = omp_get_max_threads();
    for (int run = 0; run < 6; run++) { /* 1 and 2 threads, each on AMX, VNNI and neither (where the CPU has them) */
        const int th = 1 + run % 2;
        memset(&fast, 0xa5, sizeof fast);
        omp_set_num_threads(th);
        snn_amx_allow(run < 2);
        snn_vnni_allow(run < 4);
        int status = snn_run(p, hw, x, N_IMAGES, 300, &(SnnOutput){fast.logits, fast.final, fast.spikes, fast.counts});
        snn_amx_allow(1);
        snn_vnni_allow(1);
        omp_set_num_threads(threads);
        assert_int_equal(status, 0);
        assert_memory_equal(fast.logits, ref.logits, sizeof(int64_t) * N_IMAGES * (size_t)T * N_OUT);
        assert_memory_equal(fast.final, ref.final, sizeof fast.final);
        assert_memory_equal(fast.spikes, ref.spikes, sizeof fast.spikes);
        assert_memory_equal(fast.counts, ref.counts, sizeof(int32_t) * N_IMAGES * (size_t)p->n_neurons);
        for (int i = 0; i < N_IMAGES; i++)
            assert_int_equal(prediction(fast.final + i * N_OUT), prediction(ref.final + i * N_OUT));
        right_by_step(&fast, T, right);
        assert_memory_equal(right, want_right, sizeof right[0] * (size_t)T);
    }
    int64_t spikes = 0;
    for (int i = 0; i < N_IMAGES; i++)
        spikes += ref.spikes[i];
    return spikes;
}

/* Which layers the plan runs in int64 (bit l: layer l), and how many layers. */
static unsigned wide_layers(const Program *p, const Hw *hw, int *n_layers)
{
    SnnPlan pl;
    assert_int_equal(snn_plan_make(p, hw, &pl), 0);
    unsigned wide = 0;
    assert_true(pl.n_layers <= 32);
    for (int l = 0; l < pl.n_layers; l++)
        wide |= (unsigned)pl.layers[l].wide << l;
    *n_layers = pl.n_layers;
    snn_plan_free(&pl);
    return wide;
}

/* Which layers add int8 weights (bit l: layer l). */
static unsigned byte_layers(const Program *p, const Hw *hw)
{
    SnnPlan pl;
    assert_int_equal(snn_plan_make(p, hw, &pl), 0);
    unsigned bytes = 0;
    for (int l = 0; l < pl.n_layers && l < 32; l++)
        bytes |= (unsigned)pl.layers[l].bytes << l;
    snn_plan_free(&pl);
    return bytes;
}

/* Every coding, IF and LIF, both resets, T = 1, 20 and 40 on one program:
 * equal, and with enough spikes that the comparison means something. */
static void sweep_hw(const Program *p, const int32_t *x, int64_t min_spikes_per_run)
{
    static const int windows[] = {1, 20, 40};
    for (int wi = 0; wi < 3; wi++)
        for (int coding = HW_IN_CURRENT; coding <= HW_IN_POISSON; coding++)
            for (int act = HW_ACT_IF; act <= HW_ACT_LIF; act++)
                for (int reset = HW_RESET_SUBTRACT; reset <= HW_RESET_ZERO; reset++) {
                    Hw hw = snn_hw(coding, act, reset, windows[wi]);
                    int64_t spikes = expect_fast_equals_reference(p, &hw, x);
                    if (windows[wi] > 1 && spikes < min_spikes_per_run)
                        fail_msg("coding %d act %d reset %d T %d: only %lld spikes", coding, act, reset,
                                 windows[wi], (long long)spikes);
                }
}

/* Small weights: every layer in int32 (rate and poisson: spikes are 0/1;
 * current: pixels up to 2^io_bits − 1 still fit), the plan's layers as
 * random_program intends. */
static void test_int32_layers(void **state)
{
    (void)state;
    for (int io_bits = 3; io_bits <= 8; io_bits += 5) {
        Program *p = random_program(41 + (uint64_t)io_bits, io_bits, "sssss");
        int32_t *x = random_images(42 + (uint64_t)io_bits, io_bits);
        int n_layers;
        for (int coding = HW_IN_CURRENT; coding <= HW_IN_POISSON; coding++) {
            Hw hw = snn_hw(coding, HW_ACT_IF, HW_RESET_SUBTRACT, 40);
            assert_int_equal(wide_layers(p, &hw, &n_layers), 0);
            assert_int_equal(n_layers, 8); /* A ×2 (cut at SNN_LAYER_COLS), A2, B, W, C, Q + R, P */
            assert_int_equal(byte_layers(p, &hw), 0xff); /* weights of ±8 */
        }
        sweep_hw(p, x, 2000);
        free(x);
        program_free(p);
    }
}

/* Big weights everywhere: every spiking layer in int64, with potentials
 * far outside int32 (an int32 layer here gives other logits). */
static void test_int64_layers(void **state)
{
    (void)state;
    Program *p = random_program(51, 8, "bbbbb");
    int32_t *x = random_images(52, 8);
    int n_layers;
    Hw hw = snn_hw(HW_IN_RATE, HW_ACT_IF, HW_RESET_SUBTRACT, 40);
    unsigned wide = wide_layers(p, &hw, &n_layers);
    assert_int_equal(wide, 0xff); /* all eight */
    sweep_hw(p, x, 2000);
    free(x);
    program_free(p);
}

/* int32 and int64 layers in one program, each reading the other's trains:
 * W, C and the outputs big, so int64; A medium, so int64 under current coding
 * only (its 8-bit pixels), int32 under rate. */
static void test_mixed_layers(void **state)
{
    (void)state;
    Program *p = random_program(61, 8, "mssbb");
    int32_t *x = random_images(62, 8);
    int n_layers;
    /* layers: A2 (the smaller θ of depth 1 first), A ×2, B, W, C, Q + R, P */
    Hw hw = snn_hw(HW_IN_RATE, HW_ACT_LIF, HW_RESET_ZERO, 20);
    assert_int_equal(wide_layers(p, &hw, &n_layers), 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7);
    assert_int_equal(byte_layers(p, &hw), 1u << 0 | 1u << 3); /* A2, B: small; A medium */
    hw.io.input_coding = HW_IN_CURRENT;
    assert_int_equal(wide_layers(p, &hw, &n_layers), 1u << 1 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7);
    sweep_hw(p, x, 2000);
    free(x);
    program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int32_layers),
        cmocka_unit_test(test_int64_layers),
        cmocka_unit_test(test_mixed_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
