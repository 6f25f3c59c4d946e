/* The verifier's checks (see verify.h for the rules). Written from
 * program.h's semantics and hw.h alone: it never calls the passes or
 * program_validate, so it stays an independent second opinion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

typedef struct {
    VerifyReport *rep;
    int keep, oom;
} Sink;

static void put(Sink *s, ViolationKind kind, int op, int block, int row, int col, long long value,
                long long limit, int rule)
{
    VerifyReport *r = s->rep;
    r->counts[kind]++;
    if (s->oom || r->n >= s->keep)
        return;
    if (r->n == r->cap) { /* grow toward keep, not to it: keep may be large */
        int cap = r->cap ? (r->cap < s->keep / 2 ? r->cap * 2 : s->keep) : (s->keep < 16 ? s->keep : 16);
        Violation *v = realloc(r->v, sizeof *v * (size_t)cap);
        if (!v) {
            s->oom = 1;
            return;
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (Violation){kind, op, block, row, col, value, limit, rule};
}

/* What one block holds, checked once however many ops share it. */
typedef struct {
    int shape_ok, data_ok;
    int w_row, w_col;            /* the weight farthest outside its range; w_row < 0: none */
    long long w_val, w_lim;
    int b_col;                   /* the bias farthest outside; < 0: none */
    long long b_val, b_lim;
    int t_row, t_col;            /* the first axon-type break; t_row < 0: none */
    long long t_val, t_lim;
} BlockCheck;

/* The farthest value outside lo..hi so far: returns how far v is outside. */
static unsigned long long outside(long long v, long long lo, long long hi)
{
    return v > hi ? (unsigned long long)v - (unsigned long long)hi
           : v < lo ? (unsigned long long)lo - (unsigned long long)v : 0;
}

/* Accumulator bits (verify.h, V_BIAS_RANGE): full-crossbar sums and the
 * output stage's reach at the largest shift. */
static int accumulator_bits(const Hw *hw)
{
    int lg = 0;
    while (lg < 62 && (1LL << lg) < hw->crossbar.rows)
        lg++;
    int sums = hw->weights.bits + hw->io.bits + lg;
    int reach = hw->io.bits + hw->neuron.shift_max + 1;
    return sums > reach ? sums : reach;
}

/* V_AXON_TYPES: the first row (in row order) with a type outside 0..k-1, or
 * whose weight in some column differs from the first row of its type. */
static void check_axon_types(const CoreBlock *b, int k, BlockCheck *c)
{
    int first[256]; /* per type: its earliest row, -1 none yet */
    for (int t = 0; t < 256; t++)
        first[t] = -1;
    for (int i = 0; i < b->rows; i++) {
        int t = b->axon_type ? b->axon_type[i] : 0;
        if (t >= k) {
            c->t_row = i, c->t_col = -1, c->t_val = t, c->t_lim = k;
            return;
        }
        if (first[t] < 0) {
            first[t] = i;
            continue;
        }
        for (int j = 0; j < b->cols; j++) {
            int32_t w = b->w[(size_t)j * b->rows + i], w0 = b->w[(size_t)j * b->rows + first[t]];
            if (w != w0) {
                c->t_row = i, c->t_col = j, c->t_val = w, c->t_lim = w0;
                return;
            }
        }
    }
}

static void check_block(const Program *p, const CoreBlock *b, const Hw *hw, BlockCheck *c)
{
    memset(c, 0, sizeof *c);
    c->w_row = c->w_col = c->b_col = c->t_row = -1;
    c->shape_ok = b->rows >= 1 && b->cols >= 1;
    c->data_ok = p->is_float ? b->wf && b->bf : b->w && b->bias;
    if (!c->shape_ok || !c->data_ok || p->is_float)
        return;
    const int wbits = hw->weights.bits;
    if (wbits >= 1 && wbits < 32) { /* 32 bits and more hold any int32 */
        const long long lo = -(1LL << (wbits - 1)), hi = (1LL << (wbits - 1)) - 1;
        unsigned long long worst = 0;
        for (int j = 0; j < b->cols; j++)
            for (int i = 0; i < b->rows; i++) {
                long long w = b->w[(size_t)j * b->rows + i];
                unsigned long long d = outside(w, lo, hi);
                if (d > worst) {
                    worst = d;
                    c->w_row = i, c->w_col = j, c->w_val = w, c->w_lim = w > hi ? hi : lo;
                }
            }
    }
    if (hw->weights.encoding == HW_ENC_AXON_TYPES)
        check_axon_types(b, hw->weights.axon_types, c);
    const int abits = accumulator_bits(hw);
    if (abits < 64) {
        const long long lo = -(1LL << (abits - 1)), hi = (long long)((1ULL << (abits - 1)) - 1);
        unsigned long long worst = 0;
        for (int j = 0; j < b->cols; j++) {
            unsigned long long d = outside(b->bias[j], lo, hi);
            if (d > worst) {
                worst = d;
                c->b_col = j, c->b_val = b->bias[j], c->b_lim = b->bias[j] > hi ? hi : lo;
            }
        }
    }
}

