/* Relay neurons (DESIGN.md §1, §2): a chip whose neurons may feed only
 * `crossbar.fanout` cores needs copies of any value read more widely. Each
 * such neuron gets a relay core op right after its producer: one row reading
 * it, one column per copy, weight 1 and the chip's ReLU, which is exact
 * because every neuron is non-negative (a pixel or a ReLU output) and a
 * copy keeps its source's scale group. Each reader is then wired to a copy
 * that still has room; a value needing more copies than a core has columns
 * gets a two-level relay tree. Until mapping feeds back, every core op
 * counts as a core (as the verifier counts). */
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

typedef struct {
    int32_t first, n;   /* its copies: new neuron ids first .. first + n − 1 */
    int32_t next;       /* copies handed out so far, in units of readers */
} Copies;

/* One relay op reading `from` with `width` copies (weight 1, ReLU); its first neuron or -1. */
static int32_t relay_op(Program *q, int32_t from, int width, int part, int group)
{
    float *wf = q->is_float ? malloc(sizeof *wf * (size_t)width) : NULL;
    int32_t *wi = q->is_float ? NULL : malloc(sizeof *wi * (size_t)width);
    if (q->is_float ? !wf : !wi) {
        free(wf);
        free(wi);
        return -1;
    }
    for (int c = 0; c < width; c++) {
        if (wf)
            wf[c] = 1;
        else
            wi[c] = 1;
    }
    int blk = q->is_float ? program_add_block_float(q, 1, width, wf, NULL, CORE_RELU)
                          : program_add_block(q, 1, width, wi, NULL, 0, CORE_RELU);
    free(wf);
    free(wi);
    return blk < 0 ? -1 : program_add_op(q, blk, &from, part, group);
}

/* A source needing more copies than a core has columns gets a relay tree:
 * ⌈need / cols⌉ first copies, each feeding one op of up to cols final
 * copies (added one after another, so the final copies are consecutive). */
static int relay_tree(Program *q, int32_t from, int need, int cols, int part, int group, Copies *c)
{
    int m = (need + cols - 1) / cols;
    if (m > cols)
        return -2; /* a third level would be needed */
    int32_t first = relay_op(q, from, m, part, group), copies0 = -1;
    for (int t = 0; first >= 0 && t < m; t++) {
        int32_t got = relay_op(q, first + t, t < m - 1 ? cols : need - (m - 1) * cols, part, group);
        if (got < 0)
            return -1;
        copies0 = t ? copies0 : got;
    }
    if (first < 0)
        return -1;
    *c = (Copies){copies0, need, 0};
    return 0;
}

/* Relay ops for the sources src[0..n) (old ids, already renumbered to new
 * ids in map), each needing need[i] copies; packed block-diagonally into ops
 * of at most `cols` columns, or a tree for a source that needs more. */
static int add_relay_ops(Program *q, const int32_t *src, const int *need, int n, int cols,
                         const int32_t *map, int part, int group, Copies *copies)
{
    for (int i = 0; i < n; i++)
        if (need[i] > cols) {
            int rc = relay_tree(q, map[src[i]], need[i], cols, part, group, &copies[src[i]]);
            if (rc)
                return rc;
        }
    for (int i0 = 0; i0 < n;) {
        if (need[i0] > cols) {
            i0++;
            continue;
        }
        int rows = 0, width = 0;
        while (i0 + rows < n && need[i0 + rows] <= cols && width + need[i0 + rows] <= cols)
            width += need[i0 + rows++];
        int32_t *in = malloc(sizeof *in * (size_t)rows);
        float *wf = q->is_float ? calloc((size_t)rows * width, sizeof *wf) : NULL;
        int32_t *wi = q->is_float ? NULL : calloc((size_t)rows * width, sizeof *wi);
        if (!in || (q->is_float ? !wf : !wi)) {
            free(in);
            free(wf);
            free(wi);
            return -1;
        }
        for (int r = 0, c = 0; r < rows; r++) {
            in[r] = map[src[i0 + r]];
            for (int k = 0; k < need[i0 + r]; k++, c++) {
                if (wf)
                    wf[(size_t)c * rows + r] = 1;
                else
                    wi[(size_t)c * rows + r] = 1;
            }
        }
        int blk = q->is_float ? program_add_block_float(q, rows, width, wf, NULL, CORE_RELU)
                              : program_add_block(q, rows, width, wi, NULL, 0, CORE_RELU);
        int32_t first = blk < 0 ? -1 : program_add_op(q, blk, in, part, group);
        free(in);
        free(wf);
        free(wi);
        if (first < 0)
            return -1;
        for (int r = 0, c = 0; r < rows; r++) {
            copies[src[i0 + r]] = (Copies){first + c, need[i0 + r], 0};
            c += need[i0 + r];
        }
        i0 += rows;
    }
    return 0;
}

