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

/* 16 rows at a time: their trains by one gather (4 bytes from each train:
 * the low 2 are it), the spiking ones compressed to the front. */
VNNI static int gather16(const uint16_t *trains, const int32_t *in, int rows, int32_t *act_row,
                         uint16_t *act_train)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i one = _mm512_set1_epi32(1), low = _mm512_set1_epi32(0xffff);
    int n = 0;
    for (int i = 0; i < rows; i += 16) {
        const __mmask16 live = rows - i >= 16 ? 0xffff : (__mmask16)((1u << (rows - i)) - 1);
        __m512i at = _mm512_add_epi32(_mm512_maskz_loadu_epi32(live, in + i), one);
        __m512i m = _mm512_and_si512(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, at, trains, 2), low);
        const __mmask16 act = _mm512_mask_test_epi32_mask(live, m, m);
        _mm512_storeu_si512(act_row + n, _mm512_maskz_compress_epi32(act, _mm512_add_epi32(lane, _mm512_set1_epi32(i))));
        _mm256_storeu_si256((__m256i *)(act_train + n), _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(act, m)));
        n += __builtin_popcount(act);
    }
    return n;
}

int snn_vnni_gather(const uint16_t *trains, const int32_t *in, int rows, int32_t *act_row, uint16_t *act_train)
{
    return gather16(trains, in, rows, act_row, act_train);
}

/* *acc += the products of spikes (unsigned bytes) and w (signed), four to
 * a lane. In assembly because GCC 12 copies the accumulators of the
 * intrinsic through other registers at every step. */
VNNI static inline void dpbusd(__m512i *acc, __m512i spikes, __m512i w)
{
    __asm__("vpdpbusd %[w], %[spikes], %[acc]" : [acc] "+v"(*acc) : [spikes] "v"(spikes), [w] "v"(w));
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
    int v = 0;
    for (; v + 4 <= vecs; v += 4) { /* four vectors of columns at once: the same unpacks, lane by lane */
        __m512i x0 = _mm512_loadu_si512(w[0] + 16 * v), x1 = _mm512_loadu_si512(w[1] + 16 * v);
        __m512i x2 = _mm512_loadu_si512(w[2] + 16 * v), x3 = _mm512_loadu_si512(w[3] + 16 * v);
        __m512i lo01 = _mm512_unpacklo_epi8(x0, x1), hi01 = _mm512_unpackhi_epi8(x0, x1);
        __m512i lo23 = _mm512_unpacklo_epi8(x2, x3), hi23 = _mm512_unpackhi_epi8(x2, x3);
        /* q_i, lane L: columns 16L + 4i .. + 3 of the four rows */
        __m512i q0 = _mm512_unpacklo_epi16(lo01, lo23), q1 = _mm512_unpackhi_epi16(lo01, lo23);
        __m512i q2 = _mm512_unpacklo_epi16(hi01, hi23), q3 = _mm512_unpackhi_epi16(hi01, hi23);
        /* transposed as 4 × 4 lanes: vector L = lane L of q0 .. q3 */
        __m512i t0 = _mm512_shuffle_i64x2(q0, q1, 0x44), t1 = _mm512_shuffle_i64x2(q2, q3, 0x44);
        __m512i t2 = _mm512_shuffle_i64x2(q0, q1, 0xee), t3 = _mm512_shuffle_i64x2(q2, q3, 0xee);
        int8_t *to = weights + (size_t)v * 64;
        _mm512_store_si512(to, _mm512_shuffle_i64x2(t0, t1, 0x88));
        _mm512_store_si512(to + 64, _mm512_shuffle_i64x2(t0, t1, 0xdd));
        _mm512_store_si512(to + 128, _mm512_shuffle_i64x2(t2, t3, 0x88));
        _mm512_store_si512(to + 192, _mm512_shuffle_i64x2(t2, t3, 0xdd));
    }
    for (; v < vecs; v++) {
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
        /* the 16 steps' sums of these 16 columns, named so that they stay in registers */
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
                a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        for (int g = 0; g < groups; g++) {
            const __m512i w = _mm512_load_si512(weights + ((size_t)g * vecs + v) * 64);
            const int *s = (const int *)(spikes + (size_t)g * 16);
#define SNN_STEP(t) dpbusd(&a##t, _mm512_set1_epi32(s[t]), w)
            SNN_STEP(0), SNN_STEP(1), SNN_STEP(2), SNN_STEP(3), SNN_STEP(4), SNN_STEP(5), SNN_STEP(6),
                SNN_STEP(7), SNN_STEP(8), SNN_STEP(9), SNN_STEP(10), SNN_STEP(11), SNN_STEP(12),
                SNN_STEP(13), SNN_STEP(14), SNN_STEP(15);
#undef SNN_STEP
        }
        int32_t *d = sum + (size_t)v * SNN_PAD;
#define SNN_ADD(t) _mm512_storeu_si512(d + (t) * stride, _mm512_add_epi32(_mm512_loadu_si512(d + (t) * stride), a##t))
        SNN_ADD(0), SNN_ADD(1), SNN_ADD(2), SNN_ADD(3), SNN_ADD(4), SNN_ADD(5), SNN_ADD(6), SNN_ADD(7),
            SNN_ADD(8), SNN_ADD(9), SNN_ADD(10), SNN_ADD(11), SNN_ADD(12), SNN_ADD(13), SNN_ADD(14),
            SNN_ADD(15);
#undef SNN_ADD
    }
}

#else /* not x86-64: never usable */
int snn_vnni_usable(void)
{
    return 0;
}

int snn_vnni_gather(const uint16_t *trains, const int32_t *in, int rows, int32_t *act_row, uint16_t *act_train)
{
    (void)trains, (void)in, (void)rows, (void)act_row, (void)act_train;
    return 0;
}

void snn_vnni_accumulate(const int8_t *w8, int cols, const int32_t *row, const uint16_t *train, int n,
                         int32_t *sum, size_t stride, void *scratch)
{
    (void)w8, (void)cols, (void)row, (void)train, (void)n, (void)sum, (void)stride, (void)scratch;
}
#endif
