/* pim_program / pim_free: a Program written into ReRAM cells, with the
 * chip's noise and stuck cells drawn once (the semantics are in pim.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "pim_chip.h"
#include "simulators.h"

#define SUM_BITS 62 /* every sum stays below 2^62: int64 with room to spare */
#define NOISE_BITS 4 /* a noisy conductance is at most 16 times its level */

void pim_free(PimChip *chip)
{
    if (!chip)
        return;
    for (int b = 0; chip->blocks && b < chip->n_blocks; b++) {
        free(chip->blocks[b].bias);
        free(chip->blocks[b].g);
    }
    free(chip->blocks);
    free(chip->op_block);
    free(chip->op_out);
    free(chip->op_first);
    free(chip->in);
    free(chip->outputs);
    pim_fast_free(chip->fast);
    free(chip);
}

/* The smallest k with 2^k >= v (v >= 1). */
static int bits_for(int64_t v)
{
    int k = 0;
    while (k < 63 && ((int64_t)1 << k) < v)
        k++;
    return k;
}

/* The periphery's numbers from hw and the program's I/O width. */
static void set_periphery(PimChip *chip, const Program *p, const Hw *hw)
{
    chip->io_bits = p->io_bits;
    chip->dac_bits = hw->pim.dac_bits > 0 ? hw->pim.dac_bits : p->io_bits;
    chip->slices = (p->io_bits + chip->dac_bits - 1) / chip->dac_bits;
    chip->arrays = hw->pim.differential ? 2 : 1;
    int cells = hw->weights.encoding == HW_ENC_CELLS && hw->weights.cells > 0 &&
                hw->weights.cell_bits > 0;
    chip->cells = cells ? hw->weights.cells : 1;
    chip->cell_bits = cells ? hw->weights.cell_bits : hw->weights.bits;
    chip->adc_bits = hw->pim.adc_bits;
    chip->frac_bits = hw->pim.noise_sigma > 0 ? PIM_FRAC_BITS : 0;
    chip->offset = hw->pim.differential ? 0 : (int64_t)1 << (hw->weights.bits - 1);
}

/* The block's ADC full scale F (pim.c: "ADC"). */
static int64_t full_scale(const PimChip *chip, const CoreBlock *k, const Hw *hw)
{
    if (k->adc_full > 0)
        return k->adc_full;
    double r = hw->pim.adc_range > 0 ? hw->pim.adc_range : 1.0;
    double most = (double)k->rows * (double)(((int64_t)1 << chip->dac_bits) - 1) *
                  (double)(((int64_t)1 << chip->cell_bits) - 1);
    double f = floor(r * most + 0.5);
    return f < 1 ? 1 : (int64_t)f;
}

/* The widths every shift relies on (the key table's ranges keep them; a
 * hand-made Hw may not). */
static int check_hw(const Hw *hw, char *err, size_t errlen)
{
    if (hw->weights.bits < 1 || hw->weights.bits > 30 || hw->pim.dac_bits < 0 ||
        hw->pim.dac_bits > 30)
        return errf(err, errlen,
                    "pim: weights.bits %d outside 1..30 or pim.dac_bits %d outside 0..30",
                    hw->weights.bits, hw->pim.dac_bits);
    return 0;
}

static int check_cells(const PimChip *chip, char *err, size_t errlen)
{
    if (chip->cells * chip->cell_bits > SUM_BITS || chip->cell_bits > 30)
        return errf(err, errlen, "pim: %d cells of %d bits: too wide a weight to simulate",
                    chip->cells, chip->cell_bits);
    return 0;
}

