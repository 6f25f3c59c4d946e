/* The verifier (DESIGN.md §2 step 5): an independent check that a program
 * fits a chip. It knows only program.h's documented semantics and the
 * hardware description; it shares no code with the passes that build
 * programs, so a bug there cannot hide itself here.
 *
 * Rules, one violation kind each (op = the core op, block = its block):
 *
 *   V_STRUCTURE     what any program must satisfy, whatever the chip (a
 *                   VerifyRule in `rule`): blocks of >= 1 row and column with
 *                   their weight arrays; each op's block exists, its neurons
 *                   follow the previous op's (the first at n_inputs), its
 *                   group is in 0..n_groups-1, and every row reads an earlier
 *                   neuron or PROGRAM_ZERO; n_neurons is inputs plus every
 *                   op's cols; at least one output, each a neuron of a
 *                   CORE_LINEAR op. An op with a broken block gets no other
 *                   checks.
 *   V_ROWS, V_COLS  block rows > crossbar.rows, cols > crossbar.cols.
 *   V_WEIGHT_RANGE  a weight outside weights.bits' signed range
 *                   -2^(bits-1) .. 2^(bits-1)-1 (every encoding holds that
 *                   range: hw_check makes cells x cell_bits reach bits). Once
 *                   per op, with the weight farthest outside (row, col).
 *   V_BIAS_RANGE    a bias the accumulator cannot hold. The bias is loaded
 *                   into the accumulator, whose width A must cover (a) every
 *                   weighted sum of a full crossbar,
 *                   |sum| <= rows * 2^(wbits-1) * (2^iobits - 1), so
 *                   wbits + iobits + ceil(log2(crossbar.rows)) bits with the
 *                   sign, and (b) every accumulator value the output stage
 *                   can still tell apart, up to 2^(iobits + shift_max):
 *                   iobits + shift_max + 1 bits. So
 *                   A = max(wbits + iobits + ceil(log2 rows), iobits + shift_max + 1)
 *                   and the bias must lie in -2^(A-1) .. 2^(A-1)-1 (tianji-ann:
 *                   A = 33). A >= 64 is no limit. Once per op, the bias
 *                   farthest outside (col = its neuron in the block).
 *   V_SHIFT         shift outside 0 .. neuron.shift_max.
 *   V_ACTIVATION    every op is CORE_RELU, the chip's one function, except
 *                   output ops: a CORE_LINEAR op's values are read out as
 *                   logits, so none of its neurons may feed a core op (col =
 *                   such a neuron, row = a core op reading it). An unknown
 *                   activation value is reported too (row = col = -1).
 *   V_FANOUT        crossbar.fanout > 0: a neuron, input pixels included
 *                   (they enter through cores too), is read by more distinct
 *                   core ops than that (an op reading it on several rows
 *                   counts once). Until the verifier sees the mapping, every
 *                   op counts as its own core: an upper bound. op = the
 *                   producer (-1 for a pixel), col = the neuron.
 *   V_IO_BITS       io_bits differs from io.bits (ANN and PIM modes).
 *   V_AXON_TYPES    weights.encoding = axon_types with k = weights.axon_types
 *                   (integer programs): a block row's axon type (NULL = all
 *                   0) must lie in 0..k-1, and within each column all rows
 *                   of one type must carry the same weight: W[j][i] depends
 *                   only on (j, axon_type[i]), one weight per neuron and
 *                   type. A weight of 0 is no exception (a row of another
 *                   core op is simply not in this block). Once per op, the
 *                   first break in row order: a bad type (row, col -1,
 *                   value = the type, limit = k), else the first row whose
 *                   weight in some column differs from the earliest row of
 *                   its type there (row, col, value = its weight, limit =
 *                   the earlier row's weight).
 *   V_FLOAT         a float program (the reform strategy's) is not runnable:
 *                   one violation for the program. The integer checks
 *                   (weights, biases, shifts, io bits) are then skipped; the
 *                   rest apply, so total - counts[V_FLOAT] says whether it
 *                   would fit once quantised.
 *
 * SNN mode: programs have no spiking semantics yet, so they are checked
 * like ANN programs (the last layer is CORE_LINEAR there too: it integrates
 * without spiking), except V_IO_BITS (io.bits is unused in SNN mode); the
 * bias bound takes io.bits as given (1 in the SNN presets: a spike per step).
 *
 * Order: program-wide, then blocks, then ops in order, then neurons (fan-out),
 * then outputs.
 */
#ifndef COMPILER_VERIFY_H
#define COMPILER_VERIFY_H

#include <stddef.h>

#include "hw.h"
#include "program.h"

typedef enum {
    V_ROWS,
    V_COLS,
    V_WEIGHT_RANGE,
    V_BIAS_RANGE,
    V_SHIFT,
    V_ACTIVATION,
    V_FANOUT,
    V_IO_BITS,
    V_STRUCTURE,
    V_FLOAT,
    V_AXON_TYPES,
    V_COUNT
} ViolationKind;

/* Which structural rule a V_STRUCTURE violation breaks (the meaning of its
 * fields in brackets). */
typedef enum {
    VS_NONE,
    VS_BLOCK_SHAPE,  /* block: rows (value) or cols (limit) < 1 */
    VS_BLOCK_DATA,   /* block: no weight or bias array */
    VS_BLOCK_INDEX,  /* op: block (value) not in 0 .. n_blocks-1 (limit) */
    VS_OUT,          /* op: first neuron (value) is not the next one (limit) */
    VS_GROUP,        /* op: group (value) not in 0 .. n_groups-1 (limit = n_groups) */
    VS_READ,         /* op: row reads neuron value, not below its first (limit); row -1: no list */
    VS_NEURONS,      /* program: n_neurons (value) != inputs + ops' cols (limit) */
    VS_NO_OUTPUTS,   /* program: no logits */
    VS_OUTPUT,       /* output row is neuron value, not an op's (limit = n_neurons) */
    VS_OUTPUT_ACT,   /* output row is neuron value of op, which is not CORE_LINEAR */
} VerifyRule;

typedef struct {
    ViolationKind kind;
    int op;                 /* core op, or -1 (program, block or input pixel) */
    int block;              /* its block, or -1 */
    int row, col;           /* where in the block / which neuron; -1 = n/a (see above) */
    long long value, limit; /* what was found and the bound it crosses */
    int rule;               /* V_STRUCTURE: a VerifyRule; else VS_NONE */
} Violation;

typedef struct {
    int n;                      /* violations stored in v */
    int cap;
    Violation *v;
    long long counts[V_COUNT];  /* every violation, per kind */
} VerifyReport;

/* Checks every core op and connection of p against hw; fills rep (all
 * violations, counted per kind; keeps the first `keep` of them in rep->v for
 * messages). rep is overwritten: free a previous report first. Returns the
 * total number of violations (0 = the program fits), or -1 on OOM (rep is
 * then empty). */
long long verify_program(const Program *p, const Hw *hw, VerifyReport *rep, int keep);
/* One line for stored violation i, e.g. "core op 12 (block 3): 300 rows >
 * crossbar.rows 256"; snprintf-like. */
int verify_describe(const VerifyReport *rep, int i, char *buf, size_t len);
/* "rows", "weight_range", ... ("?" for anything else). */
const char *verify_kind_name(ViolationKind k);
void verify_report_free(VerifyReport *rep);

#endif
