/* The PIM fast path's AVX-512 lane kernels (pim_u8.h).
 *
 * ADC codes: (2SM + F + 1/2) / (2F) = S·(M/F) + (F + 1/2)/(2F) lies at
 * least 1/(4F) from any integer, and one FMA in double computes it with an
 * error below 3·q·2^-53, which is smaller while q·F < 2^49 (pim_u8_adc_fits
 * keeps 2SM + F below 2^31): its truncation is the exact floor, min(M) the
 * code. The digital rounding guesses by a reciprocal in double and
 * corrects by the exact residual. */
#include <stdlib.h>

#include "pim_u8.h"

#define INT32_ROOM 2147483648.0

int pim_u8_adc_fits(int64_t s_max, int64_t m, int64_t f)
{
    return f >= 1 && m >= 1 && 2.0 * (double)s_max * (double)m + (double)f < INT32_ROOM;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KERNEL_TARGET __attribute__((target("avx512f,avx512bw,avx512dq")))

/* The code of 16 sums in double (top of file): a = M/F, b = (F + 1/2)/(2F). */
KERNEL_TARGET static inline __m512i code16(__m512i s, __m512d a, __m512d b, __m512i m)
{
    const __m512d lo = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(s)), a, b);
    const __m512d hi = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(s, 1)), a, b);
    const __m512i d = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvttpd_epi32(lo)), _mm512_cvttpd_epi32(hi), 1);
    return _mm512_min_epi32(d, m);
}

#define COLUMN_VECTORS 4 /* 64 lanes of accumulators in registers */

KERNEL_TARGET void pim_u8_column(const PimAdc *adc, const int32_t *const *sums, const int32_t *weight, int k,
                                 int n, int32_t *c)
{
    const __m512d a = _mm512_set1_pd((double)adc->m / adc->f);
    const __m512d b = _mm512_set1_pd(((double)adc->f + 0.5) / (2.0 * adc->f));
    const __m512i m = _mm512_set1_epi32(adc->m);
    const int coded = adc->bits != 0;
    for (int l0 = 0; l0 < n; l0 += 16 * COLUMN_VECTORS) {
        const int nv = (n - l0) / 16 < COLUMN_VECTORS ? (n - l0) / 16 : COLUMN_VECTORS;
        __m512i acc[COLUMN_VECTORS];
        for (int v = 0; v < nv; v++)
            acc[v] = _mm512_loadu_si512((const void *)(c + l0 + 16 * v));
        for (int t = 0; t < k; t++) {
            if (!weight[t])
                continue;
            /* weight = ± 2^shift */
            const uint32_t w = (uint32_t)(weight[t] < 0 ? -weight[t] : weight[t]);
            const __m128i shift = _mm_cvtsi32_si128(__builtin_ctz(w));
            for (int v = 0; v < nv; v++) {
                __m512i x = _mm512_loadu_si512((const void *)(sums[t] + l0 + 16 * v));
                if (coded)
                    x = code16(x, a, b, m);
                x = _mm512_sll_epi32(x, shift);
                acc[v] = weight[t] < 0 ? _mm512_sub_epi32(acc[v], x) : _mm512_add_epi32(acc[v], x);
            }
        }
        for (int v = 0; v < nv; v++)
            _mm512_storeu_si512((void *)(c + l0 + 16 * v), acc[v]);
    }
}

