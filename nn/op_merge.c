/* Merging layers: element-wise `add` of same-shape inputs (residual joins) and
 * `concat` along the channel axis (inception branches). Both are linear, so
 * backward hands each input its share of dout; an input listed twice gets it twice. */
#include <stdio.h>
#include <string.h>

#include "ops.h"

static int add_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    for (int i = 1; i < n_in; i++)
        if (in[i].c != in[0].c || in[i].h != in[0].h || in[i].w != in[0].w) {
            snprintf(err, errlen, "add inputs have different shapes: %dx%dx%d and %dx%dx%d",
                     in[0].c, in[0].h, in[0].w, in[i].c, in[i].h, in[i].w);
            return -1;
        }
    l->out_shape = in[0];
    return 0;
}

static void add_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    size_t n = (size_t)batch * shape_size(l->out_shape);
    const float *src[NN_MAX_INPUTS];
    for (int k = 0; k < l->n_inputs; k++)
        src[k] = layer_input(net, l, k)->out;
    float *y = l->out;
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) {
        float s = src[0][i];
        for (int k = 1; k < l->n_inputs; k++)
            s += src[k][i];
        y[i] = s;
    }
}

static void add_backward(Layer *l, Net *net, int batch)
{
    size_t n = (size_t)batch * shape_size(l->out_shape);
    const float *dy = l->dout;
    /* One pass per input, one after the other: a repeated input (never
     * dout_set, as it has two reader slots) simply gets dy added twice. */
    for (int k = 0; k < l->n_inputs; k++) {
        Layer *src = layer_input(net, l, k);
        float *dx = src->dout;
        if (src->dout_set) {
            memcpy(dx, dy, n * sizeof *dx);
            continue;
        }
#pragma omp parallel for simd schedule(static) if (n >= 65536)
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i];
    }
}

static int concat_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    Shape s = in[0];
    for (int i = 1; i < n_in; i++) {
        if (in[i].h != in[0].h || in[i].w != in[0].w) {
            snprintf(err, errlen,
                     "concat inputs must have the same height and width: %dx%dx%d and %dx%dx%d",
                     in[0].c, in[0].h, in[0].w, in[i].c, in[i].h, in[i].w);
            return -1;
        }
        s.c += in[i].c;
    }
    l->out_shape = s;
    return 0;
}

/* Per sample, each input's block of c_k·h·w values goes after the previous ones. */
static void concat_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const size_t out_n = shape_size(l->out_shape);
#pragma omp parallel for schedule(static) if ((size_t)batch * out_n >= 65536)
    for (int b = 0; b < batch; b++) {
        float *y = l->out + (size_t)b * out_n;
        for (int k = 0; k < l->n_inputs; k++) {
            size_t len = shape_size(l->in_shape[k]);
            memcpy(y, layer_input(net, l, k)->out + (size_t)b * len, len * sizeof *y);
            y += len;
        }
    }
}

static void concat_backward(Layer *l, Net *net, int batch)
{
    const size_t out_n = shape_size(l->out_shape);
#pragma omp parallel for schedule(static) if ((size_t)batch * out_n >= 65536)
    for (int b = 0; b < batch; b++) {
        const float *dy = l->dout + (size_t)b * out_n;
        for (int k = 0; k < l->n_inputs; k++) {
            size_t len = shape_size(l->in_shape[k]);
            const Layer *src = layer_input(net, l, k);
            float *dx = src->dout + (size_t)b * len;
            if (src->dout_set)
                memcpy(dx, dy, len * sizeof *dx);
            else
                for (size_t i = 0; i < len; i++)
                    dx[i] += dy[i];
            dy += len;
        }
    }
}

const OpInfo op_add_info = {OP_ADD, "add", 2, NN_MAX_INPUTS, "", add_setup, NULL, add_forward,
                            add_backward, NULL, 0, 1};
const OpInfo op_concat_info = {OP_CONCAT, "concat", 2, NN_MAX_INPUTS, "", concat_setup, NULL,
                               concat_forward, concat_backward, NULL, 0, 1};
