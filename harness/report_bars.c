/* transform_vs_train: per model, a cluster of bars: the mean transform_s of
 * each strategy, next to the model's training time (train_s), on a log
 * axis in seconds. The paper's claim is that the first are much shorter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "report.h"

#define NAME "transform_vs_train"

#define NAME_MAX_LEN 80 /* a model or strategy name, terminated */
typedef char Name[NAME_MAX_LEN];

static int usable(const RunRecord *rec)
{
    return row_ok(rec) && isfinite(rec->transform_s) && rec->transform_s > 0;
}

/* Adds name to the list unless it is there. */
static void add_name(Name *list, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(list[i], name))
            return;
    snprintf(list[(*n)++], NAME_MAX_LEN, "%s", name);
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

/* Sorted distinct names of a text field among the usable rows. */
static size_t names(const Results *r, size_t offset, size_t size, Name *out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!usable(&r->runs[i]))
            continue;
        char name[NAME_MAX_LEN];
        snprintf(name, sizeof name, "%.*s", (int)size, (const char *)&r->runs[i] + offset);
        add_name(out, &n, name);
    }
    qsort(out, n, sizeof *out, by_name);
    return n;
}

static size_t index_of(Name *list, size_t n, const char *name, size_t size)
{
    char key[NAME_MAX_LEN];
    snprintf(key, sizeof key, "%.*s", (int)size, name);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], key))
            return i;
    return n;
}

/* Means per (model, strategy) and per model; -1 on OOM. */
static int gather(const Results *r, Name *models, size_t nm, Name *strategies, size_t ns,
                  double **mean, double **train)
{
    double *sum = calloc(nm * ns, sizeof *sum), *tsum = calloc(nm, sizeof *tsum);
    size_t *cnt = calloc(nm * ns, sizeof *cnt), *tcnt = calloc(nm, sizeof *tcnt);
    int rc = sum && tsum && cnt && tcnt ? 0 : -1;
    for (size_t i = 0; i < r->n && rc == 0; i++) {
        const RunRecord *rec = &r->runs[i];
        if (!usable(rec))
            continue;
        size_t m = index_of(models, nm, rec->model, sizeof rec->model);
        size_t s = index_of(strategies, ns, rec->strategy, sizeof rec->strategy);
        if (m == nm || s == ns) /* cannot happen: names() listed every usable row */
            continue;
        sum[m * ns + s] += rec->transform_s;
        cnt[m * ns + s]++;
        if (isfinite(rec->train_s) && rec->train_s > 0) {
            tsum[m] += rec->train_s;
            tcnt[m]++;
        }
    }
    for (size_t k = 0; k < nm * ns && rc == 0; k++)
        sum[k] = cnt[k] ? sum[k] / (double)cnt[k] : NAN;
    for (size_t m = 0; m < nm && rc == 0; m++)
        tsum[m] = tcnt[m] ? tsum[m] / (double)tcnt[m] : NAN;
    free(cnt);
    free(tcnt);
    if (rc) {
        free(sum);
        free(tsum);
        return -1;
    }
    *mean = sum;
    *train = tsum;
    return 0;
}

/* Powers of ten around every value, so each bar's top shows. */
static void y_range(const double *v, size_t n, double *lo, double *hi)
{
    double mn = INFINITY, mx = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > 0) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
    /* room below the shortest bar (its base is the axis) and above the tallest */
    *lo = pow(10, floor(log10(mn / 3)));
    *hi = pow(10, ceil(log10(mx * 2)));
}

