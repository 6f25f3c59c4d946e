/* Preparing a program for the spiking simulator (snn_plan.h): argument
 * checks, transposed weights, per-neuron reader lists. */
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
    free(pl->first);
    free(pl->rows);
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

/* Every read is of an existing, earlier neuron that is not an output
 * (CORE_LINEAR) neuron, which emits nothing; every output is a linear
 * neuron. Programs the verifier passes are. 1 if so; 0 if not, or on OOM. */
static int wiring_ok(const Program *p)
{
    if (p->n_inputs < 0 || p->n_inputs > p->n_neurons || p->n_outputs < 1 || !blocks_ok(p))
        return 0;
    char *linear = calloc((size_t)(p->n_neurons > 0 ? p->n_neurons : 1), 1);
    if (!linear)
        return 0;
    int ok = 1;
    for (int k = 0; k < p->n_ops && ok; k++) {
        const CoreOp *op = &p->ops[k];
        ok = op->block >= 0 && op->block < p->n_blocks;
        const CoreBlock *b = ok ? &p->blocks[op->block] : NULL;
        ok = ok && op->out >= p->n_inputs && op->out <= p->n_neurons - b->cols;
        for (int i = 0; ok && i < b->rows; i++)
            ok = op->in[i] == PROGRAM_ZERO ||
                 (op->in[i] >= 0 && op->in[i] < op->out && !linear[op->in[i]]);
        if (ok && b->act == CORE_LINEAR)
            memset(linear + op->out, 1, (size_t)b->cols);
    }
    for (int o = 0; o < p->n_outputs && ok; o++)
        ok = p->outputs[o] >= 0 && p->outputs[o] < p->n_neurons && linear[p->outputs[o]];
    free(linear);
    return ok;
}

static int weights_make(SnnPlan *pl, int lif, double leak)
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
    }
    return 0;
}

/* The reader lists, in CSR form: count, prefix-sum, fill in op order. */
static int readers_make(SnnPlan *pl)
{
    const Program *p = pl->p;
    pl->first = calloc((size_t)p->n_neurons + 1, sizeof *pl->first);
    if (!pl->first)
        return -1;
    for (int k = 0; k < p->n_ops; k++)
        for (int i = 0; i < p->blocks[p->ops[k].block].rows; i++)
            if (p->ops[k].in[i] != PROGRAM_ZERO)
                pl->first[p->ops[k].in[i] + 1]++;
    for (int n = 0; n < p->n_neurons; n++)
        pl->first[n + 1] += pl->first[n];
    size_t total = pl->first[p->n_neurons];
    size_t *fill = malloc(sizeof *fill * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1));
    pl->rows = malloc(sizeof *pl->rows * (total ? total : 1));
    if (!fill || !pl->rows)
        return free(fill), -1;
    memcpy(fill, pl->first, sizeof *fill * (size_t)p->n_neurons);
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        for (int i = 0; i < b->rows; i++)
            if (op->in[i] != PROGRAM_ZERO)
                pl->rows[fill[op->in[i]]++] = (SnnSynapses){
                    pl->wt[op->block] + (size_t)i * b->cols, op->out - p->n_inputs, b->cols};
    }
    free(fill);
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
    if (weights_make(pl, hw->neuron.activation == HW_ACT_LIF, leak) || readers_make(pl)) {
        snn_plan_free(pl);
        return -1;
    }
    return 0;
}
