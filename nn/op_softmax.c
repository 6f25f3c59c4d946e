/* Softmax over the channel axis, separately at every (h, w) of every block:
 * y_c = e^(x_c − m) / Σ e^(x_c' − m), m the largest x_c (nothing overflows).
 * An imported Softmax over the last axis of [.., K] sees that axis as c
 * (natural view: rows (M; K, 1, 1)). Backward: dx = y·(dy − Σ y·dy).
 *
 * Sums run in double, per position in channel order, so results do not
 * depend on the thread count. */
#include <math.h>

#include "ops.h"

static int softmax_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in, (void)err, (void)errlen;
    l->out_shape = in[0];
    return 0;
}

static void softmax_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const float *x = layer_input(net, l, 0)->out;
    const int C = l->out_shape.c;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w, cols = (size_t)batch * hw;
#pragma omp parallel for schedule(static) if (cols * C >= 32768)
    for (size_t col = 0; col < cols; col++) {
        size_t base = col / hw * C * hw + col % hw; /* channel 0 at this (block, position) */
        const float *xs = x + base;
        float *ys = l->out + base;
        float m = xs[0];
        for (int c = 1; c < C; c++)
            m = xs[(size_t)c * hw] > m ? xs[(size_t)c * hw] : m;
        double s = 0;
        for (int c = 0; c < C; c++) {
            float e = expf(xs[(size_t)c * hw] - m);
            ys[(size_t)c * hw] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++)
            ys[(size_t)c * hw] *= inv;
    }
}

static void softmax_backward(Layer *l, Net *net, int batch)
{
    Layer *in = layer_input(net, l, 0);
    float *dx = input_dout(net, in);
    const int C = l->out_shape.c;
    const size_t hw = (size_t)l->out_shape.h * l->out_shape.w, cols = (size_t)batch * hw;
    if (!dx)
        return;
#pragma omp parallel for schedule(static) if (cols * C >= 32768)
    for (size_t col = 0; col < cols; col++) {
        size_t base = col / hw * C * hw + col % hw;
        const float *ys = l->out + base, *dys = l->dout + base;
        float *dxs = dx + base;
        double s = 0;
        for (int c = 0; c < C; c++)
            s += (double)ys[(size_t)c * hw] * dys[(size_t)c * hw];
        for (int c = 0; c < C; c++)
            dout_put(&dxs[(size_t)c * hw], ys[(size_t)c * hw] * (float)(dys[(size_t)c * hw] - s),
                     in->dout_set);
    }
}

const OpInfo op_softmax_info = {OP_SOFTMAX, "softmax", 1, 1, "", softmax_setup, NULL,
                                softmax_forward, softmax_backward, NULL, 0, 1};
