/* nnbench report RESULTS.h5 [-o DIR]: a sweep's results as DIR/runs.csv
 * and gnuplot figures (each with its data file and script, kept for
 * restyling). DIR defaults to the results file without .h5.
 *
 * Exit status: 0 done, 2 bad usage or an unreadable results file, 1 when
 * an output could not be written or gnuplot failed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "report.h"
#include "results.h"

typedef int (*Figure)(const Results *, const ReportDest *, char *, size_t);

static const Figure figures[] = {
    figure_error_vs_weight_bits, figure_error_vs_io,    figure_error_vs_crossbar,
    figure_cores_vs_crossbar,    figure_error_vs_cores, figure_transform_vs_train,
};

/* results/quick.h5 → results/quick; a name without .h5 gets ".report". */
static int default_dir(const char *file, char *out, size_t len)
{
    size_t n = strlen(file);
    const char *suffixes[] = {".h5", ".hdf5"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && !strcmp(file + n - k, suffixes[i]) && file[n - k - 1] != '/') {
            int w = snprintf(out, len, "%.*s", (int)(n - k), file);
            return w < 0 || (size_t)w >= len ? -1 : 0;
        }
    }
    int w = snprintf(out, len, "%s.report", file);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

int cmd_report(int argc, char **argv)
{
    const char *file = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-o")) {
            if (i + 1 >= argc)
                return fail(EXIT_USAGE, "report", "-o needs a value (the output folder)");
            dir = argv[++i];
        } else if (o[0] == '-' && o[1]) {
            return fail(EXIT_USAGE, "report", "unknown option '%s' (see nnbench --help)", o);
        } else if (file) {
            return fail(EXIT_USAGE, "report", "one results file expected, got '%s' and '%s'", file,
                        o);
        } else {
            file = o;
        }
    }
    if (!file)
        return fail(EXIT_USAGE, "report", "a RESULTS.h5 file (written by a sweep) is required");
    char out[REPORT_PATH_MAX];
    if (!dir) {
        if (default_dir(file, out, sizeof out))
            return fail(EXIT_USAGE, "report", "%s: path too long", file);
        dir = out;
    } else if (!dir[0] || strlen(dir) >= REPORT_PATH_MAX - 256) {
        return fail(EXIT_USAGE, "report", "-o: '%s' is not a usable folder name", dir);
    }
    char err[1024 + REPORT_PATH_MAX];
    Results r;
    if (results_load(file, &r, err, sizeof err)) {
        results_free(&r);
        return fail(EXIT_USAGE, "report", "%s", err);
    }
    int e = make_dirs(dir);
    if (e) {
        results_free(&r);
        return fail(e == ENOTDIR ? EXIT_USAGE : EXIT_WORK, "report", "%s: cannot create the folder: %s",
                    dir, strerror(e));
    }
    ReportDest dest = {dir, file};
    int rc = report_csv(&r, &dest, err, sizeof err);
    for (size_t i = 0; rc == 0 && i < sizeof figures / sizeof *figures; i++)
        rc = figures[i](&r, &dest, err, sizeof err);
    results_free(&r);
    fflush(stdout);
    return rc ? fail(EXIT_WORK, "report", "%s", err) : EXIT_OK;
}
