/* Private to nn/: the op-table rows defined one per file, and helpers they share. */
#ifndef NN_OPS_H
#define NN_OPS_H

#include "nn.h"

extern const OpInfo op_input_info, op_dense_info, op_conv_info, op_maxpool_info,
    op_avgpool_info, op_global_avgpool_info, op_relu_info, op_leaky_relu_info, op_sigmoid_info,
    op_tanh_info, op_lrn_info, op_batchnorm_info, op_dropout_info, op_add_info, op_concat_info,
    op_flatten_info;

/* Output extent of a window op along one axis (floor or ceil mode), or -1 if empty. */
int window_out_size(int in, int kernel, int stride, int pad_lo, int pad_hi, int ceil_mode);

/* Fills a weight (and optional bias) with U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * PyTorch's default for conv and linear layers, so zoo recipes behave as they
 * would there (He-normal made the first steps of BN-free or wide-headed nets
 * diverge at the recipes' learning rates). */
void init_fan_in_uniform(Param *w, Param *b, int fan_in, Rng *rng);

/* Input layer `i` of l. */
static inline Layer *layer_input(Net *net, const Layer *l, int i) { return &net->layers[l->inputs[i]]; }

/* The buffer that receives d(loss)/d(src output), or NULL when nobody needs it:
 * the network input's gradient is only computed when net->input_grad is set,
 * which saves the costliest part of the first layer's backward pass. */
static inline float *input_dout(const Net *net, Layer *src)
{
    return src->type == OP_INPUT && !net->input_grad ? NULL : src->dout;
}

#endif
