/* Synaptic sums on AMX-INT8 (snn_amx.h).
 *
 * tdpbusd multiplies a 16 × 64 tile of unsigned bytes A by a 64 × 16 tile
 * of signed bytes B (stored as 16 rows of 16 columns × 4 consecutive k)
 * into a 16 × 16 tile of int32 C. Here A[t][k] is the spike of row k of a
 * block of 64 rows at step t, B those rows' weights for 16 columns, and C
 * the steps' sums of the 16 columns, loaded from S and stored back. One
 * instruction does 64 rows × 16 steps × 16 columns: the op is run dense
 * over its rows (blocks of 64 silent rows skipped), and its weights are in
 * B's layout from snn_plan.c on, so nothing is rearranged per image but
 * the spikes. */
#include "snn_amx.h"

#include <stdlib.h>
#include <string.h>

#include "snn_plan.h"

/* Rows (k) of one A tile, bytes of one tile. */
#define KB 64
#define TILE 1024

static int allowed = 1;

void snn_amx_allow(int allow)
{
    allowed = allow;
}

size_t snn_amx_weights_size(int rows, int cols)
{
    return (size_t)((rows + KB - 1) / KB) * (size_t)(snn_padded(cols) / SNN_PAD) * TILE;
}

/* B tile (kb, v) at ((kb · vecs) + v) · TILE: its row r, byte 4c + q, is
 * the weight of row kb · 64 + 4r + q to column 16v + c; 0 past the block. */
int8_t *snn_amx_weights(const int32_t *w, int rows, int cols)
{
    const int vecs = snn_padded(cols) / SNN_PAD;
    int8_t *wa = snn_lines(snn_amx_weights_size(rows, cols), 1);
    if (!wa)
        return NULL;
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) {
            size_t tile = (size_t)(i / KB) * (size_t)vecs + (size_t)(j / SNN_PAD);
            size_t r = (size_t)(i % KB) / 4, byte = (size_t)(j % SNN_PAD) * 4 + (size_t)(i % 4);
            wa[tile * TILE + r * 64 + byte] = (int8_t)w[(size_t)j * (size_t)rows + (size_t)i];
        }
    return wa;
}

size_t snn_amx_scratch(int rows)
{
    return (size_t)((rows + KB - 1) / KB) * (TILE + sizeof(int32_t)) + 64;
}

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX __attribute__((target("avx512f,avx512bw,amx-tile,amx-int8")))

/* Linux: a process asks before its threads may use the tile data. */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int snn_amx_usable(void)
{
    static int granted = -1; /* asked once; the answer holds for the process */
    if (!allowed)
        return 0;
    int ok = __atomic_load_n(&granted, __ATOMIC_RELAXED);
    if (ok < 0) {
        unsigned a, b, c, d;
        int cpu = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 24 & 1) && (d >> 25 & 1) &&
                  (b >> 16 & 1) && (b >> 30 & 1); /* AMX-TILE, AMX-INT8, AVX512F, AVX512BW */
        ok = cpu && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
        __atomic_store_n(&granted, ok, __ATOMIC_RELAXED);
    }
    return ok;
}

/* Palette 1: tiles 0 and 1 are C (two vectors of columns at once), 2 is A,
 * 3 and 4 are B; each 16 rows of 64 bytes. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes[16];
    uint8_t rows[16];
} __attribute__((packed)) TileConfig;

AMX void snn_amx_begin(void)
{
    /* static: GCC 12 drops stores to a local config that only ldtilecfg reads */
    static const TileConfig cfg = {1, 0, {0}, {64, 64, 64, 64, 64}, {16, 16, 16, 16, 16}};
    _tile_loadconfig(&cfg);
}

AMX void snn_amx_end(void)
{
    _tile_release();
}

/* The A tile of rows kb · 64 .. + 63 (byte k of its row t: bit t of row
 * k's train) into a; 0 if they are all silent. */
