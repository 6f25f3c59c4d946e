/* The full strategy (quantise_full in compiler.h): naive quantisation with
 * tuned value ranges, then part-by-part tuning of the weights in program
 * order (DESIGN.md §2 step 3).
 *
 * A part is the set of core ops that share one float block and one output
 * scale group (every position of a convolution, say). The integer program
 * is run op by op on the tuning images through the chip's surrogate
 * (tune.h); when the walk reaches a part not yet tuned, its ops whose
 * inputs are already computed give the samples: their real inputs, as the
 * constrained parts before them produce them, against the original float
 * network's pre-activations at that point, in the part's output levels.
 * tune_solve fits and rounds the block; all ops of the part take it, and
 * the walk goes on with the tuned part's outputs. Tuning images are the
 * first calibration images, which come from the training split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "../simulators/simulators.h"
#include "tune.h"

#define TUNE_IMAGES 1024          /* images the walk runs */
/* On a spiking or PIM chip the walk runs the simulator again before most
 * parts, so the images shrink with the network: spiking 512 up to
 * SMALL_NET neurons, 256 up to MID_NET, else 64; PIM (a faster simulator)
 * 1024, 512, 256 (convolutions still see thousands of positions; a dense
 * layer's few samples are held near naive by the ridge). */
#define SMALL_NET 16384
#define MID_NET 200000
#define TUNE_VALUES_MAX (192 << 20) /* floats per value array (neurons × images): 768 MB */

/* Every neuron's float value on n images, v[neuron · n + image]. */
static float *float_values(const Program *fp, const uint8_t *px, int n)
{
    const int B = 16;
    size_t N = (size_t)fp->n_neurons;
    float *v = malloc(sizeof *v * N * n);
    double *d = malloc(sizeof *d * N * B);
    float *in = malloc(sizeof *in * (size_t)fp->n_inputs * B);
    int failed = !v || !d || !in;
    for (int i0 = 0; i0 < n && !failed; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        for (size_t i = 0; i < (size_t)nb * fp->n_inputs; i++)
            in[i] = px[(size_t)i0 * fp->n_inputs + i];
        failed = program_forward_float(fp, in, nb, d);
        for (size_t i = 0; i < N && !failed; i++)
            for (int img = 0; img < nb; img++)
                v[i * n + i0 + img] = (float)d[i * nb + img];
    }
    free(d);
    free(in);
    if (failed) {
        free(v);
        return NULL;
    }
    return v;
}


/* Parts: ops keyed by (float block, group), in order of first op. */
static int find_units(Walk *wk)
{
    const Program *fp = wk->fp;
    const int n_ops = fp->n_ops;
    size_t size = 16;
    while (size < (size_t)n_ops * 2)
        size *= 2;
    int *slot = malloc(sizeof *slot * size), *count = calloc((size_t)n_ops + 1, sizeof *count);
    wk->unit_of = malloc(sizeof *wk->unit_of * (size_t)(n_ops ? n_ops : 1));
    wk->unit_first = malloc(sizeof *wk->unit_first * ((size_t)n_ops + 2));
    wk->order = malloc(sizeof *wk->order * (size_t)(n_ops ? n_ops : 1));
    int *key_op = malloc(sizeof *key_op * (size_t)(n_ops ? n_ops : 1));
    if (!slot || !count || !wk->unit_of || !wk->unit_first || !wk->order || !key_op) {
        free(slot);
        free(count);
        free(key_op);
        return -1;
    }
    memset(slot, -1, sizeof *slot * size);
    wk->n_units = 0;
    for (int k = 0; k < n_ops; k++) {
        const CoreOp *op = &fp->ops[k];
        uint64_t h = ((uint64_t)(uint32_t)op->block * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)(uint32_t)op->group << 17);
        size_t at = (h ^ (h >> 29)) & (size - 1);
        while (slot[at] >= 0) {
            const CoreOp *o = &fp->ops[key_op[slot[at]]];
            if (o->block == op->block && o->group == op->group)
                break;
            at = (at + 1) & (size - 1);
        }
        if (slot[at] < 0) {
            slot[at] = wk->n_units;
            key_op[wk->n_units++] = k;
        }
        wk->unit_of[k] = slot[at];
        count[slot[at]]++;
    }
    wk->unit_first[0] = 0;
    for (int u = 0; u < wk->n_units; u++)
        wk->unit_first[u + 1] = wk->unit_first[u] + count[u];
    memset(count, 0, sizeof *count * ((size_t)n_ops + 1));
    for (int k = 0; k < n_ops; k++) {
        int u = wk->unit_of[k];
        wk->order[wk->unit_first[u] + count[u]++] = k;
    }
    free(slot);
    free(count);
    free(key_op);
    return 0;
}

