/* One block's weight tuning (see tune_solve in tune.h).
 *
 * With H = UᵀU + λI and G = UᵀY, free tuning is the ridge solution
 * W = H⁻¹(G + λ·w0): the weights that best reproduce the original's
 * pre-activations from the inputs the constrained network really gives,
 * pulled towards the naive weights where the data say little (λ is H's
 * mean diagonal times 10⁻³, or times (unknowns / samples)² when samples
 * are few: a dense layer seen on a few hundred images must not be overfitted). Rounding then follows GPTQ (Frantar et al. 2022):
 * rows are rounded one at a time, and each one's error, divided by the
 * diagonal of the upper Cholesky factor C of H⁻¹ (H⁻¹ = CᵀC), is carried
 * into the rows not yet rounded along C's row — the least-squares optimal
 * correction of the remaining weights. The bias row comes last and is
 * never clipped (biases are wide), so it absorbs what is left. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "tune.h"

/* LAPACK, from OpenBLAS (Fortran calling convention, column-major). */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info);

#define RIDGE 1e-3

/* H = UᵀU + λI over R = rows + 1 unknowns (full symmetric, row-major);
 * returns λ. */
static double hessian(const TuneProblem *tp, double *H)
{
    const int R = tp->rows + 1;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, R, tp->n, 1.0, tp->U, R, 0.0, H, R);
    double mean = 0;
    for (int i = 0; i < R; i++)
        mean += H[(size_t)i * R + i];
    double few = (double)R / (tp->n > 0 ? tp->n : 1), strength = few * few;
    double lambda = (strength > RIDGE ? strength : RIDGE) * (mean > 0 ? mean / R : 1) + 1e-9;
    for (int i = 0; i < R; i++) {
        H[(size_t)i * R + i] += lambda;
        for (int j = 0; j < i; j++)
            H[(size_t)i * R + j] = H[(size_t)j * R + i];
    }
    return lambda;
}

/* W [R][cols] = H⁻¹(UᵀY + λ w0), with Hc the Cholesky factor of H. */
static int ridge_solve(const TuneProblem *tp, double lambda, const double *Hc, double *W)
{
    const int R = tp->rows + 1, C = tp->cols;
    memcpy(W, tp->w0, sizeof *W * (size_t)R * C);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, C, tp->n, 1.0, tp->U, R, tp->Y, C, lambda, W, C);
    /* Row-major W [R][C] is column-major [C][R]ᵀ: solve with the
     * transposed system, which is the same since H is symmetric. */
    double *Wt = malloc(sizeof *Wt * (size_t)R * C);
    if (!Wt)
        return -1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            Wt[(size_t)j * R + i] = W[(size_t)i * C + j];
    int info = 0;
    dpotrs_("L", &R, &C, Hc, &R, Wt, &R, &info);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            W[(size_t)i * C + j] = Wt[(size_t)j * R + i];
    free(Wt);
    return info ? -1 : 0;
}

int tune_solve(const TuneProblem *tp, int free_phase, int round_phase, int linear, int wmax, int shift_max,
               int32_t *w, int64_t *bias, int *shift)
{
    const int R = tp->rows + 1, C = tp->cols;
    double *H = malloc(sizeof *H * (size_t)R * R), *Hc = malloc(sizeof *Hc * (size_t)R * R);
    double *W = malloc(sizeof *W * (size_t)R * C), *E = malloc(sizeof *E * (size_t)C);
    int rc = H && Hc && W && E ? 0 : -1, info = 0;
    if (rc)
        goto done;
    double lambda = hessian(tp, H);
    memcpy(Hc, H, sizeof *H * (size_t)R * R);
    dpotrf_("L", &R, Hc, &R, &info); /* row-major upper = column-major lower */
    if (info) {                     /* not positive definite: keep the naive block */
        free_phase = 0;
        round_phase = 0;
    }
    if (free_phase)
        rc = ridge_solve(tp, lambda, Hc, W);
    else
        memcpy(W, tp->w0, sizeof *W * (size_t)R * C);
    if (rc)
        goto done;
    /* The shift: as fine as the weight bits allow, every weight rounding
     * to at most wmax (θ = 2^shift scales weights and bias alike). */
    double big = 0;
    for (size_t i = 0; i < (size_t)tp->rows * C; i++)
        big = fabs(W[i]) > big ? fabs(W[i]) : big;
    int s = *shift;
    if (!linear) {
        s = big > 0 ? (int)floor(log2((wmax + 0.5) / big)) : 0;
        s = s < 0 ? 0 : s > shift_max ? shift_max : s;
    }
    for (size_t i = 0; i < (size_t)R * C; i++)
        W[i] = ldexp(W[i], s);
    *shift = s;
    if (round_phase) { /* C: the upper Cholesky factor of H⁻¹ */
        dpotri_("L", &R, Hc, &R, &info);
        for (int i = 0; i < R && !info; i++)
            for (int j = 0; j < i; j++)
                Hc[(size_t)i * R + j] = Hc[(size_t)j * R + i];
        if (!info)
            dpotrf_("L", &R, Hc, &R, &info);
        round_phase = !info;
    }
    for (int i = 0; i < tp->rows; i++) {
        for (int j = 0; j < C; j++) {
            double q = nearbyint(W[(size_t)i * C + j]);
            q = q > wmax ? wmax : q < -wmax ? -wmax : q;
            E[j] = W[(size_t)i * C + j] - q;
            W[(size_t)i * C + j] = q;
        }
        if (!round_phase)
            continue;
        double d = Hc[(size_t)i * R + i];
        for (int r = i + 1; r < R; r++) {
            double f = Hc[(size_t)i * R + r] / d;
            if (f != 0)
                cblas_daxpy(C, -f, E, 1, W + (size_t)r * C, 1);
        }
    }
    for (int j = 0; j < C; j++) {
        for (int i = 0; i < tp->rows; i++)
            w[(size_t)j * tp->rows + i] = (int32_t)W[(size_t)i * C + j];
        bias[j] = llround(W[(size_t)tp->rows * C + j]);
    }
done:
    free(H);
    free(Hc);
    free(W);
    free(E);
    return rc;
}
