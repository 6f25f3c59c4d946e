/* The sweep's scheduler (harness/sweep_sched.c), used by rank 0 only. */
#ifndef HARNESS_SWEEP_SCHED_H
#define HARNESS_SWEEP_SCHED_H

#include "sweep.h"

enum { TASK_PENDING, TASK_RUNNING, TASK_DONE, TASK_FAILED };
enum { SCHED_WAIT = -1, SCHED_OVER = -2, SCHED_ERROR = -3 };

typedef struct {
    const Sweep *s;
    const SweepTask *t;
    int n;
    char *state;             /* per task: TASK_* */
    int *order;              /* the order tasks are handed out in */
    char **train_error;      /* per training task: why it failed */
    Results *res;            /* every finished job; saved after each */
    int total_jobs, done_jobs, failed_jobs, resumed;
    double total_cost, done_cost, skipped_cost, t0;
    double saved_at, save_s;     /* when the HDF5 file was last rewritten, and how long that took */
    double synced_at;            /* when the journal was last fsynced */
} Sched;

/* Jobs already in res are done (a resumed sweep). */
int sched_init(Sched *sc, const Sweep *s, const SweepTask *t, int n, Results *res, char *err, size_t errlen);
void sched_free(Sched *sc);
/* The next task to run (now marked running), SCHED_WAIT while the rest wait
 * for running ones, SCHED_OVER when all is done, SCHED_ERROR. */
int sched_next(Sched *sc, char *err, size_t errlen);
/* Task k finished: a job with rec (in the journal at once, in the HDF5 file
 * at the next rewrite),
 * a training with train_err NULL or its error. Prints progress. */
int sched_finish(Sched *sc, int k, const RunRecord *rec, const char *train_err, char *err, size_t errlen);

#endif
