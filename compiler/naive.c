/* The naive baseline (DESIGN.md §2): the reformed float program rounded to
 * the chip's integers with no tuning, as a user would do by hand.
 *
 * Every scale group (a materialised layer, or one level of its partial
 * sums) gets one activation scale S_g = max over calibration images of its
 * neurons / (2^io_bits − 1). A core op reading neurons of scale S_i and
 * writing scale S_out then has integer weights round(w·S_i·2^shift / S_out)
 * and bias round(b·2^shift / S_out), with its own shift (the per-core scale)
 * as large as the weight bits allow, up to neuron.shift_max. Logits (linear
 * ops) share one scale, chosen so the largest weight fills the weight bits.
 * Inputs are the pixels, rounded to the I/O bits.
 *
 * For a spiking chip (target.mode = snn) the same formulas give the ANN-to-
 * SNN conversion with data-based threshold normalisation: a hidden value is
 * a spike rate in [0, 1] (top = 1), its group's scale λ is the 99.9th
 * percentile of the group's activations on the calibration images rather
 * than the maximum (a few outliers would otherwise slow every neuron), and
 * the per-core shift is the threshold θ = 2^shift. Inputs are rates x/top
 * (rate, poisson coding) or the pixel level injected every step (current). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

/* The SNN scale: the percentile of a group's activations (see above). */
#define SNN_PERCENTILE 99.9

/* Int-block dedup: identical integer blocks are stored once. */
typedef struct {
    int *slot;
    size_t size;
} Dedup;

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static int int_block(Program *p, Dedup *d, int rows, int cols, const int32_t *w, const int64_t *b,
                     int shift, CoreActivation act)
{
    if ((size_t)(p->n_blocks + 1) * 2 > d->size) {
        size_t size = d->size ? d->size * 2 : 1024;
        int *t = calloc(size, sizeof *t);
        if (!t)
            return -1;
        for (int i = 0; i < p->n_blocks; i++) {
            const CoreBlock *k = &p->blocks[i];
            uint64_t h = hash_bytes(1469598103934665603ULL, k->w, sizeof *k->w * (size_t)k->rows * k->cols);
            h = hash_bytes(h, k->bias, sizeof *k->bias * (size_t)k->cols) ^ (uint64_t)k->shift * 977;
            size_t at = h & (size - 1);
            while (t[at])
                at = (at + 1) & (size - 1);
            t[at] = i + 1;
        }
        free(d->slot);
        d->slot = t;
        d->size = size;
    }
    uint64_t h = hash_bytes(1469598103934665603ULL, w, sizeof *w * (size_t)rows * cols);
    h = hash_bytes(h, b, sizeof *b * (size_t)cols) ^ (uint64_t)shift * 977;
    size_t at = h & (d->size - 1);
    for (; d->slot[at]; at = (at + 1) & (d->size - 1)) {
        const CoreBlock *k = &p->blocks[d->slot[at] - 1];
        if (k->rows == rows && k->cols == cols && k->shift == shift && k->act == act &&
            !memcmp(k->w, w, sizeof *w * (size_t)rows * cols) && !memcmp(k->bias, b, sizeof *b * (size_t)cols))
            return d->slot[at] - 1;
    }
    int idx = program_add_block(p, rows, cols, w, b, shift, act);
    if (idx >= 0)
        d->slot[at] = idx + 1;
    return idx;
}

int quantise_naive(const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, Program **out,
                   char *err, size_t errlen)
{
    return quantise_scaled(fp, hw, calib, n_calib, NULL, out, err, errlen);
}

