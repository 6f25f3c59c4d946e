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
} OpSchedule;

/* The schedule of a valid program (program_validate). 0, or -1 on OOM. */
int op_schedule_make(const Program *p, OpSchedule *s);
void op_schedule_free(OpSchedule *s);

#endif
