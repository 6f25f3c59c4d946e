/* Exact u8 × s8 products on AVX-512 VNNI (gemm_u8.h).
 *
 * The kernel keeps a tile of MR rows of Y × NV·16 columns in MR·NV zmm
 * accumulators (at most 6 × 4 = 24 of the 32 registers): per group of four
 * rows of X it loads NV vectors of X (16 columns × 4 bytes each), then for
 * each row of W broadcasts its four weights and does NV dot products. The
 * X panel of one column tile (kp · 64 bytes) stays in L1 while the row
 * tiles pass over it. Sums are exact: |Σ| stays below 2^31 because the
 * callers only take blocks whose column sums fit 2^24. */
#include <stdlib.h>
#include <string.h>

#include "gemm_u8.h"

#define MR 6
#define NV 4

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GEMM_U8_X86 1
#define KERNEL_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#endif

int gemm_u8_weights(const float *w, int m, int k, int8_t **out)
{
    *out = NULL;
    for (size_t t = 0; t < (size_t)m * k; t++)
        if (w[t] < -128 || w[t] > 127)
            return 0;
    const int kp = gemm_u8_kp(k);
    int8_t *w8 = calloc((size_t)m * kp + 1, 1);
    if (!w8)
        return -1;
    for (int r = 0; r < m; r++)
        for (int i = 0; i < k; i++)
            w8[(size_t)r * kp + i] = (int8_t)w[(size_t)r * k + i];
    *out = w8;
    return 0;
}

int gemm_u8_supported(void)
{
#ifdef GEMM_U8_X86
    __builtin_cpu_init();
    const char *off = getenv("NNBENCH_NO_VNNI");
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni") && !(off && off[0] && strcmp(off, "0"));
#else
    return 0;
#endif
}

#ifdef GEMM_U8_X86
/* 16 columns of the four rows: bytes of rows 0,1 and 2,3 in pairs, then the
 * pairs in fours. */
static void pack16(const uint8_t *const rows[4], int l, uint8_t *o)
{
    static const uint8_t zeros[16];
    __m128i r[4];
    for (int c = 0; c < 4; c++)
        r[c] = _mm_loadu_si128((const __m128i *)(rows[c] ? rows[c] + l : zeros));
    __m128i a = _mm_unpacklo_epi8(r[0], r[1]), b = _mm_unpackhi_epi8(r[0], r[1]);
    __m128i c = _mm_unpacklo_epi8(r[2], r[3]), d = _mm_unpackhi_epi8(r[2], r[3]);
    _mm_storeu_si128((__m128i *)o, _mm_unpacklo_epi16(a, c));
    _mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi16(a, c));
    _mm_storeu_si128((__m128i *)(o + 32), _mm_unpacklo_epi16(b, d));
    _mm_storeu_si128((__m128i *)(o + 48), _mm_unpackhi_epi16(b, d));
}

/* 64 columns: the same unpacks inside each 128-bit lane give e_t's lane k
 * = columns 16k + 4t .. 16k + 4t + 3; a 4 × 4 transpose of the lanes puts
 * them in column order. */
KERNEL_TARGET static void pack64(const uint8_t *const rows[4], int l, uint8_t *o)
{
    __m512i r[4];
    for (int c = 0; c < 4; c++)
        r[c] = rows[c] ? _mm512_loadu_si512((const void *)(rows[c] + l)) : _mm512_setzero_si512();
    const __m512i a = _mm512_unpacklo_epi8(r[0], r[1]), b = _mm512_unpackhi_epi8(r[0], r[1]);
    const __m512i c = _mm512_unpacklo_epi8(r[2], r[3]), d = _mm512_unpackhi_epi8(r[2], r[3]);
    const __m512i e0 = _mm512_unpacklo_epi16(a, c), e1 = _mm512_unpackhi_epi16(a, c);
    const __m512i e2 = _mm512_unpacklo_epi16(b, d), e3 = _mm512_unpackhi_epi16(b, d);
    const __m512i t0 = _mm512_shuffle_i64x2(e0, e1, 0x44), t1 = _mm512_shuffle_i64x2(e0, e1, 0xEE);
    const __m512i t2 = _mm512_shuffle_i64x2(e2, e3, 0x44), t3 = _mm512_shuffle_i64x2(e2, e3, 0xEE);
    _mm512_storeu_si512((void *)o, _mm512_shuffle_i64x2(t0, t2, 0x88));
    _mm512_storeu_si512((void *)(o + 64), _mm512_shuffle_i64x2(t0, t2, 0xDD));
    _mm512_storeu_si512((void *)(o + 128), _mm512_shuffle_i64x2(t1, t3, 0x88));
    _mm512_storeu_si512((void *)(o + 192), _mm512_shuffle_i64x2(t1, t3, 0xDD));
}

void gemm_u8_pack4(const uint8_t *const rows[4], int len, uint8_t *dst)
{
    int l = 0;
    for (; l + 64 <= len; l += 64)
        pack64(rows, l, dst + (size_t)l * 4);
    for (; l < len; l += 16)
        pack16(rows, l, dst + (size_t)l * 4);
}

