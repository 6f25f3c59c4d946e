/* harness — the `nnbench` command: subcommands, option parsing and output.
 *
 * Exit status (DESIGN.md §4): 0 success, 1 the work failed, 2 bad usage or
 * bad input. Every error is one line on stderr naming the file / key / node
 * and what is wrong.
 */
#ifndef HARNESS_HARNESS_H
#define HARNESS_HARNESS_H

#include <stdio.h>

#include "../compiler/compiler.h"
#include "../datasets/datasets.h"
#include "../model/model.h"
#include "../nn/nn.h"

enum { EXIT_OK = 0, EXIT_WORK = 1, EXIT_USAGE = 2 };

int cmd_train(int argc, char **argv);

/* Sets what the BLAS and OpenMP libraries read when they load and execs
 * the same command again, once (harness/run_env.c): OPENBLAS_CORETYPE when
 * OpenBLAS does not know the CPU and fell back to generic kernels, and
 * OMP_WAIT_POLICY=passive; variables already set are left alone. Call
 * first in main, before MPI or threads start. */
void run_env_settle(char **argv);
int cmd_eval(int argc, char **argv);
int cmd_hw(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Loads a native or ONNX model and the splits of its data set (the
 * model's own, or `dataset`, which ONNX files need), checked to fit each
 * other; m->dataset is set to the one used. Returns EXIT_OK, or the exit
 * status after printing the error for `cmd` (m and ds are then still safe
 * to free). */
int open_model(const char *cmd, const char *file, const char *dataset, SplitMask splits, Model *m,
               Dataset *ds);
/* The same, with the message in err instead of on stderr. */
int load_model(const char *file, const char *dataset, SplitMask splits, Model *m, Dataset *ds, char *err,
               size_t errlen);

/* One training, as `nnbench train` and each sweep training run it
 * (harness/train_job.c): a zoo model or model INI, trained with its recipe
 * (epochs and seed overridable, -1 = the recipe's) and saved to `out`. */
typedef struct {
    const char *model;          /* zoo name or FILE.ini */
    const char *dataset;        /* NULL: the definition's */
    long epochs, seed, limit;   /* -1 / -1 / <= 0: as defined, all images */
    int verbose;                /* progress on stderr */
    const char *out;
} TrainJob;

typedef struct {
    char name[64], dataset[32];
    int epochs, train_images, test_images;
    size_t params;
    double train_s, accuracy;
} TrainOutcome;

/* EXIT_OK, or EXIT_USAGE / EXIT_WORK with the message in err. */
int train_job(const TrainJob *job, TrainOutcome *out, char *err, size_t errlen);

/* One compilation, as `nnbench compile` and each sweep job run it
 * (harness/compile_job.c): model → reform (→ relays) (→ naive) → mapping →
 * verifier, then optionally the accuracy of the original and the compiled
 * network on the test split and the program file. */
typedef struct {
    const char *model;          /* MODEL.h5 or MODEL.onnx */
    const char *dataset;        /* NULL: the model's own */
    const Normalize *norm;      /* NULL: the model's recipe */
    const char *hw;             /* preset name or HW.ini */
    const char *const *sets;    /* SECTION.KEY=VALUE overrides */
    int n_sets;
    const char *strategy;       /* reform | naive */
    int evaluate;               /* measure the accuracies */
    long limit;                 /* test images (<= 0: all) */
    const char *out;            /* program file to write, or NULL */
} CompileJob;

typedef struct {
    Hw hw;                      /* as compiled for, overrides applied */
    char dataset[32];
    double train_s;             /* the model file's training time (-1: unknown, e.g. ONNX) */
    int core_ops, weight_blocks, neurons, test_images;
    int cores, chips;
    long long cores_lower_bound, traffic, violations;
    double utilization, transform_s;
    double orig_accuracy, compiled_accuracy;  /* -1 unless evaluated */
    double images_per_s;        /* simulator throughput on the test images (-1 unless evaluated) */
    double spikes_per_image;    /* SNN programs (-1 otherwise) */
    VerifyReport verify;        /* the verifier's findings (compile_result_free) */
} CompileResult;

/* EXIT_OK, or EXIT_USAGE / EXIT_WORK with "file: cause" in err. res is
 * always safe to compile_result_free. */
int compile_job(const CompileJob *job, CompileResult *res, char *err, size_t errlen);
void compile_result_free(CompileResult *res);

/* What running a program over a sample set measured (harness/run_program.c). */
typedef struct {
    double accuracy;            /* arg-max of the logits against the labels */
    double sim_s;               /* wall time of the simulator calls alone */
    double spikes_per_image;    /* SNN: spikes of all core ops per image; else -1 */
    int steps;                  /* SNN: the time window T; else 0 */
    double *accuracy_by_step;   /* SNN: [steps], the accuracy after t = 1..T steps */
} SimResult;

/* Runs p over a set on the simulator of hw's mode (a float program on the
 * ANN core in float; an integer one on ANN cores, PIM crossbars or spiking
 * cores), an integer program's inputs quantised from the pixels. -1 on OOM,
 * or if p does not take the set's images or give `classes` logits (callers
 * check that first, with a message). sim_result_free releases r. */
int simulate_program(const Program *p, const Hw *hw, const SampleSet *set, int classes, SimResult *r);
void sim_result_free(SimResult *r);
/* "ann", "pim" or "snn": the simulator simulate_program uses for p on hw. */
const char *simulator_name(const Program *p, const Hw *hw);

/* Prints "nnbench CMD: message" on stderr; returns `status` for tail calls. */
int fail(int status, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses a whole number / real number option value; -1 if not one or out of [lo, hi]. */
int parse_long(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double lo, double hi, double *out);

/* --input-scale / --input-mean / --input-std: applies one to `n`. Returns 1 if
 * `opt` was one of them (consuming the value), 0 if not, -1 on a bad value
 * (message in err). */
/* Sweep model cache (harness/model_cache.c): a cached model is trusted only
 * while its size and CRC-32 match the seal written when it was trained.
 * check: 0 if they match, else -1 with why (no seal, other bytes, unreadable).
 * seal: writes MODEL.h5.crc32 (through a temporary). 0 or -1 with err. */
int model_cache_check(const char *path, char *why, size_t whylen);
int model_cache_seal(const char *path, char *err, size_t errlen);

/* Before hours of work: can a file be created at path (its folder exists
 * and is writable)? 0, or -1 with "PATH: cannot write there: ..." in err. */
int check_output_path(const char *path, char *err, size_t errlen);
/* mkdir -p: 0, or the errno of the failing step (ENOTDIR when a part of
 * the path is a file). */
int make_dirs(const char *path);
/* mkdir -p of the folder `file` goes in; 0, or -1 with "FILE: cannot
 * create its folder DIR: cause" in err. */
int make_parent_dirs(const char *file, char *err, size_t errlen);
int parse_preprocessing(const char *opt, const char *value, Normalize *n, char *err, size_t errlen);

/* One JSON object on one line: json_open, then fields, then json_close. */
typedef struct {
    FILE *f;
    int fields;
} Json;
void json_open(Json *j, FILE *f);
void json_str(Json *j, const char *key, const char *value);
void json_num(Json *j, const char *key, double value);
void json_int(Json *j, const char *key, long value);
/* A value already in JSON form (a number as text), written as it is. */
void json_raw(Json *j, const char *key, const char *json);
void json_close(Json *j);

#endif
