/* Synaptic sums on AVX-512 VNNI (snn_vnni.h).
 *
 * vpdpbusd adds, in each of 16 int32 lanes, four products of unsigned and
 * signed bytes. Lane j of S[t] over a group of four active rows is
 * Σ_k spike_k(t) · w_k[j]: the spikes at step t are four bytes (0 or 1),
 * broadcast to every lane, and the weights one vector of 16 columns × 4
 * rows. So a group costs one instruction per step and 16 columns, dense
 * over its 16 steps, where the portable path adds a row once per spike;
 * and the 16 steps' sums of 16 columns stay in registers through all the
 * op's groups, where the portable path reads and writes S for every spike.
 * Each group's spikes and weights are first laid out that way in scratch:
 * spikes[g][t] (four bytes), weights[g][column vector] (64 bytes). */
#include "snn_vnni.h"

#include "snn_plan.h"

static int allowed = 1;

void snn_vnni_allow(int allow)
{
    allowed = allow;
}

size_t snn_vnni_scratch(int rows, int cols)
{
    size_t groups = (size_t)(rows + 3) / 4, vecs = (size_t)snn_padded(cols) / SNN_PAD;
    return groups * 64 * (1 + vecs);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,bmi2")))

int snn_vnni_usable(void)
{
    __builtin_cpu_init();
    return allowed && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("bmi2");
}

/* Group g's four rows: their spikes as bytes [t][k], and their weights
 * interleaved, 16 columns × 4 rows a vector. A group short of four rows is
 * filled with the first row, silent. */
VNNI static void group_make(const int8_t *w8, size_t row_len, int vecs, const int32_t *row,
                            const uint16_t *train, int n, int g, uint32_t *spikes, int8_t *weights)
{
    const int8_t *w[4];
    uint64_t bits = 0;
    for (int k = 0; k < 4; k++) {
        int a = 4 * g + k;
        w[k] = w8 + (size_t)row[a < n ? a : 4 * g] * row_len;
        /* bit t of the train goes to bit 4t + k: byte k of step t's four */
        bits |= _pdep_u64(a < n ? train[a] : 0, 0x1111111111111111ull << k);
    }
    _mm512_store_si512(spikes, _mm512_maskz_mov_epi8(bits, _mm512_set1_epi8(1)));
    for (int v = 0; v < vecs; v++) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(w[0] + 16 * v));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(w[1] + 16 * v));
        __m128i x2 = _mm_loadu_si128((const __m128i *)(w[2] + 16 * v));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(w[3] + 16 * v));
        __m128i lo01 = _mm_unpacklo_epi8(x0, x1), hi01 = _mm_unpackhi_epi8(x0, x1);
        __m128i lo23 = _mm_unpacklo_epi8(x2, x3), hi23 = _mm_unpackhi_epi8(x2, x3);
        __m128i *to = (__m128i *)(weights + (size_t)v * 64);
        _mm_store_si128(to, _mm_unpacklo_epi16(lo01, lo23));     /* columns 0..3 */
        _mm_store_si128(to + 1, _mm_unpackhi_epi16(lo01, lo23)); /* 4..7 */
        _mm_store_si128(to + 2, _mm_unpacklo_epi16(hi01, hi23)); /* 8..11 */
        _mm_store_si128(to + 3, _mm_unpackhi_epi16(hi01, hi23)); /* 12..15 */
    }
}

VNNI void snn_vnni_accumulate(const int8_t *w8, int cols, const int32_t *row, const uint16_t *train, int n,
                              int32_t *sum, size_t stride, void *scratch)
{
    if (n == 0)
        return;
    const int groups = (n + 3) / 4, vecs = snn_padded(cols) / SNN_PAD;
    const size_t row_len = (size_t)snn_padded(cols);
    uint32_t *spikes = scratch;                        /* [groups][16] */
    int8_t *weights = (int8_t *)(spikes + (size_t)groups * 16); /* [groups][vecs][64] */
    for (int g = 0; g < groups; g++)
        group_make(w8, row_len, vecs, row, train, n, g, spikes + (size_t)g * 16,
                   weights + (size_t)g * vecs * 64);
    for (int v = 0; v < vecs; v++) {
        __m512i acc[SNN_CHUNK];
        for (int t = 0; t < SNN_CHUNK; t++)
            acc[t] = _mm512_setzero_si512();
        for (int g = 0; g < groups; g++) {
            const __m512i w = _mm512_load_si512(weights + ((size_t)g * vecs + v) * 64);
            const uint32_t *s = spikes + (size_t)g * 16;
#if defined(__clang__)
#pragma unroll
#elif defined(__GNUC__)
#pragma GCC unroll 16
#endif
            for (int t = 0; t < SNN_CHUNK; t++)
                acc[t] = _mm512_dpbusd_epi32(acc[t], _mm512_set1_epi32((int)s[t]), w);
        }
        for (int t = 0; t < SNN_CHUNK; t++) {
            int32_t *d = sum + (size_t)t * stride + (size_t)v * SNN_PAD;
            _mm512_storeu_si512(d, _mm512_add_epi32(_mm512_loadu_si512(d), acc[t]));
        }
    }
}

#else /* not x86-64: never usable */
int snn_vnni_usable(void)
{
    return 0;
}

void snn_vnni_accumulate(const int8_t *w8, int cols, const int32_t *row, const uint16_t *train, int n,
                         int32_t *sum, size_t stride, void *scratch)
{
    (void)w8, (void)cols, (void)row, (void)train, (void)n, (void)sum, (void)stride, (void)scratch;
}
#endif
