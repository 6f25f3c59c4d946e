/* The ANN simulator's fast path (ann_paths.h): integer programs of up to
 * 8-bit I/O whose sums stay exact in float.
 *
 * Layout. A thread takes a batch of L images (L a multiple of LANE_BLOCK,
 * lanes.h); every live neuron holds one byte per lane in its value slot
 * (op_schedule.h), v[slot · L + lane], the value 0 .. top (inputs are
 * checked, ReLU outputs are clamped, and no op reads a logit, which live
 * apart as int64). Ops run in the order of op_schedule.h: the ops of one
 * block and level form a run.
 *
 * Dense blocks: a run (in chunks that keep the gathered X near 1 MB) is one
 * product Y = Wb · X, X holding the rows of every op and lane and Wb the
 * block's distinct columns up to sign: split partial sums come as pairs
 * relu(p), relu(−p) whose weights are exact negatives, so each pair costs
 * one column (Y of column j = sign_j · Y of its basis column). Where the
 * CPU has AVX-512 VNNI and Wb fits int8, the product is gemm_u8's on the
 * bytes themselves; else an sgemm on X converted to floats.
 * Sparse blocks (at most one weight in SPARSE_DENSITY nonzero: pooling
 * trees, merges of partial sums) skip the gather and the zeros: each column
 * adds its few weighted lane vectors in int32.
 *
 * Exactness. Weights and values are integers, so every product and partial
 * sum is an integer of magnitude at most Σ_i |w_ij| · top, which ann_fast_fits
 * requires below 2^24: float holds every integer up to 2^24 exactly, so the
 * sgemm is exact in any summation order (gemm_u8 and the sparse sums are in
 * int32), and negating a basis column's sum is exact too. The epilogue
 * converts that integer to
 * int32 and adds bias + 2^(shift−1), both below 2^31 in magnitude together
 * (ann_fast_fits again, with shift <= 30), so (acc + half) >> shift is the
 * reference's round-half-up; a logit is (int64)acc + bias as in ann.c. The
 * results do not depend on the lanes, chunking, thread count or order of
 * images. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ann_paths.h"
#include "gemm_u8.h"
#include "lanes.h"
#include "op_schedule.h"

#define X_FLOATS (1 << 18)    /* a run's gathered rows per chunk: 1 MB */
#define X_BYTES (1 << 17)     /* the same for gemm_u8 */
#define VALUE_BYTES (256u << 20) /* per thread, for the neuron values */
#define PREFETCH_ROWS 8       /* how far ahead the gather asks for its rows */
#define SPARSE_DENSITY 8      /* sparse: nonzeros <= rows · cols / 8 */
#define FLOAT_EXACT 16777216.0 /* 2^24 */
#define INT32_ROOM 2147483648.0 /* 2^31 */

typedef struct {
    int sparse;
    int nb;          /* dense: distinct columns up to sign */
    float *wb;       /* dense: [nb][rows] */
    int8_t *w8;      /* dense on gemm_u8: [nb][kp], or NULL */
    int kp;          /* rows padded for gemm_u8 */
    int *basis;      /* [cols]: the basis column of column j */
    float *sign;     /* [cols]: ±1 */
    int *nz_start;   /* sparse: [cols + 1] into nz_row, nz_w */
    int *nz_row;
    int32_t *nz_w;
    int32_t *bh;     /* [cols]: ReLU: bias + 2^(shift−1) */
    int u8;          /* gemm_u8's CPU: its epilogue finishes the columns */
} FastBlock;

/* What a program needs made once (AnnFast, ann_paths.h) ... */
struct AnnFast {
    const Program *p;
    FastBlock *fb;
    OpSchedule sched;
    int *slot;       /* [n_ops]: a linear op's first logit slot, else -1 */
    int *out_slot;   /* [n_outputs] */
    int n_slots;
};

/* ... and what one run with L lanes adds. */
typedef struct {
    const AnnFast *a;
    int lanes;
    int *chunk;                /* [n_blocks]: ops per product */
    size_t x_floats, y_floats; /* per thread, the float path's X and Y */
    size_t x_bytes, y_ints;    /* and gemm_u8's */
} FastPlan;

