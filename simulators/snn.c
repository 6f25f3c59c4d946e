/* The spiking core simulator (DESIGN.md §6; the exact semantics are in
 * simulators.h, SNN section).
 *
 * Event-driven by pushing: when a neuron spikes, each crossbar row it feeds
 * (snn_plan.h) adds its weights, one contiguous vector of the transposed
 * block, to the reading op's potentials at once. Ops run in program order
 * and every reader comes after its sources, so by the time an op's neurons
 * are updated at step t they hold every input of step t; a silent neuron
 * costs its own update and no synaptic work. What does not change from
 * step to step (the biases and, under current coding, the pixels' currents)
 * is summed once per image into a per-neuron drive. Integer sums do not
 * depend on their order, so this equals the row-by-row definition exactly.
 *
 * Images are independent and each is run whole by one thread with its own
 * potentials; results do not depend on the thread count or on how images
 * are split between calls (poisson draws hash the image's global index,
 * snn_input.c). */
#include <stdlib.h>
#include <string.h>

#include "simulators.h"
#include "snn_plan.h"

/* One thread's working memory, reused image after image. */
typedef struct {
    int64_t *v;      /* potentials of the core ops' neurons (neuron − n_inputs) */
    int64_t *drive;  /* what they gain every step: bias (+ pixel currents) */
    int32_t *in;     /* the pixels' values this step */
    uint64_t *keys;  /* the pixels' poisson streams */
} SnnState;

static void state_free(SnnState *st)
{
    free(st->v);
    free(st->drive);
    free(st->in);
    free(st->keys);
}

static int state_make(const Program *p, SnnState *st)
{
    size_t cores = (size_t)(p->n_neurons - p->n_inputs), pixels = (size_t)p->n_inputs;
    st->v = malloc(sizeof *st->v * (cores ? cores : 1));
    st->drive = malloc(sizeof *st->drive * (cores ? cores : 1));
    st->in = malloc(sizeof *st->in * (pixels ? pixels : 1));
    st->keys = malloc(sizeof *st->keys * (pixels ? pixels : 1));
    if (!st->v || !st->drive || !st->in || !st->keys)
        return state_free(st), -1;
    return 0;
}

/* Neuron n's value s reaches every row it feeds: acc += s · W[row]. */
static inline void push(const SnnPlan *pl, int64_t *acc, int32_t n, int64_t s)
{
    for (size_t e = pl->first[n]; e < pl->first[n + 1]; e++) {
        const SnnSynapses *r = &pl->rows[e];
        int64_t *restrict dst = acc + r->v_off;
        const int32_t *restrict w = r->w;
        if (s == 1) { /* a spike: the common case, no multiply */
#pragma omp simd
            for (int j = 0; j < r->cols; j++)
                dst[j] += w[j];
        } else {
#pragma omp simd
            for (int j = 0; j < r->cols; j++)
                dst[j] += s * w[j];
        }
    }
}

/* One step of one core op's neurons, whose inputs of this step have all
 * arrived; their spikes go on to later ops. Returns the spikes fired. */
static int64_t step_op(const SnnPlan *pl, const CoreOp *op, SnnState *st)
{
    const CoreBlock *b = &pl->p->blocks[op->block];
    const int32_t off = op->out - pl->p->n_inputs;
    int64_t *v = st->v + off;
    const int64_t *d = st->drive + off;
    if (b->act == CORE_LINEAR) { /* the output integrates and never spikes */
        for (int j = 0; j < b->cols; j++)
            v[j] += d[j];
        return 0;
    }
    const int64_t theta = pl->theta[op->block], leak = pl->leak[op->block];
    int64_t fired = 0;
    for (int j = 0; j < b->cols; j++) {
        int64_t x = v[j] + d[j];
        if (leak) /* toward 0, never past it */
            x = x > leak ? x - leak : x < -leak ? x + leak : 0;
        if (x >= theta) {
            v[j] = pl->reset_zero ? 0 : x - theta;
            push(pl, st->v, op->out + j, 1);
            fired++;
        } else {
            v[j] = x;
        }
    }
    return fired;
}

/* The per-step drive of one image: biases, and under current coding the
 * pixels' constant currents. */
static void drive_make(const SnnPlan *pl, const int32_t *x, SnnState *st)
{
    const Program *p = pl->p;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        memcpy(st->drive + (p->ops[k].out - p->n_inputs), b->bias, sizeof *b->bias * (size_t)b->cols);
    }
    if (pl->coding.coding == HW_IN_CURRENT)
        for (int i = 0; i < p->n_inputs; i++)
            if (x[i])
                push(pl, st->drive, i, x[i]);
}

/* Image `i` of the call: all T steps, then its outputs. */
static void run_image(const SnnPlan *pl, SnnState *st, const int32_t *x, int i, uint64_t image,
                      SnnOutput *out)
{
    const Program *p = pl->p;
    const int T = pl->T, n_out = p->n_outputs, n_in = p->n_inputs;
    memset(st->v, 0, sizeof *st->v * (size_t)(p->n_neurons - n_in));
    drive_make(pl, x, st);
    snn_input_begin(&pl->coding, n_in, image, st->keys);
    int64_t fired = 0;
    for (int t = 0; t < T; t++) {
        if (pl->coding.coding != HW_IN_CURRENT) {
            snn_input_step(&pl->coding, x, n_in, st->keys, t, st->in);
            for (int px = 0; px < n_in; px++)
                if (st->in[px])
                    push(pl, st->v, px, 1);
        }
        for (int k = 0; k < p->n_ops; k++)
            fired += step_op(pl, &p->ops[k], st);
        if (out->logits) {
            int64_t *l = out->logits + ((size_t)i * T + t) * n_out;
            for (int o = 0; o < n_out; o++)
                l[o] = st->v[p->outputs[o] - n_in];
        }
    }
    if (out->final)
        for (int o = 0; o < n_out; o++)
            out->final[(size_t)i * n_out + o] = st->v[p->outputs[o] - n_in];
    if (out->spikes)
        out->spikes[i] = fired;
}

int snn_run(const Program *p, const Hw *hw, const int32_t *inputs, int n, long first_image,
            SnnOutput *out)
{
    if (!p || !hw || !out || n < 0 || (n > 0 && !inputs))
        return -1;
    SnnPlan pl;
    if (snn_plan_make(p, hw, &pl))
        return -1;
    size_t n_px = (size_t)n * (size_t)p->n_inputs;
    for (size_t k = 0; k < n_px; k++)
        if (inputs[k] < 0 || inputs[k] > pl.coding.top)
            return snn_plan_free(&pl), -1;
    int failed = 0;
#pragma omp parallel if (n > 1)
    {
        SnnState st;
        int ok = state_make(p, &st) == 0;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n; i++)
            if (ok)
                run_image(&pl, &st, inputs + (size_t)i * p->n_inputs, i,
                          (uint64_t)first_image + (uint64_t)i, out);
        if (ok)
            state_free(&st);
    }
    snn_plan_free(&pl);
    return failed ? -1 : 0;
}
