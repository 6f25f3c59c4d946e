/* Input coding of a spiking chip: pixels to per-step values (simulators.h).
 * Poisson draws come from a counter-based generator, a hash of (seed,
 * image, pixel, step), so no state is carried between draws and the train of
 * a pixel does not depend on which thread runs it or how images are batched. */
#include "snn_input.h"

#include "../compiler/hw.h"

uint64_t snn_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t snn_pixel_key(uint64_t seed, uint64_t image, uint64_t pixel)
{
    return snn_mix(snn_mix(snn_mix(seed) ^ image) ^ pixel);
}

void snn_input_begin(const SnnCoding *c, int n, uint64_t image, uint64_t *keys)
{
    if (c->coding != HW_IN_POISSON)
        return;
    for (int i = 0; i < n; i++)
        keys[i] = snn_pixel_key(c->seed, image, (uint64_t)i);
}

void snn_input_step(const SnnCoding *c, const int32_t *x, int n, const uint64_t *keys, int t,
                    int32_t *val)
{
    const int64_t top = c->top;
    switch (c->coding) {
    case HW_IN_CURRENT:
        for (int i = 0; i < n; i++)
            val[i] = x[i];
        break;
    case HW_IN_RATE: /* the count after t steps is floor(t·x/top): spike when it grows */
        for (int i = 0; i < n; i++)
            val[i] = ((int64_t)(t + 1) * x[i]) / top > ((int64_t)t * x[i]) / top;
        break;
    default: /* poisson: u/2^32 < x/top with u the draw's top 32 bits, in integers */
        for (int i = 0; i < n; i++) {
            if (x[i] == 0) { /* never spikes: skip the draw */
                val[i] = 0;
                continue;
            }
            uint64_t u = snn_mix(keys[i] ^ (uint64_t)t) >> 32;
            val[i] = u * (uint64_t)top < (uint64_t)x[i] << 32;
        }
        break;
    }
}