KERNEL_TARGET void gemm_u8_add_scaled(const uint8_t *src, int n, int shift, int mask, int32_t w, int32_t *acc)
{
    const __m128i count = _mm_cvtsi32_si128(shift);
    const __m512i m = _mm512_set1_epi32(mask), vw = _mm512_set1_epi32(w);
    for (int l = 0; l < n; l += 16) {
        __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + l)));
        x = _mm512_and_si512(_mm512_srl_epi32(x, count), m);
        __m512i *at = (__m512i *)(acc + l);
        _mm512_storeu_si512(at, _mm512_add_epi32(_mm512_loadu_si512(at), _mm512_mullo_epi32(x, vw)));
    }
}
#else
void gemm_u8_pack4(const uint8_t *const rows[4], int len, uint8_t *dst)
{
    for (int l = 0; l < len; l++)
        for (int c = 0; c < 4; c++)
            dst[(size_t)l * 4 + c] = rows[c] ? rows[c][l] : 0;
}

void gemm_u8_add_scaled(const uint8_t *src, int n, int shift, int mask, int32_t w, int32_t *acc)
{
    for (int l = 0; l < n; l++)
        acc[l] += w * ((src[l] >> shift) & mask);
}
#endif

#ifdef GEMM_U8_X86
/* One tile of mr × nv·16; mr and nv are constants where it is inlined. */
KERNEL_TARGET static inline __attribute__((always_inline)) void
tile(int mr, int nv, int kp, const int8_t *w, const uint8_t *x, size_t x_stride, int32_t *y, size_t y_stride)
{
    __m512i acc[MR][NV];
    /* unrolled, so that acc lives in registers */
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_setzero_si512();
    for (int t = 0; t < kp / 4; t++) {
        const uint8_t *xt = x + (size_t)t * x_stride;
        __m512i xv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            xv[v] = _mm512_loadu_si512((const void *)(xt + (size_t)v * 64));
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            int32_t four;
            memcpy(&four, w + (size_t)i * kp + (size_t)t * 4, sizeof four);
            const __m512i wb = _mm512_set1_epi32(four);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], xv[v], wb);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            _mm512_storeu_si512((void *)(y + (size_t)i * y_stride + (size_t)v * 16), acc[i][v]);
}

#define TILE_CASE(R, V)                                                                            \
    case (R) * 8 + (V):                                                                            \
        tile(R, V, kp, w, x, x_stride, y, y_stride);                                               \
        break;
#define TILE_ROW(R) TILE_CASE(R, 1) TILE_CASE(R, 2) TILE_CASE(R, 3) TILE_CASE(R, 4)

KERNEL_TARGET static void tile_any(int mr, int nv, int kp, const int8_t *w, const uint8_t *x, size_t x_stride,
                                   int32_t *y, size_t y_stride)
{
    switch (mr * 8 + nv) {
        TILE_ROW(1)
        TILE_ROW(2)
        TILE_ROW(3)
        TILE_ROW(4)
        TILE_ROW(5)
        TILE_ROW(6)
    default:
        break;
    }
}

KERNEL_TARGET void gemm_u8_run(int m, int n, int kp, const int8_t *w, const uint8_t *x, size_t x_stride,
                               int32_t *y, size_t y_stride)
{
    for (int l0 = 0; l0 < n; l0 += NV * 16) {
        const int nv = (n - l0) / 16 < NV ? (n - l0) / 16 : NV;
        for (int i0 = 0; i0 < m; i0 += MR)
            tile_any(m - i0 < MR ? m - i0 : MR, nv, kp, w + (size_t)i0 * kp, x + (size_t)l0 * 4, x_stride,
                     y + (size_t)i0 * y_stride + l0, y_stride);
    }
}
KERNEL_TARGET void gemm_u8_relu_bytes(const int32_t *acc, int n, int negate, int32_t add, int shift,
                                      int32_t top, uint8_t *dst)
{
    const __m512i flip = _mm512_set1_epi32(negate ? -1 : 0), plus = _mm512_set1_epi32(add);
    const __m512i zero = _mm512_setzero_si512(), most = _mm512_set1_epi32(top);
    const __m128i count = _mm_cvtsi32_si128(shift);
    for (int l = 0; l < n; l += 16) {
        __m512i a = _mm512_loadu_si512((const void *)(acc + l));
        a = _mm512_sub_epi32(_mm512_xor_si512(a, flip), flip); /* ±acc */
        a = _mm512_sra_epi32(_mm512_add_epi32(a, plus), count);
        a = _mm512_min_epi32(_mm512_max_epi32(a, zero), most);
        _mm_storeu_si128((__m128i *)(dst + l), _mm512_cvtepi32_epi8(a));
    }
}
#else
void gemm_u8_relu_bytes(const int32_t *acc, int n, int negate, int32_t add, int shift, int32_t top,
                        uint8_t *dst)
{
    (void)acc, (void)n, (void)negate, (void)add, (void)shift, (void)top, (void)dst;
    abort(); /* gemm_u8_supported() is 0 here */
}

void gemm_u8_run(int m, int n, int kp, const int8_t *w, const uint8_t *x, size_t x_stride, int32_t *y,
                 size_t y_stride)
{
    (void)m, (void)n, (void)kp, (void)w, (void)x, (void)x_stride, (void)y, (void)y_stride;
    abort(); /* gemm_u8_supported() is 0 here */
}
#endif
