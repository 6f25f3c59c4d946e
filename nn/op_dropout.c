/* Inverted dropout: in training each value is zeroed with probability `rate`
 * and the survivors are scaled by 1/(1 − rate), so inference is the identity.
 * The mask is drawn serially from net->rng: the same seed gives the same mask
 * for any thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* layer_aux: this header, then one keep byte per value of the batch. */
typedef struct {
    int train; /* mode of the last forward: selects the backward */
    int pad_;
} DropState;

static int dropout_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in;
    if (!(l->a.rate >= 0 && l->a.rate < 1)) {
        snprintf(err, errlen, "dropout rate must be in [0, 1), not %g", l->a.rate);
        return -1;
    }
    l->out_shape = in[0];
    return 0;
}

static int dropout_reserve(Layer *l, Net *net, int batch, int training)
{
    (void)net, (void)training;
    return layer_aux(l, sizeof(DropState) + (size_t)batch * shape_size(l->out_shape)) ? 0 : -1;
}

static void dropout_forward(Layer *l, Net *net, int batch, int train)
{
    const float *x = layer_input(net, l, 0)->out;
    size_t n = (size_t)batch * shape_size(l->out_shape);
    DropState *st = layer_aux(l, sizeof *st + n); /* reserved: never NULL */
    st->train = train && l->a.rate > 0;
    if (!st->train) {
        memcpy(l->out, x, n * sizeof *x);
        return;
    }
    uint8_t *keep = (uint8_t *)(st + 1);
    const float rate = l->a.rate, scale = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < n; i++) {
        keep[i] = rng_uniform(&net->rng) >= rate;
        l->out[i] = keep[i] ? x[i] * scale : 0.0f;
    }
}

static void dropout_backward(Layer *l, Net *net, int batch)
{
    Layer *in = layer_input(net, l, 0);
    size_t n = (size_t)batch * shape_size(l->out_shape);
    const DropState *st = l->aux;
    const uint8_t *keep = (const uint8_t *)(st + 1);
    const float scale = 1.0f / (1.0f - l->a.rate);
    const int set = in->dout_set;
    for (size_t i = 0; i < n; i++)
        dout_put(&in->dout[i], !st->train ? l->dout[i] : keep[i] ? l->dout[i] * scale : 0.0f, set);
}

const OpInfo op_dropout_info = {OP_DROPOUT, "dropout", 1, 1, "rate", dropout_setup, NULL,
                                dropout_forward, dropout_backward, dropout_reserve, 0, 1};