int quantise_scaled(const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, const QuantiseOptions *qo,
                    Program **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!fp->is_float)
        return errf(err, errlen, "naive quantisation needs a float (reformed) program");
    const int snn = hw->target.mode == HW_SNN, wb = hw->weights.bits;
    /* A spiking chip's pixels enter its input coder as they are (io.bits
     * is the spikes' width there, not the pixels'). */
    const int io = snn ? 8 : hw->io.bits;
    const double io_top = ldexp(1, io) - 1, wmax = ldexp(1, wb - 1) - 1;
    const double top = snn ? 1 : io_top; /* a hidden value's largest level: a rate of 1 on an SNN */
    const int in_shift = io < 8 ? 8 - io : 0;
    Program *p = program_create(fp->n_inputs, io);
    double *S = calloc((size_t)fp->n_groups + 1, sizeof *S);
    int *group_of = malloc(sizeof *group_of * (size_t)(fp->n_neurons ? fp->n_neurons : 1));
    int32_t *w = NULL;
    int64_t *b = NULL;
    double *we = NULL, *si_row = NULL, *last_scales = NULL;
    int *last_blk = NULL;
    Dedup d = {0};
    int rc = p && S && group_of ? 0 : errf(err, errlen, "out of memory");
    if (rc)
        goto done;
    p->input_shift = in_shift;
    /* Neuron → group; group scales from the calibration maxima (percentiles on an SNN). */
    for (int i = 0; i < fp->n_inputs; i++)
        group_of[i] = -1;
    for (int k = 0; k < fp->n_ops; k++) {
        const CoreOp *op = &fp->ops[k];
        for (int j = 0; j < fp->blocks[op->block].cols; j++)
            group_of[op->out + j] = op->group;
    }
    if (qo && qo->group_max) /* the caller's ranges (the full strategy's range tuning) */
        memcpy(S, qo->group_max, sizeof *S * (size_t)fp->n_groups);
    else if (calibrate_groups(fp, calib, n_calib, snn ? SNN_PERCENTILE : 0, S)) {
        rc = errf(err, errlen, "out of memory");
        goto done;
    }
    for (int g = 0; g < fp->n_groups; g++)
        S[g] = S[g] > 0 ? S[g] / top : 1;
    /* An input level's value in pixels; rate-coded inputs are rates x / top. */
    const double s_in = ldexp(1, in_shift) * (snn && hw->io.input_coding != HW_IN_CURRENT ? io_top : 1);
    int max_rows = 1, max_cols = 1;
    for (int i = 0; i < fp->n_blocks; i++) {
        max_rows = fp->blocks[i].rows > max_rows ? fp->blocks[i].rows : max_rows;
        max_cols = fp->blocks[i].cols > max_cols ? fp->blocks[i].cols : max_cols;
    }
    we = malloc(sizeof *we * (size_t)max_rows * max_cols);
    w = malloc(sizeof *w * (size_t)max_rows * max_cols);
    b = malloc(sizeof *b * (size_t)max_cols);
    si_row = malloc(sizeof *si_row * (size_t)max_rows);
    last_scales = malloc(sizeof *last_scales * (size_t)(max_rows + 1) * (fp->n_blocks ? fp->n_blocks : 1));
    last_blk = malloc(sizeof *last_blk * (size_t)(fp->n_blocks ? fp->n_blocks : 1));
    if (!we || !w || !b || !si_row || !last_scales || !last_blk) {
        rc = errf(err, errlen, "out of memory");
        goto done;
    }
    /* Logit groups: one scale that fits the largest effective weight. */
    for (int k = 0; k < fp->n_ops; k++) {
        const CoreOp *op = &fp->ops[k];
        const CoreBlock *fb = &fp->blocks[op->block];
        if (fb->act != CORE_LINEAR)
            continue;
        S[op->group] = 0;
    }
    for (int k = 0; k < fp->n_ops; k++) {
        const CoreOp *op = &fp->ops[k];
        const CoreBlock *fb = &fp->blocks[op->block];
        if (fb->act != CORE_LINEAR)
            continue;
        for (int i = 0; i < fb->rows; i++) {
            int32_t src = op->in[i];
            double si = src == PROGRAM_ZERO ? 0 : group_of[src] < 0 ? s_in : S[group_of[src]];
            for (int j = 0; j < fb->cols; j++) {
                double v = fabs(fb->wf[(size_t)j * fb->rows + i] * si) / wmax;
                S[op->group] = v > S[op->group] ? v : S[op->group];
            }
        }
    }
    /* An op's integer block depends only on its float block, its output
     * scale and its rows' input scales: the ops of a layer mostly repeat
     * what the last op of the same float block had, whose integer block is
     * then reused (quantising and hashing every op's block again was a
     * tenth of a compile). Per float block: that integer block, -1 none. */
    for (int i = 0; i < fp->n_blocks; i++)
        last_blk[i] = -1;
    for (int k = 0; k < fp->n_ops && !rc; k++) {
        const CoreOp *op = &fp->ops[k];
        const CoreBlock *fb = &fp->blocks[op->block];
        double s_out = S[op->group] > 0 ? S[op->group] : 1, big = 0;
        for (int i = 0; i < fb->rows; i++) {
            int32_t src = op->in[i];
            si_row[i] = src == PROGRAM_ZERO ? 0 : group_of[src] < 0 ? s_in : S[group_of[src]];
        }
        double *last_si = last_scales + (size_t)op->block * (max_rows + 1);
        if (last_blk[op->block] >= 0 && !memcmp(&s_out, last_si, sizeof s_out) &&
            !memcmp(si_row, last_si + 1, sizeof *si_row * (size_t)fb->rows)) {
            if (program_add_op(p, last_blk[op->block], op->in, op->part, op->group) < 0)
                rc = errf(err, errlen, "out of memory");
            continue;
        }
        for (int i = 0; i < fb->rows; i++) {
            double si = si_row[i];
            for (int j = 0; j < fb->cols; j++) {
                double v = fb->wf[(size_t)j * fb->rows + i] * si / s_out;
                we[(size_t)j * fb->rows + i] = v;
                big = fabs(v) > big ? fabs(v) : big;
            }
        }
        /* The per-core shift: as fine as the weight bits allow. */
        int shift = 0;
        if (fb->act == CORE_RELU && big > 0) {
            shift = (int)floor(log2(wmax / big));
            shift = shift < 0 ? 0 : shift > hw->neuron.shift_max ? hw->neuron.shift_max : shift;
        }
        double f = ldexp(1, shift);
        /* Subtract reset counts floor(Σ input / θ) spikes: θ / 2T more per
         * step makes it round to nearest instead (SNN hidden layers). */
        double snn_round = snn && fb->act == CORE_RELU ? f / (2.0 * (hw->io.window > 0 ? hw->io.window : 1)) : 0;
        /* A leaky neuron loses leak·θ per step (rounded as the simulator
         * does); as much bias back keeps a relay that gets one spike firing. */
        if (snn && fb->act == CORE_RELU && hw->neuron.activation == HW_ACT_LIF)
            snn_round += floor(hw->neuron.leak * f + 0.5);
        for (size_t i = 0; i < (size_t)fb->rows * fb->cols; i++) {
            double q = nearbyint(we[i] * f);
            w[i] = (int32_t)(q > wmax ? wmax : q < -wmax ? -wmax : q);
        }
        /* Re-encoded values: copy m of each sits expand_offset(m) levels
         * up (a level is f, or on a spiking chip a spike over the window). */
        const double level = snn ? f / (hw->io.window > 0 ? hw->io.window : 1) : f;
        const int ex = fb->act == CORE_RELU && fb->expand > 1 ? fb->expand : 1;
        for (int j = 0; j < fb->cols; j++)
            b[j] = llround(fb->bf[j] * f / s_out + snn_round + expand_offset(ex, j % ex) * level);
        int blk = int_block(p, &d, fb->rows, fb->cols, w, b, shift, fb->act);
        if (blk < 0 || program_add_op(p, blk, op->in, op->part, op->group) < 0)
            rc = errf(err, errlen, "out of memory");
        last_blk[op->block] = blk;
        last_si[0] = s_out;
        memcpy(last_si + 1, si_row, sizeof *si_row * (size_t)fb->rows);
    }
    if (!rc && program_set_outputs(p, fp->outputs, fp->n_outputs))
        rc = errf(err, errlen, "out of memory");
    if (!rc && qo && qo->scales)
        memcpy(qo->scales, S, sizeof *S * (size_t)fp->n_groups);
    if (!rc && !(qo && qo->raw))
        rc = quantise_encode(&p, fp, hw, calib, n_calib, 0, err, errlen);
done:
    free(S);
    free(group_of);
    free(we);
    free(si_row);
    free(last_scales);
    free(last_blk);
    free(w);
    free(b);
    free(d.slot);
    if (rc) {
        program_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int quantise_encode(Program **p, const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, int tuned,
                    char *err, size_t errlen)
{
    if (hw->weights.encoding == HW_ENC_AXON_TYPES && assign_axon_types(p, fp, hw, calib, n_calib, NULL, err, errlen))
        return -1;
    return pim_adc_ranges(*p, hw, calib, n_calib, tuned ? PIM_RANGE_CLIP : 0, err, errlen);
}

void quantise_pixels(const Program *p, const uint8_t *px, size_t n, int32_t *out)
{
    const int s = p->input_shift, top = (1 << p->io_bits) - 1;
    for (size_t i = 0; i < n; i++) {
        int q = s ? (px[i] + (1 << (s - 1))) >> s : px[i];
        out[i] = q > top ? top : q;
    }
}