void tune_gather(Walk *wk, const CoreOp *op, int rows, int lo, int hi)
{
    const int n = wk->n;
    for (int i = 0; i < rows; i++) {
        double *xi = wk->x + (size_t)i * n;
        if (op->in[i] == PROGRAM_ZERO)
            memset(xi + lo, 0, sizeof *xi * (size_t)(hi - lo));
        else
            for (int img = lo; img < hi; img++)
                xi[img] = wk->vq[(size_t)op->in[i] * n + img];
    }
}

void tune_eval_op(Walk *wk, int k, int lo, int hi)
{
    const CoreOp *op = &wk->p->ops[k];
    const CoreBlock *b = &wk->p->blocks[op->block];
    const int n = wk->n, R = b->rows, C = b->cols;
    tune_gather(wk, op, R, lo, hi);
    for (size_t i = 0; i < (size_t)R * C; i++)
        wk->wd[i] = b->w[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, hi - lo, R, 1.0, wk->wd, R, wk->x + lo, n, 0.0,
                wk->acc + lo, n);
    const Surrogate *sg = &wk->sg;
    const double theta = ldexp(1, b->shift);
    const double leak = sg->snn ? floor(wk->hw->neuron.leak * theta + 0.5) * sg->T : 0;
    const double half = !sg->snn && b->shift ? ldexp(1, b->shift - 1) : 0;
    for (int j = 0; j < C; j++) {
        const double bias = (double)b->bias[j] * sg->bias_mult - leak;
        const double *a = wk->acc + (size_t)j * n;
        float *y = wk->vq + (size_t)(op->out + j) * n;
        for (int img = lo; img < hi; img++) {
            double v = a[img] + bias;
            if (b->act == CORE_RELU) {
                v = floor((v + half) / theta);
                v = v < 0 ? 0 : v > sg->top ? sg->top : v;
            }
            y[img] = (float)v;
        }
    }
}

/* The integer inputs as the surrogate sees them: levels (ANN), spike
 * counts of the rate coder, expected counts (poisson) or T · level
 * (current). */
static void surrogate_inputs(Walk *wk, const uint8_t *px)
{
    const Program *p = wk->p;
    const int n = wk->n, coding = wk->hw->io.input_coding;
    const double top = ldexp(1, p->io_bits) - 1, T = wk->sg.T;
    int32_t q[1];
    for (int img = 0; img < n; img++)
        for (int i = 0; i < p->n_inputs; i++) {
            quantise_pixels(p, px + (size_t)img * p->n_inputs + i, 1, q);
            double x = q[0];
            if (wk->sg.snn)
                x = coding == HW_IN_RATE ? floor(T * x / top) : coding == HW_IN_POISSON ? T * x / top : T * x;
            wk->vq[(size_t)i * n + img] = (float)x;
        }
}

/* A copy of p's ops whose neurons lie below `below`, with only the blocks
 * they use (and their ADC full scales), and no outputs yet; map (if not
 * NULL, p->n_blocks) gets each block's index in the copy, or -1. NULL on
 * OOM. */
