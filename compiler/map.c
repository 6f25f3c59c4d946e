/* Mapping (DESIGN.md §2 step 4): core ops onto physical cores, cores onto
 * the chip's mesh.
 *
 * Packing walks the ops of each original node grouped by weight block
 * (positions in raster order) and puts an op on the current core while its columns fit
 * and the union of the core's inputs stays within the rows: a core's rows
 * are shared by all its ops, so neighbouring convolution positions, whose
 * windows overlap, cost few extra rows. Placement lays cores along a
 * serpentine path of the mesh, so consecutive cores (neighbouring layers and
 * positions, which talk most) are adjacent; further chips continue the path
 * to the right. Traffic is the number of (value, receiving core) pairs per
 * image times their Manhattan hops.
 *
 * The lower bound on cores: every neuron needs a column of some crossbar,
 * so no mapping has fewer than ⌈neurons / cols⌉ cores. */
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

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

static const Program *sort_program; /* for by_part_block (qsort has no context) */

/* Packing order: by original node, then weight block, then program order, so
 * the same block at neighbouring positions (overlapping inputs) meet. */
static int by_part_block(const void *x, const void *y)
{
    const CoreOp *a = &sort_program->ops[*(const int *)x], *b = &sort_program->ops[*(const int *)y];
    if (a->part != b->part)
        return a->part < b->part ? -1 : 1;
    if (a->block != b->block)
        return a->block < b->block ? -1 : 1;
    return (*(const int *)x > *(const int *)y) - (*(const int *)x < *(const int *)y);
}

int map_program(const Program *p, const Hw *hw, Mapping *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    const int R = hw->crossbar.rows, C = hw->crossbar.cols;
    int *stamp = calloc((size_t)(p->n_neurons ? p->n_neurons : 1), sizeof *stamp);
    int *order = malloc(sizeof *order * (size_t)(p->n_ops ? p->n_ops : 1));
    m->core_of_op = malloc(sizeof *m->core_of_op * (size_t)(p->n_ops ? p->n_ops : 1));
    if (!stamp || !order || !m->core_of_op) {
        free(stamp);
        free(order);
        mapping_free(m);
        return errf(err, errlen, "out of memory mapping %d core ops", p->n_ops);
    }
    for (int k = 0; k < p->n_ops; k++)
        order[k] = k;
    sort_program = p;
    qsort(order, (size_t)p->n_ops, sizeof *order, by_part_block);
    /* stamp[n] == core + 1: neuron n already has a row on that core. */
    int core = -1, rows = 0, cols = 0;
    double used = 0;
    for (int q = 0; q < p->n_ops; q++) {
        int k = order[q];
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        int fresh = 0;
        for (int i = 0; i < b->rows; i++)
            if (op->in[i] != PROGRAM_ZERO && core >= 0 && stamp[op->in[i]] != core + 1)
                fresh++;
        if (core < 0 || cols + b->cols > C || rows + fresh > R) {
            core++;
            rows = cols = 0;
            fresh = 0;
            for (int i = 0; i < b->rows; i++)
                fresh += op->in[i] != PROGRAM_ZERO && stamp[op->in[i]] != core + 1;
        }
        for (int i = 0; i < b->rows; i++)
            if (op->in[i] != PROGRAM_ZERO)
                stamp[op->in[i]] = core + 1;
        rows += fresh;
        cols += b->cols;
        used += (double)b->rows * b->cols;
        m->core_of_op[k] = core;
    }
    m->n_cores = core + 1;
    m->utilization = m->n_cores ? used / ((double)m->n_cores * R * C) : 0;
    long long neurons = p->n_neurons - p->n_inputs;
    m->lower_bound = (neurons + C - 1) / C;

    /* Serpentine placement: chip after chip along x. */
    m->core_x = malloc(sizeof *m->core_x * (size_t)(m->n_cores ? m->n_cores : 1));
    m->core_y = malloc(sizeof *m->core_y * (size_t)(m->n_cores ? m->n_cores : 1));
    int *of = neuron_ops(p);
    if (!m->core_x || !m->core_y || !of) {
        free(stamp);
        free(order);
        free(of);
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
    /* Traffic: each value travels once to every core that reads it. */
    memset(stamp, 0, sizeof *stamp * (size_t)(p->n_neurons ? p->n_neurons : 1));
    long long traffic = 0;
    for (int q = 0; q < p->n_ops; q++) { /* in packing order: each core's ops together */
        int k = order[q];
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        int c = m->core_of_op[k];
        for (int i = 0; i < b->rows; i++) {
            int32_t n = op->in[i];
            if (n == PROGRAM_ZERO || of[n] < 0 || stamp[n] == c + 1)
                continue;
            stamp[n] = c + 1; /* a core's ops come together, so one stamp per core suffices */
            int src = m->core_of_op[of[n]];
            traffic += abs(m->core_x[src] - m->core_x[c]) + abs(m->core_y[src] - m->core_y[c]);
        }
    }
    m->traffic = traffic;
    free(stamp);
    free(order);
    free(of);
    return 0;
}
