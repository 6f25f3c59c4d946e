/* compiler/map: every mapping is checked here from scratch (each core's
 * distinct (neuron, axon type) rows and columns within the crossbar, every
 * op on a real core, every core on the mesh), and the reported lower bound
 * never exceeds the cores used. The bound is checked against the true
 * optimum, found by exhaustive search, on many small random programs and
 * convolutions (random windows, strides, channels, axon types). Hand-built
 * programs pin the packing: overlapping convolution windows share rows in
 * 2-D tiles, ops with disjoint inputs share columns, rows of another axon
 * type are not shared, and a program is mapped the same way twice. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/compiler.h"

static void chip(Hw *hw, int rows, int cols)
{
    hw_default(hw);
    hw->crossbar.rows = rows;
    hw->crossbar.cols = cols;
    hw->chip.mesh_x = 4;
    hw->chip.mesh_y = 3;
    hw->chip.cores = 12;
}

#define TYPES 256 /* axon types a row key can have */

/* Recounts what each core holds and checks it against the crossbar: a row
 * is one (neuron, axon type) pair. */
static void assert_mapping_fits(const Program *p, const Hw *hw, const Mapping *m)
{
    assert_true(m->n_cores >= m->lower_bound);
    assert_true(m->lower_bound >= 1 || p->n_ops == 0);
    int *rows = calloc((size_t)m->n_cores, sizeof *rows), *cols = calloc((size_t)m->n_cores, sizeof *cols);
    int *held = calloc((size_t)p->n_neurons * TYPES + 1, sizeof *held); /* core + 1 holding the row */
    int *by_core = malloc(sizeof *by_core * (size_t)(p->n_ops + 1));
    assert_non_null(rows);
    assert_non_null(cols);
    assert_non_null(held);
    assert_non_null(by_core);
    int n = 0;
    for (int c = 0; c < m->n_cores; c++) /* core by core, so one stamp per row suffices */
        for (int k = 0; k < p->n_ops; k++)
            if (m->core_of_op[k] == c)
                by_core[n++] = k;
    assert_int_equal(n, p->n_ops); /* every op on a real core */
    for (int q = 0; q < n; q++) {
        int k = by_core[q], c = m->core_of_op[k];
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        cols[c] += b->cols;
        for (int i = 0; i < b->rows; i++) {
            int32_t v = p->ops[k].in[i];
            size_t key = (size_t)v * TYPES + (b->axon_type ? b->axon_type[i] : 0);
            if (v != PROGRAM_ZERO && held[key] != c + 1) {
                held[key] = c + 1;
                rows[c]++;
            }
        }
    }
    free(by_core);
    int width = hw->chip.mesh_x * m->chips;
    char *taken = calloc((size_t)width * hw->chip.mesh_y + 1, 1);
    assert_non_null(taken);
    for (int c = 0; c < m->n_cores; c++) {
        assert_true(rows[c] <= hw->crossbar.rows);
        assert_true(cols[c] <= hw->crossbar.cols);
        assert_true(cols[c] > 0); /* no empty core is counted */
        assert_true(m->core_x[c] >= 0 && m->core_x[c] < width);
        assert_true(m->core_y[c] >= 0 && m->core_y[c] < hw->chip.mesh_y);
        char *place = &taken[(size_t)m->core_y[c] * width + m->core_x[c]];
        assert_false(*place); /* one core per mesh place */
        *place = 1;
    }
    free(taken);
    assert_int_equal(m->chips, (m->n_cores + hw->chip.cores - 1) / hw->chip.cores);
    free(rows);
    free(cols);
    free(held);
}

/* A 1-D convolution over n pixels: window w, f filters, one op per position. */
static Program *conv1d(int n, int w, int f)
{
    Program *p = program_create(n, 8);
    int32_t *wt = calloc((size_t)w * f, sizeof *wt);
    int32_t in[64];
    assert_non_null(p);
    assert_non_null(wt);
    int b = program_add_block(p, w, f, wt, NULL, 0, CORE_RELU);
    for (int x = 0; x + w <= n; x++) {
        for (int i = 0; i < w; i++)
            in[i] = x + i;
        assert_true(program_add_op(p, b, in, 0, 0) >= 0);
    }
    free(wt);
    return p;
}

