/* nnbench train: build a zoo (or INI) model, train it on its data set with
 * its recipe, measure test accuracy and save the model file. */
#include <stdlib.h>
#include <string.h>

#include "../datasets/datasets.h"
#include "../model/model.h"
#include "harness.h"

typedef struct {
    const char *model, *dataset, *out;
    long epochs, limit, seed;
    int json, quiet;
} TrainArgs;

static int parse_args(int argc, char **argv, TrainArgs *a)
{
    memset(a, 0, sizeof *a);
    a->epochs = a->limit = a->seed = -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json"))
            a->json = 1;
        else if (!strcmp(o, "--quiet"))
            a->quiet = 1;
        else if (!v && (!strcmp(o, "--model") || !strcmp(o, "--dataset") || !strcmp(o, "-o") ||
                        !strcmp(o, "--epochs") || !strcmp(o, "--limit") || !strcmp(o, "--seed")))
            return fail(EXIT_USAGE, "train", "%s needs a value", o);
        else if (!strcmp(o, "--model"))
            a->model = argv[++i];
        else if (!strcmp(o, "--dataset"))
            a->dataset = argv[++i];
        else if (!strcmp(o, "-o"))
            a->out = argv[++i];
        else if (!strcmp(o, "--epochs")) {
            if (parse_long(argv[++i], 0, 100000, &a->epochs))
                return fail(EXIT_USAGE, "train", "--epochs: '%s' is not a whole number in 0..100000", v);
        } else if (!strcmp(o, "--limit")) {
            if (parse_long(argv[++i], 1, 1L << 30, &a->limit))
                return fail(EXIT_USAGE, "train", "--limit: '%s' is not a positive whole number", v);
        } else if (!strcmp(o, "--seed")) {
            if (parse_long(argv[++i], 0, 1L << 62, &a->seed))
                return fail(EXIT_USAGE, "train", "--seed: '%s' is not a whole number >= 0", v);
        } else
            return fail(EXIT_USAGE, "train", "unknown option '%s' (see nnbench --help)", o);
    }
    if (!a->model)
        return fail(EXIT_USAGE, "train", "--model NAME|FILE.ini is required");
    if (!a->out)
        return fail(EXIT_USAGE, "train", "-o MODEL.h5 is required");
    return EXIT_OK;
}

int cmd_train(int argc, char **argv)
{
    TrainArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    char err[1024], path[4096];
    Model m;
    Dataset ds;
    memset(&m, 0, sizeof m);
    memset(&ds, 0, sizeof ds);
    if (model_resolve(a.model, path, sizeof path, err, sizeof err) ||
        model_from_ini(path, a.dataset, &m, err, sizeof err) ||
        dataset_load(m.dataset, SPLIT_BOTH, &ds, err, sizeof err)) {
        rc = fail(EXIT_USAGE, "train", "%s", err);
        goto done;
    }
    if (a.epochs >= 0)
        m.train.epochs = (int)a.epochs;
    if (a.seed >= 0)
        m.train.seed = (uint64_t)a.seed;
    if (a.limit > 0 && a.limit < ds.train.n)
        ds.train.n = (int)a.limit;
    m.train.verbose = !a.quiet;
    net_init_params(m.net, m.train.seed);
    TrainStats st;
    if (!a.quiet)
        fprintf(stderr, "training %s on %s: %d images, %d epochs, %zu parameters\n", m.name,
                m.dataset, ds.train.n, m.train.epochs, net_param_count(m.net));
    if (m.train.epochs > 0 && net_train(m.net, &ds.train, &m.train, &st, err, sizeof err)) {
        rc = fail(EXIT_WORK, "train", "%s: %s", m.name, err);
        goto done;
    }
    double acc = net_evaluate(m.net, &ds.test, &m.train.norm, 256, NULL);
    if (acc < 0) {
        rc = fail(EXIT_WORK, "train", "%s: out of memory evaluating", m.name);
        goto done;
    }
    m.trained = 1;
    snprintf(m.trained_on, sizeof m.trained_on, "%s", m.dataset);
    m.train_seconds = m.train.epochs > 0 ? st.seconds : 0.0;
    m.accuracy = acc;
    if (model_save(&m, a.out, err, sizeof err)) {
        rc = fail(EXIT_WORK, "train", "%s", err);
        goto done;
    }
    if (a.json) {
        Json j;
        json_open(&j, stdout);
        json_str(&j, "model", m.name);
        json_str(&j, "dataset", m.dataset);
        json_str(&j, "file", a.out);
        json_int(&j, "epochs", m.train.epochs);
        json_int(&j, "train_images", ds.train.n);
        json_int(&j, "params", (long)net_param_count(m.net));
        json_num(&j, "train_s", m.train_seconds);
        json_int(&j, "n", ds.test.n);
        json_num(&j, "accuracy", acc);
        json_close(&j);
    } else {
        printf("%s on %s: test accuracy %.2f%% (%d images), trained in %.1f s -> %s\n", m.name,
               m.dataset, 100 * acc, ds.test.n, m.train_seconds, a.out);
    }
    rc = EXIT_OK;
done:
    model_free(&m);
    dataset_free(&ds);
    return rc;
}
