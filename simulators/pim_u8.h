/* pim_u8 — the PIM fast path's lane kernels for CPUs with gemm_u8
 * (AVX-512): the ADC conversion and the digital rounding of pim.c on 16 or
 * 8 lanes at a time, exactly. Private to pim_fast.c; call only when
 * gemm_u8_supported(). n is a multiple of 16 everywhere. */
#ifndef SIMULATORS_PIM_U8_H
#define SIMULATORS_PIM_U8_H

#include <stdint.h>

/* The ADC of one block: M = 2^bits − 1 (bits 0: ideal, code = S), F its
 * full scale. */
typedef struct {
    int32_t bits, m, f;
} PimAdc;

#define PIM_U8_TERMS 128 /* most (slice, array, cell) terms of one column */

/* 1 if pim_u8_column is exact for column sums up to s_max: 2·s_max·M + F
 * below 2^31. */
int pim_u8_adc_fits(int64_t s_max, int64_t m, int64_t f);

/* c[l] += Σ_t weight[t] · code(sums[t][l]) over k <= PIM_U8_TERMS terms,
 * code(S) = min(M, ⌊(2·S·M + F) / (2F)⌋) for S >= 0, each weight ± a
 * power of two; exact in int32 (pim_u8_adc_fits, and |C| < 2^31 checked
 * by the caller). */
void pim_u8_column(const PimAdc *adc, const int32_t *const *sums, const int32_t *weight, int k, int n,
                   int32_t *c);

/* d[l] = ⌊(2·c[l]·F + M) / (2M)⌋, the digital rounding (pim_fast.c checks
 * that numerator and denominator stay below 2^53). */
void pim_u8_round(const int32_t *c, int n, double m, double f, int64_t *d);

/* dst[l] = (src[l] >> shift) & mask, the DAC slice of each byte (mask
 * within 0xff >> shift). */
void pim_u8_slice(const uint8_t *src, int n, int shift, int mask, uint8_t *dst);

/* The ReLU neuron of pim.c on the rounded D: y = (D + add − offset · Σx) >>
 * shift clamped to 0 .. top, for add = bias + 2^(shift−1) (sum_x NULL: no
 * offset). Every value within int64. */
void pim_u8_neuron_bytes(const int64_t *d, int n, int64_t add, int64_t offset, const int32_t *sum_x, int shift,
                         int64_t top, uint8_t *dst);

#endif