/* Every sum of pim_run below 2^SUM_BITS (pim.c: "Widths"). */
static int check_sums(const PimChip *chip, const Program *p, char *err, size_t errlen)
{
    const int noise = chip->frac_bits ? NOISE_BITS : 0, w = chip->cells * chip->cell_bits;
    const int inputs = chip->slices * chip->dac_bits; /* bits of Σ_s 2^(s·d) x_s's weights */
    const int rows = bits_for(chip->max_rows > 0 ? chip->max_rows : 1);
    int column = rows + chip->dac_bits + chip->cell_bits + chip->frac_bits + noise;
    int shifted = chip->adc_bits ? chip->adc_bits + inputs + w : rows + inputs + w + noise + 1;
    if (column > SUM_BITS || shifted > SUM_BITS)
        return errf(err, errlen,
                    "pim: %d rows, %d-bit slices and %d-bit cells%s make %d-bit sums: beyond "
                    "the simulator's %d",
                    chip->max_rows, chip->dac_bits, chip->cell_bits, noise ? " with noise" : "",
                    column > shifted ? column : shifted, SUM_BITS);
    for (int b = 0; chip->adc_bits && b < p->n_blocks; b++) {
        int scaled = bits_for(chip->blocks[b].full) + inputs + w + 1;
        if (scaled > SUM_BITS)
            return errf(err, errlen,
                        "pim: block %d: ADC full scale %lld makes %d-bit sums: beyond the "
                        "simulator's %d",
                        b, (long long)chip->blocks[b].full, scaled, SUM_BITS);
    }
    return 0;
}

/* The magnitude array a holds for weight w (pim.c: "Cells"). */
static int64_t magnitude(const PimChip *chip, int32_t w, int a)
{
    if (chip->arrays == 1)
        return (int64_t)w + chip->offset;
    return a == 0 ? (w > 0 ? w : 0) : (w < 0 ? -(int64_t)w : 0);
}

/* Weights the cells cannot hold. */
static int check_weights(const PimChip *chip, const Program *p, char *err, size_t errlen)
{
    const int64_t most = ((int64_t)1 << (chip->cells * chip->cell_bits)) - 1;
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *k = &p->blocks[b];
        for (size_t t = 0; t < (size_t)k->rows * k->cols; t++)
            for (int a = 0; a < chip->arrays; a++) {
                int64_t m = magnitude(chip, k->w[t], a);
                if (m < 0 || m > most)
                    return errf(err, errlen,
                                "pim: block %d: weight %d (row %d, column %d) does not fit %d "
                                "%s of %d bits%s",
                                b, k->w[t], (int)(t % (size_t)k->rows), (int)(t / (size_t)k->rows),
                                chip->cells, chip->cells == 1 ? "cell" : "cells", chip->cell_bits,
                                chip->arrays == 1 ? " offset by 2^(weights.bits-1)" : "");
            }
    }
    return 0;
}

/* A cell of `level` as programmed, in units of 2^-frac_bits level; draws
 * its four numbers when the chip is not ideal (pim.c: "Programmed cells"). */
static int64_t conductance(const PimChip *chip, const Hw *hw, int64_t level, Rng *r)
{
    const int g = chip->frac_bits;
    if (hw->pim.noise_sigma <= 0 && hw->pim.stuck_at_rate <= 0)
        return level << g;
    double u = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
    int high = (int)(rng_next(r) >> 63);
    double n = rng_normal(r);
    if (u < hw->pim.stuck_at_rate)
        return high ? (((int64_t)1 << chip->cell_bits) - 1) << g : 0;
    if (hw->pim.noise_sigma <= 0)
        return level << g;
    double factor = 1.0 + hw->pim.noise_sigma * n;
    factor = factor > 16 ? 16 : factor;
    double v = floor((double)level * factor * (double)((int64_t)1 << g) + 0.5);
    return v > 0 ? (int64_t)v : 0;
}

/* Block b's cells and numbers; 0, or -1 on OOM. */
static int program_block(PimChip *chip, const CoreBlock *k, const Hw *hw, uint64_t seed,
                         PimBlock *out)
{
    const int per_weight = chip->arrays * chip->cells;
    out->rows = k->rows;
    out->cols = k->cols;
    out->shift = k->shift;
    out->act = k->act;
    out->bias = malloc(sizeof *out->bias * (size_t)k->cols);
    out->g = malloc(sizeof *out->g * (size_t)k->rows * (size_t)k->cols * (size_t)per_weight);
    if (!out->bias || !out->g)
        return -1;
    memcpy(out->bias, k->bias, sizeof *out->bias * (size_t)k->cols);
    Rng r;
    rng_seed(&r, seed);
    const int64_t cell_mask = ((int64_t)1 << chip->cell_bits) - 1;
    for (int j = 0; j < k->cols; j++)
        for (int i = 0; i < k->rows; i++)
            for (int a = 0; a < chip->arrays; a++) {
                int64_t m = magnitude(chip, k->w[(size_t)j * k->rows + i], a);
                for (int c = 0; c < chip->cells; c++) {
                    int64_t level = (m >> (c * chip->cell_bits)) & cell_mask;
                    size_t at = (((size_t)a * chip->cells + c) * k->rows + i) * k->cols + j;
                    out->g[at] = conductance(chip, hw, level, &r);
                }
            }
    return 0;
}

