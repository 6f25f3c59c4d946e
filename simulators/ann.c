/* The ANN core simulator: integer crossbars with a quantised, saturating
 * ReLU (DESIGN.md §6); the same driver runs float (`reform`) programs.
 *
 * Images go in batches of `lanes`; every neuron holds one value per lane
 * (v[neuron · lanes + lane]), so gathering a core op's rows is a copy of
 * whole lane vectors. Consecutive ops of one weight block that do not read
 * each other (the positions of a convolution) form a run, computed as one
 * matrix product W · X with OpenBLAS's dgemm: X holds the gathered rows of
 * every op and lane of the run.
 *
 * Exactness of the integer path: weights and inputs are integers, so every
 * product and partial sum is an integer, and a double holds integers up to
 * 2^53 exactly. A block whose Σ|w| · (2^io_bits − 1) stays below 2^53 (any
 * weights of up to 16 bits on up to 65536 rows) is therefore exact whatever
 * the summation order; the bias (an int64) is added after conversion. A
 * block beyond that runs on a plain int64 loop. (Logits pass through a
 * double too: exact below 2^53, which any accumulator the verifier allows is.) Threads take whole batches
 * and call dgemm single-threaded, so results do not depend on the thread
 * count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ann_paths.h"
#include "simulators.h"

#define SCRATCH_DOUBLES (1 << 20)      /* per thread, for X and Y of one run */
#define VALUE_BYTES (256u << 20)       /* per thread, for the neuron values */

/* round(acc · 2^−shift) half up, then clamp to the I/O range. */
static inline int64_t quantise(int64_t acc, int shift, int64_t top)
{
    int64_t y = shift ? (acc + ((int64_t)1 << (shift - 1))) >> shift : acc;
    return y < 0 ? 0 : y > top ? top : y;
}

typedef struct {
    const Program *p;
    double **w;      /* per block: weights as doubles ([cols][rows]) */
    float **w32;     /* per block: as floats, where sgemm is exact too (else NULL) */
    char *exact;     /* per block: the dgemm path is exact (integer programs) */
    int *run_len;    /* per op: ops in the run it starts (0 inside a run) */
    int lanes;
    int64_t top;
} Plan;

static void plan_free(Plan *pl)
{
    for (int b = 0; b < pl->p->n_blocks; b++) {
        if (pl->w)
            free(pl->w[b]);
        if (pl->w32)
            free(pl->w32[b]);
    }
    free(pl->w);
    free(pl->w32);
    free(pl->exact);
    free(pl->run_len);
}

/* The largest run that fits the scratch space: ops of one block, none
 * reading a neuron an earlier op of the run makes. */
static void find_runs(const Program *p, int lanes, int *run_len)
{
    for (int k = 0; k < p->n_ops;) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        int widest = b->rows > b->cols ? b->rows : b->cols, len = 1;
        int32_t first_out = p->ops[k].out;
        long max_len = SCRATCH_DOUBLES / 2 / ((long)widest * lanes);
        while (k + len < p->n_ops && len < max_len && p->ops[k + len].block == p->ops[k].block) {
            const CoreOp *op = &p->ops[k + len];
            int independent = 1;
            for (int i = 0; i < b->rows && independent; i++)
                independent = op->in[i] < first_out;
            if (!independent)
                break;
            len++;
        }
        run_len[k] = len;
        for (int q = 1; q < len; q++)
            run_len[k + q] = 0;
        k += len;
    }
}