/* The block of op k when it exists and is sound, else NULL. */
static const CoreBlock *op_block(const Program *p, const BlockCheck *bc, int k)
{
    int b = p->ops[k].block;
    return b >= 0 && b < p->n_blocks && bc[b].shape_ok && bc[b].data_ok ? &p->blocks[b] : NULL;
}

/* Everything about op k itself: wiring, then its block against the chip. */
static void check_op(Sink *s, const Program *p, const Hw *hw, const BlockCheck *bc, int k,
                     const int32_t *start, const int32_t *readers, const int32_t *last)
{
    const CoreOp *op = &p->ops[k];
    const int bi = op->block;
    if (bi < 0 || bi >= p->n_blocks) {
        put(s, V_STRUCTURE, k, bi, -1, -1, bi, p->n_blocks, VS_BLOCK_INDEX);
        return;
    }
    const CoreBlock *b = op_block(p, bc, k);
    if (!b) /* already reported with the block */
        return;
    if (op->out != start[k])
        put(s, V_STRUCTURE, k, bi, -1, -1, op->out, start[k], VS_OUT);
    if (op->group < 0 || op->group >= p->n_groups)
        put(s, V_STRUCTURE, k, bi, -1, -1, op->group, p->n_groups, VS_GROUP);
    if (!op->in)
        put(s, V_STRUCTURE, k, bi, -1, -1, 0, start[k], VS_READ);
    for (int i = 0; op->in && i < b->rows; i++) {
        int32_t n = op->in[i];
        if (n != PROGRAM_ZERO && (n < 0 || n >= start[k])) {
            put(s, V_STRUCTURE, k, bi, i, -1, n, start[k], VS_READ);
            break; /* one per op */
        }
    }
    if (b->rows > hw->crossbar.rows)
        put(s, V_ROWS, k, bi, -1, -1, b->rows, hw->crossbar.rows, VS_NONE);
    if (b->cols > hw->crossbar.cols)
        put(s, V_COLS, k, bi, -1, -1, b->cols, hw->crossbar.cols, VS_NONE);
    const BlockCheck *c = &bc[bi];
    if (c->w_row >= 0)
        put(s, V_WEIGHT_RANGE, k, bi, c->w_row, c->w_col, c->w_val, c->w_lim, VS_NONE);
    if (c->t_row >= 0)
        put(s, V_AXON_TYPES, k, bi, c->t_row, c->t_col, c->t_val, c->t_lim, VS_NONE);
    if (c->b_col >= 0)
        put(s, V_BIAS_RANGE, k, bi, -1, c->b_col, c->b_val, c->b_lim, VS_NONE);
    if (!p->is_float && (b->shift < 0 || b->shift > hw->neuron.shift_max))
        put(s, V_SHIFT, k, bi, -1, -1, b->shift, b->shift < 0 ? 0 : hw->neuron.shift_max, VS_NONE);
    if (b->act != CORE_RELU && b->act != CORE_LINEAR) {
        put(s, V_ACTIVATION, k, bi, -1, -1, b->act, 0, VS_NONE);
    } else if (b->act == CORE_LINEAR) { /* only logits may skip the ReLU */
        for (int j = 0; j < b->cols; j++) {
            int32_t n = start[k] + j;
            if (readers[n]) {
                put(s, V_ACTIVATION, k, bi, last[n], n, b->act, 0, VS_NONE);
                break;
            }
        }
    }
}

/* The op producing neuron n (n_inputs <= n < total): the last sound op
 * starting at or below it (ops with a broken block produce nothing). */
static int producer(const Program *p, const BlockCheck *bc, const int32_t *start, int32_t n)
{
    int lo = 0, hi = p->n_ops - 1, k = -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (start[mid] <= n)
            k = mid, lo = mid + 1;
        else
            hi = mid - 1;
    }
    while (k >= 0 && !op_block(p, bc, k))
        k--;
    return k;
}

static void check_outputs(Sink *s, const Program *p, const BlockCheck *bc, const int32_t *start,
                          int32_t total)
{
    if (p->n_outputs < 1 || !p->outputs) {
        put(s, V_STRUCTURE, -1, -1, -1, -1, p->n_outputs, 1, VS_NO_OUTPUTS);
        return;
    }
    for (int o = 0; o < p->n_outputs; o++) {
        int32_t n = p->outputs[o];
        int k = n >= p->n_inputs && n < total ? producer(p, bc, start, n) : -1;
        if (k < 0)
            put(s, V_STRUCTURE, -1, -1, o, -1, n, total, VS_OUTPUT);
        else if (p->blocks[p->ops[k].block].act != CORE_LINEAR)
            put(s, V_STRUCTURE, k, p->ops[k].block, o, -1, n, 0, VS_OUTPUT_ACT);
    }
}

