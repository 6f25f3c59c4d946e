/* Optimisers (SGD with momentum / Nesterov and weight decay, Adam) and the
 * learning-rate schedule. */
#include <math.h>
#include <stdlib.h>

#include "nn.h"

void opt_config_default(OptConfig *o)
{
    o->kind = OPT_SGD;
    o->lr = 0.05f;
    o->momentum = 0.9f;
    o->weight_decay = 5e-4f;
    o->nesterov = 1;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->schedule = SCHED_COSINE;
    o->step_every = 10;
    o->step_gamma = 0.1f;
    o->warmup_epochs = 0;
}

float lr_at(const OptConfig *o, float epoch, int epochs)
{
    if (o->warmup_epochs > 0 && epoch < o->warmup_epochs)
        return o->lr * (epoch + 1.0f / 64) / (float)o->warmup_epochs;
    switch (o->schedule) {
    case SCHED_STEP:
        return o->lr * powf(o->step_gamma, floorf(epoch / (float)(o->step_every > 0 ? o->step_every : 1)));
    case SCHED_COSINE: {
        float span = (float)(epochs - o->warmup_epochs);
        float t = span > 0 ? (epoch - (float)o->warmup_epochs) / span : 1.0f;
        return o->lr * 0.5f * (1.0f + cosf((float)M_PI * t));
    }
    case SCHED_CONSTANT:
    default:
        return o->lr;
    }
}

int optim_init(Net *net, const OptConfig *o)
{
    for (int i = 0; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            Param *p = &l->params[k];
            if (!p->trainable)
                continue;
            if (!p->m && !(p->m = calloc(p->size, sizeof(float))))
                return -1;
            if (o->kind == OPT_ADAM && !p->v && !(p->v = calloc(p->size, sizeof(float))))
                return -1;
        }
    }
    return 0;
}

static void sgd_update(Param *p, const OptConfig *o, float lr)
{
    const float wd = p->decay ? o->weight_decay : 0.0f, mu = o->momentum;
    float *w = p->data, *m = p->m;
    const float *g = p->grad;
#pragma omp parallel for schedule(static) if (p->size > 65536)
    for (size_t i = 0; i < p->size; i++) {
        float d = g[i] + wd * w[i];
        m[i] = mu * m[i] + d;
        w[i] -= lr * (o->nesterov ? d + mu * m[i] : m[i]);
    }
}

static void adam_update(Param *p, const OptConfig *o, float lr, long step)
{
    const float wd = p->decay ? o->weight_decay : 0.0f;
    const float c1 = 1.0f - powf(o->beta1, (float)step), c2 = 1.0f - powf(o->beta2, (float)step);
    float *w = p->data, *m = p->m, *v = p->v;
    const float *g = p->grad;
#pragma omp parallel for schedule(static) if (p->size > 65536)
    for (size_t i = 0; i < p->size; i++) {
        float d = g[i] + wd * w[i];
        m[i] = o->beta1 * m[i] + (1 - o->beta1) * d;
        v[i] = o->beta2 * v[i] + (1 - o->beta2) * d * d;
        w[i] -= lr * (m[i] / c1) / (sqrtf(v[i] / c2) + o->eps);
    }
}

void optim_step(Net *net, const OptConfig *o, float lr, long step)
{
    for (int i = 0; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            Param *p = &l->params[k];
            if (!p->trainable)
                continue;
            if (o->kind == OPT_ADAM)
                adam_update(p, o, lr, step);
            else
                sgd_update(p, o, lr);
        }
    }
}
