/* compiler/onnx: graphs built here with protobuf-c, imported, and checked
 * for what the importer promises beyond ONNX's node tests: shape sub-graphs
 * fold away, Keras's NHWC transpose cancels against the image layout, a Pad
 * merges into the next conv, a per-channel Add into its bias, and bad or
 * unsupported input gives a message naming the file and node. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/compiler.h"
#include "compiler/onnx.h"

static char g_dir[64];
static char g_path[128];

/* ------------------------------------------------- building ONNX graphs */

typedef struct {
    Onnx__GraphProto *g;
} Builder;

static char *sdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

#define PUSH(arr, n, item)                                             \
    do {                                                               \
        (arr) = realloc((arr), sizeof *(arr) * ((n) + 1));             \
        assert_non_null(arr);                                          \
        (arr)[(n)++] = (item);                                         \
    } while (0)

static Onnx__TensorProto *tensor(const char *name, int rank, const int64_t *dims, const float *v)
{
    Onnx__TensorProto *t = malloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = sdup(name);
    t->has_data_type = 1;
    t->data_type = v ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    size_t count = 1;
    for (int d = 0; d < rank; d++) {
        PUSH(t->dims, t->n_dims, dims[d]);
        count *= (size_t)dims[d];
    }
    t->n_float_data = v ? count : 0;
    t->float_data = v ? malloc(sizeof(float) * count) : NULL;
    if (v)
        memcpy(t->float_data, v, sizeof(float) * count);
    return t;
}

static void initializer(Builder *b, const char *name, int rank, const int64_t *dims, const float *v)
{
    PUSH(b->g->initializer, b->g->n_initializer, tensor(name, rank, dims, v));
}

static void int_initializer(Builder *b, const char *name, int n, const int64_t *v)
{
    Onnx__TensorProto *t = tensor(name, 1, (int64_t[]){n}, NULL);
    t->n_int64_data = (size_t)n;
    t->int64_data = malloc(sizeof(int64_t) * (size_t)n);
    memcpy(t->int64_data, v, sizeof(int64_t) * (size_t)n);
    PUSH(b->g->initializer, b->g->n_initializer, t);
}

/* A node "op(in1,in2,...) -> out"; inputs as a comma-separated list. */
static Onnx__NodeProto *node(Builder *b, const char *op, const char *inputs, const char *out)
{
    Onnx__NodeProto *n = malloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = sdup(op);
    n->name = sdup(out);
    char *list = sdup(inputs);
    for (char *s = strtok(list, ","); s; s = strtok(NULL, ","))
        PUSH(n->input, n->n_input, sdup(s));
    free(list);
    PUSH(n->output, n->n_output, sdup(out));
    PUSH(b->g->node, b->g->n_node, n);
    return n;
}

static void attr_ints(Onnx__NodeProto *n, const char *name, int k, const int64_t *v)
{
    Onnx__AttributeProto *a = malloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = sdup(name);
    a->has_type = 1;
    a->type = k == 1 ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (k == 1) {
        a->has_i = 1;
        a->i = v[0];
    } else {
        for (int i = 0; i < k; i++)
            PUSH(a->ints, a->n_ints, v[i]);
    }
    PUSH(n->attribute, n->n_attribute, a);
}

