/* error_vs_cores: every ok run as a point (cores on a log axis, added
 * error), one point style per strategy, and each model's Pareto front: its
 * runs no other run of it beats in both cores and error, joined by a line.
 * (A front over several models would join one model's cheap runs to
 * another's accurate ones: no chip runs that.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "report.h"

#define NAME "error_vs_cores"

static double x_cores(const RunRecord *r) { return r->cores > 0 ? (double)r->cores : NAN; }

typedef struct {
    double x, y;
} XY;

static int by_x_then_y(const void *a, const void *b)
{
    const XY *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->y < q->y ? -1 : p->y > q->y;
}

/* The front of the points of series all->s[lo .. hi − 1]: by fewest cores,
 * each point with less error than every point before it (ties in both count
 * once), labelled `label`. 0 or -1 (OOM). */
static int pareto_front(const SeriesSet *all, size_t lo, size_t hi, const char *label, Series *front)
{
    size_t total = 0;
    for (size_t i = lo; i < hi; i++)
        total += all->s[i].n;
    memset(front, 0, sizeof *front);
    snprintf(front->label, sizeof front->label, "%s", label);
    XY *pts = malloc(sizeof *pts * (total ? total : 1));
    front->x = malloc(sizeof *front->x * (total ? total : 1));
    front->y = malloc(sizeof *front->y * (total ? total : 1));
    if (!pts || !front->x || !front->y) {
        free(pts);
        free(front->x);
        free(front->y);
        return -1;
    }
    size_t k = 0;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < all->s[i].n; j++)
            pts[k++] = (XY){all->s[i].x[j], all->s[i].y[j]};
    qsort(pts, total, sizeof *pts, by_x_then_y);
    for (size_t i = 0; i < total; i++)
        if (front->n == 0 || pts[i].y < front->y[front->n - 1]) {
            front->x[front->n] = pts[i].x;
            front->y[front->n++] = pts[i].y;
        }
    free(pts);
    return 0;
}

/* Filled shapes first: circle, square, triangle, diamond, pentagon, ... */
static const int point_types[] = {7, 5, 9, 13, 15, 11, 1, 2, 3};

/* Length of the model part of a "model / strategy" label. */
static size_t model_len(const char *label)
{
    const char *cut = strstr(label, " / ");
    return cut ? (size_t)(cut - label) : strlen(label);
}

/* One front per model: by_model's series (sorted by "model / strategy", so a
 * model's are adjacent) grouped by model. 0 or -1 (OOM; fronts freed). */
static int model_fronts(const SeriesSet *by_model, SeriesSet *fronts)
{
    memset(fronts, 0, sizeof *fronts);
    fronts->s = calloc(by_model->n ? by_model->n : 1, sizeof *fronts->s);
    if (!fronts->s)
        return -1;
    for (size_t lo = 0, hi; lo < by_model->n; lo = hi) {
        const char *model = by_model->s[lo].label;
        size_t len = model_len(model);
        for (hi = lo + 1; hi < by_model->n && model_len(by_model->s[hi].label) == len &&
                          !strncmp(by_model->s[hi].label, model, len);
             hi++)
            ;
        char label[sizeof fronts->s->label];
        snprintf(label, sizeof label, "%.*s: Pareto front", (int)(len < 100 ? len : 100), model);
        if (pareto_front(by_model, lo, hi, label, &fronts->s[fronts->n])) {
            series_free(fronts);
            return -1;
        }
        fronts->n++;
    }
    return 0;
}

static void write_script(Plot *plot, const SeriesSet *s, const SeriesSet *fronts, int first_front)
{
    FILE *g = plot->gp.f;
    double lo, hi;
    series_range(s, 0, &lo, &hi);
    plot_log_tics(g, "x", lo, hi);
    fputs("set title ", g);
    plot_title(g, "Added error vs cores\none point per ok run; a model's Pareto front: its runs no "
                "other run of it beats in both cores and error");
    fputs("\nset xlabel \"cores\"\nset ylabel \"added error (pp)\"\nset logscale x 10\n"
          "set autoscale fix\n",
          g);
    plot_begin_outputs(plot, 1000, 600);
    fputs("    plot ", g);
    for (size_t i = 0; i < s->n; i++) {
        int pt = point_types[i % (sizeof point_types / sizeof *point_types)];
        fputs(i ? ", \\\n         \"\"" : "", g);
        if (!i)
            fprintf(g, "\"%s.dat\"", NAME);
        fprintf(g, " index %zu using 1:2 with points lt %zu pt %d ps 1.3 title ", i, i + 1, pt);
        plot_str(g, s->s[i].label);
    }
    for (size_t i = 0; i < fronts->n; i++) {
        fprintf(g, ", \\\n         \"\" index %zu using 1:2 with linespoints lt %zu lw 2 pt 6 ps 2.2 title ",
                (size_t)first_front + i, s->n + i + 1);
        plot_str(g, fronts->s[i].label);
    }
    fputc('\n', g);
    plot_end_outputs(plot);
}

int figure_error_vs_cores(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    SeriesSet s, by_model, fronts;
    if (series_build(r, row_ok, x_cores, row_added_error, BY_STRATEGY, 0, &s))
        return errf(err, errlen, "%s/%s: out of memory grouping the runs", d->dir, NAME);
    double first = 0;
    size_t distinct = series_distinct_x(&s, &first);
    if (distinct < 2) {
        char why[128];
        if (distinct == 0)
            snprintf(why, sizeof why, "no ok runs to plot against cores");
        else
            snprintf(why, sizeof why, "every ok run has cores = %g", first);
        plot_skipped(NAME, why);
        series_free(&s);
        return 0;
    }
    if (series_build(r, row_ok, x_cores, row_added_error, BY_MODEL_STRATEGY, 0, &by_model)) {
        series_free(&s);
        return errf(err, errlen, "%s/%s: out of memory grouping the runs", d->dir, NAME);
    }
    int failed = model_fronts(&by_model, &fronts);
    series_free(&by_model);
    if (failed) {
        series_free(&s);
        return errf(err, errlen, "%s/%s: out of memory finding the Pareto fronts", d->dir, NAME);
    }
    Plot plot;
    int rc = plot_begin(&plot, d, NAME,
                        "added error (percentage points) vs cores, one point per ok run, point "
                        "style by strategy, and each model's Pareto front",
                        err, errlen);
    if (rc == 0) {
        for (size_t i = 0; i < s.n; i++)
            plot_block(&plot, &s.s[i], s.s[i].label);
        int first_front = -1;
        for (size_t i = 0; i < fronts.n; i++) {
            int b = plot_block(&plot, &fronts.s[i], "Pareto front of one model: fewest cores for the error");
            first_front = first_front < 0 ? b : first_front;
        }
        write_script(&plot, &s, &fronts, first_front);
        rc = plot_finish(&plot, err, errlen);
    }
    series_free(&fronts);
    series_free(&s);
    return rc;
}
