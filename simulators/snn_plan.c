/* Preparing a program for the spiking simulator (snn_plan.h): argument
 * checks, transposed weights, int32 bounds, layers, output positions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snn_plan.h"

void snn_plan_free(SnnPlan *pl)
{
    if (pl->wt)
        for (int b = 0; b < pl->p->n_blocks; b++)
            free(pl->wt[b]);
    free(pl->wt);
    free(pl->theta);
    free(pl->leak);
    free(pl->layers);
    free(pl->outs);
    memset(pl, 0, sizeof *pl);
}

/* Blocks the simulator can run: sane sizes, shift and activation. 1 if so. */
static int blocks_ok(const Program *p)
{
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *blk = &p->blocks[b];
        if (blk->rows < 1 || blk->cols < 1 || blk->shift < 0 || blk->shift > 62 || !blk->w ||
            !blk->bias || (blk->act != CORE_RELU && blk->act != CORE_LINEAR))
            return 0;
    }
    return 1;
}

/* Ops number their neurons one after another from n_inputs (as
 * program_validate requires); every read is of an existing, earlier neuron
 * that is not an output (CORE_LINEAR) neuron, which emits nothing; every
 * output is a linear neuron. Programs the verifier passes are. 1 if so; 0 if
 * not, or on OOM. */
static int wiring_ok(const Program *p)
{
    if (p->n_inputs < 0 || p->n_inputs > p->n_neurons || p->n_outputs < 1 || !blocks_ok(p))
        return 0;
    char *linear = calloc((size_t)(p->n_neurons > 0 ? p->n_neurons : 1), 1);
    if (!linear)
        return 0;
    int ok = 1;
    int32_t next = p->n_inputs;
    for (int k = 0; k < p->n_ops && ok; k++) {
        const CoreOp *op = &p->ops[k];
        ok = op->block >= 0 && op->block < p->n_blocks;
        const CoreBlock *b = ok ? &p->blocks[op->block] : NULL;
        ok = ok && op->out == next && op->out <= p->n_neurons - b->cols;
        for (int i = 0; ok && i < b->rows; i++)
            ok = op->in[i] == PROGRAM_ZERO ||
                 (op->in[i] >= 0 && op->in[i] < op->out && !linear[op->in[i]]);
        if (ok && b->act == CORE_LINEAR)
            memset(linear + op->out, 1, (size_t)b->cols);
        next += ok ? b->cols : 0;
    }
    ok = ok && next == p->n_neurons;
    for (int o = 0; o < p->n_outputs && ok; o++)
        ok = p->outputs[o] >= 0 && p->outputs[o] < p->n_neurons && linear[p->outputs[o]];
    free(linear);
    return ok;
}

/* Transposed weights, thresholds, leaks and the int32 bound of each block. */
static int blocks_make(SnnPlan *pl, int lif, double leak)
{
    const Program *p = pl->p;
    size_t nb = (size_t)(p->n_blocks > 0 ? p->n_blocks : 1);
    pl->wt = calloc(nb, sizeof *pl->wt);
    pl->theta = malloc(nb * sizeof *pl->theta);
    pl->leak = malloc(nb * sizeof *pl->leak);
    if (!pl->wt || !pl->theta || !pl->leak)
        return -1;
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *blk = &p->blocks[b];
        pl->theta[b] = (int64_t)1 << blk->shift;
        /* leak is a fraction of θ; × 2^shift is exact in a double */
        pl->leak[b] = lif ? (int64_t)floor(leak * ldexp(1.0, blk->shift) + 0.5) : 0;
        int32_t *wt = malloc(sizeof *wt * (size_t)blk->rows * (size_t)blk->cols);
        if (!(pl->wt[b] = wt))
            return -1;
        for (int j = 0; j < blk->cols; j++)
            for (int i = 0; i < blk->rows; i++)
                wt[(size_t)i * blk->cols + j] = blk->w[(size_t)j * blk->rows + i];
        pl->max_rows = blk->rows > pl->max_rows ? blk->rows : pl->max_rows;
    }
    return 0;
}

/* Whether op k's potentials fit int32. A step adds at most B_j = |bias_j| +
 * Σ_i |W_ij|·s_i to neuron j (s_i ≤ 1 for a spike, ≤ top for a pixel under
 * current coding); leaks and resets only move V toward 0 or down by θ from
 * above θ, so |V| ≤ T·B_j + θ through all T steps, and every partial sum the
 * simulator forms (drive, per-step sum, drive + sum + V) stays within
 * (T + 1)·B_j + θ. */
