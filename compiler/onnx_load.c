/* ONNX files through protobuf-c: whole-file unpacking, tensors, attributes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

#define TENSOR_MAX_COUNT (1L << 28) /* elements; larger tensors are refused */

void *onnx_unpack_file(const char *path, const ProtobufCMessageDescriptor *desc, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    void *msg = NULL;
    uint8_t *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        errf(err, errlen, "%s: cannot read (not a regular file?)", path);
        goto done;
    }
    if (size > ONNX_FILE_MAX) {
        errf(err, errlen, "%s: %ld bytes is larger than the %ld nnbench reads", path, size,
             ONNX_FILE_MAX);
        goto done;
    }
    buf = malloc((size_t)size + 1);
    if (!buf) {
        errf(err, errlen, "%s: out of memory for %ld bytes", path, size);
        goto done;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        errf(err, errlen, "%s: read error", path);
        goto done;
    }
    msg = protobuf_c_message_unpack(desc, NULL, (size_t)size, buf);
    if (!msg)
        errf(err, errlen, "%s: not a valid ONNX %s (protobuf decoding failed: truncated or not ONNX)",
             path, desc->short_name);
done:
    free(buf);
    fclose(f);
    return msg;
}

const char *onnx_dtype_name(int dtype)
{
    static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
                                        "int32", "int64", "string", "bool", "float16", "double",
                                        "uint32", "uint64", "complex64", "complex128", "bfloat16"};
    return dtype >= 0 && dtype < (int)(sizeof names / sizeof *names) ? names[dtype] : "unknown";
}

int onnx_tensor_alloc(OnnxTensor *t, int rank, const int *dims, int is_int)
{
    char keep[sizeof t->name];
    memcpy(keep, t->name, sizeof keep);
    memset(t, 0, sizeof *t);
    memcpy(t->name, keep, sizeof keep);
    if (rank < 0 || rank > NN_MAX_RANK)
        return -1;
    t->rank = rank;
    t->count = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0)
            return -1;
        t->dims[d] = dims[d];
        t->count *= (size_t)dims[d];
        if (t->count > (size_t)TENSOR_MAX_COUNT)
            return -1;
    }
    t->is_int = is_int;
    t->dtype = is_int ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->v = calloc(t->count ? t->count : 1, sizeof *t->v);
    return t->v ? 0 : -1;
}

int onnx_tensor_copy(OnnxTensor *dst, const OnnxTensor *src)
{
    memcpy(dst->name, src->name, sizeof dst->name);
    if (onnx_tensor_alloc(dst, src->rank, src->dims, src->is_int))
        return -1;
    dst->dtype = src->dtype;
    memcpy(dst->v, src->v, src->count * sizeof *dst->v);
    return 0;
}

void onnx_tensor_free(OnnxTensor *t)
{
    if (t) {
        free(t->v);
        t->v = NULL;
    }
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v = exp == 0 ? ldexpf((float)man, -24)
              : exp == 31 ? (man ? NAN : INFINITY)
                          : ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

static float bfloat_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element size in raw_data, or 0 for a type we do not read. */
static size_t raw_size(int dtype)
{
    switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return 1;
    default:
        return 0;
    }
}

/* One little-endian raw element as a double. */
static double raw_value(const uint8_t *p, int dtype)
{
    uint64_t u = 0;
    for (size_t i = raw_size(dtype); i-- > 0;)
        u = u << 8 | p[i];
    switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return (int32_t)(uint32_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (double)(int64_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return (int16_t)(uint16_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return (int8_t)(uint8_t)u;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: return half_to_float((uint16_t)u);
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: return bfloat_to_float((uint16_t)u);
    default: return (double)u; /* unsigned types and bool */
    }
}

/* One element of the typed int32_data field (which also carries 8/16-bit and float16 values). */
static double int32_field_value(int32_t x, int dtype)
{
    if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16)
        return half_to_float((uint16_t)x);
    if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16)
        return bfloat_to_float((uint16_t)x);
    return x;
}

