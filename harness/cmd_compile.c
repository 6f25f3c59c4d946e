/* nnbench compile: a trained model into a program for a chip (DESIGN.md §2),
 * and with --dataset its accuracy before and after, on the test split.
 * Strategies: reform (core ops at full precision) and naive (reform, then
 * rounding with calibrated scales). Every program goes through the verifier. */
#include <stdlib.h>
#include <string.h>

#include "../compiler/compiler.h"
#include "../datasets/datasets.h"
#include "../simulators/simulators.h"
#include "harness.h"

#define MAX_SETS 64

/* The verifier's findings, up to 5 of them, for the text output. A float
 * program's V_FLOAT is left out (see `violations` in cmd_compile). */
static void print_violations(const VerifyReport *vr, long long violations)
{
    printf("verifier: %lld violation%s of the hardware description", violations,
           violations == 1 ? "" : "s");
    for (int k = 0, first = 1; k < V_COUNT; k++)
        if (k != V_FLOAT && vr->counts[k]) {
            printf("%s%s %lld", first ? " (" : ", ", verify_kind_name((ViolationKind)k), vr->counts[k]);
            first = 0;
        }
    printf("%s\n", violations ? ")" : "");
    char line[256];
    for (int i = 0, shown = 0; i < vr->n && shown < 5; i++) {
        if (vr->v[i].kind == V_FLOAT)
            continue;
        verify_describe(vr, i, line, sizeof line);
        printf("  %s\n", line);
        shown++;
    }
}

int cmd_compile(int argc, char **argv)
{
    const char *file = NULL, *dataset = NULL, *hw_name = NULL, *strategy = "reform", *out = NULL;
    const char *sets[MAX_SETS];
    int n_sets = 0, json = 0, custom_norm = 0;
    long limit = -1;
    Normalize norm;
    normalize_default(&norm);
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int pre = parse_preprocessing(o, v, &norm, err, sizeof err);
        if (pre < 0)
            return fail(EXIT_USAGE, "compile", "%s", err);
        if (pre > 0) {
            custom_norm = 1;
            i++;
        } else if (!strcmp(o, "--json")) {
            json = 1;
        } else if (!strcmp(o, "--hw") || !strcmp(o, "--set") || !strcmp(o, "--strategy") ||
                   !strcmp(o, "--dataset") || !strcmp(o, "--limit") || !strcmp(o, "-o")) {
            if (!v)
                return fail(EXIT_USAGE, "compile", "%s needs a value", o);
            i++;
            if (!strcmp(o, "--hw"))
                hw_name = v;
            else if (!strcmp(o, "--strategy"))
                strategy = v;
            else if (!strcmp(o, "--dataset"))
                dataset = v;
            else if (!strcmp(o, "-o"))
                out = v;
            else if (!strcmp(o, "--limit") && parse_long(v, 1, 1L << 30, &limit))
                return fail(EXIT_USAGE, "compile", "--limit: '%s' is not a positive whole number", v);
            else if (!strcmp(o, "--set")) {
                if (n_sets == MAX_SETS)
                    return fail(EXIT_USAGE, "compile", "more than %d --set options", MAX_SETS);
                sets[n_sets++] = v;
            }
        } else if (o[0] == '-' && o[1]) {
            return fail(EXIT_USAGE, "compile", "unknown option '%s' (see nnbench --help)", o);
        } else if (file) {
            return fail(EXIT_USAGE, "compile", "one model file expected, got '%s' and '%s'", file, o);
        } else {
            file = o;
        }
    }
    if (!file)
        return fail(EXIT_USAGE, "compile", "a MODEL.h5 or MODEL.onnx file is required");
    if (!hw_name)
        return fail(EXIT_USAGE, "compile", "--hw HW.ini (or a preset name) is required");
    if (out && check_output_path(out, err, sizeof err))
        return fail(EXIT_USAGE, "compile", "%s", err);
    CompileJob job = {file, dataset, custom_norm ? &norm : NULL, hw_name, sets, n_sets, strategy, dataset != NULL,
                      limit, out};
    CompileResult res;
    int rc = compile_job(&job, &res, err, sizeof err);
    if (rc) {
        compile_result_free(&res);
        return fail(rc, "compile", "%s", err);
    }
    if (json) {
        Json j;
        json_open(&j, stdout);
        json_str(&j, "model", file);
        json_str(&j, "hw", res.hw.target.name);
        json_str(&j, "strategy", strategy);
        if (dataset) {
            json_str(&j, "dataset", res.dataset);
            json_int(&j, "n", res.test_images);
            json_num(&j, "orig_accuracy", res.orig_accuracy);
            json_num(&j, "compiled_accuracy", res.compiled_accuracy);
            json_num(&j, "images_per_s", res.images_per_s);
        }
        json_int(&j, "core_ops", res.core_ops);
        json_int(&j, "cores", res.cores);
        json_int(&j, "cores_lower_bound", (long)res.cores_lower_bound);
        json_int(&j, "chips", res.chips);
        json_num(&j, "utilization", res.utilization);
        json_int(&j, "traffic", (long)res.traffic);
        json_int(&j, "weight_blocks", res.weight_blocks);
        json_int(&j, "neurons", res.neurons);
        json_num(&j, "transform_s", res.transform_s);
        json_int(&j, "violations", (long)res.violations);
        json_close(&j);
    } else {
        printf("%s for %s (%s): %d core ops on %d cores (lower bound %lld, %d chips), crossbar use %.1f%%, "
               "traffic %lld value-hops per image, %d weight blocks, %d neurons, %.2f s\n",
               file, res.hw.target.name, strategy, res.core_ops, res.cores, res.cores_lower_bound, res.chips,
               100 * res.utilization, res.traffic, res.weight_blocks, res.neurons, res.transform_s);
        if (dataset)
            printf("accuracy on %s (%d images): original %.2f%%, compiled %.2f%%\n", res.dataset,
                   res.test_images, 100 * res.orig_accuracy, 100 * res.compiled_accuracy);
        print_violations(&res.verify, res.violations);
    }
    compile_result_free(&res);
    return EXIT_OK;
}