static void test_overlapping_windows_share_rows(void **state)
{
    (void)state;
    Hw hw;
    chip(&hw, 8, 8);
    /* 12 pixels, windows of 4, 2 filters: 9 positions. A core of 8 rows
     * holds 5 consecutive windows (rows x .. x+7) and their 10 columns do
     * not fit, so 4 windows (8 columns, 7 rows) per core: 3 cores. */
    Program *p = conv1d(12, 4, 2);
    Mapping m;
    char err[256];
    assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
    assert_mapping_fits(p, &hw, &m);
    assert_int_equal(m.n_cores, 3);
    /* 18 columns over 8 per core: at least 3. */
    assert_int_equal(m.lower_bound, 3);
    assert_int_equal(m.core_of_op[0], m.core_of_op[3]);
    mapping_free(&m);
    program_free(p);
}

static void test_disjoint_ops_share_columns(void **state)
{
    (void)state;
    Hw hw;
    chip(&hw, 8, 8);
    /* Four 2-row, 2-column ops over disjoint pixels fill one 8×8 core. */
    Program *p = program_create(8, 8);
    int b = program_add_block(p, 2, 2, (int32_t[]){1, 2, 3, 4}, NULL, 0, CORE_RELU);
    for (int k = 0; k < 4; k++)
        assert_true(program_add_op(p, b, (int32_t[]){2 * k, 2 * k + 1}, k, k) >= 0);
    Mapping m;
    char err[256];
    assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
    assert_mapping_fits(p, &hw, &m);
    assert_int_equal(m.n_cores, 1);
    assert_int_equal(m.traffic, 0); /* pixels come from outside the mesh */
    mapping_free(&m);
    program_free(p);
}

/* Ops that read many neurons once each are bound by rows, and the bound
 * says so: 6 ops of 6 private rows and 1 column on an 8×8 crossbar need 6
 * cores (36 rows), though their 6 columns would fit in one. */
static void test_row_bound(void **state)
{
    (void)state;
    Hw hw;
    chip(&hw, 8, 8);
    Program *p = program_create(36, 8);
    int b = program_add_block(p, 6, 1, (int32_t[]){1, 1, 1, 1, 1, 1}, NULL, 0, CORE_RELU);
    for (int k = 0; k < 6; k++)
        assert_true(program_add_op(p, b, (int32_t[]){6 * k, 6 * k + 1, 6 * k + 2, 6 * k + 3, 6 * k + 4, 6 * k + 5},
                                   0, 0) >= 0);
    Mapping m;
    char err[256];
    assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
    assert_mapping_fits(p, &hw, &m);
    assert_int_equal(m.n_cores, 6);
    assert_int_equal(m.lower_bound, 5); /* ⌈36 / 8⌉ */
    mapping_free(&m);
    program_free(p);
}

/* Traffic: a value crossing k hops counts k; a value read twice on one core counts once. */
static void test_traffic_and_placement(void **state)
{
    (void)state;
    Hw hw;
    chip(&hw, 4, 2);
    Program *p = program_create(4, 8);
    int b = program_add_block(p, 4, 2, (int32_t[]){1, 1, 1, 1, 1, 1, 1, 1}, NULL, 0, CORE_RELU);
    int32_t a = program_add_op(p, b, (int32_t[]){0, 1, 2, 3}, 0, 0); /* core 0 */
    int32_t c = program_add_op(p, b, (int32_t[]){a, a + 1, 2, 3}, 1, 1);
    assert_true(a >= 0 && c >= 0);
    Mapping m;
    char err[256];
    assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
    assert_mapping_fits(p, &hw, &m);
    assert_int_equal(m.n_cores, 2);
    /* Serpentine: cores 0 and 1 are neighbours, so 2 values × 1 hop. */
    assert_int_equal(abs(m.core_x[0] - m.core_x[1]) + abs(m.core_y[0] - m.core_y[1]), 1);
    assert_int_equal(m.traffic, 2);
    mapping_free(&m);
    program_free(p);
}

