/* Hardware descriptions as text: the INI file (through iniparser), --set
 * assignments, the formatted listing and the documented INI, all driven by
 * the key table in hw_keys.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iniparser/iniparser.h>

#include "../model/model.h"
#include "hw.h"

/* ------------------------------------------------------------ helpers */

static int section_known(const char *name)
{
    for (int i = 0; i < hw_n_sections; i++)
        if (!strcmp(hw_sections[i].name, name))
            return 1;
    return 0;
}

static void list_sections(char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < hw_n_sections; i++)
        errf_append(buf, len, "%s%s", i ? ", " : "", hw_sections[i].name);
}

static void list_keys(const char *section, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < hw_n_keys; i++)
        if (!strcmp(hw_keys[i].section, section))
            errf_append(buf, len, "%s%s", buf[0] ? ", " : "", hw_keys[i].key);
}

/* Text appended with snprintf semantics: `used` counts what would have been
 * written, so callers can size a buffer from the return value. */
typedef struct {
    char *buf;
    size_t len, used;
} Out;

__attribute__((format(printf, 2, 3))) static void out(Out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->used < o->len ? o->buf + o->used : NULL,
                      o->used < o->len ? o->len - o->used : 0, fmt, ap);
    va_end(ap);
    if (w > 0)
        o->used += (size_t)w;
}

static int out_done(Out *o)
{
    if (o->len > 0 && o->used == 0)
        o->buf[0] = '\0';
    return (int)o->used;
}

/* ---------------------------------------------------------------- load */

