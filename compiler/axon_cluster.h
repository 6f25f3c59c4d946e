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
 * on (j, type[i])). Returns the weighted squared error, or -1 on OOM. */
double axon_cluster(const int32_t *w, int rows, int cols, const double *a, int k, int32_t wmax,
                    uint64_t seed, uint8_t *type, int32_t *w_out);

/* Refits a typed block to its inputs' second moments M ([rows][rows],
 * E[x_i x_i'] on calibration data), minimising the output error
 * Σ_j E[(Σ_i (w_ji − ŵ_ji) x_i)²], which counts correlated inputs: rounds of
 * a least-squares fit of each column's k weights (held near their values
 * where the inputs say little, by a small ridge) and moves of single rows
 * to the type that lowers the error most, until no row moves. The weights
 * are then rounded to −wmax .. wmax. Rewrites type and w_out (which comes
 * in as axon_cluster's). 0, or -1 on OOM. */
int axon_refit(const int32_t *w, int rows, int cols, uint8_t *type, int k, const double *M,
               int32_t wmax, int32_t *w_out);

#endif
