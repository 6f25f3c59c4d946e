/* A compiled program: what a chip runs (DESIGN.md §1, §6).
 *
 * Neurons are numbered globally: 0 .. n_inputs−1 are the input pixels (as
 * the chip receives them, quantised to the I/O precision); every core op
 * then produces `cols` consecutive neurons. A core op reads `rows` neurons
 * (any earlier ones, or PROGRAM_ZERO for a constant 0 such as convolution
 * padding) through a crossbar of integer weights:
 *
 *     acc_j = Σ_i W[j][i] · x[in_i] + bias_j
 *     y_j   = clamp(round(acc_j · 2^−shift), 0, 2^io_bits − 1)   (CORE_RELU)
 *     y_j   = acc_j, read out as a logit                        (CORE_LINEAR)
 *
 * round() is round half up: (acc + 2^(shift−1)) >> shift, an arithmetic
 * shift. Weights live in blocks that many core ops share (every position of
 * a convolution uses one block), so a program stays small and tuning a
 * block tunes all its positions.
 */
#ifndef COMPILER_PROGRAM_H
#define COMPILER_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "hw.h"

#define PROGRAM_ZERO (-1) /* an input row wired to constant 0 */

/* Copy m of k (data re-encoding, CoreBlock.expand): its offset in levels,
 * spread evenly over (−1/2, 1/2) so the copies' rounding errors cancel. */
static inline double expand_offset(int k, int m) { return k > 1 ? (m + 0.5) / k - 0.5 : 0; }

typedef enum { CORE_RELU, CORE_LINEAR } CoreActivation;

typedef struct {
    int rows, cols;      /* fan-in and neurons of one core op */
    int32_t *w;          /* [cols][rows] */
    int64_t *bias;       /* [cols], in accumulator units */
    int shift;           /* 0..62 */
    CoreActivation act;
    /* PIM chips: the full scale of this block's ADCs, in column-sum units
     * (simulators/pim.c); 0 = not set, the chip derives it from
     * pim.adc_range. Calibration sets it; other chips ignore it. */
    int64_t adc_full;
    /* weights.encoding = axon_types (TrueNorth): each row's axon type,
     * 0 .. k−1 ([rows]); NULL = every row has type 0. W[j][i] then
     * depends only on (j, axon_type[i]): one weight per neuron and type. */
    uint8_t *axon_type;
    /* A float program (the `reform` strategy: core ops before any
     * quantisation) has these instead, and an unbounded ReLU. */
    float *wf, *bf;
    /* Data re-encoding (tune.expand, float programs): each value is carried
     * by `expand` neurons, its columns c·expand .. c·expand + expand − 1,
     * identical in float; quantising gives copy m the level offset
     * expand_offset(expand, m), so that their sum resolves 1/expand of a
     * level (a dithered code). 0 or 1: one neuron per value. */
    int expand;
} CoreBlock;

typedef struct {
    int block;           /* index into blocks */
    int32_t *in;         /* `rows` source neurons, or PROGRAM_ZERO */
    int32_t out;         /* its first neuron; `cols` follow */
    int part;            /* the original node it implements (reports, tuning) */
    int group;           /* ops of one group output values on one scale (a
                          * materialised layer, or one level of its partial sums) */
} CoreOp;

typedef struct {
    int is_float;        /* 1: blocks hold wf/bf (see CoreBlock) */
    int io_bits;         /* y ∈ 0 .. 2^io_bits − 1 */
    int input_shift;     /* an integer program's inputs: pixel / 2^input_shift, rounded */
    int n_inputs;        /* pixels: neurons 0 .. n_inputs−1 */
    int n_neurons;       /* inputs plus every core op's outputs */
    int n_blocks, n_ops, cap_blocks, cap_ops;
    CoreBlock *blocks;
    CoreOp *ops;         /* topological: an op reads only neurons below its own */
    int n_outputs;
    int32_t *outputs;    /* the logits: neurons of CORE_LINEAR ops */
    int n_groups;        /* groups are 0 .. n_groups−1 */
} Program;

/* An empty program over n_inputs input neurons. NULL on OOM. */
Program *program_create(int n_inputs, int io_bits);
void program_free(Program *p);
/* Adds a block with copies of w ([cols][rows]) and bias ([cols]; NULL = 0) and adc_full 0;
 * returns its index or -1. */
int program_add_block(Program *p, int rows, int cols, const int32_t *w, const int64_t *bias,
                      int shift, CoreActivation act);
/* The same for a float program (program_create_float). */
int program_add_block_float(Program *p, int rows, int cols, const float *w, const float *bias,
                            CoreActivation act);
Program *program_create_float(int n_inputs);
/* Gives block b a copy of types ([rows]), or none (NULL: every row type 0),
 * freeing what it had. 0, or -1 (OOM, bad block). */
int program_set_axon_types(Program *p, int b, const uint8_t *types);

/* Adds a core op of block `block` reading `in` (a copy is kept); returns the
 * id of its first output neuron, or -1 (OOM, bad block, group < 0). */
int32_t program_add_op(Program *p, int block, const int32_t *in, int part, int group);
/* Declares the logits (copied). 0 or -1. */
int program_set_outputs(Program *p, const int32_t *neurons, int n);

/* Structural soundness, whatever the hardware: blocks and ids in range, ops
 * reading only earlier neurons, outputs from linear ops. 0, or -1 with the
 * first problem in err. (Hardware limits are the verifier's job.) */
int program_validate(const Program *p, char *err, size_t errlen);

/* ------------------------------------------------------------ files */

#define PROGRAM_FORMAT_VERSION 1

/* Where a saved program came from and what compiling it measured. Numbers
 * are -1 when unknown (chips, n_cores: 0). The mapping arrays are optional
 * (NULL). program_save only reads it, so the arrays may be borrowed (a
 * Mapping's); program_load fills it with its own allocations, which
 * program_info_free releases. */
typedef struct {
    char model[4096];          /* the model file (or zoo name) compiled */
    char dataset[64];          /* the data set it was calibrated and evaluated on */
    char strategy[32];         /* reform, naive, full, ... */
    double orig_accuracy, compiled_accuracy;
    double transform_s;        /* compile time */
    double utilization;        /* weights held / (cores × rows × cols) */
    long long traffic;         /* values × hops per image */
    int chips;
    int n_cores;               /* cores used */
    int *core_of_op;           /* [n_ops]: 0 .. n_cores − 1 */
    int *core_x, *core_y;      /* [n_cores]: mesh positions */
} ProgramInfo;

/* Everything unknown, no arrays. */
void program_info_init(ProgramInfo *info);
/* Frees the arrays program_load allocated and resets info. */
void program_info_free(ProgramInfo *info);

/* Saves p (and the hardware description it was compiled for, its mapping
 * and stats; info may be NULL) as HDF5 (layout in program_h5.c). The program
 * must pass program_validate. Writes PATH.tmp.PID and renames it, so a
 * failure leaves nothing. 0, or -1 with "PATH: ..." in err. */
int program_save(const Program *p, const Hw *hw, const ProgramInfo *info, const char *path,
                 char *err, size_t errlen);
/* Loads a saved program: *p (program_free it), *hw and *info (program_info_free
 * it; may be NULL). Everything is checked, then program_validate; a damaged
 * or tampered file gives "PATH: what is wrong" and leaves *p NULL. */
int program_load(const char *path, Program **p, Hw *hw, ProgramInfo *info, char *err,
                 size_t errlen);

#endif
