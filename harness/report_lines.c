/* The line figures: a metric against one hardware parameter, one line per
 * (model, strategy), each point the mean over the ok runs at that x (the
 * other swept parameters averaged out).
 *
 *   error_vs_weight_bits   added error vs weights_bits
 *   error_vs_io            added error vs io_bits (ANN/PIM runs, io_window
 *                          0) and vs io_window (SNN runs): one panel each
 *   error_vs_crossbar      added error vs crossbar_rows
 *   cores_vs_crossbar      cores vs crossbar_rows (log y), with each line's
 *                          cores_lower_bound dashed in the same colour
 *
 * A panel needs at least two distinct x values; a figure with no panel left
 * is skipped with a note. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../nn/nn.h"
#include "report.h"

#define WIDTH 1000
#define HEIGHT 600

static double x_weight_bits(const RunRecord *r) { return r->weights_bits > 0 ? r->weights_bits : NAN; }
static double x_io_bits(const RunRecord *r) { return r->io_bits > 0 ? r->io_bits : NAN; }
static double x_io_window(const RunRecord *r) { return r->io_window > 0 ? r->io_window : NAN; }
static double x_crossbar_rows(const RunRecord *r) { return r->crossbar_rows > 0 ? r->crossbar_rows : NAN; }
static double y_cores(const RunRecord *r) { return r->cores > 0 ? (double)r->cores : NAN; }
static double y_lower_bound(const RunRecord *r)
{
    return r->cores_lower_bound > 0 ? (double)r->cores_lower_bound : NAN;
}
static int ok_ann(const RunRecord *r) { return row_ok(r) && r->io_window == 0; }
static int ok_snn(const RunRecord *r) { return row_ok(r) && r->io_window > 0; }

/* One panel: its lines, and how to draw them. */
typedef struct {
    const char *title, *xlabel, *ylabel;
    const char *x_column; /* for the note when it has no variation */
    int log_x, log_y;     /* logarithm base, 0 for linear */
    SeriesSet lines;
    SeriesSet bounds;     /* dashed companions (cores_lower_bound), or none */
    int first, first_bound; /* their first data block */
} Panel;

/* Has the panel anything to show? If not, why not (in why). */
static int panel_usable(const Panel *p, char *why, size_t len)
{
    double first = 0;
    size_t distinct = series_distinct_x(&p->lines, &first);
    if (distinct >= 2)
        return 1;
    if (distinct == 0)
        snprintf(why, len, "no ok runs to plot against %s", p->x_column);
    else
        snprintf(why, len, "every ok run has %s = %g", p->x_column, first);
    return 0;
}

static void write_blocks(Plot *plot, Panel *p)
{
    p->first = plot->blocks;
    for (size_t i = 0; i < p->lines.n; i++)
        plot_block(plot, &p->lines.s[i], p->lines.s[i].label);
    p->first_bound = plot->blocks;
    for (size_t i = 0; i < p->bounds.n; i++) {
        char comment[160];
        snprintf(comment, sizeof comment, "%s: cores_lower_bound", p->bounds.s[i].label);
        plot_block(plot, &p->bounds.s[i], comment);
    }
}

/* The linetype (colour) of a line: its label's rank among the labels of
 * all the figure's panels, so a (model, strategy) keeps its colour. */
static long colour_of(Panel *const *panels, int n, const char *label)
{
    long rank = 0;
    for (int p = 0; p < n; p++)
        for (size_t i = 0; i < panels[p]->lines.n; i++) {
            const char *other = panels[p]->lines.s[i].label;
            int seen = 0; /* counted with an earlier panel */
            for (int q = 0; q < p && !seen; q++)
                seen = series_find(&panels[q]->lines, other) >= 0;
            rank += !seen && strcmp(other, label) < 0;
        }
    return rank + 1;
}

/* Panel k's settings and plot command, inside the loop over terminals. */
static void write_panel(Plot *plot, Panel *const *panels, int n, int k)
{
    const Panel *p = panels[k];
    FILE *g = plot->gp.f;
    char dat[256];
    snprintf(dat, sizeof dat, "%s.dat", plot->name);
    fputs("    set title ", g);
    plot_title(g, p->title);
    fputs("\n    set xlabel ", g);
    plot_str(g, p->xlabel);
    fputs("\n    set ylabel ", g);
    plot_str(g, p->ylabel);
    fputs("\n    unset logscale\n", g);
    if (p->log_x)
        fprintf(g, "    set logscale x %d\n", p->log_x);
    if (p->log_y)
        fprintf(g, "    set logscale y %d\n", p->log_y);
    plot_xtics(g, &p->lines);
    if (p->log_y) {
        double lo, hi, blo, bhi;
        series_range(&p->lines, 1, &lo, &hi);
        series_range(&p->bounds, 1, &blo, &bhi);
        plot_log_tics(g, "y", fmin(lo, blo), fmax(hi, bhi)); /* fmin, fmax skip a NaN */
    } else {
        fputs("    set ytics autofreq\n", g);
    }
    fputs("    plot ", g);
    for (size_t i = 0; i < p->lines.n; i++) {
        fputs(i ? ", \\\n         " : "", g);
        plot_str(g, i ? "" : dat);
        fprintf(g, " index %zu using 1:2 with linespoints lt %ld lw 2 ps 1.2 title ",
                p->first + i, colour_of(panels, n, p->lines.s[i].label));
        plot_str(g, p->lines.s[i].label);
    }
    for (size_t i = 0; i < p->bounds.n; i++)
        fprintf(g, ", \\\n         \"\" index %zu using 1:2 with lines lt %ld dt 2 lw 1.5 notitle",
                p->first_bound + i, colour_of(panels, n, p->bounds.s[i].label));
    if (p->bounds.n)
        fputs(", \\\n         keyentry with lines lc \"black\" dt 2 lw 1.5 "
              "title \"lower bound on cores (dashed)\"",
              g);
    fputc('\n', g);
}

