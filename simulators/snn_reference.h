/* The spiking simulator's plain reference path (snn_reference.c), beside
 * the fast one behind snn_run; private to the simulators and their tests.
 * Both give the same outputs bit for bit. */
#ifndef SIMULATORS_SNN_REFERENCE_H
#define SIMULATORS_SNN_REFERENCE_H

#include <stdint.h>

#include "../compiler/hw.h"
#include "../compiler/program.h"
#include "simulators.h"

/* snn_run's contract (simulators.h), computed as the SNN section there
 * states it: step by step, op by op, every neuron from every row, int64
 * potentials, one thread. Slow; it is what the fast path is tested against.
 * 0, or -1 on OOM or the arguments snn_run rejects. */
int snn_reference_run(const Program *p, const Hw *hw, const int32_t *inputs, int n, long first_image,
                      SnnOutput *out);

#endif
