/* simulators/pim: a core worked out by hand through DAC slices, cells and
 * ADCs; saturation; bit-exact agreement with the ANN core on an ideal chip
 * (random programs, every periphery shape, and lenet5 on MNIST); the
 * noise and stuck cells seeded, measured and independent of threads and
 * image order; programs a chip cannot hold refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/compiler.h"
#include "datasets/datasets.h"
#include "simulators/gemm_u8.h"
#include "simulators/pim_chip.h"
#include "simulators/simulators.h"
#include "tests/unit/tmpfiles.h"

/* The prime preset reshaped: weight and periphery widths (cells 0: the int
 * encoding, one cell of `bits`), an ideal device. */
static Hw chip_hw(int bits, int cells, int cell_bits, int dac_bits, int differential, int adc_bits)
{
    Hw hw;
    char err[512];
    if (hw_open("prime", NULL, 0, &hw, NULL, 0, err, sizeof err))
        fail_msg("%s", err);
    hw.weights.bits = bits;
    hw.weights.encoding = cells ? HW_ENC_CELLS : HW_ENC_INT;
    hw.weights.cells = cells;
    hw.weights.cell_bits = cells ? cell_bits : 0;
    hw.pim.dac_bits = dac_bits;
    hw.pim.differential = differential;
    hw.pim.adc_bits = adc_bits;
    hw.pim.adc_range = 0;
    hw.pim.noise_sigma = hw.pim.stuck_at_rate = 0;
    return hw;
}

static PimChip *program_ok(const Program *p, const Hw *hw)
{
    char err[512];
    PimChip *chip = pim_program(p, hw, err, sizeof err);
    if (!chip)
        fail_msg("%s", err);
    return chip;
}

/* ------------------------------------------------------------ by hand */

/* 3 inputs of 4 bits → one linear 3×2 block:
 *   column 0: w = (7, −5, 3), bias 0    →  7·13 − 5·6 + 3·9      = 88
 *   column 1: w = (−8, 2, 0), bias 5    → −8·13 + 2·6 + 0·9 + 5  = −87
 * on x = (13, 6, 9), with 2-bit DAC slices and two 2-bit cells a weight.
 *
 * Slices (low, high): 13 = 11|01 → (1, 3); 6 = 01|10 → (2, 1); 9 = 10|01 → (1, 2).
 * Column 0, differential: positive array holds 7 = 01|11 and 3 = 00|11,
 * negative holds 5 = 01|01. Levels (cell 0; cell 1), by row:
 *   pos c0 = (3, 0, 3), pos c1 = (1, 0, 0), neg c0 = (0, 1, 0), neg c1 = (0, 1, 0).
 * Column sums S (slice 0; slice 1):
 *   pos c0: 1·3 + 1·3 = 6;  3·3 + 2·3 = 15     pos c1: 1;  3
 *   neg c0: 2;  1                               neg c1: 2;  1
 * Shift and add, weight 2^(2s + 2c):
 *   pos = 6 + 15·4 + 1·4 + 3·16 = 118,  neg = 2 + 1·4 + 2·4 + 1·16 = 30,  D = 88.
 * Column 1: positive c0 = (0, 2, 0): S = 4; 2 → 4 + 2·4 = 12. Negative c1
 *   (8 = 10|00) = (2, 0, 0): S = 2; 6 → (2 + 6·4)·4 = 104. D = 12 − 104 = −92, +5 = −87.
 * Single-ended (offset 8): column 0 stores (15, 3, 11): 15·13 + 3·6 + 11·9 = 312,
 *   minus 8·(13 + 6 + 9) = 224 → 88; column 1 stores (0, 10, 8): 132 − 224 + 5 = −87.
 *
 * A 3-bit ADC (M = 7) with full scale F = 14: code = min(7, ⌊S/2 + ½⌋), value code·2.
 *   Column 0: pos c0 6 → 3, 15 → 8 → 7 (saturated); pos c1 1 → 1, 3 → 2;
 *     neg c0 2 → 1, 1 → 1; neg c1 2 → 1, 1 → 1.
 *     C = (3 + 7·4 + 1·4 + 2·16) − (1 + 1·4 + 1·4 + 1·16) = 67 − 25 = 42; D = 42·14/7 = 84.
 *   Column 1: pos c0 4 → 2, 2 → 1: 2 + 1·4 = 6; neg c1 2 → 1, 6 → 3: (1 + 3·4)·4 = 52.
 *     C = −46; D = −92; +5 → −87. */
