/* The end-to-end pass (tune.phases e2e; see tune_e2e in tune.h). The walk
 * fits each part on its own to the original's pre-activations at that
 * point; it cannot trade a part's error against the parts after it. This
 * pass tunes every tuned block at once for the network's output.
 *
 * The program runs on the tuning images through the surrogate (tune_eval_op:
 * the chip's integer arithmetic and activation, values in levels or spike
 * counts). Gradients go back through the rounding and the clamps as
 * straight-through estimates (passed where a neuron is strictly between 0
 * and its top, stopped where it is clamped), into float shadows of the
 * blocks' weights and biases, which Adam moves and each forward pass rounds
 * again. The loss is the KL divergence from the original network's softmax
 * to the program's (its logits in the original's units), on four fifths of
 * the images, tune.batch at a time for tune.iterations steps of tune.lr;
 * the held-out fifth, checked after each pass over the others, picks the
 * step whose program is kept, the walk's own when none beats it. Matching
 * the original's whole output distribution rather than the training labels
 * keeps a thousand images from being learnt by heart. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "tune.h"

#define HOLD_OUT 5        /* one image in 5 checks the fit */

typedef struct {
    size_t *w_at, *b_at;  /* [p->n_blocks]: offsets into the arrays below; SIZE_MAX: not tuned */
    double *sw, *gw, *mw, *vw; /* weight shadows, gradients, Adam moments */
    double *sb, *gb, *mb, *vb; /* the same for biases */
    int32_t *best_w;      /* the kept program's weights and biases */
    int64_t *best_b;
    size_t nw, nb;
} Shadows;

static void shadows_free(Shadows *s)
{
    free(s->w_at);
    free(s->b_at);
    free(s->sw);
    free(s->gw);
    free(s->mw);
    free(s->vw);
    free(s->sb);
    free(s->gb);
    free(s->mb);
    free(s->vb);
    free(s->best_w);
    free(s->best_b);
}

/* Shadows of the blocks non-copy ops use (relays stay exact copies). */
static int shadows_init(Shadows *s, const Walk *wk)
{
    const Program *p = wk->p, *fp = wk->fp;
    memset(s, 0, sizeof *s);
    s->w_at = malloc(sizeof *s->w_at * (size_t)(p->n_blocks ? p->n_blocks : 1));
    s->b_at = malloc(sizeof *s->b_at * (size_t)(p->n_blocks ? p->n_blocks : 1));
    if (!s->w_at || !s->b_at)
        return -1;
    for (int b = 0; b < p->n_blocks; b++)
        s->w_at[b] = s->b_at[b] = SIZE_MAX;
    for (int k = 0; k < p->n_ops; k++) {
        int b = p->ops[k].block;
        if (s->w_at[b] != SIZE_MAX || tune_is_copy(&fp->blocks[fp->ops[k].block]))
            continue;
        s->w_at[b] = s->nw;
        s->b_at[b] = s->nb;
        s->nw += (size_t)p->blocks[b].rows * p->blocks[b].cols;
        s->nb += (size_t)p->blocks[b].cols;
    }
    const size_t nw = s->nw ? s->nw : 1, nb = s->nb ? s->nb : 1;
    s->sw = malloc(sizeof *s->sw * nw), s->gw = calloc(nw, sizeof *s->gw);
    s->mw = calloc(nw, sizeof *s->mw), s->vw = calloc(nw, sizeof *s->vw);
    s->sb = malloc(sizeof *s->sb * nb), s->gb = calloc(nb, sizeof *s->gb);
    s->mb = calloc(nb, sizeof *s->mb), s->vb = calloc(nb, sizeof *s->vb);
    s->best_w = malloc(sizeof *s->best_w * nw);
    s->best_b = malloc(sizeof *s->best_b * nb);
    if (!s->sw || !s->gw || !s->mw || !s->vw || !s->sb || !s->gb || !s->mb || !s->vb || !s->best_w || !s->best_b)
        return -1;
    for (int b = 0; b < p->n_blocks; b++) {
        if (s->w_at[b] == SIZE_MAX)
            continue;
        const CoreBlock *k = &p->blocks[b];
        for (size_t i = 0; i < (size_t)k->rows * k->cols; i++)
            s->sw[s->w_at[b] + i] = k->w[i];
        for (int j = 0; j < k->cols; j++)
            s->sb[s->b_at[b] + j] = (double)k->bias[j];
    }
    return 0;
}

