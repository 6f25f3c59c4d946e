/* The full strategy's tuning (compiler/tune*.c): the block solver recovers
 * a block the data determine, progressive rounding beats rounding to
 * nearest on the data it sees, range tuning clips outliers, and on lenet5
 * at 4-bit weights and I/O full recovers what naive loses,
 * deterministically. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "compiler/compiler.h"
#include "compiler/tune.h"
#include "datasets/datasets.h"
#include "simulators/simulators.h"
#include "tests/unit/lenet5_fixture.h"

static uint64_t rng = 12345;
static double uniform(void) /* [0, 1) */
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* n samples of R inputs 0..15 (plus the bias column 1), targets from
 * continuous weights wc ([R+1][C], θ = 1). */
static TuneProblem problem(int R, int C, int n, const double *wc)
{
    TuneProblem tp = {R, C, n, malloc(sizeof(double) * n * (R + 1)), malloc(sizeof(double) * n * C),
                      malloc(sizeof(double) * (R + 1) * C)};
    for (int s = 0; s < n; s++) {
        double shared = floor(uniform() * 16); /* correlated inputs make the Hessian matter */
        for (int i = 0; i < R; i++)
            tp.U[s * (R + 1) + i] = uniform() < 0.5 ? shared : floor(uniform() * 16);
        tp.U[s * (R + 1) + R] = 1;
        for (int j = 0; j < C; j++) {
            double y = 0;
            for (int i = 0; i <= R; i++)
                y += tp.U[s * (R + 1) + i] * wc[i * C + j];
            tp.Y[s * C + j] = y;
        }
    }
    memcpy(tp.w0, wc, sizeof(double) * (R + 1) * C);
    return tp;
}

static void problem_free(TuneProblem *tp)
{
    free(tp->U);
    free(tp->Y);
    free(tp->w0);
}

/* Squared error of the integer block (w, bias, shift) on tp's samples. */
static double block_error(const TuneProblem *tp, const int32_t *w, const int64_t *bias, int shift)
{
    const int R = tp->rows, C = tp->cols;
    double e = 0;
    for (int s = 0; s < tp->n; s++)
        for (int j = 0; j < C; j++) {
            double y = (double)bias[j];
            for (int i = 0; i < R; i++)
                y += w[j * R + i] * tp->U[s * (R + 1) + i];
            double d = ldexp(y, -shift) - tp->Y[s * C + j];
            e += d * d;
        }
    return e;
}

/* Integer weights in ±7 and θ = 4: free tuning from a wrong prior finds them. */
static void test_solve_recovers_block(void **state)
{
    (void)state;
    enum { R = 12, C = 4, N = 400 };
    double wc[(R + 1) * C];
    int32_t truth[C * R];
    for (int i = 0; i <= R; i++)
        for (int j = 0; j < C; j++) {
            int q = (int)floor(uniform() * 15) - 7;
            if (i == 0 && j == 0)
                q = 7; /* the largest weight fills the 4 bits: shift 2 */
            wc[i * C + j] = q / 4.0;
            if (i < R)
                truth[j * R + i] = q;
        }
    TuneProblem tp = problem(R, C, N, wc);
    for (int i = 0; i < (R + 1) * C; i++)
        tp.w0[i] = wc[i] + (uniform() - 0.5); /* a poor prior */
    int32_t w[C * R];
    int64_t bias[C];
    int shift = 0;
    assert_int_equal(tune_solve(&tp, 1, 1, 0, 7, 24, w, bias, &shift), 0);
    assert_int_equal(shift, 2);
    assert_memory_equal(w, truth, sizeof w);
    for (int j = 0; j < C; j++)
        assert_int_equal(bias[j], llround(wc[R * C + j] * 4));
    /* Without free tuning the poor prior is what gets rounded. */
    assert_int_equal(tune_solve(&tp, 0, 0, 0, 7, 24, w, bias, &shift), 0);
    assert_true(memcmp(w, truth, sizeof w) != 0);
    problem_free(&tp);
}

/* Progressive rounding's error on the samples is below nearest rounding's,
 * problem after problem (weights that fall between the integers). */
