/* ini_open: every configuration INI (model definitions, hardware
 * descriptions) is read by iniparser after a pre-scan that rejects what
 * iniparser would silently accept, so all of them report the same errors the
 * same way: "FILE: line N: ...". */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <iniparser/iniparser.h>

#include "model.h"

/* ------------------------------------------------ iniparser's own errors */

/* iniparser reports syntax errors through a global callback; it is pointed
 * here for the duration of one iniparser_load and the first message kept. */
static _Thread_local char ini_error[1024];

static int capture_error(const char *fmt, ...)
{
    if (ini_error[0])
        return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ini_error, sizeof ini_error, fmt, ap);
    va_end(ap);
    return n;
}

/* Messages quote file text: control and non-ASCII bytes become '?' so an
 * error stays one readable line whatever the file holds. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

/* Turns "iniparser: syntax error in F (12):\n-> text\n" into "F: line 12:
 * syntax error: 'text'", and "iniparser: input line too long in F (12)" into
 * "F: line 12: input line too long". */
static void describe_ini_error(const char *path, char *err, size_t errlen)
{
    const char *msg = ini_error;
    if (strncmp(msg, "iniparser: ", 11) == 0)
        msg += 11;
    const char *open = strrchr(msg, '(');
    const char *arrow = strstr(msg, "-> ");
    const char *in = strstr(msg, " in ");
    int line = 0;
    if (strncmp(msg, "syntax error", 12) == 0 && open && sscanf(open, "(%d)", &line) == 1 && arrow) {
        char text[256];
        snprintf(text, sizeof text, "%s", arrow + 3);
        text[strcspn(text, "\r\n")] = '\0';
        printable(text);
        errf(err, errlen, "%s: line %d: syntax error: '%s'", path, line, text);
        return;
    }
    if (in && open && open > in && sscanf(open, "(%d)", &line) == 1) {
        errf(err, errlen, "%s: line %d: %.*s", path, line, (int)(in - msg), msg);
        return;
    }
    char text[sizeof ini_error];
    snprintf(text, sizeof text, "%s", *msg ? msg : "cannot parse");
    printable(text);
    errf(err, errlen, "%s: %s", path, text);
}

/* ------------------------------------------------------------ pre-scan */

/* Section and layer names: what can safely be a section, a node name in the
 * model file, an entry of an `inputs` list and a label in results. */
int ini_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

void ini_trim_lower(char *s)
{
    char *b = s;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t n = strlen(b);
    while (n > 0 && isspace((unsigned char)b[n - 1]))
        n--;
    memmove(s, b, n);
    s[n] = '\0';
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

typedef struct {
    char name[128];
    int line;
} Seen;

static int seen_find(const Seen *v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return i;
    return -1;
}

static int seen_add(Seen **v, int *n, int *cap, const char *name, int line)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 32;
        Seen *g = realloc(*v, sizeof *g * (size_t)c);
        if (!g)
            return -1;
        *v = g;
        *cap = c;
    }
    snprintf((*v)[*n].name, sizeof (*v)[*n].name, "%s", name);
    (*v)[*n].line = line;
    (*n)++;
    return 0;
}

/* What iniparser silently accepts but a configuration must not contain: a
 * section or a key given twice (iniparser merges / overwrites), a key before
 * the first section (iniparser drops it), a section name that cannot be a
 * name (iniparser misreads names with ':'), control bytes (iniparser's lines
 * end at a NUL, so a binary file can parse as nothing), and a file with no
 * section at all (empty, or not an INI file). */
static int prescan(FILE *f, const char *path, char *err, size_t errlen)
{
    Seen *secs = NULL, *keys = NULL;
    int n_secs = 0, cap_secs = 0, n_keys = 0, cap_keys = 0;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, continued = 0, rc = 0;
    char section[128] = "";
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        for (size_t i = 0; i < n && rc == 0; i++) {
            unsigned char c = (unsigned char)line[i];
            if (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
                rc = errf(err, errlen, "%s: line %d: control byte 0x%02x: not a text file", path,
                          lineno, c);
        }
        if (rc)
            break;
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            n--;
        line[n] = '\0';
        int was_continued = continued;
        continued = n > 0 && line[n - 1] == '\\';
        if (was_continued)
            continue;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == ';' || *p == '#')
            continue;
        if (*p == '[') {
            char *close = strchr(p, ']');
            if (!close)
                continue; /* iniparser reports it */
            size_t len = (size_t)(close - p - 1);
            char name[128];
            if (len >= sizeof name) {
                rc = errf(err, errlen, "%s: line %d: section name too long", path, lineno);
                break;
            }
            memcpy(name, p + 1, len);
            name[len] = '\0';
            ini_trim_lower(name);
            printable(name);
            if (!ini_name_ok(name) || strlen(name) >= NN_NAME_MAX) {
                rc = errf(err, errlen,
                          "%s: line %d: [%s]: a section name must have 1 to %d letters, digits, "
                          "'_', '-' or '.'",
                          path, lineno, name, NN_NAME_MAX - 1);
                break;
            }
            int i = seen_find(secs, n_secs, name);
            if (i >= 0) {
                rc = errf(err, errlen, "%s: line %d: [%s] appears twice (first at line %d)", path,
                          lineno, name, secs[i].line);
                break;
            }
            if (seen_add(&secs, &n_secs, &cap_secs, name, lineno) != 0) {
                rc = errf(err, errlen, "%s: out of memory", path);
                break;
            }
            snprintf(section, sizeof section, "%s", name);
            n_keys = 0;
            continue;
        }
        char *eq = strchr(p, '=');
        if (!eq)
            continue; /* iniparser reports it */
        char key[128];
        size_t len = (size_t)(eq - p);
        if (len >= sizeof key)
            len = sizeof key - 1;
        memcpy(key, p, len);
        key[len] = '\0';
        ini_trim_lower(key);
        printable(key);
        if (!section[0]) {
            rc = errf(err, errlen, "%s: line %d: key '%s' comes before any [section]", path,
                      lineno, key);
            break;
        }
        int i = seen_find(keys, n_keys, key);
        if (i >= 0) {
            rc = errf(err, errlen, "%s: line %d: [%s] %s: given twice (first at line %d)", path,
                      lineno, section, key, keys[i].line);
            break;
        }
        if (seen_add(&keys, &n_keys, &cap_keys, key, lineno) != 0) {
            rc = errf(err, errlen, "%s: out of memory", path);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    if (rc == 0 && n_secs == 0)
        rc = errf(err, errlen, "%s: no [section]: empty, or not an INI file", path);
    free(line);
    free(secs);
    free(keys);
    return rc;
}

/* ---------------------------------------------------------------- load */

struct _dictionary_ *ini_open(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    int st_rc = fstat(fileno(f), &st);
    if (st_rc != 0 || S_ISDIR(st.st_mode)) {
        int e = st_rc != 0 ? errno : EISDIR;
        fclose(f);
        errf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        return NULL;
    }
    int rc = prescan(f, path, err, errlen);
    fclose(f);
    if (rc)
        return NULL;

    ini_error[0] = '\0';
    iniparser_set_error_callback(capture_error);
    dictionary *d = iniparser_load(path);
    iniparser_set_error_callback(NULL);
    if (!d) {
        if (!ini_error[0])
            snprintf(ini_error, sizeof ini_error, "cannot parse (out of memory?)");
        describe_ini_error(path, err, errlen);
    }
    return d;
}
