/* Mapping (DESIGN.md §2 step 4): core ops onto physical cores, cores onto
 * the chip's mesh.
 *
 * Packing fills one core at a time. It opens a core with the first op not
 * yet placed, in the order of the first neuron each op reads (node by node;
 * a convolution's windows in raster order; a tree level or a split piece
 * right after the op that feeds it), then keeps adding, among the ops that
 * read some row the core already has and still fit (rows: distinct
 * (neuron, axon type) keys, map_rows.h; columns), the one whose inputs the
 * core's ops read most often (Σ over its held keys of the core's readers of
 * each), then the one adding fewest rows, then the earliest. Counting
 * multiplicity, not just shared rows, grows compact 2-D tiles of
 * convolution positions (a 2×3 tile of 5×5 windows reads 42 pixels of
 * each channel where a strip of the same size reads 50), and pulls a
 * tree's levels and a split's merge onto the core that holds what they
 * read. When no reader fits, a later op with no shared row may fill the
 * leftover (the next few in order); then the core closes. A core's
 * "rows + new rows of an op" never falls as the core fills, so an op that
 * did not fit once is dropped from its candidates.
 *
 * Placement lays cores along a serpentine path of the mesh, so consecutive
 * cores (neighbouring layers and positions, which talk most) are adjacent;
 * further chips continue the path to the right. Traffic is the number of
 * (value, receiving core) pairs per image times their Manhattan hops.
 *
 * The lower bound on cores is in map_bound.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "map_rows.h"

void mapping_free(Mapping *m)
{
    free(m->core_of_op);
    free(m->core_x);
    free(m->core_y);
    memset(m, 0, sizeof *m);
}

/* The producer op of every neuron (-1 for inputs). */
static int *neuron_ops(const Program *p)
{
    int *of = malloc(sizeof *of * (size_t)(p->n_neurons ? p->n_neurons : 1));
    if (!of)
        return NULL;
    for (int i = 0; i < p->n_inputs; i++)
        of[i] = -1;
    for (int k = 0; k < p->n_ops; k++)
        for (int j = 0; j < p->blocks[p->ops[k].block].cols; j++)
            of[p->ops[k].out + j] = k;
    return of;
}

typedef struct {
    int op;
    int part;
    int32_t first;
} OrderKey;

static int by_part_first_input(const void *x, const void *y)
{
    const OrderKey *a = x, *b = y;
    if (a->part != b->part)
        return a->part < b->part ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return (a->op > b->op) - (a->op < b->op);
}

/* The packing order (see the top of the file); NULL on OOM. */
static int *packing_order(const Program *p)
{
    OrderKey *key = malloc(sizeof *key * (size_t)(p->n_ops ? p->n_ops : 1));
    int *order = malloc(sizeof *order * (size_t)(p->n_ops ? p->n_ops : 1));
    if (!key || !order) {
        free(key);
        free(order);
        return NULL;
    }
    /* An op's place: the first neuron it reads, where a neuron made by the
     * same node stands for the place of the op that made it, so the levels
     * of a tree or a split follow their first op. Ops read only earlier
     * neurons, so one pass in program order settles every place. */
    int32_t *place = malloc(sizeof *place * (size_t)(p->n_neurons ? p->n_neurons : 1));
    int *part_of = malloc(sizeof *part_of * (size_t)(p->n_neurons ? p->n_neurons : 1));
    if (!place || !part_of) {
        free(key);
        free(order);
        free(place);
        free(part_of);
        return NULL;
    }
    for (int32_t i = 0; i < p->n_neurons; i++) {
        place[i] = i;
        part_of[i] = -1;
    }
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        int32_t first = INT32_MAX;
        for (int i = 0; i < b->rows; i++) {
            int32_t v = op->in[i];
            if (v == PROGRAM_ZERO)
                continue;
            int32_t at = part_of[v] == op->part ? place[v] : v;
            first = at < first ? at : first;
        }
        key[k] = (OrderKey){k, op->part, first};
        for (int j = 0; j < b->cols; j++) {
            place[op->out + j] = first;
            part_of[op->out + j] = op->part;
        }
    }
    free(place);
    free(part_of);
    qsort(key, (size_t)p->n_ops, sizeof *key, by_part_first_input);
    for (int k = 0; k < p->n_ops; k++)
        order[k] = key[k].op;
    free(key);
    return order;
}

