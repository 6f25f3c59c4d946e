/* The PIM simulator's fast path: the semantics of pim.c, computed many
 * images and core ops at a time (pim_chip.h: pim_fast_make, pim_fast_run).
 *
 * It takes chips without conductance noise (every conductance an integer
 * level, G = 0), I/O of at most 8 bits and ops that read no logit. Images go
 * in batches of L lanes of bytes (lanes.h) in the value slots of
 * op_schedule.h, ops in its runs.
 *
 * Dense blocks: one sgemm per chunk of a run computes every column sum of
 * every (array, cell) and slice at once: the rows of the stacked matrix are
 * the (array, cell, column) conductance vectors, the columns of X the
 * (slice, op, lane) input slices, so Y[(a, c, j)][(s, op, lane)] = S. A
 * column whose cells are another's with the two arrays swapped (the pair
 * relu(p), relu(−p) of a split partial sum) shares its rows: its S are the
 * other's with positive and negative exchanged, so its C is exactly −C.
 * Single-ended chips get one more row of ones, Σ_i x_s,i, for o · Σ_i x_i.
 * Sparse blocks (few nonzero cells: pooling trees, merges) add their few
 * weighted lane vectors directly, in int32.
 *
 * On CPUs with gemm_u8 (AVX-512 VNNI) the product is gemm_u8's on the slice
 * bytes (conductance levels fit int8), and the ADC, the digital rounding
 * and the neuron run as pim_u8's vector kernels, where the block's sums
 * are inside their int32 ranges (pim_u8_adc_fits); the results are the
 * same integers.
 *
 * Exactness. S is an integer of at most s_max = the largest Σ_i g_a,c,i,j ·
 * (2^d − 1) of the block, which pim_fast_make requires below 2^24, so float
 * holds every partial sum exactly in any order (and Σ_i x_s,i likewise).
 * The ADC code of S is read from a table made by the definition,
 * min(M, ⌊(2·S·M + F) / (2F)⌋), exactly in int64 (or is S with an ideal ADC).
 * C = Σ ± 2^(s·d + c·cell_bits) · code stays below 2^31 (checked). The
 * digital rounding D = ⌊(2·C·F + M) / (2M)⌋ is done in double: numerator and
 * denominator are integers below 2^53 (checked), so the quotient is
 * correctly rounded from the true one; a non-integer quotient lies at least
 * 1/(2M) from any integer while the rounding moves it by at most |q|·2^−53 <
 * 1/(2M), so its floor is the true floor. The neuron then follows pim.c in
 * int64. Results are the reference's bit for bit on any lanes, chunks,
 * threads or image order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gemm_u8.h"
#include "lanes.h"
#include "op_schedule.h"
#include "pim_chip.h"
#include "pim_u8.h"

#define X_FLOATS (1 << 18)       /* a run's gathered slices per chunk: 1 MB */
#define X_BYTES (1 << 17)        /* the same for gemm_u8 */
#define VALUE_BYTES (256u << 20) /* per thread, for the neuron values */
#define PREFETCH_ROWS 8          /* how far ahead the gather asks for its rows */
#define SPARSE_DENSITY 8         /* sparse: nonzero cells <= all cells / 8 */
#define TABLE_MAX (1 << 20)      /* largest s_max given an ADC table */
#define FLOAT_EXACT 16777216.0   /* 2^24 */
#define DOUBLE_EXACT 9007199254740992.0 /* 2^53 */

typedef struct {
    int sparse;
    int nb;            /* dense: distinct columns up to swapped arrays */
    int stacked;       /* dense: rows of gs: arrays · cells · nb (+ 1 of ones) */
    float *gs;         /* dense: [stacked][rows] */
    int *basis;        /* [cols] */
    int *sign;         /* [cols]: ±1 */
    int *nz_start;     /* sparse: [cols · arrays · cells + 1] into nz_row, nz_g */
    int *nz_row;
    int32_t *nz_g;
    uint16_t *code_of; /* [s_max + 1] the ADC's code of a column sum, or NULL */
    int adc;           /* 0 ideal (code = S), 1 by code_of, 2 by division */
    double adc_m, adc_f; /* M and F, for division */
    int chunk;         /* ops per product */
    int u8;            /* on gemm_u8's CPU, with the ADC in pim_u8's range */
    PimAdc adc32;      /* u8: the ADC for pim_u8_column */
    int8_t *g8;        /* u8 and dense: gs as int8 [stacked][kp] */
    int kp;            /* rows padded for gemm_u8 */
} FastBlock;