/* Every reform program of the quick zoo models fits, and twice the same. */
static void test_zoo_programs(void **state)
{
    (void)state;
    const char *files[] = {"models/mlp.h5", "models/lenet5.h5", "models/fcnn.h5"};
    const int sizes[][2] = {{256, 256}, {64, 64}, {32, 128}};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        if (access(files[f], R_OK) != 0) {
            printf("skip: %s not found\n", files[f]);
            continue;
        }
        Model mdl;
        char err[512];
        assert_int_equal(model_load(files[f], &mdl, err, sizeof err), 0);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            Hw hw;
            chip(&hw, sizes[s][0], sizes[s][1]);
            ReformOptions opt = {.rows = sizes[s][0], .cols = sizes[s][1], .approx_width = 8, .approx_samples = 1024};
            Program *p;
            assert_int_equal(reform(mdl.net, &mdl.train.norm, &opt, &p, err, sizeof err), 0);
            Mapping m1, m2;
            assert_int_equal(map_program(p, &hw, &m1, err, sizeof err), 0);
            assert_int_equal(map_program(p, &hw, &m2, err, sizeof err), 0);
            assert_mapping_fits(p, &hw, &m1);
            assert_int_equal(m1.n_cores, m2.n_cores);
            assert_memory_equal(m1.core_of_op, m2.core_of_op, sizeof *m1.core_of_op * (size_t)p->n_ops);
            assert_int_equal(m1.traffic, m2.traffic);
            mapping_free(&m1);
            mapping_free(&m2);
            program_free(p);
        }
        model_free(&mdl);
    }
}


/* ------------------------------------------------ the bound against the optimum */

/* Each op's rows as a bit set of (neuron, type) keys, for the search. */
typedef struct {
    int n;
    uint64_t rows[16];
    int cols[16];
} Tiny;

static void tiny_of(const Program *p, Tiny *t)
{
    int32_t key_of[64 * 4];
    int n_keys = 0;
    memset(key_of, -1, sizeof key_of);
    assert_true(p->n_ops <= 16 && p->n_neurons <= 64);
    t->n = p->n_ops;
    for (int k = 0; k < p->n_ops; k++) {
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        t->rows[k] = 0;
        t->cols[k] = b->cols;
        for (int i = 0; i < b->rows; i++) {
            int32_t v = p->ops[k].in[i];
            if (v == PROGRAM_ZERO)
                continue;
            int key = v * 4 + (b->axon_type ? b->axon_type[i] : 0);
            if (key_of[key] < 0)
                key_of[key] = n_keys++;
            assert_true(n_keys <= 64);
            t->rows[k] |= UINT64_C(1) << key_of[key];
        }
    }
}

/* Exhaustive: op k goes on each open core it fits, or on a new one. */
static void search(const Tiny *t, int R, int C, int k, int n_cores, uint64_t *rows, int *cols, int *best)
{
    if (n_cores >= *best)
        return;
    if (k == t->n) {
        *best = n_cores;
        return;
    }
    for (int c = 0; c <= n_cores && c < 16; c++) {
        uint64_t r = rows[c] | t->rows[k];
        if (__builtin_popcountll(r) > R || cols[c] + t->cols[k] > C)
            continue;
        uint64_t old = rows[c];
        rows[c] = r;
        cols[c] += t->cols[k];
        search(t, R, C, k + 1, c == n_cores ? n_cores + 1 : n_cores, rows, cols, best);
        rows[c] = old;
        cols[c] -= t->cols[k];
    }
}

