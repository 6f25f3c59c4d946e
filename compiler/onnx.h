/* Private to the ONNX front end: protobuf access and constant folding. */
#ifndef COMPILER_ONNX_H
#define COMPILER_ONNX_H

#include <onnx/onnx.pb-c.h>

#include "compiler.h"

#define ONNX_FILE_MAX (1L << 30) /* refuse files above 1 GiB */

/* Reads and unpacks a whole protobuf file of the given message type. */
void *onnx_unpack_file(const char *path, const ProtobufCMessageDescriptor *desc, char *err,
                       size_t errlen);

/* TensorProto → OnnxTensor (any numeric type; raw_data or typed fields). */
int onnx_tensor_from_proto(const Onnx__TensorProto *p, OnnxTensor *t, char *err, size_t errlen);
int onnx_tensor_alloc(OnnxTensor *t, int rank, const int *dims, int is_int);
int onnx_tensor_copy(OnnxTensor *dst, const OnnxTensor *src);
const char *onnx_dtype_name(int dtype);

/* Node attributes by name; NULL when absent. */
const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);
long onnx_attr_int(const Onnx__NodeProto *n, const char *name, long dflt);
float onnx_attr_float(const Onnx__NodeProto *n, const char *name, float dflt);
/* Copies an ints attribute into out (up to max); returns the count, or -1
 * when absent, or -2 when longer than max. */
int onnx_attr_ints(const Onnx__NodeProto *n, const char *name, long *out, int max);
/* A string attribute (NUL-terminated copy in out) or dflt. */
const char *onnx_attr_str(const Onnx__NodeProto *n, const char *name, const char *dflt, char *out,
                          size_t len);

/* Folds node n whose inputs are all constants (in[i] NULL for an omitted
 * optional input). Returns 1 and fills out[0..n_output) when the op is one the
 * folder evaluates, 0 when it is not, -1 with a message on an error. */
int onnx_fold(const Onnx__NodeProto *n, int opset, OnnxTensor *const *in, int n_in,
              OnnxTensor *out, char *err, size_t errlen);

/* Shape rules shared by folding and import; 0, or -1 (with err when given). */
int onnx_node_axes(const Onnx__NodeProto *n, const OnnxTensor *axes_in, long *axes, int max);
int onnx_reshape_dims(int rank, const int *dims, const OnnxTensor *shape, int allowzero,
                      int *out_rank, int *out, char *err, size_t errlen);
int onnx_flatten_dims(int rank, const int *dims, long axis, int *out_rank, int *out);
int onnx_squeeze_dims(int rank, const int *dims, const long *axes, int n_axes, int *out_rank,
                      int *out, char *err, size_t errlen);
int onnx_unsqueeze_dims(int rank, const int *dims, const long *axes, int n_axes, int *out_rank,
                        int *out, char *err, size_t errlen);

/* Broadcast shape of two tensors (numpy rules); -1 if they do not broadcast. */
int onnx_broadcast(int ra, const int *da, int rb, const int *db, int *rank, int *dims);

#endif
