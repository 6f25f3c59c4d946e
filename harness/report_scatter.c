/* error_vs_cores: every ok run as a point (cores on a log axis, added
 * error), one point style per strategy, and the Pareto front: the runs no
 * other run beats in both cores and error, joined by a line. */
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

/* The front of all points: by fewest cores, each point with less error than
 * every point before it (ties in both count once). 0 or -1 (OOM). */
static int pareto_front(const SeriesSet *all, Series *front)
{
    size_t total = 0;
    for (size_t i = 0; i < all->n; i++)
        total += all->s[i].n;
    memset(front, 0, sizeof *front);
    snprintf(front->label, sizeof front->label, "Pareto front");
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
    for (size_t i = 0; i < all->n; i++)
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

static void write_script(Plot *plot, const SeriesSet *s, int front_block)
{
    FILE *g = plot->gp.f;
    double lo, hi;
    series_range(s, 0, &lo, &hi);
    plot_log_tics(g, "x", lo, hi);
    fputs("set title ", g);
    plot_title(g, "Added error vs cores\none point per ok run; Pareto front: the runs no other run "
                "beats in both cores and error");
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
    fprintf(g, ", \\\n         \"\" index %d using 1:2 with linespoints lc \"black\" lw 2 pt 6 "
               "ps 2.2 title \"Pareto front\"\n",
            front_block);
    plot_end_outputs(plot);
}

int figure_error_vs_cores(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    SeriesSet s;
    Series front;
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
    if (pareto_front(&s, &front)) {
        series_free(&s);
        return errf(err, errlen, "%s/%s: out of memory finding the Pareto front", d->dir, NAME);
    }
    Plot plot;
    int rc = plot_begin(&plot, d, NAME,
                        "added error (percentage points) vs cores, one point per ok run, point "
                        "style by strategy, and the Pareto front",
                        err, errlen);
    if (rc == 0) {
        for (size_t i = 0; i < s.n; i++)
            plot_block(&plot, &s.s[i], s.s[i].label);
        int front_block = plot_block(&plot, &front, "Pareto front: fewest cores for the error");
        write_script(&plot, &s, front_block);
        rc = plot_finish(&plot, err, errlen);
    }
    free(front.x);
    free(front.y);
    series_free(&s);
    return rc;
}
