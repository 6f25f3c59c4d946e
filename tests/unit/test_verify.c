/* compiler/verify: programs built by hand fit a hand-made chip with no
 * violation; then each kind of violation is planted alone and must be
 * reported with its kind, op, values and a message naming them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "compiler/hw.h"
#include "compiler/program.h"
#include "compiler/verify.h"
#include "tests/unit/verify_expect.h"

/* A small chip: 8×4 crossbars, 4-bit weights (-8..7) and I/O, shifts up to
 * 6. Its accumulator has max(4 + 4 + 3, 4 + 6 + 1) = 11 bits: biases
 * -1024..1023. */
static void small_hw(Hw *hw)
{
    hw_default(hw);
    hw->crossbar.rows = 8;
    hw->crossbar.cols = 4;
    hw->crossbar.fanout = 0;
    hw->weights.bits = 4;
    hw->io.bits = 4;
    hw->neuron.shift_max = 6;
}

/* 6 pixels → a shared 3×2 ReLU block at two positions (neurons 6, 7 and
 * 8, 9; one row padded) → a 4×3 linear block (neurons 10..12, the logits).
 * Every value is at an edge of the small chip's ranges. */
static Program *small_program(void)
{
    Program *p = program_create(6, 4);
    assert_non_null(p);
    const int32_t wa[2 * 3] = {7, -8, 1, /* neuron 1 */ 0, 2, -3};
    int a = program_add_block(p, 3, 2, wa, (int64_t[]){1023, -1024}, 6, CORE_RELU);
    assert_int_equal(program_add_op(p, a, (int32_t[]){0, 1, 2}, 0, 0), 6);
    assert_int_equal(program_add_op(p, a, (int32_t[]){3, 4, PROGRAM_ZERO}, 0, 0), 8);
    const int32_t wb[3 * 4] = {1, 1, 1, 1, 2, 0, 0, -2, 0, -3, 5, 0};
    int b = program_add_block(p, 4, 3, wb, (int64_t[]){0, 10, -7}, 0, CORE_LINEAR);
    assert_int_equal(program_add_op(p, b, (int32_t[]){6, 7, 8, 9}, 1, 1), 10);
    assert_int_equal(program_set_outputs(p, (int32_t[]){10, 11, 12}, 3), 0);
    return p;
}

/* The first stored violation of kind (and rule, for V_STRUCTURE), or -1. */
static int find(const VerifyReport *rep, ViolationKind kind, int rule)
{
    for (int i = 0; i < rep->n; i++)
        if (rep->v[i].kind == kind && (kind != V_STRUCTURE || rep->v[i].rule == rule))
            return i;
    return -1;
}

static void test_valid_programs_fit(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    assert_int_equal(rep.n, 0);
    verify_report_free(&rep);
    hw.crossbar.fanout = 1; /* every neuron is read by one op */
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    hw.target.mode = HW_PIM; /* the same rules */
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);
}

static void test_rows_and_cols(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    hw.crossbar.rows = 3; /* the linear block has 4 */
    expect_only(p, &hw, V_ROWS, 1, 2, 4, 3, "core op 2 (block 1): 4 rows > crossbar.rows 3");
    small_hw(&hw);
    hw.crossbar.cols = 2; /* the linear block has 3 */
    expect_only(p, &hw, V_COLS, 1, 2, 3, 2, "core op 2 (block 1): 3 cols > crossbar.cols 2");
    hw.crossbar.cols = 1; /* every op now: counted per op */
    expect_only(p, &hw, V_COLS, 3, 0, 2, 1, "core op 0 (block 0): 2 cols > crossbar.cols 1");
    program_free(p);
}

static void test_weight_range(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    p->blocks[1].w[2 * 4 + 1] = 8; /* col 2, row 1: one above the top */
    expect_only(p, &hw, V_WEIGHT_RANGE, 1, 2, 8, 7, "weight 8 at row 1, col 2 > 7");
    p->blocks[1].w[2 * 4 + 1] = -3;
    p->blocks[0].w[1 * 3 + 0] = -9; /* one below the bottom; a shared block: both ops */
    expect_only(p, &hw, V_WEIGHT_RANGE, 2, 0, -9, -8, "core op 0 (block 0): weight -9 at row 0, col 1 < -8");
    /* Several bad weights: one report per op, the farthest outside. */
    p->blocks[0].w[0] = 10;
    p->blocks[0].w[5] = -20;
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 2);
    assert_int_equal(rep.v[1].op, 1);
    assert_int_equal(rep.v[1].value, -20);
    assert_int_equal(rep.v[1].row, 2);
    assert_int_equal(rep.v[1].col, 1);
    verify_report_free(&rep);
    hw.weights.bits = 6; /* -32..31 holds them all */
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);
}