AMX static int spikes_tile(const uint16_t *trains, const int32_t *in, int rows, int kb, uint8_t *a)
{
    const __m512i one = _mm512_set1_epi32(1), low = _mm512_set1_epi32(0xffff);
    __m256i half[4];
    for (int q = 0; q < 4; q++) {
        int first = kb * KB + 16 * q;
        __mmask16 live = rows - first >= 16 ? 0xffff : rows <= first ? 0 : (__mmask16)((1u << (rows - first)) - 1);
        __m512i at = _mm512_add_epi32(_mm512_maskz_loadu_epi32(live, in + first), one);
        __m512i m = _mm512_and_si512(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, at, trains, 2), low);
        half[q] = _mm512_cvtepi32_epi16(m);
    }
    __m512i lo = _mm512_inserti64x4(_mm512_castsi256_si512(half[0]), half[1], 1); /* rows 0..31 */
    __m512i hi = _mm512_inserti64x4(_mm512_castsi256_si512(half[2]), half[3], 1); /* 32..63 */
    __m512i any = _mm512_or_si512(lo, hi);
    if (!_mm512_test_epi16_mask(any, any))
        return 0;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int t = 0; t < SNN_CHUNK; t++) {
        const __m512i bit = _mm512_set1_epi16((short)(1 << t));
        uint64_t k = (uint64_t)_mm512_test_epi16_mask(lo, bit) | (uint64_t)_mm512_test_epi16_mask(hi, bit) << 32;
        _mm512_store_si512(a + (size_t)t * 64, _mm512_maskz_mov_epi8(k, ones));
    }
    return 1;
}

AMX void snn_amx_accumulate(const int8_t *wa, int rows, int cols, const uint16_t *trains, const int32_t *in,
                            int32_t *sum, size_t stride, void *scratch)
{
    const int kbs = (rows + KB - 1) / KB, vecs = snn_padded(cols) / SNN_PAD;
    uint8_t *a = scratch;                       /* [kbs][TILE]: the A tiles of the live blocks */
    int32_t *live = (int32_t *)(a + (size_t)kbs * TILE); /* [kbs]: the live blocks, in order */
    int n_live = 0;
    for (int kb = 0; kb < kbs; kb++)
        if (spikes_tile(trains, in, rows, kb, a + (size_t)n_live * TILE))
            live[n_live++] = kb;
    if (!n_live)
        return;
    const size_t s_bytes = stride * sizeof *sum;
    int v = 0;
    for (; v + 2 <= vecs; v += 2) {
        int32_t *c = sum + (size_t)v * SNN_PAD;
        _tile_loadd(0, c, s_bytes);
        _tile_loadd(1, c + SNN_PAD, s_bytes);
        for (int n = 0; n < n_live; n++) {
            const int8_t *b = wa + ((size_t)live[n] * (size_t)vecs + (size_t)v) * TILE;
            _tile_loadd(2, a + (size_t)n * TILE, 64);
            _tile_loadd(3, b, 64);
            _tile_loadd(4, b + TILE, 64);
            _tile_dpbusd(0, 2, 3);
            _tile_dpbusd(1, 2, 4);
        }
        _tile_stored(0, c, s_bytes);
        _tile_stored(1, c + SNN_PAD, s_bytes);
    }
    if (v < vecs) {
        int32_t *c = sum + (size_t)v * SNN_PAD;
        _tile_loadd(0, c, s_bytes);
        for (int n = 0; n < n_live; n++) {
            _tile_loadd(2, a + (size_t)n * TILE, 64);
            _tile_loadd(3, wa + ((size_t)live[n] * (size_t)vecs + (size_t)v) * TILE, 64);
            _tile_dpbusd(0, 2, 3);
        }
        _tile_stored(0, c, s_bytes);
    }
}

#else /* no AMX here */
int snn_amx_usable(void)
{
    return 0;
}

void snn_amx_begin(void)
{
}

void snn_amx_end(void)
{
}

void snn_amx_accumulate(const int8_t *wa, int rows, int cols, const uint16_t *trains, const int32_t *in,
                        int32_t *sum, size_t stride, void *scratch)
{
    (void)wa, (void)rows, (void)cols, (void)trains, (void)in, (void)sum, (void)stride, (void)scratch;
}
#endif
