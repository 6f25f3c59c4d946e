/* Finite-difference check of a net's backward pass, shared by the layer tests.
 *
 * The loss is L = Σ out·r for a fixed random r, so dL/dout = r. Every input
 * value and every trainable parameter is perturbed by ±h in double-checked
 * float arithmetic; the analytic gradient must match the central difference. */
#ifndef TESTS_GRADCHECK_H
#define TESTS_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

static double gc_loss(Net *net, const float *x, const float *r, int batch, int train)
{
    /* Training-mode passes must see the same dropout mask each time. */
    Rng saved = net->rng;
    const float *out = net_forward(net, x, batch, train);
    net->rng = saved;
    size_t n = (size_t)batch * net_output_size(net);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * r[i];
    return s;
}

static int gc_close(double analytic, double numeric, double tol)
{
    double scale = fabs(analytic) > fabs(numeric) ? fabs(analytic) : fabs(numeric);
    return fabs(analytic - numeric) <= tol * (scale > 1.0 ? scale : 1.0);
}

/* Returns the number of mismatches (printed); 0 means the backward pass is right.
 * `train` selects training-mode forward (batch-norm batch statistics, dropout). */
static int gradcheck(Net *net, int batch, int train, unsigned seed, double tol)
{
    Rng rng;
    rng_seed(&rng, seed);
    size_t nin = (size_t)batch * shape_size(net_input_shape(net));
    size_t nout = (size_t)batch * net_output_size(net); /* outer blocks of the output shape */
    float *x = malloc(nin * sizeof *x), *r = malloc(nout * sizeof *r);
    for (size_t i = 0; i < nin; i++)
        x[i] = rng_normal(&rng);
    for (size_t i = 0; i < nout; i++)
        r[i] = rng_normal(&rng);
    net->input_grad = 1;
    if (net_reserve(net, batch, 1) != 0)
        abort();
    Rng saved = net->rng;
    net_forward(net, x, batch, train);
    net->rng = saved;
    /* Stale douts are NaN: a backward that writes an input's dout (dout_set)
     * must write every value, and one that adds must find it zeroed. */
    for (int li = 0; li < net->n_layers; li++)
        for (size_t i = 0; i < (size_t)batch * layer_size(&net->layers[li]); i++)
            net->layers[li].dout[i] = NAN;
    net_backward(net, r, batch);

    /* Keep copies: later forward passes overwrite nothing in grads, but be safe. */
    float *dx = malloc(nin * sizeof *dx);
    memcpy(dx, net->layers[0].dout, nin * sizeof *dx);
    const double h = 1e-2;
    int bad = 0;
    for (size_t i = 0; i < nin; i++) {
        float keep = x[i];
        x[i] = keep + (float)h;
        double lp = gc_loss(net, x, r, batch, train);
        x[i] = keep - (float)h;
        double lm = gc_loss(net, x, r, batch, train);
        x[i] = keep;
        double num = (lp - lm) / (2 * h);
        if (!gc_close(dx[i], num, tol) && bad++ < 5)
            printf("  input[%zu]: analytic %.6g, numeric %.6g\n", i, dx[i], num);
    }
    for (int li = 1; li < net->n_layers; li++) {
        Layer *l = &net->layers[li];
        for (int p = 0; p < l->n_params; p++) {
            Param *pr = &l->params[p];
            if (!pr->trainable)
                continue;
            float *g = malloc(pr->size * sizeof *g);
            memcpy(g, pr->grad, pr->size * sizeof *g);
            for (size_t i = 0; i < pr->size; i++) {
                float keep = pr->data[i];
                pr->data[i] = keep + (float)h;
                double lp = gc_loss(net, x, r, batch, train);
                pr->data[i] = keep - (float)h;
                double lm = gc_loss(net, x, r, batch, train);
                pr->data[i] = keep;
                double num = (lp - lm) / (2 * h);
                if (!gc_close(g[i], num, tol) && bad++ < 5)
                    printf("  %s.%s[%zu]: analytic %.6g, numeric %.6g\n", l->name, pr->name, i,
                           g[i], num);
            }
            free(g);
        }
    }
    free(x);
    free(r);
    free(dx);
    return bad;
}

#endif
