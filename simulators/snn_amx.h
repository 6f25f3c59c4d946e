/* The spiking simulator's synaptic sums on AMX-INT8 (snn_amx.c): the
 * spikes of 64 rows in 16 steps times their int8 weights for 16 columns as
 * one tile multiply (tdpbusd), S[t] itself the accumulator tile. Exact
 * integer sums, so the same as the VNNI and portable paths, which run where
 * the CPU or the kernel lacks AMX. Private to the simulator and its tests. */
#ifndef SIMULATORS_SNN_AMX_H
#define SIMULATORS_SNN_AMX_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU has AMX-INT8, the kernel lets this process use its tiles
 * (asked for once), and snn_amx_allow has not said no. */
int snn_amx_usable(void);

/* Tests: 0 keeps the simulator off AMX, 1 (the default) lets it use it. */
void snn_amx_allow(int allow);

/* A block's weights laid out as AMX's B tiles, from w[cols][rows] (a
 * program block's layout): bytes of snn_amx_weights_size, on a 64-byte
 * boundary; NULL on OOM. */
size_t snn_amx_weights_size(int rows, int cols);
int8_t *snn_amx_weights(const int32_t *w, int rows, int cols);

/* Scratch of snn_amx_accumulate for ops of up to `rows` rows, in bytes. */
size_t snn_amx_scratch(int rows);

/* The calling thread's tile configuration, before its first
 * snn_amx_accumulate; snn_amx_end gives the tiles back. */
void snn_amx_begin(void);
void snn_amx_end(void);

/* S[t][j] += Σ_i (bit t of row i's train) · w[i][j] for the op of `rows`
 * rows and `cols` columns whose B tiles are wa: row i's train is
 * trains[1 + in[i]] (trains with a slot after its last); S[t] starts at
 * sum + t·stride, t < 16. Adds 0 to the padding columns up to
 * snn_padded(cols). scratch: snn_amx_scratch bytes on a 64-byte boundary. */
void snn_amx_accumulate(const int8_t *wa, int rows, int cols, const uint16_t *trains, const int32_t *in,
                        int32_t *sum, size_t stride, void *scratch);

#endif
