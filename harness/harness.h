/* harness — the `nnbench` command: subcommands, option parsing and output.
 *
 * Exit status (DESIGN.md §4): 0 success, 1 the work failed, 2 bad usage or
 * bad input. Every error is one line on stderr naming the file / key / node
 * and what is wrong.
 */
#ifndef HARNESS_HARNESS_H
#define HARNESS_HARNESS_H

#include <stdio.h>

#include "../compiler/program.h"
#include "../datasets/datasets.h"
#include "../model/model.h"
#include "../nn/nn.h"

enum { EXIT_OK = 0, EXIT_WORK = 1, EXIT_USAGE = 2 };

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_hw(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Loads a native or ONNX model and the splits of its data set (the
 * model's own, or `dataset`, which ONNX files need), checked to fit each
 * other; m->dataset is set to the one used. Returns EXIT_OK, or the exit
 * status after printing the error for `cmd` (m and ds are then still safe
 * to free). */
int open_model(const char *cmd, const char *file, const char *dataset, SplitMask splits, Model *m,
               Dataset *ds);

/* Accuracy of program p on a set on the ANN core simulator (float or
 * integer; an integer program's inputs quantised from the pixels), by
 * arg-max over the logits. The wall time of the simulator calls alone goes
 * to *sim_s (may be NULL). -1 on OOM, or if p does not take the set's images
 * or give `classes` logits (callers check that first, with a message).
 * (harness/run_program.c) */
double simulate_accuracy(const Program *p, const SampleSet *set, int classes, double *sim_s);

/* Prints "nnbench CMD: message" on stderr; returns `status` for tail calls. */
int fail(int status, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses a whole number / real number option value; -1 if not one or out of [lo, hi]. */
int parse_long(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double lo, double hi, double *out);

/* --input-scale / --input-mean / --input-std: applies one to `n`. Returns 1 if
 * `opt` was one of them (consuming the value), 0 if not, -1 on a bad value
 * (message in err). */
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