static Program *hand_program(void)
{
    Program *p = program_create(3, 4);
    const int32_t w[2 * 3] = {7, -5, 3, -8, 2, 0};
    assert_int_equal(program_add_block(p, 3, 2, w, (int64_t[]){0, 5}, 0, CORE_LINEAR), 0);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0, 1, 2}, 0, 0), 3);
    assert_int_equal(program_set_outputs(p, (int32_t[]){3, 4}, 2), 0);
    return p;
}

static void expect_logits(const Program *p, const Hw *hw, const int32_t *x, const int64_t *want,
                          int n)
{
    PimChip *chip = program_ok(p, hw);
    int64_t got[8];
    assert_int_equal(pim_run(chip, x, 1, got), 0);
    for (int o = 0; o < n; o++)
        if (got[o] != want[o])
            fail_msg("logit %d: %lld, expected %lld", o, (long long)got[o], (long long)want[o]);
    pim_free(chip);
}

static void test_by_hand(void **state)
{
    (void)state;
    Program *p = hand_program();
    const int32_t x[3] = {13, 6, 9};
    int64_t ann[2];
    assert_int_equal(ann_run(p, x, 1, ann), 0);
    assert_true(ann[0] == 88 && ann[1] == -87);

    Hw hw = chip_hw(4, 2, 2, 2, 1, 0);
    expect_logits(p, &hw, x, (int64_t[]){88, -87}, 2);
    hw.pim.differential = 0;
    expect_logits(p, &hw, x, (int64_t[]){88, -87}, 2);

    hw = chip_hw(4, 2, 2, 2, 1, 3);
    p->blocks[0].adc_full = 14;
    expect_logits(p, &hw, x, (int64_t[]){84, -87}, 2);
    program_free(p);
}

/* One weight on one input, one 4-bit slice, one 4-bit cell, a 4-bit ADC (M = 15). */
static void test_adc_saturates(void **state)
{
    (void)state;
    Program *p = program_create(1, 4);
    assert_int_equal(program_add_block(p, 1, 1, (int32_t[]){3}, NULL, 0, CORE_LINEAR), 0);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0}, 0, 0), 1);
    assert_int_equal(program_set_outputs(p, (int32_t[]){1}, 1), 0);
    Hw hw = chip_hw(4, 1, 4, 0, 1, 4);
    p->blocks[0].adc_full = 20;
    /* S = 45 > F = 20: the top code 15, worth 20. S = 15: code ⌊11.25 + ½⌋ = 11,
     * worth ⌊14.67 + ½⌋ = 15. S = 3: code 2, worth 3. */
    expect_logits(p, &hw, (int32_t[]){15}, (int64_t[]){20}, 1);
    expect_logits(p, &hw, (int32_t[]){5}, (int64_t[]){15}, 1);
    expect_logits(p, &hw, (int32_t[]){1}, (int64_t[]){3}, 1);
    /* the negative array saturates alike */
    p->blocks[0].w[0] = -3;
    expect_logits(p, &hw, (int32_t[]){15}, (int64_t[]){-20}, 1);

    /* no adc_full: r · rows · (2^4 − 1) · (2^4 − 1) = r · 225 */
    p->blocks[0].adc_full = 0;
    p->blocks[0].w[0] = 7;
    hw.pim.adc_range = 0.25; /* F = ⌊56.25 + ½⌋ = 56 < S = 105: saturated */
    expect_logits(p, &hw, (int32_t[]){15}, (int64_t[]){56}, 1);
    hw.pim.adc_range = 0; /* r = 1: F = 225, code ⌊105·15/225 + ½⌋ = 7, worth exactly 105 */
    expect_logits(p, &hw, (int32_t[]){15}, (int64_t[]){105}, 1);
    program_free(p);
}

