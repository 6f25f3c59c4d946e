/* Weighted k-means for axon types (see axon_cluster.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "axon_cluster.h"

#define STARTS 4      /* one farthest-point start, then k-means++ draws */
#define LLOYD_MAX 100
#define ROUND_MAX 8
#define REFIT_ROUNDS 12 /* least-squares fits, with row moves between them */

typedef struct {
    int R, C, k;
    const double *x, *a; /* x: [R][C] rows as vectors */
} Rows;

static double dist2(const double *u, const double *v, int n)
{
    double d = 0;
    for (int j = 0; j < n; j++)
        d += (u[j] - v[j]) * (u[j] - v[j]);
    return d;
}

/* Each row to its nearest centroid; returns the weighted error, *changed = moves. */
static double assign(const Rows *r, const double *cent, int *type, double *d_row, int *changed)
{
    double err = 0;
    *changed = 0;
    for (int i = 0; i < r->R; i++) {
        int best = 0;
        double bd = INFINITY;
        for (int t = 0; t < r->k; t++) {
            double d = dist2(r->x + (size_t)i * r->C, cent + (size_t)t * r->C, r->C);
            if (d < bd)
                bd = d, best = t;
        }
        *changed += type[i] != best;
        type[i] = best;
        d_row[i] = bd;
        err += r->a[i] * bd;
    }
    return err;
}