/* Σ_i |w_ij| of a block's widest column. */
static double widest_column(const CoreBlock *b, int j)
{
    double s = 0;
    for (int i = 0; i < b->rows; i++) {
        int32_t w = b->w[(size_t)j * b->rows + i];
        s += w < 0 ? -(double)w : (double)w;
    }
    return s;
}

int ann_fast_inputs_fit(const Program *p, const int32_t *inputs, int n)
{
    const int32_t top = (1 << p->io_bits) - 1;
    for (size_t t = 0; t < (size_t)(n > 0 ? n : 0) * p->n_inputs; t++)
        if (inputs[t] < 0 || inputs[t] > top)
            return 0;
    return n >= 0;
}

static int ann_fast_program_fits(const Program *p)
{
    if (p->is_float || p->io_bits < 1 || p->io_bits > 8)
        return 0;
    const int32_t top = (1 << p->io_bits) - 1;
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *k = &p->blocks[b];
        if (k->act == CORE_RELU && k->shift > 30)
            return 0;
        for (int j = 0; j < k->cols; j++) {
            double col = widest_column(k, j) * top;
            if (col >= FLOAT_EXACT)
                return 0;
            if (k->act == CORE_RELU) {
                double bias = (double)k->bias[j], half = k->shift ? (double)(1 << (k->shift - 1)) : 0;
                if ((bias < 0 ? -bias : bias) + half + col >= INT32_ROOM)
                    return 0;
            }
        }
    }
    /* no op may read a logit: the byte lanes hold 0 .. top only */
    char *linear = calloc((size_t)(p->n_neurons > 0 ? p->n_neurons : 1), 1);
    if (!linear)
        return 0;
    int fits = 1;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        const int32_t *in = p->ops[k].in;
        for (int i = 0; i < b->rows && fits; i++)
            fits = in[i] == PROGRAM_ZERO || !linear[in[i]];
        if (b->act == CORE_LINEAR)
            memset(linear + p->ops[k].out, 1, (size_t)b->cols);
    }
    free(linear);
    return fits;
}

int ann_fast_fits(const Program *p, const int32_t *inputs, int n)
{
    return ann_fast_program_fits(p) && ann_fast_inputs_fit(p, inputs, n);
}

static void block_free(FastBlock *f)
{
    free(f->wb);
    free(f->w8);
    free(f->basis);
    free(f->sign);
    free(f->nz_start);
    free(f->nz_row);
    free(f->nz_w);
    free(f->bh);
}

void ann_fast_free(AnnFast *a)
{
    if (!a)
        return;
    for (int b = 0; a->fb && b < a->p->n_blocks; b++)
        block_free(&a->fb[b]);
    free(a->fb);
    free(a->slot);
    free(a->out_slot);
    op_schedule_free(&a->sched);
    free(a);
}

/* Column j's sign up to which it equals its basis: +1, or −1 when its
 * first nonzero weight is negative. */
static int column_sign(const int32_t *w, int rows)
{
    for (int i = 0; i < rows; i++)
        if (w[i])
            return w[i] < 0 ? -1 : 1;
    return 1;
}

static uint64_t column_hash(const int32_t *w, int rows, int sign)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < rows; i++)
        h = (h ^ (uint64_t)(uint32_t)(sign * w[i])) * 1099511628211ull;
    return h;
}

static int same_up_to_sign(const int32_t *a, int sa, const int32_t *b, int sb, int rows)
{
    for (int i = 0; i < rows; i++)
        if (sa * a[i] != sb * b[i])
            return 0;
    return 1;
}