/* ------------------------------------------------- random programs */

static int32_t weight(Rng *r, int bits)
{
    const int32_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    switch (rng_below(r, 8)) {
    case 0:
        return lo;
    case 1:
        return hi;
    default:
        return lo + (int32_t)rng_below(r, (uint32_t)(hi - lo + 1));
    }
}

/* A block of random weights in the signed `bits` range and biases. */
static int random_block(Program *p, Rng *r, int bits, CoreActivation act)
{
    int rows = 1 + (int)rng_below(r, 12), cols = 1 + (int)rng_below(r, 6);
    int32_t w[12 * 6];
    int64_t bias[6];
    for (int i = 0; i < rows * cols; i++)
        w[i] = weight(r, bits);
    for (int j = 0; j < cols; j++)
        bias[j] = (int64_t)rng_below(r, 4001) - 2000;
    int shift = act == CORE_RELU ? (int)rng_below(r, 9) : 0;
    int b = program_add_block(p, rows, cols, w, bias, shift, act);
    assert_true(b >= 0);
    return b;
}

/* An op of block b reading random neurons of the pool (1 in 8 rows 0). */
static int32_t random_op(Program *p, Rng *r, int b, const int32_t *pool, int n_pool, int group)
{
    int32_t in[12];
    for (int i = 0; i < p->blocks[b].rows; i++)
        in[i] = rng_below(r, 8) == 0 ? PROGRAM_ZERO : pool[rng_below(r, (uint32_t)n_pool)];
    int32_t out = program_add_op(p, b, in, group, group);
    assert_true(out >= 0);
    return out;
}

/* ReLU ops wired to inputs and earlier ops (blocks shared by several
 * ops), then linear ops reading them: their neurons are the logits. */
static Program *random_program(Rng *r, int io_bits, int wbits)
{
    const int n_in = 12 + (int)rng_below(r, 10);
    Program *p = program_create(n_in, io_bits);
    int32_t pool[512], outs[64];
    int n_pool = 0, n_outs = 0, relu[4], n_relu = 2 + (int)rng_below(r, 3);
    for (int i = 0; i < n_in; i++)
        pool[n_pool++] = i;
    for (int b = 0; b < n_relu; b++)
        relu[b] = random_block(p, r, wbits, CORE_RELU);
    for (int k = 0, ops = 4 + (int)rng_below(r, 6); k < ops; k++) {
        int b = relu[rng_below(r, (uint32_t)n_relu)];
        int32_t out = random_op(p, r, b, pool, n_pool, k);
        for (int j = 0; j < p->blocks[b].cols; j++)
            pool[n_pool++] = out + j;
    }
    int lin = random_block(p, r, wbits, CORE_LINEAR);
    for (int k = 0, ops = 1 + (int)rng_below(r, 3); k < ops; k++) {
        int32_t out = random_op(p, r, lin, pool, n_pool, p->n_groups);
        for (int j = 0; j < p->blocks[lin].cols; j++)
            outs[n_outs++] = out + j;
    }
    assert_int_equal(program_set_outputs(p, outs, n_outs), 0);
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
    return p;
}

/* n images of random inputs, the first all top, the second all 0. */
static int32_t *random_images(Rng *r, const Program *p, int n)
{
    int32_t *x = malloc(sizeof *x * (size_t)n * p->n_inputs);
    assert_non_null(x);
    const uint32_t levels = 1u << p->io_bits;
    for (int i = 0; i < n * p->n_inputs; i++)
        x[i] = i < p->n_inputs ? (int32_t)levels - 1
               : i < 2 * p->n_inputs ? 0 : (int32_t)rng_below(r, levels);
    return x;
}

/* Differential yes/no × DAC 0/1/3 × 1, 2 or 4 cells (and the int encoding):
 * an ideal chip computes what the ANN core computes, bit for bit. */
