/* The programmed PIM chip that pim_program (pim_program.c) builds and pim_run
 * (pim.c) reads; private to those two files. The semantics are in pim.c. */
#ifndef SIMULATORS_PIM_CHIP_H
#define SIMULATORS_PIM_CHIP_H

#include <stddef.h>
#include <stdint.h>

#include "../compiler/program.h"
#include "simulators.h"

/* 128-bit integers for the exact ADC arithmetic (GCC and Clang). */
__extension__ typedef __int128 pim_i128;
__extension__ typedef unsigned __int128 pim_u128;

/* Fraction bits of a noisy conductance (pim.c: "Programmed cells"). */
#define PIM_FRAC_BITS 16

/* One weight block as crossbar cells. */
typedef struct {
    int rows, cols, shift;
    CoreActivation act;
    int64_t full;   /* the ADC full scale F in column-sum units, >= 1 */
    int64_t *bias;  /* [cols] */
    int64_t *g;     /* [arrays][cells][rows][cols]: conductances in units of 2^-frac_bits level */
} PimBlock;

/* The fast path's plan (pim_fast.c), made when the chip is programmed. */
typedef struct PimFast PimFast;

struct PimChip {
    /* the periphery, from the hardware description */
    int io_bits;
    int dac_bits, slices;     /* slice width d (io_bits when pim.dac_bits = 0), ⌈io_bits/d⌉ */
    int arrays;               /* 2 differential (positive, negative), 1 single-ended */
    int cells, cell_bits;     /* per weight magnitude */
    int adc_bits;             /* 0 = exact conversion */
    int frac_bits;            /* PIM_FRAC_BITS with noise, else 0 */
    int64_t offset;           /* single-ended: 2^(weights.bits-1), subtracted digitally; else 0 */
    /* the program's wiring (copied: the chip does not keep the Program) */
    int n_inputs, n_neurons, n_blocks, n_ops, n_outputs, max_rows, max_cols;
    PimBlock *blocks;
    int32_t *op_block, *op_out; /* [n_ops] */
    size_t *op_first;           /* [n_ops]: where the op's source neurons start in `in` */
    int32_t *in;                /* every op's `rows` source neurons, in op order */
    int32_t *outputs;           /* [n_outputs] */
    PimFast *fast;              /* NULL: pim_run takes the reference path of pim.c */
};

/* pim_fast.c: the fast path's plan for a chip just programmed from p, or
 * NULL when the chip is outside it (conductance noise, io_bits > 8, sums
 * beyond its exact ranges, an op reading a logit) or on OOM; pim_run then
 * runs pim.c's reference path, which gives the same logits. */
PimFast *pim_fast_make(const PimChip *chip, const Program *p);
void pim_fast_free(PimFast *f);
/* pim_run_values on chip->fast (not NULL): 0, or -1 on OOM. */
int pim_fast_run(const PimChip *chip, const int32_t *inputs, int n, int64_t *logits, int32_t *values);

#endif
