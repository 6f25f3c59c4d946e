/* Weighted k-means of a block's rows into axon types (used by axon_types.c).
 *
 * A block's rows are vectors over its columns; giving each row one of k
 * types and each (column, type) one integer weight is clustering the rows
 * into k centroids. axon_cluster minimises Σ_i a_i · ‖w_i − c_type(i)‖²
 * (a_i: how much row i's input matters) by Lloyd's iterations from several
 * starts: a deterministic farthest-point start (exact whenever the block has
 * at most k distinct rows) and seeded k-means++ starts; the centroids are
 * then rounded to integers in −wmax .. wmax with the rows re-assigned to the
 * rounded values. Deterministic for one seed. */
#ifndef COMPILER_AXON_CLUSTER_H
#define COMPILER_AXON_CLUSTER_H

#include <stdint.h>

/* w: [cols][rows] target weights; a: [rows] row weights (> 0); writes
 * type[rows] (0 .. k−1) and w_out ([cols][rows], w_out[j][i] depending only
 * on (j, type[i])). Returns the weighted squared error, or -1 on OOM or
 * an empty block (rows, cols or k < 1). */
double axon_cluster(const int32_t *w, int rows, int cols, const double *a, int k, int32_t wmax,
                    uint64_t seed, uint8_t *type, int32_t *w_out);

/* Refits a typed block to its inputs' second moments M ([rows][rows],
 * E[x_i x_i'] on calibration data, axon_refit.c), minimising the output
 * error Σ_j E[(Σ_i (w_ji − ŵ_ji) x_i)²], which counts correlated inputs:
 * rounds of a least-squares fit of each column's k weights (held near
 * their values where the inputs say little, by a small ridge), moves of
 * single rows to the type that lowers the error most, and, with `spare`
 * rows free, extra rows that copy a row with another of the types (the
 * row's weight becomes the sum: a neuron gets more values for the inputs
 * that need them), each only if it lowers the error. Then the weights are
 * rounded to −wmax .. wmax.
 *
 * In: type and w_out ([cols][rows]) from axon_cluster. Out: type, the
 * extra rows (*n_extra <= spare of them: extra_row[e] is the row copied,
 * extra_type[e] its type, never one the row already has) and w_out as
 * [cols][rows + *n_extra] (the extra rows last); w_out must hold
 * cols × (rows + spare). 0, or -1 on OOM. */
int axon_refit(const int32_t *w, int rows, int cols, uint8_t *type, int k, const double *M,
               int32_t wmax, int spare, int *extra_row, uint8_t *extra_type, int *n_extra,
               int32_t *w_out);

#endif