static int plan_make(const Program *p, Plan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->p = p;
    pl->top = ((int64_t)1 << p->io_bits) - 1;
    size_t per_image = sizeof(double) * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1);
    long lanes = (long)(VALUE_BYTES / per_image);
    pl->lanes = lanes < 1 ? 1 : lanes > 64 ? 64 : (int)lanes;
    int max_side = 1;
    for (int b = 0; b < p->n_blocks; b++) {
        max_side = p->blocks[b].rows > max_side ? p->blocks[b].rows : max_side;
        max_side = p->blocks[b].cols > max_side ? p->blocks[b].cols : max_side;
    }
    while (pl->lanes > 1 && (long)max_side * pl->lanes > SCRATCH_DOUBLES / 2)
        pl->lanes /= 2;
    pl->w = calloc((size_t)(p->n_blocks ? p->n_blocks : 1), sizeof *pl->w);
    pl->w32 = calloc((size_t)(p->n_blocks ? p->n_blocks : 1), sizeof *pl->w32);
    pl->exact = calloc((size_t)(p->n_blocks ? p->n_blocks : 1), 1);
    pl->run_len = malloc(sizeof *pl->run_len * (size_t)(p->n_ops ? p->n_ops : 1));
    if (!pl->w || !pl->w32 || !pl->exact || !pl->run_len)
        return plan_free(pl), -1;
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *blk = &p->blocks[b];
        size_t n = (size_t)blk->rows * blk->cols;
        if (!(pl->w[b] = malloc(sizeof **pl->w * (n ? n : 1))))
            return plan_free(pl), -1;
        double worst = 0; /* the largest |Σ w·x| of a column over 0 ≤ x ≤ top */
        for (int j = 0; j < blk->cols; j++) {
            double col = 0;
            for (int i = 0; i < blk->rows; i++) {
                size_t t = (size_t)j * blk->rows + i;
                pl->w[b][t] = p->is_float ? (double)blk->wf[t] : (double)blk->w[t];
                col += fabs(pl->w[b][t]);
            }
            worst = col > worst ? col : worst;
        }
        pl->exact[b] = p->is_float || worst * (double)pl->top < 9007199254740992.0; /* 2^53 */
        /* Sums below 2^24 are exact in float too, and sgemm is twice as fast
         * (8-bit weights and I/O on up to 256 rows stay below). */
        if (!p->is_float && worst * (double)pl->top < 16777216.0) {
            if (!(pl->w32[b] = malloc(sizeof **pl->w32 * (n ? n : 1))))
                return plan_free(pl), -1;
            for (size_t t = 0; t < n; t++)
                pl->w32[b][t] = (float)pl->w[b][t];
        }
    }
    find_runs(p, pl->lanes, pl->run_len);
    return 0;
}

/* The activation of a block's column j for one accumulated value. */
static inline double finish(const Plan *pl, const CoreBlock *b, int j, double acc)
{
    if (pl->p->is_float) {
        acc += b->bf[j];
        return b->act == CORE_RELU && acc < 0 ? 0 : acc;
    }
    int64_t a = (int64_t)acc + b->bias[j];
    return (double)(b->act == CORE_RELU ? quantise(a, b->shift, pl->top) : a);
}

