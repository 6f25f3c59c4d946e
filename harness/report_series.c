/* Rows into the lines of a figure: grouped by (model, strategy) or by
 * strategy, sorted by x, and averaged over the parameters a figure does not
 * show (seeds, the other axes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

int row_ok(const RunRecord *rec) { return strncmp(rec->status, "ok", sizeof rec->status) == 0; }

double row_added_error(const RunRecord *rec) { return rec->added_error_pp; }

typedef struct {
    char label[128];
    double x, y;
} Point;

static int by_label_x_y(const void *a, const void *b)
{
    const Point *p = a, *q = b;
    int c = strcmp(p->label, q->label);
    if (c)
        return c;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->y < q->y ? -1 : p->y > q->y;
}

static void label_of(const RunRecord *rec, SeriesKey key, char *out, size_t len)
{
    /* the fields may fill their arrays without a terminator */
    if (key == BY_STRATEGY)
        snprintf(out, len, "%.*s", (int)sizeof rec->strategy, rec->strategy);
    else
        snprintf(out, len, "%.*s / %.*s", (int)sizeof rec->model, rec->model,
                 (int)sizeof rec->strategy, rec->strategy);
}

/* Appends the sorted points [from, to) as one series (means per x with
 * `average`). */
static int add_series(SeriesSet *out, const Point *pts, size_t from, size_t to, int average)
{
    Series *s = &out->s[out->n];
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%s", pts[from].label);
    s->x = malloc(sizeof *s->x * (to - from));
    s->y = malloc(sizeof *s->y * (to - from));
    if (!s->x || !s->y) {
        free(s->x);
        free(s->y);
        return -1;
    }
    out->n++;
    for (size_t i = from; i < to;) {
        size_t j = i + 1;
        double sum = pts[i].y;
        while (average && j < to && pts[j].x == pts[i].x)
            sum += pts[j++].y;
        s->x[s->n] = pts[i].x;
        s->y[s->n++] = sum / (double)(j - i);
        i = j;
    }
    return 0;
}

int series_build(const Results *r, RowFilter keep, RowValue x, RowValue y, SeriesKey key,
                 int average, SeriesSet *out)
{
    out->n = 0;
    out->s = NULL;
    Point *pts = malloc(sizeof *pts * (r->n ? r->n : 1));
    if (!pts)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const RunRecord *rec = &r->runs[i];
        if (!keep(rec))
            continue;
        double px = x(rec), py = y(rec);
        if (!isfinite(px) || !isfinite(py))
            continue;
        label_of(rec, key, pts[n].label, sizeof pts[n].label);
        pts[n].x = px;
        pts[n].y = py;
        n++;
    }
    qsort(pts, n, sizeof *pts, by_label_x_y);
    size_t groups = 0;
    for (size_t i = 0; i < n; i++)
        groups += i == 0 || strcmp(pts[i].label, pts[i - 1].label) != 0;
    out->s = calloc(groups ? groups : 1, sizeof *out->s);
    int rc = out->s ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i + 1;
        while (j < n && !strcmp(pts[j].label, pts[i].label))
            j++;
        rc = add_series(out, pts, i, j, average);
        i = j;
    }
    free(pts);
    if (rc)
        series_free(out);
    return rc;
}

void series_free(SeriesSet *s)
{
    for (size_t i = 0; s->s && i < s->n; i++) {
        free(s->s[i].x);
        free(s->s[i].y);
    }
    free(s->s);
    s->s = NULL;
    s->n = 0;
}

/* Quadratic, but over points already grouped (a few thousand at most), and
 * no allocation that could fail. */
size_t series_distinct_x(const SeriesSet *s, double *first)
{
    size_t distinct = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->s[i].n; j++) {
            double x = s->s[i].x[j];
            int seen = 0;
            for (size_t a = 0; a <= i && !seen; a++)
                for (size_t b = 0; b < (a == i ? j : s->s[a].n) && !seen; b++)
                    seen = s->s[a].x[b] == x;
            distinct += !seen;
            if (first && ((i == 0 && j == 0) || x < *first))
                *first = x;
        }
    return distinct;
}

long series_find(const SeriesSet *s, const char *label)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->s[i].label, label))
            return (long)i;
    return -1;
}

void series_range(const SeriesSet *s, int use_y, double *lo, double *hi)
{
    *lo = *hi = NAN;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->s[i].n; j++) {
            double v = use_y ? s->s[i].y[j] : s->s[i].x[j];
            if (isnan(*lo) || v < *lo)
                *lo = v;
            if (isnan(*hi) || v > *hi)
                *hi = v;
        }
}
