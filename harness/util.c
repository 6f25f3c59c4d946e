/* Small shared pieces of the command line: errors, numbers, preprocessing, JSON. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

int fail(int status, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "nnbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "M" or "M,M,M" into three floats. */
static int parse_triple(const char *s, float out[3])
{
    double v[3];
    int n = parse_numbers(s, v, 3);
    if (n != 1 && n != 3)
        return -1;
    for (int c = 0; c < 3; c++)
        out[c] = (float)v[n == 1 ? 0 : c];
    return 0;
}

int parse_preprocessing(const char *opt, const char *value, Normalize *n, char *err, size_t errlen)
{
    if (strcmp(opt, "--input-scale") && strcmp(opt, "--input-mean") && strcmp(opt, "--input-std"))
        return 0;
    if (!value) {
        snprintf(err, errlen, "%s needs a value", opt);
        return -1;
    }
    if (!strcmp(opt, "--input-scale")) {
        double v;
        if (parse_double(value, 1e-12, 1e12, &v)) {
            snprintf(err, errlen, "--input-scale: '%s' is not a positive number", value);
            return -1;
        }
        n->scale = (float)v;
        return 1;
    }
    float t[3];
    if (parse_triple(value, t)) {
        snprintf(err, errlen, "%s: '%s' is not M or M,M,M", opt, value);
        return -1;
    }
    int is_std = !strcmp(opt, "--input-std");
    for (int c = 0; c < 3; c++) {
        if (is_std && !(t[c] > 0)) {
            snprintf(err, errlen, "--input-std: '%s' must be positive", value);
            return -1;
        }
        (is_std ? n->std : n->mean)[c] = t[c];
    }
    return 1;
}

void json_open(Json *j, FILE *f)
{
    j->f = f;
    j->fields = 0;
    fputc('{', f);
}

static void json_key(Json *j, const char *key)
{
    fprintf(j->f, "%s\"%s\":", j->fields++ ? "," : "", key);
}

void json_str(Json *j, const char *key, const char *value)
{
    json_key(j, key);
    fputc('"', j->f);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(j->f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(j->f, "\\u%04x", *p);
        else
            fputc(*p, j->f);
    }
    fputc('"', j->f);
}

void json_num(Json *j, const char *key, double value)
{
    json_key(j, key);
    if (isfinite(value))
        fprintf(j->f, "%.10g", value);
    else
        fputs("null", j->f);
}

void json_int(Json *j, const char *key, long value)
{
    json_key(j, key);
    fprintf(j->f, "%ld", value);
}

void json_raw(Json *j, const char *key, const char *json)
{
    json_key(j, key);
    fputs(json, j->f);
}

void json_close(Json *j)
{
    fputs("}\n", j->f);
    fflush(j->f);
}

int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return errno;
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int make_parent_dirs(const char *file, char *err, size_t errlen)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    if (!slash || slash == file)
        return 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file);
    int e = make_dirs(dir);
    return e ? errf(err, errlen, "%s: cannot create its folder %s: %s", file, dir, strerror(e)) : 0;
}

int check_output_path(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!*path || (slash && !slash[1]))
        return errf(err, errlen, "%s: an output file name is needed, not a folder", path);
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) != 0)
        return errf(err, errlen, "%s: cannot write there: %s: %s", path, dir, strerror(errno));
    return 0;
}
