/* op_schedule_make: ops sorted by (level, block, program order); see op_schedule.h. */
#include <stdlib.h>
#include <string.h>

#include "op_schedule.h"

void op_schedule_free(OpSchedule *s)
{
    free(s->order);
    free(s->run_start);
    free(s->out);
    free(s->in);
    free(s->first);
    memset(s, 0, sizeof *s);
}

/* Free slot ranges, sorted by start, coalesced. */
typedef struct {
    int32_t *start, *len;
    int n, cap;
    int32_t end; /* slots ever used: 0 .. end − 1 */
} FreeList;

/* First fit, else grow at the end. -1 on OOM. */
static int32_t slots_take(FreeList *f, int32_t len)
{
    for (int t = 0; t < f->n; t++)
        if (f->len[t] >= len) {
            int32_t at = f->start[t];
            f->start[t] += len;
            f->len[t] -= len;
            if (!f->len[t]) {
                memmove(f->start + t, f->start + t + 1, sizeof *f->start * (size_t)(f->n - t - 1));
                memmove(f->len + t, f->len + t + 1, sizeof *f->len * (size_t)(f->n - t - 1));
                f->n--;
            }
            return at;
        }
    if (f->n && f->start[f->n - 1] + f->len[f->n - 1] == f->end) { /* extend the last free range */
        int32_t at = f->start[f->n - 1];
        f->end = at + len;
        f->n--;
        return at;
    }
    int32_t at = f->end;
    f->end += len;
    return at;
}

static int slots_give(FreeList *f, int32_t at, int32_t len)
{
    int t = 0;
    while (t < f->n && f->start[t] < at)
        t++;
    int after = t < f->n && at + len == f->start[t], before = t > 0 && f->start[t - 1] + f->len[t - 1] == at;
    if (before && after) {
        f->len[t - 1] += len + f->len[t];
        memmove(f->start + t, f->start + t + 1, sizeof *f->start * (size_t)(f->n - t - 1));
        memmove(f->len + t, f->len + t + 1, sizeof *f->len * (size_t)(f->n - t - 1));
        f->n--;
    } else if (before) {
        f->len[t - 1] += len;
    } else if (after) {
        f->start[t] = at;
        f->len[t] += len;
    } else {
        if (f->n == f->cap) {
            int cap = f->cap ? 2 * f->cap : 64;
            int32_t *s = realloc(f->start, sizeof *s * (size_t)cap);
            if (s)
                f->start = s;
            int32_t *l = realloc(f->len, sizeof *l * (size_t)cap);
            if (l)
                f->len = l;
            if (!s || !l)
                return -1;
            f->cap = cap;
        }
        memmove(f->start + t + 1, f->start + t, sizeof *f->start * (size_t)(f->n - t));
        memmove(f->len + t + 1, f->len + t, sizeof *f->len * (size_t)(f->n - t));
        f->start[t] = at;
        f->len[t] = len;
        f->n++;
    }
    return 0;
}

/* Slots for every op's outputs in schedule order; a range is given back
 * after the last run reading it (never read: after its own run). The rows
 * are then rewritten to slots. 0, or -1 on OOM. */
static int assign_slots(const Program *p, OpSchedule *s)
{
    const size_t ops = (size_t)(p->n_ops > 0 ? p->n_ops : 1);
    size_t rows = 0;
    for (int k = 0; k < p->n_ops; k++)
        rows += (size_t)p->blocks[p->ops[k].block].rows;
    s->out = malloc(sizeof *s->out * ops);
    s->first = malloc(sizeof *s->first * ops);
    s->in = malloc(sizeof *s->in * (rows ? rows : 1));
    int *run_of = malloc(sizeof *run_of * ops), *last = malloc(sizeof *last * (ops + 1));
    int32_t *slot = malloc(sizeof *slot * (size_t)(p->n_neurons > 0 ? p->n_neurons : 1));
    int *free_at = malloc(sizeof *free_at * (ops + 1)), *next = malloc(sizeof *next * (ops + 1));
    int *head = malloc(sizeof *head * (size_t)(s->n_runs + 1));
    FreeList fl = {NULL, NULL, 0, 0, 0};
    int rc = -1;
    if (!s->out || !s->first || !s->in || !run_of || !last || !slot || !free_at || !next || !head)
        goto done;
    /* the last run reading each op's outputs (op n_ops: the inputs) */
    for (int r = 0; r < s->n_runs; r++)
        for (int t = s->run_start[r]; t < s->run_start[r + 1]; t++)
            run_of[s->order[t]] = r;
    for (int k = 0; k <= p->n_ops; k++)
        last[k] = k < p->n_ops ? run_of[k] : 0;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        for (int j = 0; j < b->cols; j++)
            slot[p->ops[k].out + j] = k; /* for now: the producing op */
    }
    for (int i = 0; i < p->n_inputs; i++)
        slot[i] = p->n_ops;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        for (int i = 0; i < b->rows; i++)
            if (p->ops[k].in[i] != PROGRAM_ZERO && last[slot[p->ops[k].in[i]]] < run_of[k])
                last[slot[p->ops[k].in[i]]] = run_of[k];
    }
    /* ranges to give back after each run: lists by run */
    for (int r = 0; r <= s->n_runs; r++)
        head[r] = -1;
    for (int k = 0; k <= p->n_ops; k++) {
        next[k] = head[last[k]];
        head[last[k]] = k;
    }
    int32_t input_at = slots_take(&fl, p->n_inputs);
    for (int r = 0; r < s->n_runs; r++) {
        for (int t = s->run_start[r]; t < s->run_start[r + 1]; t++) {
            const int k = s->order[t];
            const CoreBlock *b = &p->blocks[p->ops[k].block];
            s->out[k] = b->act == CORE_LINEAR ? -1 : slots_take(&fl, b->cols);
        }
        for (int k = head[r]; k >= 0; k = next[k]) {
            const int32_t len = k < p->n_ops ? p->blocks[p->ops[k].block].cols : p->n_inputs;
            const int32_t at = k < p->n_ops ? s->out[k] : input_at;
            if (at >= 0 && len > 0 && slots_give(&fl, at, len))
                goto done;
        }
    }
    s->n_slots = fl.end;
    /* rows to slots */
    size_t at = 0;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        s->first[k] = at;
        for (int i = 0; i < b->rows; i++) {
            const int32_t n = p->ops[k].in[i];
            if (n == PROGRAM_ZERO)
                s->in[at++] = PROGRAM_ZERO;
            else if (n < p->n_inputs)
                s->in[at++] = input_at + n;
            else {
                const int src = slot[n];
                s->in[at++] = s->out[src] + (n - p->ops[src].out);
            }
        }
    }
    rc = 0;
done:
    free(run_of);
    free(last);
    free(slot);
    free(free_at);
    free(next);
    free(head);
    free(fl.start);
    free(fl.len);
    return rc;
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
    if (assign_slots(p, s)) {
        op_schedule_free(s);
        return -1;
    }
    return 0;
}
