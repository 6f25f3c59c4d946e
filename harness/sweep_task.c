/* Running one sweep task in this process: a training into the cache, or a
 * job (compile + simulate) into a RunRecord. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <omp.h>

#include "sweep.h"

/* A cached model is used when its bytes match its seal and it loads;
 * anything else is trained again (and said so, when a file was there). */
static int run_training(const Sweep *s, const SweepTask *t, char *err, size_t errlen)
{
    Model m;
    char e[1024];
    if (!model_cache_check(t->model_path, e, sizeof e)) {
        if (!model_load(t->model_path, &m, e, sizeof e)) {
            model_free(&m);
            return 0;
        }
    }
    FILE *there = fopen(t->model_path, "rb");
    if (there) {
        fclose(there);
        fprintf(stderr, "nnbench sweep: cached model %s not used (%s); training it again\n", t->model_path, e);
        remove(t->model_path);
    }
    if (make_parent_dirs(t->model_path, err, errlen))
        return -1;
    const SweepModel *sm = &s->models[t->model];
    TrainJob job = {sm->zoo, sm->dataset[0] ? sm->dataset : NULL, sm->epochs, t->seed, -1, 0, t->model_path};
    TrainOutcome o;
    /* Training's float sums depend on the thread count; one thread makes
     * the cached model the same whatever the ranks and cores. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = train_job(&job, &o, err, errlen);
    omp_set_num_threads(threads);
    if (rc)
        return -1;
    return model_cache_seal(t->model_path, err, errlen) ? -1 : 0;
}

static void fill_hw(RunRecord *rec, const Hw *hw)
{
    rec->weights_bits = hw->weights.bits;
    rec->io_bits = hw->io.bits;
    rec->io_window = hw->io.window;
    rec->crossbar_rows = hw->crossbar.rows;
    rec->crossbar_cols = hw->crossbar.cols;
    rec->pim_adc_bits = hw->pim.adc_bits;
    rec->approx_width = hw->tune.approx_width;
}

static void run_job(const Sweep *s, const SweepTask *t, RunRecord *rec)
{
    const SweepModel *sm = &s->models[t->model];
    char sets_text[RESULTS_MAX_AXES * SWEEP_AXIS_KEYS][128];
    const char *sets[RESULTS_MAX_AXES * SWEEP_AXIS_KEYS];
    int n_sets = 0;
    for (int a = 0; a < s->n_axes; a++) {
        rec->axis[a] = NAN;
        if (t->value[a] < 0)
            continue;
        const char *v = s->axes[a].values[t->value[a]];
        char *end;
        double d = strtod(v, &end);
        rec->axis[a] = *end ? NAN : d; /* a word-valued axis is in the job key */
        for (int k = 0; k < s->axes[a].n_keys; k++) {
            snprintf(sets_text[n_sets], sizeof sets_text[n_sets], "%s=%s", s->axes[a].keys[k], v);
            sets[n_sets] = sets_text[n_sets];
            n_sets++;
        }
    }
    double t0 = omp_get_wtime();
    CompileJob job = {t->model_path, sm->dataset[0] ? sm->dataset : NULL, sm->has_norm ? &sm->norm : NULL,
                      s->hw[t->hw], sets, n_sets, s->strategies[t->strategy], 1, s->limit, NULL};
    CompileResult res;
    char err[1024];
    int rc = compile_job(&job, &res, err, sizeof err);
    fill_hw(rec, &res.hw);
    snprintf(rec->dataset, sizeof rec->dataset, "%s", res.dataset[0] ? res.dataset : sm->dataset);
    if (rc) {
        snprintf(rec->status, sizeof rec->status, "failed");
        sweep_copy(rec->error, sizeof rec->error, err);
    } else {
        snprintf(rec->status, sizeof rec->status, "ok");
        rec->orig_accuracy = res.orig_accuracy;
        rec->compiled_accuracy = res.compiled_accuracy;
        rec->added_error_pp = 100 * (res.orig_accuracy - res.compiled_accuracy);
        rec->core_ops = res.core_ops;
        rec->cores = res.cores;
        rec->cores_lower_bound = res.cores_lower_bound;
        rec->traffic = res.traffic;
        rec->neurons = res.neurons;
        rec->utilization = res.utilization;
        rec->transform_s = res.transform_s;
        rec->train_s = res.train_s;
        rec->images_per_s = res.images_per_s;
        rec->test_images = res.test_images;
        if (res.violations > 0) { /* a program the chip cannot run is not a result */
            snprintf(rec->status, sizeof rec->status, "failed");
            snprintf(rec->error, sizeof rec->error, "the verifier found %lld violations", res.violations);
        }
    }
    compile_result_free(&res);
    rec->job_s = omp_get_wtime() - t0;
}

int sweep_run_task(const Sweep *s, const SweepTask *t, RunRecord *rec, char *err, size_t errlen)
{
    if (t->kind == TASK_TRAIN)
        return run_training(s, t, err, errlen);
    memset(rec, 0, sizeof *rec);
    snprintf(rec->job, sizeof rec->job, "%s", t->key);
    snprintf(rec->model, sizeof rec->model, "%s", s->models[t->model].name);
    snprintf(rec->hw, sizeof rec->hw, "%s", s->hw[t->hw]);
    snprintf(rec->strategy, sizeof rec->strategy, "%s", s->strategies[t->strategy]);
    rec->seed = (int)t->seed;
    rec->orig_accuracy = rec->compiled_accuracy = rec->added_error_pp = -1;
    rec->core_ops = rec->cores = rec->cores_lower_bound = rec->traffic = rec->neurons = -1;
    rec->utilization = rec->transform_s = rec->train_s = rec->images_per_s = -1;
    run_job(s, t, rec);
    return 0;
}