#define FILL_LOOKAHEAD 64 /* ops without a shared row tried to fill a core */
#define HUB_READERS 32   /* overlap counts a key read more widely once (cost) */
#define NEAR_READERS 64 /* ... and only its readers this near in the program become candidates */

typedef struct {
    const Program *p;
    OpRows *r;         /* its reader lists are consumed */
    int R, C;
    int *core_of_op;   /* -1: not placed yet */
    int n_cores;
    int rows, cols;    /* of the core being filled (n_cores − 1) */
    int32_t *held;     /* per key: core + 1 when that core has the row */
    int32_t *mult;     /* per held key: the core's ops reading it */
    int32_t *live;     /* per key: its readers not packed yet, at the head of its list */
    int32_t *cand_of;  /* per op: core + 1 once it became that core's candidate */
    int32_t *shared;   /* per candidate: its keys the core holds */
    int64_t *overlap;  /* per candidate: Σ over those keys of mult */
    int32_t *cand;
    int n_cand;
    int *rank;         /* per op: its place in the packing order */
    int *nxt;          /* per place: the next place not packed (path halving) */
} Packer;

static int next_free(int *nxt, int q)
{
    while (nxt[q] != q) {
        nxt[q] = nxt[nxt[q]];
        q = nxt[q];
    }
    return q;
}

static void add_op(Packer *pk, int k)
{
    OpRows *r = pk->r;
    int32_t tag = pk->n_cores;
    for (int64_t t = r->start[k]; t < r->start[k + 1]; t++) {
        int32_t q = r->key[t];
        int fresh = pk->held[q] != tag;
        if (fresh) {
            pk->held[q] = tag;
            pk->mult[q] = 0;
            pk->rows++;
        }
        pk->mult[q]++;
        int32_t *rd = r->reader + r->rstart[q], kept = 0, lo = 0, hi = pk->live[q];
        int hub = pk->live[q] > HUB_READERS;
        if (hub && !fresh)
            continue; /* its readers' overlap counts this key once */
        if (hub) { /* only the readers nearest k in the program (binary search) */
            int32_t a = 0, b = hi;
            while (a < b) {
                int32_t mid = a + (b - a) / 2;
                if (rd[mid] < k)
                    a = mid + 1;
                else
                    b = mid;
            }
            lo = a > NEAR_READERS ? a - NEAR_READERS : 0;
            hi = a + NEAR_READERS < hi ? a + NEAR_READERS : hi;
        }
        /* Packed readers leave the list as it is walked (it keeps its order). */
        for (int32_t u = lo; u < hi; u++) {
            int32_t j = rd[u];
            if (pk->core_of_op[j] >= 0)
                continue;
            if (!hub)
                rd[kept++] = j;
            if (j == k)
                continue;
            if (pk->cand_of[j] != tag) {
                pk->cand_of[j] = tag;
                pk->shared[j] = 0;
                pk->overlap[j] = 0;
                pk->cand[pk->n_cand++] = j;
            }
            pk->shared[j] += fresh;
            pk->overlap[j]++;
        }
        if (!hub)
            pk->live[q] = kept;
    }
    pk->cols += pk->p->blocks[pk->p->ops[k].block].cols;
    pk->core_of_op[k] = pk->n_cores - 1;
    pk->nxt[pk->rank[k]] = pk->rank[k] + 1;
}

/* The new rows op j would add to the current core. */
static int new_rows(const Packer *pk, int j)
{
    return op_row_count(pk->r, j) - (pk->cand_of[j] == pk->n_cores ? pk->shared[j] : 0);
}

