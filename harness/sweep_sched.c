/* The sweep's scheduler: which task runs next, what a finished task
 * changes, and the durable record of results. Rank 0 owns it; workers
 * (its own thread, other ranks) only run the tasks it hands out.
 *
 * Order: trainings first (each unblocks many jobs), then jobs; within each,
 * the longest estimate first, so the last jobs to finish are short ones. A
 * job waits for its model's training; when that training failed, the job
 * is recorded as failed with the training's error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "sweep_sched.h"

static const SweepTask *sort_tasks; /* for by_cost (qsort has no context) */

static int by_cost(const void *x, const void *y)
{
    const SweepTask *a = &sort_tasks[*(const int *)x], *b = &sort_tasks[*(const int *)y];
    if (a->kind != b->kind)
        return a->kind == TASK_TRAIN ? -1 : 1;
    if (a->cost != b->cost)
        return a->cost > b->cost ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

int sched_init(Sched *sc, const Sweep *s, const SweepTask *t, int n, Results *res, char *err, size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    sc->s = s;
    sc->t = t;
    sc->n = n;
    sc->res = res;
    sc->state = calloc((size_t)(n ? n : 1), 1);
    sc->order = malloc(sizeof *sc->order * (size_t)(n ? n : 1));
    sc->train_error = calloc((size_t)(n ? n : 1), sizeof *sc->train_error);
    if (!sc->state || !sc->order || !sc->train_error) {
        sched_free(sc);
        return errf(err, errlen, "out of memory scheduling %d tasks", n);
    }
    for (int k = 0; k < n; k++) {
        sc->order[k] = k;
        if (t[k].kind != TASK_JOB)
            continue;
        sc->total_jobs++;
        sc->total_cost += t[k].cost;
        if (results_find(res, t[k].key) >= 0) { /* finished by an earlier run */
            sc->state[k] = TASK_DONE;
            sc->resumed++;
            sc->skipped_cost += t[k].cost;
        }
    }
    sort_tasks = t;
    qsort(sc->order, (size_t)n, sizeof *sc->order, by_cost);
    sc->t0 = sc->saved_at = sc->synced_at = omp_get_wtime();
    return 0;
}

void sched_free(Sched *sc)
{
    if (sc->train_error)
        for (int k = 0; k < sc->n; k++)
            free(sc->train_error[k]);
    free(sc->train_error);
    free(sc->state);
    free(sc->order);
    memset(sc, 0, sizeof *sc);
}

/* Records a job that could not run because its training failed. */
static int fail_job(Sched *sc, int k, char *err, size_t errlen)
{
    RunRecord rec;
    const SweepTask *t = &sc->t[k];
    memset(&rec, 0, sizeof rec);
    sweep_copy(rec.job, sizeof rec.job, t->key);
    sweep_copy(rec.model, sizeof rec.model, sc->s->models[t->model].name);
    sweep_copy(rec.hw, sizeof rec.hw, sc->s->hw[t->hw]);
    sweep_copy(rec.strategy, sizeof rec.strategy, sc->s->strategies[t->strategy]);
    rec.seed = (int)t->seed;
    sweep_copy(rec.status, sizeof rec.status, "failed");
    char why[RESULTS_TEXT];
    snprintf(why, sizeof why, "training failed: %s", sc->train_error[t->train] ? sc->train_error[t->train] : "?");
    sweep_copy(rec.error, sizeof rec.error, why);
    rec.orig_accuracy = rec.compiled_accuracy = rec.added_error_pp = -1;
    rec.core_ops = rec.cores = rec.cores_lower_bound = rec.traffic = rec.neurons = -1;
    rec.utilization = rec.transform_s = rec.train_s = rec.images_per_s = -1;
    for (int a = 0; a < sc->s->n_axes; a++)
        rec.axis[a] = NAN;
    return sched_finish(sc, k, &rec, NULL, err, errlen);
}

int sched_next(Sched *sc, char *err, size_t errlen)
{
    int running = 0;
    for (int q = 0; q < sc->n; q++) {
        int k = sc->order[q];
        if (sc->state[k] == TASK_RUNNING)
            running = 1;
        if (sc->state[k] != TASK_PENDING)
            continue;
        const SweepTask *t = &sc->t[k];
        if (t->kind == TASK_JOB && t->train >= 0) {
            if (sc->state[t->train] == TASK_FAILED) {
                if (fail_job(sc, k, err, errlen))
                    return SCHED_ERROR;
                continue;
            }
            if (sc->state[t->train] != TASK_DONE)
                continue;
        }
        sc->state[k] = TASK_RUNNING;
        return k;
    }
    return running ? SCHED_WAIT : SCHED_OVER;
}

static void format_time(double s, char *buf, size_t len)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

static void progress(Sched *sc)
{
    double spent = omp_get_wtime() - sc->t0;
    char el[32], eta[32] = "?";
    format_time(spent, el, sizeof el);
    if (sc->done_cost > 0)
        format_time(spent * (sc->total_cost - sc->done_cost - sc->skipped_cost) / sc->done_cost, eta, sizeof eta);
    fprintf(stderr, "[%s] %d/%d jobs done, %d failed, %s elapsed, ETA %s\n", sc->s->name,
            sc->done_jobs + sc->resumed, sc->total_jobs, sc->failed_jobs, el, eta);
}

int sched_finish(Sched *sc, int k, const RunRecord *rec, const char *train_err, char *err, size_t errlen)
{
    const SweepTask *t = &sc->t[k];
    if (t->kind == TASK_TRAIN) {
        sc->state[k] = train_err ? TASK_FAILED : TASK_DONE;
        if (train_err) {
            sc->train_error[k] = strdup(train_err);
            fprintf(stderr, "[%s] training %s failed: %s\n", sc->s->name, t->model_path, train_err);
        }
        return 0;
    }
    sc->state[k] = TASK_DONE;
    sc->done_jobs++;
    sc->done_cost += t->cost;
    if (strcmp(rec->status, "ok"))
        sc->failed_jobs++;
    if (results_add(sc->res, rec))
        return errf(err, errlen, "out of memory recording job %s", rec->job);
    double now = omp_get_wtime();
    int sync = now - sc->synced_at >= 1;
    if (journal_append(sc->s->output, rec, sync, err, errlen))
        return -1;
    sc->synced_at = sync ? now : sc->synced_at;
    /* The HDF5 file is rewritten whole: at most every 5 s, and so that
     * rewriting takes under 5% of the time (a big sweep's file grows). */
    if (now - sc->saved_at >= 5 && now - sc->saved_at >= 20 * sc->save_s) {
        if (results_save(sc->res, sc->s->output, err, errlen))
            return -1;
        sc->save_s = omp_get_wtime() - now;
        sc->saved_at = omp_get_wtime();
    }
    progress(sc);
    return 0;
}