struct PimFast {
    int n_blocks;
    FastBlock *fb;
    OpSchedule sched;
    int *slot;        /* [n_ops]: a linear op's first logit slot, else -1 */
    int *out_slot;    /* [n_outputs] */
    int n_slots;
    int groups;       /* arrays · cells */
    int32_t *weight;  /* [slices][arrays][cells]: ± 2^(s·d + c·cell_bits) */
    size_t x_floats, y_floats;
    size_t x_bytes, y_ints; /* gemm_u8's X and Y */
};

static void block_free(FastBlock *f)
{
    free(f->gs);
    free(f->g8);
    free(f->basis);
    free(f->sign);
    free(f->nz_start);
    free(f->nz_row);
    free(f->nz_g);
    free(f->code_of);
}

void pim_fast_free(PimFast *f)
{
    if (!f)
        return;
    for (int b = 0; f->fb && b < f->n_blocks; b++)
        block_free(&f->fb[b]);
    free(f->fb);
    free(f->slot);
    free(f->out_slot);
    free(f->weight);
    op_schedule_free(&f->sched);
    free(f);
}

/* The conductance of (array a, cell c, row i, column j). */
static inline int64_t cell(const PimChip *chip, const PimBlock *b, int a, int c, int i, int j)
{
    return b->g[(((size_t)a * chip->cells + c) * b->rows + i) * b->cols + j];
}

/* The ADC's code of every column sum 0 .. s_max, by its definition
 * (pim.c: "ADC"): code = min(M, ⌊(2·S·M + F) / (2F)⌋), walked upwards. */
static uint16_t *adc_table(int64_t s_max, int adc_bits, int64_t full)
{
    uint16_t *t = malloc(sizeof *t * (size_t)(s_max + 1));
    if (!t)
        return NULL;
    const int64_t m = ((int64_t)1 << adc_bits) - 1;
    int64_t code = 0;
    for (int64_t s = 0; s <= s_max; s++) {
        while (code < m && 2 * s * m + full >= 2 * full * (code + 1))
            code++;
        t[s] = (uint16_t)code;
    }
    return t;
}

/* -1 / +1: whether column j reads as column k with the arrays swapped /
 * as it is; 0 if neither. */
static int same_column(const PimChip *chip, const PimBlock *b, int j, int k)
{
    int as_is = 1, swapped = chip->arrays == 2;
    for (int c = 0; c < chip->cells && (as_is || swapped); c++)
        for (int i = 0; i < b->rows && (as_is || swapped); i++)
            for (int a = 0; a < chip->arrays; a++) {
                as_is &= cell(chip, b, a, c, i, j) == cell(chip, b, a, c, i, k);
                if (swapped) /* two arrays only */
                    swapped &= cell(chip, b, a, c, i, j) == cell(chip, b, 1 - a, c, i, k);
            }
    return as_is ? 1 : swapped ? -1 : 0;
}

/* A hash of column j that does not change when its arrays swap. */
static uint64_t column_hash(const PimChip *chip, const PimBlock *b, int j)
{
    uint64_t h = 1469598103934665603ull;
    for (int c = 0; c < chip->cells; c++)
        for (int i = 0; i < b->rows; i++) {
            uint64_t v = 0;
            for (int a = 0; a < chip->arrays; a++)
                v += (uint64_t)cell(chip, b, a, c, i, j) * 0x9e3779b97f4a7c15ull;
            h = (h ^ v) * 1099511628211ull;
        }
    return h;
}

