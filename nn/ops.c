/* The op table: one row per op, defined in the op's own file. */
#include <string.h>

#include "ops.h"

const OpInfo *const op_table[OP_COUNT] = {
    [OP_INPUT] = &op_input_info,
    [OP_DENSE] = &op_dense_info,
    [OP_CONV] = &op_conv_info,
    [OP_MAXPOOL] = &op_maxpool_info,
    [OP_AVGPOOL] = &op_avgpool_info,
    [OP_GLOBAL_AVGPOOL] = &op_global_avgpool_info,
    [OP_RELU] = &op_relu_info,
    [OP_LEAKY_RELU] = &op_leaky_relu_info,
    [OP_SIGMOID] = &op_sigmoid_info,
    [OP_TANH] = &op_tanh_info,
    [OP_LRN] = &op_lrn_info,
    [OP_BATCHNORM] = &op_batchnorm_info,
    [OP_DROPOUT] = &op_dropout_info,
    [OP_ADD] = &op_add_info,
    [OP_CONCAT] = &op_concat_info,
    [OP_FLATTEN] = &op_flatten_info,
    [OP_CLIP] = &op_clip_info,
    [OP_SOFTMAX] = &op_softmax_info,
    [OP_ELTWISE] = &op_eltwise_info,
    [OP_TRANSPOSE] = &op_transpose_info,
    [OP_PAD] = &op_pad_info,
    [OP_RESHAPE] = &op_reshape_info,
    [OP_MATMUL] = &op_matmul_info,
    [OP_CONSTANT] = &op_constant_info,
};

const OpInfo *op_by_name(const char *name)
{
    for (int t = 0; t < OP_COUNT; t++)
        if (op_table[t] && strcmp(op_table[t]->name, name) == 0)
            return op_table[t];
    return NULL;
}

int window_out_size(int in, int kernel, int stride, int pad_lo, int pad_hi, int ceil_mode)
{
    int span = in + pad_lo + pad_hi - kernel;
    if (span < 0 || stride < 1)
        return -1;
    int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* As in ONNX/PyTorch: the last window must start inside the input or left padding. */
    if (ceil_mode && (out - 1) * stride >= in + pad_lo)
        out--;
    return out;
}

/* The input layer only holds the batch; net_forward copies it in. */
static int input_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)l, (void)in, (void)n_in, (void)err, (void)errlen;
    return 0;
}
static void input_forward(Layer *l, Net *net, int batch, int train) { (void)l, (void)net, (void)batch, (void)train; }
static void input_backward(Layer *l, Net *net, int batch) { (void)l, (void)net, (void)batch; }

const OpInfo op_input_info = {OP_INPUT, "input", 0, 0, "", input_setup, NULL, input_forward,
                              input_backward, NULL, 0, 0};