static void test_ideal_equals_ann(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 11);
    const int dacs[] = {0, 1, 3}, cells[] = {0, 1, 2, 4}, images = 12;
    int checked = 0;
    for (int diff = 0; diff <= 1; diff++)
        for (size_t d = 0; d < sizeof dacs / sizeof *dacs; d++)
            for (size_t c = 0; c < sizeof cells / sizeof *cells; c++)
                for (int trial = 0; trial < 3; trial++) {
                    const int wbits = 8, io_bits = 3 + (int)rng_below(&r, 6); /* 3..8 */
                    Hw hw = chip_hw(wbits, cells[c], cells[c] ? wbits / cells[c] : 0, dacs[d],
                                    diff, 0);
                    Program *p = random_program(&r, io_bits, wbits);
                    int32_t *x = random_images(&r, p, images);
                    size_t n_out = (size_t)images * p->n_outputs;
                    int64_t *want = malloc(sizeof *want * n_out);
                    int64_t *got = malloc(sizeof *got * n_out);
                    assert_int_equal(ann_run(p, x, images, want), 0);
                    PimChip *chip = program_ok(p, &hw);
                    assert_int_equal(pim_run(chip, x, images, got), 0);
                    for (size_t o = 0; o < n_out; o++)
                        if (got[o] != want[o])
                            fail_msg("differential %d, dac %d, cells %d, io %d: logit %zu: %lld, "
                                     "ANN %lld",
                                     diff, dacs[d], cells[c], io_bits, o, (long long)got[o],
                                     (long long)want[o]);
                    checked += (int)n_out;
                    pim_free(chip);
                    free(x);
                    free(want);
                    free(got);
                    program_free(p);
                }
    printf("ideal PIM = ANN on %d logits\n", checked);
}

/* ------------------------------------------ noise, seeds and threads */

/* A prime chip with every imperfection: 6-bit ADC, noise, stuck cells. */
static Hw noisy_hw(uint64_t seed, double sigma, double stuck, int adc_bits)
{
    Hw hw = chip_hw(8, 2, 4, 3, 1, adc_bits);
    hw.pim.noise_sigma = sigma;
    hw.pim.stuck_at_rate = stuck;
    hw.pim.seed = seed;
    return hw;
}

static int64_t *run(const Program *p, const Hw *hw, const int32_t *x, int n)
{
    int64_t *out = malloc(sizeof *out * (size_t)n * p->n_outputs);
    PimChip *chip = program_ok(p, hw);
    assert_int_equal(pim_run(chip, x, n, out), 0);
    pim_free(chip);
    return out;
}

static void test_threads_and_order(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 5);
    const int n = 41;
    Program *p = random_program(&r, 6, 8);
    int32_t *x = random_images(&r, p, n);
    const size_t per = (size_t)p->n_outputs, bytes = sizeof(int64_t) * per * n;
    Hw hw = noisy_hw(3, 0.1, 0.02, 6);
    PimChip *chip = program_ok(p, &hw);
    int64_t *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(pim_run(chip, x, n, a), 0);
    omp_set_num_threads(2);
    assert_int_equal(pim_run(chip, x, n, b), 0);
    omp_set_num_threads(threads);
    assert_memory_equal(a, b, bytes);

    /* the images in reverse order, and a tail run alone */
    int32_t *rev = malloc(sizeof *rev * (size_t)n * p->n_inputs);
    for (int i = 0; i < n; i++)
        memcpy(rev + (size_t)i * p->n_inputs, x + (size_t)(n - 1 - i) * p->n_inputs,
               sizeof *rev * (size_t)p->n_inputs);
    assert_int_equal(pim_run(chip, rev, n, c), 0);
    for (int i = 0; i < n; i++)
        assert_memory_equal(c + (size_t)i * per, a + (size_t)(n - 1 - i) * per, sizeof *c * per);
    assert_int_equal(pim_run(chip, x + (size_t)30 * p->n_inputs, n - 30, c), 0);
    assert_memory_equal(c, a + 30 * per, sizeof *c * per * (n - 30));

    /* programming on 1 or 2 threads draws the same chip */
    omp_set_num_threads(1);
    int64_t *d = run(p, &hw, x, n);
    omp_set_num_threads(threads);
    assert_memory_equal(a, d, bytes);
    free(rev);
    free(a);
    free(b);
    free(c);
    free(d);
    free(x);
    pim_free(chip);
    program_free(p);
}