static int make_dense(const PimChip *chip, const PimBlock *b, int offset_row, FastBlock *f)
{
    const int cols = b->cols, rows = b->rows, groups = chip->arrays * chip->cells;
    int size = 1;
    while (size < 2 * cols)
        size *= 2;
    int *table = malloc(sizeof *table * (size_t)size), *first = malloc(sizeof *first * (size_t)cols);
    f->basis = malloc(sizeof *f->basis * (size_t)cols);
    f->sign = malloc(sizeof *f->sign * (size_t)cols);
    if (!table || !first || !f->basis || !f->sign) {
        free(table);
        free(first);
        return -1;
    }
    for (int t = 0; t < size; t++)
        table[t] = -1;
    f->nb = 0;
    for (int j = 0; j < cols; j++) {
        size_t at = (size_t)(column_hash(chip, b, j) & (uint64_t)(size - 1));
        int found = -1, sign = 1;
        for (; table[at] >= 0; at = (at + 1) & (size_t)(size - 1))
            if ((sign = same_column(chip, b, j, first[table[at]]))) {
                found = table[at];
                break;
            }
        if (found < 0) {
            found = f->nb++;
            first[found] = j;
            table[at] = found;
            sign = 1;
        }
        f->basis[j] = found;
        f->sign[j] = sign;
    }
    f->stacked = groups * f->nb + offset_row;
    f->gs = malloc(sizeof *f->gs * (size_t)f->stacked * rows);
    if (f->gs) {
        for (int a = 0; a < chip->arrays; a++)
            for (int c = 0; c < chip->cells; c++)
                for (int k = 0; k < f->nb; k++)
                    for (int i = 0; i < rows; i++)
                        f->gs[((size_t)(a * chip->cells + c) * f->nb + k) * rows + i] =
                            (float)cell(chip, b, a, c, i, first[k]);
        for (int i = 0; offset_row && i < rows; i++)
            f->gs[(size_t)groups * f->nb * rows + i] = 1.0f;
    }
    free(table);
    free(first);
    return f->gs ? 0 : -1;
}

static int make_sparse(const PimChip *chip, const PimBlock *b, size_t nnz, FastBlock *f)
{
    const int groups = chip->arrays * chip->cells;
    f->nz_start = malloc(sizeof *f->nz_start * ((size_t)b->cols * groups + 1));
    f->nz_row = malloc(sizeof *f->nz_row * (nnz ? nnz : 1));
    f->nz_g = malloc(sizeof *f->nz_g * (nnz ? nnz : 1));
    if (!f->nz_start || !f->nz_row || !f->nz_g)
        return -1;
    int at = 0;
    for (int j = 0; j < b->cols; j++)
        for (int a = 0; a < chip->arrays; a++)
            for (int c = 0; c < chip->cells; c++) {
                f->nz_start[(size_t)j * groups + a * chip->cells + c] = at;
                for (int i = 0; i < b->rows; i++)
                    if (cell(chip, b, a, c, i, j)) {
                        f->nz_row[at] = i;
                        f->nz_g[at++] = (int32_t)cell(chip, b, a, c, i, j);
                    }
            }
    f->nz_start[(size_t)b->cols * groups] = at;
    return 0;
}