static int fits(const Packer *pk, int j)
{
    return pk->rows + new_rows(pk, j) <= pk->R && pk->cols + pk->p->blocks[pk->p->ops[j].block].cols <= pk->C;
}

/* Is candidate j better than b? (top of the file) */
static int better(const Packer *pk, int j, int b)
{
    if (pk->overlap[j] != pk->overlap[b])
        return pk->overlap[j] > pk->overlap[b];
    if (new_rows(pk, j) != new_rows(pk, b))
        return new_rows(pk, j) < new_rows(pk, b);
    return pk->rank[j] < pk->rank[b];
}

/* The best candidate that fits (top of the file), or -1; drops the rest. */
static int pick_candidate(Packer *pk)
{
    int best = -1, kept = 0;
    for (int i = 0; i < pk->n_cand; i++) {
        int j = pk->cand[i];
        if (pk->core_of_op[j] >= 0 || !fits(pk, j))
            continue;
        pk->cand[kept++] = j;
        if (best < 0 || better(pk, j, best))
            best = j;
    }
    pk->n_cand = kept;
    return best;
}

/* The first of the next few unpacked ops in order that fits, or -1. */
static int pick_filler(Packer *pk, const int *order, int n)
{
    int q = next_free(pk->nxt, 0);
    for (int tried = 0; q < n && tried < FILL_LOOKAHEAD; tried++, q = next_free(pk->nxt, q + 1))
        if (fits(pk, order[q]))
            return order[q];
    return -1;
}

static void packer_free(Packer *pk)
{
    free(pk->held);
    free(pk->mult);
    free(pk->live);
    free(pk->cand_of);
    free(pk->shared);
    free(pk->overlap);
    free(pk->cand);
    free(pk->rank);
    free(pk->nxt);
}

/* Packs every op (top of the file); the number of cores, or -1 on OOM.
 * Reorders r's reader lists. */
static int pack(const Program *p, OpRows *r, const int *order, int R, int C, int *core_of_op)
{
    Packer pk = {.p = p, .r = r, .R = R, .C = C, .core_of_op = core_of_op};
    size_t nk = (size_t)(r->n_keys ? r->n_keys : 1), no = (size_t)(p->n_ops ? p->n_ops : 1);
    pk.held = calloc(nk, sizeof *pk.held);
    pk.mult = malloc(sizeof *pk.mult * nk);
    pk.live = malloc(sizeof *pk.live * nk);
    pk.cand_of = calloc(no, sizeof *pk.cand_of);
    pk.shared = malloc(sizeof *pk.shared * no);
    pk.overlap = malloc(sizeof *pk.overlap * no);
    pk.cand = malloc(sizeof *pk.cand * no);
    pk.rank = malloc(sizeof *pk.rank * no);
    pk.nxt = calloc(no + 1, sizeof *pk.nxt);
    if (!pk.held || !pk.mult || !pk.live || !pk.cand_of || !pk.shared || !pk.overlap || !pk.cand || !pk.rank || !pk.nxt) {
        packer_free(&pk);
        return -1;
    }
    for (int q = 0; q < p->n_ops; q++) {
        pk.rank[order[q]] = q;
        core_of_op[q] = -1;
    }
    for (int q = 0; q <= p->n_ops; q++)
        pk.nxt[q] = q;
    for (int32_t q = 0; q < r->n_keys; q++)
        pk.live[q] = (int32_t)(r->rstart[q + 1] - r->rstart[q]);
    for (int q = next_free(pk.nxt, 0); q < p->n_ops; q = next_free(pk.nxt, q)) {
        pk.n_cores++; /* a new core, seeded by the first op not packed */
        pk.rows = pk.cols = 0;
        pk.n_cand = 0;
        for (int k = order[q]; k >= 0;) {
            add_op(&pk, k);
            k = pick_candidate(&pk);
            if (k < 0)
                k = pick_filler(&pk, order, p->n_ops);
        }
    }
    packer_free(&pk);
    return pk.n_cores;
}

