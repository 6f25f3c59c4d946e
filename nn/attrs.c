/* Layer attributes as text: one table maps each key to how it is parsed and
 * printed, so model INI files, model HDF5 files and error messages agree. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

void layer_attrs_default(LayerAttrs *a, OpType t)
{
    memset(a, 0, sizeof *a);
    a->kernel_h = a->kernel_w = 1;
    a->stride_h = a->stride_w = 1;
    a->bias = 1;
    a->alpha = 0.01f; /* leaky relu slope */
    a->beta = 0.75f;
    a->k = 1.0f;
    a->size = 5;
    a->eps = 1e-5f;
    a->momentum = 0.1f;
    a->rate = 0.5f;
    a->lo = -FLT_MAX; /* clip: unbounded until set */
    a->hi = FLT_MAX;
    if (t == OP_LRN)
        a->alpha = 1e-4f;
    if (t == OP_MAXPOOL || t == OP_AVGPOOL)
        a->kernel_h = a->kernel_w = a->stride_h = a->stride_w = 2;
}

/* A_LIST: an IntList written "2,3,4", or "none" (also "") when empty.
 * A_ENUM: an int chosen by name from `names` ("add|sub|..." → 0, 1, ...). */
typedef enum { A_INT, A_PAIR, A_PADS, A_BOOL, A_FLOAT, A_LIST, A_ENUM } AttrKind;

typedef struct {
    const char *key;
    AttrKind kind;
    size_t offset;      /* of the (first) field in LayerAttrs */
    double lo, hi;      /* allowed range of each number */
    const char *form;
    int nmin, nmax;     /* A_LIST: entries of a non-empty list */
    const char *names;  /* A_ENUM */
} AttrSpec;

/* Any finite float: this bound rounds to FLT_MAX, so "%.9g" of ±FLT_MAX
 * (3.40282347e+38) reads back. */
#define FINITE 3.4028235e38

#define OFF(f) offsetof(LayerAttrs, f)
#define NUM(key, kind, f, lo, hi, form) {key, kind, OFF(f), lo, hi, form, 0, 0, NULL}
#define LIST(key, f, nmin, nmax, lo, hi, form) {key, A_LIST, OFF(f), lo, hi, form, nmin, nmax, NULL}
static const AttrSpec attr_specs[] = {
    NUM("units", A_INT, units, 1, 1 << 24, "a positive integer"),
    NUM("filters", A_INT, filters, 1, 1 << 20, "a positive integer"),
    NUM("kernel", A_PAIR, kernel_h, 1, 1024, "K or KH,KW (1..1024)"),
    NUM("stride", A_PAIR, stride_h, 1, 1024, "S or SH,SW (1..1024)"),
    NUM("pad", A_PADS, pad_t, 0, 1024, "P or TOP,LEFT,BOTTOM,RIGHT (0..1024)"),
    NUM("bias", A_BOOL, bias, 0, 1, "yes or no"),
    NUM("ceil_mode", A_BOOL, ceil_mode, 0, 1, "yes or no"),
    NUM("count_include_pad", A_BOOL, count_include_pad, 0, 1, "yes or no"),
    NUM("alpha", A_FLOAT, alpha, 0, 1e6, "a number >= 0"),
    NUM("beta", A_FLOAT, beta, 0, 1e6, "a number >= 0"),
    NUM("k", A_FLOAT, k, 0, 1e6, "a number >= 0"),
    NUM("size", A_INT, size, 1, 1 << 20, "a positive integer"),
    NUM("eps", A_FLOAT, eps, 1e-12, 1, "a number in [1e-12, 1]"),
    NUM("momentum", A_FLOAT, momentum, 0, 1, "a number in [0, 1]"),
    NUM("rate", A_FLOAT, rate, 0, 0.999, "a number in [0, 0.999]"),
    NUM("lo", A_FLOAT, lo, -FINITE, FINITE, "a finite number"),
    NUM("hi", A_FLOAT, hi, -FINITE, FINITE, "a finite number"),
    {"binop", A_ENUM, OFF(binop), 0, 0, "add, sub, mul or div", 0, 0, "add|sub|mul|div"},
    NUM("reverse", A_BOOL, reverse, 0, 1, "yes or no"),
    NUM("value", A_FLOAT, value, -FINITE, FINITE, "a finite number"),
    LIST("dims", dims, 1, NN_MAX_RANK, 1, 1 << 24, "D1,D2,... (1 to 6 dims of 1..16777216)"),
    LIST("bdims", bdims, 0, NN_MAX_RANK, 1, 1 << 24,
         "D1,D2,... (up to 6 dims of 1..16777216; none for a scalar)"),
    LIST("perm", perm, 1, NN_MAX_RANK, 0, NN_MAX_RANK - 1, "P1,P2,... (1 to 6 axes 0..5)"),
    LIST("pads", pads, 2, 2 * NN_MAX_RANK, 0, 1 << 20,
         "B1,..,Bn,E1,..,En (begins then ends of n axes, 0..1048576)"),
    LIST("view", view, 4, 4, 1, 1 << 30, "OUTER,C,H,W (each >= 1)"),
};
#undef LIST
#undef NUM
#undef OFF

