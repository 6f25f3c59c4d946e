/* The PIM simulator: ReRAM crossbars with DACs, multi-level cells and ADCs
 * (DESIGN.md §6). pim_program.c programs a chip, this file runs it. These
 * semantics are the reference. Running is integer arithmetic only; doubles
 * appear once, at programming (the noise and a full scale derived from
 * pim.adc_range), so a programmed chip gives the same logits on any thread
 * count and in any image order.
 *
 * Values. Neurons are numbered as in program.h. Inputs and ReLU outputs are
 * integers 0 .. top = 2^io_bits − 1 (io_bits: the program's). A row reads 0
 * for PROGRAM_ZERO, else its neuron clamped to 0 .. top: a DAC can drive
 * nothing else (only a raw input out of range, or a logit read by a later
 * op, which the verifier forbids, is ever clamped).
 *
 * DAC slices. d = pim.dac_bits (io_bits when 0: one slice). An input x enters
 * as n_s = ⌈io_bits / d⌉ slices, least significant first:
 *     x_s = ⌊x / 2^(s·d)⌋ mod 2^d,  weighing 2^(s·d).
 *
 * Cells. A weight's magnitude m has W = cells · cell_bits bits (weights.cells
 * and cell_bits; cells = 1, cell_bits = weights.bits when the encoding is not
 * `cells`). Cell c holds the level L_c = ⌊m / 2^(c·cell_bits)⌋ mod
 * 2^cell_bits and weighs 2^(c·cell_bits).
 *   differential = yes: two arrays; w > 0 puts m = w in the positive one,
 *     w < 0 puts m = −w in the negative one, the other holds 0.
 *   differential = no: one array holding m = w + o, o = 2^(weights.bits − 1);
 *     the digital side subtracts o · Σ_i x_i exactly.
 * pim_program refuses a weight whose m does not fit W bits.
 *
 * Programmed cells (pim_program.c). Conductances are kept in units of
 * 2^−G level, G = 16 when pim.noise_sigma > 0, else 0 (all exact integers).
 * Block b draws from its own xoshiro256** generator (nn/rng.c), seeded with
 * the b-th output of the generator seeded with pim.seed. Its cells are
 * visited column j, row i, array (positive first), cell c (least significant
 * first); each draws, when noise_sigma or stuck_at_rate is above 0, exactly
 * four 64-bit numbers r1..r4:
 *     stuck    if (r1 >> 11) · 2^−53 < stuck_at_rate; then its level is
 *              0 when r2's top bit is 0, else 2^cell_bits − 1 (no noise);
 *     n        = rng_normal from r3, r4 (Box-Muller, as a float);
 *     g        = max(0, ⌊L · min(1 + σ·n, 16) · 2^G + ½⌋)   (doubles:
 *              one product, one product by 2^G, exact, then the floor),
 *              and g = L · 2^G exactly when σ = 0.
 * The draws are made once; pim_run only reads them, so images may run on
 * any thread in any order. Every op of a block reads one programmed copy of
 * it (weight-stationary: a convolution's windows stream through one set of
 * crossbars, as in PRIME and ISAAC).
 *
 * Column sums. For column j, array a, cell c and slice s:
 *     S · 2^G = Σ_i x_s,i · g_a,c,i,j        (int64, exact)
 *
 * ADC, adc_bits = 0: V = S rounded half up to an integer (S itself without
 *     noise), and D = Σ_{s,c} 2^(s·d + c·cell_bits) · (V_pos − V_neg).
 * ADC, adc_bits = B > 0: M = 2^B − 1 and the full scale F, an integer
 *     number of column-sum units: the block's adc_full when set, else
 *     max(1, ⌊r · rows · (2^d − 1) · (2^cell_bits − 1) + ½⌋) with
 *     r = pim.adc_range (1 when 0), computed in double. Then
 *         code = min(M, ⌊S · M / F + ½⌋)                 (0 .. M; saturates)
 *     and the digital side adds the converted values code · F / M exactly,
 *     rounding once:
 *         C = Σ_{s,c} 2^(s·d + c·cell_bits) · (code_pos − code_neg)
 *         D = ⌊C · F / M + ½⌋
 *     Both are exact 128-bit integer divisions (floor, so half up for
 *     negative C too).
 *
 * Neuron. acc_j = D − o · Σ_i x_i + bias_j; CORE_RELU: y = clamp((acc +
 * 2^(shift−1)) >> shift, 0, top) as ann.c; CORE_LINEAR: acc is the logit.
 *
 * Ideal chip (adc_bits 0, no noise, no stuck cells): V = S, so
 *     D = Σ_i (Σ_s 2^(s·d) x_s,i) · (Σ_c 2^(c·cell_bits) (L_pos,c,i − L_neg,c,i))
 *       = Σ_i x_i · w_i        (single-ended: Σ_i x_i · (w_i + o), less o · Σ_i x_i)
 * and the logits equal ann_run's bit for bit.
 *
 * Widths. pim_program refuses a chip whose sums could leave 62 bits (the
 * presets are far inside), so no int64 overflows. */
