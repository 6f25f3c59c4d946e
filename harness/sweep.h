/* Sweeps (`nnbench sweep FILE.ini`): models × hardware × strategies × seeds
 * × axes, run as jobs on MPI ranks, results in results/NAME.h5.
 *
 * Sweep file (iniparser):
 *
 *     [sweep]
 *     name       = quick              ; results/NAME.h5 and the report in results/NAME/
 *     output     = results/quick.h5   ; optional
 *     models     = lenet5, mnist8     ; zoo names, or [model.X] sections
 *     hw         = tianji-ann, prime  ; presets or HW.ini files
 *     strategies = naive, reform
 *     seeds      = 1                  ; training seeds of zoo models
 *     limit      = 2000               ; test images per job (0: all)
 *     cache      = results/cache      ; trained zoo models, by content hash
 *
 *     [model.mnist8]                  ; an ONNX or native model file...
 *     file        = ../shared/models/onnx/mnist-8.onnx
 *     dataset     = mnist
 *     input_scale = 1                 ; and input_mean, input_std
 *
 *     [model.lenet5-fashion]          ; ...or a zoo model on another data set
 *     zoo     = lenet5
 *     dataset = fashion-mnist
 *     epochs  = 10                    ; optional: override the recipe
 *
 *     [axis.wbits]                    ; any number of axes
 *     key     = weights.bits          ; a hardware override key (or several
 *                                     ; taking the same value: crossbar.rows, crossbar.cols)
 *     values  = 2, 4, 8
 *     presets = tianji-ann            ; optional: where it applies
 *     strategies = full               ; optional: the strategies it applies to
 *                                     ; (an ablation of tune.phases, say)
 *
 * Jobs are the cartesian product; an axis applies to a job's preset and
 * strategy or not at all. Zoo models are trained once per (definition, data set, seed,
 * epochs) before their jobs, cached under `cache` by a hash of those. */
#ifndef HARNESS_SWEEP_H
#define HARNESS_SWEEP_H

#include <string.h>

#include "harness.h"
#include "results.h"

#define SWEEP_MAX 64          /* entries per list */
#define SWEEP_NAME 256
#define SWEEP_JOBS_MAX 250000 /* jobs a sweep may expand to (configs/paper.ini: 113,724) */

typedef struct {
    char name[64];            /* the entry's name in results */
    char zoo[SWEEP_NAME];     /* zoo model (or model INI) to train, or "" */
    char file[SWEEP_NAME];    /* a model file to use as it is, or "" */
    char dataset[32];         /* "" = the model's own */
    int epochs;               /* -1: the recipe's */
    int has_norm;
    Normalize norm;
} SweepModel;

#define SWEEP_AXIS_KEYS 4

typedef struct {
    char key[64];             /* its column: the keys joined by '+' */
    int n_keys;               /* SECTION.KEYs that all take the value */
    char keys[SWEEP_AXIS_KEYS][64];
    int n_values;
    char values[SWEEP_MAX][32];
    int n_presets;            /* 0: every preset */
    char presets[SWEEP_MAX][SWEEP_NAME];
    int n_strategies;         /* 0: every strategy */
    char strategies[SWEEP_MAX][SWEEP_NAME];
} SweepAxis;

typedef struct {
    char path[SWEEP_NAME];    /* the sweep file */
    char name[64], output[SWEEP_NAME], report[SWEEP_NAME], cache[SWEEP_NAME];
    long limit;
    int n_models, n_hw, n_strategies, n_seeds, n_axes;
    SweepModel models[SWEEP_MAX];
    char hw[SWEEP_MAX][SWEEP_NAME];
    char strategies[SWEEP_MAX][16];
    long seeds[SWEEP_MAX];
    SweepAxis axes[RESULTS_MAX_AXES];
    char *text;               /* the file's text, for /meta */
} Sweep;

/* A unit of work: a training (kind TASK_TRAIN) or a job (TASK_JOB). */
typedef enum { TASK_TRAIN, TASK_JOB } TaskKind;

typedef struct {
    TaskKind kind;
    int model, hw, strategy; /* indices into the sweep's lists */
    long seed;
    int value[RESULTS_MAX_AXES]; /* per axis: index of its value, -1 if it does not apply */
    int train;               /* a job's training task, or -1 (a model file) */
    char model_path[SWEEP_NAME * 2]; /* the file the job compiles / the training writes */
    char key[RESULTS_TEXT];  /* a job's canonical key in /runs */
    double cost;             /* estimated work (FLOP-ish), to run long ones first */
} SweepTask;

/* Copies src into dst[size], truncated (and always terminated). */
static inline void sweep_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    n = n < size - 1 ? n : size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Reads and checks a sweep file; errors name the file, section and key. A
 * file whose lists multiply out to more than SWEEP_JOBS_MAX jobs is refused
 * here, before anything is expanded. */
int sweep_load(const char *path, Sweep *s, char *err, size_t errlen);
void sweep_free(Sweep *s);
/* The tasks: trainings first, then the jobs, in a fixed order. *tasks is
 * malloc'd. Errors (a zoo name that does not exist...) name the file. */
int sweep_expand(const Sweep *s, SweepTask **tasks, int *n, char *err, size_t errlen);

/* Runs one task in this process; a job fills rec (status "failed" with the
 * error when it fails). A training writes task->model_path. Returns 0, or
 * -1 when a training failed (message in err). (harness/sweep_task.c) */
int sweep_run_task(const Sweep *s, const SweepTask *task, RunRecord *rec, char *err, size_t errlen);

#endif
