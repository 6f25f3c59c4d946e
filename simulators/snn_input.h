/* How the input pixels enter a spiking chip, step by step (simulators.h,
 * SNN section, where the three codings are specified). Only snn.c and the
 * tests use it. */
#ifndef SIMULATORS_SNN_INPUT_H
#define SIMULATORS_SNN_INPUT_H

#include <stdint.h>

typedef struct {
    int coding;      /* HW_IN_CURRENT, HW_IN_RATE or HW_IN_POISSON */
    int64_t top;     /* the largest pixel value, 2^io_bits − 1 */
    uint64_t seed;   /* hw->io.seed (poisson) */
} SnnCoding;

/* splitmix64's output function of z + 0x9e3779b97f4a7c15: a bijection of
 * 64-bit words whose output looks random even for neighbouring inputs. */
uint64_t snn_mix(uint64_t z);

/* The poisson stream of one (image, pixel): mix(mix(mix(seed) ^ image) ^ pixel).
 * Its draw at step t is mix(key ^ t). */
uint64_t snn_pixel_key(uint64_t seed, uint64_t image, uint64_t pixel);

/* Prepares one image: keys[i] = snn_pixel_key(seed, image, i) for poisson
 * (keys unused otherwise). */
void snn_input_begin(const SnnCoding *c, int n, uint64_t image, uint64_t *keys);

/* The spike trains of the n input neurons over steps t0 .. t0 + steps − 1
 * (steps ≤ 16) for pixels x[0..n): bit t of trains[i] is pixel i's spike at
 * step t0 + t (rate, poisson). Under current coding a pixel is a value, not
 * a spike: its train is 0 and snn.c adds x as a constant current. */
void snn_input_trains(const SnnCoding *c, const int32_t *x, int n, const uint64_t *keys, int t0,
                      int steps, uint16_t *trains);

#endif