static void test_seeds(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 8);
    const int n = 20;
    Program *p = random_program(&r, 6, 8);
    int32_t *x = random_images(&r, p, n);
    const size_t bytes = sizeof(int64_t) * p->n_outputs * n;
    Hw one = noisy_hw(42, 0.1, 0, 0), other = noisy_hw(43, 0.1, 0, 0);
    Hw ideal = noisy_hw(42, 0, 0, 0);
    int64_t *a = run(p, &one, x, n), *b = run(p, &one, x, n), *c = run(p, &other, x, n);
    int64_t *e = run(p, &ideal, x, n);
    assert_memory_equal(a, b, bytes);
    assert_memory_not_equal(a, c, bytes);
    assert_memory_not_equal(a, e, bytes);
    /* stuck cells change the result too, and follow the seed */
    Hw stuck = noisy_hw(42, 0, 0.05, 0);
    int64_t *s1 = run(p, &stuck, x, n), *s2 = run(p, &stuck, x, n);
    assert_memory_equal(s1, s2, bytes);
    assert_memory_not_equal(s1, e, bytes);
    free(a);
    free(b);
    free(c);
    free(e);
    free(s1);
    free(s2);
    free(x);
    program_free(p);
}

/* The programmed cells themselves: relative noise of mean 0 and deviation
 * σ; stuck cells at the rate asked, half at each end. */
static void test_cell_statistics(void **state)
{
    (void)state;
    enum { ROWS = 200, COLS = 100 };
    Program *p = program_create(ROWS, 6);
    int32_t *w = malloc(sizeof *w * ROWS * COLS);
    for (int i = 0; i < ROWS * COLS; i++)
        w[i] = 85; /* 0101|0101: both cells at level 5 */
    assert_int_equal(program_add_block(p, ROWS, COLS, w, NULL, 0, CORE_LINEAR), 0);
    int32_t in[ROWS];
    for (int i = 0; i < ROWS; i++)
        in[i] = i;
    int32_t out = program_add_op(p, 0, in, 0, 0);
    assert_int_equal(program_set_outputs(p, &out, 1), 0);

    Hw hw = noisy_hw(9, 0.1, 0, 0);
    PimChip *chip = program_ok(p, &hw);
    const PimBlock *b = &chip->blocks[0];
    const double unit = 5.0 * (1 << PIM_FRAC_BITS);
    double sum = 0, sq = 0;
    int cells = 0;
    for (size_t t = 0; t < (size_t)ROWS * COLS * 4; t++) {
        if (t / (ROWS * COLS) / 2 == 1) { /* the negative array: level 0, no noise */
            assert_true(b->g[t] == 0);
            continue;
        }
        double e = b->g[t] / unit - 1;
        sum += e;
        sq += e * e;
        cells++;
    }
    double mean = sum / cells, sd = sqrt(sq / cells - mean * mean);
    printf("noise σ = 0.1: mean %.4f, deviation %.4f over %d cells\n", mean, sd, cells);
    assert_true(fabs(mean) < 0.005 && fabs(sd - 0.1) < 0.005);
    pim_free(chip);

    hw = noisy_hw(9, 0, 0.2, 0);
    chip = program_ok(p, &hw);
    b = &chip->blocks[0];
    int low = 0, high = 0, total = ROWS * COLS * 4;
    for (int t = 0; t < total; t++) {
        int negative = t / (ROWS * COLS) / 2;
        low += b->g[t] == 0 && !negative;
        high += b->g[t] == 15;
        assert_true(b->g[t] == 0 || b->g[t] == 5 || b->g[t] == 15);
    }
    /* a stuck-low positive cell and a stuck-high one each take ~10% */
    printf("stuck at 0.2: %.4f low (of the positive cells), %.4f high\n", low / (total / 2.0),
           high / (double)total);
    assert_true(fabs(low / (total / 2.0) - 0.1) < 0.01 && fabs(high / (double)total - 0.1) < 0.01);
    pim_free(chip);
    free(w);
    program_free(p);
}