/* 1 if block b is inside the fast path's exact ranges (its table made). */
static int make_block(const PimChip *chip, const PimBlock *b, PimFast *pf, FastBlock *f)
{
    const int groups = chip->arrays * chip->cells;
    const int64_t mask = ((int64_t)1 << chip->dac_bits) - 1;
    int64_t s_max = 0;
    size_t nnz = 0;
    for (int j = 0; j < b->cols; j++)
        for (int a = 0; a < chip->arrays; a++)
            for (int c = 0; c < chip->cells; c++) {
                int64_t col = 0;
                for (int i = 0; i < b->rows; i++) {
                    col += cell(chip, b, a, c, i, j);
                    nnz += cell(chip, b, a, c, i, j) != 0;
                }
                s_max = col * mask > s_max ? col * mask : s_max;
            }
    if ((double)s_max >= FLOAT_EXACT || (double)b->rows * mask >= FLOAT_EXACT)
        return 0;
    /* |C| and the digital rounding's numerator (see the top of this file) */
    double code_max = chip->adc_bits ? (double)(((int64_t)1 << chip->adc_bits) - 1) : (double)s_max;
    double c_max = 0;
    for (int s = 0; s < chip->slices; s++)
        for (int c = 0; c < chip->cells; c++)
            c_max += code_max * ldexp(1, s * chip->dac_bits + c * chip->cell_bits);
    if (c_max >= 2147483648.0 || 2 * c_max * (double)b->full + code_max >= DOUBLE_EXACT)
        return 0;
    f->adc = !chip->adc_bits ? 0 : s_max <= TABLE_MAX ? 1 : 2;
    f->adc_m = (double)(((int64_t)1 << chip->adc_bits) - 1);
    f->adc_f = (double)b->full;
    if (2 * (double)s_max * f->adc_m + f->adc_f >= DOUBLE_EXACT)
        return 0;
    if (f->adc == 1 && !(f->code_of = adc_table(s_max, chip->adc_bits, b->full)))
        return -1;
    f->u8 = gemm_u8_supported() && chip->slices * groups <= PIM_U8_TERMS &&
            (f->adc == 0 || pim_u8_adc_fits(s_max, (int64_t)f->adc_m, b->full));
    f->adc32 = (PimAdc){chip->adc_bits, (int32_t)f->adc_m, (int32_t)(f->u8 && f->adc ? b->full : 1)};
    f->sparse = nnz * SPARSE_DENSITY <= (size_t)b->rows * b->cols * groups;
    if (f->sparse)
        return make_sparse(chip, b, nnz, f) ? -1 : 1;
    if (make_dense(chip, b, chip->offset != 0, f))
        return -1;
    /* the stacked conductances as int8 when every one fits (else g8 stays
     * NULL: the float path) */
    f->kp = gemm_u8_kp(b->rows);
    if (f->u8 && gemm_u8_weights(f->gs, f->stacked, b->rows, &f->g8))
        return -1;
    long chunk = (f->g8 ? X_BYTES / f->kp : X_FLOATS / b->rows) / ((long)chip->slices * MAX_LANES);
    f->chunk = chunk < 1 ? 1 : chunk > chip->n_ops ? chip->n_ops : (int)chunk;
    size_t width = (size_t)chip->slices * f->chunk * MAX_LANES;
    size_t x = (size_t)(f->g8 ? f->kp : b->rows) * width, y = (size_t)f->stacked * width;
    size_t *xs = f->g8 ? &pf->x_bytes : &pf->x_floats, *ys = f->g8 ? &pf->y_ints : &pf->y_floats;
    *xs = x > *xs ? x : *xs;
    *ys = y > *ys ? y : *ys;
    return 1;
}

PimFast *pim_fast_make(const PimChip *chip, const Program *p)
{
    if (chip->frac_bits || chip->io_bits > 8 || chip->adc_bits > 16)
        return NULL;
    PimFast *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->groups = chip->arrays * chip->cells;
    f->n_blocks = p->n_blocks;
    f->fb = calloc((size_t)(p->n_blocks > 0 ? p->n_blocks : 1), sizeof *f->fb);
    f->slot = malloc(sizeof *f->slot * (size_t)(p->n_ops > 0 ? p->n_ops : 1));
    f->out_slot = malloc(sizeof *f->out_slot * (size_t)(p->n_outputs > 0 ? p->n_outputs : 1));
    f->weight = malloc(sizeof *f->weight * (size_t)chip->slices * f->groups);
    int *neuron_slot = malloc(sizeof *neuron_slot * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1));
    if (!f->fb || !f->slot || !f->out_slot || !f->weight || !neuron_slot ||
        op_schedule_make(p, &f->sched))
        goto refuse;
    /* every shift-and-add weight 2^(s·d + c·cell_bits) an int32 */
    if ((chip->slices - 1) * chip->dac_bits + (chip->cells - 1) * chip->cell_bits > 30)
        goto refuse;
    for (int s = 0; s < chip->slices; s++)
        for (int a = 0; a < chip->arrays; a++)
            for (int c = 0; c < chip->cells; c++)
                f->weight[(s * chip->arrays + a) * chip->cells + c] =
                    (a ? -1 : 1) * ((int32_t)1 << (s * chip->dac_bits + c * chip->cell_bits));
    for (int b = 0; b < p->n_blocks; b++)
        if (make_block(chip, &chip->blocks[b], f, &f->fb[b]) != 1)
            goto refuse;
    /* logits apart; an op reading one (which pim.c clamps) is left to pim.c */
    for (int t = 0; t < p->n_neurons; t++)
        neuron_slot[t] = -1;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        for (int i = 0; i < b->rows; i++)
            if (p->ops[k].in[i] != PROGRAM_ZERO && neuron_slot[p->ops[k].in[i]] >= 0)
                goto refuse;
        f->slot[k] = -1;
        if (b->act == CORE_LINEAR) {
            f->slot[k] = f->n_slots;
            for (int j = 0; j < b->cols; j++)
                neuron_slot[p->ops[k].out + j] = f->n_slots + j;
            f->n_slots += b->cols;
        }
    }
    for (int o = 0; o < p->n_outputs; o++)
        f->out_slot[o] = neuron_slot[p->outputs[o]];
    free(neuron_slot);
    return f;
