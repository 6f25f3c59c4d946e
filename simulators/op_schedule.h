/* op_schedule — a program's core ops regrouped into long runs for the ANN
 * and PIM fast paths (simulators/ann_fast.c, pim_fast.c); private to the
 * simulators.
 *
 * An op's level is 1 + the highest level of the ops it reads (inputs are
 * level 0), so ops of one level never read each other and may run in any
 * order. Ordered by (level, block, program order), the ops of one block and
 * level sit together: a run, computed as one matrix product. Every op still
 * reads only values made before it, so the results are those of program
 * order exactly. */
#ifndef SIMULATORS_OP_SCHEDULE_H
#define SIMULATORS_OP_SCHEDULE_H

#include "../compiler/program.h"

typedef struct {
    int n_ops, n_runs;
    int *order;     /* [n_ops]: op indices in execution order */
    int *run_start; /* [n_runs + 1]: run r is order[run_start[r] .. run_start[r + 1]) */
    /* Value slots: a neuron needs storage only from its run until the last
     * run that reads it, so slots are reused (first fit). Inputs take slots
     * 0 .. n_inputs − 1; a CORE_LINEAR op's outputs (logits, which the fast
     * paths keep apart and no op may read) take none. */
    int n_slots;     /* slots in use at the peak */
    int32_t *out;    /* [n_ops]: the slot of op k's first output (its cols follow), -1 if linear */
    int32_t *in;     /* op k's rows' slots (PROGRAM_ZERO kept) at in + first[k] */
    size_t *first;   /* [n_ops] */
} OpSchedule;

/* The schedule of a valid program (program_validate) none of whose ops
 * reads a logit. 0, or -1 on OOM. */
int op_schedule_make(const Program *p, OpSchedule *s);
void op_schedule_free(OpSchedule *s);

#endif
