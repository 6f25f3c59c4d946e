/* Private to the reform pass: affine expressions over neurons.
 *
 * Until a non-linearity forces a value into neurons, every element of a
 * layer's output is kept as  k + Σ coef·neuron  over neurons already in the
 * program (input pixels or core-op outputs). Linear layers (dense, conv,
 * batch norm, pooling averages, add, concat, reshapes) only rewrite these
 * expressions, so they merge into the core op that finally materialises
 * them; that is how batch norm folds and average pooling, add and concat
 * disappear into their consumers. */
#ifndef COMPILER_EXPR_H
#define COMPILER_EXPR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n;            /* elements pushed so far */
    size_t cap_n, cap_terms;
    size_t *start;       /* element i's terms are [start[i], start[i+1]) */
    int32_t *id;         /* neurons, ascending within an element */
    float *coef;
    float *k;            /* constant of each element */
} Exprs;

/* Sums scaled expressions for one element at a time (dense by neuron id). */
typedef struct {
    double *val;
    uint8_t *seen;
    int32_t *touched;
    int32_t *scratch;    /* room to sort touched */
    int32_t n_touched, cap;
    double k;
} ExprAcc;

void exprs_init(Exprs *e);
void exprs_free(Exprs *e);
int exprs_copy(Exprs *dst, const Exprs *src);
static inline size_t expr_terms(const Exprs *e, size_t i) { return e->start[i + 1] - e->start[i]; }

/* The accumulator must cover neuron ids below `neurons` (grows; 0 / -1 OOM). */
int acc_reserve(ExprAcc *a, int32_t neurons);
void acc_free(ExprAcc *a);
void acc_add(ExprAcc *a, const Exprs *e, size_t i, double scale);
void acc_add_neuron(ExprAcc *a, int32_t id, double coef);
/* Appends the accumulated sum as element e->n and clears the accumulator. 0 / -1 OOM. */
int acc_push(ExprAcc *a, Exprs *e);

#endif
