/* ADC ranges of a PIM program (hw pim.adc_range = 0: "set per core by the
 * compiler from calibration data", a programmable ADC reference). Each
 * block's full scale is the largest column sum any of its ADCs converts on
 * the calibration images: per (input DAC slice, weight cell, array) as the
 * PIM simulator splits them (simulators.h). Nothing then saturates on data
 * like the calibration set, and the ADC's levels cover only what occurs.
 *
 * With `clip` (the full strategy's range tuning) the full scale is instead
 * the one with the least squared error over those column sums, each
 * weighted by its conversion's significance 2^(slice·dac_bits + cell ·
 * cell_bits) squared: a few large sums may saturate when that buys every
 * other conversion finer steps. A second pass collects them in a
 * histogram of CLIP_BINS bins up to the maximum; CLIP_CANDIDATES fractions
 * of it, evenly spaced on a log scale down to 2^−CLIP_SPAN, are tried.
 *
 * The column sums are integer matrix products, done exactly in doubles by
 * dgemm (values far below 2^53): cells^T · slices per block and image batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "compiler.h"

/* Cell c of magnitude m: bits c·cell_bits .. (c+1)·cell_bits − 1. */
static double cell_of(int64_t m, int c, int cell_bits)
{
    return (double)((m >> (c * cell_bits)) & ((INT64_C(1) << cell_bits) - 1));
}

#define CLIP_BINS 4096
#define CLIP_CANDIDATES 96
#define CLIP_SPAN 4

/* The full scale F (≤ mx) of least weighted squared error for histogram h
 * of sums in [0, mx], M = 2^adc_bits − 1 codes. */
static double best_full(const double *h, double mx, double M)
{
    double best = mx, best_e = INFINITY;
    for (int c = 0; c <= CLIP_CANDIDATES; c++) {
        double F = mx * exp2(-CLIP_SPAN * (double)c / CLIP_CANDIDATES), e = 0;
        if (F < 1)
            break;
        for (int b = 0; b < CLIP_BINS; b++) {
            if (h[b] == 0)
                continue;
            double x = (b + 0.5) * mx / CLIP_BINS, code = nearbyint(x * M / F);
            double q = (code < M ? code : M) * F / M;
            e += h[b] * (x - q) * (x - q);
        }
        if (e < best_e) {
            best_e = e;
            best = F;
        }
    }
    return best;
}

