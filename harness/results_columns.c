/* The fixed columns of the results table: one place that names every
 * RunRecord field, for the HDF5 file and the CSV export alike. */
#include <stddef.h>

#include "results.h"

#define TEXT(f) {#f, RESULTS_COL_TEXT, offsetof(RunRecord, f), sizeof(((RunRecord *)0)->f)}
#define INT(f) {#f, RESULTS_COL_INT, offsetof(RunRecord, f), sizeof(int)}
#define LLONG(f) {#f, RESULTS_COL_LLONG, offsetof(RunRecord, f), sizeof(long long)}
#define REAL(f) {#f, RESULTS_COL_REAL, offsetof(RunRecord, f), sizeof(double)}

const ResultsColumn results_columns[] = {
    TEXT(job),           TEXT(model),          TEXT(dataset),       TEXT(hw),
    TEXT(strategy),      INT(seed),            TEXT(status),        TEXT(error),
    INT(weights_bits),   INT(io_bits),         INT(io_window),      INT(crossbar_rows),
    INT(crossbar_cols),  INT(pim_adc_bits),    INT(approx_width),   REAL(orig_accuracy),
    REAL(compiled_accuracy), REAL(added_error_pp), LLONG(core_ops), LLONG(cores),
    LLONG(cores_lower_bound), LLONG(traffic),  LLONG(neurons),      REAL(utilization),
    REAL(transform_s),   REAL(train_s),        REAL(images_per_s),  REAL(job_s),
    INT(test_images),    INT(rank),
};

_Static_assert(sizeof results_columns / sizeof *results_columns == RESULTS_N_COLUMNS,
               "RESULTS_N_COLUMNS counts the table");
