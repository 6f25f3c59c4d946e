/* Constant: a fixed tensor of `dims` (parameter "value", not trained, set by
 * whoever builds the net, e.g. from an ONNX initializer), the same for every
 * sample. It takes no input, so it can feed the ops that combine tensors. */
#include <string.h>

#include "ops.h"

static int constant_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)in, (void)n_in;
    if (dims_check(&l->a.dims, "dims", 1, err, errlen))
        return -1;
    layer_add_tensor_param(l, "value", 0, 0, l->a.dims.v, l->a.dims.n);
    layer_set_dims(l, l->a.dims.v, l->a.dims.n);
    return 0;
}

static void constant_forward(Layer *l, Net *net, int batch, int train)
{
    (void)net, (void)train;
    const size_t n = layer_size(l);
    const int samples = batch / l->outer;
    for (int s = 0; s < samples; s++)
        memcpy(l->out + (size_t)s * n, l->params[0].data, n * sizeof(float));
}

static void constant_backward(Layer *l, Net *net, int batch) { (void)l, (void)net, (void)batch; }

const OpInfo op_constant_info = {OP_CONSTANT, "constant", 0, 0, "dims", constant_setup, NULL,
                                 constant_forward, constant_backward, NULL, 1, 0};
