/* One compilation (see CompileJob in harness.h): shared by `nnbench
 * compile` and the sweep's jobs, so both measure the same thing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "../compiler/compiler.h"
#include "../datasets/datasets.h"
#include "harness.h"

void compile_result_free(CompileResult *res) { verify_report_free(&res->verify); }

/* "FILE: message" from "message". */
static void prefix_file(char *err, size_t errlen, const char *file)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", err);
    snprintf(err, errlen, "%s: %s", file, msg);
}

static int is_strategy(const char *s) { return !strcmp(s, "reform") || !strcmp(s, "naive") || !strcmp(s, "full"); }

int compile_job(const CompileJob *job, CompileResult *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->orig_accuracy = res->compiled_accuracy = res->images_per_s = res->train_s = res->spikes_per_image = -1;
    if (!is_strategy(job->strategy))
        return errf(err, errlen, "strategy '%s': not one of reform, naive, full",
                    job->strategy), EXIT_USAGE;
    if (hw_open(job->hw, job->sets, job->n_sets, &res->hw, NULL, 0, err, errlen))
        return EXIT_USAGE;
    const Hw *hw = &res->hw;
    Model m;
    Dataset ds;
    Program *p = NULL, *fp = NULL;
    Mapping map;
    memset(&map, 0, sizeof map);
    /* Approximators and naive's scales are calibrated on training images. */
    int rc = load_model(job->model, job->dataset, SPLIT_BOTH, &m, &ds, err, errlen);
    if (rc)
        goto done;
    rc = EXIT_WORK;
    snprintf(res->dataset, sizeof res->dataset, "%s", m.dataset);
    res->train_s = m.trained ? m.train_seconds : -1;
    const Normalize *pre = job->norm ? job->norm : &m.train.norm;
    double t0 = omp_get_wtime();
    int n_cal = hw->tune.calib < ds.train.n ? hw->tune.calib : ds.train.n;
    ReformOptions opt = {hw->crossbar.rows, hw->crossbar.cols, ds.train.pixels, n_cal, hw->tune.approx_width,
                         hw->tune.approx_samples, hw->tune.expand};
    if (reform(m.net, pre, &opt, &fp, err, errlen)) {
        rc = EXIT_USAGE; /* the network has something reform cannot express */
        prefix_file(err, errlen, job->model);
        goto done;
    }
    if (hw->crossbar.fanout > 0) { /* copies for values read by more cores than allowed */
        Program *relayed;
        if (add_relays(fp, hw->crossbar.fanout, hw->crossbar.cols, &relayed, err, errlen)) {
            prefix_file(err, errlen, job->model);
            goto done;
        }
        program_free(fp);
        fp = relayed;
    }
    if (strcmp(job->strategy, "reform")) {
        int (*quantise)(const Program *, const Hw *, const uint8_t *, int, Program **, char *, size_t) =
            !strcmp(job->strategy, "full") ? quantise_full : quantise_naive;
        if (quantise(fp, hw, ds.train.pixels, n_cal, &p, err, errlen)) {
            prefix_file(err, errlen, job->model);
            goto done;
        }
    } else {
        p = fp;
        fp = NULL;
    }
    if (map_program(p, hw, &map, err, errlen)) {
        prefix_file(err, errlen, job->model);
        goto done;
    }
    res->transform_s = omp_get_wtime() - t0; /* the whole compile: reform to mapping */
    /* The reform program is float by design: count what would still be wrong
     * once it is quantised (sizes, activations, fan-out, structure). */
    res->violations = verify_program(p, hw, &res->verify, 6);
    if (res->violations < 0) {
        errf(err, errlen, "%s: out of memory verifying the program", job->model);
        goto done;
    }
    res->violations -= res->verify.counts[V_FLOAT];
    res->core_ops = p->n_ops;
    res->weight_blocks = p->n_blocks;
    res->neurons = p->n_neurons;
    res->cores = map.n_cores;
    res->chips = map.chips;
    res->cores_lower_bound = map.lower_bound;
    res->traffic = map.traffic;
    res->utilization = map.utilization;
    if (job->evaluate) {
        if (job->limit > 0 && job->limit < ds.test.n)
            ds.test.n = (int)job->limit;
        res->test_images = ds.test.n;
        res->orig_accuracy = net_evaluate(m.net, &ds.test, pre, 256, NULL);
        SimResult sim;
        if (res->orig_accuracy < 0 || simulate_program(p, hw, &ds.test, ds.classes, &sim)) {
            errf(err, errlen, "%s: out of memory evaluating", job->model);
            goto done;
        }
        res->compiled_accuracy = sim.accuracy;
        res->images_per_s = sim.sim_s > 0 ? ds.test.n / sim.sim_s : -1;
        res->spikes_per_image = sim.spikes_per_image;
        sim_result_free(&sim);
    }
    if (job->out) { /* the arrays in info belong to map */
        ProgramInfo info;
        program_info_init(&info);
        snprintf(info.model, sizeof info.model, "%s", job->model);
        snprintf(info.dataset, sizeof info.dataset, "%s", m.dataset);
        snprintf(info.strategy, sizeof info.strategy, "%s", job->strategy);
        info.orig_accuracy = res->orig_accuracy;
        info.compiled_accuracy = res->compiled_accuracy;
        info.transform_s = res->transform_s;
        info.utilization = map.utilization;
        info.traffic = map.traffic;
        info.chips = map.chips;
        info.n_cores = map.n_cores;
        info.core_of_op = map.core_of_op;
        info.core_x = map.core_x;
        info.core_y = map.core_y;
        if (program_save(p, hw, &info, job->out, err, errlen))
            goto done;
    }
    rc = EXIT_OK;
done:
    mapping_free(&map);
    program_free(fp);
    program_free(p);
    model_free(&m);
    dataset_free(&ds);
    return rc;
}
