/* Weighted k-means for axon types (see axon_cluster.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axon_cluster.h"

#define STARTS 4      /* one farthest-point start, then k-means++ draws */
#define LLOYD_MAX 100
#define ROUND_MAX 8

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
    if (rows < 1 || cols < 1 || k < 1)
        return -1; /* no rows to cluster (the centroids would hold nothing) */
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
