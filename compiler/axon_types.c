/* Axon types (see assign_axon_types in compiler.h): TrueNorth gives each
 * input row one of k types and each neuron one weight per type, so a block
 * holds at most k distinct weights per column, picked by the row.
 *
 * Rows with identical weight vectors can share a type at no cost. Blocks
 * that are sparse by construction (relays, split-and-merge merges, max-pool
 * trees) have many distinct rows, but their columns fall into runs that read
 * disjoint rows; such a block is cut into core ops of consecutive columns
 * (the neurons keep their ids, and no neuron gains a reader, so fan-out
 * holds) with at most k distinct rows each, which is then exact. What stays
 * lossy is clustered (axon_cluster.c) and refitted to calibration data with
 * the crossbar's spare rows (axon_refit.c).
 *
 * Why the lossy blocks lose so much: with one type per row, a block's
 * weights are W = S Nᵀ (N: rows × k, one 1 per row), a matrix of rank <= k,
 * so a block passes on at most k numbers however many neurons it has. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "axon_cluster.h"
#include "compiler.h"

#define CALIB_MAX 256 /* calibration images for the row weights */

/* Row classes of a block: rows with identical weight vectors share one
 * (numbered in order of first appearance). Returns the number of classes. */
static int row_classes(const CoreBlock *b, int *cls, int *rep)
{
    int n = 0;
    for (int i = 0; i < b->rows; i++) {
        cls[i] = -1;
        for (int c = 0; c < n && cls[i] < 0; c++) {
            int r = rep[c], same = 1;
            for (int j = 0; j < b->cols && same; j++)
                same = b->w[(size_t)j * b->rows + i] == b->w[(size_t)j * b->rows + r];
            if (same)
                cls[i] = c;
        }
        if (cls[i] < 0) {
            rep[n] = i;
            cls[i] = n++;
        }
    }
    return n;
}

/* One core op's share of a block: columns c0 .. c0 + cols − 1 over `rows`
 * of its rows (their indices at row_at in the plan's row list). */
typedef struct {
    int c0, cols, rows, row_at;
    int exact; /* its rows hold at most k classes: typing them loses nothing */
    int block; /* in the new program */
    int *extra, n_extra; /* rows (of the piece) copied onto spare rows, after its own */
} Piece;

typedef struct {
    Piece *piece;
    int n, cap;
    int *row;       /* the pieces' rows, concatenated */
    size_t n_row, cap_row;
} Plan;

static int plan_add(Plan *pl, int c0, int cols, int exact)
{
    if (pl->n == pl->cap) {
        int cap = pl->cap ? pl->cap * 2 : 64;
        Piece *g = realloc(pl->piece, sizeof *g * (size_t)cap);
        if (!g)
            return -1;
        pl->piece = g;
        pl->cap = cap;
    }
    pl->piece[pl->n++] = (Piece){c0, cols, 0, (int)pl->n_row, exact, -1, NULL, 0};
    return 0;
}

static int plan_row(Plan *pl, int r)
{
    if (pl->n_row == pl->cap_row) {
        size_t cap = pl->cap_row ? pl->cap_row * 2 : 1024;
        int *g = realloc(pl->row, sizeof *g * cap);
        if (!g)
            return -1;
        pl->row = g;
        pl->cap_row = cap;
    }
    pl->row[pl->n_row++] = r;
    pl->piece[pl->n - 1].rows++;
    return 0;
}

/* Scratch for plan_block, sized for the largest block. */
typedef struct {
    int *cls, *rep, *first, *span, *owner, *seen;
} PlanScratch;

/* Adds the rows of b whose first nonzero column is in c0 .. c1 − 1 to the last piece. */
static int piece_rows(Plan *pl, const int *first, int R, int c0, int c1)
{
    for (int i = 0; i < R; i++)
        if (first[i] >= c0 && first[i] < c1 && plan_row(pl, i))
            return -1;
    return 0;
}

/* The pieces of block b: the whole block when its rows fall into at most k
 * classes or it cannot be cut, else runs of columns between cuts that no
 * row's nonzero weights straddle, joined greedily while their rows hold at
 * most k classes. Rows of zeros are dropped from cut blocks (every piece
 * keeps a nonzero row: a block of zeros has one class). */
