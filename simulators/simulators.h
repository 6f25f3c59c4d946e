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

/* The same for many calls on one program: ann_plan does the per-program
 * work once (p must outlive the plan); ann_plan_run gives ann_run's logits.
 * NULL only on OOM. */
typedef struct AnnPlan AnnPlan;
AnnPlan *ann_plan(const Program *p);
int ann_plan_run(const AnnPlan *plan, const int32_t *inputs, int n, int64_t *logits);
void ann_plan_free(AnnPlan *plan);

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
/* The same, and (values not NULL) every neuron's value as the chip computes
 * it, n × the program's n_neurons: inputs as the DAC clamps them, ReLU
 * outputs, and linear accumulators clamped to int32 (the full strategy
 * fits each part on what the parts before it really give). */
int pim_run_values(const PimChip *chip, const int32_t *inputs, int n, int64_t *logits, int32_t *values);

/* ------------------------------------------------------------- SNN
 * Spiking cores (DESIGN.md §6, simulators/snn.c; the plain reference path
 * the tests hold it to is snn_reference.h). Every CORE_RELU block is a layer
 * of integrate-and-fire neurons with threshold θ = 2^shift (shift 0: θ = 1;
 * a fixed hw->neuron.threshold is the compiler's to express as shift).
 * Potentials are int64 and start at 0. Per step t = 0 .. T−1, the core ops
 * run in program order, each neuron j of an op:
 *   1. V += Σ_i W_ij · s_i + bias_j   (s_i: row i's source value this step)
 *   2. activation = lif only: V moves toward 0 by λ, not past 0, where
 *      λ = round-half-up(hw->neuron.leak · θ) (leak is a fraction of θ);
 *      relu and if have no leak
 *   3. V ≥ θ: spike (s = 1) and V −= θ (reset = subtract) or V = 0
 *      (reset = zero); else s = 0.
 * Ops are topological, so a spike fired by op A at step t reaches a later op
 * B in the same step t: a synchronous layer-by-layer pipeline without delay
 * (a network of depth d answers at step 0 already). CORE_LINEAR blocks (the
 * output) do step 1 only, never spike and may not feed a core op (-1); their
 * V after step t is the logit at t.
 * Inputs are the quantised pixels x ∈ 0 .. top, top = 2^p->io_bits − 1 (a
 * value outside: -1), coded over T = hw->io.window steps (T < 1: -1) by
 * hw->io.input_coding:
 *   current  the input neuron's value is x at every step (multi-valued);
 *   rate     a spike at step t iff ⌊(t+1)·x/top⌋ > ⌊t·x/top⌋: evenly spread,
 *            ⌊T·x/top⌋ spikes after T steps, x = top every step;
 *   poisson  a spike at step t iff u·top < x·2^32, u = the top 32 bits of
 *            mix(key ^ t), key = mix(mix(mix(seed) ^ image) ^ pixel), seed =
 *            hw->io.seed, image = first_image + its index in the call, pixel =
 *            the input neuron; mix(z) is splitmix64's output function of z +
 *            0x9e3779b97f4a7c15 (simulators/snn_input.c). Probability x/top
 *            (to 2^−32); the same on any thread count or batch split. */
typedef struct {
    int64_t *logits;      /* [n][T][n_outputs]: the output potentials after each step (may be NULL) */
    int64_t *final;       /* [n][n_outputs]: after step T (may be NULL) */
    int64_t *spikes;      /* [n]: spikes fired by all core ops (may be NULL) */
    int32_t *counts;      /* [n][n_neurons]: each neuron's spikes over T steps, input pixels
                           * included (current coding: 0 for them); linear neurons 0 (may be NULL) */
} SnnOutput;

/* Runs n images (first_image: the index of the first, for poisson seeds).
 * Event-driven (silent inputs cost nothing) and multi-threaded over images;
 * the result does not depend on the thread count. out->spikes counts the
 * spikes of CORE_RELU neurons over all T steps (input spikes not included).
 * 0, or -1 on OOM or bad arguments (NULLs, n < 0, a float program, T < 1,
 * an input out of range, an op reading a missing, later or linear neuron,
 * an output that is not a linear neuron, an unknown coding or reset, leak
 * outside [0, 1]). */
int snn_run(const Program *p, const Hw *hw, const int32_t *inputs, int n, long first_image, SnnOutput *out);

#endif
