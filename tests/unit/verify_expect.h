/* Shared by the unit tests of the verifier's rules (test_verify.c,
 * test_axon.c): run it with its own bookkeeping checked, and expect planted
 * violations of one kind. Include after cmocka.h and compiler/verify.h. */
#ifndef TESTS_UNIT_VERIFY_EXPECT_H
#define TESTS_UNIT_VERIFY_EXPECT_H

#include <limits.h>
#include <string.h>

/* verify_program keeping 64, with its total the sum of its per-kind counts
 * and min(total, 64) stored. Returns the total. */
static inline long long verify_checked(const Program *p, const Hw *hw, VerifyReport *rep)
{
    long long n = verify_program(p, hw, rep, 64);
    assert_true(n >= 0);
    long long sum = 0;
    for (int k = 0; k < V_COUNT; k++)
        sum += rep->counts[k];
    assert_int_equal(sum, n);
    assert_int_equal(rep->n, n < 64 ? n : 64);
    return n;
}

/* Violation i's message contains `want`. */
static inline void assert_violation_text(const VerifyReport *rep, int i, const char *want)
{
    char line[512];
    int len = verify_describe(rep, i, line, sizeof line);
    assert_int_equal(len, (int)strlen(line));
    if (!strstr(line, want))
        fail_msg("'%s' lacks '%s'", line, want);
}

/* Don't check this coordinate (expect_only_at). */
#define ANY_PLACE INT_MIN

/* The program has only violations of `kind`, `count` of them; the first is
 * at op, block row and col (ANY_PLACE: any), with value and limit, and its
 * message contains `text`. */
static inline void expect_only_at(const Program *p, const Hw *hw, ViolationKind kind, long long count,
                                  int op, int row, int col, long long value, long long limit,
                                  const char *text)
{
    VerifyReport rep;
    assert_int_equal(verify_checked(p, hw, &rep), count);
    assert_int_equal(rep.counts[kind], count);
    assert_int_equal(rep.v[0].kind, kind);
    assert_int_equal(rep.v[0].op, op);
    if (row != ANY_PLACE)
        assert_int_equal(rep.v[0].row, row);
    if (col != ANY_PLACE)
        assert_int_equal(rep.v[0].col, col);
    assert_int_equal(rep.v[0].value, value);
    assert_int_equal(rep.v[0].limit, limit);
    assert_violation_text(&rep, 0, text);
    verify_report_free(&rep);
}

/* The same, wherever in the block. */
static inline void expect_only(const Program *p, const Hw *hw, ViolationKind kind, long long count, int op,
                               long long value, long long limit, const char *text)
{
    expect_only_at(p, hw, kind, count, op, ANY_PLACE, ANY_PLACE, value, limit, text);
}

#endif