/* One run of `len` ops of block b starting at op k, on all lanes. */
static void run_ops(const Plan *pl, int k, int len, double *v, double *x, double *y)
{
    const Program *p = pl->p;
    const CoreBlock *b = &p->blocks[p->ops[k].block];
    const int L = pl->lanes, width = len * L;
    if (!pl->exact[p->ops[k].block]) { /* integers beyond 2^53: int64 loop */
        for (int q = k; q < k + len; q++)
            for (int lane = 0; lane < L; lane++)
                for (int j = 0; j < b->cols; j++) {
                    const int32_t *w = b->w + (size_t)j * b->rows;
                    int64_t acc = b->bias[j];
                    for (int i = 0; i < b->rows; i++)
                        if (p->ops[q].in[i] != PROGRAM_ZERO)
                            acc += (int64_t)w[i] * (int64_t)v[(size_t)p->ops[q].in[i] * L + lane];
                    v[(size_t)(p->ops[q].out + j) * L + lane] =
                        (double)(b->act == CORE_RELU ? quantise(acc, b->shift, pl->top) : acc);
                }
        return;
    }
    const float *w32 = pl->w32[p->ops[k].block];
    if (w32) { /* the scratch doubles hold twice as many floats */
        float *xf = (float *)x, *yf = (float *)y;
        for (int q = 0; q < len; q++) {
            const int32_t *in = p->ops[k + q].in;
            for (int i = 0; i < b->rows; i++) {
                float *dst = xf + (size_t)i * width + (size_t)q * L;
                if (in[i] == PROGRAM_ZERO) {
                    memset(dst, 0, sizeof *dst * (size_t)L);
                    continue;
                }
                const double *src = v + (size_t)in[i] * L;
                for (int lane = 0; lane < L; lane++)
                    dst[lane] = (float)src[lane];
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->cols, width, b->rows, 1.0f, w32, b->rows, xf,
                    width, 0.0f, yf, width);
        for (int q = 0; q < len; q++) {
            double *out = v + (size_t)p->ops[k + q].out * L;
            for (int j = 0; j < b->cols; j++) {
                const float *acc = yf + (size_t)j * width + (size_t)q * L;
                for (int lane = 0; lane < L; lane++)
                    out[(size_t)j * L + lane] = finish(pl, b, j, acc[lane]);
            }
        }
        return;
    }
    for (int q = 0; q < len; q++) {
        const int32_t *in = p->ops[k + q].in;
        for (int i = 0; i < b->rows; i++) {
            double *dst = x + (size_t)i * width + (size_t)q * L;
            if (in[i] == PROGRAM_ZERO)
                memset(dst, 0, sizeof *dst * (size_t)L);
            else
                memcpy(dst, v + (size_t)in[i] * L, sizeof *dst * (size_t)L);
        }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->cols, width, b->rows, 1.0,
                pl->w[p->ops[k].block], b->rows, x, width, 0.0, y, width);
    for (int q = 0; q < len; q++) {
        double *out = v + (size_t)p->ops[k + q].out * L;
        for (int j = 0; j < b->cols; j++) {
            const double *acc = y + (size_t)j * width + (size_t)q * L;
            for (int lane = 0; lane < L; lane++)
                out[(size_t)j * L + lane] = finish(pl, b, j, acc[lane]);
        }
    }
}

/* Where images come from and logits go: integer or float. */
typedef struct {
    const int32_t *qi;
    const float *fi;
    int64_t *ql;
    float *fl;
} Io;

static int run_all(const Program *p, const Io *io, int n)
{
    if (n < 0)
        return -1;
    Plan pl;
    if (plan_make(p, &pl))
        return -1;
    const int L = pl.lanes, batches = (n + L - 1) / L;
    int failed = 0;
#pragma omp parallel
    {
        double *v = malloc(sizeof *v * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1) * L);
        double *x = malloc(sizeof *x * SCRATCH_DOUBLES / 2), *y = malloc(sizeof *y * SCRATCH_DOUBLES / 2);
        if (!v || !x || !y) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int bt = 0; bt < batches; bt++) {
            if (!v || !x || !y)
                continue;
            int img0 = bt * L, nb = n - img0 < L ? n - img0 : L;
            for (int i = 0; i < p->n_inputs; i++)
                for (int lane = 0; lane < L; lane++) {
                    size_t at = (size_t)(img0 + (lane < nb ? lane : 0)) * p->n_inputs + i;
                    v[(size_t)i * L + lane] = io->qi ? (double)io->qi[at] : (double)io->fi[at];
                }
            for (int k = 0; k < p->n_ops; k += pl.run_len[k])
                run_ops(&pl, k, pl.run_len[k], v, x, y);
            for (int lane = 0; lane < nb; lane++)
                for (int o = 0; o < p->n_outputs; o++) {
                    double val = v[(size_t)p->outputs[o] * L + lane];
                    size_t at = (size_t)(img0 + lane) * p->n_outputs + o;
                    if (io->ql)
                        io->ql[at] = (int64_t)val;
                    else
                        io->fl[at] = (float)val;
                }
        }
        free(v);
        free(x);
        free(y);
    }
    plan_free(&pl);
    return failed ? -1 : 0;
}

int ann_reference_run(const Program *p, const int32_t *inputs, const float *finputs, int n,
                      int64_t *logits, float *flogits)
{
    if (p->is_float ? !finputs || !flogits : !inputs || !logits)
        return -1;
    Io io = {inputs, finputs, logits, flogits};
    return run_all(p, &io, n);
}

struct AnnPlan {
    const Program *p;
    AnnFast *fast; /* NULL: the program takes the reference path */
};

AnnPlan *ann_plan(const Program *p)
{
    AnnPlan *plan = calloc(1, sizeof *plan);
    if (!plan)
        return NULL;
    plan->p = p;
    plan->fast = ann_fast_make(p);
    if (!plan->fast && ann_fast_fits(p, NULL, 0)) { /* it fits: out of memory */
        free(plan);
        return NULL;
    }
    return plan;
}

void ann_plan_free(AnnPlan *plan)
{
    if (plan)
        ann_fast_free(plan->fast);
    free(plan);
}

int ann_plan_run(const AnnPlan *plan, const int32_t *inputs, int n, int64_t *logits)
{
    const Program *p = plan->p;
    if (p->is_float)
        return -1;
    if (plan->fast && ann_fast_inputs_fit(p, inputs, n))
        return ann_fast_run(plan->fast, inputs, n, logits);
    Io io = {inputs, NULL, logits, NULL};
    return run_all(p, &io, n);
}

int ann_run(const Program *p, const int32_t *inputs, int n, int64_t *logits)
{
    AnnPlan *plan = ann_plan(p);
    if (!plan)
        return -1;
    int rc = ann_plan_run(plan, inputs, n, logits);
    ann_plan_free(plan);
    return rc;
}

int ann_run_float(const Program *p, const float *inputs, int n, float *logits)
{
    if (!p->is_float)
        return -1;
    Io io = {NULL, inputs, NULL, logits};
    return run_all(p, &io, n);
}