static int plan_block(const CoreBlock *b, int k, Plan *pl, PlanScratch *t)
{
    const int R = b->rows, C = b->cols;
    int n_cls = row_classes(b, t->cls, t->rep), cuts = 0;
    int *first = t->first, *span = t->span;
    if (n_cls > k && C > 1) {
        memset(span, 0, sizeof *span * (size_t)(C + 1));
        for (int i = 0; i < R; i++) {
            int last = -1;
            first[i] = -1;
            for (int j = 0; j < C; j++)
                if (b->w[(size_t)j * R + i]) {
                    first[i] = first[i] < 0 ? j : first[i];
                    last = j;
                }
            if (first[i] >= 0) { /* the row straddles the boundaries before first+1 .. last */
                span[first[i] + 1]++;
                span[last + 1]--;
            }
        }
        for (int c = 1, open = 0; c < C; c++) /* span[c] becomes: a cut before column c */
            span[c] = (open += span[c]) == 0, cuts += span[c];
        span[C] = 1;
    }
    if (!cuts) {
        if (plan_add(pl, 0, C, n_cls <= k))
            return -1;
        for (int i = 0; i < R; i++)
            if (plan_row(pl, i))
                return -1;
        return 0;
    }
    for (int c = 0; c < n_cls; c++)
        t->owner[c] = t->seen[c] = -1;
    int c0 = 0, held = 0, piece = 0;
    for (int s = 0, run = 0; s < C; run++) {
        int e = s + 1;
        while (!span[e])
            e++;
        int add = 0; /* classes the run s .. e − 1 brings to the open piece */
        for (int i = 0; i < R; i++) {
            int c = t->cls[i];
            if (first[i] >= s && first[i] < e && t->owner[c] != piece && t->seen[c] != run)
                t->seen[c] = run, add++;
        }
        if (held > 0 && held + add > k) { /* close c0 .. s − 1; the run opens the next piece */
            if (plan_add(pl, c0, s - c0, held <= k) || piece_rows(pl, first, R, c0, s))
                return -1;
            c0 = s, held = 0, piece++;
            add = 0;
            for (int i = 0; i < R; i++)
                if (first[i] >= s && first[i] < e && t->owner[t->cls[i]] != piece) {
                    t->owner[t->cls[i]] = piece;
                    add++;
                }
        }
        for (int i = 0; i < R; i++)
            if (first[i] >= s && first[i] < e)
                t->owner[t->cls[i]] = piece;
        held += add;
        s = e;
    }
    /* Columns of zeros after a lossy piece closed it but bring no rows: they
     * join it (a piece of no rows is no block, and clustering it overflows). */
    if (held == 0 && piece > 0) {
        pl->piece[pl->n - 1].cols += C - c0;
        return 0;
    }
    if (plan_add(pl, c0, C - c0, held <= k) || piece_rows(pl, first, R, c0, C))
        return -1;
    return 0;
}

#define GATHER_MAX 4096 /* samples (op × image) gathered for one dsyrk */

/* M += scale · Σ over the n_ops ops (indices in ops) of piece q's block and
 * the nb images in v of x xᵀ (x: the piece's inputs), GATHER_MAX samples per dsyrk. */
static void moments(const Program *p, const Plan *pl, int q, const int *ops, int n_ops, const double *v, int nb,
                    double scale, double *X, double *M)
{
    const Piece *pc = &pl->piece[q];
    int n = 0;
    for (int o = 0; o <= n_ops; o++) {
        if (n && (o == n_ops || n + nb > GATHER_MAX)) {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, pc->rows, n, scale, X, pc->rows, 1.0, M, pc->rows);
            n = 0;
        }
        if (o == n_ops)
            break;
        const int32_t *in = p->ops[ops[o]].in;
        for (int img = 0; img < nb; img++, n++)
            for (int r = 0; r < pc->rows; r++) {
                int32_t src = in[pl->row[pc->row_at + r]];
                X[(size_t)n * pc->rows + r] = src == PROGRAM_ZERO ? 0 : v[(size_t)src * nb + img];
            }
    }
}

/* Every neuron's value on the calibration images relative to its scale
 * group's largest (pixels: to 255), the unit that makes rows of different
 * groups comparable. Fills m2 (per neuron, the mean square) and M[q] for
 * each lossy piece q (its rows' second moments, over the images and the
 * ops using its block). Two passes: the group maxima, then the moments. */
