/* simulators — bit-exact reference simulators of the chips (DESIGN.md §6).
 * They run compiled programs (compiler/program.h) on integer inputs and
 * never see the network they came from. */
#ifndef SIMULATORS_SIMULATORS_H
#define SIMULATORS_SIMULATORS_H

#include <stdint.h>

#include "../compiler/program.h"

/* ANN cores: runs n images (n × p->n_inputs input values, already quantised
 * to 0 .. 2^io_bits − 1) and writes n × p->n_outputs logits (the output
 * ops' accumulators). Multi-threaded over images; the result does not
 * depend on the thread count. 0, or -1 on OOM. */
int ann_run(const Program *p, const int32_t *inputs, int n, int64_t *logits);

/* A float program (the `reform` strategy): the same wiring with float
 * weights and an unbounded ReLU, accumulated in double. Inputs are n ×
 * n_inputs floats; same threading and determinism as ann_run. */
int ann_run_float(const Program *p, const float *inputs, int n, float *logits);

#endif
