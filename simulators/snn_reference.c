/* The spiking simulator's reference path (snn_reference.h): the
 * specification of simulators.h, SNN section, written out plainly, with
 * none of the fast path's chunks, layers, trains, drive or int32 copies. */
#include <math.h>
#include <stdlib.h>

#include "snn_input.h"
#include "snn_plan.h"
#include "snn_reference.h"

/* Input neuron `pixel`'s value at step t under the chip's coding. */
static int64_t coded(const Hw *hw, int64_t top, int64_t x, uint64_t image, uint64_t pixel, int t)
{
    if (hw->io.input_coding == HW_IN_CURRENT)
        return x;
    if (hw->io.input_coding == HW_IN_RATE)
        return (t + 1) * x / top > t * x / top;
    uint64_t u = snn_mix(snn_pixel_key(hw->io.seed, image, pixel) ^ (uint64_t)t) >> 32;
    return u * (uint64_t)top < (uint64_t)x << 32;
}

/* One image, all T steps, into its slots of out. */
static void run_image(const Program *p, const Hw *hw, const int32_t *x, uint64_t image, size_t i,
                      int64_t *v, int64_t *s, SnnOutput *out)
{
    const int T = hw->io.window, lif = hw->neuron.activation == HW_ACT_LIF;
    const int64_t top = ((int64_t)1 << p->io_bits) - 1;
    int64_t fired = 0;
    for (int n = 0; n < p->n_neurons; n++)
        v[n] = s[n] = 0;
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < p->n_inputs; k++)
            s[k] = coded(hw, top, x[k], image, (uint64_t)k, t);
        int32_t *cnt = out->counts ? out->counts + i * (size_t)p->n_neurons : NULL;
        for (int k = 0; cnt && k < p->n_inputs; k++) /* current-coded pixels are not spikes */
            cnt[k] = (t ? cnt[k] : 0) + (hw->io.input_coding != HW_IN_CURRENT && s[k]);
        for (int k = 0; k < p->n_ops; k++) {
            const CoreOp *op = &p->ops[k];
            const CoreBlock *b = &p->blocks[op->block];
            const int64_t theta = (int64_t)1 << b->shift;
            const int64_t leak = lif ? (int64_t)floor(hw->neuron.leak * (double)theta + 0.5) : 0;
            for (int j = 0; j < b->cols; j++) {
                int64_t *V = &v[op->out + j];
                *V += b->bias[j];
                for (int r = 0; r < b->rows; r++)
                    if (op->in[r] != PROGRAM_ZERO)
                        *V += (int64_t)b->w[(size_t)j * b->rows + r] * s[op->in[r]];
                if (b->act == CORE_LINEAR)
                    continue;
                *V = *V > leak ? *V - leak : *V < -leak ? *V + leak : 0;
                s[op->out + j] = *V >= theta;
                if (cnt)
                    cnt[op->out + j] = (t ? cnt[op->out + j] : 0) + (*V >= theta);
                if (*V >= theta) {
                    *V = hw->neuron.reset == HW_RESET_ZERO ? 0 : *V - theta;
                    fired++;
                }
            }
        }
        if (out->logits)
            for (int o = 0; o < p->n_outputs; o++)
                out->logits[(i * (size_t)T + (size_t)t) * (size_t)p->n_outputs + (size_t)o] = v[p->outputs[o]];
    }
    if (out->final)
        for (int o = 0; o < p->n_outputs; o++)
            out->final[i * (size_t)p->n_outputs + (size_t)o] = v[p->outputs[o]];
    if (out->spikes)
        out->spikes[i] = fired;
}

int snn_reference_run(const Program *p, const Hw *hw, const int32_t *inputs, int n, long first_image,
                      SnnOutput *out)
{
    if (!p || !hw || !out || n < 0 || (n > 0 && !inputs))
        return -1;
    SnnPlan pl; /* only for snn_run's argument checks */
    if (snn_plan_make(p, hw, &pl))
        return -1;
    const int64_t top = pl.coding.top;
    snn_plan_free(&pl);
    for (size_t k = 0; k < (size_t)n * (size_t)p->n_inputs; k++)
        if (inputs[k] < 0 || inputs[k] > top)
            return -1;
    size_t neurons = (size_t)(p->n_neurons > 0 ? p->n_neurons : 1);
    int64_t *v = malloc(sizeof *v * neurons), *s = malloc(sizeof *s * neurons);
    if (!v || !s)
        return free(v), free(s), -1;
    for (int i = 0; i < n; i++)
        run_image(p, hw, inputs + (size_t)i * (size_t)p->n_inputs, (uint64_t)first_image + (uint64_t)i,
                  (size_t)i, v, s, out);
    free(v);
    free(s);
    return 0;
}