static int fits_int32(const SnnPlan *pl, int k)
{
    const Program *p = pl->p;
    const CoreOp *op = &p->ops[k];
    const CoreBlock *b = &p->blocks[op->block];
    const int64_t theta = pl->theta[op->block], cap = INT32_MAX;
    if (theta > cap)
        return 0;
    for (int j = 0; j < b->cols; j++) {
        if (b->bias[j] < -cap || b->bias[j] > cap)
            return 0;
        int64_t bound = b->bias[j] < 0 ? -b->bias[j] : b->bias[j];
        for (int i = 0; i < b->rows && bound <= cap; i++) {
            int64_t w = b->w[(size_t)j * b->rows + i], s = op->in[i] == PROGRAM_ZERO ? 0 : 1;
            if (op->in[i] >= 0 && op->in[i] < p->n_inputs && pl->coding.coding == HW_IN_CURRENT)
                s = pl->coding.top; /* < 2^30, and |w| ≤ 2^31: no overflow */
            bound += (w < 0 ? -w : w) * s;
        }
        if (bound > cap || ((int64_t)pl->T + 1) * bound > cap - theta)
            return 0;
    }
    return 1;
}

/* Whether op k can join layer l: the same kind of neuron, reading nothing
 * of the layer, and the layer stays narrow enough. */
static int joins(const SnnPlan *pl, const SnnLayer *l, int k)
{
    const Program *p = pl->p;
    const CoreOp *op = &p->ops[k];
    const CoreBlock *b = &p->blocks[op->block];
    if ((b->act == CORE_LINEAR) != l->linear || pl->theta[op->block] != l->theta ||
        pl->leak[op->block] != l->leak || l->cols + b->cols > SNN_LAYER_COLS)
        return 0;
    for (int i = 0; i < b->rows; i++)
        if (op->in[i] >= l->out)
            return 0;
    return 1;
}

/* The layers (greedily, in program order) and their outputs. */
static int layers_make(SnnPlan *pl)
{
    const Program *p = pl->p;
    pl->layers = malloc(sizeof *pl->layers * (size_t)(p->n_ops > 0 ? p->n_ops : 1));
    pl->outs = malloc(sizeof *pl->outs * (size_t)p->n_outputs);
    if (!pl->layers || !pl->outs)
        return -1;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        SnnLayer *l = &pl->layers[pl->n_layers - 1];
        if (!pl->n_layers || !joins(pl, l, k)) {
            l = &pl->layers[pl->n_layers++];
            *l = (SnnLayer){k, 0, op->out, 0, pl->theta[op->block], pl->leak[op->block],
                            b->act == CORE_LINEAR, 0, 0, 0, 0};
        }
        l->n_ops++;
        l->cols += b->cols;
        l->wide |= !fits_int32(pl, k);
        pl->any_wide |= l->wide;
        for (int i = 0; i < b->rows; i++)
            l->reads_pixels |= op->in[i] >= 0 && op->in[i] < p->n_inputs;
        pl->max_cols = l->cols > pl->max_cols ? l->cols : pl->max_cols;
    }
    size_t n = 0; /* outputs by layer: few layers are linear, so a scan per layer is cheap */
    for (int l = 0; l < pl->n_layers; l++) {
        SnnLayer *ly = &pl->layers[l];
        ly->outs_first = n;
        for (int o = 0; ly->linear && o < p->n_outputs; o++)
            if (p->outputs[o] >= ly->out && p->outputs[o] < ly->out + ly->cols)
                pl->outs[n++] = (SnnOutputCol){p->outputs[o] - ly->out, o};
        ly->outs_end = n;
    }
    return 0;
}

int snn_plan_make(const Program *p, const Hw *hw, SnnPlan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->p = p;
    pl->T = hw->io.window;
    pl->reset_zero = hw->neuron.reset == HW_RESET_ZERO;
    pl->coding = (SnnCoding){hw->io.input_coding, ((int64_t)1 << p->io_bits) - 1, hw->io.seed};
    const int coding = hw->io.input_coding;
    const double leak = hw->neuron.leak;
    if (p->is_float || pl->T < 1 || p->io_bits < 1 || p->io_bits > 30 || !(leak >= 0 && leak <= 1) ||
        (hw->neuron.reset != HW_RESET_SUBTRACT && !pl->reset_zero) ||
        (coding != HW_IN_CURRENT && coding != HW_IN_RATE && coding != HW_IN_POISSON) || !wiring_ok(p))
        return -1;
    if (blocks_make(pl, hw->neuron.activation == HW_ACT_LIF, leak) || layers_make(pl)) {
        snn_plan_free(pl);
        return -1;
    }
    return 0;
}