refuse:
    free(neuron_slot);
    pim_fast_free(f);
    return NULL;
}

/* ------------------------------------------------------------- running */

typedef struct {
    const PimChip *chip;
    int lanes;
    uint8_t *v;    /* [n_neurons][lanes] */
    int64_t *lin;  /* [n_slots][lanes] */
    float *x, *y;  /* the float path's X and Y */
    uint8_t *x8;   /* gemm_u8's */
    int32_t *y32;
    int32_t *values; /* pim_run_values: n × n_neurons, or NULL */
    int img0, nb;    /* the batch's first image and its live lanes */
} Batch;

/* pim_run_values: lanes of neuron `at` from dst (bytes) or lin (int64). */
static void record(const Batch *bt, int32_t at, const uint8_t *bytes, const int64_t *lin)
{
    const size_t N = (size_t)bt->chip->n_neurons;
    for (int l = 0; l < bt->nb; l++)
        bt->values[(size_t)(bt->img0 + l) * N + at] =
            bytes ? bytes[l] : lin[l] < INT32_MIN ? INT32_MIN : lin[l] > INT32_MAX ? INT32_MAX : (int32_t)lin[l];
}

/* The neuron from C (lanes of the shift-and-added codes) and Σ x. */
LANES_HOT static void finish_column(const Batch *bt, const PimBlock *b, const FastBlock *f, int k, int j,
                          const int32_t *restrict c, const int32_t *restrict sum_x)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    const int L = bt->lanes;
    const int64_t top = ((int64_t)1 << chip->io_bits) - 1, bias = b->bias[j];
    const double m = (double)(((int64_t)1 << chip->adc_bits) - 1), full = (double)b->full;
    int64_t d[MAX_LANES];
    if (chip->adc_bits && f->u8) {
        pim_u8_round(c, L, m, full, d);
    } else {
        for (int l = 0; l < L; l++) {
            d[l] = c[l];
            if (chip->adc_bits) { /* ⌊(2·C·F + M) / (2M)⌋, exact (top of file) */
                double t = (2.0 * c[l] * full + m) / (2.0 * m);
                d[l] = (int64_t)t;
                d[l] -= (double)d[l] > t;
            }
        }
    }
    if (b->act == CORE_LINEAR) {
        int64_t *restrict dst = bt->lin + (size_t)(pf->slot[k] + j) * L;
        for (int l = 0; l < L; l++)
            dst[l] = d[l] + bias - (sum_x ? chip->offset * sum_x[l] : 0);
        if (bt->values)
            record(bt, chip->op_out[k] + j, NULL, dst);
        return;
    }
    uint8_t *restrict dst = bt->v + (size_t)(pf->sched.out[k] + j) * L;
    const int64_t half = b->shift ? (int64_t)1 << (b->shift - 1) : 0;
    if (f->u8) {
        pim_u8_neuron_bytes(d, L, bias + half, chip->offset, sum_x, b->shift, top, dst);
    } else {
        for (int l = 0; l < L; l++) {
            const int64_t acc = d[l] + bias - (sum_x ? chip->offset * sum_x[l] : 0);
            const int64_t y = (acc + half) >> b->shift;
            dst[l] = (uint8_t)(y < 0 ? 0 : y > top ? top : y);
        }
    }
    if (bt->values)
        record(bt, chip->op_out[k] + j, dst, NULL);
}

/* c += weight · code(S) over the lanes. By division: code = min(M,
 * ⌊(2·S·M + F) / (2F)⌋) in double, exact as the digital rounding (top of
 * file: the numerator stays below 2^53, checked; S >= 0). */
static inline void add_codes(const FastBlock *f, int32_t weight, const int32_t *restrict s, int L,
                             int32_t *restrict c)
{
    if (f->u8) {
        const int32_t *one = s;
        pim_u8_column(&f->adc32, &one, &weight, 1, L, c);
    } else if (f->adc == 1) {
        for (int l = 0; l < L; l++)
            c[l] += weight * f->code_of[s[l]];
    } else if (f->adc == 2) {
        for (int l = 0; l < L; l++) {
            double code = (2.0 * s[l] * f->adc_m + f->adc_f) / (2.0 * f->adc_f);
            c[l] += weight * (int32_t)(code < f->adc_m ? code : f->adc_m);
        }
    } else {
        for (int l = 0; l < L; l++)
            c[l] += weight * s[l];
    }
}