static Program *copy_ops_below(const Program *p, int32_t below, int *map_out)
{
    Program *q = program_create(p->n_inputs, p->io_bits);
    int *map = map_out ? map_out : malloc(sizeof *map * (size_t)(p->n_blocks ? p->n_blocks : 1));
    int failed = !q || !map;
    for (int b = 0; b < p->n_blocks && !failed; b++)
        map[b] = -1;
    if (q)
        q->input_shift = p->input_shift;
    for (int k = 0; k < p->n_ops && p->ops[k].out < below && !failed; k++) {
        const CoreOp *op = &p->ops[k];
        if (map[op->block] < 0) {
            const CoreBlock *b = &p->blocks[op->block];
            map[op->block] = program_add_block(q, b->rows, b->cols, b->w, b->bias, b->shift, b->act);
            failed = map[op->block] < 0;
            if (!failed)
                q->blocks[map[op->block]].adc_full = b->adc_full;
        }
        failed = failed || program_add_op(q, map[op->block], op->in, op->part, op->group) < 0;
    }
    if (!map_out)
        free(map);
    if (failed) {
        program_free(q);
        return NULL;
    }
    return q;
}

/* A copy of p without the blocks no op uses. */
static Program *drop_unused_blocks(const Program *p)
{
    Program *q = copy_ops_below(p, INT32_MAX, NULL);
    if (q && program_set_outputs(q, p->outputs, p->n_outputs)) {
        program_free(q);
        return NULL;
    }
    return q;
}

/* PIM chips: the prefix pre (map: p's blocks in it) programmed and run,
 * its blocks' ADC full scales set as quantise_encode will set them (the
 * same first images). A block whose ops all lie below `below` is final:
 * its full scale goes back into p, so that later prefixes keep it. */
static int pim_values(Walk *wk, Program *pre, const int *map, int32_t below, const int32_t *q, int32_t *values)
{
    char err[256];
    const int flags = PIM_RANGE_KEEP | (wk->hw->tune.phases & HW_PHASE_RANGE ? PIM_RANGE_CLIP : 0);
    if (pim_adc_ranges(pre, wk->hw, wk->px, wk->n, flags, err, sizeof err))
        return -1;
    Program *p = wk->p;
    char *open = calloc((size_t)p->n_blocks + 1, 1);
    if (!open)
        return -1;
    for (int k = 0; k < p->n_ops; k++)
        open[p->ops[k].block] |= p->ops[k].out >= below;
    for (int b = 0; b < p->n_blocks; b++)
        if (map[b] >= 0 && !open[b])
            p->blocks[b].adc_full = pre->blocks[map[b]].adc_full;
    free(open);
    PimChip *chip = pim_program(pre, wk->hw, err, sizeof err);
    int64_t *logits = malloc(sizeof *logits * (size_t)wk->n * pre->n_outputs);
    int rc = chip && logits ? pim_run_values(chip, q, wk->n, logits, values) : -1;
    pim_free(chip);
    free(logits);
    return rc;
}

/* Spiking and PIM chips: every neuron below `below` as the chip really
 * computes it (the simulator, on the ops below `below` as tuned so far:
 * later ops do not change earlier neurons), not as the surrogate's
 * steady-state count or exact sum. What the surrogate leaves out (inputs
 * that arrive late and one spike per step at most; the ADCs' steps and
 * saturation, with the full scales quantise_encode will choose for these
 * blocks from the same images) is then in the inputs the next parts are
 * fitted on. `counts` holds n × n_neurons. */
static int real_values(Walk *wk, const int32_t *q, int32_t *counts, int32_t below)
{
    /* A 1×1 linear op on pixel 0 is the output the simulators want. */
    const Program *p = wk->p;
    int *map = malloc(sizeof *map * (size_t)(p->n_blocks ? p->n_blocks : 1));
    Program *pre = map ? copy_ops_below(p, below, map) : NULL;
    int failed = !pre, zero_w = 0;
    int32_t zero_in = 0, out = -1;
    int blk = failed ? -1 : program_add_block(pre, 1, 1, &zero_w, NULL, 0, CORE_LINEAR);
    failed = failed || blk < 0 || (out = program_add_op(pre, blk, &zero_in, 0, 0)) < 0 ||
             program_set_outputs(pre, &out, 1);
    const size_t N = failed ? 0 : (size_t)pre->n_neurons;
    if (!failed && !wk->sg.snn) {
        failed = pim_values(wk, pre, map, below, q, counts);
    } else if (!failed) {
        SnnOutput so = {NULL, NULL, NULL, counts};
        failed = snn_run(pre, wk->hw, q, wk->n, 0, &so);
    }
    if (!failed) {
        for (int32_t i = p->n_inputs; i < below && !failed; i++)
            for (int img = 0; img < wk->n; img++)
                wk->vq[(size_t)i * wk->n + img] = (float)counts[img * N + i];
    }
    program_free(pre);
    free(map);
    return failed ? -1 : 0;
}

