/* Building and checking a Program (see program.h). */
#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "program.h"

Program *program_create(int n_inputs, int io_bits)
{
    if (n_inputs < 0 || io_bits < 1 || io_bits > 30)
        return NULL;
    Program *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_inputs = p->n_neurons = n_inputs;
    p->io_bits = io_bits;
    return p;
}

Program *program_create_float(int n_inputs)
{
    Program *p = program_create(n_inputs, 30);
    if (p)
        p->is_float = 1;
    return p;
}

void program_free(Program *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_blocks; i++) {
        free(p->blocks[i].w);
        free(p->blocks[i].bias);
        free(p->blocks[i].wf);
        free(p->blocks[i].bf);
        free(p->blocks[i].axon_type);
    }
    for (int i = 0; i < p->n_ops; i++)
        free(p->ops[i].in);
    free(p->blocks);
    free(p->ops);
    free(p->outputs);
    free(p);
}

/* Grows an array of `size`-byte items to hold one more; 0 or -1. */
static int grow(void **items, int n, int *cap, size_t size)
{
    if (n < *cap)
        return 0;
    int c = *cap ? *cap * 2 : 16;
    void *g = realloc(*items, size * (size_t)c);
    if (!g)
        return -1;
    *items = g;
    *cap = c;
    return 0;
}

int program_add_block(Program *p, int rows, int cols, const int32_t *w, const int64_t *bias,
                      int shift, CoreActivation act)
{
    if (p->is_float || rows < 1 || cols < 1 || shift < 0 || shift > 62 ||
        grow((void **)&p->blocks, p->n_blocks, &p->cap_blocks, sizeof *p->blocks))
        return -1;
    size_t nw = (size_t)rows * cols;
    CoreBlock b = {.rows = rows, .cols = cols, .w = malloc(nw * sizeof *b.w),
                   .bias = calloc((size_t)cols, sizeof *b.bias), .shift = shift, .act = act};
    if (!b.w || !b.bias) {
        free(b.w);
        free(b.bias);
        return -1;
    }
    memcpy(b.w, w, nw * sizeof *b.w);
    if (bias)
        memcpy(b.bias, bias, (size_t)cols * sizeof *b.bias);
    p->blocks[p->n_blocks] = b;
    return p->n_blocks++;
}

int program_add_block_float(Program *p, int rows, int cols, const float *w, const float *bias,
                            CoreActivation act)
{
    if (!p->is_float || rows < 1 || cols < 1 ||
        grow((void **)&p->blocks, p->n_blocks, &p->cap_blocks, sizeof *p->blocks))
        return -1;
    size_t nw = (size_t)rows * cols;
    CoreBlock b = {.rows = rows, .cols = cols, .act = act, .wf = malloc(nw * sizeof(float)),
                   .bf = calloc((size_t)cols, sizeof(float))};
    if (!b.wf || !b.bf) {
        free(b.wf);
        free(b.bf);
        return -1;
    }
    memcpy(b.wf, w, nw * sizeof(float));
    if (bias)
        memcpy(b.bf, bias, (size_t)cols * sizeof(float));
    p->blocks[p->n_blocks] = b;
    return p->n_blocks++;
}

int program_set_axon_types(Program *p, int b, const uint8_t *types)
{
    if (b < 0 || b >= p->n_blocks)
        return -1;
    CoreBlock *k = &p->blocks[b];
    uint8_t *t = types ? malloc((size_t)k->rows) : NULL;
    if (types && !t)
        return -1;
    if (t)
        memcpy(t, types, (size_t)k->rows);
    free(k->axon_type);
    k->axon_type = t;
    return 0;
}

int32_t program_add_op(Program *p, int block, const int32_t *in, int part, int group)
{
    if (block < 0 || block >= p->n_blocks || group < 0 ||
        grow((void **)&p->ops, p->n_ops, &p->cap_ops, sizeof *p->ops))
        return -1;
    const CoreBlock *b = &p->blocks[block];
    if ((int64_t)p->n_neurons + b->cols > INT32_MAX)
        return -1;
    CoreOp op = {block, malloc((size_t)b->rows * sizeof(int32_t)), p->n_neurons, part, group};
    if (!op.in)
        return -1;
    memcpy(op.in, in, (size_t)b->rows * sizeof(int32_t));
    p->ops[p->n_ops++] = op;
    p->n_neurons += b->cols;
    p->n_groups = group + 1 > p->n_groups ? group + 1 : p->n_groups;
    return op.out;
}

int program_set_outputs(Program *p, const int32_t *neurons, int n)
{
    int32_t *o = malloc((size_t)(n > 0 ? n : 1) * sizeof *o);
    if (!o || n < 1) {
        free(o);
        return -1;
    }
    memcpy(o, neurons, (size_t)n * sizeof *o);
    free(p->outputs);
    p->outputs = o;
    p->n_outputs = n;
    return 0;
}

/* The op that produces neuron id (ops are in id order); -1 for an input. */
static int op_of(const Program *p, int32_t id)
{
    int lo = 0, hi = p->n_ops - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (id < p->ops[mid].out)
            hi = mid - 1;
        else if (id >= p->ops[mid].out + p->blocks[p->ops[mid].block].cols)
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

int program_validate(const Program *p, char *err, size_t errlen)
{
    int32_t next = p->n_inputs;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        if (op->block < 0 || op->block >= p->n_blocks)
            return errf(err, errlen, "core op %d: block %d of %d", k, op->block, p->n_blocks);
        const CoreBlock *b = &p->blocks[op->block];
        if (op->out != next)
            return errf(err, errlen, "core op %d: first neuron %d, expected %d", k, op->out, next);
        for (int i = 0; i < b->rows; i++)
            if (op->in[i] != PROGRAM_ZERO && (op->in[i] < 0 || op->in[i] >= op->out))
                return errf(err, errlen, "core op %d: row %d reads neuron %d, not an earlier one",
                            k, i, op->in[i]);
        next += b->cols;
    }
    if (next != p->n_neurons)
        return errf(err, errlen, "%d neurons counted, %d declared", next, p->n_neurons);
    if (p->n_outputs < 1)
        return errf(err, errlen, "no outputs");
    for (int i = 0; i < p->n_outputs; i++) {
        int k = op_of(p, p->outputs[i]);
        if (k < 0 || p->blocks[p->ops[k].block].act != CORE_LINEAR)
            return errf(err, errlen, "output %d is neuron %d, not a neuron of a linear core op", i,
                        p->outputs[i]);
    }
    return 0;
}
