/* Opening a model for a command: a native .h5 or an ONNX file, with the
 * splits of its data set it needs, checked to fit each other. */
#include <string.h>

#include "../compiler/compiler.h"
#include "../datasets/datasets.h"
#include "harness.h"

int load_model(const char *file, const char *dataset, SplitMask splits, Model *m, Dataset *ds, char *err,
               size_t errlen)
{
    memset(m, 0, sizeof *m);
    memset(ds, 0, sizeof *ds);
    int onnx = is_onnx_path(file);
    if (onnx && !dataset)
        return errf(err, errlen, "%s: an ONNX file does not name its data set: give --dataset", file), EXIT_USAGE;
    /* An ONNX model is imported for the data set's image shape (NCHW or NHWC). */
    if (onnx && dataset_load(dataset, splits, ds, err, errlen))
        return EXIT_USAGE;
    OnnxOptions opt = {.has_data_shape = 1, .data_shape = ds->shape};
    if (onnx ? onnx_import(file, &opt, m, err, errlen) : model_load(file, m, err, errlen))
        return EXIT_USAGE;
    if (!dataset)
        dataset = m->dataset;
    if (!onnx && dataset_load(dataset, splits, ds, err, errlen))
        return EXIT_USAGE;
    if (shape_size(ds->shape) != shape_size(net_input_shape(m->net)) ||
        ds->classes != (int)net_output_size(m->net)) {
        Shape in = net_input_shape(m->net);
        errf(err, errlen,
                    "%s: model takes %dx%dx%d inputs and has %zu outputs; %s has %dx%dx%d images and %d classes",
                    file, in.c, in.h, in.w, net_output_size(m->net), dataset, ds->shape.c, ds->shape.h,
                    ds->shape.w, ds->classes);
        return EXIT_USAGE;
    }
    if (dataset != m->dataset) /* snprintf onto its own source is undefined (it gave "") */
        snprintf(m->dataset, sizeof m->dataset, "%s", dataset);
    return EXIT_OK;
}

int open_model(const char *cmd, const char *file, const char *dataset, SplitMask splits, Model *m,
               Dataset *ds)
{
    char err[1024];
    int rc = load_model(file, dataset, splits, m, ds, err, sizeof err);
    return rc ? fail(rc, cmd, "%s", err) : EXIT_OK;
}