static void write_data(Plot *plot, Name *models, size_t nm, Name *strategies,
                       size_t ns, const double *mean, const double *train, int with_train)
{
    FILE *f = plot->dat.f;
    fputs("\n# columns: model number, then the mean transform_s of each strategy (", f);
    for (size_t s = 0; s < ns; s++)
        fprintf(f, "%s%s", s ? ", " : "", strategies[s]);
    fprintf(f, ")%s; NaN: none\n", with_train ? ", then train_s" : "");
    for (size_t m = 0; m < nm; m++) {
        fprintf(f, "# %zu = ", m);
        for (const char *c = models[m]; *c; c++)
            fputc((unsigned char)*c < 0x20 ? ' ' : *c, f);
        fputc('\n', f);
    }
    for (size_t m = 0; m < nm; m++) {
        fprintf(f, "%zu", m);
        char v[40];
        for (size_t s = 0; s < ns; s++) {
            format_real(v, sizeof v, mean[m * ns + s]);
            fprintf(f, " %s", v);
        }
        if (with_train) {
            format_real(v, sizeof v, train[m]);
            fprintf(f, " %s", v);
        }
        fputc('\n', f);
    }
}

static void write_script(Plot *plot, Name *models, size_t nm, Name *strategies,
                         size_t ns, double lo, double hi, int with_train)
{
    FILE *g = plot->gp.f;
    fputs("set title ", g);
    plot_title(g, with_train ? "Transformation time vs training time\nmean transform_s per "
                             "strategy next to the model's train_s"
                           : "Transformation time\nmean transform_s per strategy (no training "
                             "times recorded)");
    fprintf(g, "\nset xlabel \"model\"\nset ylabel \"seconds\"\n"
               "set logscale y 10\nset yrange [%g:%g]\nset offsets 0, 0, 0, 0\n"
               "set style data histograms\nset style histogram clustered gap 1\n"
               "set grid noxtics ytics\nset xtics (",
            lo, hi);
    for (size_t m = 0; m < nm; m++) {
        fputs(m ? ", " : "", g);
        plot_str(g, models[m]);
        fprintf(g, " %zu", m);
    }
    fputs(")\n", g);
    plot_begin_outputs(plot, 1000, 600);
    fputs("    plot ", g);
    for (size_t s = 0; s < ns; s++) {
        char title[120];
        snprintf(title, sizeof title, "transform: %s", strategies[s]);
        fprintf(g, "%s using %zu title ", s ? ", \\\n         \"\"" : "\"" NAME ".dat\"", s + 2);
        plot_str(g, title);
    }
    if (with_train)
        fprintf(g, ", \\\n         \"\" using %zu title \"training (train_s)\"", ns + 2);
    fputc('\n', g);
    plot_end_outputs(plot);
}

int figure_transform_vs_train(const Results *r, const ReportDest *d, char *err, size_t errlen)
{
    Name *models = calloc(r->n ? r->n : 1, sizeof *models);
    Name *strategies = calloc(r->n ? r->n : 1, sizeof *strategies);
    double *mean = NULL, *train = NULL;
    int rc = -1;
    if (!models || !strategies)
        goto oom;
    size_t nm = names(r, offsetof(RunRecord, model), sizeof r->runs->model, models);
    size_t ns = names(r, offsetof(RunRecord, strategy), sizeof r->runs->strategy, strategies);
    if (nm == 0) {
        plot_skipped(NAME, "no ok runs with a transform_s above 0");
        rc = 0;
        goto out;
    }
    if (gather(r, models, nm, strategies, ns, &mean, &train))
        goto oom;
    int with_train = 0;
    for (size_t m = 0; m < nm; m++)
        with_train |= !isnan(train[m]);
    double lo, hi;
    y_range(mean, nm * ns, &lo, &hi);
    if (with_train) {
        double tlo, thi;
        y_range(train, nm, &tlo, &thi);
        lo = fmin(lo, tlo);
        hi = fmax(hi, thi);
    }
    Plot plot;
    if (plot_begin(&plot, d, NAME,
                   "per model, mean transformation time per strategy next to the training time "
                   "(seconds, log scale)",
                   err, errlen))
        goto out;
    write_data(&plot, models, nm, strategies, ns, mean, train, with_train);
    write_script(&plot, models, nm, strategies, ns, lo, hi, with_train);
    rc = plot_finish(&plot, err, errlen);
    goto out;
oom:
    errf(err, errlen, "%s/%s: out of memory grouping the runs", d->dir, NAME);
out:
    free(models);
    free(strategies);
    free(mean);
    free(train);
    return rc;
}