static int optimum(const Program *p, int R, int C)
{
    Tiny t;
    tiny_of(p, &t);
    uint64_t rows[17] = {0};
    int cols[17] = {0}, best = t.n + 1;
    search(&t, R, C, 0, 0, rows, cols, &best);
    return best;
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Gives block b random axon types 0..types−1 (types > 1). */
static void random_types(Program *p, int b, int types, uint32_t *seed)
{
    if (types <= 1)
        return;
    p->blocks[b].axon_type = malloc((size_t)p->blocks[b].rows);
    assert_non_null(p->blocks[b].axon_type);
    for (int i = 0; i < p->blocks[b].rows; i++)
        p->blocks[b].axon_type[i] = (uint8_t)(next_rand(seed) % (uint32_t)types);
}

static int add_random_op(Program *p, const int32_t *in, int rows, int cols, int part, int group, int types,
                         uint32_t *seed)
{
    int32_t w[64 * 16];
    for (int i = 0; i < rows * cols; i++)
        w[i] = 1 + (int32_t)(next_rand(seed) % 5);
    int b = program_add_block(p, rows, cols, w, NULL, 0, CORE_RELU);
    assert_true(b >= 0);
    random_types(p, b, types, seed);
    int32_t out = program_add_op(p, b, in, part, group);
    assert_true(out >= 0);
    return out;
}

/* Random sets: ops over random subsets of the pixels and earlier outputs. */
static Program *random_program(uint32_t *seed, int *R, int *C)
{
    int n_in = 4 + (int)(next_rand(seed) % 9), n_ops = 3 + (int)(next_rand(seed) % 6);
    int types = 1 + (int)(next_rand(seed) % 3);
    *R = 2 + (int)(next_rand(seed) % 7);
    *C = 2 + (int)(next_rand(seed) % 7);
    Program *p = program_create(n_in, 8);
    assert_non_null(p);
    for (int k = 0; k < n_ops; k++) {
        int32_t in[16];
        int rows = 1 + (int)(next_rand(seed) % (uint32_t)(*R < 8 ? *R : 8));
        int cols = 1 + (int)(next_rand(seed) % (uint32_t)(*C < 3 ? *C : 3));
        for (int i = 0; i < rows; i++)
            in[i] = next_rand(seed) % 8 == 0 ? PROGRAM_ZERO : (int32_t)(next_rand(seed) % (uint32_t)p->n_neurons);
        if (p->n_neurons + cols > 64)
            break;
        add_random_op(p, in, rows, cols, k % 2, (int)(next_rand(seed) % 3), types, seed);
    }
    return p;
}

/* A random convolution: windows kh × kw at stride (sy, sx) over an H × W grid of
 * producer ops with cn columns each (cn = 0: over the pixels), f columns per
 * position, and mult ops per position (channel groups). */
static Program *random_conv(uint32_t *seed, int *R, int *C)
{
    int cn = (int)(next_rand(seed) % 3), H = 2 + (int)(next_rand(seed) % 4), W = 2 + (int)(next_rand(seed) % 4);
    if (cn && H * W > 6) /* producers are ops too: keep them few */
        W = 2, H = H > 3 ? 3 : H;
    int kh = 1 + (int)(next_rand(seed) % (uint32_t)H), kw = 1 + (int)(next_rand(seed) % (uint32_t)W);
    int sy = 1 + (int)(next_rand(seed) % 2), sx = 1 + (int)(next_rand(seed) % 2);
    int mult = 1 + (int)(next_rand(seed) % 2), f = 1 + (int)(next_rand(seed) % 2);
    int types = next_rand(seed) % 4 == 0 ? 2 : 1;
    int oh = (H - kh) / sy + 1, ow = (W - kw) / sx + 1;
    int ch = cn ? cn : 1, window = kh * kw * ch;
    int producers = cn ? H * W : 0;
    while (oh * ow * mult + producers > 12 && (oh > 1 || ow > 1)) { /* keep the search small */
        if (oh >= ow)
            oh--;
        else
            ow--;
    }
    if (oh * ow * mult + producers > 12)
        mult = 1;
    *R = window + (int)(next_rand(seed) % (uint32_t)(2 * window + 1));
    *C = f * (1 + (int)(next_rand(seed) % 6));
    Program *p = program_create(H * W, 8);
    assert_non_null(p);
    int32_t base = 0, in[64];
    if (cn) { /* one producer op per pixel, cn copies of it */
        int32_t one = 0;
        for (int q = 0; q < H * W; q++) {
            one = q;
            int32_t w[4] = {1, 1, 1, 1};
            int b = program_add_block(p, 1, cn, w, NULL, 0, CORE_RELU);
            int32_t out = program_add_op(p, b, &one, 0, 0);
            assert_true(out >= 0);
            if (q == 0)
                base = out;
        }
        *R = *R > 2 * H * W * cn ? 2 * H * W * cn : *R;
        *R = *R < cn ? cn : *R;
    }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int g = 0; g < mult; g++) {
                int n = 0;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        for (int c = 0; c < ch; c++) {
                            int32_t q = (y * sy + i) * W + x * sx + j;
                            in[n++] = cn ? base + q * cn + c : q;
                        }
                add_random_op(p, in, n, f, 1, 1, types, seed);
            }
    return p;
}

