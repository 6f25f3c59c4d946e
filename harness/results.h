/* The results store of a sweep (DESIGN.md §7): `/runs`, one row per job,
 * and `/meta`, in one HDF5 file that rank 0 alone writes.
 *
 * Durability: results_save writes the whole file to PATH.tmp.PID, flushes
 * it to disk and renames it over PATH, so a sweep killed at any moment
 * leaves either the previous file or the new one, never a broken one. A
 * sweep rewrites the file after every finished job (a few thousand rows
 * take milliseconds).
 *
 * /runs is a compound table readable with h5dump or h5py: the fixed
 * columns of RunRecord below, then one double column per sweep axis (named
 * by its override key, e.g. "weights.bits"; NaN where the axis did not
 * apply to the job).
 */
#ifndef HARNESS_RESULTS_H
#define HARNESS_RESULTS_H

#include <stddef.h>

#define RESULTS_FORMAT_VERSION 1
#define RESULTS_MAX_AXES 16
#define RESULTS_TEXT 256     /* job keys, names, error text (NUL-terminated, truncated) */

typedef struct {
    char job[RESULTS_TEXT];      /* canonical key: "model=lenet5 hw=tianji-ann strategy=naive seed=1 weights.bits=4" */
    char model[64];              /* the sweep's model entry name */
    char dataset[32];
    char hw[64];                 /* preset name or file */
    char strategy[16];
    int seed;
    char status[16];             /* "ok" or "failed" */
    char error[RESULTS_TEXT];    /* why it failed ("" when ok) */
    /* The hardware the job compiled for (after its overrides). */
    int weights_bits, io_bits, io_window, crossbar_rows, crossbar_cols, pim_adc_bits, approx_width;
    /* Metrics; -1 where unknown (a failed job). Accuracies are fractions,
     * added_error_pp = 100 · (orig − compiled). */
    double orig_accuracy, compiled_accuracy, added_error_pp;
    long long core_ops, cores, cores_lower_bound, traffic, neurons;
    double utilization;
    double transform_s;          /* the compile's wall time */
    double train_s;              /* the model's training time (recorded when trained) */
    double images_per_s;         /* simulator throughput */
    double job_s;                /* the whole job's wall time */
    int test_images;             /* images the accuracy is measured on */
    int rank;                    /* the MPI rank that ran it (not a metric) */
    double axis[RESULTS_MAX_AXES]; /* values of the sweep's axes, in axis order */
} RunRecord;

typedef struct {
    char version[32];            /* nnbench version */
    char commit[64];             /* git commit of the build, or "unknown" */
    char host[256];
    int ranks;
    char started[32], finished[32]; /* ISO 8601 UTC; finished "" while running */
    char *config;                /* the sweep file's text (owned; may be NULL) */
} RunMeta;

typedef struct {
    int n_axes;
    char axis_key[RESULTS_MAX_AXES][64];
    size_t n, cap;
    RunRecord *runs;
    RunMeta meta;
} Results;

/* The fixed columns of /runs (and of runs.csv), in file order, each one a
 * RunRecord field (harness/results_columns.c); the axis columns follow. */
typedef enum { RESULTS_COL_TEXT, RESULTS_COL_INT, RESULTS_COL_LLONG, RESULTS_COL_REAL } ResultsColumnKind;
typedef struct {
    const char *name; /* the field's name */
    ResultsColumnKind kind;
    size_t offset, size; /* where in RunRecord */
} ResultsColumn;
#define RESULTS_N_COLUMNS 30
extern const ResultsColumn results_columns[];

void results_init(Results *r);
void results_free(Results *r);
/* Appends a copy of rec; 0 or -1 (OOM). */
int results_add(Results *r, const RunRecord *rec);
/* The index of the row with this job key, or -1. */
long results_find(const Results *r, const char *job);

/* Writes r to path atomically (see above). 0, or -1 with "PATH: cause" in err. */
int results_save(const Results *r, const char *path, char *err, size_t errlen);
/* Reads a results file into r (results_free it). A missing file is an
 * error here; callers that resume check for it first. 0 or -1 with
 * "PATH: cause". */
int results_load(const char *path, Results *r, char *err, size_t errlen);

/* The journal beside a results file (harness/results_journal.c): each
 * finished job appended at once (and fsynced when sync is set); results_save
 * of the whole file can then wait. journal_replay adds the journal's jobs missing from r and
 * returns how many (or -1 with err); journal_remove deletes it once the
 * HDF5 file holds everything. */
int journal_append(const char *results, const RunRecord *rec, int sync, char *err, size_t errlen);
long journal_replay(const char *results, Results *r, char *err, size_t errlen);
void journal_remove(const char *results);

#endif
