/* Views and walks of row-major tensors: how a tensor of `dims` maps onto a
 * layer's (outer; c, h, w) blocks, and the helpers the ops that see whole
 * tensors (eltwise, transpose, pad, reshape, matmul, constant) share. */
#include <stdint.h>
#include <stdio.h>

#include "ops.h"

void view_natural(const int *dims, int rank, int *outer, Shape *s)
{
    switch (rank) {
    case 0:
        *outer = 1, *s = (Shape){1, 1, 1};
        return;
    case 1:
        *outer = 1, *s = (Shape){dims[0], 1, 1};
        return;
    case 2:
        *outer = dims[0], *s = (Shape){dims[1], 1, 1};
        return;
    case 3: /* NCL: the length is the width, as conv1d-as-conv2d expects */
        *outer = dims[0], *s = (Shape){dims[1], 1, dims[2]};
        return;
    default: /* NCHW, with every dim before the last three folded into outer */
        *outer = (int)dims_total(dims, rank - 3);
        *s = (Shape){dims[rank - 3], dims[rank - 2], dims[rank - 1]};
        return;
    }
}

size_t dims_total(const int *d, int rank)
{
    size_t n = 1;
    for (int k = 0; k < rank; k++)
        n *= (size_t)d[k];
    return n;
}

const char *dims_text(const int *d, int rank, char *buf, size_t len)
{
    if (!len)
        return buf;
    snprintf(buf, len, "[");
    for (int k = 0; k < rank; k++)
        errf_append(buf, len, "%s%d", k ? "," : "", d[k]);
    errf_append(buf, len, "]");
    return buf;
}

int dims_check(const IntList *d, const char *key, int min_rank, char *err, size_t errlen)
{
    char t[96];
    if (d->n < min_rank || d->n > NN_MAX_RANK)
        return errf(err, errlen, "'%s' must list %d to %d dims, not %d", key, min_rank,
                    NN_MAX_RANK, d->n);
    /* Products stay in int (Param dims, Shape) and never overflow size_t. */
    size_t total = 1;
    for (int k = 0; k < d->n; k++) {
        if (d->v[k] < 1)
            return errf(err, errlen, "'%s' %s: every dim must be at least 1", key,
                        dims_text(d->v, d->n, t, sizeof t));
        total *= (size_t)d->v[k];
        if (total > INT32_MAX)
            return errf(err, errlen, "'%s' %s: more than %d values", key,
                        dims_text(d->v, d->n, t, sizeof t), INT32_MAX);
    }
    return 0;
}

int input_total_check(const Layer *l, int k, const int *d, int rank, char *err, size_t errlen)
{
    char t[96];
    size_t want = dims_total(d, rank), have = input_total(l, k);
    if (have == want)
        return 0;
    return errf(err, errlen,
                "input %d has %zu values per sample (%d x %dx%dx%d), but a tensor of %s has %zu",
                k + 1, have, l->in_outer[k], l->in_shape[k].c, l->in_shape[k].h,
                l->in_shape[k].w, dims_text(d, rank, t, sizeof t), want);
}

void layer_set_dims(Layer *l, const int *d, int rank)
{
    view_natural(d, rank, &l->outer, &l->out_shape);
}

int layer_add_tensor_param(Layer *l, const char *name, int trainable, int decay, const int *d,
                           int rank)
{
    if (rank >= 1 && rank <= 4)
        return layer_add_param(l, name, trainable, decay, rank, d);
    int total = (int)dims_total(d, rank);
    return layer_add_param(l, name, trainable, decay, 1, &total);
}

void dims_strides(const int *d, int rank, size_t *st)
{
    size_t s = 1;
    for (int k = rank - 1; k >= 0; k--) {
        st[k] = s;
        s *= (size_t)d[k];
    }
}

void walk_make(Walk *w, const int *n, const size_t *st, int rank)
{
    w->rank = 0;
    for (int k = 0; k < rank; k++) {
        if (n[k] == 1)
            continue; /* index always 0: no stride matters */
        int r = w->rank;
        /* Axis k continues the previous one when a step of the previous equals
         * a full sweep of k there (true on the row-major side always). */
        if (r > 0 && w->st[r - 1] == st[k] * (size_t)n[k]) {
            w->n[r - 1] *= n[k];
            w->st[r - 1] = st[k];
            continue;
        }
        w->n[r] = n[k];
        w->st[r] = st[k];
        w->rank++;
    }
    if (w->rank == 0) {
        w->rank = 1;
        w->n[0] = 1;
        w->st[0] = 1;
    }
}