int pim_adc_ranges(Program *p, const Hw *hw, const uint8_t *calib, int n_calib, int flags, char *err,
                   size_t errlen)
{
    const int clip = flags & PIM_RANGE_CLIP, keep = flags & PIM_RANGE_KEEP;
    if (p->is_float || hw->target.mode != HW_PIM || hw->pim.adc_range > 0 || hw->pim.adc_bits == 0)
        return 0;
    const int n = n_calib < 64 ? n_calib : 64; /* a sample is enough for a maximum */
    if (n < 1)
        return errf(err, errlen, "PIM ADC ranges need calibration images");
    const int io = p->io_bits, dac = hw->pim.dac_bits > 0 ? hw->pim.dac_bits : io;
    const int slices = (io + dac - 1) / dac, diff = hw->pim.differential;
    const int cells = hw->weights.cells > 0 ? hw->weights.cells : 1;
    const int cell_bits = hw->weights.cells > 0 ? hw->weights.cell_bits : hw->weights.bits;
    const int64_t offset = diff ? 0 : INT64_C(1) << (hw->weights.bits - 1);
    int max_rows = 1, max_cols = 1;
    for (int b = 0; b < p->n_blocks; b++) {
        max_rows = p->blocks[b].rows > max_rows ? p->blocks[b].rows : max_rows;
        max_cols = p->blocks[b].cols > max_cols ? p->blocks[b].cols : max_cols;
    }
    int32_t *in = malloc(sizeof *in * (size_t)p->n_inputs * n);
    int64_t *v = malloc(sizeof *v * (size_t)p->n_neurons * n);
    double *x = malloc(sizeof *x * (size_t)max_rows * n * slices);
    double *w = malloc(sizeof *w * (size_t)max_rows * max_cols);
    double *s = malloc(sizeof *s * (size_t)max_cols * n * slices);
    double *full = calloc((size_t)p->n_blocks + 1, sizeof *full);
    double *hist = clip ? calloc((size_t)p->n_blocks * CLIP_BINS + 1, sizeof *hist) : NULL;
    int rc = in && v && x && w && s && full && (hist || !clip) ? 0 : errf(err, errlen, "out of memory setting ADC ranges");
    if (!rc) {
        quantise_pixels(p, calib, (size_t)p->n_inputs * n, in);
        if (program_forward_int_values(p, in, n, v))
            rc = errf(err, errlen, "out of memory setting ADC ranges");
    }
    /* Pass 0: each block's largest column sum; pass 1 (clip): their histogram up to it. */
    for (int pass = 0; pass < (clip ? 2 : 1); pass++) {
        for (int k = 0; k < p->n_ops && !rc; k++) {
            const CoreOp *op = &p->ops[k];
            const CoreBlock *b = &p->blocks[op->block];
            if (keep && b->adc_full > 0)
                continue;
            /* x[i][slice·n + img]: slice s of input i on image img. */
            for (int i = 0; i < b->rows; i++)
                for (int sl = 0; sl < slices; sl++)
                    for (int img = 0; img < n; img++) {
                        int64_t xv = op->in[i] == PROGRAM_ZERO ? 0 : v[(size_t)op->in[i] * n + img];
                        x[((size_t)i * slices + sl) * n + img] =
                            (double)((xv >> (sl * dac)) & ((INT64_C(1) << dac) - 1));
                    }
            for (int arr = 0; arr < (diff ? 2 : 1); arr++)
                for (int c = 0; c < cells; c++) {
                    for (int j = 0; j < b->cols; j++)
                        for (int i = 0; i < b->rows; i++) {
                            int64_t wv = b->w[(size_t)j * b->rows + i] + offset;
                            int64_t m = diff ? (arr == 0 ? (wv > 0 ? wv : 0) : (wv < 0 ? -wv : 0)) : wv;
                            w[(size_t)j * b->rows + i] = cell_of(m, c, cell_bits);
                        }
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->cols, slices * n, b->rows, 1.0, w,
                                b->rows, x, slices * n, 0.0, s, slices * n);
                    double *h = pass ? hist + (size_t)op->block * CLIP_BINS : NULL, mx = full[op->block];
                    for (int j = 0; j < b->cols; j++)
                        for (int sl = 0; sl < slices; sl++) {
                            const double *sums = s + ((size_t)j * slices + sl) * n;
                            const double weight = exp2(2.0 * (sl * dac + c * cell_bits)); /* significance² */
                            for (int img = 0; img < n; img++) {
                                if (!pass) {
                                    full[op->block] = sums[img] > full[op->block] ? sums[img] : full[op->block];
                                } else if (sums[img] > 0 && mx > 0) {
                                    long bin = (long)(sums[img] / mx * CLIP_BINS);
                                    h[bin < CLIP_BINS ? bin : CLIP_BINS - 1] += weight;
                                }
                            }
                        }
                }
        }
    }
    for (int b = 0; b < p->n_blocks && clip && !rc; b++)
        if (full[b] > 0)
            full[b] = floor(best_full(hist + (size_t)b * CLIP_BINS, full[b], ldexp(1, hw->pim.adc_bits) - 1));
    for (int b = 0; b < p->n_blocks && !rc; b++)
        if (!(keep && p->blocks[b].adc_full > 0))
            p->blocks[b].adc_full = full[b] > 0 ? (int64_t)full[b] : 1;
    free(in);
    free(v);
    free(x);
    free(w);
    free(s);
    free(full);
    free(hist);
    return rc;
}
