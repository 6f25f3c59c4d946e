/* Graph tuning, the `full` strategy's parts (DESIGN.md §2 step 3); private
 * to compiler/tune*.c. quantise_full (compiler.h) is what the rest sees.
 *
 * Everything here works on a surrogate of the chip that tuning can run op
 * by op on a batch of images: the integer program's own arithmetic on
 * ANN and PIM chips (the PIM's ADC left out), and on spiking chips each
 * neuron's spike count over the window, y = clamp(⌊(Σ W·u + T·b − T·λ)/θ⌋,
 * 0, T), with u the count (or T · level, current coding) of its inputs —
 * what integrate-and-fire with reset by subtraction gives for steady input. */
#ifndef COMPILER_TUNE_H
#define COMPILER_TUNE_H

#include "compiler.h"

/* How the surrogate evaluates a core op. */
typedef struct {
    int snn;          /* spike counts (see above) instead of levels */
    int T;            /* SNN window */
    double top;       /* a hidden neuron's largest value: 2^io_bits − 1, or T */
    double bias_mult; /* the bias counts once (ANN) or every step (T) */
    double leak;      /* neuron.leak · θ per step is lost (LIF), as a fraction of θ */
} Surrogate;

/* A block to tune, as least squares over samples: U [n][rows+1] (the last
 * column is the bias multiplier) against targets Y [n][cols], both in the
 * block's accumulator units with θ = 1. */
typedef struct {
    int rows, cols, n;
    double *U, *Y;
    double *w0;   /* [rows+1][cols]: the naive block in the same units (the prior) */
} TuneProblem;

/* Solves one block (compiler/tune_solve.c): free tuning (ridge least
 * squares towards w0) when `free_phase`, the shift that fits the result in
 * the weight bits (within shift_max; linear blocks keep shift 0), then
 * rounding to ±wmax, progressive with compensation of what is not yet
 * rounded (GPTQ's order, with U's Hessian) when `round_phase`, else to
 * nearest. w [cols][rows] and bias [cols] get the integer block; *shift its
 * shift (in: the naive shift, used for linear blocks). 0, or -1 on OOM. */
int tune_solve(const TuneProblem *tp, int free_phase, int round_phase, int linear, int wmax, int shift_max,
               int32_t *w, int64_t *bias, int *shift);

/* The part-by-part walk over the integer program (compiler/tune.c). */
typedef struct {
    const Program *fp;
    Program *p;
    const Hw *hw;
    Surrogate sg;
    int n;             /* images */
    const uint8_t *px; /* their pixels */
    const float *vf;   /* the float network's values */
    float *vq;         /* the surrogate's values of the integer program */
    const double *S;   /* per group: value per level (naive's scales) */
    double s_in;       /* an input level's value in pixels (naive's) */
    int *group_of;     /* [n_neurons]: each neuron's scale group (-1: input) */
    int n_units;
    int *unit_of;      /* [n_ops] */
    int *unit_first;   /* [n_units + 1]: ops of unit u are order[unit_first[u] ..] */
    int *order;        /* [n_ops] */
    int32_t *max_in;   /* [n_ops]: each op's largest source neuron */
    double *x, *acc, *wd;
} Walk;

/* Op's first `rows` inputs on images lo .. hi − 1 from wk->vq into the
 * same columns of wk->x ([rows][n]; constant-0 rows zero). */
void tune_gather(Walk *wk, const CoreOp *op, int rows, int lo, int hi);
/* Runs op k of the integer program through the surrogate on images
 * lo .. hi − 1 (tune.c), into wk->vq. */
void tune_eval_op(Walk *wk, int k, int lo, int hi);
/* Does every column copy one input (weight 1, no bias)? Relays do. */
int tune_is_copy(const CoreBlock *fb);

/* The end-to-end pass (compiler/tune_e2e.c), after the walk: every tuned
 * block of wk->p at once, by straight-through gradients of the KL
 * divergence from the original's output distribution: tune.iterations Adam
 * steps of tune.lr on batches of tune.batch of four fifths of the images;
 * the held-out fifth, checked after each pass over them, picks the step
 * kept (the walk's program when none beats it). 0, or -1 on OOM. */
int tune_e2e(Walk *wk);

/* Tunes the part `unit` of op k (tune_part.c) from its ops whose inputs are
 * computed (below op k's first neuron): a new block for all its ops, or
 * naive's kept. 0, or -1 on OOM. */
int tune_unit(Walk *wk, int k, int unit);

/* Range tuning (compiler/tune_range.c): per scale group, the clip value
 * whose quantisation to `levels` steps (rounded, saturating) has the least
 * squared error over the group's float values v[neuron · n + image] (n
 * images); groups of linear (logit) ops keep their maximum. group_max gets
 * fp->n_groups values. 0, or -1 on OOM. */
int tune_ranges(const Program *fp, const float *v, int n, double levels, double *group_max);

#endif
