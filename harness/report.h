/* The pieces of `nnbench report` (harness/cmd_report.c): runs.csv and the
 * gnuplot figures of a results file, written into one folder.
 *
 * Every file appears whole or not at all: it is written under a temporary
 * name and renamed, and a figure's PNG and SVG are renamed only after
 * gnuplot succeeded. Each file written prints its path on stdout, and
 * each figure left out prints one line saying why.
 */
#ifndef HARNESS_REPORT_H
#define HARNESS_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "results.h"

#define REPORT_PATH_MAX 4096

/* Where the report goes and what it is made from. */
typedef struct {
    const char *dir;    /* output folder (exists) */
    const char *source; /* the results file, named in the generated files */
} ReportDest;

/* ------------------------------------------------------ report_file.c */

/* An output file being written as DIR/NAME.tmp.PID. */
typedef struct {
    FILE *f;
    char path[REPORT_PATH_MAX], tmp[REPORT_PATH_MAX + 32];
} OutFile;

/* 0, or -1 with "DIR/NAME: cannot write: why". */
int out_open(OutFile *o, const char *dir, const char *name, char *err, size_t errlen);
/* Flushes, syncs and renames it into place, printing its path; 0, or -1
 * (temporary removed) with "PATH: cannot write: why". */
int out_commit(OutFile *o, char *err, size_t errlen);
/* Closes and removes the temporary file (nothing when not open). */
void out_abort(OutFile *o);
/* Renames DIR/FROM (made by another program) to DIR/TO if it is a
 * non-empty file, printing the new path; else removes it. 0 or -1 with
 * "DIR/TO: why". */
int out_adopt(const char *dir, const char *from, const char *to, char *err, size_t errlen);

/* The shortest text that reads back as the same double ("0.1", not
 * "0.10000000000000001"); "NaN", "inf" and "-inf" for the others. */
void format_real(char *buf, size_t len, double v);

/* ------------------------------------------------------- report_csv.c */

/* DIR/runs.csv: a header row, then one row per run; every column of /runs.
 * 0, or -1 with "PATH: cause". */
int report_csv(const Results *r, const ReportDest *d, char *err, size_t errlen);

/* ---------------------------------------------------- report_series.c */

/* Picks a row's value for a figure; NaN when the row has none to give. */
typedef double (*RowValue)(const RunRecord *);
/* Says which rows a figure uses. */
typedef int (*RowFilter)(const RunRecord *);

typedef enum { BY_MODEL_STRATEGY, BY_STRATEGY } SeriesKey;

/* One line (or point set) of a figure: points sorted by x, then y. */
typedef struct {
    char label[128]; /* "lenet5 / naive" or "naive" */
    size_t n;
    double *x, *y;
} Series;

typedef struct {
    size_t n;
    Series *s; /* sorted by label */
} SeriesSet;

/* The rows that `keep` accepts and whose x and y are finite, grouped by
 * `key`; with `average`, one point per distinct x with the mean y. 0 or -1
 * (OOM). */
int series_build(const Results *r, RowFilter keep, RowValue x, RowValue y, SeriesKey key,
                 int average, SeriesSet *out);
void series_free(SeriesSet *s);
/* How many distinct x values the set has; the smallest x in *first. */
size_t series_distinct_x(const SeriesSet *s, double *first);
/* The index of the series with this label, or -1. */
long series_find(const SeriesSet *s, const char *label);

int row_ok(const RunRecord *rec); /* status "ok" */
double row_added_error(const RunRecord *rec);

/* --------------------------------------------------- report_gnuplot.c */

/* Runs `gnuplot -e "outbase='OUTBASE'" SCRIPT` in DIR; 0, or -1 with
 * "DIR/SCRIPT: gnuplot ...: its last message" in err. */
int gnuplot_run(const char *dir, const char *script, const char *outbase, char *err, size_t errlen);

/* ------------------------------------------------------ report_plot.c */

/* A figure being made: DIR/NAME.dat, DIR/NAME.gp, then NAME.png and .svg. */
typedef struct {
    const ReportDest *dest;
    const char *name;
    OutFile dat, gp;
    int blocks; /* data blocks written so far (gnuplot's `index`) */
} Plot;

/* Opens both files and writes their headers; `what` says in a few words
 * what the figure shows. 0 or -1. */
int plot_begin(Plot *p, const ReportDest *d, const char *name, const char *what, char *err,
               size_t errlen);
/* `text` as a gnuplot string literal, on one line. */
void plot_str(FILE *f, const char *text);
/* The same, keeping line breaks (a title and its subtitle). */
void plot_title(FILE *f, const char *text);
/* x tics at the values the data has (when few), so 3, 4, 8 bits read as such. */
void plot_xtics(FILE *f, const SeriesSet *s);
/* Tics for a log axis ("x" or "y") over [lo, hi]: gnuplot labels only
 * powers of ten, so a range within a decade gets five labelled tics. */
void plot_log_tics(FILE *f, const char *axis, double lo, double hi);
/* The smallest and largest x (or y) of a set; NaN when it has no points. */
void series_range(const SeriesSet *s, int use_y, double *lo, double *hi);
/* Writes series i as the next data block of the .dat file; its index. */
int plot_block(Plot *p, const Series *s, const char *comment);
/* Opens the loop over the two terminals (PNG, SVG) at this size in pixels;
 * the plot commands follow, then plot_end_outputs. */
void plot_begin_outputs(Plot *p, int width, int height);
void plot_end_outputs(Plot *p);
/* Commits the data and script, runs gnuplot and renames its PNG and SVG
 * into place. 0, or -1 with the cause (nothing half-written is left). */
int plot_finish(Plot *p, char *err, size_t errlen);
void plot_abort(Plot *p);
/* One line on stdout: why figure `name` was left out. */
void plot_skipped(const char *name, const char *why);

/* --------------------------------- the figures: 0 (made or skipped) or -1 */

int figure_error_vs_weight_bits(const Results *r, const ReportDest *d, char *err, size_t errlen);
int figure_error_vs_io(const Results *r, const ReportDest *d, char *err, size_t errlen);
int figure_error_vs_crossbar(const Results *r, const ReportDest *d, char *err, size_t errlen);
int figure_cores_vs_crossbar(const Results *r, const ReportDest *d, char *err, size_t errlen);
int figure_error_vs_cores(const Results *r, const ReportDest *d, char *err, size_t errlen);
int figure_transform_vs_train(const Results *r, const ReportDest *d, char *err, size_t errlen);

#endif
