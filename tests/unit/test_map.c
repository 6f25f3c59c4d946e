/* compiler/map: every mapping is checked here from scratch (each core's
 * distinct input rows and columns within the crossbar, every op on a real
 * core, every core on the mesh), and the reported lower bound never
 * exceeds the cores used. Hand-built programs pin the packing: overlapping
 * convolution windows share rows, ops with disjoint inputs share columns,
 * and a program is mapped the same way twice. */
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

/* Recounts what each core holds and checks it against the crossbar. */
static void assert_mapping_fits(const Program *p, const Hw *hw, const Mapping *m)
{
    assert_true(m->n_cores >= m->lower_bound);
    assert_true(m->lower_bound >= 1 || p->n_ops == 0);
    int *rows = calloc((size_t)m->n_cores, sizeof *rows), *cols = calloc((size_t)m->n_cores, sizeof *cols);
    char *held = calloc((size_t)m->n_cores * p->n_neurons, 1);
    assert_non_null(rows);
    assert_non_null(cols);
    assert_non_null(held);
    for (int k = 0; k < p->n_ops; k++) {
        int c = m->core_of_op[k];
        assert_true(c >= 0 && c < m->n_cores);
        const CoreBlock *b = &p->blocks[p->ops[k].block];
        cols[c] += b->cols;
        for (int i = 0; i < b->rows; i++) {
            int32_t v = p->ops[k].in[i];
            if (v != PROGRAM_ZERO && !held[(size_t)c * p->n_neurons + v]) {
                held[(size_t)c * p->n_neurons + v] = 1;
                rows[c]++;
            }
        }
    }
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
            ReformOptions opt = {sizes[s][0], sizes[s][1], NULL, 0, 8, 1024};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlapping_windows_share_rows),
        cmocka_unit_test(test_disjoint_ops_share_columns),
        cmocka_unit_test(test_row_bound),
        cmocka_unit_test(test_traffic_and_placement),
        cmocka_unit_test(test_zoo_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