static Onnx__ValueInfoProto *value_info(const char *name, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = malloc(sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = sdup(name);
    Onnx__TypeProto *tp = malloc(sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = malloc(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = 1;
    Onnx__TensorShapeProto *sh = malloc(sizeof *sh);
    onnx__tensor_shape_proto__init(sh);
    for (int d = 0; d < rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = malloc(sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        if (dims[d] < 0) { /* symbolic: the batch */
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = sdup("N");
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = dims[d];
        }
        PUSH(sh->dim, sh->n_dim, dim);
    }
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

static Builder begin(const char *input, int rank, const int64_t *dims)
{
    Builder b = {malloc(sizeof(Onnx__GraphProto))};
    onnx__graph_proto__init(b.g);
    b.g->name = sdup("g");
    PUSH(b.g->input, b.g->n_input, value_info(input, rank, dims));
    return b;
}

/* Writes the model (opset 13, IR 7) to g_path and frees it. */
static const char *finish(Builder *b, const char *output)
{
    PUSH(b->g->output, b->g->n_output, value_info(output, 0, NULL));
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = 7;
    Onnx__OperatorSetIdProto *op = malloc(sizeof *op);
    onnx__operator_set_id_proto__init(op);
    op->domain = sdup("");
    op->has_version = 1;
    op->version = 13;
    m.n_opset_import = 1;
    m.opset_import = &op;
    m.graph = b->g;
    size_t n = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(n);
    onnx__model_proto__pack(&m, buf);
    FILE *f = fopen(g_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    free(buf);
    protobuf_c_message_free_unpacked(&b->g->base, NULL);
    protobuf_c_message_free_unpacked(&op->base, NULL);
    return g_path;
}

/* ----------------------------------------------------------------- tests */

static int count_type(const Net *net, OpType t)
{
    int n = 0;
    for (int i = 0; i < net->n_layers; i++)
        n += net->layers[i].type == t;
    return n;
}

static const float *run(Model *m, const float *x)
{
    assert_int_equal(net_reserve(m->net, 1, 0), 0);
    return net_forward(m->net, x, 1, 0);
}

/* PyTorch's flatten: Shape → Gather → Unsqueeze → Concat → Reshape, then Gemm. */
static void test_shape_subgraph_folds(void **state)
{
    (void)state;
    Builder b = begin("x", 4, (int64_t[]){-1, 4, 2, 2});
    float w[3 * 16];
    for (int i = 0; i < 48; i++)
        w[i] = (float)(i % 7) - 3;
    initializer(&b, "W", 2, (int64_t[]){3, 16}, w);
    int_initializer(&b, "zero", 1, (int64_t[]){0});
    int_initializer(&b, "minus1", 1, (int64_t[]){-1});
    node(&b, "Shape", "x", "s");
    Onnx__NodeProto *g = node(&b, "Gather", "s,zero", "n");
    attr_ints(g, "axis", 1, (int64_t[]){0});
    Onnx__NodeProto *c = node(&b, "Concat", "n,minus1", "shape");
    attr_ints(c, "axis", 1, (int64_t[]){0});
    node(&b, "Reshape", "x,shape", "flat");
    Onnx__NodeProto *gemm = node(&b, "Gemm", "flat,W", "y");
    attr_ints(gemm, "transB", 1, (int64_t[]){1});
    Model m;
    char err[512];
    int rc = onnx_import(finish(&b, "y"), NULL, &m, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(m.net->n_layers, 2); /* input, dense: nothing else survives */
    assert_int_equal(m.net->layers[1].type, OP_DENSE);
    assert_int_equal(m.classes, 3);
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = 0.25f * (float)i;
    const float *y = run(&m, x);
    for (int j = 0; j < 3; j++) {
        float want = 0;
        for (int i = 0; i < 16; i++)
            want += w[j * 16 + i] * x[i];
        assert_float_equal(y[j], want, 1e-4);
    }
    model_free(&m);
}

/* Keras: an NHWC input whose first op transposes to NCHW; fed CHW images it cancels. */
static void test_nhwc_transpose_cancels(void **state)
{
    (void)state;
    Builder b = begin("img", 4, (int64_t[]){-1, 4, 5, 3});
    Onnx__NodeProto *t = node(&b, "Transpose", "img", "nchw");
    attr_ints(t, "perm", 4, (int64_t[]){0, 3, 1, 2});
    node(&b, "Relu", "nchw", "y");
    OnnxOptions opt = {.has_data_shape = 1, .data_shape = {3, 4, 5}};
    Model m;
    char err[512];
    int rc = onnx_import(finish(&b, "y"), &opt, &m, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(count_type(m.net, OP_TRANSPOSE), 0);
    assert_int_equal(m.net->n_layers, 2);
    float x[60];
    for (int i = 0; i < 60; i++)
        x[i] = (float)i - 30;
    const float *y = run(&m, x);
    for (int i = 0; i < 60; i++) /* CHW in, CHW out: relu only */
        assert_float_equal(y[i], x[i] > 0 ? x[i] : 0, 0);
    model_free(&m);
}

/* Pad then Conv becomes one padded conv; a per-channel Add folds into the bias. */
static void test_pad_and_bias_fold_into_conv(void **state)
{
    (void)state;
    Builder b = begin("x", 4, (int64_t[]){1, 1, 4, 4});
    float w[2 * 9];
    for (int i = 0; i < 18; i++)
        w[i] = (float)((i * 5) % 9) / 9 - 0.4f;
    initializer(&b, "W", 4, (int64_t[]){2, 1, 3, 3}, w);
    initializer(&b, "c", 3, (int64_t[]){2, 1, 1}, (float[]){0.5f, -2});
    int_initializer(&b, "pads", 8, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1});
    node(&b, "Pad", "x,pads", "xp");
    node(&b, "Conv", "xp,W", "conv");
    node(&b, "Add", "conv,c", "y");
    Model m;
    char err[512];
    int rc = onnx_import(finish(&b, "y"), NULL, &m, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(count_type(m.net, OP_PAD), 0);
    assert_int_equal(count_type(m.net, OP_ELTWISE), 0);
    int ci = net_find(m.net, m.net->layers[1].name);
    const Layer *conv = &m.net->layers[ci];
    assert_int_equal(conv->type, OP_CONV);
    assert_int_equal(conv->a.pad_t + conv->a.pad_l + conv->a.pad_b + conv->a.pad_r, 4);
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i % 5) - 2;
    const float *y = run(&m, x);
    for (int f = 0; f < 2; f++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                float want = f ? -2 : 0.5f;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        int rr = r + i - 1, cc = c + j - 1;
                        if (rr >= 0 && rr < 4 && cc >= 0 && cc < 4)
                            want += w[f * 9 + i * 3 + j] * x[rr * 4 + cc];
                    }
                assert_float_equal(y[f * 16 + r * 4 + c], want, 1e-5);
            }
    model_free(&m);
}

static void expect_error(const char *path, const OnnxOptions *opt, const char *must_contain)
{
    Model m;
    char err[512] = "";
    assert_int_equal(onnx_import(path, opt, &m, err, sizeof err), -1);
    if (!strstr(err, must_contain) || !strstr(err, path))
        fail_msg("message '%s' lacks '%s' or the file name", err, must_contain);
}

static void test_unsupported_and_bad_input(void **state)
{
    (void)state;
    Builder b = begin("x", 4, (int64_t[]){1, 2, 4, 4});
    initializer(&b, "W", 4, (int64_t[]){2, 1, 3, 3}, (float[18]){0});
    Onnx__NodeProto *n = node(&b, "Conv", "x,W", "y");
    attr_ints(n, "group", 1, (int64_t[]){2});
    expect_error(finish(&b, "y"), NULL, "node 'y' (Conv): unsupported: group = 2");

    b = begin("x", 2, (int64_t[]){1, 4});
    node(&b, "Erf", "x", "y");
    expect_error(finish(&b, "y"), NULL, "unsupported: op Erf");

    b = begin("x", 2, (int64_t[]){1, 4});
    node(&b, "Relu", "nowhere", "y");
    expect_error(finish(&b, "y"), NULL, "input 'nowhere' is not computed before this node");

    b = begin("x", 4, (int64_t[]){1, 3, 32, 32});
    node(&b, "Relu", "x", "y");
    OnnxOptions mnist = {.has_data_shape = 1, .data_shape = {1, 28, 28}};
    expect_error(finish(&b, "y"), &mnist, "3072 values");

    FILE *f = fopen(g_path, "wb");
    assert_non_null(f);
    fputs("\x0a\xff\xff\xff garbage", f);
    fclose(f);
    expect_error(g_path, NULL, "not a valid ONNX");
    expect_error("/nonexistent/model.onnx", NULL, "cannot open");
}

/* A TensorProto's values are the same whether stored raw or in typed fields. */
static void test_tensor_encodings(void **state)
{
    (void)state;
    float v[3] = {1.5f, -2, 1e-3f};
    Onnx__TensorProto *typed = tensor("t", 1, (int64_t[]){3}, v);
    Onnx__TensorProto raw = *typed;
    raw.n_float_data = 0;
    raw.has_raw_data = 1;
    raw.raw_data.len = sizeof v;
    raw.raw_data.data = (uint8_t *)v;
    OnnxTensor a, b;
    char err[256];
    assert_int_equal(onnx_tensor_from_proto(typed, &a, err, sizeof err), 0);
    assert_int_equal(onnx_tensor_from_proto(&raw, &b, err, sizeof err), 0);
    assert_int_equal(a.count, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(a.v[i] == v[i]);
        assert_true(b.v[i] == v[i]);
    }
    onnx_tensor_free(&a);
    onnx_tensor_free(&b);
    raw.raw_data.len = 5; /* not a whole number of floats */
    assert_int_equal(onnx_tensor_from_proto(&raw, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "values for a shape of 3"));
    protobuf_c_message_free_unpacked(&typed->base, NULL);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/nnbench-onnx-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/m.onnx", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_path);
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_subgraph_folds),
        cmocka_unit_test(test_nhwc_transpose_cancels),
        cmocka_unit_test(test_pad_and_bias_fold_into_conv),
        cmocka_unit_test(test_unsupported_and_bad_input),
        cmocka_unit_test(test_tensor_encodings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