KERNEL_TARGET void pim_u8_round(const int32_t *c, int n, double m, double f, int64_t *d)
{
    /* a guess by the reciprocal, corrected by the exact residual (every
     * value an integer below 2^53, so the products and differences are
     * exact) */
    const __m512d two_f = _mm512_set1_pd(2.0 * f), vm = _mm512_set1_pd(m), two_m = _mm512_set1_pd(2.0 * m);
    const __m512d inv = _mm512_set1_pd(1.0 / (2.0 * m)), one = _mm512_set1_pd(1.0);
    for (int l = 0; l < n; l += 8) {
        const __m512d x = _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(c + l)));
        const __m512d num = _mm512_add_pd(_mm512_mul_pd(x, two_f), vm);
        __m512d q = _mm512_roundscale_pd(_mm512_mul_pd(num, inv), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        /* num is odd · M + even, never a multiple of 2M, so the quotient
         * lies 1/(2M) or more from an integer; the guess errs by under
         * q · 2^-51 < 1/M: at most one off, and not at all below 2^52 */
        const __m512d r = _mm512_sub_pd(num, _mm512_mul_pd(q, two_m));
        q = _mm512_mask_sub_pd(q, _mm512_cmp_pd_mask(r, _mm512_setzero_pd(), _CMP_LT_OQ), q, one);
        q = _mm512_mask_add_pd(q, _mm512_cmp_pd_mask(r, two_m, _CMP_GE_OQ), q, one);
        _mm512_storeu_si512((void *)(d + l), _mm512_cvttpd_epi64(q));
    }
}

KERNEL_TARGET void pim_u8_slice(const uint8_t *src, int n, int shift, int mask, uint8_t *dst)
{
    /* 16-bit shifts: the bits a byte takes from its neighbour lie above mask */
    const __m128i count = _mm_cvtsi32_si128(shift);
    const __m512i m = _mm512_set1_epi8((char)mask);
    for (int l = 0; l < n; l += 64) {
        if (n - l >= 64) {
            const __m512i x = _mm512_loadu_si512((const void *)(src + l));
            _mm512_storeu_si512((void *)(dst + l), _mm512_and_si512(_mm512_srl_epi16(x, count), m));
        } else {
            for (int t = l; t < n; t++)
                dst[t] = (uint8_t)((src[t] >> shift) & mask);
        }
    }
}

KERNEL_TARGET void pim_u8_neuron_bytes(const int64_t *d, int n, int64_t add, int64_t offset, const int32_t *sum_x,
                                       int shift, int64_t top, uint8_t *dst)
{
    const __m512i plus = _mm512_set1_epi64(add), off = _mm512_set1_epi64(offset);
    const __m512i zero = _mm512_setzero_si512(), most = _mm512_set1_epi64(top);
    const __m128i count = _mm_cvtsi32_si128(shift);
    for (int l = 0; l < n; l += 8) {
        __m512i a = _mm512_add_epi64(_mm512_loadu_si512((const void *)(d + l)), plus);
        if (sum_x)
            a = _mm512_sub_epi64(a, _mm512_mullo_epi64(off, _mm512_cvtepi32_epi64(
                                                                _mm256_loadu_si256((const __m256i *)(sum_x + l)))));
        a = _mm512_min_epi64(_mm512_max_epi64(_mm512_sra_epi64(a, count), zero), most);
        _mm_storel_epi64((__m128i *)(dst + l), _mm512_cvtepi64_epi8(a));
    }
}
#else
void pim_u8_slice(const uint8_t *src, int n, int shift, int mask, uint8_t *dst)
{
    (void)src, (void)n, (void)shift, (void)mask, (void)dst;
    abort();
}

void pim_u8_neuron_bytes(const int64_t *d, int n, int64_t add, int64_t offset, const int32_t *sum_x, int shift,
                         int64_t top, uint8_t *dst)
{
    (void)d, (void)n, (void)add, (void)offset, (void)sum_x, (void)shift, (void)top, (void)dst;
    abort();
}

void pim_u8_column(const PimAdc *adc, const int32_t *const *sums, const int32_t *weight, int k, int n,
                   int32_t *c)
{
    (void)adc, (void)sums, (void)weight, (void)k, (void)n, (void)c;
    abort(); /* gemm_u8_supported() is 0 here */
}

void pim_u8_round(const int32_t *c, int n, double m, double f, int64_t *d)
{
    (void)c, (void)n, (void)m, (void)f, (void)d;
    abort();
}
#endif
