/* Running a compiled program over a sample set on the ANN core simulator:
 * shared by compile (its compiled accuracy) and simulate. */
#include <stdlib.h>

#include <omp.h>

#include "../compiler/compiler.h"
#include "../simulators/simulators.h"
#include "harness.h"

double simulate_accuracy(const Program *p, const SampleSet *set, int classes, double *sim_s)
{
    const int chunk = 256;
    size_t in = shape_size(set->shape);
    if (sim_s)
        *sim_s = 0;
    if ((size_t)p->n_inputs != in || p->n_outputs != classes || set->n < 1)
        return -1;
    float *x = malloc(sizeof *x * in * chunk), *fl = malloc(sizeof *fl * (size_t)classes * chunk);
    int32_t *q = malloc(sizeof *q * in * chunk);
    int64_t *il = malloc(sizeof *il * (size_t)classes * chunk);
    long correct = 0;
    double spent = 0;
    for (int i0 = 0; x && fl && q && il && i0 < set->n; i0 += chunk) {
        int n = set->n - i0 < chunk ? set->n - i0 : chunk;
        const uint8_t *px = set->pixels + (size_t)i0 * in;
        if (p->is_float) {
            for (size_t k = 0; k < in * n; k++)
                x[k] = px[k];
        } else {
            quantise_pixels(p, px, in * n, q);
        }
        /* only the simulator is timed: not the input conversion or scoring */
        double t0 = omp_get_wtime();
        int failed = p->is_float ? ann_run_float(p, x, n, fl) : ann_run(p, q, n, il);
        spent += omp_get_wtime() - t0;
        if (failed) {
            correct = -1;
            break;
        }
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                size_t o = (size_t)i * classes;
                if (p->is_float ? fl[o + c] > fl[o + best] : il[o + c] > il[o + best])
                    best = c;
            }
            correct += best == set->labels[i0 + i];
        }
    }
    int ok = x && fl && q && il && correct >= 0;
    free(x);
    free(fl);
    free(q);
    free(il);
    if (sim_s)
        *sim_s = spent;
    return ok ? (double)correct / set->n : -1;
}
