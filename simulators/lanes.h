/* lanes — the batch layout the ANN and PIM fast paths share (ann_fast.c,
 * pim_fast.c); private to the simulators. A thread takes L images at once
 * and every neuron holds one byte per image ("lane"): v[neuron · L + lane]. */
#ifndef SIMULATORS_LANES_H
#define SIMULATORS_LANES_H

#include <stddef.h>

#define LANE_BLOCK 16  /* lanes go in blocks of this many (vectorisable loops) */
#define MAX_LANES 64   /* images a thread takes at once */

/* The lane loops compiled twice, for AVX2 and for the baseline x86-64,
 * one picked when the program loads (GCC's function clones); the
 * arithmetic, and so every result, is the same in both. Not under clang:
 * clang 14 gives the resolvers of static clones external names, so
 * ann_fast.o and pim_fast.o clash at link time (make FUZZ=1). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define LANES_HOT __attribute__((target_clones("avx2", "default")))
#else
#define LANES_HOT
#endif

/* L for n images over the threads: a multiple of LANE_BLOCK, at most
 * MAX_LANES, and n_neurons · L within max_bytes where possible. */
int lanes_for(int n, size_t n_neurons, size_t max_bytes);

/* A large scratch buffer (free() it), on huge pages where the kernel offers
 * them: a fresh buffer per call otherwise costs a page fault every 4 KB.
 * NULL on OOM. */
void *lanes_alloc(size_t bytes);

#endif