static void test_progressive_rounding_beats_nearest(void **state)
{
    (void)state;
    enum { R = 24, C = 6, N = 600 };
    double wins = 0, total_p = 0, total_n = 0;
    for (int trial = 0; trial < 20; trial++) {
        double wc[(R + 1) * C];
        for (int i = 0; i < (R + 1) * C; i++)
            wc[i] = (uniform() * 2 - 1) * 7 / 8.0; /* shift 3 makes them ±7 */
        wc[0] = 7 / 8.0;
        TuneProblem tp = problem(R, C, N, wc);
        int32_t wp[C * R], wn[C * R];
        int64_t bp[C], bn[C];
        int sp = 0, sn = 0;
        assert_int_equal(tune_solve(&tp, 0, 1, 0, 7, 3, wp, bp, &sp), 0);
        assert_int_equal(tune_solve(&tp, 0, 0, 0, 7, 3, wn, bn, &sn), 0);
        assert_int_equal(sp, 3);
        assert_int_equal(sn, 3);
        double ep = block_error(&tp, wp, bp, sp), en = block_error(&tp, wn, bn, sn);
        wins += ep < en;
        total_p += ep;
        total_n += en;
        problem_free(&tp);
    }
    printf("progressive rounding: better in %.0f of 20, error %.1f vs nearest %.1f\n", wins, total_p, total_n);
    assert_true(wins >= 18);
    assert_true(total_p < 0.7 * total_n);
}

/* One neuron's values on 20000 images, uniform in [0, 1), and one outlier
 * at 50: at 4 bits the clip falls far below the outlier (clipping it costs
 * less than coarse steps for all the others); at 255 levels without it,
 * the maximum stays. */
static void test_ranges_clip_outliers(void **state)
{
    (void)state;
    enum { N = 20000 };
    Program *fp = program_create_float(1);
    float w[1] = {1}, b[1] = {0};
    int blk = program_add_block_float(fp, 1, 1, w, b, CORE_RELU);
    int32_t in[1] = {0};
    assert_true(blk >= 0 && program_add_op(fp, blk, in, 0, 0) >= 0);
    float *v = calloc((size_t)2 * N, sizeof *v);
    for (int i = 0; i < N; i++)
        v[N + i] = (float)uniform();
    v[2 * N - 1] = 50;
    double gmax[1];
    assert_int_equal(tune_ranges(fp, v, N, 15, gmax), 0);
    printf("4-bit clip with an outlier at 50: %.3f\n", gmax[0]);
    assert_true(gmax[0] < 10 && gmax[0] > 1);
    v[2 * N - 1] = 0.5f;
    assert_int_equal(tune_ranges(fp, v, N, 255, gmax), 0);
    assert_true(gmax[0] > 0.97);
    free(v);
    program_free(fp);
}

/* The share of n images whose largest of 10 logits is their label. */
static double share_right(const int64_t *logits, const uint8_t *labels, int n)
{
    int right = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < 10; c++)
            best = logits[i * 10 + c] > logits[i * 10 + best] ? c : best;
        right += best == labels[i];
    }
    return (double)right / n;
}

/* Test accuracy (ANN simulator) of p on the first n test images. */
static double accuracy(const Program *p, const Dataset *ds, int n)
{
    size_t in = shape_size(ds->shape);
    int32_t *q = malloc(sizeof *q * in * n);
    int64_t *logits = malloc(sizeof *logits * 10 * n);
    quantise_pixels(p, ds->test.pixels, in * n, q);
    assert_int_equal(ann_run(p, q, n, logits), 0);
    double a = share_right(logits, ds->test.labels, n);
    free(q);
    free(logits);
    return a;
}