static void check_against_optimum(Program *p, int R, int C, int *tight)
{
    Hw hw;
    chip(&hw, R, C);
    Mapping m;
    char err[256];
    assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
    assert_mapping_fits(p, &hw, &m);
    int opt = optimum(p, R, C);
    if (m.lower_bound > opt)
        printf("bound %lld > optimum %d (R %d, C %d, %d ops)\n", m.lower_bound, opt, R, C, p->n_ops);
    assert_true(m.lower_bound <= opt);
    assert_true(m.n_cores >= opt);
    *tight += m.lower_bound == opt;
    mapping_free(&m);
}

/* The bound is a real lower bound: never above the best mapping there is. */
static void test_bound_below_optimum(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    int tight = 0, runs = 400;
    for (int run = 0; run < runs; run++) {
        int R, C;
        Program *p = run % 2 ? random_program(&seed, &R, &C) : random_conv(&seed, &R, &C);
        int ok = 1;
        for (int k = 0; k < p->n_ops; k++) { /* an op wider than the crossbar has no mapping */
            Tiny t;
            tiny_of(p, &t);
            ok &= __builtin_popcountll(t.rows[k]) <= R && t.cols[k] <= C;
        }
        if (ok)
            check_against_optimum(p, R, C, &tight);
        program_free(p);
    }
    printf("bound = optimum in %d of %d cases\n", tight, runs);
    assert_true(tight > runs / 4); /* and it is not trivially low */
}

/* 3×3 windows over 8×8 pixels: 36 positions. Any t of them read at least
 * t + 4 + min 2(p + ⌈t/p⌉) pixels, so at most 4 fit 16 rows (a 2×2 tile,
 * 16 pixels): at least 9 cores, and 2×2 tiles reach it. The per-pixel share
 * alone would say 4. */
static void test_window_bound_is_tight(void **state)
{
    (void)state;
    Hw hw;
    chip(&hw, 16, 64);
    Program *p = program_create(64, 8);
    assert_non_null(p);
    int32_t w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, in[9];
    int b = program_add_block(p, 9, 1, w, NULL, 0, CORE_RELU);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) {
            for (int i = 0; i < 9; i++)
                in[i] = (y + i / 3) * 8 + x + i % 3;
            assert_true(program_add_op(p, b, in, 0, 0) >= 0);
        }
    Mapping m;
    char err[256];
    assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
    assert_mapping_fits(p, &hw, &m);
    assert_int_equal(m.lower_bound, 9);
    assert_int_equal(m.n_cores, 9);
    mapping_free(&m);
    program_free(p);
}

/* Two ops read the same four pixels: with the same axon types they share
 * four rows of one core, with another type each they need two cores. */
static void test_axon_types_split_rows(void **state)
{
    (void)state;
    Hw hw;
    chip(&hw, 4, 8);
    for (int same = 0; same < 2; same++) {
        Program *p = program_create(4, 8);
        assert_non_null(p);
        int32_t w[4] = {1, 1, 1, 1}, in[4] = {0, 1, 2, 3};
        for (int k = 0; k < 2; k++) {
            int b = program_add_block(p, 4, 1, w, NULL, 0, CORE_RELU);
            p->blocks[b].axon_type = malloc(4);
            assert_non_null(p->blocks[b].axon_type);
            for (int i = 0; i < 4; i++)
                p->blocks[b].axon_type[i] = (uint8_t)(same ? i % 2 : (i + k) % 2);
            assert_true(program_add_op(p, b, in, 0, 0) >= 0);
        }
        Mapping m;
        char err[256];
        assert_int_equal(map_program(p, &hw, &m, err, sizeof err), 0);
        assert_mapping_fits(p, &hw, &m);
        assert_int_equal(m.n_cores, same ? 1 : 2);
        assert_int_equal(m.lower_bound, same ? 1 : 2);
        mapping_free(&m);
        program_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlapping_windows_share_rows),
        cmocka_unit_test(test_disjoint_ops_share_columns),
        cmocka_unit_test(test_row_bound),
        cmocka_unit_test(test_traffic_and_placement),
        cmocka_unit_test(test_zoo_programs),
        cmocka_unit_test(test_bound_below_optimum),
        cmocka_unit_test(test_window_bound_is_tight),
        cmocka_unit_test(test_axon_types_split_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
