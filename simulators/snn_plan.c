/* Preparing a program for the spiking simulator (snn_plan.h): argument
 * checks, transposed weights, int32 bounds, layers, output positions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snn_plan.h"
#include "snn_amx.h"
#include "snn_vnni.h"

void *snn_lines(size_t bytes, int zero)
{
    size_t size = (bytes + 63) / 64 * 64;
    void *m = aligned_alloc(64, size ? size : 64);
    if (m && zero)
        memset(m, 0, size);
    return m;
}

void snn_plan_free(SnnPlan *pl)
{
    if (pl->wt)
        for (int b = 0; b < pl->p->n_blocks; b++)
            free(pl->wt[b]);
    if (pl->wt8)
        for (int b = 0; b < pl->p->n_blocks; b++)
            free(pl->wt8[b]);
    if (pl->wamx)
        for (int b = 0; b < pl->p->n_blocks; b++)
            free(pl->wamx[b]);
    if (pl->bias32)
        for (int b = 0; b < pl->p->n_blocks; b++)
            free(pl->bias32[b]);
    free(pl->bias32);
    free(pl->wt);
    free(pl->wt8);
    free(pl->wamx);
    free(pl->theta);
    free(pl->leak);
    free(pl->layers);
    free(pl->order);
    free(pl->op_col);
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
    pl->wt8 = calloc(nb, sizeof *pl->wt8);
    pl->bias32 = calloc(nb, sizeof *pl->bias32);
    pl->theta = malloc(nb * sizeof *pl->theta);
    pl->leak = malloc(nb * sizeof *pl->leak);
    if (!pl->wt || !pl->wt8 || !pl->bias32 || !pl->theta || !pl->leak)
        return -1;
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *blk = &p->blocks[b];
        pl->theta[b] = (int64_t)1 << blk->shift;
        int narrow = 1;
        for (int j = 0; j < blk->cols; j++)
            narrow &= blk->bias[j] >= INT32_MIN && blk->bias[j] <= INT32_MAX;
        if (narrow) {
            if (!(pl->bias32[b] = malloc(sizeof(int32_t) * (size_t)blk->cols)))
                return -1;
            for (int j = 0; j < blk->cols; j++)
                pl->bias32[b][j] = (int32_t)blk->bias[j];
        }
        /* leak is a fraction of θ; × 2^shift is exact in a double */
        pl->leak[b] = lif ? (int64_t)floor(leak * ldexp(1.0, blk->shift) + 0.5) : 0;
        const size_t stride = (size_t)snn_padded(blk->cols);
        int32_t *wt = snn_lines((size_t)blk->rows * stride * sizeof *wt, 1); /* padding stays 0 */
        if (!(pl->wt[b] = wt))
            return -1;
        int bytes = 1;
        for (int j = 0; j < blk->cols; j++)
            for (int i = 0; i < blk->rows; i++) {
                int32_t w = blk->w[(size_t)j * blk->rows + i];
                wt[(size_t)i * stride + j] = w;
                bytes &= w >= INT8_MIN && w <= INT8_MAX;
            }
        /* AMX and VNNI multiply bytes: int8 where every weight fits */
        if (bytes) {
            int8_t *w8 = snn_lines((size_t)blk->rows * stride, 0);
            if (!(pl->wt8[b] = w8))
                return -1;
            for (size_t k = 0; k < (size_t)blk->rows * stride; k++)
                w8[k] = (int8_t)wt[k];
        }
        pl->max_rows = blk->rows > pl->max_rows ? blk->rows : pl->max_rows;
    }
    return 0;
}

/* Whether potentials of block b, read through rows `in`, fit int32. A step
 * adds at most B_j = |bias_j| + Σ_i |W_ij|·s_i to neuron j (s_i ≤ 1 for a
 * spike, ≤ top for a pixel under current coding); leaks and resets only
 * move V toward 0 or down by θ from above θ, so |V| ≤ T·B_j + θ through all
 * T steps, and every partial sum the simulator forms (drive, per-step sum,
 * drive + sum + V) stays within (T + 1)·B_j + θ. in = NULL: every row a
 * spike (what any op of the block without current-coded pixels is below). */