static int calibrate_inputs(const Program *fp, const Program *p, const Plan *pl, const int *first_piece,
                            const uint8_t *px, int n, double *m2, double **M)
{
    const size_t N = (size_t)(fp->n_neurons ? fp->n_neurons : 1), G = (size_t)fp->n_groups + 1;
    /* Up to 64 images per forward pass within 768 MB (tuning's budget): on
     * large programs (alexnet-lite with relays: 14M neurons) 128 MB meant one
     * image per pass, each pass a matrix-vector product per op. */
    size_t per_image = sizeof(double) * N, batch = ((size_t)768 << 20) / per_image;
    const int B = batch < 1 ? 1 : batch > 64 ? 64 : (int)batch;
    int max_r = 1;
    for (int q = 0; q < pl->n; q++)
        max_r = pl->piece[q].rows > max_r ? pl->piece[q].rows : max_r;
    n = n < CALIB_MAX ? n : CALIB_MAX;
    double *v = malloc(per_image * B), *top = calloc(G, sizeof *top);
    double *X = malloc(sizeof *X * (size_t)max_r * (GATHER_MAX + B));
    float *in = malloc(sizeof *in * (size_t)fp->n_inputs * B);
    int *group = malloc(sizeof *group * N), *block_of = malloc(sizeof *block_of * (size_t)(pl->n + 1));
    /* The ops of each block (op_at[b] .. op_at[b + 1] − 1 in ops, in program
     * order): scanning every op for every piece was quadratic on large programs. */
    int *op_at = calloc((size_t)p->n_blocks + 2, sizeof *op_at), *ops = malloc(sizeof *ops * (size_t)(p->n_ops + 1));
    int failed = !v || !top || !X || !in || !group || !block_of || !op_at || !ops;
    for (int b = 0; !failed && b < p->n_blocks; b++)
        for (int q = first_piece[b]; q < first_piece[b + 1]; q++)
            block_of[q] = b;
    for (size_t i = 0; !failed && i < N; i++)
        group[i] = -1;
    for (int k = 0; !failed && k < fp->n_ops; k++) {
        op_at[p->ops[k].block + 2]++;
        for (int j = 0; j < fp->blocks[fp->ops[k].block].cols; j++)
            group[fp->ops[k].out + j] = fp->ops[k].group;
    }
    for (int b = 0; !failed && b < p->n_blocks; b++) /* op_at[b + 2]: block b's count, then its start */
        op_at[b + 2] += op_at[b + 1];
    for (int k = 0; !failed && k < p->n_ops; k++)
        ops[op_at[p->ops[k].block + 1]++] = k;
    memset(m2, 0, sizeof *m2 * N);
    for (int pass = 0; pass < 2 && !failed; pass++)
        for (int img0 = 0; img0 < n && !failed; img0 += B) {
            int nb = n - img0 < B ? n - img0 : B;
            for (size_t i = 0; i < (size_t)nb * fp->n_inputs; i++)
                in[i] = px[(size_t)img0 * fp->n_inputs + i];
            if ((failed = program_forward_float(fp, in, nb, v)))
                break;
            for (size_t i = 0; i < N; i++)
                for (int img = 0; img < nb; img++) {
                    double *x = &v[i * nb + img];
                    if (pass == 0) {
                        if (group[i] >= 0 && *x > top[group[i]])
                            top[group[i]] = *x;
                        continue;
                    }
                    double t = group[i] < 0 ? 255 : top[group[i]];
                    *x = t > 0 ? *x / t : 0;
                    m2[i] += *x * *x / n;
                }
            for (int q = 0; pass == 1 && q < pl->n; q++)
                if (M[q]) {
                    const int b = block_of[q], uses = op_at[b + 1] - op_at[b];
                    moments(p, pl, q, ops + op_at[b], uses, v, nb, 1.0 / ((double)n * uses), X, M[q]);
                }
        }
    for (int q = 0; !failed && q < pl->n; q++) /* dsyrk filled the upper triangle */
        for (int r = 0; M[q] && r < pl->piece[q].rows; r++)
            for (int c = 0; c < r; c++)
                M[q][(size_t)r * pl->piece[q].rows + c] = M[q][(size_t)c * pl->piece[q].rows + r];
    free(v);
    free(top);
    free(X);
    free(in);
    free(group);
    free(block_of);
    free(op_at);
    free(ops);
    return failed ? -1 : 0;
}

/* Each block row's weight: the mean, over the ops using the block, of its
 * input's moment (PROGRAM_ZERO: 0), plus a floor so that rows never seen
 * active still go to their nearest type. */
