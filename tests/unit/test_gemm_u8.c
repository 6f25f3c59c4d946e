/* simulators/gemm_u8 and pim_u8: the AVX-512 kernels against their
 * definitions in plain integer arithmetic, on every tile shape and at the
 * rounding boundaries where a guess-and-correct scheme would slip. Skipped
 * (and said so) on CPUs without AVX-512 VNNI, where nothing calls them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "simulators/gemm_u8.h"
#include "simulators/pim_u8.h"

static int skipped(void)
{
    if (gemm_u8_supported())
        return 0;
    printf("skipped: this CPU has no AVX-512 VNNI\n");
    return 1;
}

/* Every m 1..13 (row tiles of 6 and their tails), n 16..144 (column tiles
 * of 64 and tails of 16, packing by 64 and by 16), k 1..37 (padding to 4),
 * full-range weights and bytes, some rows all zero (NULL in pack4). */
static void test_gemm_equals_definition(void **state)
{
    (void)state;
    if (skipped())
        return;
    Rng r;
    rng_seed(&r, 8);
    long checked = 0;
    for (int m = 1; m <= 13; m++)
        for (int n = 16; n <= 144; n += 16)
            for (int k = 1; k <= 37; k += 3) {
                const int kp = gemm_u8_kp(k);
                int8_t *w = calloc((size_t)m * kp, 1);
                uint8_t *x = malloc((size_t)k * n), *xp = malloc((size_t)kp * n);
                int32_t *y = malloc(sizeof *y * (size_t)m * n);
                int *zero_row = calloc((size_t)kp, sizeof *zero_row);
                for (int i = 0; i < m; i++)
                    for (int t = 0; t < k; t++)
                        w[(size_t)i * kp + t] = (int8_t)((int)rng_below(&r, 256) - 128);
                for (int t = 0; t < k; t++) {
                    zero_row[t] = rng_below(&r, 6) == 0;
                    for (int l = 0; l < n; l++)
                        x[(size_t)t * n + l] = zero_row[t] ? 0 : (uint8_t)rng_below(&r, 256);
                }
                for (int t = 0; t < kp; t += 4) {
                    const uint8_t *rows[4];
                    for (int c = 0; c < 4; c++)
                        rows[c] = t + c < k && !zero_row[t + c] ? x + (size_t)(t + c) * n : NULL;
                    gemm_u8_pack4(rows, n, xp + (size_t)(t / 4) * n * 4);
                }
                gemm_u8_run(m, n, kp, w, xp, (size_t)n * 4, y, (size_t)n);
                for (int i = 0; i < m; i++)
                    for (int l = 0; l < n; l++) {
                        int32_t want = 0;
                        for (int t = 0; t < k; t++)
                            want += w[(size_t)i * kp + t] * x[(size_t)t * n + l];
                        if (y[(size_t)i * n + l] != want)
                            fail_msg("m %d n %d k %d: Y[%d][%d] = %d, want %d", m, n, k, i, l,
                                     y[(size_t)i * n + l], want);
                        checked++;
                    }
                free(w);
                free(x);
                free(xp);
                free(y);
                free(zero_row);
            }
    printf("gemm_u8 = definition on %ld sums\n", checked);
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* min(M, ⌊(2SM + F) / (2F)⌋), pim.c's ADC. */
static int32_t adc_code(int64_t s, int64_t m, int64_t f)
{
    int64_t code = floor_div(2 * s * m + f, 2 * f);
    return (int32_t)(code < m ? code : m);
}

/* ADCs of 1..12 bits and full scales from 1 to 2^20, column sums at every
 * code's threshold, one below and one above, and at random: the codes,
 * shift-added with weights ± 2^e over several terms. */
static void test_adc_codes_at_thresholds(void **state)
{
    (void)state;
    if (skipped())
        return;
    Rng r;
    rng_seed(&r, 9);
    enum { N = 64 };
    long checked = 0;
    for (int bits = 1; bits <= 12; bits++)
        for (int trial = 0; trial < 40; trial++) {
            const int64_t m = ((int64_t)1 << bits) - 1;
            const int64_t f = 1 + (int64_t)rng_below(&r, trial < 20 ? 64u : 1u << 20);
            int64_t s_max = (int64_t)(((double)INT32_MAX - (double)f) / (2.0 * (double)m)) - 1;
            s_max = s_max > (1 << 24) ? (1 << 24) : s_max;
            if (!pim_u8_adc_fits(s_max, m, f))
                fail_msg("bits %d F %lld: s_max %lld should fit", bits, (long long)f, (long long)s_max);
            int32_t s[3][N];
            for (int l = 0; l < N; l++)
                for (int t = 0; t < 3; t++) {
                    /* the threshold of a code k: the least S with 2SM + F >= 2Fk */
                    int64_t k = (int64_t)rng_below(&r, (uint32_t)m + 2);
                    int64_t at = floor_div(2 * f * k - f + 2 * m - 1, 2 * m) + (int64_t)rng_below(&r, 3) - 1;
                    if (rng_below(&r, 4) == 0)
                        at = (int64_t)rng_below(&r, (uint32_t)s_max + 1);
                    s[t][l] = (int32_t)(at < 0 ? 0 : at > s_max ? s_max : at);
                }
            const int32_t *sums[3] = {s[0], s[1], s[2]}, weight[3] = {1, -4, 1 << 10};
            int32_t c[N];
            for (int l = 0; l < N; l++)
                c[l] = l;
            PimAdc adc = {bits, (int32_t)m, (int32_t)f};
            pim_u8_column(&adc, sums, weight, 3, N, c);
            for (int l = 0; l < N; l++) {
                int64_t want = l;
                for (int t = 0; t < 3; t++)
                    want += (int64_t)weight[t] * adc_code(s[t][l], m, f);
                if (c[l] != want)
                    fail_msg("bits %d F %lld lane %d: C %d, want %lld (S %d %d %d)", bits, (long long)f, l,
                             c[l], (long long)want, s[0][l], s[1][l], s[2][l]);
                checked++;
            }
        }
    /* an ideal ADC passes the sums through */
    int32_t s[16], c[16] = {0};
    for (int l = 0; l < 16; l++)
        s[l] = l * 1000;
    const int32_t *one = s, w = -8;
    pim_u8_column(&(PimAdc){0, 0, 1}, &one, &w, 1, 16, c);
    for (int l = 0; l < 16; l++)
        assert_int_equal(c[l], -8 * l * 1000);
    printf("pim_u8_column = definition on %ld columns\n", checked);
}

/* ⌊(2CF + M) / (2M)⌋ for C of both signs, at the quotient's integer
 * boundaries and at random, for M of 1 to 16 bits and large F. */
static void test_digital_rounding(void **state)
{
    (void)state;
    if (skipped())
        return;
    Rng r;
    rng_seed(&r, 10);
    enum { N = 64 };
    long checked = 0;
    for (int bits = 1; bits <= 16; bits++)
        for (int trial = 0; trial < 40; trial++) {
            const int64_t m = ((int64_t)1 << bits) - 1;
            const int64_t f = 1 + (int64_t)rng_below(&r, trial < 20 ? 1000u : 1u << 20); /* 2CF + M < 2^53 */
            int32_t c[N];
            int64_t d[N];
            for (int l = 0; l < N; l++) {
                int64_t v;
                if (l % 2) { /* C with 2CF + M next to a multiple of 2M */
                    int64_t q = (int64_t)rng_below(&r, 1u << 20) - (1 << 19);
                    v = floor_div(2 * m * q - m, 2 * f) + (int64_t)rng_below(&r, 3) - 1;
                } else {
                    v = (int64_t)(rng_next(&r) & 0xffffffffu) - 2147483648LL;
                }
                c[l] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
            }
            pim_u8_round(c, N, (double)m, (double)f, d);
            for (int l = 0; l < N; l++) {
                const int64_t want = floor_div(2 * (int64_t)c[l] * f + m, 2 * m);
                if (d[l] != want)
                    fail_msg("M %lld F %lld: C %d rounds to %lld, want %lld", (long long)m, (long long)f, c[l],
                             (long long)d[l], (long long)want);
                checked++;
            }
        }
    printf("pim_u8_round = definition on %ld values\n", checked);
}

/* The lane helpers: slices, scaled sums, the ReLU epilogues. */
static void test_lane_helpers(void **state)
{
    (void)state;
    if (skipped())
        return;
    Rng r;
    rng_seed(&r, 11);
    enum { N = 80 };
    uint8_t src[N], out[N];
    for (int l = 0; l < N; l++)
        src[l] = (uint8_t)rng_below(&r, 256);
    for (int shift = 0; shift < 8; shift++) {
        const int mask = 0x7 & (0xff >> shift);
        pim_u8_slice(src, N, shift, mask, out);
        for (int l = 0; l < N; l++)
            assert_int_equal(out[l], (src[l] >> shift) & mask);
        int32_t acc[N], want[N];
        for (int l = 0; l < N; l++)
            acc[l] = want[l] = l - 40;
        gemm_u8_add_scaled(src, N, shift, mask, -3, acc);
        for (int l = 0; l < N; l++)
            assert_int_equal(acc[l], want[l] - 3 * ((src[l] >> shift) & mask));
    }
    int32_t acc[N];
    for (int l = 0; l < N; l++)
        acc[l] = (int32_t)rng_below(&r, 1u << 20) - (1 << 19);
    for (int negate = 0; negate <= 1; negate++) {
        gemm_u8_relu_bytes(acc, N, negate, 77, 5, 63, out);
        for (int l = 0; l < N; l++) {
            int32_t a = ((negate ? -acc[l] : acc[l]) + 77) >> 5;
            assert_int_equal(out[l], a < 0 ? 0 : a > 63 ? 63 : a);
        }
    }
    int64_t d[N];
    int32_t sum_x[N];
    for (int l = 0; l < N; l++) {
        d[l] = (int64_t)rng_below(&r, 1u << 30) - (1 << 29);
        sum_x[l] = (int32_t)rng_below(&r, 5000);
    }
    pim_u8_neuron_bytes(d, N, 1000 + 64, 128, sum_x, 7, 255, out);
    for (int l = 0; l < N; l++) {
        int64_t y = (d[l] + 1000 + 64 - 128 * (int64_t)sum_x[l]) >> 7;
        assert_int_equal(out[l], y < 0 ? 0 : y > 255 ? 255 : y);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_equals_definition),
        cmocka_unit_test(test_adc_codes_at_thresholds),
        cmocka_unit_test(test_digital_rounding),
        cmocka_unit_test(test_lane_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
