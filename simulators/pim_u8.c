/* The PIM fast path's AVX-512 lane kernels (pim_u8.h).
 *
 * ADC codes in int32: a float guess q ≈ (2SM + F) / (2F), clamped to
 * M + 1 first (its error is then below 0.02, so the truncated guess is the
 * true floor or one off), then corrected by the exact residual
 * r = 2SM + F − 2F·d: d − 1 when r < 0, d + 1 when r >= 2F; then min(M).
 * When the guess is clamped the residual decides between M + 1 (taken to M)
 * and M. The digital rounding divides in double exactly as pim.c's reading
 * in pim_fast.c: the correctly rounded quotient's floor is the true floor. */
#include <stdlib.h>

#include "pim_u8.h"

#define INT32_ROOM 2147483648.0

int pim_u8_adc_fits(int64_t s_max, int64_t m, int64_t f)
{
    return f >= 1 && m >= 1 && 2.0 * (double)s_max * (double)m + (double)f < INT32_ROOM &&
           2.0 * (double)f * (double)(m + 1) < INT32_ROOM;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KERNEL_TARGET __attribute__((target("avx512f,avx512bw,avx512dq")))

KERNEL_TARGET void pim_u8_add_codes(const PimAdc *adc, const int32_t *s, int n, int32_t weight, int32_t *c)
{
    const __m512i two_m = _mm512_set1_epi32(2 * adc->m), f = _mm512_set1_epi32(adc->f);
    const __m512i two_f = _mm512_set1_epi32(2 * adc->f), m = _mm512_set1_epi32(adc->m);
    const __m512i one = _mm512_set1_epi32(1), w = _mm512_set1_epi32(weight);
    const __m512 inv = _mm512_set1_ps(adc->inv2f), cap = _mm512_set1_ps((float)adc->m + 1.0f);
    for (int l = 0; l < n; l += 16) {
        const __m512i num = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_loadu_si512((const void *)(s + l)), two_m), f);
        __m512i d = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(num), inv), cap));
        const __m512i r = _mm512_sub_epi32(num, _mm512_mullo_epi32(d, two_f));
        d = _mm512_mask_sub_epi32(d, _mm512_cmplt_epi32_mask(r, _mm512_setzero_si512()), d, one);
        d = _mm512_mask_add_epi32(d, _mm512_cmpge_epi32_mask(r, two_f), d, one);
        d = _mm512_min_epi32(d, m);
        __m512i *at = (__m512i *)(c + l);
        _mm512_storeu_si512(at, _mm512_add_epi32(_mm512_loadu_si512(at), _mm512_mullo_epi32(d, w)));
    }
}

KERNEL_TARGET void pim_u8_add_sums(const int32_t *s, int n, int32_t weight, int32_t *c)
{
    const __m512i w = _mm512_set1_epi32(weight);
    for (int l = 0; l < n; l += 16) {
        __m512i *at = (__m512i *)(c + l);
        const __m512i x = _mm512_loadu_si512((const void *)(s + l));
        _mm512_storeu_si512(at, _mm512_add_epi32(_mm512_loadu_si512(at), _mm512_mullo_epi32(x, w)));
    }
}

KERNEL_TARGET void pim_u8_round(const int32_t *c, int n, double m, double f, int64_t *d)
{
    const __m512d two_f = _mm512_set1_pd(2.0 * f), vm = _mm512_set1_pd(m), two_m = _mm512_set1_pd(2.0 * m);
    for (int l = 0; l < n; l += 8) {
        const __m512d x = _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(c + l)));
        const __m512d q = _mm512_div_pd(_mm512_add_pd(_mm512_mul_pd(x, two_f), vm), two_m);
        const __m512d fl = _mm512_roundscale_pd(q, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        _mm512_storeu_si512((void *)(d + l), _mm512_cvttpd_epi64(fl));
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

KERNEL_TARGET void pim_u8_add_slice(const uint8_t *src, int n, int shift, int mask, int32_t w, int32_t *acc)
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

void pim_u8_add_slice(const uint8_t *src, int n, int shift, int mask, int32_t w, int32_t *acc)
{
    (void)src, (void)n, (void)shift, (void)mask, (void)w, (void)acc;
    abort();
}

void pim_u8_neuron_bytes(const int64_t *d, int n, int64_t add, int64_t offset, const int32_t *sum_x, int shift,
                         int64_t top, uint8_t *dst)
{
    (void)d, (void)n, (void)add, (void)offset, (void)sum_x, (void)shift, (void)top, (void)dst;
    abort();
}

void pim_u8_add_codes(const PimAdc *adc, const int32_t *s, int n, int32_t weight, int32_t *c)
{
    (void)adc, (void)s, (void)n, (void)weight, (void)c;
    abort(); /* gemm_u8_supported() is 0 here */
}

void pim_u8_add_sums(const int32_t *s, int n, int32_t weight, int32_t *c)
{
    (void)s, (void)n, (void)weight, (void)c;
    abort();
}

void pim_u8_round(const int32_t *c, int n, double m, double f, int64_t *d)
{
    (void)c, (void)n, (void)m, (void)f, (void)d;
    abort();
}
#endif