/* Copies the tuned blocks' integers into the snapshot (save) or back (restore). */
static void snapshot(Shadows *s, Program *p, int save)
{
    for (int b = 0; b < p->n_blocks; b++) {
        if (s->w_at[b] == SIZE_MAX)
            continue;
        CoreBlock *k = &p->blocks[b];
        const size_t nw = sizeof *k->w * (size_t)k->rows * k->cols, nb = sizeof *k->bias * (size_t)k->cols;
        if (save) {
            memcpy(s->best_w + s->w_at[b], k->w, nw);
            memcpy(s->best_b + s->b_at[b], k->bias, nb);
        } else {
            memcpy(k->w, s->best_w + s->w_at[b], nw);
            memcpy(k->bias, s->best_b + s->b_at[b], nb);
        }
    }
}

/* Softmax of the n_out values at v[c·n + img] scaled by scale[c] (NULL: 1), into q. */
static void softmax(const float *v, const int32_t *out, const double *scale, int n_out, int n, int img, double *q)
{
    double top = -INFINITY, sum = 0;
    for (int c = 0; c < n_out; c++) {
        q[c] = v[(size_t)out[c] * n + img] * (scale ? scale[c] : 1);
        top = q[c] > top ? q[c] : top;
    }
    for (int c = 0; c < n_out; c++)
        sum += q[c] = exp(q[c] - top);
    for (int c = 0; c < n_out; c++)
        q[c] /= sum;
}

/* Mean KL divergence over images lo .. hi − 1; with g, also its gradient
 * (divided by hi − lo) into g at the logit neurons, in accumulator units. */
static double kl_loss(const Walk *wk, const double *scale, int lo, int hi, float *g, double *pt, double *ps)
{
    const Program *p = wk->p;
    const int n = wk->n, C = p->n_outputs;
    double loss = 0;
    for (int img = lo; img < hi; img++) {
        softmax(wk->vf, p->outputs, NULL, C, n, img, pt); /* the original's logits are floats already */
        softmax(wk->vq, p->outputs, scale, C, n, img, ps);
        for (int c = 0; c < C; c++) {
            if (pt[c] > 0)
                loss += pt[c] * (log(pt[c]) - log(ps[c] > 1e-300 ? ps[c] : 1e-300));
            if (g)
                g[(size_t)p->outputs[c] * n + img] = (float)((ps[c] - pt[c]) * scale[c] / (hi - lo));
        }
    }
    return hi > lo ? loss / (hi - lo) : 0;
}

/* Back through op k: its output gradients (images lo .. hi − 1) to its
 * block's weight and bias gradients and to its inputs' gradients. */
static void backward_op(Walk *wk, Shadows *s, int k, int lo, int hi, float *g, double *gx)
{
    const Program *p = wk->p;
    const CoreOp *op = &p->ops[k];
    const CoreBlock *b = &p->blocks[op->block];
    const int n = wk->n, R = b->rows, C = b->cols;
    const double inv_theta = ldexp(1, -b->shift), top = wk->sg.top;
    const int relu = b->act == CORE_RELU;
    double *ga = wk->acc;
    int any = 0;
    for (int j = 0; j < C; j++) {
        const float *y = wk->vq + (size_t)(op->out + j) * n, *gy = g + (size_t)(op->out + j) * n;
        double *a = ga + (size_t)j * n;
        for (int img = lo; img < hi; img++) {
            /* straight through the rounding, stopped by the clamps */
            a[img] = !relu ? gy[img] : y[img] > 0 && y[img] < top ? gy[img] * inv_theta : 0;
            any |= a[img] != 0;
        }
    }
    if (!any)
        return;
    const int m = hi - lo;
    tune_gather(wk, op, R, lo, hi);
    if (s->w_at[op->block] != SIZE_MAX) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, R, m, 1.0, ga + lo, n, wk->x + lo, n, 1.0,
                    s->gw + s->w_at[op->block], R);
        double *gb = s->gb + s->b_at[op->block];
        for (int j = 0; j < C; j++)
            for (int img = lo; img < hi; img++)
                gb[j] += ga[(size_t)j * n + img] * wk->sg.bias_mult;
    }
    for (size_t i = 0; i < (size_t)R * C; i++)
        wk->wd[i] = b->w[i];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, m, C, 1.0, wk->wd, R, ga + lo, n, 0.0, gx + lo, n);
    for (int i = 0; i < R; i++) {
        int32_t src = op->in[i];
        if (src == PROGRAM_ZERO || src < p->n_inputs)
            continue;
        float *gs = g + (size_t)src * n;
        for (int img = lo; img < hi; img++)
            gs[img] += (float)gx[(size_t)i * n + img];
    }
}

