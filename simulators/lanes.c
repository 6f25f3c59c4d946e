/* The lane layout's two helpers (lanes.h). */
#include <stdlib.h>
#include <sys/mman.h>

#include <omp.h>

#include "lanes.h"

int lanes_for(int n, size_t n_neurons, size_t max_bytes)
{
    int threads = omp_get_max_threads(), per = (n + threads - 1) / threads;
    int lanes = (per + LANE_BLOCK - 1) / LANE_BLOCK * LANE_BLOCK;
    lanes = lanes < LANE_BLOCK ? LANE_BLOCK : lanes > MAX_LANES ? MAX_LANES : lanes;
    while (lanes > LANE_BLOCK && n_neurons * (size_t)lanes > max_bytes)
        lanes -= LANE_BLOCK;
    return lanes;
}

void *lanes_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge)
        return malloc(bytes ? bytes : 1);
    void *p = NULL;
    bytes = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, bytes))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failing changes nothing */
#endif
    return p;
}
