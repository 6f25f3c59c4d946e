/* Running a compiled program over a sample set on the simulator of its
 * chip: shared by compile (its compiled accuracy), simulate and the sweep.
 * A float program (reform) runs on the ANN core in float; an integer one
 * on the simulator of hw's mode: ANN cores, PIM crossbars, or spiking
 * cores (whose accuracy after every time step is kept too). */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "../compiler/compiler.h"
#include "../simulators/simulators.h"
#include "harness.h"

void sim_result_free(SimResult *r)
{
    free(r->accuracy_by_step);
    memset(r, 0, sizeof *r);
}

const char *simulator_name(const Program *p, const Hw *hw)
{
    return p->is_float || hw->target.mode == HW_ANN ? "ann" : hw->target.mode == HW_PIM ? "pim" : "snn";
}

/* The index of the largest of n values. */
static int arg_max(const int64_t *v, int n)
{
    int best = 0;
    for (int c = 1; c < n; c++)
        best = v[c] > v[best] ? c : best;
    return best;
}

typedef struct {
    const Program *p;
    const Hw *hw;
    PimChip *chip;             /* pim */
    AnnPlan *ann;              /* ann */
    int steps;                 /* snn: T */
    int64_t *per_step;         /* snn: [chunk][T][classes] */
    int64_t *spikes;           /* snn: [chunk] */
} Runner;

/* Runs n images (the first has index first) into il (n × classes); SNN
 * runs also count, per step, the images right so far. */
static int run_chunk(Runner *rn, const int32_t *q, int n, long first, int64_t *il, long *right_by_step,
                     long long *spikes, const uint8_t *labels)
{
    const Program *p = rn->p;
    if (rn->chip)
        return pim_run(rn->chip, q, n, il);
    if (!rn->steps)
        return ann_plan_run(rn->ann, q, n, il);
    SnnOutput out = {rn->per_step, il, rn->spikes, NULL};
    if (snn_run(p, rn->hw, q, n, first, &out))
        return -1;
    for (int i = 0; i < n; i++) {
        *spikes += rn->spikes[i];
        for (int t = 0; t < rn->steps; t++)
            right_by_step[t] +=
                arg_max(rn->per_step + ((size_t)i * rn->steps + t) * p->n_outputs, p->n_outputs) == labels[i];
    }
    return 0;
}

int simulate_program(const Program *p, const Hw *hw, const SampleSet *set, int classes, SimResult *r)
{
    const int chunk = 256;
    memset(r, 0, sizeof *r);
    r->accuracy = r->spikes_per_image = -1;
    size_t in = shape_size(set->shape);
    if ((size_t)p->n_inputs != in || p->n_outputs != classes || set->n < 1)
        return -1;
    Runner rn = {p, hw, NULL, NULL, 0, NULL, NULL};
    int snn = !p->is_float && hw->target.mode == HW_SNN, failed = 0;
    if (!p->is_float && hw->target.mode == HW_PIM) {
        char err[256];
        if (!(rn.chip = pim_program(p, hw, err, sizeof err)))
            return -1;
    } else if (!p->is_float && !snn && !(rn.ann = ann_plan(p))) {
        return -1;
    }
    if (snn) {
        rn.steps = hw->io.window > 0 ? hw->io.window : 1;
        rn.per_step = malloc(sizeof *rn.per_step * (size_t)chunk * rn.steps * classes);
        rn.spikes = malloc(sizeof *rn.spikes * chunk);
        r->accuracy_by_step = calloc((size_t)rn.steps, sizeof *r->accuracy_by_step);
        failed = !rn.per_step || !rn.spikes || !r->accuracy_by_step;
    }
    long *right_by_step = calloc((size_t)(rn.steps ? rn.steps : 1), sizeof *right_by_step);
    float *x = malloc(sizeof *x * in * chunk), *fl = malloc(sizeof *fl * (size_t)classes * chunk);
    int32_t *q = malloc(sizeof *q * in * chunk);
    int64_t *il = malloc(sizeof *il * (size_t)classes * chunk);
    failed |= !right_by_step || !x || !fl || !q || !il;
    long correct = 0;
    long long spikes = 0;
    double spent = 0;
    for (int i0 = 0; !failed && i0 < set->n; i0 += chunk) {
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
        failed = p->is_float ? ann_run_float(p, x, n, fl)
                             : run_chunk(&rn, q, n, i0, il, right_by_step, &spikes, set->labels + i0);
        spent += omp_get_wtime() - t0;
        for (int i = 0; i < n && !failed; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                size_t o = (size_t)i * classes;
                if (p->is_float ? fl[o + c] > fl[o + best] : il[o + c] > il[o + best])
                    best = c;
            }
            correct += best == set->labels[i0 + i];
        }
    }
    if (!failed) {
        r->accuracy = (double)correct / set->n;
        r->sim_s = spent;
        if (snn) {
            r->steps = rn.steps;
            r->spikes_per_image = (double)spikes / set->n;
            for (int t = 0; t < rn.steps; t++)
                r->accuracy_by_step[t] = (double)right_by_step[t] / set->n;
        }
    }
    if (rn.chip)
        pim_free(rn.chip);
    ann_plan_free(rn.ann);
    free(rn.per_step);
    free(rn.spikes);
    free(right_by_step);
    free(x);
    free(fl);
    free(q);
    free(il);
    if (failed)
        sim_result_free(r);
    return failed ? -1 : 0;
}
