/* Private to reform: MLP approximators of non-core functions.
 *
 * A function the chip cannot compute (sigmoid, tanh, LRN) becomes one hidden
 * layer of ReLU core ops and a linear read-out that merges into the
 * consumer: g(x) = a0 + Σ_k a_k · relu(x − t_k), a piecewise-linear fit with
 * knots t_k at quantiles of the node's real inputs, weights by least squares
 * (LAPACK's dposv from OpenBLAS) on samples of those inputs. */
#ifndef COMPILER_APPROX_H
#define COMPILER_APPROX_H

#include "../nn/nn.h"

typedef struct {
    int k;              /* hidden ReLUs */
    double a0;
    double *t, *a;      /* [k] knots and output weights */
    double rms;         /* fit error on the samples */
} Approx;

/* Fits g to (x[i], y[i]), i < n, with k knots; 0 or -1 (OOM, no samples). */
int approx_fit(const float *x, const float *y, size_t n, int k, Approx *g);
void approx_free(Approx *g);

/* Runs net over n calibration images (raw pixels, normalised by norm) and
 * gives, for layer `layer`, up to `max` (input, output) value pairs taken
 * evenly over all its elements and images. 0 or -1 (OOM). */
int approx_samples(Net *net, const Normalize *norm, const uint8_t *px, int n, int layer, size_t max,
                   float **x, float **y, size_t *count);

#endif