static void test_bias_range(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    p->blocks[1].bias[2] = 1024; /* 11-bit accumulator: 1023 at most */
    expect_only(p, &hw, V_BIAS_RANGE, 1, 2, 1024, 1023, "core op 2 (block 1): bias 1024 of neuron 2 > 1023");
    p->blocks[1].bias[2] = -1025;
    expect_only(p, &hw, V_BIAS_RANGE, 1, 2, -1025, -1024, "bias -1025 of neuron 2 < -1024");
    /* Longer shifts reach further: 4 + 7 + 1 = 12 bits hold it. */
    hw.neuron.shift_max = 7;
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    /* So do bigger crossbars: 4 + 4 + ceil(log2 300) = 17 bits. */
    small_hw(&hw);
    hw.crossbar.rows = 300;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    /* A 64-bit accumulator or wider is no limit. */
    p->blocks[1].bias[2] = INT64_MIN;
    hw.neuron.shift_max = 62; /* 4 + 62 + 1 bits */
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);
}

static void test_shift(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    p->blocks[0].shift = 7;
    hw.neuron.shift_max = 6;
    /* 7 > 6: both ops of the block. (The bias bound does not grow with the
     * shift used, only with the chip's shift_max.) */
    expect_only(p, &hw, V_SHIFT, 2, 0, 7, 6, "core op 0 (block 0): shift 7 > neuron.shift_max 6");
    p->blocks[0].shift = -1;
    expect_only(p, &hw, V_SHIFT, 2, 0, -1, 0, "shift -1 < 0");
    program_free(p);
}

static void test_activation(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    p->blocks[0].act = CORE_LINEAR; /* its neurons feed op 2 */
    expect_only(p, &hw, V_ACTIVATION, 2, 0, CORE_LINEAR, 0,
                "core op 0 (block 0): linear (no ReLU), but its neuron 6 feeds core op 2");
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 2);
    assert_int_equal(rep.v[1].op, 1);
    assert_int_equal(rep.v[1].col, 8);
    verify_report_free(&rep);
    hw.target.mode = HW_SNN; /* checked like ANN until spiking programs exist */
    hw.neuron.activation = HW_ACT_IF;
    hw.io.window = 16;
    assert_int_equal(verify_checked(p, &hw, &rep), 2);
    assert_int_equal(rep.counts[V_ACTIVATION], 2);
    verify_report_free(&rep);
    small_hw(&hw);
    p->blocks[0].act = CORE_RELU;
    p->blocks[1].act = (CoreActivation)7; /* not a known function (and not a logit) */
    assert_int_equal(verify_checked(p, &hw, &rep), 4);
    assert_int_equal(rep.counts[V_ACTIVATION], 1);
    assert_int_equal(rep.counts[V_STRUCTURE], 3); /* the logits are not linear */
    assert_violation_text(&rep, find(&rep, V_ACTIVATION, 0),
                "core op 2 (block 1): activation 7 is neither relu nor linear");
    verify_report_free(&rep);
    program_free(p);
}

static void test_fanout(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    hw.crossbar.fanout = 1;
    Program *p = small_program();
    p->ops[1].in[0] = 2; /* pixel 2: read by ops 0 and 1 */
    expect_only(p, &hw, V_FANOUT, 1, -1, 2, 1,
                "neuron 2 (input pixel): read by 2 core ops > crossbar.fanout 1");
    VerifyReport rep;
    verify_checked(p, &hw, &rep);
    assert_int_equal(rep.v[0].col, 2);
    verify_report_free(&rep);
    hw.crossbar.fanout = 2;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    hw.crossbar.fanout = 0; /* unlimited */
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);

    /* One op reading a neuron on several rows counts once. */
    hw.crossbar.fanout = 1;
    p = small_program();
    memcpy(p->ops[0].in, (int32_t[]){1, 1, 1}, sizeof(int32_t[3]));
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);

    /* A second linear op over the hidden neurons: 6..9 are read twice. */
    p = small_program();
    int32_t o = program_add_op(p, 1, (int32_t[]){6, 7, 8, 9}, 1, 1);
    assert_int_equal(o, 13);
    expect_only(p, &hw, V_FANOUT, 4, 0, 2, 1, "neuron 6 (core op 0, block 0): read by 2 core ops");
    program_free(p);
}

static void test_io_bits(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    hw.io.bits = 5;
    Program *p = small_program();
    expect_only(p, &hw, V_IO_BITS, 1, -1, 4, 5, "program: io_bits 4 != io.bits 5");
    hw.target.mode = HW_SNN; /* io.bits is unused in SNN mode */
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 0);
    verify_report_free(&rep);
    program_free(p);
}