/* ------------------------------------------- fast path = reference */

/* Layers of blocks shared by several ops (the fast path's runs): dense
 * weights with columns copied or negated from others (split pairs), or
 * sparse small weights (pooling trees); a random ADC full scale per block,
 * often far below the largest column sum (saturating), or unset. */
static Program *random_layered(Rng *r, int io_bits, int wbits)
{
    const int n_in = 10 + (int)rng_below(r, 40);
    Program *p = program_create(n_in, io_bits);
    int32_t pool[4096], in[100], outs[64];
    int n_pool = 0, n_outs = 0;
    for (int i = 0; i < n_in; i++)
        pool[n_pool++] = i;
    for (int layer = 0, layers = 1 + (int)rng_below(r, 3); layer <= layers; layer++) {
        const int last = layer == layers, made = n_pool;
        const int rows = 1 + (int)rng_below(r, 100), cols = 1 + (int)rng_below(r, last ? 8 : 24);
        int32_t *w = calloc((size_t)rows * cols, sizeof *w);
        int64_t bias[24];
        const int sparse = rng_below(r, 3) == 0;
        for (int j = 0; j < cols; j++) {
            int32_t *col = w + (size_t)j * rows;
            if (j && rng_below(r, 2)) {
                const int32_t *from = w + (size_t)rng_below(r, (uint32_t)j) * rows, sg = rng_below(r, 2) ? -1 : 1;
                for (int i = 0; i < rows; i++) /* −(−2^(bits−1)) does not fit: clip */
                    col[i] = sg * from[i] > (1 << (wbits - 1)) - 1 ? (1 << (wbits - 1)) - 1 : sg * from[i];
            } else {
                for (int i = 0; i < rows; i++)
                    col[i] = sparse ? (rng_below(r, 8) ? 0 : (int32_t)rng_below(r, 3) - 1) : weight(r, wbits);
            }
            bias[j] = (int64_t)rng_below(r, 4001) - 2000;
        }
        const CoreActivation act = last ? CORE_LINEAR : CORE_RELU;
        int b = program_add_block(p, rows, cols, w, bias, act == CORE_RELU ? (int)rng_below(r, 9) : 0, act);
        assert_true(b >= 0);
        free(w);
        p->blocks[b].adc_full = rng_below(r, 2) ? 1 + (int64_t)rng_below(r, 50u * (uint32_t)rows) : 0;
        for (int ops = last ? 1 + (int)rng_below(r, 2) : 1 + (int)rng_below(r, 20); ops > 0; ops--) {
            if (n_pool + cols > 4096)
                break;
            for (int i = 0; i < rows; i++)
                in[i] = rng_below(r, 8) == 0 ? PROGRAM_ZERO : pool[rng_below(r, (uint32_t)made)];
            int32_t out = program_add_op(p, b, in, layer, layer);
            assert_true(out >= 0);
            for (int j = 0; j < cols; j++)
                if (last)
                    outs[n_outs++] = out + j;
                else
                    pool[n_pool++] = out + j;
        }
    }
    assert_int_equal(program_set_outputs(p, outs, n_outs), 0);
    char err[256];
    if (program_validate(p, err, sizeof err))
        fail_msg("%s", err);
    return p;
}

/* Differential yes/no × DAC 0/1/3 × the int encoding or 1, 2, 4 cells ×
 * ideal, 3- and 6-bit ADCs, with and without stuck cells, and with noise
 * (which the fast path leaves to the reference): pim_run's fast path gives
 * the reference path's logits bit for bit. */
