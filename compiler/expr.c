/* Affine expressions over neurons (see expr.h). */
#include <stdlib.h>
#include <string.h>

#include "expr.h"

void exprs_init(Exprs *e) { memset(e, 0, sizeof *e); }

void exprs_free(Exprs *e)
{
    free(e->start);
    free(e->id);
    free(e->coef);
    free(e->k);
    exprs_init(e);
}

int exprs_copy(Exprs *dst, const Exprs *src)
{
    exprs_init(dst);
    size_t n = src->n, t = src->n ? src->start[src->n] : 0;
    dst->start = malloc(sizeof *dst->start * (n + 1));
    dst->k = malloc(sizeof *dst->k * (n ? n : 1));
    dst->id = malloc(sizeof *dst->id * (t ? t : 1));
    dst->coef = malloc(sizeof *dst->coef * (t ? t : 1));
    if (!dst->start || !dst->k || !dst->id || !dst->coef) {
        exprs_free(dst);
        return -1;
    }
    memcpy(dst->start, src->start, sizeof *dst->start * (n + 1));
    memcpy(dst->k, src->k, sizeof *dst->k * n);
    memcpy(dst->id, src->id, sizeof *dst->id * t);
    memcpy(dst->coef, src->coef, sizeof *dst->coef * t);
    dst->n = dst->cap_n = n;
    dst->cap_terms = t;
    return 0;
}

int acc_reserve(ExprAcc *a, int32_t neurons)
{
    if (neurons <= a->cap)
        return 0;
    int32_t cap = neurons + neurons / 2 + 64;
    double *v = realloc(a->val, sizeof *v * (size_t)cap);
    if (v)
        a->val = v;
    uint8_t *s = realloc(a->seen, (size_t)cap);
    if (s) {
        memset(s + a->cap, 0, (size_t)(cap - a->cap));
        a->seen = s;
    }
    int32_t *t = realloc(a->touched, sizeof *t * (size_t)cap);
    if (t)
        a->touched = t;
    if (!v || !s || !t)
        return -1;
    a->cap = cap;
    return 0;
}

void acc_free(ExprAcc *a)
{
    free(a->val);
    free(a->seen);
    free(a->touched);
    memset(a, 0, sizeof *a);
}

void acc_add_neuron(ExprAcc *a, int32_t id, double coef)
{
    if (!a->seen[id]) {
        a->seen[id] = 1;
        a->val[id] = 0;
        a->touched[a->n_touched++] = id;
    }
    a->val[id] += coef;
}

void acc_add(ExprAcc *a, const Exprs *e, size_t i, double scale)
{
    if (scale == 0)
        return;
    for (size_t t = e->start[i]; t < e->start[i + 1]; t++)
        acc_add_neuron(a, e->id[t], scale * e->coef[t]);
    a->k += scale * e->k[i];
}

static int by_id(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

int acc_push(ExprAcc *a, Exprs *e)
{
    if (e->n + 1 >= e->cap_n) {
        size_t cap = e->cap_n ? e->cap_n * 2 : 256;
        size_t *s = realloc(e->start, sizeof *s * (cap + 1));
        if (s)
            e->start = s;
        float *k = realloc(e->k, sizeof *k * cap);
        if (k)
            e->k = k;
        if (!s || !k)
            return -1;
        if (e->n == 0)
            e->start[0] = 0;
        e->cap_n = cap;
    }
    size_t at = e->start[e->n], need = at + (size_t)a->n_touched;
    if (need > e->cap_terms) {
        size_t cap = e->cap_terms ? e->cap_terms : 1024;
        while (cap < need)
            cap *= 2;
        int32_t *id = realloc(e->id, sizeof *id * cap);
        if (id)
            e->id = id;
        float *c = realloc(e->coef, sizeof *c * cap);
        if (c)
            e->coef = c;
        if (!id || !c)
            return -1;
        e->cap_terms = cap;
    }
    qsort(a->touched, (size_t)a->n_touched, sizeof *a->touched, by_id);
    for (int32_t t = 0; t < a->n_touched; t++) {
        int32_t id = a->touched[t];
        a->seen[id] = 0;
        if (a->val[id] != 0) { /* terms that cancel exactly vanish */
            e->id[at] = id;
            e->coef[at++] = (float)a->val[id];
        }
    }
    e->k[e->n] = (float)a->k;
    e->start[++e->n] = at;
    a->n_touched = 0;
    a->k = 0;
    return 0;
}
