/* The least-squares refit of a typed block to calibration data, with
 * spare rows spent on extra copies (see axon_refit in axon_cluster.h).
 *
 * A row's types are a set: N[i][t] = 1 when row i (or a copy of it) has
 * type t, so the typed weights are Ŵ = N Sᵀ (S: [cols][k]) and the error
 * of column j is Δ_j = w_j − N s_j, costing Δ_jᵀ M Δ_j. With N fixed,
 * s_j = (Nᵀ M N)⁻¹ Nᵀ M w_j; with S fixed, moving or adding a type of one
 * row changes Δ in that row only, and P = M Δ prices it in O(cols). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "axon_cluster.h"

#define REFIT_ROUNDS 12 /* least-squares fits, with row moves between them */

/* Solves the k×k system A s = b in place (Gaussian elimination with
 * partial pivoting; A is positive definite here). */
static void solve_small(double *A, double *b, int k)
{
    for (int c = 0; c < k; c++) {
        int piv = c;
        for (int r = c + 1; r < k; r++)
            piv = fabs(A[r * k + c]) > fabs(A[piv * k + c]) ? r : piv;
        for (int j = 0; j < k; j++) {
            double t = A[c * k + j];
            A[c * k + j] = A[piv * k + j];
            A[piv * k + j] = t;
        }
        double t = b[c];
        b[c] = b[piv];
        b[piv] = t;
        for (int r = c + 1; r < k; r++) {
            double f = A[c * k + c] != 0 ? A[r * k + c] / A[c * k + c] : 0;
            for (int j = c; j < k; j++)
                A[r * k + j] -= f * A[c * k + j];
            b[r] -= f * b[c];
        }
    }
    for (int c = k - 1; c >= 0; c--) {
        double s = b[c];
        for (int j = c + 1; j < k; j++)
            s -= A[c * k + j] * b[j];
        b[c] = A[c * k + c] != 0 ? s / A[c * k + c] : 0;
    }
}

#define BLAS_FROM 4000000 /* multiply-adds from which a product is worth OpenBLAS's threads */

/* Y = M X (M: [R][R] symmetric, X, Y: [R][n]). */
static void product(const double *M, int R, const double *X, int n, double *Y)
{
    if ((double)R * R * n >= BLAS_FROM) {
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, R, n, 1.0, M, R, X, n, 0.0, Y, n);
        return;
    }
    memset(Y, 0, sizeof *Y * (size_t)R * n);
    for (int r = 0; r < R; r++)
        for (int i = 0; i < R; i++) {
            const double m = M[(size_t)r * R + i];
            for (int j = 0; m != 0 && j < n; j++)
                Y[(size_t)r * n + j] += m * X[(size_t)i * n + j];
        }
}

typedef struct {
    int R, C, k;
    const int32_t *w;   /* [C][R] targets */
    const double *M;    /* [R][R] */
    double *N;          /* [R][k] type sets */
    double *S;          /* [C][k] weights per (column, type) */
    double *P;          /* [R][C] M Δ */
    double *MN, *G, *A, *b, *D, *delta;
} Fit;

/* S = the ridge-held least squares for the current N. */
static void fit_values(Fit *f)
{
    const int R = f->R, C = f->C, k = f->k;
    product(f->M, R, f->N, k, f->MN);
    memset(f->G, 0, sizeof *f->G * (size_t)k * k); /* G = Nᵀ M N: N is a 0/1 matrix */
    for (int i = 0; i < R; i++)
        for (int u = 0; u < k; u++)
            if (f->N[(size_t)i * k + u] != 0)
                for (int v = 0; v < k; v++)
                    f->G[u * k + v] += f->MN[(size_t)i * k + v];
    double trace = 0;
    for (int t = 0; t < k; t++)
        trace += f->G[t * k + t];
    const double ridge = 1e-3 * (trace > 0 ? trace / k : 1);
    for (int j = 0; j < C; j++) {
        memcpy(f->A, f->G, sizeof *f->A * (size_t)k * k);
        for (int t = 0; t < k; t++) {
            f->A[t * k + t] += ridge;
            f->b[t] = ridge * f->S[(size_t)j * k + t];
        }
        for (int i = 0; i < R; i++)
            for (int t = 0; t < k; t++)
                f->b[t] += f->MN[(size_t)i * k + t] * f->w[(size_t)j * R + i];
        solve_small(f->A, f->b, k);
        memcpy(f->S + (size_t)j * k, f->b, sizeof *f->b * (size_t)k);
    }
}

/* P = M Δ for the current N and S. */
static void price(Fit *f)
{
    const int R = f->R, C = f->C, k = f->k;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            double v = f->w[(size_t)j * R + i];
            for (int t = 0; t < k; t++)
                v -= f->N[(size_t)i * k + t] * f->S[(size_t)j * k + t];
            f->D[(size_t)i * C + j] = v;
        }
    product(f->M, R, f->D, C, f->P);
}

/* The change of the error when row i's weights change by −d (d: [C]), and
 * applying it (update = 1). */