static void test_fast_equals_reference(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 77);
    const int dacs[] = {0, 1, 3}, cells[] = {0, 1, 2, 4}, adcs[] = {0, 3, 6}, images = 40;
    long checked = 0;
    for (int no_vnni = 0; no_vnni <= 1; no_vnni++) /* both fast paths where the CPU has gemm_u8 */
        for (int diff = 0; diff <= 1; diff++)
            for (size_t d = 0; d < 3; d++)
                for (size_t c = 0; c < 4; c++)
                    for (size_t a = 0; a < 3; a++)
                        for (int imperfect = 0; imperfect < 3; imperfect++) {
                            const int wbits = 8, io_bits = 2 + (int)rng_below(&r, 7);
                            Hw hw = chip_hw(wbits, cells[c], cells[c] ? wbits / cells[c] : 0, dacs[d], diff,
                                            adcs[a]);
                            hw.pim.seed = 1 + rng_below(&r, 1000);
                            hw.pim.stuck_at_rate = imperfect == 1 ? 0.05 : 0;
                            hw.pim.noise_sigma = imperfect == 2 ? 0.05 : 0;
                            Program *p = random_layered(&r, io_bits, wbits);
                            int32_t *x = random_images(&r, p, images);
                            x[2 * p->n_inputs] = 1 << io_bits; /* out of range: the DAC clamps */
                            setenv("NNBENCH_NO_VNNI", no_vnni ? "1" : "0", 1);
                            const size_t bytes = sizeof(int64_t) * images * p->n_outputs;
                            int64_t *fast = malloc(bytes), *ref = malloc(bytes);
                            PimChip *chip = program_ok(p, &hw);
                            if ((chip->fast != NULL) != (imperfect != 2))
                                fail_msg("differential %d, dac %d, cells %d, adc %d, imperfect %d: fast "
                                         "path %s", diff, dacs[d], cells[c], adcs[a], imperfect,
                                         chip->fast ? "taken" : "refused");
                            const size_t nv = (size_t)images * p->n_neurons;
                            int32_t *vf = malloc(sizeof *vf * nv), *vr = malloc(sizeof *vr * nv);
                            assert_int_equal(pim_run_values(chip, x, images, fast, vf), 0);
                            PimFast *keep = chip->fast;
                            chip->fast = NULL;
                            assert_int_equal(pim_run_values(chip, x, images, ref, vr), 0);
                            chip->fast = keep;
                            assert_memory_equal(vf, vr, sizeof *vf * nv); /* every neuron, as the full strategy reads them */
                            free(vf);
                            free(vr);
                            for (size_t o = 0; o < bytes / sizeof *ref; o++)
                                if (fast[o] != ref[o])
                                    fail_msg("differential %d, dac %d, cells %d, adc %d, imperfect %d: "
                                             "logit %zu: fast %lld, reference %lld",
                                             diff, dacs[d], cells[c], adcs[a], imperfect, o,
                                             (long long)fast[o], (long long)ref[o]);
                            checked += (long)(bytes / sizeof *ref);
                            pim_free(chip);
                            free(fast);
                            free(ref);
                            free(x);
                            program_free(p);
                        }
    unsetenv("NNBENCH_NO_VNNI");
    printf("fast path = reference on %ld logits (gemm_u8 %s)\n", checked,
           gemm_u8_supported() ? "and float paths" : "unsupported here: float path");
}

/* ------------------------------------------------------------- refusals */

static void expect_refused(const Program *p, const Hw *hw, const char *part)
{
    char err[512] = "";
    assert_null(pim_program(p, hw, err, sizeof err));
    assert_has(err, part);
}

static void test_refused(void **state)
{
    (void)state;
    Program *p = hand_program();
    Hw hw = chip_hw(4, 1, 2, 2, 1, 0); /* magnitudes up to 3 */
    expect_refused(p, &hw, "block 0: weight 7 (row 0, column 0) does not fit 1 cell of 2 bits");
    hw = chip_hw(3, 1, 3, 2, 0, 0); /* offset 4: 7 + 4 > 7 */
    expect_refused(p, &hw, "weight 7 (row 0, column 0) does not fit 1 cell of 3 bits offset");
    hw = chip_hw(4, 2, 2, 2, 1, 3);
    p->blocks[0].adc_full = (int64_t)1 << 60;
    expect_refused(p, &hw, "block 0: ADC full scale 1152921504606846976 makes");
    p->blocks[0].adc_full = 0;
    hw = chip_hw(16, 4, 16, 16, 1, 0);
    expect_refused(p, &hw, "pim: 4 cells of 16 bits: too wide a weight to simulate");
    hw = chip_hw(16, 3, 16, 16, 1, 0);
    expect_refused(p, &hw, "-bit sums: beyond the simulator's 62");
    p->ops[0].in[0] = 5; /* a neuron not made yet */
    expect_refused(p, &hw, "pim: not a valid program: core op 0: row 0 reads neuron 5");
    program_free(p);

    p = program_create_float(1);
    assert_int_equal(program_add_block_float(p, 1, 1, (float[]){1}, NULL, CORE_LINEAR), 0);
    assert_int_equal(program_add_op(p, 0, (int32_t[]){0}, 0, 0), 1);
    assert_int_equal(program_set_outputs(p, (int32_t[]){1}, 1), 0);
    expect_refused(p, &hw, "pim: a float program");
    program_free(p);
    pim_free(NULL);
}