static double *row_weights(const Program *p, const double *m2, const size_t *row0)
{
    double *a = calloc(row0[p->n_blocks] + 1, sizeof *a);
    int *uses = calloc((size_t)p->n_blocks + 1, sizeof *uses);
    if (!a || !uses) {
        free(a);
        free(uses);
        return NULL;
    }
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        uses[op->block]++;
        for (int i = 0; i < p->blocks[op->block].rows; i++)
            a[row0[op->block] + i] += op->in[i] == PROGRAM_ZERO ? 0 : m2[op->in[i]];
    }
    for (int b = 0; b < p->n_blocks; b++) {
        double mean = 0;
        const int R = p->blocks[b].rows;
        for (int i = 0; i < R; i++)
            mean += (a[row0[b] + i] /= uses[b] ? uses[b] : 1) / R;
        for (int i = 0; i < R; i++)
            a[row0[b] + i] += 1e-3 * (mean > 0 ? mean : 1);
    }
    free(uses);
    return a;
}

/* Piece q of block b as a typed block of `out`, lossy pieces refitted to
 * their inputs' moments M with the crossbar's spare rows; adds its squared
 * error and the squared weights it replaced. */
static int typed_piece(Program *out, const CoreBlock *b, Piece *q, const int *rows, const double *a,
                       const double *M, const Hw *hw, uint64_t seed, double *err2, double *norm2)
{
    const int R = q->rows, C = q->cols, spare = M && hw->crossbar.rows > R ? hw->crossbar.rows - R : 0;
    const int32_t wmax = (int32_t)(((int64_t)1 << (hw->weights.bits - 1)) - 1);
    int32_t *w = malloc(sizeof *w * (size_t)R * C), *wt = malloc(sizeof *wt * (size_t)(R + spare) * C);
    double *aq = malloc(sizeof *aq * (size_t)R);
    uint8_t *type = malloc((size_t)(R + spare));
    int64_t *bias = malloc(sizeof *bias * (size_t)C);
    q->extra = malloc(sizeof *q->extra * (size_t)(spare + 1));
    q->n_extra = 0;
    int rc = -1;
    if (!w || !wt || !aq || !type || !bias || !q->extra)
        goto out;
    for (int i = 0; i < R; i++) {
        aq[i] = a[rows[i]];
        for (int j = 0; j < C; j++)
            w[(size_t)j * R + i] = b->w[(size_t)(q->c0 + j) * b->rows + rows[i]];
    }
    const int k = hw->weights.axon_types < R ? hw->weights.axon_types : R;
    if (axon_cluster(w, R, C, aq, k, wmax, seed, type, wt) < 0 ||
        (M && axon_refit(w, R, C, type, k, M, wmax, spare, q->extra, type + R, &q->n_extra, wt)))
        goto out;
    const int W = R + q->n_extra;
    for (int j = 0; j < C; j++) {
        for (int i = 0; i < R; i++) { /* a row's weight: its own plus its copies' */
            double v = wt[(size_t)j * W + i];
            for (int e = 0; e < q->n_extra; e++)
                v += q->extra[e] == i ? wt[(size_t)j * W + R + e] : 0;
            double d = v - w[(size_t)j * R + i];
            *err2 += d * d;
            *norm2 += (double)w[(size_t)j * R + i] * w[(size_t)j * R + i];
        }
        bias[j] = b->bias[q->c0 + j];
    }
    q->block = program_add_block(out, W, C, wt, bias, b->shift, b->act);
    if (q->block >= 0 && !program_set_axon_types(out, q->block, type)) {
        out->blocks[q->block].adc_full = b->adc_full;
        rc = 0;
    }
out:
    free(w);
    free(wt);
    free(aq);
    free(type);
    free(bias);
    return rc;
}

/* Every op as one op per piece of its block, in column order (so the
 * neurons keep their ids), into q. */
static int add_ops(Program *q, const Program *p, const Plan *pl, const int *first_piece, int32_t *in)
{
    for (int o = 0; o < p->n_ops; o++) {
        const CoreOp *op = &p->ops[o];
        for (int i = first_piece[op->block]; i < first_piece[op->block + 1]; i++) {
            const Piece *pc = &pl->piece[i];
            for (int r = 0; r < pc->rows; r++)
                in[r] = op->in[pl->row[pc->row_at + r]];
            for (int e = 0; e < pc->n_extra; e++) /* copies of rows, with other types */
                in[pc->rows + e] = in[pc->extra[e]];
            if (program_add_op(q, pc->block, in, op->part, op->group) < 0)
                return -1;
        }
    }
    q->input_shift = p->input_shift;
    q->n_groups = p->n_groups;
    return program_set_outputs(q, p->outputs, p->n_outputs);
}

