/* The frame every figure shares: NAME.dat (blocks of "x y" lines, one per
 * line of the figure) and NAME.gp (the gnuplot script, kept so users can
 * restyle and rerun it: `gnuplot NAME.gp` in the report's folder), then
 * gnuplot's NAME.png and NAME.svg.
 *
 * The script draws the same plot into both terminals in one loop, and takes
 * its output name from the variable `outbase`, so nnbench can have gnuplot
 * write temporary names and rename them once it succeeded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nn/nn.h"
#include "report.h"

#define XTICS_MAX 12 /* distinct x values that get a tic each */

/* Text for a one-line comment: control characters become spaces. */
static void put_comment(FILE *f, const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        fputc(*c < 0x20 || *c == 0x7f ? ' ' : *c, f);
}

/* A gnuplot string literal: double quotes, in which gnuplot reads \n as a
 * line break; other control characters (and \n, unless kept) become spaces. */
static void put_string(FILE *f, const char *text, int keep_newlines)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c == '\n' && keep_newlines)
            fputs("\\n", f);
        else
            fputc(*c < 0x20 || *c == 0x7f ? ' ' : *c, f);
    }
    fputc('"', f);
}

void plot_str(FILE *f, const char *text) { put_string(f, text, 0); }

void plot_title(FILE *f, const char *text) { put_string(f, text, 1); }

int plot_begin(Plot *p, const ReportDest *d, const char *name, const char *what, char *err,
               size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->dest = d;
    p->name = name;
    char file[256];
    snprintf(file, sizeof file, "%s.dat", name);
    if (out_open(&p->dat, d->dir, file, err, errlen))
        return -1;
    snprintf(file, sizeof file, "%s.gp", name);
    if (out_open(&p->gp, d->dir, file, err, errlen)) {
        out_abort(&p->dat);
        return -1;
    }
    fprintf(p->dat.f, "# %s.dat: the data of %s.gp, written by nnbench report from ", name, name);
    put_comment(p->dat.f, d->source);
    fputs(".\n", p->dat.f);
    FILE *g = p->gp.f;
    fprintf(g, "# %s.gp: ", name);
    put_comment(g, what);
    fprintf(g, "\n# Written by nnbench report from ");
    put_comment(g, d->source);
    fprintf(g, ".\n# Restyle freely, then rerun in this folder:  gnuplot %s.gp\n"
               "# (it writes %s.png and %s.svg; running nnbench report again overwrites it).\n\n",
            name, name, name);
    fprintf(g, "if (!exists(\"outbase\")) outbase = \"%s\"\n", name);
    fprintf(g, "set encoding utf8\n"
               "set grid\n"
               "set key outside right top Left reverse\n"
               "set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n"
               "set style fill solid 0.85 border -1\n\n");
    return 0;
}

static int by_value(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return p < q ? -1 : p > q;
}

void plot_xtics(FILE *f, const SeriesSet *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        total += s->s[i].n;
    double *all = malloc(sizeof *all * (total ? total : 1));
    if (!all) { /* gnuplot's own tics will do */
        fputs("    set xtics autofreq\n", f);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->s[i].n; j++)
            all[k++] = s->s[i].x[j];
    qsort(all, total, sizeof *all, by_value);
    size_t distinct = 0;
    for (size_t i = 0; i < total; i++)
        if (i == 0 || all[i] != all[i - 1])
            all[distinct++] = all[i];
    if (distinct == 0 || distinct > XTICS_MAX) {
        fputs("    set xtics autofreq\n", f);
    } else {
        fputs("    set xtics (", f);
        for (size_t i = 0; i < distinct; i++) {
            char v[40];
            format_real(v, sizeof v, all[i]);
            fprintf(f, "%s%s", i ? ", " : "", v);
        }
        fputs(")\n", f);
    }
    free(all);
}

void plot_log_tics(FILE *f, const char *axis, double lo, double hi)
{
    if (!(lo > 0) || !(hi > lo) || hi / lo >= 10) {
        fprintf(f, "    set %stics autofreq\n", axis);
        return;
    }
    fprintf(f, "    set %stics (", axis);
    double last = 0, unit = pow(10, floor(log10((hi - lo) / 4))); /* round to the spacing */
    for (int k = 0; k <= 4; k++) {
        double v = round(lo * pow(hi / lo, k / 4.0) / unit) * unit;
        if (v == last)
            continue;
        char text[40];
        format_real(text, sizeof text, v);
        fprintf(f, "%s%s", k ? ", " : "", text);
        last = v;
    }
    fputs(")\n", f);
}

int plot_block(Plot *p, const Series *s, const char *comment)
{
    FILE *f = p->dat.f;
    if (p->blocks == 0)
        fputs("# One block per line of the figure (gnuplot's `index`), blocks separated by two "
              "blank lines.\n\n",
              f);
    fprintf(f, "# index %d: ", p->blocks);
    put_comment(f, comment);
    fputc('\n', f);
    for (size_t i = 0; i < s->n; i++) {
        char x[40], y[40];
        format_real(x, sizeof x, s->x[i]);
        format_real(y, sizeof y, s->y[i]);
        fprintf(f, "%s %s\n", x, y);
    }
    fputs("\n\n", f);
    return p->blocks++;
}

void plot_begin_outputs(Plot *p, int width, int height)
{
    fprintf(p->gp.f,
            "do for [fmt in \"png svg\"] {\n"
            "    if (fmt eq \"png\") {\n"
            "        set terminal pngcairo size %d,%d noenhanced font \"sans,11\"\n"
            "    } else {\n"
            "        set terminal svg size %d,%d noenhanced font \"sans,11\" background \"white\"\n"
            "    }\n"
            "    set output outbase.\".\".fmt\n",
            width, height, width, height);
}

void plot_end_outputs(Plot *p) { fputs("    unset output\n}\n", p->gp.f); }

void plot_abort(Plot *p)
{
    out_abort(&p->dat);
    out_abort(&p->gp);
}

int plot_finish(Plot *p, char *err, size_t errlen)
{
    const char *dir = p->dest->dir;
    if (out_commit(&p->dat, err, errlen)) {
        out_abort(&p->gp);
        return -1;
    }
    if (out_commit(&p->gp, err, errlen))
        return -1;
    char script[256], outbase[256], tmp[2][300], final[2][300];
    snprintf(script, sizeof script, "%s.gp", p->name);
    snprintf(outbase, sizeof outbase, "%s.tmp.%ld", p->name, (long)getpid());
    const char *ext[2] = {"png", "svg"};
    for (int k = 0; k < 2; k++) {
        snprintf(tmp[k], sizeof tmp[k], "%s.%s", outbase, ext[k]);
        snprintf(final[k], sizeof final[k], "%s.%s", p->name, ext[k]);
    }
    if (gnuplot_run(dir, script, outbase, err, errlen)) {
        for (int k = 0; k < 2; k++) { /* whatever it left half-written */
            char path[REPORT_PATH_MAX + 320];
            snprintf(path, sizeof path, "%s/%s", dir, tmp[k]);
            unlink(path);
        }
        return -1;
    }
    int rc = out_adopt(dir, tmp[0], final[0], err, errlen);
    if (rc) {
        char path[REPORT_PATH_MAX + 320];
        snprintf(path, sizeof path, "%s/%s", dir, tmp[1]);
        unlink(path);
        return -1;
    }
    return out_adopt(dir, tmp[1], final[1], err, errlen);
}

void plot_skipped(const char *name, const char *why) { printf("%s: skipped (%s)\n", name, why); }