/* Fan-out: distinct reader ops of each neuron, pixels first. */
static void check_fanout(Sink *s, const Program *p, const Hw *hw, const BlockCheck *bc,
                         const int32_t *start, const int32_t *readers)
{
    const int limit = hw->crossbar.fanout;
    if (limit <= 0)
        return;
    for (int32_t n = 0; n < p->n_inputs; n++)
        if (readers[n] > limit)
            put(s, V_FANOUT, -1, -1, -1, n, readers[n], limit, VS_NONE);
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = op_block(p, bc, k);
        for (int j = 0; b && j < b->cols; j++)
            if (readers[start[k] + j] > limit)
                put(s, V_FANOUT, k, p->ops[k].block, -1, start[k] + j, readers[start[k] + j], limit,
                    VS_NONE);
    }
}

long long verify_program(const Program *p, const Hw *hw, VerifyReport *rep, int keep)
{
    memset(rep, 0, sizeof *rep);
    Sink s = {rep, keep > 0 ? keep : 0, 0};
    BlockCheck *bc = calloc((size_t)(p->n_blocks > 0 ? p->n_blocks : 1), sizeof *bc);
    int32_t *start = malloc(sizeof *start * (size_t)(p->n_ops > 0 ? p->n_ops : 1));
    int32_t *readers = NULL, *last = NULL;
    if (!bc || !start)
        goto oom;
    for (int b = 0; b < p->n_blocks; b++)
        check_block(p, &p->blocks[b], hw, &bc[b]);

    /* Neuron ids as program.h defines them: each op's cols follow the last. */
    long long total = p->n_inputs;
    for (int k = 0; k < p->n_ops; k++) {
        start[k] = (int32_t)(total < INT32_MAX ? total : INT32_MAX);
        const CoreBlock *b = op_block(p, bc, k);
        total += b && total < INT32_MAX ? b->cols : 0;
    }
    if (total > INT32_MAX)
        total = INT32_MAX; /* program_add_op refuses more: reported below as VS_NEURONS */

    /* Program-wide. */
    if (p->is_float)
        put(&s, V_FLOAT, -1, -1, -1, -1, 0, 0, VS_NONE);
    else if (hw->target.mode != HW_SNN && p->io_bits != hw->io.bits)
        put(&s, V_IO_BITS, -1, -1, -1, -1, p->io_bits, hw->io.bits, VS_NONE);
    if (p->n_neurons != total)
        put(&s, V_STRUCTURE, -1, -1, -1, -1, p->n_neurons, total, VS_NEURONS);
    for (int b = 0; b < p->n_blocks; b++) {
        if (!bc[b].shape_ok)
            put(&s, V_STRUCTURE, -1, b, -1, -1, p->blocks[b].rows, p->blocks[b].cols, VS_BLOCK_SHAPE);
        else if (!bc[b].data_ok)
            put(&s, V_STRUCTURE, -1, b, -1, -1, 0, 0, VS_BLOCK_DATA);
    }

    /* Who reads whom: distinct ops per neuron (last = the latest reader). */
    readers = calloc((size_t)total + 1, sizeof *readers);
    last = malloc(sizeof *last * ((size_t)total + 1));
    if (!readers || !last)
        goto oom;
    memset(last, 0xff, sizeof *last * ((size_t)total + 1)); /* -1: none yet */
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = op_block(p, bc, k);
        for (int i = 0; b && p->ops[k].in && i < b->rows; i++) {
            int32_t n = p->ops[k].in[i];
            if (n >= 0 && n < start[k] && last[n] != k) /* bad reads are V_STRUCTURE */
                last[n] = k, readers[n]++;
        }
    }
    for (int k = 0; k < p->n_ops; k++)
        check_op(&s, p, hw, bc, k, start, readers, last);
    check_fanout(&s, p, hw, bc, start, readers);
    check_outputs(&s, p, bc, start, (int32_t)total);
    if (s.oom)
        goto oom;
    free(bc);
    free(start);
    free(readers);
    free(last);
    long long sum = 0;
    for (int k = 0; k < V_COUNT; k++)
        sum += rep->counts[k];
    return sum;
oom:
    free(bc);
    free(start);
    free(readers);
    free(last);
    verify_report_free(rep);
    return -1;
}

void verify_report_free(VerifyReport *rep)
{
    if (!rep)
        return;
    free(rep->v);
    memset(rep, 0, sizeof *rep);
}
