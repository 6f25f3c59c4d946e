/* Input coding of a spiking chip: pixels to spike trains (simulators.h).
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

/* Rate: the count after t steps is ⌊t·x/top⌋, and x ≤ top, so it grows by
 * at most 1 a step: with r = t·x mod top it grows at t + 1 iff r + x ≥ top
 * (no division per step). */
static uint16_t rate_train(int64_t x, int64_t top, int t0, int steps)
{
    int64_t r = (int64_t)t0 * x % top;
    uint32_t train = 0;
    for (int t = 0; t < steps; t++) {
        r += x;
        int spike = r >= top;
        r -= spike ? top : 0;
        train |= (uint32_t)spike << t;
    }
    return (uint16_t)train;
}

void snn_input_trains(const SnnCoding *c, const int32_t *x, int n, const uint64_t *keys, int t0,
                      int steps, uint16_t *trains)
{
    const int64_t top = c->top;
    switch (c->coding) {
    case HW_IN_CURRENT:
        for (int i = 0; i < n; i++)
            trains[i] = 0;
        break;
    case HW_IN_RATE:
        for (int i = 0; i < n; i++)
            trains[i] = x[i] == 0 ? 0 : x[i] == top ? (uint16_t)((1u << steps) - 1)
                                                    : rate_train(x[i], top, t0, steps);
        break;
    default: /* poisson: u/2^32 < x/top with u the draw's top 32 bits, in integers */
        for (int i = 0; i < n; i++) {
            uint32_t train = 0;
            if (x[i] != 0) /* x = 0 never spikes: skip the draws */
                for (int t = 0; t < steps; t++) {
                    uint64_t u = snn_mix(keys[i] ^ (uint64_t)(t0 + t)) >> 32;
                    train |= (uint32_t)(u * (uint64_t)top < (uint64_t)x[i] << 32) << t;
                }
            trains[i] = (uint16_t)train;
        }
        break;
    }
}
