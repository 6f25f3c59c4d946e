/* Runs ONNX's backend node tests (Debian's libonnx-testdata) through the
 * importer and the float executor.
 *
 * Usage: onnx-node-tests [-v] [DIR]   (DIR default /usr/share/libonnx-testdata/data/node)
 *
 * A test counts when every op in its graph is one the front end supports.
 * Its first graph input is the data; further inputs are bound as constants,
 * as a compiled network's weights are. Outputs must match within relative
 * 1e-4 and absolute 1e-5. A test the importer refuses as "unsupported: ..."
 * is skipped with that reason; any other error, or a wrong value, fails it.
 * Exit status 1 when a test fails. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compiler/compiler.h"
#include "compiler/onnx.h"

static const char *const supported_ops[] = {
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
    "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
    "LRN", "Concat", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Softmax",
    "Dropout", "Identity", "Constant", "Pad", "Shape", "Cast"};

static int op_supported(const char *op)
{
    for (size_t i = 0; i < sizeof supported_ops / sizeof *supported_ops; i++)
        if (!strcmp(supported_ops[i], op))
            return 1;
    return 0;
}

enum { PASS, FAIL, SKIP, OTHER };

static int is_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!strcmp(g->initializer[i]->name, name))
            return 1;
    return 0;
}

/* Compares out (n floats) with the expected tensor; writes the first mismatch. */
static int compare(const float *out, size_t n, const OnnxTensor *want, char *why, size_t len)
{
    if (n != want->count)
        return snprintf(why, len, "%zu outputs, expected %zu", n, want->count), -1;
    for (size_t i = 0; i < n; i++) {
        double w = want->v[i], d = fabs((double)out[i] - w);
        if (isnan(w) ? !isnan(out[i]) : !(d <= 1e-5 + 1e-4 * fabs(w))) {
            snprintf(why, len, "output %zu is %.9g, expected %.9g", i, out[i], w);
            return -1;
        }
    }
    return 0;
}

/* Runs one data set (test_data_set_K) of a test; 0 pass, -1 fail (why), 1 skip. */
static int run_case(const char *model, const char *set, const Onnx__GraphProto *g, char *why, size_t len)
{
    OnnxTensor in[16];
    int n = 0, rc = -1;
    char path[3000];
    for (size_t i = 0; i < g->n_input && n < 16; i++) {
        if (is_initializer(g, g->input[i]->name))
            continue;
        const Onnx__TypeProto *type = g->input[i]->type;
        if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
            snprintf(why, len, "unsupported: input '%s' is not a tensor (a sequence, map or optional)",
                     g->input[i]->name);
            for (int k = 0; k < n; k++)
                onnx_tensor_free(&in[k]);
            return 1;
        }
        snprintf(path, sizeof path, "%.2600s/input_%d.pb", set, n);
        if (onnx_read_tensor(path, &in[n], why, len)) {
            for (int k = 0; k < n; k++)
                onnx_tensor_free(&in[k]);
            return strstr(why, "unsupported") ? 1 : -1;
        }
        snprintf(in[n].name, sizeof in[n].name, "%s", g->input[i]->name);
        n++;
    }
    OnnxTensor want;
    snprintf(path, sizeof path, "%.2600s/output_0.pb", set);
    if (onnx_read_tensor(path, &want, why, len)) {
        for (int k = 0; k < n; k++)
            onnx_tensor_free(&in[k]);
        return strstr(why, "unsupported") ? 1 : -1;
    }
    Model m;
    OnnxOptions opt = {.n_bound = n > 1 ? n - 1 : 0, .bound = in + 1};
    if (n > 0 && in[0].is_int) {
        snprintf(why, len, "unsupported: %s data (float32 only)", onnx_dtype_name(in[0].dtype));
        rc = 1;
    } else if (onnx_import(model, &opt, &m, why, len)) {
        rc = strstr(why, "unsupported") ? 1 : -1;
    } else {
        Net *net = m.net;
        size_t nin = shape_size(net_input_shape(net));
        float *x = calloc(nin, sizeof *x);
        if (x && net_reserve(net, 1, 0) == 0) {
            for (size_t i = 0; n > 0 && i < nin && i < in[0].count; i++)
                x[i] = (float)in[0].v[i];
            const float *out = net_forward(net, x, 1, 0);
            rc = compare(out, layer_size(&net->layers[net->output]), &want, why, len);
        } else {
            snprintf(why, len, "out of memory");
        }
        free(x);
        model_free(&m);
    }
    onnx_tensor_free(&want);
    for (int k = 0; k < n; k++)
        onnx_tensor_free(&in[k]);
    return rc;
}

static int run_test(const char *dir, char *why, size_t len)
{
    char model[2200];
    snprintf(model, sizeof model, "%.2100s/model.onnx", dir);
    Onnx__ModelProto *mp = onnx_unpack_file(model, &onnx__model_proto__descriptor, why, len);
    if (!mp)
        return FAIL;
    int result = PASS;
    const Onnx__GraphProto *g = mp->graph;
    for (size_t i = 0; g && i < g->n_node; i++)
        if (!op_supported(g->node[i]->op_type)) {
            snprintf(why, len, "op %s", g->node[i]->op_type);
            result = OTHER;
        }
    for (int k = 0; result == PASS && g; k++) {
        char set[2600];
        struct stat st;
        snprintf(set, sizeof set, "%.2100s/test_data_set_%d", dir, k);
        if (stat(set, &st) != 0) {
            if (k == 0)
                snprintf(why, len, "no test_data_set_0"), result = FAIL;
            break;
        }
        int rc = run_case(model, set, g, why, len);
        result = rc == 0 ? PASS : rc > 0 ? SKIP : FAIL;
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return result;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int main(int argc, char **argv)
{
    const char *root = "/usr/share/libonnx-testdata/data/node";
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else
            root = argv[i];
    }
    struct dirent **names;
    int n = scandir(root, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "onnx-node-tests: %s: cannot read the node tests (install libonnx-testdata)\n", root);
        return 2;
    }
    int count[4] = {0};
    for (int i = 0; i < n; i++) {
        const char *t = names[i]->d_name;
        if (strncmp(t, "test_", 5)) {
            free(names[i]);
            continue;
        }
        char dir[2100], why[1024] = "";
        snprintf(dir, sizeof dir, "%.1000s/%.1000s", root, t);
        int r = run_test(dir, why, sizeof why);
        count[r]++;
        if (r == FAIL)
            printf("FAIL %s: %s\n", t, why);
        else if (r == SKIP)
            printf("skip %s: %s\n", t, why);
        else if (verbose)
            printf("%s %s%s%s\n", r == PASS ? "ok  " : "n/a ", t, r == OTHER ? ": " : "", r == OTHER ? why : "");
        free(names[i]);
    }
    free(names);
    printf("onnx node tests: %d passed, %d failed, %d skipped (%d tests use ops outside the front end)\n",
           count[PASS], count[FAIL], count[SKIP], count[OTHER]);
    return count[FAIL] ? 1 : 0;
}