static void test_full_lenet5_4bit(void **state)
{
    (void)state;
    Model m;
    Dataset ds;
    Hw hw;
    char err[1024];
    Program *fp, *naive = NULL, *full = NULL, *again = NULL;
    if (lenet5_reformed("tianji-ann", SPLIT_BOTH, &m, &ds, &hw, &fp))
        return;
    assert_int_equal(hw_open("tianji-ann", (const char *[]){"weights.bits=4", "io.bits=4"}, 2, &hw, NULL, 0, err,
                             sizeof err),
                     0);
    const int n_cal = 512, n_test = 1000;
    if (quantise_naive(fp, &hw, ds.train.pixels, n_cal, &naive, err, sizeof err) ||
        quantise_full(fp, &hw, ds.train.pixels, n_cal, &full, err, sizeof err) ||
        quantise_full(fp, &hw, ds.train.pixels, n_cal, &again, err, sizeof err))
        fail_msg("%s", err);
    VerifyReport rep;
    assert_int_equal(verify_program(full, &hw, &rep, 4), 0);
    verify_report_free(&rep);
    double a_naive = accuracy(naive, &ds, n_test), a_full = accuracy(full, &ds, n_test);
    printf("lenet5, 4-bit weights and I/O, %d test images: naive %.1f%%, full %.1f%%\n", n_test, 100 * a_naive,
           100 * a_full);
    assert_true(a_full > a_naive + 0.10);
    assert_true(a_full > 0.95);
    /* The same inputs and seed give the same program. */
    assert_int_equal(full->n_blocks, again->n_blocks);
    for (int b = 0; b < full->n_blocks; b++) {
        const CoreBlock *x = &full->blocks[b], *y = &again->blocks[b];
        assert_int_equal(x->shift, y->shift);
        assert_memory_equal(x->w, y->w, sizeof *x->w * (size_t)x->rows * x->cols);
        assert_memory_equal(x->bias, y->bias, sizeof *x->bias * (size_t)x->cols);
    }
    program_free(naive);
    program_free(full);
    program_free(again);
    program_free(fp);
    model_free(&m);
    dataset_free(&ds);
}

/* Data re-encoding on lenet5 with 3-bit I/O: two neurons a value, offset
 * by half a level from each other, resolve the values twice as finely:
 * naive gains over one neuron a value. */
static void test_expand_lenet5_3bit(void **state)
{
    (void)state;
    Model m;
    Dataset ds;
    Hw hw;
    char err[1024];
    Program *fp, *fp2, *one = NULL, *two = NULL;
    if (lenet5_reformed("tianji-ann", SPLIT_BOTH, &m, &ds, &hw, &fp))
        return;
    assert_int_equal(hw_open("tianji-ann", (const char *[]){"io.bits=3"}, 1, &hw, NULL, 0, err, sizeof err), 0);
    ReformOptions opt = {.rows = hw.crossbar.rows, .cols = hw.crossbar.cols, .expand = 2};
    const int n_cal = 512, n_test = 1000;
    if (reform(m.net, &m.train.norm, &opt, &fp2, err, sizeof err) ||
        quantise_naive(fp, &hw, ds.train.pixels, n_cal, &one, err, sizeof err) ||
        quantise_naive(fp2, &hw, ds.train.pixels, n_cal, &two, err, sizeof err))
        fail_msg("%s", err);
    /* The copies of a re-encoded column differ by half a level in bias. */
    int checked = 0;
    for (int k = 0; k < two->n_ops; k++) {
        const CoreBlock *fb = &fp2->blocks[fp2->ops[k].block], *b = &two->blocks[two->ops[k].block];
        if (fb->expand != 2 || b->shift < 1)
            continue;
        for (int c = 0; c < b->cols; c += 2)
            assert_true(llabs(b->bias[c + 1] - b->bias[c] - (1LL << (b->shift - 1))) <= 1);
        checked++;
    }
    assert_true(checked > 0);
    VerifyReport rep;
    assert_int_equal(verify_program(two, &hw, &rep, 4), 0);
    verify_report_free(&rep);
    double a1 = accuracy(one, &ds, n_test), a2 = accuracy(two, &ds, n_test);
    printf("lenet5, 3-bit I/O, naive, %d test images: one neuron a value %.1f%%, two %.1f%%\n", n_test, 100 * a1,
           100 * a2);
    assert_true(a2 > a1 + 0.005);
    program_free(one);
    program_free(two);
    program_free(fp);
    program_free(fp2);
    model_free(&m);
    dataset_free(&ds);
}

/* The end-to-end pass (tune.phases e2e) on lenet5 at 4 bits: a verified,
 * reproducible program, no worse than the walk's on the test images (the
 * held-out images choose the step kept, so a broken pass shows here). */
