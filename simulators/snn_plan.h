/* What the spiking simulator prepares once per snn_run (snn_plan.c): the
 * checked program, its weights transposed (one contiguous row of `cols`
 * weights per crossbar row, what a spike adds), which blocks' per-step sums
 * fit int32, the ops grouped into layers, and where each output neuron is.
 * Read-only while images run. */
#ifndef SIMULATORS_SNN_PLAN_H
#define SIMULATORS_SNN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../compiler/program.h"
#include "snn_input.h"

/* Steps simulated per pass over the ops: one uint16_t spike train per neuron. */
#define SNN_CHUNK 16

/* Widest layer of several ops (a layer of one op may be wider). */
#define SNN_LAYER_COLS 512

/* Layer columns and rows of transposed weights are padded with zeros to a
 * multiple of this: whole vectors, no remainder loops. */
#define SNN_PAD 16

static inline int snn_padded(int n)
{
    return (n + SNN_PAD - 1) / SNN_PAD * SNN_PAD;
}

/* An output neuron: column `col` of its layer is logit `index`. */
typedef struct {
    int32_t col, index;
} SnnOutputCol;

/* Ops of one depth (1 + the deepest op they read, so none reads another)
 * with one activation, threshold and leak, such as the positions of a
 * convolution: they integrate and fire as one vector of columns. */
typedef struct {
    int first, n_ops;        /* its ops: order[first .. first + n_ops) */
    int32_t cols;            /* op k's neurons are its columns op_col[k] .. + that op's cols */
    int64_t theta, leak;
    int linear;              /* CORE_LINEAR: integrates, never fires */
    int wide;                /* potentials or sums may leave int32: int64 throughout */
    int bytes;               /* int32 and every weight fits int8: AMX and VNNI sum it in bytes */
    int reads_pixels;        /* some row reads an input neuron */
    size_t outs_first, outs_end; /* its outputs: outs[outs_first .. outs_end) */
} SnnLayer;

typedef struct {
    const Program *p;
    int T;
    int reset_zero;
    SnnCoding coding;
    int32_t **wt;            /* per block: weights transposed, [rows][snn_padded(cols)] */
    int8_t **wt8;            /* per block: the same as int8 where every weight fits, else NULL */
    int8_t **wamx;           /* per block with wt8, if amx: its weights as AMX tiles (snn_amx.h) */
    int32_t **bias32;        /* per block: its biases as int32, where they fit (else NULL) */
    int64_t *theta;          /* per block: the threshold 2^shift */
    int64_t *leak;           /* per block: how far V moves toward 0 per step (0 unless lif) */
    int any_wide;            /* some layer is wide */
    int vnni;                /* layers of int8 weights sum on VNNI (snn_vnni.h) ... */
    int amx;                 /* ... or on AMX (snn_amx.h), where the CPU has them */
    int max_rows, max_cols;  /* the largest op's rows, the widest layer's cols */
    int n_layers;
    SnnLayer *layers;        /* by depth: a layer reads only pixels and earlier layers */
    int *order;              /* [n_ops]: the ops, layer by layer */
    int32_t *op_col;         /* [n_ops]: where op k's neurons start among its layer's columns */
    SnnOutputCol *outs;      /* [n_outputs], layer by layer */
    uint8_t bit_at[256][8];  /* the positions of the set bits of a byte, lowest first */
    uint8_t bit_count[256];  /* and how many */
} SnnPlan;

/* `bytes` of memory starting on a cache line (free() it), zeroed if
 * `zero`: whole-vector loads and stores of rows that start on a line then
 * never split one. NULL on OOM. */
void *snn_lines(size_t bytes, int zero);

/* Checks the arguments (see snn_run in simulators.h) and builds the plan.
 * 0, or -1 (bad arguments or OOM) with nothing left allocated. */
int snn_plan_make(const Program *p, const Hw *hw, SnnPlan *pl);
void snn_plan_free(SnnPlan *pl);

#endif
