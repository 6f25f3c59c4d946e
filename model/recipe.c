/* The training recipe as text: one table maps each [train] key to a field of
 * TrainConfig and to how it is parsed and printed, so model INI files, the
 * /train group of model HDF5 files and error messages agree. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef enum { R_INT, R_SEED, R_FLOAT, R_BOOL, R_OPT, R_SCHED, R_AUGMENT, R_FLOAT3 } RecipeKind;

typedef struct {
    const char *key;
    RecipeKind kind;
    size_t offset;    /* of the (first) field in TrainConfig */
    double lo, hi;    /* allowed range of each number */
    int lo_open;      /* 1: the value must be > lo */
    const char *form; /* the allowed form, for error messages */
} RecipeSpec;

#define OFF(f) offsetof(TrainConfig, f)
static const RecipeSpec recipe_specs[] = {
    {"epochs", R_INT, OFF(epochs), 1, 1000000, 0, "an integer in 1..1000000"},
    {"batch", R_INT, OFF(batch), 1, 65536, 0, "an integer in 1..65536"},
    {"seed", R_SEED, OFF(seed), 0, 0, 0, "an integer in 0..18446744073709551615"},
    {"optimizer", R_OPT, OFF(opt.kind), 0, 0, 0, "sgd or adam"},
    {"lr", R_FLOAT, OFF(opt.lr), 0, 1000, 1, "a number in (0, 1000]"},
    {"momentum", R_FLOAT, OFF(opt.momentum), 0, 1, 0, "a number in [0, 1]"},
    {"nesterov", R_BOOL, OFF(opt.nesterov), 0, 1, 0, "yes or no"},
    {"weight_decay", R_FLOAT, OFF(opt.weight_decay), 0, 1, 0, "a number in [0, 1]"},
    {"beta1", R_FLOAT, OFF(opt.beta1), 0, 1, 0, "a number in [0, 1]"},
    {"beta2", R_FLOAT, OFF(opt.beta2), 0, 1, 0, "a number in [0, 1]"},
    {"schedule", R_SCHED, OFF(opt.schedule), 0, 0, 0, "constant, step or cosine"},
    {"step_every", R_INT, OFF(opt.step_every), 1, 1000000, 0, "an integer in 1..1000000"},
    {"step_gamma", R_FLOAT, OFF(opt.step_gamma), 0, 1, 1, "a number in (0, 1]"},
    {"warmup_epochs", R_INT, OFF(opt.warmup_epochs), 0, 1000000, 0, "an integer in 0..1000000"},
    {"augment", R_AUGMENT, 0, 0, 0, 0, "none, or a list of crop (pad 4), cropN (pad N, 1..16) and flip"},
    {"input_scale", R_FLOAT, OFF(norm.scale), 0, 1e9, 1, "a number in (0, 1e9]"},
    {"input_mean", R_FLOAT3, OFF(norm.mean), -1e9, 1e9, 0, "M or M,M,M (numbers in [-1e9, 1e9])"},
    {"input_std", R_FLOAT3, OFF(norm.std), 0, 1e9, 1, "D or D,D,D (numbers in (0, 1e9])"},
};
#undef OFF
#define N_SPECS (sizeof recipe_specs / sizeof *recipe_specs)

static const char *const opt_names[] = {[OPT_SGD] = "sgd", [OPT_ADAM] = "adam"};
static const char *const sched_names[] = {
    [SCHED_CONSTANT] = "constant", [SCHED_STEP] = "step", [SCHED_COSINE] = "cosine"};

static const RecipeSpec *spec_find(const char *key)
{
    for (size_t i = 0; i < N_SPECS; i++)
        if (strcmp(recipe_specs[i].key, key) == 0)
            return &recipe_specs[i];
    return NULL;
}


static int in_range(const RecipeSpec *s, double v)
{
    if (v > s->hi || v < s->lo || (s->lo_open && v <= s->lo))
        return 0;
    return 1;
}

static int pick_name(const char *const *names, int n, const char *v)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], v) == 0)
            return i;
    return -1;
}

