/* Flatten: the same floats seen as a vector {c·h·w, 1, 1}, block by block
 * (outer is unchanged; reshape regroups across blocks). */
#include <string.h>

#include "ops.h"

static int flatten_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in, (void)err, (void)errlen;
    l->out_shape = (Shape){(int)shape_size(in[0]), 1, 1};
    return 0;
}

static void flatten_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    memcpy(l->out, layer_input(net, l, 0)->out,
           (size_t)batch * shape_size(l->out_shape) * sizeof(float));
}

static void flatten_backward(Layer *l, Net *net, int batch)
{
    Layer *src = layer_input(net, l, 0);
    float *din = src->dout;
    size_t n = (size_t)batch * shape_size(l->out_shape);
    if (!din)
        return;
    if (src->dout_set) {
        memcpy(din, l->dout, n * sizeof *din);
        return;
    }
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++)
        din[i] += l->dout[i];
}

const OpInfo op_flatten_info = {OP_FLATTEN, "flatten", 1, 1, "", flatten_setup, NULL,
                                flatten_forward, flatten_backward, NULL, 0, 1};