/* The distinct columns up to sign (hash table of 2^k >= 2 · cols slots). */
static int make_dense(const CoreBlock *k, FastBlock *f)
{
    const int rows = k->rows, cols = k->cols;
    int size = 1;
    while (size < 2 * cols)
        size *= 2;
    int *table = malloc(sizeof *table * (size_t)size), *first = malloc(sizeof *first * (size_t)cols);
    int *sg = malloc(sizeof *sg * (size_t)cols);
    f->basis = malloc(sizeof *f->basis * (size_t)cols);
    f->sign = malloc(sizeof *f->sign * (size_t)cols);
    if (!table || !first || !sg || !f->basis || !f->sign) {
        free(table);
        free(first);
        free(sg);
        return -1;
    }
    for (int t = 0; t < size; t++)
        table[t] = -1;
    f->nb = 0;
    for (int j = 0; j < cols; j++) {
        const int32_t *w = k->w + (size_t)j * rows;
        sg[j] = column_sign(w, rows);
        uint64_t h = column_hash(w, rows, sg[j]);
        size_t at = (size_t)(h & (uint64_t)(size - 1));
        int found = -1;
        for (; table[at] >= 0; at = (at + 1) & (size_t)(size - 1)) {
            int c = table[at];
            if (same_up_to_sign(k->w + (size_t)first[c] * rows, sg[first[c]], w, sg[j], rows)) {
                found = c;
                break;
            }
        }
        if (found < 0) {
            found = f->nb++;
            first[found] = j;
            table[at] = found;
        }
        f->basis[j] = found;
        /* column j = sg[j] · normalised = sg[j] · sg[first] · basis column */
        f->sign[j] = (float)(sg[j] * sg[first[found]]);
    }
    f->wb = malloc(sizeof *f->wb * (size_t)f->nb * rows);
    if (f->wb)
        for (int c = 0; c < f->nb; c++)
            for (int i = 0; i < rows; i++)
                f->wb[(size_t)c * rows + i] = (float)k->w[(size_t)first[c] * rows + i];
    free(table);
    free(first);
    free(sg);
    return f->wb ? 0 : -1;
}

static int make_sparse(const CoreBlock *k, FastBlock *f, size_t nnz)
{
    f->nz_start = malloc(sizeof *f->nz_start * (size_t)(k->cols + 1));
    f->nz_row = malloc(sizeof *f->nz_row * (nnz ? nnz : 1));
    f->nz_w = malloc(sizeof *f->nz_w * (nnz ? nnz : 1));
    if (!f->nz_start || !f->nz_row || !f->nz_w)
        return -1;
    int at = 0;
    for (int j = 0; j < k->cols; j++) {
        f->nz_start[j] = at;
        for (int i = 0; i < k->rows; i++)
            if (k->w[(size_t)j * k->rows + i]) {
                f->nz_row[at] = i;
                f->nz_w[at++] = k->w[(size_t)j * k->rows + i];
            }
    }
    f->nz_start[k->cols] = at;
    return 0;
}

static int make_block(const CoreBlock *k, int use_u8, FastBlock *f)
{
    size_t nnz = 0;
    for (size_t t = 0; t < (size_t)k->rows * k->cols; t++)
        nnz += k->w[t] != 0;
    f->bh = malloc(sizeof *f->bh * (size_t)k->cols);
    if (!f->bh)
        return -1;
    for (int j = 0; j < k->cols; j++) /* in range: ann_fast_fits */
        f->bh[j] = k->act == CORE_RELU ? (int32_t)(k->bias[j] + (k->shift ? 1 << (k->shift - 1) : 0)) : 0;
    f->u8 = use_u8;
    f->sparse = nnz * SPARSE_DENSITY <= (size_t)k->rows * k->cols;
    if (f->sparse)
        return make_sparse(k, f, nnz);
    if (make_dense(k, f))
        return -1;
    /* Wb as int8 when every weight fits (else w8 stays NULL: the float path) */
    f->kp = gemm_u8_kp(k->rows);
    return f->u8 ? gemm_u8_weights(f->wb, f->nb, k->rows, &f->w8) : 0;
}

/* Each dense block's chunk for L lanes, and the scratch that needs. */
static int plan_lanes(const AnnFast *a, int L, FastPlan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->a = a;
    pl->lanes = L;
    pl->chunk = calloc((size_t)(a->p->n_blocks > 0 ? a->p->n_blocks : 1), sizeof *pl->chunk);
    if (!pl->chunk)
        return -1;
    for (int b = 0; b < a->p->n_blocks; b++) {
        const CoreBlock *k = &a->p->blocks[b];
        const FastBlock *f = &a->fb[b];
        if (f->sparse)
            continue;
        long chunk = (f->w8 ? X_BYTES / f->kp : X_FLOATS / k->rows) / L;
        pl->chunk[b] = chunk < 1 ? 1 : chunk > a->p->n_ops ? a->p->n_ops : (int)chunk;
        size_t width = (size_t)pl->chunk[b] * L, *x = f->w8 ? &pl->x_bytes : &pl->x_floats,
               *y = f->w8 ? &pl->y_ints : &pl->y_floats;
        size_t xs = (size_t)(f->w8 ? f->kp : k->rows) * width, ys = (size_t)f->nb * width;
        *x = xs > *x ? xs : *x;
        *y = ys > *y ? ys : *y;
    }
    return 0;
}

