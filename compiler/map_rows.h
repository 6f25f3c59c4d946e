/* Mapping's internals (compiler/map*.c), shared by packing and the bound.
 *
 * A crossbar row carries one input neuron with one axon type: two core ops
 * on a core share a physical row only when they read the same neuron with
 * the same type (CoreBlock.axon_type; NULL = type 0 for every row). Each
 * such (neuron, type) pair is a row key, numbered neuron by neuron. */
#ifndef COMPILER_MAP_ROWS_H
#define COMPILER_MAP_ROWS_H

#include <stdint.h>

#include "program.h"

typedef struct {
    int n_ops;
    int32_t n_keys;
    int32_t *key_neuron;  /* [n_keys]: the neuron a key reads */
    int64_t *start;       /* [n_ops + 1]: op k's distinct keys are key[start[k] .. start[k+1]) */
    int32_t *key;
    int64_t *rstart;      /* [n_keys + 1]: the ops reading key r are reader[rstart[r] ..) */
    int32_t *reader;      /* ascending */
} OpRows;

/* Every op's distinct row keys (constant-0 rows need none) and every key's
 * readers. 0, or -1 on OOM (r is then empty). */
int op_rows_build(const Program *p, OpRows *r);
void op_rows_free(OpRows *r);

static inline int op_row_count(const OpRows *r, int k) { return (int)(r->start[k + 1] - r->start[k]); }

/* No mapping of p onto R×C crossbars has fewer cores (map_bound.c, proof
 * there). -1 on OOM. */
long long map_lower_bound(const Program *p, const OpRows *r, int R, int C);

#endif