int add_relays(const Program *p, int fanout, int cols, Program **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t N = (size_t)(p->n_neurons ? p->n_neurons : 1);
    int *readers = calloc(N, sizeof *readers), *last = malloc(sizeof *last * N), *need = malloc(sizeof *need * N);
    int32_t *map = malloc(sizeof *map * N), *src = malloc(sizeof *src * N), *rows = NULL;
    Copies *copies = calloc(N, sizeof *copies);
    Program *q = p->is_float ? program_create_float(p->n_inputs) : program_create(p->n_inputs, p->io_bits);
    int rc = readers && last && need && map && src && copies && q ? 0 : -1;
    for (size_t i = 0; !rc && i < N; i++)
        last[i] = -1;
    /* Distinct readers of every neuron (an op reading it twice counts once). */
    for (int k = 0; !rc && k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        for (int i = 0; i < p->blocks[op->block].rows; i++) {
            int32_t n = op->in[i];
            if (n != PROGRAM_ZERO && last[n] != k) {
                last[n] = k;
                readers[n]++;
            }
        }
    }
    if (!rc) {
        q->input_shift = p->input_shift;
        for (int i = 0; i < p->n_inputs; i++)
            map[i] = i;
    }
    /* The original blocks keep their indices (and their sharing); relay blocks follow. */
    for (int i = 0; !rc && i < p->n_blocks; i++) {
        const CoreBlock *b = &p->blocks[i];
        if ((p->is_float ? program_add_block_float(q, b->rows, b->cols, b->wf, b->bf, b->act)
                         : program_add_block(q, b->rows, b->cols, b->w, b->bias, b->shift, b->act)) != i)
            rc = -1;
        else if (program_set_axon_types(q, i, b->axon_type))
            rc = -1;
        else {
            q->blocks[i].adc_full = b->adc_full;
            q->blocks[i].expand = b->expand;
        }
    }
    /* Pixels first, then each op followed by the relays of its neurons. */
    for (int k = -1; !rc && k < p->n_ops; k++) {
        int32_t lo = k < 0 ? 0 : p->ops[k].out;
        int32_t hi = k < 0 ? p->n_inputs : lo + p->blocks[p->ops[k].block].cols;
        if (k >= 0) {
            const CoreOp *op = &p->ops[k];
            const CoreBlock *b = &p->blocks[op->block];
            free(rows);
            rows = malloc(sizeof *rows * (size_t)b->rows);
            int blk = rows ? op->block : -1;
            for (int i = 0; rows && i < b->rows; i++) { /* each reader takes a copy with room */
                int32_t n = op->in[i];
                if (n == PROGRAM_ZERO || copies[n].n == 0) {
                    rows[i] = n == PROGRAM_ZERO ? n : map[n];
                    continue;
                }
                int32_t j = i > 0 && op->in[i - 1] == n ? rows[i - 1] : -1;
                for (int r = 0; r < i && j < 0; r++) /* the same op reading n again: same copy */
                    if (op->in[r] == n)
                        j = rows[r];
                if (j < 0) {
                    Copies *c = &copies[n];
                    j = c->first + (c->next / fanout < c->n ? c->next / fanout : c->n - 1);
                    c->next++;
                }
                rows[i] = j;
            }
            int32_t first = blk < 0 ? -1 : program_add_op(q, blk, rows, op->part, op->group);
            if (first < 0) {
                rc = -1;
                break;
            }
            for (int32_t n = lo; n < hi; n++)
                map[n] = first + (n - lo);
        }
        int ns = 0;
        for (int32_t n = lo; n < hi; n++)
            if (readers[n] > fanout) {
                src[ns] = n;
                need[ns++] = (readers[n] + fanout - 1) / fanout;
            }
        if (ns)
            rc = add_relay_ops(q, src, need, ns, cols, map, k < 0 ? 0 : p->ops[k].part,
                               k < 0 ? p->n_groups : p->ops[k].group, copies);
    }
    int32_t *outs = rc ? NULL : malloc(sizeof *outs * (size_t)p->n_outputs);
    for (int i = 0; outs && i < p->n_outputs; i++)
        outs[i] = map[p->outputs[i]];
    if (!rc && (!outs || program_set_outputs(q, outs, p->n_outputs)))
        rc = -1;
    free(outs);
    free(readers);
    free(last);
    free(need);
    free(map);
    free(src);
    free(rows);
    free(copies);
    if (rc) {
        program_free(q);
        return rc == -2 ? errf(err, errlen, "a neuron is read by more cores than two levels of relays of %d "
                                            "columns can reach", cols)
                        : errf(err, errlen, "out of memory adding relay neurons");
    }
    *out = q;
    return 0;
}