static void test_structure(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = small_program();
    p->ops[1].in[0] = 9; /* its own neuron */
    expect_only(p, &hw, V_STRUCTURE, 1, 1, 9, 8,
                "core op 1 (block 0): row 0 reads neuron 9, not below its own");
    p->ops[1].in[0] = 3;
    p->ops[0].in[2] = -5;
    expect_only(p, &hw, V_STRUCTURE, 1, 0, -5, 6, "row 2 reads neuron -5, neither a neuron nor PROGRAM_ZERO");
    p->ops[0].in[2] = 2;
    p->outputs[1] = 7; /* a ReLU neuron as a logit */
    expect_only(p, &hw, V_STRUCTURE, 1, 0, 7, 0, "output 1 is neuron 7 of this op, which is not linear");
    p->outputs[1] = 11;
    p->ops[2].group = 2;
    expect_only(p, &hw, V_STRUCTURE, 1, 2, 2, 2, "group 2 outside 0..1");
    program_free(p);

    /* A bad block index: that op is skipped, so the numbering and outputs
     * after it are reported too. */
    p = small_program();
    p->ops[2].block = 5;
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 5);
    assert_int_equal(rep.counts[V_STRUCTURE], 5);
    int i = find(&rep, V_STRUCTURE, VS_BLOCK_INDEX);
    assert_true(i >= 0);
    assert_int_equal(rep.v[i].op, 2);
    assert_int_equal(rep.v[i].value, 5);
    assert_violation_text(&rep, i, "core op 2 (block 5): no such block (the program has 2)");
    assert_true(find(&rep, V_STRUCTURE, VS_NEURONS) >= 0);
    assert_violation_text(&rep, find(&rep, V_STRUCTURE, VS_OUTPUT),
                "program: output 0 is neuron 10, no core op's neuron");
    verify_report_free(&rep);
    p->ops[2].block = 1;

    p->ops[2].out = 11; /* neurons must follow on */
    expect_only(p, &hw, V_STRUCTURE, 1, 2, 11, 10, "first neuron 11, expected 10");
    p->ops[2].out = 10;
    p->blocks[1].cols = 0; /* a block without neurons */
    assert_true(verify_checked(p, &hw, &rep) > 0);
    assert_violation_text(&rep, find(&rep, V_STRUCTURE, VS_BLOCK_SHAPE), "block 1: 4 rows x 0 cols");
    verify_report_free(&rep);
    p->blocks[1].cols = 3;
    program_free(p);

    p = program_create(2, 4); /* no ops, no logits */
    expect_only(p, &hw, V_STRUCTURE, 1, -1, 0, 1, "program: no outputs");
    program_free(p);
}

/* A float program runs nowhere: one V_FLOAT; the integer checks are skipped,
 * the rest apply. */
static void test_float_program(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    Program *p = program_create_float(3);
    int b = program_add_block_float(p, 3, 2, (float[]){100.5f, -1e9f, 3, 0, 1, 2}, (float[]){1e12f, 0},
                                    CORE_RELU);
    int l = program_add_block_float(p, 2, 1, (float[]){1, -1}, NULL, CORE_LINEAR);
    int32_t h = program_add_op(p, b, (int32_t[]){0, 1, 2}, 0, 0);
    int32_t o = program_add_op(p, l, (int32_t[]){h, h + 1}, 1, 1);
    program_set_outputs(p, &o, 1);
    expect_only(p, &hw, V_FLOAT, 1, -1, 0, 0, "program: float weights");
    hw.crossbar.rows = 2;
    VerifyReport rep;
    assert_int_equal(verify_checked(p, &hw, &rep), 2);
    assert_int_equal(rep.counts[V_FLOAT], 1);
    assert_int_equal(rep.counts[V_ROWS], 1);
    verify_report_free(&rep);
    program_free(p);
}

/* keep bounds the stored list, not the counts; describe is snprintf-like. */
static void test_keep_and_text(void **state)
{
    (void)state;
    Hw hw;
    small_hw(&hw);
    hw.crossbar.rows = 1;
    hw.crossbar.cols = 1;
    hw.io.bits = 3;
    hw.neuron.shift_max = 7; /* 3 + 7 + 1 bits: the biases still fit */
    Program *p = small_program(); /* 3 ops × (rows, cols) + io bits */
    VerifyReport rep;
    assert_int_equal(verify_program(p, &hw, &rep, 2), 7);
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.counts[V_ROWS], 3);
    assert_int_equal(rep.counts[V_COLS], 3);
    assert_int_equal(rep.counts[V_IO_BITS], 1);
    assert_int_equal(rep.v[0].kind, V_IO_BITS); /* program-wide first, then ops in order */
    assert_int_equal(rep.v[1].kind, V_ROWS);
    char small[10], full[256];
    int len = verify_describe(&rep, 1, full, sizeof full);
    assert_int_equal(verify_describe(&rep, 1, small, sizeof small), len);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);
    assert_int_equal(verify_describe(&rep, 2, full, sizeof full), 0); /* not stored */
    verify_report_free(&rep);
    assert_int_equal(verify_program(p, &hw, &rep, 0), 7);
    assert_int_equal(rep.n, 0);
    verify_report_free(&rep);
    program_free(p);

    assert_string_equal(verify_kind_name(V_WEIGHT_RANGE), "weight_range");
    assert_string_equal(verify_kind_name(V_FLOAT), "float");
    assert_string_equal(verify_kind_name(V_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_programs_fit),
        cmocka_unit_test(test_rows_and_cols),
        cmocka_unit_test(test_weight_range),
        cmocka_unit_test(test_bias_range),
        cmocka_unit_test(test_shift),
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_io_bits),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_float_program),
        cmocka_unit_test(test_keep_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
