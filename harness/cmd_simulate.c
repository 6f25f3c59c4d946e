/* nnbench simulate: a saved program (nnbench compile -o) run on the ANN core
 * simulator over a data set's test split: its accuracy and speed. The
 * simulator sees only the program, never the network it came from. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/program.h"
#include "../datasets/datasets.h"
#include "harness.h"

int cmd_simulate(int argc, char **argv)
{
    const char *file = NULL, *dataset = NULL;
    long limit = -1;
    int json = 0;
    char err[1024 + 4096];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) {
            json = 1;
        } else if (!strcmp(o, "--dataset") || !strcmp(o, "--limit")) {
            if (!v)
                return fail(EXIT_USAGE, "simulate", "%s needs a value", o);
            i++;
            if (!strcmp(o, "--dataset"))
                dataset = v;
            else if (parse_long(v, 1, 1L << 30, &limit))
                return fail(EXIT_USAGE, "simulate", "--limit: '%s' is not a positive whole number",
                            v);
        } else if (o[0] == '-' && o[1]) {
            return fail(EXIT_USAGE, "simulate", "unknown option '%s' (see nnbench --help)", o);
        } else if (file) {
            return fail(EXIT_USAGE, "simulate", "one program file expected, got '%s' and '%s'",
                        file, o);
        } else {
            file = o;
        }
    }
    if (!file)
        return fail(EXIT_USAGE, "simulate", "a PROGRAM.h5 file (nnbench compile -o) is required");
    Program *p = NULL;
    Hw hw;
    ProgramInfo info;
    program_info_init(&info);
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc;
    if (program_load(file, &p, &hw, &info, err, sizeof err)) {
        rc = fail(EXIT_USAGE, "simulate", "%s", err);
        goto done;
    }
    if (!dataset)
        dataset = info.dataset;
    if (!dataset[0]) {
        rc = fail(EXIT_USAGE, "simulate",
                  "%s: the program does not record its data set: give --dataset", file);
        goto done;
    }
    if (dataset_load(dataset, SPLIT_TEST, &ds, err, sizeof err)) {
        rc = fail(EXIT_USAGE, "simulate", "%s", err);
        goto done;
    }
    if ((size_t)p->n_inputs != shape_size(ds.shape) || p->n_outputs != ds.classes) {
        rc = fail(EXIT_USAGE, "simulate",
                  "%s: the program takes %d inputs and gives %d logits; %s has %dx%dx%d images and "
                  "%d classes",
                  file, p->n_inputs, p->n_outputs, dataset, ds.shape.c, ds.shape.h, ds.shape.w,
                  ds.classes);
        goto done;
    }
    if (limit > 0 && limit < ds.test.n)
        ds.test.n = (int)limit;
    SimResult sim;
    if (simulate_program(p, &hw, &ds.test, ds.classes, &sim)) {
        rc = fail(EXIT_WORK, "simulate", "%s: out of memory simulating", file);
        goto done;
    }
    /* a run too short for the clock has no meaningful rate */
    double rate = sim.sim_s > 0 ? ds.test.n / sim.sim_s : -1;
    const char *kind = p->is_float ? "float" : "int", *simulator = simulator_name(p, &hw);
    if (json) {
        Json j;
        json_open(&j, stdout);
        json_str(&j, "program", file);
        json_str(&j, "dataset", dataset);
        json_int(&j, "n", ds.test.n);
        json_num(&j, "accuracy", sim.accuracy);
        json_num(&j, "images_per_s", rate > 0 ? rate : NAN);
        json_str(&j, "hw", hw.target.name);
        json_str(&j, "strategy", info.strategy);
        json_str(&j, "kind", kind);
        json_str(&j, "simulator", simulator);
        json_int(&j, "core_ops", p->n_ops);
        if (sim.steps) {
            json_num(&j, "spikes_per_image", sim.spikes_per_image);
            json_int(&j, "steps", sim.steps);
            size_t len = (size_t)sim.steps * 16 + 3;
            char *curve = malloc(len);
            if (curve) {
                snprintf(curve, len, "[");
                for (int t = 0; t < sim.steps; t++)
                    errf_append(curve, len, "%s%.6g", t ? "," : "", sim.accuracy_by_step[t]);
                errf_append(curve, len, "]");
                json_raw(&j, "accuracy_by_step", curve);
                free(curve);
            }
        }
        json_close(&j);
    } else {
        printf("%s (%s program for %s, %s) on %s: accuracy %.2f%% (%d images), "
               "%.0f images/s on the %s simulator\n",
               file, kind, hw.target.name, info.strategy[0] ? info.strategy : "strategy unknown",
               dataset, 100 * sim.accuracy, ds.test.n, rate > 0 ? rate : 0, simulator);
        if (sim.steps) {
            printf("%.1f spikes per image; accuracy after t steps:", sim.spikes_per_image);
            for (int t = 0; t < sim.steps; t++)
                printf(" %d:%.2f%%", t + 1, 100 * sim.accuracy_by_step[t]);
            printf("\n");
        }
    }
    sim_result_free(&sim);
    rc = EXIT_OK;
done:
    program_free(p);
    program_info_free(&info);
    dataset_free(&ds);
    return rc;
}
