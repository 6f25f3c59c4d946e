/* nnbench eval: accuracy of a model file on a data set's test split, on the
 * reference float executor. */
#include <stdlib.h>
#include <string.h>

#include "../datasets/datasets.h"
#include "../model/model.h"
#include "harness.h"

int cmd_eval(int argc, char **argv)
{
    const char *file = NULL, *dataset = NULL;
    long limit = -1;
    int json = 0, custom_norm = 0;
    Normalize norm;
    normalize_default(&norm);
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int pre = parse_preprocessing(o, v, &norm, err, sizeof err);
        if (pre < 0)
            return fail(EXIT_USAGE, "eval", "%s", err);
        if (pre > 0) {
            custom_norm = 1;
            i++;
        } else if (!strcmp(o, "--json"))
            json = 1;
        else if (!strcmp(o, "--dataset") || !strcmp(o, "--limit")) {
            if (!v)
                return fail(EXIT_USAGE, "eval", "%s needs a value", o);
            i++;
            if (!strcmp(o, "--dataset"))
                dataset = v;
            else if (parse_long(v, 1, 1L << 30, &limit))
                return fail(EXIT_USAGE, "eval", "--limit: '%s' is not a positive whole number", v);
        } else if (o[0] == '-' && o[1])
            return fail(EXIT_USAGE, "eval", "unknown option '%s' (see nnbench --help)", o);
        else if (file)
            return fail(EXIT_USAGE, "eval", "one model file expected, got '%s' and '%s'", file, o);
        else
            file = o;
    }
    if (!file)
        return fail(EXIT_USAGE, "eval", "a MODEL.h5 or MODEL.onnx file is required");
    Model m;
    Dataset ds;
    int rc = open_model("eval", file, dataset, SPLIT_TEST, &m, &ds);
    if (rc)
        goto done;
    dataset = m.dataset;
    if (limit > 0 && limit < ds.test.n)
        ds.test.n = (int)limit;
    double acc = net_evaluate(m.net, &ds.test, custom_norm ? &norm : &m.train.norm, 256, NULL);
    if (acc < 0) {
        rc = fail(EXIT_WORK, "eval", "%s: out of memory", file);
        goto done;
    }
    if (json) {
        Json j;
        json_open(&j, stdout);
        json_str(&j, "model", file);
        json_str(&j, "dataset", dataset);
        json_int(&j, "n", ds.test.n);
        json_num(&j, "accuracy", acc);
        json_close(&j);
    } else {
        printf("%s on %s: accuracy %.2f%% (%d images)\n", file, dataset, 100 * acc, ds.test.n);
    }
    rc = EXIT_OK;
done:
    model_free(&m);
    dataset_free(&ds);
    return rc;
}