/* Centroids as weighted means; an empty type takes the row that costs most. */
static void update(const Rows *r, const int *type, double *d_row, double *cent, double *mass)
{
    memset(cent, 0, sizeof *cent * (size_t)r->k * r->C);
    memset(mass, 0, sizeof *mass * (size_t)r->k);
    for (int i = 0; i < r->R; i++) {
        mass[type[i]] += r->a[i];
        for (int j = 0; j < r->C; j++)
            cent[(size_t)type[i] * r->C + j] += r->a[i] * r->x[(size_t)i * r->C + j];
    }
    for (int t = 0; t < r->k; t++) {
        if (mass[t] > 0) {
            for (int j = 0; j < r->C; j++)
                cent[(size_t)t * r->C + j] /= mass[t];
            continue;
        }
        int worst = 0;
        for (int i = 1; i < r->R; i++)
            worst = r->a[i] * d_row[i] > r->a[worst] * d_row[worst] ? i : worst;
        memcpy(cent + (size_t)t * r->C, r->x + (size_t)worst * r->C, sizeof *cent * (size_t)r->C);
        d_row[worst] = 0;
    }
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Start `start`: 0 = the row nearest the weighted mean, then each next
 * centroid the row farthest (weighted) from the chosen ones; else k-means++
 * draws. Types beyond the distinct rows copy the first centroid. */
static void init(const Rows *r, int start, uint64_t *rng, double *cent, double *d_row)
{
    const int R = r->R, C = r->C;
    double *mean = cent; /* scratch in centroid 0 until it is chosen */
    double total = 0;
    memset(mean, 0, sizeof *mean * (size_t)C);
    for (int i = 0; i < R; i++) {
        total += r->a[i];
        for (int j = 0; j < C; j++)
            mean[j] += r->a[i] * r->x[(size_t)i * C + j];
    }
    for (int j = 0; j < C; j++)
        mean[j] /= total;
    int pick = 0;
    if (start == 0) {
        double bd = INFINITY;
        for (int i = 0; i < R; i++) {
            double d = dist2(r->x + (size_t)i * C, mean, C);
            if (d < bd)
                bd = d, pick = i;
        }
    } else {
        pick = (int)(splitmix(rng) % (uint64_t)R);
    }
    memcpy(cent, r->x + (size_t)pick * C, sizeof *cent * (size_t)C);
    for (int i = 0; i < R; i++)
        d_row[i] = dist2(r->x + (size_t)i * C, cent, C);
    for (int t = 1; t < r->k; t++) {
        double sum = 0, best = 0;
        pick = -1;
        for (int i = 0; i < R; i++) {
            double v = r->a[i] * d_row[i];
            sum += v;
            if (v > best)
                best = v, pick = i;
        }
        if (pick >= 0 && start > 0) { /* draw proportionally to a·d² */
            double u = (double)(splitmix(rng) >> 11) / 9007199254740992.0 * sum, acc = 0;
            for (int i = 0; i < R; i++)
                if ((acc += r->a[i] * d_row[i]) >= u && r->a[i] * d_row[i] > 0) {
                    pick = i;
                    break;
                }
        }
        const double *src = pick >= 0 ? r->x + (size_t)pick * C : cent;
        memcpy(cent + (size_t)t * C, src, sizeof *cent * (size_t)C);
        for (int i = 0; i < R; i++) {
            double d = dist2(r->x + (size_t)i * C, cent + (size_t)t * C, C);
            d_row[i] = d < d_row[i] ? d : d_row[i];
        }
    }
}

static void round_centroids(double *cent, size_t n, int32_t wmax)
{
    for (size_t i = 0; i < n; i++) {
        double q = nearbyint(cent[i]);
        cent[i] = q > wmax ? wmax : q < -wmax ? -wmax : q;
    }
}

/* Lloyd's iterations from the centroids in cent, then rounding: the rounded
 * centroids in cent, the types in type; returns the weighted error. */
static double solve(const Rows *r, double *cent, int *type, double *d_row, double *mass, int32_t wmax)
{
    int changed;
    for (int i = 0; i < r->R; i++)
        type[i] = -1;
    for (int it = 0; it < LLOYD_MAX; it++) {
        assign(r, cent, type, d_row, &changed);
        if (!changed)
            break;
        update(r, type, d_row, cent, mass);
    }
    round_centroids(cent, (size_t)r->k * r->C, wmax);
    double err = assign(r, cent, type, d_row, &changed);
    for (int it = 0; it < ROUND_MAX && changed; it++) { /* re-fit to the rows the rounding moved */
        update(r, type, d_row, cent, mass);
        round_centroids(cent, (size_t)r->k * r->C, wmax);
        err = assign(r, cent, type, d_row, &changed);
    }
    return err;
}

double axon_cluster(const int32_t *w, int rows, int cols, const double *a, int k, int32_t wmax,
                    uint64_t seed, uint8_t *type_out, int32_t *w_out)
{
    const size_t R = (size_t)rows, C = (size_t)cols;
    k = k < rows ? k : rows;
    double *x = malloc(sizeof *x * R * C), *cent = malloc(sizeof *cent * (size_t)k * C * 2);
    double *d_row = malloc(sizeof *d_row * R), *mass = malloc(sizeof *mass * (size_t)k);
    int *type = malloc(sizeof *type * R * 2);
    double best = -1;
    if (!x || !cent || !d_row || !mass || !type)
        goto out;
    for (size_t i = 0; i < R; i++)
        for (size_t j = 0; j < C; j++)
            x[i * C + j] = w[j * R + i];
    Rows r = {rows, cols, k, x, a};
    uint64_t rng = seed;
    double *best_cent = cent + (size_t)k * C;
    int *best_type = type + R;
    for (int s = 0; s < STARTS && best != 0; s++) {
        init(&r, s, &rng, cent, d_row);
        double e = solve(&r, cent, type, d_row, mass, wmax);
        if (best < 0 || e < best) {
            best = e;
            memcpy(best_cent, cent, sizeof *cent * (size_t)k * C);
            memcpy(best_type, type, sizeof *type * R);
        }
    }
    for (size_t i = 0; i < R; i++) {
        type_out[i] = (uint8_t)best_type[i];
        for (size_t j = 0; j < C; j++)
            w_out[j * R + i] = (int32_t)best_cent[(size_t)best_type[i] * C + j];
    }
out:
    free(x);
    free(cent);
    free(d_row);
    free(mass);
    free(type);
    return best;
}

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

/* The least-squares (column, type) weights S ([cols][k], unrounded) for
 * the types, held near S's current values by the ridge. */
static int fit_values(const int32_t *w, int rows, int cols, const uint8_t *type, int k, const double *M,
                      double *S)
{
    const size_t R = (size_t)rows, K = (size_t)k;
    double *G = calloc(K * K, sizeof *G), *A = malloc(sizeof *A * K * K), *b = malloc(sizeof *b * K);
    double *Mt = calloc(R * K, sizeof *Mt); /* Mt[i][t] = Σ_{i' of type t} M[i][i'] */
    if (!G || !A || !b || !Mt) {
        free(G), free(A), free(b), free(Mt);
        return -1;
    }
    for (size_t i = 0; i < R; i++)
        for (size_t i2 = 0; i2 < R; i2++)
            Mt[i * K + type[i2]] += M[i * R + i2];
    for (size_t i = 0; i < R; i++)
        for (size_t t = 0; t < K; t++)
            G[type[i] * K + t] += Mt[i * K + t];
    double trace = 0;
    for (size_t t = 0; t < K; t++)
        trace += G[t * K + t];
    const double ridge = 1e-3 * (trace > 0 ? trace / k : 1);
    for (int j = 0; j < cols; j++) {
        /* b_t = Σ_{i of type t} (M w_j)_i + ridge · S_jt */
        memcpy(A, G, sizeof *A * K * K);
        for (size_t t = 0; t < K; t++) {
            A[t * K + t] += ridge;
            b[t] = ridge * S[(size_t)j * K + t];
        }
        for (size_t i = 0; i < R; i++)
            for (size_t t = 0; t < K; t++)
                b[t] += Mt[i * K + t] * w[(size_t)j * R + i];
        solve_small(A, b, k);
        memcpy(S + (size_t)j * K, b, sizeof *b * K);
    }
    free(G), free(A), free(b), free(Mt);
    return 0;
}

/* One sweep of moves: each row to the type that lowers Σ_j Δ_jᵀ M Δ_j most
 * (Δ = W − the typed weights), keeping P = M Δ ([rows][cols]) current.
 * Returns the rows moved. */
static int move_rows(const int32_t *w, int rows, int cols, uint8_t *type, int k, const double *M,
                     const double *S, double *P, double *delta)
{
    const size_t R = (size_t)rows, C = (size_t)cols, K = (size_t)k;
    int moved = 0;
    for (size_t i = 0; i < R; i++) {
        int from = type[i], best = from;
        double gain = -1e-9 * (M[i * R + i] > 0 ? M[i * R + i] : 1);
        for (int to = 0; to < k; to++) {
            if (to == from)
                continue;
            double g = 0;
            for (size_t j = 0; j < C; j++) {
                double d = S[j * K + from] - S[j * K + to];
                g += 2 * d * P[i * C + j] + d * d * M[i * R + i];
            }
            if (g < gain)
                gain = g, best = to;
        }
        if (best == from)
            continue;
        for (size_t j = 0; j < C; j++)
            delta[j] = S[j * K + from] - S[j * K + best];
        cblas_dger(CblasRowMajor, rows, cols, 1.0, M + i * R, 1, delta, 1, P, cols);
        type[i] = (uint8_t)best;
        moved++;
    }
    (void)w;
    return moved;
}

int axon_refit(const int32_t *w, int rows, int cols, uint8_t *type, int k, const double *M, int32_t wmax,
               int32_t *w_out)
{
    const size_t R = (size_t)rows, C = (size_t)cols, K = (size_t)k;
    double *S = calloc(C * K, sizeof *S), *D = malloc(sizeof *D * R * C), *P = malloc(sizeof *P * R * C);
    double *delta = malloc(sizeof *delta * C);
    int rc = S && D && P && delta ? 0 : -1;
    for (size_t i = 0; !rc && i < R; i++) /* the ridge's first target: the clustered values */
        for (size_t j = 0; j < C; j++)
            S[j * K + type[i]] = w_out[j * R + i];
    for (int round = 0; !rc && round < REFIT_ROUNDS; round++) {
        if ((rc = fit_values(w, rows, cols, type, k, M, S)) || round == REFIT_ROUNDS - 1)
            break;
        for (size_t i = 0; i < R; i++) /* P = M Δ */
            for (size_t j = 0; j < C; j++)
                D[i * C + j] = w[j * R + i] - S[j * K + type[i]];
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, rows, cols, 1.0, M, rows, D, cols, 0.0, P, cols);
        if (!move_rows(w, rows, cols, type, k, M, S, P, delta))
            round = REFIT_ROUNDS - 2; /* settled: one last fit */
    }
    for (size_t i = 0; !rc && i < R; i++)
        for (size_t j = 0; j < C; j++) {
            double q = nearbyint(S[j * K + type[i]]);
            w_out[j * R + i] = (int32_t)(q > wmax ? wmax : q < -wmax ? -wmax : q);
        }
    free(S), free(D), free(P), free(delta);
    return rc;
}