/* [target] name defaults to the file's stem, made a valid name. */
static void name_from_path(const char *path, Hw *hw)
{
    char stem[HW_NAME_MAX];
    path_stem(path, stem, sizeof stem);
    for (char *p = stem; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+", *p))
            *p = '_';
    if (stem[0])
        snprintf(hw->target.name, sizeof hw->target.name, "%s", stem);
}

/* Applies the keys of one section, in file order. */
static int load_section(dictionary *d, const char *path, const char *sec, Hw *hw, char *err,
                        size_t errlen)
{
    int n = iniparser_getsecnkeys(d, sec);
    if (n <= 0)
        return 0;
    const char **full = calloc((size_t)n, sizeof *full);
    if (!full || !iniparser_getseckeys(d, sec, full)) {
        free(full);
        return errf(err, errlen, "%s: out of memory", path);
    }
    int rc = 0;
    size_t prefix = strlen(sec) + 1; /* iniparser keys are "section:key" */
    for (int i = 0; i < n && rc == 0; i++) {
        const char *key = full[i] + prefix;
        const char *value = iniparser_getstring(d, full[i], NULL);
        const HwKey *k = hw_key_find(sec, key);
        if (!k) {
            char keys[512];
            list_keys(sec, keys, sizeof keys);
            rc = errf(err, errlen, "%s: [%s] %s: unknown key (keys of [%s]: %s)", path, sec, key,
                      sec, keys);
        } else if (hw_key_set(hw, k, value ? value : "") != 0) {
            char form[512];
            hw_key_form(k, form, sizeof form);
            rc = errf(err, errlen, "%s: [%s] %s: bad value '%s': expected %s", path, sec, key,
                      value ? value : "", form);
        }
    }
    free(full);
    return rc;
}

int hw_load(const char *path, Hw *hw, char *err, size_t errlen)
{
    dictionary *d = ini_open(path, err, errlen);
    if (!d)
        return -1;
    /* Work on a copy: a failed load leaves *hw as it was. */
    Hw h = *hw;
    name_from_path(path, &h);
    int rc = 0, n_sec = iniparser_getnsec(d);
    for (int s = 0; s < n_sec && rc == 0; s++) {
        const char *sec = iniparser_getsecname(d, s);
        if (!sec)
            continue;
        if (!section_known(sec)) {
            char secs[256];
            list_sections(secs, sizeof secs);
            rc = errf(err, errlen, "%s: [%s]: unknown section (sections: %s)", path, sec, secs);
        } else {
            rc = load_section(d, path, sec, &h, err, errlen);
        }
    }
    iniparser_freedict(d);
    if (rc == 0)
        *hw = h;
    return rc;
}

/* ----------------------------------------------------------------- set */

int hw_set(Hw *hw, const char *assignment, char *err, size_t errlen)
{
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    char lhs[128];
    size_t n = eq ? (size_t)(eq - assignment) : 0;
    char *dot = NULL;
    if (eq && n < sizeof lhs) {
        memcpy(lhs, assignment, n);
        lhs[n] = '\0';
        ini_trim_lower(lhs); /* as iniparser reads names in files */
        dot = strchr(lhs, '.');
    }
    if (!dot)
        return errf(err, errlen, "'%s': expected SECTION.KEY=VALUE", assignment ? assignment : "");
    *dot = '\0';
    const char *sec = lhs, *key = dot + 1;
    if (!section_known(sec)) {
        char secs[256];
        list_sections(secs, sizeof secs);
        return errf(err, errlen, "%s.%s: unknown section '%s' (sections: %s)", sec, key, sec,
                    secs);
    }
    const HwKey *k = hw_key_find(sec, key);
    if (!k) {
        char keys[512];
        list_keys(sec, keys, sizeof keys);
        return errf(err, errlen, "%s.%s: unknown key (keys of [%s]: %s)", sec, key, sec, keys);
    }
    if (hw_key_set(hw, k, eq + 1) != 0) {
        char form[512], value[256];
        hw_key_form(k, form, sizeof form);
        snprintf(value, sizeof value, "%s", eq + 1 + strspn(eq + 1, " \t"));
        return errf(err, errlen, "%s.%s: bad value '%s': expected %s", sec, key, value, form);
    }
    return 0;
}

/* -------------------------------------------------------------- format */

int hw_format(const Hw *hw, char *buf, size_t len)
{
    Out o = {buf, len, 0};
    for (int i = 0; i < hw_n_keys; i++) {
        char v[256];
        hw_key_get(hw, &hw_keys[i], v, sizeof v);
        out(&o, "%s.%s = %s\n", hw_keys[i].section, hw_keys[i].key, v);
    }
    return out_done(&o);
}

/* "; text" wrapped at 100 columns. */
static void comment(Out *o, const char *text)
{
    const int width = 100 - 2;
    const char *p = text;
    while (*p) {
        int n = (int)strlen(p);
        if (n > width) {
            n = width;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0) /* one long word */
                n = (int)strcspn(p, " ");
        }
        out(o, "; %.*s\n", n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

int hw_format_ini(const Hw *hw, char *buf, size_t len)
{
    Out o = {buf, len, 0};
    for (int s = 0; s < hw_n_sections; s++) {
        out(&o, "%s[%s]\n", s ? "\n" : "", hw_sections[s].name);
        comment(&o, hw_sections[s].doc);
        for (int i = 0; i < hw_n_keys; i++) {
            const HwKey *k = &hw_keys[i];
            if (strcmp(k->section, hw_sections[s].name) != 0)
                continue;
            char v[256], form[512], allowed[600];
            hw_key_get(hw, k, v, sizeof v);
            hw_key_form(k, form, sizeof form);
            /* A file's name key defaults to the file's name (hw_load). */
            snprintf(allowed, sizeof allowed, "allowed: %s; default: %s", form,
                     k->kind == HW_NAME ? "the file's name" : k->def);
            out(&o, "\n");
            comment(&o, k->doc);
            comment(&o, allowed);
            out(&o, "%s = %s\n", k->key, v);
        }
    }
    return out_done(&o);
}

/* ------------------------------------------------------------ resolve */

int hw_resolve(const char *name_or_path, char *path, size_t pathlen, char *err, size_t errlen)
{
    static const ConfigDir presets = {"configs/hw", "hardware description", "preset", "presets",
                                      "tianji-ann"};
    return config_resolve(&presets, name_or_path, path, pathlen, err, errlen);
}

int hw_open(const char *name_or_path, const char *const *sets, int n_sets, Hw *hw, char *path,
            size_t pathlen, char *err, size_t errlen)
{
    char file[4096];
    if (hw_resolve(name_or_path, file, sizeof file, err, errlen) != 0)
        return -1;
    Hw h;
    hw_default(&h);
    if (hw_load(file, &h, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n_sets; i++) {
        char why[512];
        if (hw_set(&h, sets[i], why, sizeof why) != 0)
            return errf(err, errlen, "--set %s", why);
    }
    char origin[4200];
    snprintf(origin, sizeof origin, "%s%s", file, n_sets ? " (with --set)" : "");
    if (hw_check(&h, origin, err, errlen) != 0)
        return -1;
    if (path) {
        if (strlen(file) >= pathlen)
            return errf(err, errlen, "%s: path too long", file);
        snprintf(path, pathlen, "%s", file);
    }
    *hw = h;
    return 0;
}