static void test_e2e_lenet5_4bit(void **state)
{
    (void)state;
    Model m;
    Dataset ds;
    Hw hw;
    char err[1024];
    Program *fp, *walk = NULL, *e2e = NULL, *again = NULL;
    if (lenet5_reformed("tianji-ann", SPLIT_BOTH, &m, &ds, &hw, &fp))
        return;
    const char *sets[] = {"weights.bits=4", "io.bits=4", "tune.phases=free,range,round,e2e", "tune.iterations=40"};
    assert_int_equal(hw_open("tianji-ann", sets, 2, &hw, NULL, 0, err, sizeof err), 0);
    const int n_cal = 160, n_test = 1000;
    if (quantise_full(fp, &hw, ds.train.pixels, n_cal, &walk, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(hw_open("tianji-ann", sets, 4, &hw, NULL, 0, err, sizeof err), 0);
    if (quantise_full(fp, &hw, ds.train.pixels, n_cal, &e2e, err, sizeof err) ||
        quantise_full(fp, &hw, ds.train.pixels, n_cal, &again, err, sizeof err))
        fail_msg("%s", err);
    VerifyReport rep;
    assert_int_equal(verify_program(e2e, &hw, &rep, 4), 0);
    verify_report_free(&rep);
    double a_walk = accuracy(walk, &ds, n_test), a_e2e = accuracy(e2e, &ds, n_test);
    printf("lenet5, 4-bit weights and I/O, %d calibration images, %d test images: walk %.1f%%, walk + e2e %.1f%%\n",
           n_cal, n_test, 100 * a_walk, 100 * a_e2e);
    assert_true(a_e2e > a_walk - 0.01);
    assert_int_equal(e2e->n_blocks, again->n_blocks);
    for (int b = 0; b < e2e->n_blocks; b++) {
        const CoreBlock *x = &e2e->blocks[b], *y = &again->blocks[b];
        assert_memory_equal(x->w, y->w, sizeof *x->w * (size_t)x->rows * x->cols);
        assert_memory_equal(x->bias, y->bias, sizeof *x->bias * (size_t)x->cols);
    }
    program_free(walk);
    program_free(e2e);
    program_free(again);
    program_free(fp);
    model_free(&m);
    dataset_free(&ds);
}

/* Test accuracy on the PIM simulator of hw. */
static double pim_accuracy(const Program *p, const Hw *hw, const Dataset *ds, int n)
{
    char err[256];
    PimChip *chip = pim_program(p, hw, err, sizeof err);
    if (!chip)
        fail_msg("%s", err);
    size_t in = shape_size(ds->shape);
    int32_t *q = malloc(sizeof *q * in * n);
    int64_t *logits = malloc(sizeof *logits * 10 * n);
    quantise_pixels(p, ds->test.pixels, in * n, q);
    assert_int_equal(pim_run(chip, q, n, logits), 0);
    double a = share_right(logits, ds->test.labels, n);
    pim_free(chip);
    free(q);
    free(logits);
    return a;
}

/* On prime's 6-bit ADCs the walk fits each part on what the PIM simulator
 * really gives for the parts before it (ADC steps and saturation), with
 * the full scales quantise_encode then sets. */
static void test_full_lenet5_prime(void **state)
{
    (void)state;
    Model m;
    Dataset ds;
    Hw hw;
    char err[1024];
    Program *fp, *naive = NULL, *full = NULL;
    if (lenet5_reformed("prime", SPLIT_BOTH, &m, &ds, &hw, &fp))
        return;
    const int n_cal = 512, n_test = 1000;
    if (quantise_naive(fp, &hw, ds.train.pixels, n_cal, &naive, err, sizeof err) ||
        quantise_full(fp, &hw, ds.train.pixels, n_cal, &full, err, sizeof err))
        fail_msg("%s", err);
    double a_naive = pim_accuracy(naive, &hw, &ds, n_test), a_full = pim_accuracy(full, &hw, &ds, n_test);
    printf("lenet5 on prime, %d test images: naive %.1f%%, full %.1f%%\n", n_test, 100 * a_naive, 100 * a_full);
    assert_true(a_full > a_naive + 0.015);
    assert_true(a_full > 0.965);
    program_free(naive);
    program_free(full);
    program_free(fp);
    model_free(&m);
    dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_solve_recovers_block),
        cmocka_unit_test(test_progressive_rounding_beats_nearest),
        cmocka_unit_test(test_ranges_clip_outliers),
        cmocka_unit_test(test_full_lenet5_4bit),
        cmocka_unit_test(test_full_lenet5_prime),
        cmocka_unit_test(test_expand_lenet5_3bit),
        cmocka_unit_test(test_e2e_lenet5_4bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
