/* Row keys (map_rows.h): (neuron, axon type) pairs, each op's distinct
 * keys, and each key's readers, as two compressed lists. */
#include <stdlib.h>
#include <string.h>

#include "map_rows.h"

void op_rows_free(OpRows *r)
{
    free(r->key_neuron);
    free(r->start);
    free(r->key);
    free(r->rstart);
    free(r->reader);
    memset(r, 0, sizeof *r);
}

static int type_of(const CoreBlock *b, int i) { return b->axon_type ? b->axon_type[i] : 0; }

int op_rows_build(const Program *p, OpRows *r)
{
    memset(r, 0, sizeof *r);
    r->n_ops = p->n_ops;
    size_t nn = (size_t)(p->n_neurons ? p->n_neurons : 1);
    /* Key of (v, t) = first[v] + t, where neuron v is read with types 0 .. span−1. */
    int32_t *first = malloc(sizeof *first * (nn + 1));
    int64_t total = 0;
    if (!first)
        return -1;
    memset(first, 0, sizeof *first * (nn + 1));
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        total += b->rows;
        for (int i = 0; i < b->rows; i++) {
            int32_t v = p->ops[k].in[i];
            if (v != PROGRAM_ZERO && type_of(b, i) + 1 > first[v])
                first[v] = type_of(b, i) + 1; /* the span, for now */
        }
    }
    int64_t keys = 0;
    for (size_t v = 0; v < nn; v++) {
        int32_t span = first[v];
        first[v] = (int32_t)keys;
        keys += span;
    }
    first[nn] = (int32_t)(keys < INT32_MAX ? keys : INT32_MAX);
    if (keys > INT32_MAX - 1) {
        free(first);
        return -1;
    }
    r->n_keys = (int32_t)keys;
    size_t nk = (size_t)(keys ? keys : 1), nt = (size_t)(total ? total : 1);
    r->key_neuron = malloc(sizeof *r->key_neuron * nk);
    r->start = malloc(sizeof *r->start * ((size_t)p->n_ops + 1));
    r->key = malloc(sizeof *r->key * nt);
    r->rstart = calloc(nk + 1, sizeof *r->rstart);
    r->reader = malloc(sizeof *r->reader * nt);
    int32_t *seen = malloc(sizeof *seen * nk); /* op + 1 that last listed the key */
    if (!r->key_neuron || !r->start || !r->key || !r->rstart || !r->reader || !seen) {
        free(first);
        free(seen);
        op_rows_free(r);
        return -1;
    }
    for (size_t v = 0; v < nn; v++)
        for (int32_t q = first[v]; q < first[v + 1]; q++)
            r->key_neuron[q] = (int32_t)v;
    memset(seen, 0, sizeof *seen * nk);
    int64_t n = 0;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        r->start[k] = n;
        for (int i = 0; i < b->rows; i++) {
            int32_t v = p->ops[k].in[i];
            if (v == PROGRAM_ZERO)
                continue;
            int32_t q = first[v] + type_of(b, i);
            if (seen[q] == k + 1)
                continue;
            seen[q] = k + 1;
            r->key[n++] = q;
            r->rstart[q + 1]++;
        }
    }
    r->start[p->n_ops] = n;
    for (size_t q = 0; q < nk; q++)
        r->rstart[q + 1] += r->rstart[q];
    /* Readers in op order, so every list is ascending. */
    int64_t *fill = malloc(sizeof *fill * nk);
    if (!fill) {
        free(first);
        free(seen);
        op_rows_free(r);
        return -1;
    }
    memcpy(fill, r->rstart, sizeof *fill * nk);
    for (int k = 0; k < p->n_ops; k++)
        for (int64_t t = r->start[k]; t < r->start[k + 1]; t++)
            r->reader[fill[r->key[t]]++] = k;
    free(fill);
    free(first);
    free(seen);
    return 0;
}