/* After a dense product, op q's column j: C over every slice and (array,
 * cell) from its column sums (sums_of gives the lanes of one), then the
 * neuron. */
static void finish_dense_column(const Batch *bt, const PimBlock *b, const FastBlock *f, int k, int j,
                                const int32_t *restrict y, size_t width, size_t slice, const int32_t *sum_x)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    int32_t c[MAX_LANES];
    memset(c, 0, sizeof *c * (size_t)bt->lanes);
    if (f->u8) { /* every term in one pass */
        const int32_t *sums[PIM_U8_TERMS];
        int32_t weight[PIM_U8_TERMS];
        for (int s = 0; s < chip->slices; s++)
            for (int g = 0; g < pf->groups; g++) {
                sums[s * pf->groups + g] = y + ((size_t)g * f->nb + f->basis[j]) * width + (size_t)s * slice;
                weight[s * pf->groups + g] = f->sign[j] * pf->weight[s * pf->groups + g];
            }
        pim_u8_column(&f->adc32, sums, weight, chip->slices * pf->groups, bt->lanes, c);
    } else {
        for (int s = 0; s < chip->slices; s++)
            for (int g = 0; g < pf->groups; g++)
                add_codes(f, f->sign[j] * pf->weight[s * pf->groups + g],
                          y + ((size_t)g * f->nb + f->basis[j]) * width + (size_t)s * slice, bt->lanes, c);
    }
    finish_column(bt, b, f, k, j, c, sum_x);
}

/* Σ_i x_i of op q from the row of ones: Σ_s 2^(s·d) Σ_i x_s,i. */
static void ones_sum(const Batch *bt, const int32_t *ones, size_t slice, int32_t *sum_x)
{
    const PimChip *chip = bt->chip;
    for (int l = 0; l < bt->lanes; l++) {
        sum_x[l] = 0;
        for (int s = 0; s < chip->slices; s++)
            sum_x[l] += ones[(size_t)s * slice + l] << (s * chip->dac_bits);
    }
}

/* After either product, the column sums of nq ops in y32 ([stacked][slices
 * · nq · L]): each op's Σ x, then its neurons. */
static void finish_dense(const Batch *bt, const PimBlock *b, const FastBlock *f, const int *ops, int nq)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    const int L = bt->lanes, n = nq * L, width = chip->slices * n;
    int32_t sum_x[MAX_LANES];
    for (int q = 0; q < nq; q++) {
        if (chip->offset)
            ones_sum(bt, bt->y32 + (size_t)pf->groups * f->nb * width + (size_t)q * L, (size_t)n, sum_x);
        for (int j = 0; j < b->cols; j++)
            finish_dense_column(bt, b, f, ops[q], j, bt->y32 + (size_t)q * L, (size_t)width, (size_t)n,
                                chip->offset ? sum_x : NULL);
    }
}

LANES_HOT static void run_dense(const Batch *bt, const PimBlock *b, const FastBlock *f, const int *ops, int nq)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    const int L = bt->lanes, n = nq * L, width = chip->slices * n, d = chip->dac_bits;
    const int mask = (1 << d) - 1;
    for (int q = 0; q < nq; q++) {
        const int32_t *in = pf->sched.in + pf->sched.first[ops[q]];
        for (int i = 0; i < b->rows; i++) {
            /* rows are scattered reads: ask for a later one early */
            if (i + PREFETCH_ROWS < b->rows && in[i + PREFETCH_ROWS] != PROGRAM_ZERO)
                __builtin_prefetch(bt->v + (size_t)in[i + PREFETCH_ROWS] * L);
            for (int s = 0; s < chip->slices; s++) {
                float *restrict dst = bt->x + (size_t)i * width + (size_t)s * n + (size_t)q * L;
                if (in[i] == PROGRAM_ZERO) {
                    memset(dst, 0, sizeof *dst * (size_t)L);
                    continue;
                }
                const uint8_t *restrict src = bt->v + (size_t)in[i] * L;
                for (int l0 = 0; l0 < L; l0 += LANE_BLOCK)
                    for (int l = l0; l < l0 + LANE_BLOCK; l++)
                        dst[l] = (float)((src[l] >> (s * d)) & mask);
            }
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f->stacked, width, b->rows, 1.0f, f->gs,
                b->rows, bt->x, width, 0.0f, bt->y, width);
    /* the sums are exact integers: as int32 in place of the floats (y32 is
     * the float path's own copy) */
    const size_t total = (size_t)f->stacked * width;
    for (size_t t = 0; t < total; t++)
        bt->y32[t] = (int32_t)bt->y[t];
    finish_dense(bt, b, f, ops, nq);
}

