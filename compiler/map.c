/* Mapping (DESIGN.md §2 step 4): core ops onto physical cores, cores onto
 * the chip's mesh.
 *
 * Packing visits the ops of each original node in order of the first
 * neuron they read (for a convolution: raster order of its windows; for a
 * max-pooling tree: each window's levels together) and keeps a few cores
 * open. An op goes to the open core where its columns fit and that already
 * holds most of its inputs (a core's rows are shared by all its ops, so
 * neighbouring convolution positions, whose windows overlap, cost few extra
 * rows; a tree level reads what the level before it fed back); ties go to
 * the fullest core. With OPEN_CORES at least a row of positions, windows
 * end up in 2-D tiles rather than strips. When nothing fits, a new core
 * opens and the least recently used one closes.
 *
 * Placement lays cores along a serpentine path of the mesh, so consecutive
 * cores (neighbouring layers and positions, which talk most) are adjacent;
 * further chips continue the path to the right. Traffic is the number of
 * (value, receiving core) pairs per image times their Manhattan hops.
 *
 * Lower bound on cores (holds for any mapping of this program). Every
 * neuron needs a column: cores ≥ Σ cols / C. And rows: let F_i be the ops
 * reading neuron i and s_i = min(|F_i|, ⌊C / min_{k∈F_i} cols_k⌋), the most
 * of them one core can hold by columns. Give op k the row share
 * ρ_k = Σ_{i∈in_k} 1/s_i. On any core S each neuron it reads is counted by
 * at most s_i of its ops, so Σ_{k∈S} ρ_k ≤ |rows of S| ≤ R, and
 * cores ≥ Σ ρ_k / R. The bound is the larger of the two. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

#define OPEN_CORES 64 /* one bit each in a neuron's mask */

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

/* An open core: a slot whose bit marks the neurons it has rows for. */
typedef struct {
    int core;          /* -1: free slot */
    int rows, cols;
    long last_use;
    int32_t *held;     /* the neurons on its rows */
} Slot;

typedef struct {
    Slot slot[OPEN_CORES];
    uint64_t *mask;    /* per neuron: the slots holding it */
    int shared[OPEN_CORES];
    int n_cores;
} Packer;

static void close_slot(Packer *pk, int s)
{
    Slot *sl = &pk->slot[s];
    for (int i = 0; i < sl->rows; i++)
        pk->mask[sl->held[i]] &= ~(UINT64_C(1) << s);
    sl->core = -1;
    sl->rows = sl->cols = 0;
}

/* The slot for op (rows in[0..r), c columns): fits and shares most rows. */
static int choose_slot(Packer *pk, const int32_t *in, int r, int c, int R, int C, long now)
{
    memset(pk->shared, 0, sizeof pk->shared);
    int distinct = 0; /* inputs, duplicates and constants aside */
    for (int i = 0; i < r; i++) {
        if (in[i] == PROGRAM_ZERO)
            continue;
        distinct++;
        for (uint64_t m = pk->mask[in[i]]; m; m &= m - 1)
            pk->shared[__builtin_ctzll(m)]++;
    }
    int best = -1;
    for (int s = 0; s < OPEN_CORES; s++) {
        const Slot *sl = &pk->slot[s];
        if (sl->core < 0 || sl->cols + c > C || sl->rows + distinct - pk->shared[s] > R)
            continue;
        if (best < 0 || pk->shared[s] > pk->shared[best] ||
            (pk->shared[s] == pk->shared[best] && sl->cols > pk->slot[best].cols))
            best = s;
    }
    if (best >= 0)
        return best;
    /* A new core in a free slot, or in place of the least recently used. */
    for (int s = 0; s < OPEN_CORES && best < 0; s++)
        if (pk->slot[s].core < 0)
            best = s;
    if (best < 0) {
        best = 0;
        for (int s = 1; s < OPEN_CORES; s++)
            if (pk->slot[s].last_use < pk->slot[best].last_use)
                best = s;
    }
    if (pk->slot[best].core >= 0)
        close_slot(pk, best);
    pk->slot[best].core = pk->n_cores++;
    pk->slot[best].last_use = now;
    pk->shared[best] = 0;
    return best;
}

static void put_op(Packer *pk, int s, const int32_t *in, int r, int c, long now)
{
    Slot *sl = &pk->slot[s];
    uint64_t bit = UINT64_C(1) << s;
    for (int i = 0; i < r; i++)
        if (in[i] != PROGRAM_ZERO && !(pk->mask[in[i]] & bit)) {
            pk->mask[in[i]] |= bit;
            sl->held[sl->rows++] = in[i];
        }
    sl->cols += c;
    sl->last_use = now;
}

static int pack(const Program *p, const int *order, int R, int C, int *core_of_op)
{
    Packer pk;
    memset(&pk, 0, sizeof pk);
    int rc = 0;
    pk.mask = calloc((size_t)(p->n_neurons ? p->n_neurons : 1), sizeof *pk.mask);
    rc = pk.mask ? 0 : -1;
    for (int s = 0; s < OPEN_CORES; s++) {
        pk.slot[s].core = -1;
        pk.slot[s].held = malloc(sizeof *pk.slot[s].held * (size_t)R);
        if (!pk.slot[s].held)
            rc = -1;
    }
    for (int q = 0; q < p->n_ops && !rc; q++) {
        int k = order[q];
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        int s = choose_slot(&pk, op->in, b->rows, b->cols, R, C, q);
        put_op(&pk, s, op->in, b->rows, b->cols, q);
        core_of_op[k] = pk.slot[s].core;
    }
    for (int s = 0; s < OPEN_CORES; s++)
        free(pk.slot[s].held);
    free(pk.mask);
    return rc ? -1 : pk.n_cores;
}

/* The larger of the column and row bounds (top of the file); -1 on OOM. */
static long long cores_lower_bound(const Program *p, int R, int C)
{
    size_t n = (size_t)(p->n_neurons ? p->n_neurons : 1);
    int *readers = calloc(n, sizeof *readers), *min_cols = malloc(sizeof *min_cols * n);
    if (!readers || !min_cols) {
        free(readers);
        free(min_cols);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        min_cols[i] = C;
    double cols = 0, rows = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < p->n_ops; k++) {
            const CoreOp *op = &p->ops[k];
            const CoreBlock *b = &p->blocks[op->block];
            if (pass == 1)
                cols += b->cols;
            for (int i = 0; i < b->rows; i++) {
                int32_t v = op->in[i];
                if (v == PROGRAM_ZERO)
                    continue;
                if (pass == 0) {
                    readers[v]++;
                    min_cols[v] = b->cols < min_cols[v] ? b->cols : min_cols[v];
                } else {
                    int s = C / min_cols[v] < readers[v] ? C / min_cols[v] : readers[v];
                    rows += 1.0 / (s > 0 ? s : 1);
                }
            }
        }
    free(readers);
    free(min_cols);
    /* Rounded down first by a hair: the sums of 1/s_i carry rounding error. */
    double bound = cols / C > rows / R ? cols / C : rows / R;
    long long whole = (long long)(bound - 1e-9);
    return whole + (bound - 1e-9 > (double)whole);
}

int map_program(const Program *p, const Hw *hw, Mapping *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    const int R = hw->crossbar.rows, C = hw->crossbar.cols;
    int *order = packing_order(p);
    m->core_of_op = malloc(sizeof *m->core_of_op * (size_t)(p->n_ops ? p->n_ops : 1));
    m->n_cores = order && m->core_of_op ? pack(p, order, R, C, m->core_of_op) : -1;
    m->lower_bound = m->n_cores < 0 ? -1 : cores_lower_bound(p, R, C);
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
