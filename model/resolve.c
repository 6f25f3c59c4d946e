/* model_resolve: a model name or definition path to the INI file, searching
 * the zoo (configs/models) under the working directory and next to the
 * installed executable. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define ZOO_DIRS 3

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The zoo folders in search order; returns how many were filled. */
static int zoo_dirs(char dirs[ZOO_DIRS][PATH_MAX])
{
    int n = 0;
    snprintf(dirs[n++], PATH_MAX, "configs/models");
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w1 = snprintf(dirs[n], PATH_MAX, "%s/../configs/models", exe);
            if (w1 > 0 && w1 < PATH_MAX)
                n++;
            int w2 = snprintf(dirs[n], PATH_MAX, "%s/../share/nnbench/configs/models", exe);
            if (w2 > 0 && w2 < PATH_MAX)
                n++;
        }
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a, b, c": the *.ini stems found in the zoo folders, sorted, without repeats. */
static void zoo_names(char dirs[ZOO_DIRS][PATH_MAX], int n_dirs, char *buf, size_t len)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < n_dirs; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t l = strlen(e->d_name);
            if (l <= 4 || strcmp(e->d_name + l - 4, ".ini") != 0 || e->d_name[0] == '.')
                continue;
            if (n == cap) {
                size_t c = cap ? cap * 2 : 16;
                char **g = realloc(names, c * sizeof *g);
                if (!g)
                    break;
                names = g;
                cap = c;
            }
            names[n] = strndup(e->d_name, l - 4);
            if (names[n])
                n++;
        }
        closedir(d);
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if ((i == 0 || strcmp(names[i], names[i - 1]) != 0) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int model_resolve(const char *name_or_path, char *path, size_t pathlen, char *err, size_t errlen)
{
    if (!name_or_path || !*name_or_path)
        return errf(err, errlen, "no model given (a zoo name such as lenet5, or a .ini file)");
    if (is_file(name_or_path)) {
        if (strlen(name_or_path) >= pathlen)
            return errf(err, errlen, "%s: path too long", name_or_path);
        snprintf(path, pathlen, "%s", name_or_path);
        return 0;
    }
    char dirs[ZOO_DIRS][PATH_MAX];
    int n_dirs = zoo_dirs(dirs);
    /* A bare name (with or without .ini) is looked up in the zoo. */
    if (!strchr(name_or_path, '/')) {
        char stem[256];
        snprintf(stem, sizeof stem, "%s", name_or_path);
        size_t l = strlen(stem);
        if (l > 4 && strcmp(stem + l - 4, ".ini") == 0)
            stem[l - 4] = '\0';
        for (int i = 0; i < n_dirs; i++) {
            char cand[PATH_MAX + 300];
            int w = snprintf(cand, sizeof cand, "%s/%s.ini", dirs[i], stem);
            if (w > 0 && (size_t)w < sizeof cand && is_file(cand)) {
                if (strlen(cand) >= pathlen)
                    return errf(err, errlen, "%s: path too long", cand);
                snprintf(path, pathlen, "%s", cand);
                return 0;
            }
        }
    }
    char zoo[1024];
    zoo_names(dirs, n_dirs, zoo, sizeof zoo);
    if (strchr(name_or_path, '/')) {
        struct stat st;
        const char *why = stat(name_or_path, &st) != 0 ? strerror(errno) : "not a regular file";
        return errf(err, errlen, "%s: cannot read: %s (zoo models: %s)", name_or_path, why,
                    zoo[0] ? zoo : "none found");
    }
    if (!zoo[0])
        return errf(err, errlen,
                    "unknown model '%s': not a file, and no zoo found (looked for configs/models "
                    "under the working directory and next to the nnbench executable)",
                    name_or_path);
    return errf(err, errlen, "unknown model '%s': not a file nor a zoo model (zoo models: %s)",
                name_or_path, zoo);
}
