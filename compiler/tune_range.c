/* Value-range tuning (see tune_ranges in tune.h). A group's values are
 * cut at a clip c and rounded to `levels` steps of c/levels; a low c loses
 * the tail, a high one coarsens every step. The best c is searched on a
 * histogram of the group's values (HIST_BINS bins up to its maximum) among
 * CANDIDATES fractions of the maximum spaced evenly on a log scale from
 * 2^−SPAN up (a few outliers can sit far above the bulk). */
#include <math.h>
#include <stdlib.h>

#include "tune.h"

#define HIST_BINS 8192
#define CANDIDATES 128
#define SPAN 7

/* Squared error of bin centres x (counts h) clipped at c, `levels` steps;
 * a re-encoded group (expand k > 1) is decoded as the mean of its k
 * copies, each rounded at its own offset (CoreBlock.expand). */
static double clip_error(const long long *h, double gmax, double c, double levels, int k)
{
    const double step = c / levels, width = gmax / HIST_BINS;
    double e = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        if (!h[b])
            continue;
        double x = (b + 0.5) * width, q = 0;
        for (int m = 0; m < k; m++) {
            double l = floor(x / step + expand_offset(k, m) + 0.5); /* round half up, as the chip */
            q += (l < 0 ? 0 : l > levels ? levels : l) * step / k;
        }
        e += (double)h[b] * (x - q) * (x - q);
    }
    return e;
}

int tune_ranges(const Program *fp, const float *v, int n, double levels, double *group_max)
{
    const int G = fp->n_groups;
    long long *hist = calloc((size_t)G * HIST_BINS + 1, sizeof *hist);
    char *linear = calloc((size_t)G + 1, 1);
    int *expand = calloc((size_t)G + 1, sizeof *expand); /* re-encoded groups: copies per value */
    if (!hist || !linear || !expand) {
        free(hist);
        free(linear);
        free(expand);
        return -1;
    }
    for (int g = 0; g < G; g++)
        group_max[g] = 0;
    for (int k = 0; k < fp->n_ops; k++) {
        const CoreOp *op = &fp->ops[k];
        const CoreBlock *b = &fp->blocks[op->block];
        linear[op->group] |= b->act == CORE_LINEAR;
        expand[op->group] = b->expand > expand[op->group] ? b->expand : expand[op->group];
        for (size_t i = (size_t)op->out * n; i < (size_t)(op->out + b->cols) * n; i++)
            group_max[op->group] = v[i] > group_max[op->group] ? v[i] : group_max[op->group];
    }
    for (int k = 0; k < fp->n_ops; k++) {
        const CoreOp *op = &fp->ops[k];
        double gmax = group_max[op->group];
        if (linear[op->group] || gmax <= 0)
            continue;
        long long *h = hist + (size_t)op->group * HIST_BINS;
        for (size_t i = (size_t)op->out * n; i < (size_t)(op->out + fp->blocks[op->block].cols) * n; i++) {
            long bin = (long)(v[i] / gmax * HIST_BINS);
            h[bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin]++;
        }
    }
    for (int g = 0; g < G; g++) {
        if (linear[g] || group_max[g] <= 0)
            continue;
        const long long *h = hist + (size_t)g * HIST_BINS;
        double best = group_max[g], best_e = INFINITY;
        for (int c = 0; c <= CANDIDATES; c++) {
            double clip = group_max[g] * exp2(-SPAN * (double)c / CANDIDATES);
            double e = clip_error(h, group_max[g], clip, levels, expand[g] > 1 ? expand[g] : 1);
            if (e < best_e) {
                best_e = e;
                best = clip;
            }
        }
        group_max[g] = best;
    }
    free(hist);
    free(linear);
    free(expand);
    return 0;
}