AnnFast *ann_fast_make(const Program *p)
{
    if (!ann_fast_program_fits(p))
        return NULL;
    AnnFast *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    pl->p = p;
    pl->fb = calloc((size_t)(p->n_blocks > 0 ? p->n_blocks : 1), sizeof *pl->fb);
    pl->slot = malloc(sizeof *pl->slot * (size_t)(p->n_ops > 0 ? p->n_ops : 1));
    pl->out_slot = malloc(sizeof *pl->out_slot * (size_t)(p->n_outputs > 0 ? p->n_outputs : 1));
    int *neuron_slot = malloc(sizeof *neuron_slot * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1));
    if (!pl->fb || !pl->slot || !pl->out_slot || !neuron_slot || op_schedule_make(p, &pl->sched))
        goto fail;
    const int use_u8 = gemm_u8_supported();
    for (int b = 0; b < p->n_blocks; b++)
        if (make_block(&p->blocks[b], use_u8, &pl->fb[b]))
            goto fail;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        pl->slot[k] = -1;
        if (b->act == CORE_LINEAR) {
            pl->slot[k] = pl->n_slots;
            for (int j = 0; j < b->cols; j++)
                neuron_slot[p->ops[k].out + j] = pl->n_slots + j;
            pl->n_slots += b->cols;
        }
    }
    for (int o = 0; o < p->n_outputs; o++) /* outputs are linear neurons (program_validate) */
        pl->out_slot[o] = neuron_slot[p->outputs[o]];
    free(neuron_slot);
    return pl;
fail:
    free(neuron_slot);
    ann_fast_free(pl);
    return NULL;
}

/* ------------------------------------------------------------- running */

/* Column j of op k from its accumulators acc[0 .. L) times sign: a ReLU's
 * bytes, or a linear op's logits. */
LANES_HOT static void finish_column(const FastPlan *pl, const CoreBlock *b, const FastBlock *f, int k, int j,
                          const int32_t *restrict acc, int32_t sign, uint8_t *restrict v,
                          int64_t *restrict lin)
{
    const int L = pl->lanes;
    if (b->act == CORE_LINEAR) {
        int64_t *restrict dst = lin + (size_t)(pl->a->slot[k] + j) * L;
        const int64_t bias = b->bias[j];
        for (int l0 = 0; l0 < L; l0 += LANE_BLOCK)
            for (int l = l0; l < l0 + LANE_BLOCK; l++)
                dst[l] = (int64_t)(sign * acc[l]) + bias;
        return;
    }
    uint8_t *restrict dst = v + (size_t)(pl->a->sched.out[k] + j) * L;
    const int32_t bh = f->bh[j], top = (1 << pl->a->p->io_bits) - 1, flip = sign < 0 ? -1 : 0;
    const int shift = b->shift;
    if (f->u8) {
        gemm_u8_relu_bytes(acc, L, flip, bh, shift, top, dst);
        return;
    }
    for (int l0 = 0; l0 < L; l0 += LANE_BLOCK)
        for (int l = l0; l < l0 + LANE_BLOCK; l++) {
            int32_t a = (((acc[l] ^ flip) - flip) + bh) >> shift; /* ±acc without a multiply */
            a = a < 0 ? 0 : a;
            dst[l] = (uint8_t)(a < top ? a : top);
        }
}

/* finish_column from float accumulators (exact integers). */
LANES_HOT static void finish_float_column(const FastPlan *pl, const CoreBlock *b, const FastBlock *f, int k,
                                int j, const float *restrict acc, float sign, uint8_t *restrict v,
                                int64_t *restrict lin)
{
    int32_t whole[MAX_LANES];
    for (int l = 0; l < pl->lanes; l++)
        whole[l] = (int32_t)acc[l];
    finish_column(pl, b, f, k, j, whole, (int32_t)sign, v, lin);
}