/* One Adam step on x (gradients gr, moments mo, ve) of n values, step t. */
static void adam(double *x, double *gr, double *mo, double *ve, size_t n, double lr, int t, double lo, double hi)
{
    const double b1 = 0.9, b2 = 0.999, c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
    for (size_t i = 0; i < n; i++) {
        mo[i] = b1 * mo[i] + (1 - b1) * gr[i];
        ve[i] = b2 * ve[i] + (1 - b2) * gr[i] * gr[i];
        x[i] -= lr * (mo[i] / c1) / (sqrt(ve[i] / c2) + 1e-12);
        x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
        gr[i] = 0;
    }
}

/* Moves every tuned block's shadows one step and rounds them into p. */
static void update(Shadows *s, Walk *wk, int t)
{
    Program *p = wk->p;
    const double wmax = ldexp(1, wk->hw->weights.bits - 1) - 1, lr = wk->hw->tune.lr;
    for (int b = 0; b < p->n_blocks; b++) {
        if (s->w_at[b] == SIZE_MAX)
            continue;
        CoreBlock *k = &p->blocks[b];
        const size_t nw = (size_t)k->rows * k->cols, wo = s->w_at[b], bo = s->b_at[b];
        adam(s->sw + wo, s->gw + wo, s->mw + wo, s->vw + wo, nw, lr, t, -wmax - 0.49, wmax + 0.49);
        /* a level of bias: 2^shift in the accumulator, bias_mult times a run */
        const double level = ldexp(1, k->shift) / wk->sg.bias_mult;
        adam(s->sb + bo, s->gb + bo, s->mb + bo, s->vb + bo, (size_t)k->cols, lr * level, t, -INFINITY, INFINITY);
        for (size_t i = 0; i < nw; i++)
            k->w[i] = (int32_t)nearbyint(s->sw[wo + i]);
        for (int j = 0; j < k->cols; j++)
            k->bias[j] = llround(s->sb[bo + j]);
    }
}

/* The surrogate's values of every op on images lo .. hi − 1. */
static void forward(Walk *wk, int lo, int hi)
{
    for (int k = 0; k < wk->p->n_ops; k++)
        tune_eval_op(wk, k, lo, hi);
}

int tune_e2e(Walk *wk)
{
    Program *p = wk->p;
    const int n = wk->n, n_fit = n - n / HOLD_OUT, C = p->n_outputs;
    const int steps = wk->hw->tune.iterations, batch = wk->hw->tune.batch < n_fit ? wk->hw->tune.batch : n_fit;
    const int per_pass = n_fit > 0 ? (n_fit + batch - 1) / batch : 1;
    Shadows s;
    float *g = malloc(sizeof *g * (size_t)p->n_neurons * n);
    double *gx = NULL, *scale = malloc(sizeof *scale * (size_t)(C ? C : 1));
    double *pt = malloc(sizeof *pt * (size_t)(C ? C : 1)), *ps = malloc(sizeof *ps * (size_t)(C ? C : 1));
    int max_rows = 1, rc = shadows_init(&s, wk);
    for (int b = 0; b < p->n_blocks; b++)
        max_rows = p->blocks[b].rows > max_rows ? p->blocks[b].rows : max_rows;
    gx = malloc(sizeof *gx * (size_t)max_rows * n);
    rc = rc || !g || !gx || !scale || !pt || !ps ? -1 : 0;
    /* Logits in the original's units: accumulator × their group's scale. */
    for (int c = 0; c < C && !rc; c++)
        scale[c] = wk->S[wk->group_of[p->outputs[c]]];
    double best = INFINITY;
    for (int t = 0; t <= steps && !rc && n_fit < n && n_fit > 0; t++) {
        if (t % per_pass == 0 || t == steps) { /* after each pass over the fitting images: check */
            forward(wk, n_fit, n);
            double held = kl_loss(wk, scale, n_fit, n, NULL, pt, ps);
            if (held < best) {
                best = held;
                snapshot(&s, p, 1);
            }
        }
        if (t == steps)
            break;
        const int lo = t % per_pass * batch, hi = lo + batch < n_fit ? lo + batch : n_fit;
        forward(wk, lo, hi);
        for (int k = 0; k < p->n_ops; k++) { /* this batch's gradients only */
            const CoreOp *op = &p->ops[k];
            for (int j = 0; j < p->blocks[op->block].cols; j++)
                memset(g + (size_t)(op->out + j) * n + lo, 0, sizeof *g * (size_t)(hi - lo));
        }
        kl_loss(wk, scale, lo, hi, g, pt, ps);
        for (int k = p->n_ops - 1; k >= 0; k--)
            backward_op(wk, &s, k, lo, hi, g, gx);
        update(&s, wk, t + 1);
    }
    if (!rc && best < INFINITY)
        snapshot(&s, p, 0);
    shadows_free(&s);
    free(g);
    free(gx);
    free(scale);
    free(pt);
    free(ps);
    return rc;
}
