/* nnbench train: build a zoo (or INI) model, train it on its data set with
 * its recipe, measure test accuracy and save the model file. */
#include <stdlib.h>
#include <string.h>

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
    char err[1024];
    if (check_output_path(a->out, err, sizeof err))
        return fail(EXIT_USAGE, "train", "%s", err);
    return EXIT_OK;
}

int cmd_train(int argc, char **argv)
{
    TrainArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    char err[1024];
    TrainJob job = {a.model, a.dataset, a.epochs, a.seed, a.limit, !a.quiet, a.out};
    TrainOutcome o;
    rc = train_job(&job, &o, err, sizeof err);
    if (rc)
        return fail(rc, "train", "%s", err);
    if (a.json) {
        Json j;
        json_open(&j, stdout);
        json_str(&j, "model", o.name);
        json_str(&j, "dataset", o.dataset);
        json_str(&j, "file", a.out);
        json_int(&j, "epochs", o.epochs);
        json_int(&j, "train_images", o.train_images);
        json_int(&j, "params", (long)o.params);
        json_num(&j, "train_s", o.train_s);
        json_int(&j, "n", o.test_images);
        json_num(&j, "accuracy", o.accuracy);
        json_close(&j);
    } else {
        printf("%s on %s: test accuracy %.2f%% (%d images), trained in %.1f s -> %s\n", o.name, o.dataset,
               100 * o.accuracy, o.test_images, o.train_s, a.out);
    }
    return EXIT_OK;
}
