/* nnbench compile: a trained model into a program for a chip (DESIGN.md §2),
 * and with --dataset its accuracy before and after, on the test split.
 * Strategies: reform (core ops at full precision) and naive (reform, then
 * rounding with calibrated scales). Every program goes through the verifier. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

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
    int naive = !strcmp(strategy, "naive");
    if (strcmp(strategy, "reform") && !naive)
        return fail(EXIT_USAGE, "compile", "strategy '%s': 'reform' and 'naive' are built so far ('full' comes next)",
                    strategy);
    Hw hw;
    if (hw_open(hw_name, sets, n_sets, &hw, NULL, 0, err, sizeof err))
        return fail(EXIT_USAGE, "compile", "%s", err);
    Model m;
    Dataset ds;
    Program *p = NULL, *fp = NULL;
    Mapping map;
    memset(&map, 0, sizeof map);
    VerifyReport vr;
    memset(&vr, 0, sizeof vr);
    /* Approximators and naive's scales are calibrated on training images. */
    int rc = open_model("compile", file, dataset, SPLIT_BOTH, &m, &ds);
    if (rc)
        goto done;
    const Normalize *pre = custom_norm ? &norm : &m.train.norm;
    double t0 = omp_get_wtime();
    int n_cal = hw.tune.calib < ds.train.n ? hw.tune.calib : ds.train.n;
    ReformOptions opt = {hw.crossbar.rows, hw.crossbar.cols, ds.train.pixels, n_cal, hw.tune.approx_width,
                         hw.tune.approx_samples};
    if (reform(m.net, pre, &opt, &fp, err, sizeof err)) {
        rc = fail(EXIT_USAGE, "compile", "%s: %s", file, err);
        goto done;
    }
    if (hw.crossbar.fanout > 0) { /* copies for values read by more cores than allowed */
        Program *relayed;
        if (add_relays(fp, hw.crossbar.fanout, hw.crossbar.cols, &relayed, err, sizeof err)) {
            rc = fail(EXIT_WORK, "compile", "%s: %s", file, err);
            goto done;
        }
        program_free(fp);
        fp = relayed;
    }
    if (naive) {
        if (quantise_naive(fp, &hw, ds.train.pixels, n_cal, &p, err, sizeof err)) {
            rc = fail(EXIT_WORK, "compile", "%s: %s", file, err);
            goto done;
        }
    } else {
        p = fp;
        fp = NULL;
    }
    if (map_program(p, &hw, &map, err, sizeof err)) {
        rc = fail(EXIT_WORK, "compile", "%s: %s", file, err);
        goto done;
    }
    double transform_s = omp_get_wtime() - t0; /* the whole compile: reform to mapping */
    /* The reform program is float by design: count what would still be wrong
     * once it is quantised (sizes, activations, fan-out, structure). */
    long long violations = verify_program(p, &hw, &vr, 6);
    if (violations < 0) {
        rc = fail(EXIT_WORK, "compile", "%s: out of memory verifying the program", file);
        goto done;
    }
    violations -= vr.counts[V_FLOAT];
    double orig = -1, compiled = -1;
    if (dataset) {
        if (limit > 0 && limit < ds.test.n)
            ds.test.n = (int)limit;
        orig = net_evaluate(m.net, &ds.test, pre, 256, NULL);
        compiled = simulate_accuracy(p, &ds.test, ds.classes, NULL);
        if (orig < 0 || compiled < 0) {
            rc = fail(EXIT_WORK, "compile", "%s: out of memory evaluating", file);
            goto done;
        }
    }
    if (out) { /* the arrays in info belong to map */
        ProgramInfo info;
        program_info_init(&info);
        snprintf(info.model, sizeof info.model, "%s", file);
        snprintf(info.dataset, sizeof info.dataset, "%s", m.dataset);
        snprintf(info.strategy, sizeof info.strategy, "%s", strategy);
        info.orig_accuracy = orig;
        info.compiled_accuracy = compiled;
        info.transform_s = transform_s;
        info.utilization = map.utilization;
        info.traffic = map.traffic;
        info.chips = map.chips;
        info.n_cores = map.n_cores;
        info.core_of_op = map.core_of_op;
        info.core_x = map.core_x;
        info.core_y = map.core_y;
        if (program_save(p, &hw, &info, out, err, sizeof err)) {
            rc = fail(EXIT_WORK, "compile", "%s", err);
            goto done;
        }
    }
    if (json) {
        Json j;
        json_open(&j, stdout);
        json_str(&j, "model", file);
        json_str(&j, "hw", hw.target.name);
        json_str(&j, "strategy", strategy);
        if (dataset) {
            json_str(&j, "dataset", m.dataset);
            json_int(&j, "n", ds.test.n);
            json_num(&j, "orig_accuracy", orig);
            json_num(&j, "compiled_accuracy", compiled);
        }
        json_int(&j, "core_ops", p->n_ops);
        json_int(&j, "cores", map.n_cores);
        json_int(&j, "cores_lower_bound", map.lower_bound);
        json_int(&j, "chips", map.chips);
        json_num(&j, "utilization", map.utilization);
        json_int(&j, "traffic", map.traffic);
        json_int(&j, "weight_blocks", p->n_blocks);
        json_int(&j, "neurons", p->n_neurons);
        json_num(&j, "transform_s", transform_s);
        json_int(&j, "violations", (long)violations);
        json_close(&j);
    } else {
        printf("%s for %s (%s): %d core ops on %d cores (lower bound %lld, %d chips), crossbar use %.1f%%, "
               "traffic %lld value-hops per image, %d weight blocks, %d neurons, %.2f s\n",
               file, hw.target.name, strategy, p->n_ops, map.n_cores, map.lower_bound, map.chips,
               100 * map.utilization, map.traffic, p->n_blocks, p->n_neurons, transform_s);
        if (dataset)
            printf("accuracy on %s (%d images): original %.2f%%, compiled %.2f%%\n", m.dataset, ds.test.n,
                   100 * orig, 100 * compiled);
        print_violations(&vr, violations);
    }
    rc = EXIT_OK;
done:
    verify_report_free(&vr);
    mapping_free(&map);
    program_free(fp);
    program_free(p);
    model_free(&m);
    dataset_free(&ds);
    return rc;
}