int train_key_set(TrainConfig *t, const char *key, const char *value, char *err, size_t errlen)
{
    const RecipeSpec *s = spec_find(key);
    if (!s) {
        size_t used = (size_t)snprintf(err, errlen, "unknown key '%s' (known:", key);
        for (size_t i = 0; i < N_SPECS && used < errlen; i++)
            used += (size_t)snprintf(err + used, errlen - used, "%s %s", i ? "," : "",
                                     recipe_specs[i].key);
        if (used < errlen)
            snprintf(err + used, errlen - used, ")");
        return -1;
    }
    char v[256];
    if (!value || text_trim_copy(value, v, sizeof v) != 0)
        goto bad;
    char *base = (char *)t + s->offset;
    switch (s->kind) {
    case R_INT: {
        double d;
        if (parse_numbers(v, &d, 1) != 1 || d != floor(d) || !in_range(s, d))
            goto bad;
        *(int *)base = (int)d;
        return 0;
    }
    case R_SEED: {
        if (v[0] < '0' || v[0] > '9')
            goto bad;
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || *end != '\0')
            goto bad;
        *(uint64_t *)base = (uint64_t)u;
        return 0;
    }
    case R_FLOAT: {
        double d;
        if (parse_numbers(v, &d, 1) != 1 || !in_range(s, d))
            goto bad;
        *(float *)base = (float)d;
        return 0;
    }
    case R_FLOAT3: {
        double d[3];
        int n = parse_numbers(v, d, 3);
        if (n != 1 && n != 3)
            goto bad;
        for (int i = 0; i < n; i++)
            if (!in_range(s, d[i]))
                goto bad;
        for (int i = 0; i < 3; i++)
            ((float *)base)[i] = (float)d[n == 1 ? 0 : i];
        return 0;
    }
    case R_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
            *(int *)base = 1;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
            *(int *)base = 0;
        else
            goto bad;
        return 0;
    case R_OPT: {
        int k = pick_name(opt_names, (int)(sizeof opt_names / sizeof *opt_names), v);
        if (k < 0)
            goto bad;
        t->opt.kind = (OptKind)k;
        return 0;
    }
    case R_SCHED: {
        int k = pick_name(sched_names, (int)(sizeof sched_names / sizeof *sched_names), v);
        if (k < 0)
            goto bad;
        t->opt.schedule = (SchedKind)k;
        return 0;
    }
    case R_AUGMENT: {
        int crop = 0, flip = 0;
        if (strcmp(v, "none") != 0) {
            /* A comma-separated list of crop / flip, each at most once. */
            for (char *p = v; p;) {
                char *comma = strchr(p, ',');
                if (comma)
                    *comma = '\0';
                char item[16];
                if (text_trim_copy(p, item, sizeof item) != 0)
                    goto bad;
                /* "crop" pads by 4 pixels (the CIFAR recipe); "cropN" by N. */
                char *end;
                long pad = strncmp(item, "crop", 4) ? -1 : item[4] ? strtol(item + 4, &end, 10) : 4;
                if (pad >= 1 && pad <= 16 && (!item[4] || !*end) && !crop)
                    crop = (int)pad;
                else if (!strcmp(item, "flip") && !flip)
                    flip = 1;
                else
                    goto bad;
                p = comma ? comma + 1 : NULL;
            }
        }
        t->augment_crop = crop;
        t->augment_flip = flip;
        return 0;
    }
    }
bad:
    snprintf(err, errlen, "bad value '%s' for key '%s': expected %s", value ? value : "", key,
             s->form);
    return -1;
}

int train_format(const TrainConfig *t, char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < N_SPECS; i++) {
        const RecipeSpec *s = &recipe_specs[i];
        const char *base = (const char *)t + s->offset;
        char room[160];
        switch (s->kind) {
        case R_INT:
        case R_BOOL:
            if (s->kind == R_BOOL)
                snprintf(room, sizeof room, "%s", *(const int *)base ? "yes" : "no");
            else
                snprintf(room, sizeof room, "%d", *(const int *)base);
            break;
        case R_SEED:
            snprintf(room, sizeof room, "%" PRIu64, *(const uint64_t *)base);
            break;
        case R_FLOAT:
            snprintf(room, sizeof room, "%.9g", (double)*(const float *)base);
            break;
        case R_FLOAT3: {
            float f[3];
            uint32_t u[3];
            memcpy(f, base, sizeof f);
            memcpy(u, base, sizeof u);
            if (u[0] == u[1] && u[0] == u[2])
                snprintf(room, sizeof room, "%.9g", (double)f[0]);
            else
                snprintf(room, sizeof room, "%.9g,%.9g,%.9g", (double)f[0], (double)f[1],
                         (double)f[2]);
            break;
        }
        case R_OPT:
            snprintf(room, sizeof room, "%s",
                     (unsigned)t->opt.kind < sizeof opt_names / sizeof *opt_names
                         ? opt_names[t->opt.kind]
                         : "?");
            break;
        case R_SCHED:
            snprintf(room, sizeof room, "%s",
                     (unsigned)t->opt.schedule < sizeof sched_names / sizeof *sched_names
                         ? sched_names[t->opt.schedule]
                         : "?");
            break;
        case R_AUGMENT: {
            char crop[16] = "";
            if (t->augment_crop)
                snprintf(crop, sizeof crop, t->augment_crop == 4 ? "crop" : "crop%d", t->augment_crop);
            snprintf(room, sizeof room, "%s%s%s", crop, *crop && t->augment_flip ? "," : "",
                     t->augment_flip ? "flip" : *crop ? "" : "none");
            break;
        }
        }
        int w = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0, "%s = %s\n",
                         s->key, room);
        used += (size_t)w;
    }
    return (int)used;
}
