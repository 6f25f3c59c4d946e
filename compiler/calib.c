/* Calibration of a float program's scale groups (the naive strategy,
 * DESIGN.md §2): one float pass over the calibration images, a batch at a
 * time, reduced op by op while the values are in cache.
 *
 * A group's percentile (the SNN threshold balancing) used to need a second
 * pass: a histogram of PCT_BINS bins up to the group's maximum, known only
 * after the first. The same bin comes from one pass: it is the bin of the
 * value of ascending rank want = ⌈count · pct / 100⌉ (binning is monotone
 * in the value), that is of the (count − want + 1)-th largest, which a
 * min-heap of that many values keeps (0.1% of the values for 99.9). */
#include <math.h>
#include <stdlib.h>

#include "compiler.h"

#define PCT_BINS 4096

typedef struct {
    double *gmax;       /* per group: largest value so far (from 0) */
    double **heap;      /* per group (percentiles only): min-heap of its largest values */
    long long *keep, *size;
} Calib;

/* Images per forward batch: up to 64, within 768 MB of neuron values (as
 * tuning): with relays a large network has millions of neurons, and 256 MB
 * left batches of 1 or 2 images, the pass dominated by packing each op's
 * weights. The maxima and percentiles do not depend on the batching. */
static int calib_batch(const Program *fp)
{
    size_t per_image = sizeof(double) * (size_t)(fp->n_neurons ? fp->n_neurons : 1);
    size_t batch = ((size_t)768 << 20) / per_image;
    return batch < 1 ? 1 : batch > 64 ? 64 : (int)batch;
}

static void heap_offer(double *h, long long *size, long long keep, double x)
{
    long long i;
    if (*size < keep) { /* sift up */
        for (i = (*size)++; i > 0 && h[(i - 1) / 2] > x; i = (i - 1) / 2)
            h[i] = h[(i - 1) / 2];
        h[i] = x;
        return;
    }
    if (!(x > h[0]))
        return;
    for (i = 0;;) { /* replace the smallest, sift down */
        long long c = 2 * i + 1;
        if (c >= keep)
            break;
        if (c + 1 < keep && h[c + 1] < h[c])
            c++;
        if (!(h[c] < x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void seen_op(void *ctx, const CoreOp *op, int cols, const double *y, int n)
{
    Calib *c = ctx;
    const int g = op->group;
    double m = c->gmax[g];
    for (size_t i = 0; i < (size_t)cols * n; i++)
        m = y[i] > m ? y[i] : m;
    c->gmax[g] = m;
    if (c->heap)
        for (size_t i = 0; i < (size_t)cols * n; i++)
            heap_offer(c->heap[g], &c->size[g], c->keep[g], y[i]);
}

static void calib_free(Calib *c, int n_groups)
{
    for (int g = 0; c->heap && g < n_groups; g++)
        free(c->heap[g]);
    free(c->heap);
    free(c->keep);
    free(c->size);
}

int calibrate_groups(const Program *fp, const uint8_t *px, int n, double percentile, double *gmax)
{
    const int G = fp->n_groups, BATCH = calib_batch(fp);
    Calib c = {.gmax = gmax};
    for (int g = 0; g < G; g++)
        gmax[g] = 0;
    int failed = 0;
    if (percentile > 0) {
        c.heap = calloc((size_t)G + 1, sizeof *c.heap);
        c.keep = calloc((size_t)G + 1, sizeof *c.keep);
        c.size = calloc((size_t)G + 1, sizeof *c.size);
        failed = !c.heap || !c.keep || !c.size;
        for (int k = 0; k < fp->n_ops && !failed; k++) /* count first: values per group */
            c.keep[fp->ops[k].group] += (long long)fp->blocks[fp->ops[k].block].cols * n;
        for (int g = 0; g < G && !failed; g++) {
            long long count = c.keep[g], want = (long long)ceil(count * percentile / 100);
            c.keep[g] = count ? count - want + 1 : 0;
            failed = !(c.heap[g] = malloc(sizeof **c.heap * (size_t)(c.keep[g] ? c.keep[g] : 1)));
        }
    }
    double *v = malloc(sizeof *v * (size_t)(fp->n_neurons ? fp->n_neurons : 1) * BATCH);
    float *in = malloc(sizeof *in * (size_t)fp->n_inputs * BATCH);
    failed |= !v || !in;
    for (int img0 = 0; img0 < n && !failed; img0 += BATCH) {
        int nb = n - img0 < BATCH ? n - img0 : BATCH;
        for (size_t i = 0; i < (size_t)nb * fp->n_inputs; i++)
            in[i] = px[(size_t)img0 * fp->n_inputs + i];
        failed = program_forward_float_each(fp, in, nb, v, seen_op, &c);
    }
    for (int g = 0; g < G && !failed && c.heap; g++) {
        if (!c.keep[g] || gmax[g] <= 0)
            continue;
        long bin = (long)(c.heap[g][0] / gmax[g] * (PCT_BINS - 1)); /* the histogram's bin */
        bin = bin < 0 ? 0 : bin >= PCT_BINS ? PCT_BINS - 1 : bin;
        gmax[g] = gmax[g] * (bin + 1) / PCT_BINS;
    }
    free(v);
    free(in);
    calib_free(&c, G);
    return failed ? -1 : 0;
}