static void panel_free(Panel *p)
{
    series_free(&p->lines);
    series_free(&p->bounds);
}

/* A figure of one or two panels side by side, those that are usable. */
static int line_figure(const ReportDest *d, const char *name, const char *what,
                       const char *title, Panel *panels, int n_panels, char *err, size_t errlen)
{
    Panel *use[2];
    int n_use = 0;
    char why[256] = "", one[128];
    for (int k = 0; k < n_panels; k++) {
        if (panel_usable(&panels[k], one, sizeof one))
            use[n_use++] = &panels[k];
        else
            errf_append(why, sizeof why, "%s%s", why[0] ? "; " : "", one);
    }
    if (n_use == 0) {
        plot_skipped(name, why);
        return 0;
    }
    char alone[512]; /* one panel of two: it carries the figure's title */
    if (n_use == 1 && n_panels > 1) {
        snprintf(alone, sizeof alone, "%s: %s", title, use[0]->title);
        use[0]->title = alone;
    }
    Plot plot;
    if (plot_begin(&plot, d, name, what, err, errlen))
        return -1;
    for (int k = 0; k < n_use; k++)
        write_blocks(&plot, use[k]);
    FILE *g = plot.gp.f;
    fputs("set autoscale fix\n", g); /* the data's range, plus the offsets */
    plot_begin_outputs(&plot, n_use == 1 ? WIDTH : 1500, HEIGHT);
    if (n_use > 1) {
        fputs("    set multiplot layout 1,2 title ", g);
        plot_title(g, title);
        fputc('\n', g);
    }
    for (int k = 0; k < n_use; k++)
        write_panel(&plot, use, n_use, k);
    if (n_use > 1)
        fputs("    unset multiplot\n", g);
    plot_end_outputs(&plot);
    return plot_finish(&plot, err, errlen);
}

/* Builds the lines of a panel of figure `name`; -1 with a message on OOM. */
static int build(const Results *r, const ReportDest *d, const char *name, Panel *p, RowFilter keep,
                 RowValue x, RowValue y, RowValue bound, char *err, size_t errlen)
{
    if (series_build(r, keep, x, y, BY_MODEL_STRATEGY, 1, &p->lines) ||
        (bound && series_build(r, keep, x, bound, BY_MODEL_STRATEGY, 1, &p->bounds)))
        return errf(err, errlen, "%s/%s: out of memory grouping the runs", d->dir, name);
    return 0;
}

static int single(const Results *r, const ReportDest *d, const char *name, const char *what,
                  Panel p, RowValue x, RowValue y, RowValue bound, char *err, size_t errlen)
{
    int rc = build(r, d, name, &p, row_ok, x, y, bound, err, errlen);
    if (rc == 0)
        rc = line_figure(d, name, what, p.title, &p, 1, err, errlen);
    panel_free(&p);
    return rc;
}

#define MEAN_NOTE "\nmean over the other swept parameters; ok runs"

int figure_error_vs_weight_bits(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    Panel p = {.title = "Added error vs weight precision" MEAN_NOTE,
               .xlabel = "weight bits",
               .ylabel = "added error (pp)",
               .x_column = "weights_bits"};
    return single(r, d, "error_vs_weight_bits",
                  "added error (percentage points) vs weight bits, one line per (model, strategy)",
                  p, x_weight_bits, row_added_error, NULL, err, errlen);
}

int figure_error_vs_crossbar(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    Panel p = {.title = "Added error vs crossbar size" MEAN_NOTE,
               .xlabel = "crossbar rows",
               .ylabel = "added error (pp)",
               .x_column = "crossbar_rows",
               .log_x = 2};
    return single(r, d, "error_vs_crossbar",
                  "added error (percentage points) vs crossbar rows, one line per (model, strategy)",
                  p, x_crossbar_rows, row_added_error, NULL, err, errlen);
}

int figure_cores_vs_crossbar(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    Panel p = {.title = "Cores vs crossbar size" MEAN_NOTE "; dashed: lower bound",
               .xlabel = "crossbar rows",
               .ylabel = "cores",
               .x_column = "crossbar_rows",
               .log_x = 2,
               .log_y = 10};
    return single(r, d, "cores_vs_crossbar",
                  "cores vs crossbar rows, one line per (model, strategy), lower bounds dashed", p,
                  x_crossbar_rows, y_cores, y_lower_bound, err, errlen);
}

int figure_error_vs_io(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    Panel p[2] = {{.title = "ANN / PIM presets (io_window = 0)" MEAN_NOTE,
                   .xlabel = "I/O bits",
                   .ylabel = "added error (pp)",
                   .x_column = "io_bits (ANN/PIM runs)"},
                  {.title = "SNN presets (io_window > 0)" MEAN_NOTE,
                   .xlabel = "time window (steps)",
                   .ylabel = "added error (pp)",
                   .x_column = "io_window (SNN runs)",
                   .log_x = 2}};
    int rc = build(r, d, "error_vs_io", &p[0], ok_ann, x_io_bits, row_added_error, NULL, err, errlen);
    if (rc == 0)
        rc = build(r, d, "error_vs_io", &p[1], ok_snn, x_io_window, row_added_error, NULL, err,
                   errlen);
    if (rc == 0)
        rc = line_figure(d, "error_vs_io",
                         "added error (percentage points) vs I/O bits (ANN/PIM) and vs time window "
                         "(SNN), one line per (model, strategy)",
                         "Added error vs I/O precision", p, 2, err, errlen);
    panel_free(&p[0]);
    panel_free(&p[1]);
    return rc;
}