#include <stdlib.h>

#include "pim_chip.h"
#include "simulators.h"

/* round(acc · 2^−shift) half up, then clamp to the I/O range (as ann.c). */
static inline int64_t quantise(int64_t acc, int shift, int64_t top)
{
    int64_t y = shift ? (acc + ((int64_t)1 << (shift - 1))) >> shift : acc;
    return y < 0 ? 0 : y > top ? top : y;
}

/* ⌊a / b⌋ for b > 0. */
static inline pim_i128 floor_div(pim_i128 a, pim_i128 b)
{
    pim_i128 q = a / b;
    return q * b > a ? q - 1 : q;
}

/* One column sum (S · 2^G) through the ADC: V, or the code when B > 0. */
static inline int64_t convert(const PimChip *chip, const PimBlock *b, int64_t s_fixed)
{
    const int g = chip->frac_bits;
    if (!chip->adc_bits)
        return g ? (s_fixed + ((int64_t)1 << (g - 1))) >> g : s_fixed;
    const pim_u128 m = ((pim_u128)1 << chip->adc_bits) - 1, f = (pim_u128)b->full << g;
    pim_u128 code = (2 * (pim_u128)s_fixed * m + f) / (2 * f);
    return (int64_t)(code < m ? code : m);
}

/* The shift-and-added conversions to accumulator units: D. */
static inline int64_t digital(const PimChip *chip, const PimBlock *b, int64_t c)
{
    if (!chip->adc_bits)
        return c;
    const pim_i128 m = ((pim_i128)1 << chip->adc_bits) - 1;
    return (int64_t)floor_div(2 * (pim_i128)c * b->full + m, 2 * m);
}

/* Per-thread scratch. */
typedef struct {
    int64_t *v;   /* [n_neurons]: every neuron of the image */
    int64_t *xs;  /* [slices][max_rows]: an op's input slices */
    int64_t *sum; /* [max_cols]: the column sums of one (array, cell, slice) */
    int64_t *c;   /* [max_cols]: the shifted and added conversions */
} Scratch;

/* The column sums of one (array, cell) matrix g ([rows][cols]) for the
 * slice xs; rows whose slice is 0 add nothing and are skipped. */
static void column_sums(const int64_t *g, const int64_t *xs, int rows, int cols, int64_t *sum)
{
    for (int j = 0; j < cols; j++)
        sum[j] = 0;
    for (int i = 0; i < rows; i++) {
        const int64_t x = xs[i], *row = g + (size_t)i * cols;
        if (x)
            for (int j = 0; j < cols; j++)
                sum[j] += x * row[j];
    }
}

