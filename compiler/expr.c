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
    int32_t *sc = realloc(a->scratch, sizeof *sc * (size_t)cap);
    if (sc)
        a->scratch = sc;
    if (!v || !s || !t || !sc)
        return -1;
    a->cap = cap;
    return 0;
}

void acc_free(ExprAcc *a)
{
    free(a->val);
    free(a->seen);
    free(a->touched);
    free(a->scratch);
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

/* Sorts distinct non-negative ids ascending (tmp: room for n). The touched
 * ids of an element are a few hundred to thousands, often already sorted
 * (a copied expression) or within a narrow range (a convolution window), so
 * a check, insertion sort for short lists and an LSD radix sort on id − min
 * replace qsort, whose indirect comparisons were a third of reform's time. */
static void sort_ids(int32_t *a, int32_t n, int32_t *tmp)
{
    int32_t lo = n ? a[0] : 0, hi = lo, sorted = 1;
    for (int32_t i = 1; i < n; i++) {
        sorted &= a[i - 1] < a[i];
        lo = a[i] < lo ? a[i] : lo;
        hi = a[i] > hi ? a[i] : hi;
    }
    if (sorted)
        return;
    if (n <= 32) {
        for (int32_t i = 1; i < n; i++) {
            int32_t v = a[i], j = i - 1;
            for (; j >= 0 && a[j] > v; j--)
                a[j + 1] = a[j];
            a[j + 1] = v;
        }
        return;
    }
    int bits = 1, digit = 4, passes;
    while (bits < 31 && ((uint32_t)(hi - lo) >> bits))
        bits++;
    while (digit < 11 && ((int32_t)1 << digit) < n)
        digit++;
    passes = (bits + digit - 1) / digit;
    digit = (bits + passes - 1) / passes;
    const uint32_t mask = ((uint32_t)1 << digit) - 1;
    int32_t count[1 << 11];
    int32_t *src = a, *dst = tmp;
    for (int p = 0, shift = 0; p < passes; p++, shift += digit) {
        memset(count, 0, sizeof *count * (mask + 1));
        for (int32_t i = 0; i < n; i++)
            count[((uint32_t)(src[i] - lo) >> shift) & mask]++;
        for (int32_t d = 0, at = 0; d <= (int32_t)mask; d++) {
            int32_t c = count[d];
            count[d] = at;
            at += c;
        }
        for (int32_t i = 0; i < n; i++)
            dst[count[((uint32_t)(src[i] - lo) >> shift) & mask]++] = src[i];
        int32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, sizeof *a * (size_t)n);
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
    sort_ids(a->touched, a->n_touched, a->scratch);
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
