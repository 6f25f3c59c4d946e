/* The two ANN simulator paths behind ann_run (simulators.h); private to the
 * simulators and their tests. Both give the same logits bit for bit. */
#ifndef SIMULATORS_ANN_PATHS_H
#define SIMULATORS_ANN_PATHS_H

#include <stdint.h>

#include "../compiler/program.h"

/* The reference: every op in program order on lane vectors of doubles
 * (simulators/ann.c). Integer or float programs, any widths. */
int ann_reference_run(const Program *p, const int32_t *inputs, const float *finputs, int n,
                      int64_t *logits, float *flogits);

/* The fast path (simulators/ann_fast.c): 1 if it can run p on these inputs
 * (an integer program of io_bits <= 8 whose sums stay exact in float, ops
 * reading only inputs and ReLU neurons, inputs in range), else 0. */
int ann_fast_fits(const Program *p, const int32_t *inputs, int n);
/* Its input half: every input in 0 .. 2^io_bits − 1. */
int ann_fast_inputs_fit(const Program *p, const int32_t *inputs, int n);

/* What the fast path makes of a program once (weights rearranged, the op
 * schedule), for any number of runs; it points into p, which must outlive
 * it. NULL if the program does not fit (ann_fast_fits's program half) or
 * on OOM. */
typedef struct AnnFast AnnFast;
AnnFast *ann_fast_make(const Program *p);
void ann_fast_free(AnnFast *a);
/* Runs n images (ann_fast_inputs_fit must hold): 0, or -1 on OOM. */
int ann_fast_run(const AnnFast *a, const int32_t *inputs, int n, int64_t *logits);

#endif
