/* lanes — the batch layout the ANN and PIM fast paths share (ann_fast.c,
 * pim_fast.c); private to the simulators. A thread takes L images at once
 * and every neuron holds one byte per image ("lane"): v[neuron · L + lane]. */
#ifndef SIMULATORS_LANES_H
#define SIMULATORS_LANES_H

#include <stddef.h>

#define LANE_BLOCK 16  /* lanes go in blocks of this many (vectorisable loops) */
#define MAX_LANES 128  /* images a thread takes at once */

/* L for n images over the threads: a multiple of LANE_BLOCK, at most
 * MAX_LANES, and n_neurons · L within max_bytes where possible. */
int lanes_for(int n, size_t n_neurons, size_t max_bytes);

/* A large scratch buffer (free() it), on huge pages where the kernel offers
 * them: a fresh buffer per call otherwise costs a page fault every 4 KB.
 * NULL on OOM. */
void *lanes_alloc(size_t bytes);

#endif
