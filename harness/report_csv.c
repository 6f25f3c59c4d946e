/* runs.csv: every column of /runs, through libcsv's quoting (text fields
 * always quoted, numbers bare, NaN as an empty field). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <csv.h>

#include "../nn/nn.h"
#include "report.h"

/* NaN (an axis that did not apply) as an empty field, as pandas reads it. */
static void put_real(FILE *f, double v)
{
    char buf[40];
    if (isnan(v))
        return;
    format_real(buf, sizeof buf, v);
    fputs(buf, f);
}

static void put_text(FILE *f, const char *s, size_t max)
{
    csv_fwrite(f, s, strnlen(s, max));
}

static void put_header(FILE *f, const Results *r)
{
    for (int c = 0; c < RESULTS_N_COLUMNS; c++) {
        if (c)
            fputc(',', f);
        put_text(f, results_columns[c].name, strlen(results_columns[c].name));
    }
    for (int a = 0; a < r->n_axes; a++) {
        fputc(',', f);
        put_text(f, r->axis_key[a], sizeof r->axis_key[a]);
    }
    fputc('\n', f);
}

static void put_row(FILE *f, const Results *r, const RunRecord *rec)
{
    for (int c = 0; c < RESULTS_N_COLUMNS; c++) {
        const ResultsColumn *col = &results_columns[c];
        const char *field = (const char *)rec + col->offset;
        if (c)
            fputc(',', f);
        if (col->kind == RESULTS_COL_TEXT) {
            put_text(f, field, col->size);
        } else if (col->kind == RESULTS_COL_INT) {
            int v;
            memcpy(&v, field, sizeof v);
            fprintf(f, "%d", v);
        } else if (col->kind == RESULTS_COL_LLONG) {
            long long v;
            memcpy(&v, field, sizeof v);
            fprintf(f, "%lld", v);
        } else {
            double v;
            memcpy(&v, field, sizeof v);
            put_real(f, v);
        }
    }
    for (int a = 0; a < r->n_axes; a++) {
        fputc(',', f);
        put_real(f, rec->axis[a]);
    }
    fputc('\n', f);
}

int report_csv(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    OutFile o;
    if (out_open(&o, d->dir, "runs.csv", err, errlen))
        return -1;
    put_header(o.f, r);
    for (size_t i = 0; i < r->n; i++)
        put_row(o.f, r, &r->runs[i]);
    /* write errors stick to the stream: out_commit sees them */
    return out_commit(&o, err, errlen);
}
