/* The results table in memory: rows appended as jobs finish, found by job
 * key (the file side is results_h5.c). */
#include <stdlib.h>
#include <string.h>

#include "results.h"

void results_init(Results *r) { memset(r, 0, sizeof *r); }

void results_free(Results *r)
{
    if (!r)
        return;
    free(r->runs);
    free(r->meta.config);
    results_init(r);
}

int results_add(Results *r, const RunRecord *rec)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        if (cap > (size_t)-1 / sizeof *r->runs)
            return -1;
        RunRecord *grown = realloc(r->runs, cap * sizeof *grown);
        if (!grown)
            return -1;
        r->runs = grown;
        r->cap = cap;
    }
    r->runs[r->n++] = *rec;
    return 0;
}

long results_find(const Results *r, const char *job)
{
    /* a stored key may fill its field without a terminator; a longer job
     * key than the field holds matches nothing */
    const size_t field = sizeof r->runs->job;
    if (strlen(job) > field)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        if (strncmp(r->runs[i].job, job, field) == 0)
            return (long)i;
    return -1;
}
