/* MLP approximators of non-core functions (see approx.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "approx.h"

/* LAPACK (bundled in OpenBLAS): solves A x = b for symmetric positive definite A. */
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
                   double *b, const int *ldb, int *info);

void approx_free(Approx *g)
{
    free(g->t);
    free(g->a);
    memset(g, 0, sizeof *g);
}

static int by_value(const void *p, const void *q)
{
    float a = *(const float *)p, b = *(const float *)q;
    return (a > b) - (a < b);
}

int approx_fit(const float *x, const float *y, size_t n, int k, Approx *g)
{
    memset(g, 0, sizeof *g);
    if (n == 0 || k < 1)
        return -1;
    int m = k + 1; /* unknowns: a0, a_1..a_k */
    float *sorted = malloc(sizeof *sorted * n);
    double *A = calloc((size_t)m * m, sizeof *A), *b = calloc((size_t)m, sizeof *b);
    double *phi = malloc(sizeof *phi * (size_t)m);
    g->t = malloc(sizeof *g->t * (size_t)k);
    g->a = malloc(sizeof *g->a * (size_t)k);
    int rc = sorted && A && b && phi && g->t && g->a ? 0 : -1;
    if (!rc) {
        memcpy(sorted, x, sizeof *sorted * n);
        qsort(sorted, n, sizeof *sorted, by_value);
        for (int j = 0; j < k; j++) /* knots at the quantiles (j + ½)/k */
            g->t[j] = sorted[(size_t)((j + 0.5) / k * (double)(n - 1))];
        for (size_t i = 0; i < n; i++) {
            phi[0] = 1;
            for (int j = 0; j < k; j++)
                phi[j + 1] = x[i] > g->t[j] ? x[i] - g->t[j] : 0;
            for (int r = 0; r < m; r++) {
                b[r] += phi[r] * y[i];
                for (int c = 0; c <= r; c++)
                    A[(size_t)c * m + r] += phi[r] * phi[c]; /* (r, c), r >= c: lower triangle, column-major */
            }
        }
        /* A little ridge keeps repeated knots (discrete inputs) solvable. */
        double tr = 0;
        for (int r = 0; r < m; r++)
            tr += A[(size_t)r * m + r];
        for (int r = 0; r < m; r++)
            A[(size_t)r * m + r] += 1e-9 * tr / m + 1e-12;
        int one = 1, info = 0;
        dposv_("L", &m, &one, A, &m, b, &m, &info);
        rc = info == 0 ? 0 : -1;
    }
    if (!rc) {
        g->k = k;
        g->a0 = b[0];
        for (int j = 0; j < k; j++)
            g->a[j] = b[j + 1];
        double se = 0;
        for (size_t i = 0; i < n; i++) {
            double v = g->a0;
            for (int j = 0; j < k; j++)
                v += x[i] > g->t[j] ? g->a[j] * (x[i] - g->t[j]) : 0;
            se += (v - y[i]) * (v - y[i]);
        }
        g->rms = sqrt(se / (double)n);
    }
    free(sorted);
    free(A);
    free(b);
    free(phi);
    if (rc)
        approx_free(g);
    return rc;
}

int approx_samples(Net *net, const Normalize *norm, const uint8_t *px, int n, int layer, size_t max,
                   float **x, float **y, size_t *count)
{
    const int batch = 64;
    Shape s = net_input_shape(net);
    size_t in = shape_size(s);
    const Layer *l = &net->layers[layer];
    size_t per = layer_size(l), total = per * (size_t)n;
    size_t stride = total > max ? (total + max - 1) / max : 1, want = (total + stride - 1) / stride;
    float *img = malloc(sizeof *img * in * batch);
    *x = malloc(sizeof **x * (want ? want : 1));
    *y = malloc(sizeof **y * (want ? want : 1));
    if (!img || !*x || !*y || net_reserve(net, batch, 0)) {
        free(img);
        free(*x);
        free(*y);
        *x = *y = NULL;
        return -1;
    }
    size_t got = 0;
    for (int i0 = 0; i0 < n; i0 += batch) {
        int b = n - i0 < batch ? n - i0 : batch;
        for (int i = 0; i < b; i++)
            normalize_pixels(norm, px + (size_t)(i0 + i) * in, s, img + (size_t)i * in);
        net_forward(net, img, b, 0);
        const float *src = net->layers[l->inputs[0]].out, *dst = l->out;
        for (size_t e = (size_t)i0 * per; e < (size_t)(i0 + b) * per; e++)
            if (e % stride == 0 && got < want) {
                (*x)[got] = src[e - (size_t)i0 * per];
                (*y)[got++] = dst[e - (size_t)i0 * per];
            }
    }
    free(img);
    *count = got;
    return 0;
}
