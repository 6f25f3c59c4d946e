/* Parameter initialisation shared by the weighted ops. */
#include <math.h>

#include "ops.h"

void init_fan_in_uniform(Param *w, Param *b, int fan_in, Rng *rng)
{
    float bound = 1.0f / sqrtf((float)(fan_in > 0 ? fan_in : 1));
    for (size_t i = 0; i < w->size; i++)
        w->data[i] = bound * (2.0f * rng_uniform(rng) - 1.0f);
    if (b)
        for (size_t i = 0; i < b->size; i++)
            b->data[i] = bound * (2.0f * rng_uniform(rng) - 1.0f);
}