/* The same on gemm_u8: the gather packs each four rows' slice bytes. */
LANES_HOT static void run_dense_u8(const Batch *bt, const PimBlock *b, const FastBlock *f, const int *ops,
                                   int nq)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    const int L = bt->lanes, n = nq * L, width = chip->slices * n, d = chip->dac_bits;
    const size_t x_stride = (size_t)width * 4;
    uint8_t slice[4][MAX_LANES];
    for (int q = 0; q < nq; q++) {
        const int32_t *in = pf->sched.in + pf->sched.first[ops[q]];
        for (int i = 0; i < f->kp; i += 4) {
            const uint8_t *src[4];
            for (int c = 0; c < 4; c++) {
                const int r = i + c;
                src[c] = r < b->rows && in[r] != PROGRAM_ZERO ? bt->v + (size_t)in[r] * L : NULL;
                if (r + PREFETCH_ROWS < b->rows && in[r + PREFETCH_ROWS] != PROGRAM_ZERO)
                    __builtin_prefetch(bt->v + (size_t)in[r + PREFETCH_ROWS] * L);
            }
            for (int s = 0; s < chip->slices; s++) {
                /* bits above 8 are zero, so the mask never reaches past the byte */
                const uint8_t mask = (uint8_t)(((1 << d) - 1) & (0xff >> (s * d < 8 ? s * d : 7)));
                const uint8_t *rows[4];
                for (int c = 0; c < 4; c++) {
                    rows[c] = src[c];
                    if (src[c] && (s || mask != 0xff)) {
                        pim_u8_slice(src[c], L, s * d, mask, slice[c]);
                        rows[c] = slice[c];
                    }
                }
                gemm_u8_pack4(rows, L, bt->x8 + (size_t)(i / 4) * x_stride + ((size_t)s * n + (size_t)q * L) * 4);
            }
        }
    }
    gemm_u8_run(f->stacked, width, f->kp, f->g8, bt->x8, x_stride, bt->y32, (size_t)width);
    finish_dense(bt, b, f, ops, nq);
}

/* One op of a sparse block: every (column, array, cell) adds its few
 * weighted lane vectors of each slice. */
