/* Private to nn/: the op-table rows defined one per file, and helpers they share. */
#ifndef NN_OPS_H
#define NN_OPS_H

#include <cblas.h>

#include "nn.h"

extern const OpInfo op_input_info, op_dense_info, op_conv_info, op_maxpool_info,
    op_avgpool_info, op_global_avgpool_info, op_relu_info, op_leaky_relu_info, op_sigmoid_info,
    op_tanh_info, op_lrn_info, op_batchnorm_info, op_dropout_info, op_add_info, op_concat_info,
    op_flatten_info, op_clip_info, op_softmax_info, op_eltwise_info, op_transpose_info,
    op_pad_info, op_reshape_info, op_matmul_info, op_constant_info;

/* Output extent of a window op along one axis (floor or ceil mode), or -1 if empty. */
int window_out_size(int in, int kernel, int stride, int pad_lo, int pad_hi, int ceil_mode);

/* Fills a weight (and optional bias) with U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * PyTorch's default for conv and linear layers, so zoo recipes behave as they
 * would there (He-normal made the first steps of BN-free or wide-headed nets
 * diverge at the recipes' learning rates). */
void init_fan_in_uniform(Param *w, Param *b, int fan_in, Rng *rng);

/* Row-major C[m×n] = op(A)·op(B) + beta·C, single-threaded sgemms on column
 * blocks split across OpenMP threads (deterministic for a thread count). */
void sgemm_cols(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---------------------------------------------- tensors of `dims` (nn/view.c) */

/* Ops with own_layout see each sample as one row-major tensor of LayerAttrs
 * dims; these helpers check such dims and lay them out. */

size_t dims_total(const int *d, int rank);
/* "[2,3,4]" (or "[]" for a scalar) into buf, for messages; returns buf. */
const char *dims_text(const int *d, int rank, char *buf, size_t len);
/* 0 if `d` (attribute `key`) has rank min_rank..NN_MAX_RANK, no entry below 1
 * and at most INT32_MAX values; else -1 with a message. */
int dims_check(const IntList *d, const char *key, int min_rank, char *err, size_t errlen);
/* Floats per sample that input k of l holds (any view). */
static inline size_t input_total(const Layer *l, int k)
{
    return (size_t)l->in_outer[k] * shape_size(l->in_shape[k]);
}
/* 0 if input k holds exactly `want` floats per sample (a tensor of `d`); else -1. */
int input_total_check(const Layer *l, int k, const int *d, int rank, char *err, size_t errlen);
/* Sets l->outer and l->out_shape to the natural view of a tensor of `d`. */
void layer_set_dims(Layer *l, const int *d, int rank);
/* Declares a parameter holding a tensor of `d`: with those dims when they fit
 * Param (rank 1..4), else 1-D of the total (rank 0 or 5..6; the attributes
 * keep the real dims). Returns the index, or -1. */
int layer_add_tensor_param(Layer *l, const char *name, int trainable, int decay, const int *d,
                           int rank);

/* A walk over a row-major tensor in element order that also tracks where
 * the same element lies in another layout, given per-axis strides there
 * (transposed axes, a padded interior, 0 along a broadcast axis). Size-1 axes
 * are dropped and neighbours whose strides chain are merged, so the innermost
 * row (n[rank-1] elements, stride st[rank-1]) is as long as it can be. */
typedef struct {
    int rank; /* >= 1 */
    int n[NN_MAX_RANK];
    size_t st[NN_MAX_RANK];
} Walk;

void walk_make(Walk *w, const int *n, const size_t *st, int rank);
/* Rows in the walk: the product of every axis but the last. */
static inline size_t walk_rows(const Walk *w)
{
    size_t r = 1;
    for (int k = 0; k < w->rank - 1; k++)
        r *= (size_t)w->n[k];
    return r;
}
/* Offset in the other layout of the start of row `row` (rows can then be
 * shared out among threads in any order). */
static inline size_t walk_offset(const Walk *w, size_t row)
{
    size_t off = 0;
    for (int k = w->rank - 2; k >= 0; k--) {
        off += row % (size_t)w->n[k] * w->st[k];
        row /= (size_t)w->n[k];
    }
    return off;
}
/* Row-major strides of a tensor of `d`. */
void dims_strides(const int *d, int rank, size_t *st);

/* Input layer `i` of l. */
static inline Layer *layer_input(Net *net, const Layer *l, int i) { return &net->layers[l->inputs[i]]; }

/* The buffer that receives d(loss)/d(src output), or NULL when nobody needs it:
 * the network input's gradient is only computed when net->input_grad is set,
 * which saves the costliest part of the first layer's backward pass. */
static inline float *input_dout(const Net *net, Layer *src)
{
    return src->type == OP_INPUT && !net->input_grad ? NULL : src->dout;
}

/* Backward's store of v into an input's dout: written when `set` (the
 * input's dout_set: this layer is its only reader and was not zeroed for),
 * else added. Ops with OpInfo.overwrites must store every value this way;
 * hot loops test the flag once, outside the loop, instead. */
static inline void dout_put(float *d, float v, int set) { *d = set ? v : *d + v; }

#endif
