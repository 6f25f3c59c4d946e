/* pim_u8 — the PIM fast path's lane kernels for CPUs with gemm_u8
 * (AVX-512): the ADC conversion and the digital rounding of pim.c on 16 or
 * 8 lanes at a time, exactly. Private to pim_fast.c; call only when
 * gemm_u8_supported(). n is a multiple of 16 everywhere. */
#ifndef SIMULATORS_PIM_U8_H
#define SIMULATORS_PIM_U8_H

#include <stdint.h>

/* The ADC of one block: M = 2^adc_bits − 1, F its full scale. */
typedef struct {
    int32_t m, f;
    float inv2f; /* 1 / (2F), for a first guess */
} PimAdc;

/* 1 if pim_u8_add_codes is exact for column sums up to s_max: 2·s_max·M + F
 * and 2F·(M + 1) below 2^31 (it works in int32). */
int pim_u8_adc_fits(int64_t s_max, int64_t m, int64_t f);

/* c[l] += weight · min(M, ⌊(2·s[l]·M + F) / (2F)⌋) for s[l] >= 0. */
void pim_u8_add_codes(const PimAdc *adc, const int32_t *s, int n, int32_t weight, int32_t *c);

/* An ideal ADC (code = S): c[l] += weight · s[l]. */
void pim_u8_add_sums(const int32_t *s, int n, int32_t weight, int32_t *c);

/* d[l] = ⌊(2·c[l]·F + M) / (2M)⌋, the digital rounding (pim_fast.c checks
 * that numerator and denominator stay below 2^53). */
void pim_u8_round(const int32_t *c, int n, double m, double f, int64_t *d);

/* dst[l] = (src[l] >> shift) & mask, the DAC slice of each byte (mask
 * within 0xff >> shift). */
void pim_u8_slice(const uint8_t *src, int n, int shift, int mask, uint8_t *dst);

/* acc[l] += w · ((src[l] >> shift) & mask). */
void pim_u8_add_slice(const uint8_t *src, int n, int shift, int mask, int32_t w, int32_t *acc);

/* The ReLU neuron of pim.c on the rounded D: y = (D + add − offset · Σx) >>
 * shift clamped to 0 .. top, for add = bias + 2^(shift−1) (sum_x NULL: no
 * offset). Every value within int64. */
void pim_u8_neuron_bytes(const int64_t *d, int n, int64_t add, int64_t offset, const int32_t *sum_x, int shift,
                         int64_t top, uint8_t *dst);

#endif