int tune_is_copy(const CoreBlock *b)
{
    for (int j = 0; j < b->cols; j++) {
        int ones = 0;
        for (int i = 0; i < b->rows; i++) {
            float w = b->wf[(size_t)j * b->rows + i];
            if (w != 0 && w != 1)
                return 0;
            ones += w == 1;
        }
        if (ones != 1 || b->bf[j] != 0)
            return 0;
    }
    return 1;
}

static int tune_walk(Walk *wk, const uint8_t *px)
{
    const Program *fp = wk->fp;
    int max_rows = 1, max_cols = 1;
    for (int b = 0; b < fp->n_blocks; b++) {
        max_rows = fp->blocks[b].rows > max_rows ? fp->blocks[b].rows : max_rows;
        max_cols = fp->blocks[b].cols > max_cols ? fp->blocks[b].cols : max_cols;
    }
    wk->x = malloc(sizeof *wk->x * (size_t)max_rows * wk->n);
    wk->acc = malloc(sizeof *wk->acc * (size_t)max_cols * wk->n);
    wk->wd = malloc(sizeof *wk->wd * (size_t)max_rows * max_cols);
    wk->max_in = malloc(sizeof *wk->max_in * (size_t)(fp->n_ops ? fp->n_ops : 1));
    char *done = calloc((size_t)fp->n_ops + 1, 1);
    int rc = wk->x && wk->acc && wk->wd && wk->max_in && done ? find_units(wk) : -1;
    for (int k = 0; k < fp->n_ops && !rc; k++) {
        const CoreOp *op = &fp->ops[k];
        wk->max_in[k] = -1;
        for (int i = 0; i < fp->blocks[op->block].rows; i++)
            wk->max_in[k] = op->in[i] > wk->max_in[k] ? op->in[i] : wk->max_in[k];
    }
    if (!rc)
        surrogate_inputs(wk, px);
    /* Spiking and PIM chips: the simulator's values, refreshed before each
     * part that reads a neuron the surrogate computed (stale_from and
     * above). */
    int32_t *q = NULL, *counts = NULL, stale_from = fp->n_inputs;
    if (!rc && (wk->sg.snn || wk->hw->target.mode == HW_PIM)) {
        q = malloc(sizeof *q * (size_t)fp->n_inputs * wk->n);
        counts = malloc(sizeof *counts * (size_t)fp->n_neurons * wk->n);
        rc = q && counts ? 0 : -1;
        if (!rc)
            quantise_pixels(wk->p, px, (size_t)fp->n_inputs * wk->n, q);
    }
    for (int k = 0; k < fp->n_ops && !rc; k++) {
        int u = wk->unit_of[k];
        if (!done[u] && tune_is_copy(&fp->blocks[fp->ops[k].block]))
            done[u] = 1; /* relays: naive's copies are exact, nothing to tune */
        if (!done[u]) {
            if (counts && wk->max_in[k] >= stale_from) {
                rc = real_values(wk, q, counts, wk->p->ops[k].out);
                stale_from = wk->p->ops[k].out;
            }
            rc = rc ? rc : tune_unit(wk, k, u);
            done[u] = 1;
        }
        if (!rc)
            tune_eval_op(wk, k, 0, wk->n);
    }
    free(q);
    free(counts);
    free(done);
    return rc;
}