int onnx_tensor_from_proto(const Onnx__TensorProto *p, OnnxTensor *t, char *err, size_t errlen)
{
    const char *name = p->name ? p->name : "";
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    int dtype = p->has_data_type ? p->data_type : 0;
    if (p->n_dims > NN_MAX_RANK)
        return errf(err, errlen, "tensor '%s': rank %zu (nnbench handles up to %d)", name, p->n_dims,
                    NN_MAX_RANK);
    int dims[NN_MAX_RANK];
    for (size_t d = 0; d < p->n_dims; d++) {
        if (p->dims[d] < 0 || p->dims[d] > TENSOR_MAX_COUNT)
            return errf(err, errlen, "tensor '%s': bad dimension %lld", name, (long long)p->dims[d]);
        dims[d] = (int)p->dims[d];
    }
    if (!raw_size(dtype))
        return errf(err, errlen, "tensor '%s': unsupported: data type %s", name, onnx_dtype_name(dtype));
    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return errf(err, errlen, "tensor '%s': unsupported: external data", name);
    int is_int = dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
                 dtype != ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE &&
                 dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 &&
                 dtype != ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    if (onnx_tensor_alloc(t, (int)p->n_dims, dims, is_int))
        return errf(err, errlen, "tensor '%s': too large or out of memory", name);
    t->dtype = dtype;
    size_t n = t->count, have;
    if (p->has_raw_data) {
        have = p->raw_data.len / raw_size(dtype);
        if (have == n)
            for (size_t i = 0; i < n; i++)
                t->v[i] = raw_value(p->raw_data.data + i * raw_size(dtype), dtype);
    } else if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        have = p->n_float_data;
        for (size_t i = 0; i < n && have == n; i++)
            t->v[i] = p->float_data[i];
    } else if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        have = p->n_double_data;
        for (size_t i = 0; i < n && have == n; i++)
            t->v[i] = p->double_data[i];
    } else if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        have = p->n_int64_data;
        for (size_t i = 0; i < n && have == n; i++)
            t->v[i] = (double)p->int64_data[i];
    } else if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 ||
               dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT32) {
        have = p->n_uint64_data;
        for (size_t i = 0; i < n && have == n; i++)
            t->v[i] = (double)p->uint64_data[i];
    } else {
        have = p->n_int32_data;
        for (size_t i = 0; i < n && have == n; i++)
            t->v[i] = int32_field_value(p->int32_data[i], dtype);
    }
    if (have != n) {
        onnx_tensor_free(t);
        return errf(err, errlen, "tensor '%s': %zu values for a shape of %zu elements", name, have, n);
    }
    return 0;
}

int onnx_read_tensor(const char *path, OnnxTensor *t, char *err, size_t errlen)
{
    Onnx__TensorProto *p = onnx_unpack_file(path, &onnx__tensor_proto__descriptor, err, errlen);
    if (!p)
        return -1;
    char why[NN_ERR_MAX];
    int rc = onnx_tensor_from_proto(p, t, why, sizeof why);
    if (rc)
        errf(err, errlen, "%s: %s", path, why);
    onnx__tensor_proto__free_unpacked(p, NULL);
    return rc;
}

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

long onnx_attr_int(const Onnx__NodeProto *n, const char *name, long dflt)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_i ? (long)a->i : dflt;
}

float onnx_attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

int onnx_attr_ints(const Onnx__NodeProto *n, const char *name, long *out, int max)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    if (!a)
        return -1;
    if (a->n_ints > (size_t)max)
        return -2;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = (long)a->ints[i];
    return (int)a->n_ints;
}

const char *onnx_attr_str(const Onnx__NodeProto *n, const char *name, const char *dflt, char *out,
                          size_t len)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    if (!a || !a->has_s)
        return dflt;
    size_t k = a->s.len < len - 1 ? a->s.len : len - 1;
    memcpy(out, a->s.data, k);
    out[k] = '\0';
    return out;
}

int onnx_broadcast(int ra, const int *da, int rb, const int *db, int *rank, int *dims)
{
    int r = ra > rb ? ra : rb;
    if (r > NN_MAX_RANK)
        return -1;
    for (int i = 0; i < r; i++) {
        int a = i - (r - ra) >= 0 ? da[i - (r - ra)] : 1;
        int b = i - (r - rb) >= 0 ? db[i - (r - rb)] : 1;
        if (a != b && a != 1 && b != 1)
            return -1;
        dims[i] = a == 1 ? b : a;
    }
    *rank = r;
    return 0;
}

int is_onnx_path(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".onnx");
}
