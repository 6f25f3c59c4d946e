/* One part's tuning in the walk (see tune_unit in tune.h): its samples
 * (real inputs against the float network's pre-activations), the solve,
 * and the held-out check against naive's block. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "tune.h"

#define SAMPLES_MAX 8192 /* samples per part */
#define HOLD_OUT 5       /* one sample in 5 checks the fit */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Squared error, after the activation (without its rounding), of block
 * (w, bias, shift) on tp's held-out samples n .. ns − 1. */
static double held_out_error(const TuneProblem *tp, size_t ns, const int32_t *w, const int64_t *bias, int shift,
                             const Surrogate *sg, double t_off, CoreActivation act)
{
    const int R = tp->rows, C = tp->cols;
    const double inv = ldexp(1, -shift);
    double e = 0;
    for (size_t s = (size_t)tp->n; s < ns; s++) {
        const double *u = tp->U + s * (R + 1), *y = tp->Y + s * C;
        for (int j = 0; j < C; j++) {
            double a = (double)bias[j] * u[R];
            for (int i = 0; i < R; i++)
                a += w[(size_t)j * R + i] * u[i];
            double pred = a * inv - t_off, want = y[j] - t_off;
            if (act == CORE_RELU) {
                pred = pred < 0 ? 0 : pred > sg->top ? sg->top : pred;
                want = want < 0 ? 0 : want > sg->top ? sg->top : want;
            }
            e += (pred - want) * (pred - want);
        }
    }
    return e;
}

/* Tunes the part of op k from its ops whose inputs are computed. */
int tune_unit(Walk *wk, int k, int unit)
{
    const Program *fp = wk->fp;
    Program *p = wk->p;
    const CoreBlock *fb = &fp->blocks[fp->ops[k].block];
    const int R = fb->rows, C = fb->cols, n = wk->n, R1 = R + 1;
    const int32_t ready_below = p->ops[k].out;
    const int *ops = wk->order + wk->unit_first[unit];
    const int n_unit = wk->unit_first[unit + 1] - wk->unit_first[unit];
    int *ready = malloc(sizeof *ready * (size_t)n_unit), n_ready = 0;
    if (!ready)
        return -1;
    for (int m = 0; m < n_unit; m++)
        if (wk->max_in[ops[m]] < ready_below)
            ready[n_ready++] = ops[m];
    size_t total = (size_t)n_ready * n, ns = total < SAMPLES_MAX ? total : SAMPLES_MAX;
    TuneProblem tp = {R, C, (int)ns, malloc(sizeof(double) * ns * R1), malloc(sizeof(double) * ns * C),
                      malloc(sizeof(double) * (size_t)R1 * C)};
    int32_t *w = malloc(sizeof *w * (size_t)R * C);
    int64_t *bias = malloc(sizeof *bias * (size_t)C);
    int rc = tp.U && tp.Y && tp.w0 && w && bias ? 0 : -1;
    const Surrogate *sg = &wk->sg;
    const CoreOp *pop = &fp->ops[k];
    const double S_out = wk->S[pop->group] > 0 ? wk->S[pop->group] : 1;
    const double t_mult = (sg->snn ? sg->T : 1) / S_out;
    const double t_off = fb->act == CORE_RELU && sg->snn ? 0.5 + sg->T * sg->leak : 0;
    /* Re-encoded copies keep their offsets (in levels, or spikes: CoreBlock.expand). */
    const int ex = fb->act == CORE_RELU && fb->expand > 1 ? fb->expand : 1;
    uint64_t seed = wk->hw->tune.seed ^ ((uint64_t)unit * 0x2545f4914f6cdd1dULL);
    /* Xf: the float network's inputs of each sample; Y = Xf · Wfᵀ + bf. */
    double *xf = malloc(sizeof *xf * ns * R), *wf = malloc(sizeof *wf * (size_t)R * C);
    rc = rc || !xf || !wf ? -1 : 0;
    /* Every HOLD_OUT-th sample is held out (rows n_fit ..) to check the fit. */
    const size_t n_fit = ns - ns / HOLD_OUT;
    for (size_t k2 = 0; k2 < ns && !rc; k2++) {
        size_t pick = ns == total ? k2 : splitmix(&seed) % total;
        size_t s = k2 % HOLD_OUT == HOLD_OUT - 1 ? n_fit + k2 / HOLD_OUT : k2 - k2 / HOLD_OUT;
        const CoreOp *op = &fp->ops[ready[pick / n]];
        const int img = (int)(pick % n);
        double *u = tp.U + s * R1, *x = xf + s * R;
        for (int i = 0; i < R; i++) {
            int zero = op->in[i] == PROGRAM_ZERO;
            u[i] = zero ? 0 : wk->vq[(size_t)op->in[i] * n + img];
            x[i] = zero ? 0 : wk->vf[(size_t)op->in[i] * n + img];
        }
        u[R] = sg->bias_mult;
    }
    if (!rc) {
        for (size_t i = 0; i < (size_t)R * C; i++)
            wf[i] = fb->wf[i];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, C, R, t_mult, xf, R, wf, R, 0.0, tp.Y, C);
        for (size_t s = 0; s < ns; s++)
            for (int j = 0; j < C; j++)
                tp.Y[s * C + j] += fb->bf[j] * t_mult + t_off + expand_offset(ex, j % ex);
    }
    free(xf);
    free(wf);
    int shift = p->blocks[p->ops[k].block].shift;
    if (!rc) { /* the prior: naive's weights before rounding, in the same units */
        for (int i = 0; i < R; i++) {
            double s_row = 0;
            for (int m = 0; m < n_ready && !s_row; m++) {
                int32_t src = fp->ops[ready[m]].in[i];
                s_row = src == PROGRAM_ZERO ? 0 : src < fp->n_inputs ? wk->s_in : wk->S[wk->group_of[src]];
            }
            for (int j = 0; j < C; j++)
                tp.w0[(size_t)i * C + j] = fb->wf[(size_t)j * R + i] * s_row / S_out;
        }
        for (int j = 0; j < C; j++)
            tp.w0[(size_t)R * C + j] = (fb->bf[j] * t_mult + t_off + expand_offset(ex, j % ex)) / sg->bias_mult;
        const unsigned ph = wk->hw->tune.phases;
        const int wmax = (1 << (wk->hw->weights.bits - 1)) - 1;
        tp.n = (int)n_fit;
        rc = tune_solve(&tp, !!(ph & HW_PHASE_FREE), !!(ph & HW_PHASE_ROUND), fb->act == CORE_LINEAR, wmax,
                        wk->hw->neuron.shift_max, w, bias, &shift);
    }
    /* Keep naive's block where the tuned one does worse on the held-out samples. */
    const CoreBlock *nb = &p->blocks[p->ops[k].block];
    if (!rc && n_fit < ns &&
        held_out_error(&tp, ns, w, bias, shift, sg, t_off, fb->act) >=
            held_out_error(&tp, ns, nb->w, nb->bias, nb->shift, sg, t_off, fb->act)) {
        goto done;
    }
    int blk = rc ? -1 : program_add_block(p, R, C, w, bias, shift, fb->act);
    if (blk < 0)
        rc = -1;
    for (int m = 0; m < n_unit && !rc; m++)
        p->ops[ops[m]].block = blk;
done:
    free(ready);
    free(tp.U);
    free(tp.Y);
    free(tp.w0);
    free(w);
    free(bias);
    return rc;
}