/* nq ops (indices ops[0 .. nq)) of a dense block: gather, sgemm, finish. */
LANES_HOT static void run_dense(const FastPlan *pl, const CoreBlock *b, const FastBlock *f, const int *ops,
                      int nq, uint8_t *v, int64_t *lin, float *x, float *y)
{
    const int L = pl->lanes, width = nq * L;
    for (int q = 0; q < nq; q++) {
        const int32_t *in = pl->a->sched.in + pl->a->sched.first[ops[q]];
        for (int i = 0; i < b->rows; i++) {
            float *restrict dst = x + (size_t)i * width + (size_t)q * L;
            /* rows are scattered reads: ask for a later one early */
            if (i + PREFETCH_ROWS < b->rows && in[i + PREFETCH_ROWS] != PROGRAM_ZERO)
                __builtin_prefetch(v + (size_t)in[i + PREFETCH_ROWS] * L);
            if (in[i] == PROGRAM_ZERO) {
                memset(dst, 0, sizeof *dst * (size_t)L);
                continue;
            }
            const uint8_t *restrict src = v + (size_t)in[i] * L;
            for (int l0 = 0; l0 < L; l0 += LANE_BLOCK)
                for (int l = l0; l < l0 + LANE_BLOCK; l++)
                    dst[l] = (float)src[l];
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f->nb, width, b->rows, 1.0f, f->wb, b->rows,
                x, width, 0.0f, y, width);
    for (int q = 0; q < nq; q++)
        for (int j = 0; j < b->cols; j++)
            finish_float_column(pl, b, f, ops[q], j, y + (size_t)f->basis[j] * width + (size_t)q * L,
                                f->sign[j], v, lin);
}

/* The same on gemm_u8: the gather packs each four rows' bytes together. */
LANES_HOT static void run_dense_u8(const FastPlan *pl, const CoreBlock *b, const FastBlock *f, const int *ops,
                         int nq, uint8_t *v, int64_t *lin, uint8_t *x, int32_t *y)
{
    const int L = pl->lanes, width = nq * L;
    const size_t x_stride = (size_t)width * 4;
    for (int q = 0; q < nq; q++) {
        const int32_t *in = pl->a->sched.in + pl->a->sched.first[ops[q]];
        for (int i = 0; i < f->kp; i += 4) {
            const uint8_t *rows[4];
            for (int c = 0; c < 4; c++) {
                const int r = i + c;
                rows[c] = r < b->rows && in[r] != PROGRAM_ZERO ? v + (size_t)in[r] * L : NULL;
                /* rows are scattered reads: ask for a later one early */
                if (r + PREFETCH_ROWS < b->rows && in[r + PREFETCH_ROWS] != PROGRAM_ZERO)
                    __builtin_prefetch(v + (size_t)in[r + PREFETCH_ROWS] * L);
            }
            gemm_u8_pack4(rows, L, x + (size_t)(i / 4) * x_stride + (size_t)q * L * 4);
        }
    }
    gemm_u8_run(f->nb, width, f->kp, f->w8, x, x_stride, y, (size_t)width);
    for (int q = 0; q < nq; q++)
        for (int j = 0; j < b->cols; j++)
            finish_column(pl, b, f, ops[q], j, y + (size_t)f->basis[j] * width + (size_t)q * L,
                          (int32_t)f->sign[j], v, lin);
}

/* One op of a sparse block: each column adds its weighted lane vectors. */
LANES_HOT static void run_sparse(const FastPlan *pl, const CoreBlock *b, const FastBlock *f, int k, uint8_t *v,
                       int64_t *lin)
{
    const int L = pl->lanes;
    const int32_t *in = pl->a->sched.in + pl->a->sched.first[k];
    int32_t acc[MAX_LANES];
    for (int j = 0; j < b->cols; j++) {
        memset(acc, 0, sizeof *acc * (size_t)L);
        for (int t = f->nz_start[j]; t < f->nz_start[j + 1]; t++) {
            const int32_t from = in[f->nz_row[t]];
            if (from == PROGRAM_ZERO)
                continue;
            const uint8_t *restrict src = v + (size_t)from * L;
            const int32_t w = f->nz_w[t];
            if (f->u8) {
                gemm_u8_add_scaled(src, L, 0, 0xff, w, acc);
                continue;
            }
            for (int l0 = 0; l0 < L; l0 += LANE_BLOCK)
                for (int l = l0; l < l0 + LANE_BLOCK; l++)
                    acc[l] += w * (int32_t)src[l];
        }
        finish_column(pl, b, f, k, j, acc, 1, v, lin);
    }
}

/* Per-thread scratch. */
typedef struct {
    uint8_t *v;
    int64_t *lin;
    float *x, *y;
    uint8_t *x8;
    int32_t *y32;
} Scratch;

static void run_batch(const FastPlan *pl, const int32_t *inputs, int img0, int nb, const Scratch *sc,
                      int64_t *logits)
{
    const Program *p = pl->a->p;
    const int L = pl->lanes;
    uint8_t *v = sc->v;
    int64_t *lin = sc->lin;
    for (int lane = 0; lane < L; lane++) {
        const int32_t *src = inputs + (size_t)(img0 + (lane < nb ? lane : 0)) * p->n_inputs;
        for (int i = 0; i < p->n_inputs; i++) /* spare lanes: copies of the first image */
            v[(size_t)i * L + lane] = (uint8_t)src[i];
    }
    const OpSchedule *s = &pl->a->sched;
    for (int r = 0; r < s->n_runs; r++) {
        const int *ops = s->order + s->run_start[r], len = s->run_start[r + 1] - s->run_start[r];
        const int blk = p->ops[ops[0]].block;
        const CoreBlock *b = &p->blocks[blk];
        const FastBlock *f = &pl->a->fb[blk];
        if (f->sparse) {
            for (int q = 0; q < len; q++)
                run_sparse(pl, b, f, ops[q], v, lin);
            continue;
        }
        for (int q = 0; q < len; q += pl->chunk[blk]) {
            const int nq = len - q < pl->chunk[blk] ? len - q : pl->chunk[blk];
            if (f->w8)
                run_dense_u8(pl, b, f, ops + q, nq, v, lin, sc->x8, sc->y32);
            else
                run_dense(pl, b, f, ops + q, nq, v, lin, sc->x, sc->y);
        }
    }
    for (int lane = 0; lane < nb; lane++)
        for (int o = 0; o < p->n_outputs; o++)
            logits[(size_t)(img0 + lane) * p->n_outputs + o] = lin[(size_t)pl->a->out_slot[o] * L + lane];
}

int ann_fast_run(const AnnFast *a, const int32_t *inputs, int n, int64_t *logits)
{
    FastPlan pl;
    if (plan_lanes(a, lanes_for(n, (size_t)a->sched.n_slots, VALUE_BYTES), &pl))
        return -1;
    const int L = pl.lanes, batches = (n + L - 1) / L;
    int failed = 0;
#pragma omp parallel
    {
        Scratch sc = {
            .v = lanes_alloc((size_t)(a->sched.n_slots > 0 ? a->sched.n_slots : 1) * L),
            .lin = malloc(sizeof *sc.lin * (size_t)(a->n_slots > 0 ? a->n_slots : 1) * L),
            .x = lanes_alloc(sizeof *sc.x * (pl.x_floats ? pl.x_floats : 1)),
            .y = lanes_alloc(sizeof *sc.y * (pl.y_floats ? pl.y_floats : 1)),
            .x8 = lanes_alloc(pl.x_bytes ? pl.x_bytes : 1),
            .y32 = lanes_alloc(sizeof *sc.y32 * (pl.y_ints ? pl.y_ints : 1)),
        };
        const int ok = sc.v && sc.lin && sc.x && sc.y && sc.x8 && sc.y32;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int bt = 0; bt < batches; bt++)
            if (ok)
                run_batch(&pl, inputs, bt * L, n - bt * L < L ? n - bt * L : L, &sc, logits);
        free(sc.v);
        free(sc.lin);
        free(sc.x);
        free(sc.y);
        free(sc.x8);
        free(sc.y32);
    }
    free(pl.chunk);
    return failed ? -1 : 0;
}