int assign_axon_types(Program **pp, const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib,
                      double *rel_error, char *err, size_t errlen)
{
    const Program *p = *pp;
    if (p->is_float || !fp->is_float || fp->n_neurons != p->n_neurons || fp->n_ops != p->n_ops)
        return errf(err, errlen, "axon types: needs an integer program and the float program it came from");
    const int k = hw->weights.axon_types > 0 ? hw->weights.axon_types : 1;
    const size_t NB = (size_t)p->n_blocks;
    int max_r = 1, max_c = 1;
    size_t *row0 = malloc(sizeof *row0 * (NB + 1));
    for (size_t b = 0; row0 && b <= NB; b++) {
        row0[b] = b ? row0[b - 1] + (size_t)p->blocks[b - 1].rows : 0;
        max_r = b < NB && p->blocks[b].rows > max_r ? p->blocks[b].rows : max_r;
        max_c = b < NB && p->blocks[b].cols > max_c ? p->blocks[b].cols : max_c;
    }
    double *m2 = malloc(sizeof *m2 * (size_t)(p->n_neurons ? p->n_neurons : 1)), *a = NULL, **M = NULL;
    int *first_piece = malloc(sizeof *first_piece * (NB + 1));
    const int max_in = max_r > hw->crossbar.rows ? max_r : hw->crossbar.rows;
    int32_t *in = malloc(sizeof *in * (size_t)max_in);
    PlanScratch t = {malloc(sizeof(int) * max_r), malloc(sizeof(int) * max_r), malloc(sizeof(int) * max_r),
                     malloc(sizeof(int) * (max_c + 1)), malloc(sizeof(int) * max_r), malloc(sizeof(int) * max_r)};
    Plan pl = {0};
    Program *q = program_create(p->n_inputs, p->io_bits);
    double err2 = 0, norm2 = 0;
    int rc = row0 && m2 && first_piece && in && t.cls && t.rep && t.first && t.span && t.owner && t.seen && q ? 0 : -1;
    for (size_t b = 0; !rc && b < NB; b++) {
        first_piece[b] = pl.n;
        rc = plan_block(&p->blocks[b], k, &pl, &t);
    }
    if (!rc) {
        first_piece[NB] = pl.n;
        M = calloc((size_t)pl.n + 1, sizeof *M);
        rc = M ? 0 : -1;
    }
    for (int i = 0; !rc && i < pl.n; i++) /* lossy pieces get their inputs' second moments */
        if (!pl.piece[i].exact && !(M[i] = calloc((size_t)pl.piece[i].rows * pl.piece[i].rows, sizeof **M)))
            rc = -1;
    if (!rc && n_calib > 0)
        rc = calibrate_inputs(fp, p, &pl, first_piece, calib, n_calib, m2, M);
    for (int i = 0; !rc && n_calib < 1 && i < pl.n; i++) { /* no data: every input alike, no refit */
        free(M[i]);
        M[i] = NULL;
    }
    for (int i = 0; !rc && n_calib < 1 && i < p->n_neurons; i++)
        m2[i] = 1;
    if (!rc && !(a = row_weights(p, m2, row0)))
        rc = -1;
    for (size_t b = 0; !rc && b < NB; b++)
        for (int i = first_piece[b]; !rc && i < first_piece[b + 1]; i++)
            rc = typed_piece(q, &p->blocks[b], &pl.piece[i], pl.row + pl.piece[i].row_at, a + row0[b], M[i],
                             hw, hw->tune.seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL, &err2, &norm2);
    if (!rc)
        rc = add_ops(q, p, &pl, first_piece, in);
    for (int i = 0; i < pl.n; i++) {
        free(M ? M[i] : NULL);
        free(pl.piece[i].extra);
    }
    free(M);
    free(row0);
    free(m2);
    free(a);
    free(first_piece);
    free(in);
    free(t.cls), free(t.rep), free(t.first), free(t.span), free(t.owner), free(t.seen);
    free(pl.piece);
    free(pl.row);
    if (rc) {
        program_free(q);
        return errf(err, errlen, "axon types: out of memory (%d blocks, %d pieces)", p->n_blocks, pl.n);
    }
    if (rel_error)
        *rel_error = norm2 > 0 ? sqrt(err2 / norm2) : 0;
    program_free(*pp);
    *pp = q;
    return 0;
}