static double change(Fit *f, int i, const double *d, int update)
{
    const int R = f->R, C = f->C;
    double g = 0, mii = f->M[(size_t)i * R + i];
    for (int j = 0; j < C; j++)
        g += -2 * d[j] * f->P[(size_t)i * C + j] + d[j] * d[j] * mii;
    for (int r = 0; update && r < R; r++) { /* Δ_i −= d, so P −= M[:, i] dᵀ (too small to thread) */
        const double m = f->M[(size_t)i * R + r];
        for (int j = 0; m != 0 && j < C; j++)
            f->P[(size_t)r * C + j] -= m * d[j];
    }
    return g;
}

/* Row i's weight change when type `from` (or none: -1) becomes `to` (or none). */
static void step(const Fit *f, int from, int to, double *d)
{
    for (int j = 0; j < f->C; j++)
        d[j] = (to >= 0 ? f->S[(size_t)j * f->k + to] : 0) - (from >= 0 ? f->S[(size_t)j * f->k + from] : 0);
}

/* Each row's own type to the best one it does not hold yet; returns moves. */
static int move_rows(Fit *f, uint8_t *type)
{
    int moved = 0;
    for (int i = 0; i < f->R; i++) {
        int from = type[i], best = -1;
        double best_g = -1e-9 * (f->M[(size_t)i * f->R + i] > 0 ? f->M[(size_t)i * f->R + i] : 1);
        for (int to = 0; to < f->k; to++) {
            if (f->N[(size_t)i * f->k + to] != 0)
                continue;
            step(f, from, to, f->delta);
            double g = change(f, i, f->delta, 0);
            if (g < best_g)
                best_g = g, best = to;
        }
        if (best < 0)
            continue;
        step(f, from, best, f->delta);
        change(f, i, f->delta, 1);
        f->N[(size_t)i * f->k + from] = 0;
        f->N[(size_t)i * f->k + best] = 1;
        type[i] = (uint8_t)best;
        moved++;
    }
    return moved;
}

/* Spends up to `budget` extra rows, best first, while one lowers the
 * error by a noticeable share of it; returns those added. */
static int add_copies(Fit *f, int budget, double total)
{
    int added = 0;
    for (; added < budget; added++) {
        int bi = -1, bt = -1;
        double best_g = -1e-4 * total;
        for (int i = 0; i < f->R; i++)
            for (int t = 0; t < f->k; t++) {
                if (f->N[(size_t)i * f->k + t] != 0)
                    continue;
                step(f, -1, t, f->delta);
                double g = change(f, i, f->delta, 0);
                if (g < best_g)
                    best_g = g, bi = i, bt = t;
            }
        if (bi < 0)
            break;
        step(f, -1, bt, f->delta);
        change(f, bi, f->delta, 1);
        f->N[(size_t)bi * f->k + bt] = 1;
        total += best_g;
    }
    return added;
}

/* Σ_j Δ_jᵀ M Δ_j from D and P. */
static double error(const Fit *f)
{
    double e = 0;
    for (size_t i = 0; i < (size_t)f->R * f->C; i++)
        e += f->D[i] * f->P[i];
    return e;
}

int axon_refit(const int32_t *w, int rows, int cols, uint8_t *type, int k, const double *M, int32_t wmax,
               int spare, int *extra_row, uint8_t *extra_type, int *n_extra, int32_t *w_out)
{
    const size_t R = (size_t)rows, C = (size_t)cols, K = (size_t)k;
    Fit f = {rows, cols, k, w, M, calloc(R * K, sizeof(double)), calloc(C * K, sizeof(double)),
             malloc(sizeof(double) * R * C), malloc(sizeof(double) * R * K), malloc(sizeof(double) * K * K),
             malloc(sizeof(double) * K * K), malloc(sizeof(double) * K), malloc(sizeof(double) * R * C),
             malloc(sizeof(double) * C)};
    int rc = f.N && f.S && f.P && f.MN && f.G && f.A && f.b && f.D && f.delta ? 0 : -1;
    for (size_t i = 0; !rc && i < R; i++) {
        f.N[i * K + type[i]] = 1;
        for (size_t j = 0; j < C; j++) /* the ridge's first target: the clustered values */
            f.S[j * K + type[i]] = w_out[j * R + i];
    }
    int used = 0;
    for (int round = 0; !rc && round < REFIT_ROUNDS; round++) {
        fit_values(&f);
        if (round == REFIT_ROUNDS - 1)
            break;
        price(&f);
        int changed = move_rows(&f, type);
        if (used < spare) {
            int got = add_copies(&f, spare - used, error(&f));
            used += got;
            changed += got;
        }
        if (!changed)
            round = REFIT_ROUNDS - 2; /* settled: one last fit */
    }
    *n_extra = 0;
    const size_t W = R + (size_t)used; /* w_out's rows */
    for (size_t i = 0; !rc && i < R; i++)
        for (int t = 0; t < k; t++)
            if (t != type[i] && f.N[i * K + t] != 0) {
                extra_row[*n_extra] = (int)i;
                extra_type[(*n_extra)++] = (uint8_t)t;
            }
    for (size_t r = 0; !rc && r < W; r++) {
        int t = r < R ? type[r] : extra_type[r - R];
        for (size_t j = 0; j < C; j++) {
            double q = nearbyint(f.S[j * K + t]);
            w_out[j * W + r] = (int32_t)(q > wmax ? wmax : q < -wmax ? -wmax : q);
        }
    }
    free(f.N), free(f.S), free(f.P), free(f.MN), free(f.G), free(f.A), free(f.b), free(f.D), free(f.delta);
    return rc;
}