static const AttrSpec *spec_find(const char *key)
{
    for (size_t i = 0; i < sizeof attr_specs / sizeof *attr_specs; i++)
        if (strcmp(attr_specs[i].key, key) == 0)
            return &attr_specs[i];
    return NULL;
}

/* Is `key` one of the comma-separated names in `list`? */
static int list_has(const char *list, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, key, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* The i-th of the '|'-separated names: its start in *name and its length;
 * "?" (length 1) when there is no such name. */
static int enum_name(const char *names, int i, const char **name)
{
    const char *p = i >= 0 ? names : NULL;
    for (; p && i > 0; i--) {
        p = strchr(p, '|');
        p = p ? p + 1 : NULL;
    }
    if (!p) {
        *name = "?";
        return 1;
    }
    const char *end = strchr(p, '|');
    *name = p;
    return end ? (int)(end - p) : (int)strlen(p);
}

int layer_attr_set(LayerAttrs *a, const OpInfo *op, const char *key, const char *value,
                   char *err, size_t errlen)
{
    const AttrSpec *s = spec_find(key);
    if (!s || !list_has(op->attrs, key)) {
        snprintf(err, errlen, "unknown key '%s' for a %s layer (accepted: %s)", key, op->name,
                 op->attrs && *op->attrs ? op->attrs : "none");
        return -1;
    }
    char *base = (char *)a + s->offset;
    if (s->kind == A_LIST) {
        IntList *list = (IntList *)base, got;
        memset(&got, 0, sizeof got); /* unused entries stay 0, so equal lists compare equal */
        if (*value && strcmp(value, "none") != 0) {
            double v[2 * NN_MAX_RANK];
            got.n = parse_numbers(value, v, 2 * NN_MAX_RANK);
            if (got.n < (s->nmin > 1 ? s->nmin : 1) || got.n > s->nmax)
                goto bad;
            for (int i = 0; i < got.n; i++) {
                if (v[i] < s->lo || v[i] > s->hi || v[i] != floor(v[i]))
                    goto bad;
                got.v[i] = (int)v[i];
            }
        }
        *list = got;
        return 0;
    }
    if (s->kind == A_ENUM) {
        const char *name;
        for (int i = 0, n; (n = enum_name(s->names, i, &name)) > 0 && *name != '?'; i++)
            if (strlen(value) == (size_t)n && strncmp(name, value, (size_t)n) == 0) {
                *(int *)base = i;
                return 0;
            }
        goto bad;
    }
    if (s->kind == A_BOOL) {
        int v;
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
            v = 1;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
            v = 0;
        else
            goto bad;
        *(int *)base = v;
        return 0;
    }
    double v[4];
    int max = s->kind == A_PADS ? 4 : s->kind == A_PAIR ? 2 : 1;
    int n = parse_numbers(value, v, max);
    if (n < 1 || (s->kind == A_PADS && n != 1 && n != 4))
        goto bad;
    for (int i = 0; i < n; i++) {
        if (v[i] < s->lo || v[i] > s->hi)
            goto bad;
        if (s->kind != A_FLOAT && v[i] != floor(v[i]))
            goto bad;
    }
    switch (s->kind) {
    case A_FLOAT:
        *(float *)base = (float)v[0];
        break;
    case A_INT:
        *(int *)base = (int)v[0];
        break;
    case A_PAIR:
        ((int *)base)[0] = (int)v[0];
        ((int *)base)[1] = (int)v[n - 1];
        break;
    case A_PADS:
        for (int i = 0; i < 4; i++)
            ((int *)base)[i] = (int)v[n == 1 ? 0 : i];
        break;
    default:
        break;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad value '%s' for key '%s' of a %s layer: expected %s", value, key,
             op->name, s->form);
    return -1;
}

int layer_attrs_format(const LayerAttrs *a, const OpInfo *op, char *buf, size_t len)
{
    size_t used = 0;
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof attr_specs / sizeof *attr_specs; i++) {
        const AttrSpec *s = &attr_specs[i];
        if (!list_has(op->attrs, s->key))
            continue;
        const char *base = (const char *)a + s->offset;
        const int *iv = (const int *)base;
        char room[160];
        switch (s->kind) {
        case A_INT:
            snprintf(room, sizeof room, "%d", iv[0]);
            break;
        case A_PAIR:
            snprintf(room, sizeof room, "%d,%d", iv[0], iv[1]);
            break;
        case A_PADS:
            snprintf(room, sizeof room, "%d,%d,%d,%d", iv[0], iv[1], iv[2], iv[3]);
            break;
        case A_BOOL:
            snprintf(room, sizeof room, "%s", iv[0] ? "yes" : "no");
            break;
        case A_FLOAT:
            snprintf(room, sizeof room, "%.9g", *(const float *)base);
            break;
        case A_LIST: {
            const IntList *list = (const IntList *)base;
            snprintf(room, sizeof room, "%s", list->n ? "" : "none");
            for (int k = 0; k < list->n; k++)
                errf_append(room, sizeof room, "%s%d", k ? "," : "", list->v[k]);
            break;
        }
        case A_ENUM: {
            const char *name;
            int n = enum_name(s->names, iv[0], &name);
            snprintf(room, sizeof room, "%.*s", n, name);
            break;
        }
        }
        int w = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
                         "%s = %s\n", s->key, room);
        used += (size_t)w;
    }
    return (int)used;
}
