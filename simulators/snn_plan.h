/* What the spiking simulator prepares once per snn_run (snn_plan.c): the
 * checked program, its weights transposed, and for every neuron the list of
 * crossbar rows it feeds, so a spike is pushed straight to its readers and a
 * silent neuron costs nothing. Read-only while images run. */
#ifndef SIMULATORS_SNN_PLAN_H
#define SIMULATORS_SNN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../compiler/program.h"
#include "snn_input.h"

/* One crossbar row a neuron feeds: its weights to the reading op's `cols`
 * neurons, whose potentials start at v[v_off] (core neurons are numbered
 * from n_inputs: v[n − n_inputs]). */
typedef struct {
    const int32_t *w;
    int32_t v_off, cols;
} SnnSynapses;

typedef struct {
    const Program *p;
    int T;
    int reset_zero;
    SnnCoding coding;
    int32_t **wt;          /* per block: weights transposed, [rows][cols] */
    int64_t *theta;        /* per block: the threshold 2^shift */
    int64_t *leak;         /* per block: how far V moves toward 0 per step (0 unless lif) */
    size_t *first;         /* [n_neurons + 1]: neuron n feeds rows[first[n] .. first[n+1]) */
    SnnSynapses *rows;
} SnnPlan;

/* Checks the arguments (see snn_run in simulators.h) and builds the plan.
 * 0, or -1 (bad arguments or OOM) with nothing left allocated. */
int snn_plan_make(const Program *p, const Hw *hw, SnnPlan *pl);
void snn_plan_free(SnnPlan *pl);

#endif