/* The program's wiring, copied; 0, or -1 on OOM. */
static int copy_wiring(PimChip *chip, const Program *p)
{
    size_t total = 0;
    for (int k = 0; k < p->n_ops; k++)
        total += (size_t)p->blocks[p->ops[k].block].rows;
    const size_t ops = (size_t)(p->n_ops > 0 ? p->n_ops : 1);
    chip->op_block = malloc(sizeof *chip->op_block * ops);
    chip->op_out = malloc(sizeof *chip->op_out * ops);
    chip->op_first = malloc(sizeof *chip->op_first * ops);
    chip->in = malloc(sizeof *chip->in * (total ? total : 1));
    chip->outputs = malloc(sizeof *chip->outputs * (size_t)p->n_outputs);
    if (!chip->op_block || !chip->op_out || !chip->op_first || !chip->in || !chip->outputs)
        return -1;
    size_t at = 0;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const int rows = p->blocks[op->block].rows;
        chip->op_block[k] = op->block;
        chip->op_out[k] = op->out;
        chip->op_first[k] = at;
        memcpy(chip->in + at, op->in, sizeof *chip->in * (size_t)rows);
        at += (size_t)rows;
    }
    memcpy(chip->outputs, p->outputs, sizeof *chip->outputs * (size_t)p->n_outputs);
    return 0;
}

PimChip *pim_program(const Program *p, const Hw *hw, char *err, size_t errlen)
{
    char why[NN_ERR_MAX];
    if (!p || !hw) {
        errf(err, errlen, "pim: no program or no hardware description");
        return NULL;
    }
    if (p->is_float) {
        errf(err, errlen, "pim: a float program (the reform strategy) has no integer weights");
        return NULL;
    }
    if (program_validate(p, why, sizeof why)) {
        errf(err, errlen, "pim: not a valid program: %s", why);
        return NULL;
    }
    if (check_hw(hw, err, errlen))
        return NULL;
    PimChip *chip = calloc(1, sizeof *chip);
    if (!chip) {
        errf(err, errlen, "pim: out of memory");
        return NULL;
    }
    set_periphery(chip, p, hw);
    chip->n_inputs = p->n_inputs;
    chip->n_neurons = p->n_neurons;
    chip->n_ops = p->n_ops;
    chip->n_outputs = p->n_outputs;
    uint64_t *seeds = malloc(sizeof *seeds * (size_t)(p->n_blocks > 0 ? p->n_blocks : 1));
    chip->blocks = calloc((size_t)(p->n_blocks > 0 ? p->n_blocks : 1), sizeof *chip->blocks);
    if (!seeds || !chip->blocks || copy_wiring(chip, p)) {
        errf(err, errlen, "pim: out of memory");
        goto fail;
    }
    chip->n_blocks = p->n_blocks;
    if (check_cells(chip, err, errlen))
        goto fail;
    Rng r;
    rng_seed(&r, hw->pim.seed);
    for (int b = 0; b < p->n_blocks; b++) {
        seeds[b] = rng_next(&r);
        chip->blocks[b].full = full_scale(chip, &p->blocks[b], hw);
        chip->max_rows = p->blocks[b].rows > chip->max_rows ? p->blocks[b].rows : chip->max_rows;
        chip->max_cols = p->blocks[b].cols > chip->max_cols ? p->blocks[b].cols : chip->max_cols;
    }
    if (check_sums(chip, p, err, errlen) || check_weights(chip, p, err, errlen))
        goto fail;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = 0; b < p->n_blocks; b++)
        if (program_block(chip, &p->blocks[b], hw, seeds[b], &chip->blocks[b])) {
#pragma omp atomic write
            failed = 1;
        }
    if (failed) {
        errf(err, errlen, "pim: out of memory for the cells");
        goto fail;
    }
    free(seeds);
    chip->fast = pim_fast_make(chip, p); /* NULL: the reference path, as exact */
    return chip;
fail:
    free(seeds);
    pim_free(chip);
    return NULL;
}
