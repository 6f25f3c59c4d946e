/* The spiking simulator's synaptic sums on AVX-512 VNNI (snn_vnni.c): the
 * spikes of four rows in sixteen steps times their int8 weights as one
 * vpdpbusd per sixteen columns and step, summed in registers. Exact integer
 * sums, so the same as snn.c's portable path, which runs where the CPU
 * lacks the instructions. Private to the simulator and its tests. */
#ifndef SIMULATORS_SNN_VNNI_H
#define SIMULATORS_SNN_VNNI_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU runs snn_vnni_accumulate and the simulator may use it. */
int snn_vnni_usable(void);

/* Tests: 0 keeps the simulator on its portable path, 1 (the default) lets
 * it use VNNI where the CPU has it. Not for use while snn_run runs. */
void snn_vnni_allow(int allow);

/* Scratch of snn_vnni_accumulate for ops of up to `rows` rows and `cols`
 * columns, in bytes. */
size_t snn_vnni_scratch(int rows, int cols);

/* The op's rows that spiked in the chunk, as snn.c's gather: their indices
 * to act_row, trains to act_train, each with room for 16 more than `rows`;
 * trains[1 + in[i]] is row i's train, and trains has a slot after its last.
 * Returns how many. */
int snn_vnni_gather(const uint16_t *trains, const int32_t *in, int rows, int32_t *act_row, uint16_t *act_train);

/* S[t][off + j] += Σ_a (bit t of train[a]) · w8[row[a]][j] for the n
 * active rows (row[a], train[a]) of an op of `cols` columns, t < 16: w8 is
 * its transposed int8 block, rows of snn_padded(cols); S[t] starts at
 * sum + t·stride. Adds 0 to the padding columns up to snn_padded(cols).
 * scratch: snn_vnni_scratch bytes on a 64-byte boundary. */
void snn_vnni_accumulate(const int8_t *w8, int cols, const int32_t *row, const uint16_t *train, int n,
                         int32_t *sum, size_t stride, void *scratch);

#endif