/* --------------------------------------------------------------- lenet5 */

/* naive lenet5 on the prime preset with an ideal ADC: the PIM chip and the
 * ANN core agree bit for bit on real images. The 6-bit ADC's accuracy is
 * printed for reference (without a calibrated full scale it is poor). */
static void test_lenet5_prime(void **state)
{
    (void)state;
    if (access("models/lenet5.h5", R_OK) != 0) {
        printf("skip: models/lenet5.h5 not found\n");
        return;
    }
    Dataset ds;
    char err[1024];
    if (dataset_load("mnist", SPLIT_BOTH, &ds, err, sizeof err)) {
        printf("skip: %s\n", err);
        return;
    }
    Model m;
    Hw hw;
    if (model_load("models/lenet5.h5", &m, err, sizeof err) ||
        hw_open("prime", (const char *[]){"pim.adc_bits=0"}, 1, &hw, NULL, 0, err, sizeof err))
        fail_msg("%s", err);
    Program *fp, *p;
    ReformOptions opt = {.rows = hw.crossbar.rows, .cols = hw.crossbar.cols};
    if (reform(m.net, &m.train.norm, &opt, &fp, err, sizeof err) ||
        quantise_naive(fp, &hw, ds.train.pixels, 128, &p, err, sizeof err))
        fail_msg("%s", err);
    const int n = 100;
    size_t in = shape_size(ds.shape);
    int32_t *q = malloc(sizeof *q * in * n);
    int64_t *a = malloc(sizeof *a * 10 * n), *b = malloc(sizeof *b * 10 * n);
    quantise_pixels(p, ds.test.pixels, in * n, q);
    assert_int_equal(ann_run(p, q, n, a), 0);
    PimChip *chip = program_ok(p, &hw);
    assert_int_equal(pim_run(chip, q, n, b), 0);
    assert_memory_equal(a, b, sizeof *a * 10 * n);
    pim_free(chip);

    int right[2] = {0, 0};
    hw.pim.adc_bits = 6;
    chip = program_ok(p, &hw);
    assert_int_equal(pim_run(chip, q, n, b), 0);
    for (int i = 0; i < n; i++) {
        int best[2] = {0, 0};
        for (int c = 1; c < 10; c++) {
            best[0] = a[i * 10 + c] > a[i * 10 + best[0]] ? c : best[0];
            best[1] = b[i * 10 + c] > b[i * 10 + best[1]] ? c : best[1];
        }
        right[0] += best[0] == ds.test.labels[i];
        right[1] += best[1] == ds.test.labels[i];
    }
    printf("naive lenet5 on prime: ideal ADC %d/%d correct (= ANN bit for bit); 6-bit ADC over "
           "the largest possible column sum (no calibrated adc_full) %d/%d\n",
           right[0], n, right[1], n);
    pim_free(chip);
    free(q);
    free(a);
    free(b);
    program_free(fp);
    program_free(p);
    model_free(&m);
    dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),           cmocka_unit_test(test_adc_saturates),
        cmocka_unit_test(test_ideal_equals_ann),  cmocka_unit_test(test_threads_and_order),
        cmocka_unit_test(test_seeds),             cmocka_unit_test(test_cell_statistics),
        cmocka_unit_test(test_refused),           cmocka_unit_test(test_lenet5_prime),
        cmocka_unit_test(test_fast_equals_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
