/* gemm_u8 — exact integer products for the simulators' fast paths:
 * Y = W · X with W int8 [m][k], X uint8 [k][n], Y int32 [m][n], on the
 * AVX-512 VNNI dot-product instruction (u8 × s8, four products summed per
 * int32, no saturation). Private to the simulators.
 *
 * Why not float sgemm: the values are bytes and the weights small
 * integers, so one VNNI instruction does 64 exact multiply-adds where an
 * fp32 FMA does 16, and X needs no byte → float conversion. OpenBLAS has
 * no integer GEMM. Callers keep their float path for CPUs without VNNI
 * (gemm_u8_supported() == 0); both give the same integers.
 *
 * Layouts. k is padded to kp = 4 · ceil(k / 4). W is [m][kp] with zero
 * padding. X is packed as [kp / 4][n][4]: for each group of four rows, the
 * four bytes of one column side by side (gemm_u8_pack4 writes one group).
 * n must be a multiple of 16. Every function here but gemm_u8_supported
 * needs gemm_u8_supported(). */
#ifndef SIMULATORS_GEMM_U8_H
#define SIMULATORS_GEMM_U8_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU runs the kernel (AVX-512 F, BW, DQ and VNNI) and
 * NNBENCH_NO_VNNI is unset (tests and benchmarks set it to measure the
 * float path on the same machine). */
int gemm_u8_supported(void);

/* k rounded up to a multiple of 4. */
static inline int gemm_u8_kp(int k)
{
    return (k + 3) / 4 * 4;
}

/* W (m rows of k floats holding integers) as the int8 rows of kp that
 * gemm_u8_run takes: 0 with *out set (free() it), or 0 with *out NULL when
 * a weight lies outside −128 .. 127 (the caller keeps its float path);
 * -1 on OOM. Needs no particular CPU. */
int gemm_u8_weights(const float *w, int m, int k, int8_t **out);

/* One group of four rows into the packed X: dst[l · 4 + c] = rows[c][l]
 * for l < len (len a multiple of 16); a NULL row gives zeros. */
void gemm_u8_pack4(const uint8_t *const rows[4], int len, uint8_t *dst);

/* The sparse blocks' step: acc[l] += w · ((src[l] >> shift) & mask) for
 * l < n (n a multiple of 16), in int32. */
void gemm_u8_add_scaled(const uint8_t *src, int n, int shift, int mask, int32_t w, int32_t *acc);

/* Y[i][l] = Σ_k W[i][k] · X[k][l] for i < m, l < n; x_stride is the bytes
 * from one packed group of rows to the next (at least 4 · n), y_stride the
 * int32s from one row of Y to the next. Needs gemm_u8_supported(). */
void gemm_u8_run(int m, int n, int kp, const int8_t *w, const uint8_t *x, size_t x_stride, int32_t *y,
                 size_t y_stride);

/* The ReLU epilogue on the same CPUs: dst[l] = clamp((±acc[l] + add) >>
 * shift, 0, top) for l < n (n a multiple of 16); negate picks −acc. */
void gemm_u8_relu_bytes(const int32_t *acc, int n, int negate, int32_t add, int shift, int32_t top,
                        uint8_t *dst);

#endif
