/* simulators — bit-exact reference simulators of the chips (DESIGN.md §6).
 * They run compiled programs (compiler/program.h) on integer inputs and
 * never see the network they came from. */
#ifndef SIMULATORS_SIMULATORS_H
#define SIMULATORS_SIMULATORS_H

#include <stdint.h>

#include <stddef.h>

#include "../compiler/program.h"

/* ANN cores: runs n images (n × p->n_inputs input values, already quantised
 * to 0 .. 2^io_bits − 1) and writes n × p->n_outputs logits (the output
 * ops' accumulators). Multi-threaded over images; the result does not
 * depend on the thread count. 0, or -1 on OOM. */
int ann_run(const Program *p, const int32_t *inputs, int n, int64_t *logits);

/* A float program (the `reform` strategy): the same wiring with float
 * weights and an unbounded ReLU, accumulated in double. Inputs are n ×
 * n_inputs floats; same threading and determinism as ann_run. */
int ann_run_float(const Program *p, const float *inputs, int n, float *logits);

/* ------------------------------------------------------------- PIM
 * ReRAM crossbars (DESIGN.md §6, simulators/pim.c). A program is
 * "programmed" onto a chip once: every weight is split into cells
 * (hw->weights.cells of cell_bits, in a positive and a negative array when
 * hw->pim.differential), and the chip's conductance noise and stuck-at
 * cells are drawn from hw->pim.seed and kept. Inputs enter in DAC slices of
 * dac_bits; every (slice, cell, array) column sum goes through an ADC of
 * adc_bits whose full scale is the block's adc_full (set by the compiler),
 * or hw->pim.adc_range × the largest possible column sum when adc_full is 0;
 * the converted values are shifted and added digitally, then the core's
 * shift, ReLU and clamp follow as on the ANN core. With adc_bits = 0 (ideal),
 * no noise and no stuck cells the logits equal ann_run's bit for bit. */
typedef struct PimChip PimChip;

/* Programs p onto a chip described by hw (a copy of what it needs is kept;
 * an encoding other than cells stores each weight as one cell of
 * weights.bits). NULL with a message in err: a float or invalid program, a
 * weight its cells cannot hold, sums too wide for int64, OOM. */
PimChip *pim_program(const Program *p, const Hw *hw, char *err, size_t errlen);
void pim_free(PimChip *chip);
/* Runs n images (inputs as for ann_run) on the programmed chip: n ×
 * n_outputs logits. Multi-threaded over images; the result does not depend
 * on the thread count. 0, or -1 on OOM. */
int pim_run(const PimChip *chip, const int32_t *inputs, int n, int64_t *logits);

/* ------------------------------------------------------------- SNN
 * Spiking cores (DESIGN.md §6, simulators/snn.c). Every CORE_RELU block is a
 * layer of integrate-and-fire neurons with threshold 2^shift: per step
 * V += Σ W·s + bias, then the leak (hw->neuron.leak, toward 0, for
 * activation = lif), then a spike if V ≥ 2^shift, with V −= 2^shift
 * (reset = subtract) or V = 0 (reset = zero). Spikes are 0/1. CORE_LINEAR
 * blocks (the output) integrate without spiking; their V after step t is
 * the logit at t. Inputs are the quantised pixels x ∈ 0 .. 2^io_bits − 1,
 * coded over T = hw->io.window steps by hw->io.input_coding: current (x is
 * injected every step), rate (a deterministic train of about x·T/(2^io_bits−1)
 * spikes) or poisson (spike with probability x/(2^io_bits−1), seeded by
 * hw->io.seed, the image's index and the pixel: the same on any thread). */
typedef struct {
    int64_t *logits;      /* [n][T][n_outputs]: the output potentials after each step (may be NULL) */
    int64_t *final;       /* [n][n_outputs]: after step T (may be NULL) */
    int64_t *spikes;      /* [n]: spikes fired by all core ops (may be NULL) */
} SnnOutput;

/* Runs n images (first_image: the index of the first, for poisson seeds).
 * Event-driven (silent inputs cost nothing) and multi-threaded over images;
 * the result does not depend on the thread count. 0, or -1 on OOM. */
int snn_run(const Program *p, const Hw *hw, const int32_t *inputs, int n, long first_image, SnnOutput *out);

#endif