/* Core op k on the values in v. */
static void run_op(const PimChip *chip, int k, const Scratch *sc)
{
    const PimBlock *b = &chip->blocks[chip->op_block[k]];
    const int32_t *in = chip->in + chip->op_first[k];
    const int rows = b->rows, cols = b->cols, d = chip->dac_bits;
    const int64_t top = ((int64_t)1 << chip->io_bits) - 1, mask = ((int64_t)1 << d) - 1;
    int64_t sum_x = 0;
    for (int i = 0; i < rows; i++) {
        int64_t x = in[i] == PROGRAM_ZERO ? 0 : sc->v[in[i]];
        x = x < 0 ? 0 : x > top ? top : x;
        sum_x += x;
        for (int s = 0; s < chip->slices; s++)
            sc->xs[(size_t)s * rows + i] = (x >> (s * d)) & mask;
    }
    for (int j = 0; j < cols; j++)
        sc->c[j] = 0;
    for (int a = 0; a < chip->arrays; a++)
        for (int cell = 0; cell < chip->cells; cell++) {
            const int64_t *g = b->g + ((size_t)a * chip->cells + cell) * rows * cols;
            for (int s = 0; s < chip->slices; s++) {
                const int64_t weight = (int64_t)1 << (s * d + cell * chip->cell_bits);
                column_sums(g, sc->xs + (size_t)s * rows, rows, cols, sc->sum);
                for (int j = 0; j < cols; j++) {
                    int64_t part = convert(chip, b, sc->sum[j]) * weight;
                    sc->c[j] += a ? -part : part;
                }
            }
        }
    for (int j = 0; j < cols; j++) {
        int64_t acc = digital(chip, b, sc->c[j]) - chip->offset * sum_x + b->bias[j];
        sc->v[chip->op_out[k] + j] = b->act == CORE_RELU ? quantise(acc, b->shift, top) : acc;
    }
}

static int32_t clamp32(int64_t v)
{
    return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

static void run_image(const PimChip *chip, const int32_t *x, const Scratch *sc, int64_t *logits, int32_t *values)
{
    const int64_t top = ((int64_t)1 << chip->io_bits) - 1;
    for (int i = 0; i < chip->n_inputs; i++)
        sc->v[i] = x[i];
    for (int k = 0; k < chip->n_ops; k++)
        run_op(chip, k, sc);
    for (int o = 0; o < chip->n_outputs; o++)
        logits[o] = sc->v[chip->outputs[o]];
    for (int i = 0; values && i < chip->n_neurons; i++) /* an input as its DAC takes it */
        values[i] = i < chip->n_inputs ? (int32_t)(x[i] < 0 ? 0 : x[i] > top ? top : x[i]) : clamp32(sc->v[i]);
}

int pim_run(const PimChip *chip, const int32_t *inputs, int n, int64_t *logits)
{
    return pim_run_values(chip, inputs, n, logits, NULL);
}

int pim_run_values(const PimChip *chip, const int32_t *inputs, int n, int64_t *logits, int32_t *values)
{
    if (!chip || n < 0)
        return -1;
    if (chip->fast)
        return pim_fast_run(chip, inputs, n, logits, values);
    int failed = 0;
#pragma omp parallel
    {
        const size_t rows = (size_t)(chip->max_rows > 0 ? chip->max_rows : 1),
                     cols = (size_t)(chip->max_cols > 0 ? chip->max_cols : 1);
        Scratch sc = {malloc(sizeof *sc.v * (size_t)(chip->n_neurons > 0 ? chip->n_neurons : 1)),
                      malloc(sizeof *sc.xs * (size_t)chip->slices * rows),
                      malloc(sizeof *sc.sum * cols), malloc(sizeof *sc.c * cols)};
        const int ok = sc.v && sc.xs && sc.sum && sc.c;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int img = 0; img < n; img++)
            if (ok)
                run_image(chip, inputs + (size_t)img * chip->n_inputs, &sc, logits + (size_t)img * chip->n_outputs,
                          values ? values + (size_t)img * chip->n_neurons : NULL);
        free(sc.v);
        free(sc.xs);
        free(sc.sum);
        free(sc.c);
    }
    return failed ? -1 : 0;
}
