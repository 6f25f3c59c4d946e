/* Layer attributes as text: one table maps each key to how it is parsed and
 * printed, so model INI files, model HDF5 files and error messages agree. */
#include <errno.h>
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
    if (t == OP_LRN)
        a->alpha = 1e-4f;
    if (t == OP_MAXPOOL || t == OP_AVGPOOL)
        a->kernel_h = a->kernel_w = a->stride_h = a->stride_w = 2;
}

typedef enum { A_INT, A_PAIR, A_PADS, A_BOOL, A_FLOAT } AttrKind;

typedef struct {
    const char *key;
    AttrKind kind;
    size_t offset;   /* of the (first) field in LayerAttrs */
    double lo, hi;   /* allowed range of each number */
    const char *form;
} AttrSpec;

#define OFF(f) offsetof(LayerAttrs, f)
static const AttrSpec attr_specs[] = {
    {"units", A_INT, OFF(units), 1, 1 << 24, "a positive integer"},
    {"filters", A_INT, OFF(filters), 1, 1 << 20, "a positive integer"},
    {"kernel", A_PAIR, OFF(kernel_h), 1, 1024, "K or KH,KW (1..1024)"},
    {"stride", A_PAIR, OFF(stride_h), 1, 1024, "S or SH,SW (1..1024)"},
    {"pad", A_PADS, OFF(pad_t), 0, 1024, "P or TOP,LEFT,BOTTOM,RIGHT (0..1024)"},
    {"bias", A_BOOL, OFF(bias), 0, 1, "yes or no"},
    {"ceil_mode", A_BOOL, OFF(ceil_mode), 0, 1, "yes or no"},
    {"count_include_pad", A_BOOL, OFF(count_include_pad), 0, 1, "yes or no"},
    {"alpha", A_FLOAT, OFF(alpha), 0, 1e6, "a number >= 0"},
    {"beta", A_FLOAT, OFF(beta), 0, 1e6, "a number >= 0"},
    {"k", A_FLOAT, OFF(k), 0, 1e6, "a number >= 0"},
    {"size", A_INT, OFF(size), 1, 1 << 20, "a positive integer"},
    {"eps", A_FLOAT, OFF(eps), 1e-12, 1, "a number in [1e-12, 1]"},
    {"momentum", A_FLOAT, OFF(momentum), 0, 1, "a number in [0, 1]"},
    {"rate", A_FLOAT, OFF(rate), 0, 0.999, "a number in [0, 0.999]"},
};
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
        char room[128];
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
        }
        int w = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
                         "%s = %s\n", s->key, room);
        used += (size_t)w;
    }
    return (int)used;
}