int quantise_full(const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, Program **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (!fp->is_float)
        return errf(err, errlen, "the full strategy needs a float (reformed) program");
    const int snn = hw->target.mode == HW_SNN, T = hw->io.window > 0 ? hw->io.window : 1;
    /* Axon types are assigned after tuning (quantise_encode) and would undo
     * what free and round tuning fitted; only the ranges are tuned there. */
    const unsigned phases = hw->weights.encoding == HW_ENC_AXON_TYPES ? hw->tune.phases & HW_PHASE_RANGE
                                                                       : hw->tune.phases;
    const int pim = hw->target.mode == HW_PIM, size = fp->n_neurons <= SMALL_NET ? 0 : fp->n_neurons <= MID_NET ? 1 : 2;
    const int most = snn ? (const int[]){512, 256, 64}[size] : pim ? TUNE_IMAGES >> size : TUNE_IMAGES;
    int n = n_calib < most ? n_calib : most;
    while (n > 16 && (size_t)fp->n_neurons * n > TUNE_VALUES_MAX)
        n /= 2;
    if (n < 1)
        return errf(err, errlen, "the full strategy needs calibration images");
    Walk wk = {.fp = fp, .hw = hw, .n = n, .px = calib};
    wk.sg = (Surrogate){snn, T, snn ? T : ldexp(1, hw->io.bits) - 1, snn ? T : 1,
                        snn && hw->neuron.activation == HW_ACT_LIF ? hw->neuron.leak : 0};
    float *vf = phases ? float_values(fp, calib, n) : NULL; /* phases none: naive, nothing to read */
    double *gmax = malloc(sizeof *gmax * ((size_t)fp->n_groups + 1));
    double *S = malloc(sizeof *S * ((size_t)fp->n_groups + 1));
    Program *p = NULL;
    int rc = (vf || !phases) && gmax && S ? 0 : errf(err, errlen, "out of memory tuning");
    if (!rc && (phases & HW_PHASE_RANGE) && tune_ranges(fp, vf, n, wk.sg.top, gmax))
        rc = errf(err, errlen, "out of memory tuning");
    QuantiseOptions qo = {phases & HW_PHASE_RANGE ? gmax : NULL, S, 1};
    if (!rc)
        rc = quantise_scaled(fp, hw, calib, n_calib, &qo, &p, err, errlen);
    if (!rc && (phases & (HW_PHASE_FREE | HW_PHASE_ROUND | HW_PHASE_E2E))) {
        wk.p = p;
        wk.vf = vf;
        wk.S = S;
        wk.vq = malloc(sizeof *wk.vq * (size_t)fp->n_neurons * n);
        wk.group_of = malloc(sizeof *wk.group_of * (size_t)fp->n_neurons);
        const double in_top = ldexp(1, p->io_bits) - 1;
        wk.s_in = ldexp(1, p->input_shift) * (snn && hw->io.input_coding != HW_IN_CURRENT ? in_top : 1);
        for (int i = 0; i < fp->n_inputs && wk.group_of; i++)
            wk.group_of[i] = -1;
        for (int k = 0; k < fp->n_ops && wk.group_of; k++)
            for (int j = 0; j < fp->blocks[fp->ops[k].block].cols; j++)
                wk.group_of[fp->ops[k].out + j] = fp->ops[k].group;
        rc = wk.vq && wk.group_of ? tune_walk(&wk, calib) : -1;
        if (!rc && (phases & HW_PHASE_E2E))
            rc = tune_e2e(&wk);
        Program *q = rc ? NULL : drop_unused_blocks(p);
        if (!q)
            rc = errf(err, errlen, "out of memory tuning");
        program_free(p);
        p = q;
    }
    if (!rc)
        rc = quantise_encode(&p, fp, hw, calib, n_calib, !!(phases & HW_PHASE_RANGE), err, errlen);
    free(wk.vq);
    free(wk.group_of);
    free(wk.x);
    free(wk.acc);
    free(wk.wd);
    free(wk.max_in);
    free(wk.unit_of);
    free(wk.unit_first);
    free(wk.order);
    free(vf);
    free(gmax);
    free(S);
    if (rc) {
        program_free(p);
        return -1;
    }
    *out = p;
    return 0;
}