int map_program(const Program *p, const Hw *hw, Mapping *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    const int R = hw->crossbar.rows, C = hw->crossbar.cols;
    OpRows rows;
    int have_rows = op_rows_build(p, &rows) == 0;
    int *order = packing_order(p);
    m->core_of_op = malloc(sizeof *m->core_of_op * (size_t)(p->n_ops ? p->n_ops : 1));
    m->lower_bound = have_rows ? map_lower_bound(p, &rows, R, C) : -1; /* before pack() consumes rows */
    m->n_cores = m->lower_bound >= 0 && order && m->core_of_op ? pack(p, &rows, order, R, C, m->core_of_op) : -1;
    if (have_rows)
        op_rows_free(&rows);
    if (m->n_cores < 0 || m->lower_bound < 0) {
        free(order);
        mapping_free(m);
        return errf(err, errlen, "out of memory mapping %d core ops", p->n_ops);
    }
    double used = 0;
    for (int k = 0; k < p->n_ops; k++)
        used += (double)p->blocks[p->ops[k].block].rows * p->blocks[p->ops[k].block].cols;
    m->utilization = m->n_cores ? used / ((double)m->n_cores * R * C) : 0;

    /* Serpentine placement: chip after chip along x. */
    m->core_x = malloc(sizeof *m->core_x * (size_t)(m->n_cores ? m->n_cores : 1));
    m->core_y = malloc(sizeof *m->core_y * (size_t)(m->n_cores ? m->n_cores : 1));
    int *of = neuron_ops(p);
    int *seen = calloc((size_t)(p->n_neurons ? p->n_neurons : 1), sizeof *seen);
    if (!m->core_x || !m->core_y || !of || !seen) {
        free(order);
        free(of);
        free(seen);
        mapping_free(m);
        return errf(err, errlen, "out of memory placing %d cores", m->n_cores);
    }
    const int X = hw->chip.mesh_x, Y = hw->chip.mesh_y, per_chip = hw->chip.cores;
    for (int c = 0; c < m->n_cores; c++) {
        int chip = c / per_chip, i = c % per_chip, row = i / X, col = i % X;
        m->core_x[c] = chip * X + (row % 2 ? X - 1 - col : col);
        m->core_y[c] = row % Y;
    }
    m->chips = (m->n_cores + per_chip - 1) / per_chip;
    /* Traffic: each value travels once to every core that reads it. Cores
     * are visited one after another, so one stamp per neuron suffices. */
    int *ops_by_core = malloc(sizeof *ops_by_core * (size_t)(p->n_ops ? p->n_ops : 1));
    int *start = calloc((size_t)m->n_cores + 1, sizeof *start);
    if (!ops_by_core || !start) {
        free(order);
        free(of);
        free(seen);
        free(ops_by_core);
        free(start);
        mapping_free(m);
        return errf(err, errlen, "out of memory placing %d cores", m->n_cores);
    }
    for (int k = 0; k < p->n_ops; k++)
        start[m->core_of_op[k] + 1]++;
    for (int c = 0; c < m->n_cores; c++)
        start[c + 1] += start[c];
    for (int k = 0; k < p->n_ops; k++)
        ops_by_core[start[m->core_of_op[k]]++] = k;
    long long traffic = 0;
    for (int q = 0; q < p->n_ops; q++) {
        int k = ops_by_core[q], c = m->core_of_op[k];
        const CoreOp *op = &p->ops[k];
        for (int i = 0; i < p->blocks[op->block].rows; i++) {
            int32_t n = op->in[i];
            if (n == PROGRAM_ZERO || of[n] < 0 || seen[n] == c + 1)
                continue;
            seen[n] = c + 1;
            int src = m->core_of_op[of[n]];
            traffic += abs(m->core_x[src] - m->core_x[c]) + abs(m->core_y[src] - m->core_y[c]);
        }
    }
    m->traffic = traffic;
    free(order);
    free(of);
    free(seen);
    free(ops_by_core);
    free(start);
    return 0;
}
