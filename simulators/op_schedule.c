/* op_schedule_make: ops sorted by (level, block, program order); see op_schedule.h. */
#include <stdlib.h>
#include <string.h>

#include "op_schedule.h"

void op_schedule_free(OpSchedule *s)
{
    free(s->order);
    free(s->run_start);
    memset(s, 0, sizeof *s);
}

/* Counting sort of the op indices by key (stable): keys 0 .. n_keys − 1. */
static void sort_by_key(const int *key, int n_keys, const int *in, int *out, int n, int *count)
{
    memset(count, 0, sizeof *count * (size_t)(n_keys + 1));
    for (int t = 0; t < n; t++)
        count[key[in[t]] + 1]++;
    for (int k = 0; k < n_keys; k++)
        count[k + 1] += count[k];
    for (int t = 0; t < n; t++)
        out[count[key[in[t]]]++] = in[t];
}

int op_schedule_make(const Program *p, OpSchedule *s)
{
    memset(s, 0, sizeof *s);
    const size_t ops = (size_t)(p->n_ops > 0 ? p->n_ops : 1);
    int *level = calloc(ops, sizeof *level), *tmp = calloc(ops, sizeof *tmp);
    int *neuron_level = calloc((size_t)(p->n_neurons > 0 ? p->n_neurons : 1), sizeof *neuron_level);
    int keys = (p->n_ops > p->n_blocks ? p->n_ops : p->n_blocks) + 1;
    int *count = malloc(sizeof *count * (size_t)(keys + 1));
    s->order = calloc(ops, sizeof *s->order);
    s->run_start = malloc(sizeof *s->run_start * (ops + 1));
    if (!level || !tmp || !neuron_level || !count || !s->order || !s->run_start) {
        free(level);
        free(tmp);
        free(neuron_level);
        free(count);
        op_schedule_free(s);
        return -1;
    }
    int top = 0;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        const CoreBlock *b = &p->blocks[op->block];
        int l = 0;
        for (int i = 0; i < b->rows; i++)
            if (op->in[i] != PROGRAM_ZERO && neuron_level[op->in[i]] > l)
                l = neuron_level[op->in[i]];
        level[k] = l + 1;
        top = level[k] > top ? level[k] : top;
        for (int j = 0; j < b->cols; j++)
            neuron_level[op->out + j] = l + 1;
    }
    /* by block, then (stably) by level: (level, block, index) order */
    int *block = neuron_level; /* reused: the op's block */
    for (int k = 0; k < p->n_ops; k++) {
        s->order[k] = k;
        block[k] = p->ops[k].block;
    }
    sort_by_key(block, p->n_blocks, s->order, tmp, p->n_ops, count);
    sort_by_key(level, top + 1, tmp, s->order, p->n_ops, count);
    s->n_ops = p->n_ops;
    for (int t = 0; t < p->n_ops; t++) {
        int k = s->order[t], prev = t ? s->order[t - 1] : -1;
        if (!t || level[k] != level[prev] || p->ops[k].block != p->ops[prev].block)
            s->run_start[s->n_runs++] = t;
    }
    s->run_start[s->n_runs] = p->n_ops;
    free(level);
    free(tmp);
    free(neuron_level);
    free(count);
    return 0;
}
