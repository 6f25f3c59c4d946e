/* config_resolve: a configuration name or path to its INI file, searching
 * the folder (configs/models for the zoo, configs/hw for hardware presets)
 * under the working directory and next to the installed executable. */
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

#define N_DIRS 3

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folders in search order; returns how many were filled. */
static int search_dirs(const char *sub, char dirs[N_DIRS][PATH_MAX])
{
    int n = 0;
    snprintf(dirs[n++], PATH_MAX, "%s", sub);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w1 = snprintf(dirs[n], PATH_MAX, "%s/../%s", exe, sub);
            if (w1 > 0 && w1 < PATH_MAX)
                n++;
            int w2 = snprintf(dirs[n], PATH_MAX, "%s/../share/nnbench/%s", exe, sub);
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

/* "a, b, c": the *.ini stems found in the folders, sorted, without repeats. */
static void known_names(char dirs[N_DIRS][PATH_MAX], int n_dirs, char *buf, size_t len)
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

int config_resolve(const ConfigDir *cd, const char *name_or_path, char *path, size_t pathlen,
                   char *err, size_t errlen)
{
    if (!name_or_path || !*name_or_path)
        return errf(err, errlen, "no %s given (a name such as %s, or a .ini file)", cd->noun,
                    cd->example);
    if (is_file(name_or_path)) {
        if (strlen(name_or_path) >= pathlen)
            return errf(err, errlen, "%s: path too long", name_or_path);
        snprintf(path, pathlen, "%s", name_or_path);
        return 0;
    }
    char dirs[N_DIRS][PATH_MAX];
    int n_dirs = search_dirs(cd->dir, dirs);
    /* A bare name (with or without .ini) is looked up in the folders. */
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
    char known[1024];
    known_names(dirs, n_dirs, known, sizeof known);
    if (strchr(name_or_path, '/')) {
        struct stat st;
        const char *why = stat(name_or_path, &st) != 0 ? strerror(errno) : "not a regular file";
        return errf(err, errlen, "%s: cannot read: %s (%s: %s)", name_or_path, why, cd->members,
                    known[0] ? known : "none found");
    }
    if (!known[0])
        return errf(err, errlen,
                    "unknown %s '%s': not a file, and no %s found (looked for %s under the "
                    "working directory and next to the nnbench executable)",
                    cd->noun, name_or_path, cd->members, cd->dir);
    return errf(err, errlen, "unknown %s '%s': not a file nor a %s (%s: %s)", cd->noun,
                name_or_path, cd->member, cd->members, known);
}

int model_resolve(const char *name_or_path, char *path, size_t pathlen, char *err, size_t errlen)
{
    static const ConfigDir zoo = {"configs/models", "model", "zoo model", "zoo models", "lenet5"};
    return config_resolve(&zoo, name_or_path, path, pathlen, err, errlen);
}