static int fits_int32(const SnnPlan *pl, int block, const int32_t *in)
{
    const Program *p = pl->p;
    const CoreBlock *b = &p->blocks[block];
    const int64_t theta = pl->theta[block], cap = INT32_MAX;
    if (theta > cap)
        return 0;
    for (int j = 0; j < b->cols; j++) {
        if (b->bias[j] < -cap || b->bias[j] > cap)
            return 0;
        int64_t bound = b->bias[j] < 0 ? -b->bias[j] : b->bias[j];
        for (int i = 0; i < b->rows && bound <= cap; i++) {
            int64_t w = b->w[(size_t)j * b->rows + i], s = in && in[i] == PROGRAM_ZERO ? 0 : 1;
            if (in && in[i] >= 0 && in[i] < p->n_inputs)
                s = pl->coding.top; /* < 2^30, and |w| ≤ 2^31: no overflow */
            bound += (w < 0 ? -w : w) * s;
        }
        if (bound > cap || ((int64_t)pl->T + 1) * bound > cap - theta)
            return 0;
    }
    return 1;
}

/* The op holding core neuron n: ops number their neurons in order (wiring_ok). */
static int op_of(const Program *p, int32_t n)
{
    int lo = 0, hi = p->n_ops - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (p->ops[mid].out <= n)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* What orders the ops into layers: depth first (so a layer only reads
 * earlier layers), then the kind of neuron, then program order. */
typedef struct {
    int depth, linear, k;
    int64_t theta, leak;
} OpKey;

static int key_cmp(const void *a, const void *b)
{
    const OpKey *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    if (x->linear != y->linear)
        return x->linear < y->linear ? -1 : 1;
    if (x->theta != y->theta)
        return x->theta < y->theta ? -1 : 1;
    if (x->leak != y->leak)
        return x->leak < y->leak ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Each op's depth (1 + the deepest op it reads; pixels are depth 0) and sort
 * key. Ops of one depth never read each other. */
static OpKey *op_keys(const SnnPlan *pl)
{
    const Program *p = pl->p;
    OpKey *keys = malloc(sizeof *keys * (size_t)(p->n_ops > 0 ? p->n_ops : 1));
    int *depth = calloc((size_t)p->n_neurons + 1, sizeof *depth); /* [1 + n]: [0] for PROGRAM_ZERO */
    if (!keys || !depth)
        return free(keys), free(depth), NULL;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        int d = 0;
        for (int i = 0; i < b->rows; i++)
            d = depth[op->in[i] + 1] > d ? depth[op->in[i] + 1] : d;
        for (int j = 0; j < b->cols; j++)
            depth[op->out + j + 1] = d + 1;
        keys[k] = (OpKey){d + 1, b->act == CORE_LINEAR, k, pl->theta[op->block], pl->leak[op->block]};
    }
    free(depth);
    qsort(keys, (size_t)p->n_ops, sizeof *keys, key_cmp);
    return keys;
}

/* Op k (after `prev` in the order) joins layer l: the same depth and kind
 * of neuron, and the layer stays narrow enough. */
static int joins(const SnnPlan *pl, const SnnLayer *l, const OpKey *prev, const OpKey *key)
{
    return key->depth == prev->depth && key->linear == prev->linear && key->theta == prev->theta &&
           key->leak == prev->leak && l->cols + pl->p->blocks[pl->p->ops[key->k].block].cols <= SNN_LAYER_COLS;
}

/* Each layer's outputs: column col of layer `layer_of[op]`, grouped by layer. */
static int outputs_make(SnnPlan *pl, const int *layer_of)
{
    const Program *p = pl->p;
    pl->outs = malloc(sizeof *pl->outs * (size_t)p->n_outputs);
    int *owner = malloc(sizeof *owner * (size_t)p->n_outputs);
    if (!pl->outs || !owner)
        return free(owner), -1;
    for (int o = 0; o < p->n_outputs; o++) {
        owner[o] = op_of(p, p->outputs[o]);
        pl->layers[layer_of[owner[o]]].outs_end++;
    }
    size_t n = 0;
    for (int l = 0; l < pl->n_layers; l++) {
        pl->layers[l].outs_first = n;
        n += pl->layers[l].outs_end;
        pl->layers[l].outs_end = pl->layers[l].outs_first;
    }
    for (int o = 0; o < p->n_outputs; o++) {
        int k = owner[o];
        SnnLayer *l = &pl->layers[layer_of[k]];
        pl->outs[l->outs_end++] = (SnnOutputCol){pl->op_col[k] + p->outputs[o] - p->ops[k].out, o};
    }
    free(owner);
    return 0;
}

/* The AMX tiles of the blocks with int8 weights. */
static int amx_make(SnnPlan *pl)
{
    const Program *p = pl->p;
    if (!(pl->wamx = calloc((size_t)(p->n_blocks > 0 ? p->n_blocks : 1), sizeof *pl->wamx)))
        return -1;
    for (int b = 0; b < p->n_blocks; b++)
        if (pl->wt8[b] && !(pl->wamx[b] = snn_amx_weights(p->blocks[b].w, p->blocks[b].rows, p->blocks[b].cols)))
            return -1;
    return 0;
}

/* The layers: ops sorted by op_keys, cut greedily. */
static int layers_make(SnnPlan *pl)
{
    const Program *p = pl->p;
    size_t nk = (size_t)(p->n_ops > 0 ? p->n_ops : 1);
    OpKey *keys = op_keys(pl);
    int *layer_of = malloc(sizeof *layer_of * nk);
    unsigned char *block_fits = malloc((size_t)(p->n_blocks > 0 ? p->n_blocks : 1));
    pl->layers = malloc(sizeof *pl->layers * nk);
    pl->order = malloc(sizeof *pl->order * nk);
    pl->op_col = malloc(sizeof *pl->op_col * nk);
    if (!keys || !layer_of || !block_fits || !pl->layers || !pl->order || !pl->op_col)
        return free(keys), free(layer_of), free(block_fits), -1;
    for (int b = 0; b < p->n_blocks; b++)
        block_fits[b] = (unsigned char)fits_int32(pl, b, NULL);
    for (int r = 0; r < p->n_ops; r++) {
        const int k = keys[r].k;
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        SnnLayer *l = &pl->layers[pl->n_layers - 1];
        if (!pl->n_layers || !joins(pl, l, &keys[r - 1], &keys[r])) {
            l = &pl->layers[pl->n_layers++];
            *l = (SnnLayer){r, 0, 0, keys[r].theta, keys[r].leak, keys[r].linear, 0, 1, 0, 0, 0};
        }
        pl->order[r] = k;
        pl->op_col[k] = l->cols;
        layer_of[k] = pl->n_layers - 1;
        l->n_ops++;
        l->cols += b->cols;
        int reads_pixels = 0;
        for (int i = 0; i < b->rows; i++)
            reads_pixels |= op->in[i] >= 0 && op->in[i] < p->n_inputs;
        l->reads_pixels |= reads_pixels;
        if (reads_pixels && pl->coding.coding == HW_IN_CURRENT)
            l->wide |= !fits_int32(pl, op->block, op->in);
        else
            l->wide |= !block_fits[op->block];
        l->bytes &= !l->wide && pl->wt8[op->block];
        pl->any_wide |= l->wide;
        pl->max_cols = l->cols > pl->max_cols ? l->cols : pl->max_cols;
    }
    int any_bytes = 0;
    for (int l = 0; l < pl->n_layers; l++)
        any_bytes |= pl->layers[l].bytes;
    pl->vnni = any_bytes && snn_vnni_usable();
    pl->amx = any_bytes && snn_amx_usable();
    int failed = outputs_make(pl, layer_of) || (pl->amx && amx_make(pl));
    free(keys);
    free(layer_of);
    free(block_fits);
    return failed;
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
    for (int byte = 0; byte < 256; byte++)
        for (int bit = 0; bit < 8; bit++)
            if (byte >> bit & 1)
                pl->bit_at[byte][pl->bit_count[byte]++] = (uint8_t)bit;
    if (blocks_make(pl, hw->neuron.activation == HW_ACT_LIF, leak) || layers_make(pl)) {
        snn_plan_free(pl);
        return -1;
    }
    return 0;
}