LANES_HOT static void run_sparse(const Batch *bt, const PimBlock *b, const FastBlock *f, int k)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    const int L = bt->lanes, d = chip->dac_bits, slices = chip->slices;
    const int mask = (1 << d) - 1;
    const int32_t *in = pf->sched.in + pf->sched.first[k];
    int32_t sums[4][MAX_LANES], sum_x[MAX_LANES];
    int32_t c[MAX_LANES];
    if (chip->offset) {
        memset(sum_x, 0, sizeof *sum_x * (size_t)L);
        for (int i = 0; i < b->rows; i++)
            if (in[i] != PROGRAM_ZERO)
                for (int l = 0; l < L; l++)
                    sum_x[l] += bt->v[(size_t)in[i] * L + l];
    }
    for (int j = 0; j < b->cols; j++) {
        memset(c, 0, sizeof *c * (size_t)L);
        for (int g = 0; g < pf->groups; g++) {
            const size_t at = (size_t)j * pf->groups + g;
            for (int s0 = 0; s0 < slices; s0 += 4) { /* up to 4 slices at a time */
                const int ns = slices - s0 < 4 ? slices - s0 : 4;
                for (int s = 0; s < ns; s++)
                    memset(sums[s], 0, sizeof **sums * (size_t)L);
                for (int t = f->nz_start[at]; t < f->nz_start[at + 1]; t++) {
                    const int32_t from = in[f->nz_row[t]];
                    if (from == PROGRAM_ZERO)
                        continue;
                    const uint8_t *restrict src = bt->v + (size_t)from * L;
                    const int32_t w = f->nz_g[t];
                    for (int s = 0; s < ns; s++) {
                        const int sh = (s0 + s) * d;
                        int32_t *restrict acc = sums[s];
                        if (f->u8) {
                            gemm_u8_add_scaled(src, L, sh, mask, w, acc);
                            continue;
                        }
                        for (int l0 = 0; l0 < L; l0 += LANE_BLOCK)
                            for (int l = l0; l < l0 + LANE_BLOCK; l++)
                                acc[l] += w * ((src[l] >> sh) & mask);
                    }
                }
                for (int s = 0; s < ns; s++)
                    add_codes(f, pf->weight[(s0 + s) * pf->groups + g], sums[s], L, c);
            }
        }
        finish_column(bt, b, f, k, j, c, chip->offset ? sum_x : NULL);
    }
}
static void run_batch(Batch *bt, const int32_t *inputs, int img0, int nb, int64_t *logits)
{
    const PimChip *chip = bt->chip;
    const PimFast *pf = chip->fast;
    const int L = bt->lanes;
    const int32_t top = (1 << chip->io_bits) - 1;
    bt->img0 = img0;
    bt->nb = nb;
    for (int lane = 0; lane < L; lane++) {
        const int32_t *src = inputs + (size_t)(img0 + (lane < nb ? lane : 0)) * chip->n_inputs;
        for (int i = 0; i < chip->n_inputs; i++) /* a DAC drives 0 .. top only (pim.c) */
            bt->v[(size_t)i * L + lane] = (uint8_t)(src[i] < 0 ? 0 : src[i] > top ? top : src[i]);
    }
    for (int i = 0; bt->values && i < chip->n_inputs; i++)
        record(bt, i, bt->v + (size_t)i * L, NULL);
    const OpSchedule *s = &pf->sched;
    for (int r = 0; r < s->n_runs; r++) {
        const int *ops = s->order + s->run_start[r], len = s->run_start[r + 1] - s->run_start[r];
        const int blk = chip->op_block[ops[0]];
        const PimBlock *b = &chip->blocks[blk];
        const FastBlock *f = &pf->fb[blk];
        if (f->sparse) {
            for (int q = 0; q < len; q++)
                run_sparse(bt, b, f, ops[q]);
            continue;
        }
        for (int q = 0; q < len; q += f->chunk) {
            const int nq = len - q < f->chunk ? len - q : f->chunk;
            if (f->g8)
                run_dense_u8(bt, b, f, ops + q, nq);
            else
                run_dense(bt, b, f, ops + q, nq);
        }
    }
    for (int lane = 0; lane < nb; lane++)
        for (int o = 0; o < chip->n_outputs; o++)
            logits[(size_t)(img0 + lane) * chip->n_outputs + o] = bt->lin[(size_t)pf->out_slot[o] * L + lane];
}

int pim_fast_run(const PimChip *chip, const int32_t *inputs, int n, int64_t *logits, int32_t *values)
{
    const PimFast *pf = chip->fast;
    const int L = lanes_for(n, (size_t)pf->sched.n_slots, VALUE_BYTES), batches = (n + L - 1) / L;
    int failed = 0;
#pragma omp parallel
    {
        /* the float path converts its Y into y32 too */
        const size_t y_ints = pf->y_ints > pf->y_floats ? pf->y_ints : pf->y_floats;
        Batch bt = {chip, L, lanes_alloc((size_t)(pf->sched.n_slots > 0 ? pf->sched.n_slots : 1) * L),
                    malloc(sizeof *bt.lin * (size_t)(pf->n_slots > 0 ? pf->n_slots : 1) * L),
                    lanes_alloc(sizeof *bt.x * (pf->x_floats ? pf->x_floats : 1)),
                    lanes_alloc(sizeof *bt.y * (pf->y_floats ? pf->y_floats : 1)),
                    lanes_alloc(pf->x_bytes ? pf->x_bytes : 1),
                    lanes_alloc(sizeof *bt.y32 * (y_ints ? y_ints : 1)),
                    values, 0, 0};
        const int ok = bt.v && bt.lin && bt.x && bt.y && bt.x8 && bt.y32;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < batches; k++)
            if (ok)
                run_batch(&bt, inputs, k * L, n - k * L < L ? n - k * L : L, logits);
        free(bt.v);
        free(bt.lin);
        free(bt.x);
        free(bt.y);
        free(bt.x8);
        free(bt.y32);
    }
    return failed ? -1 : 0;
}
