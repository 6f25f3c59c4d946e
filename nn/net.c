/* The network: a DAG of layers in topological order, its buffers, and the
 * forward / backward drivers that walk it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "ops.h"

Net *net_create(Shape input)
{
    /* OpenMP is the one thread pool: layers split batches across OpenMP
     * threads and call single-threaded sgemm inside, so OpenBLAS must not
     * start threads of its own (they would spin against ours on few cores).
     * Its OpenMP build also lowers OpenMP's thread count there, so restore it. */
    int threads = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(threads);
    Net *net = calloc(1, sizeof *net);
    if (!net)
        return NULL;
    net->cap_layers = 16;
    net->layers = calloc((size_t)net->cap_layers, sizeof *net->layers);
    if (!net->layers) {
        free(net);
        return NULL;
    }
    Layer *in = &net->layers[0];
    snprintf(in->name, sizeof in->name, "input");
    in->type = OP_INPUT;
    layer_attrs_default(&in->a, OP_INPUT);
    in->out_shape = input;
    in->outer = 1;
    net->n_layers = 1;
    net->output = 0;
    rng_seed(&net->rng, 1);
    return net;
}

int net_find(const Net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].name, name) == 0)
            return i;
    return -1;
}

int net_add(Net *net, const char *name, OpType type, const LayerAttrs *a,
            const char *const *input_names, int n_inputs, char *err, size_t errlen)
{
    const OpInfo *op = op_table[type];
    if (strlen(name) == 0 || strlen(name) >= NN_NAME_MAX) {
        snprintf(err, errlen, "layer name '%s' must have 1 to %d characters", name, NN_NAME_MAX - 1);
        return -1;
    }
    if (net_find(net, name) >= 0) {
        snprintf(err, errlen, "layer '%s': the name is used twice", name);
        return -1;
    }
    if (type == OP_INPUT || n_inputs < op->min_inputs || n_inputs > op->max_inputs) {
        snprintf(err, errlen, "layer '%s': a %s layer takes %d to %d inputs, not %d", name, op->name,
                 op->min_inputs, op->max_inputs, n_inputs);
        return -1;
    }
    if (net->n_layers == net->cap_layers) {
        Layer *grown = realloc(net->layers, sizeof *grown * (size_t)net->cap_layers * 2);
        if (!grown) {
            snprintf(err, errlen, "layer '%s': out of memory", name);
            return -1;
        }
        memset(grown + net->cap_layers, 0, sizeof *grown * (size_t)net->cap_layers);
        net->layers = grown;
        net->cap_layers *= 2;
    }
    Layer *l = &net->layers[net->n_layers];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->type = type;
    l->a = *a;
    for (int i = 0; i < n_inputs; i++) {
        int idx = net_find(net, input_names[i]);
        if (idx < 0) {
            snprintf(err, errlen,
                     "layer '%s': input '%s' is not an earlier layer (layers must come in "
                     "topological order)",
                     name, input_names[i]);
            return -1;
        }
        l->inputs[i] = idx;
    }
    l->n_inputs = n_inputs;
    net->n_layers++;
    net->output = net->n_layers - 1;
    return 0;
}

int net_finalize(Net *net, char *err, size_t errlen)
{
    for (int i = 1; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        const OpInfo *op = op_table[l->type];
        for (int k = 0; k < l->n_inputs; k++) {
            l->in_shape[k] = net->layers[l->inputs[k]].out_shape;
            l->in_outer[k] = net->layers[l->inputs[k]].outer;
        }
        /* The layer inherits its first input's blocks; an own_layout op may
         * change that in setup. Others run block by block, so every input
         * must come in the same number of blocks. */
        l->outer = l->n_inputs ? l->in_outer[0] : 1;
        for (int k = 1; k < l->n_inputs && !op->own_layout; k++)
            if (l->in_outer[k] != l->outer) {
                snprintf(err, errlen,
                         "layer '%s' (%s): input '%s' comes in %d blocks of %dx%dx%d per sample "
                         "but input '%s' in %d",
                         l->name, op->name, net->layers[l->inputs[k]].name, l->in_outer[k],
                         l->in_shape[k].c, l->in_shape[k].h, l->in_shape[k].w,
                         net->layers[l->inputs[0]].name, l->outer);
                return -1;
            }
        char why[NN_ERR_MAX];
        why[0] = '\0';
        if (op->setup(l, l->in_shape, l->n_inputs, why, sizeof why) != 0) {
            snprintf(err, errlen, "layer '%s' (%s): %s", l->name, op->name, why);
            return -1;
        }
        if (l->outer < 1 || shape_size(l->out_shape) == 0) {
            snprintf(err, errlen, "layer '%s' (%s): empty output %d x %dx%dx%d", l->name, op->name,
                     l->outer, l->out_shape.c, l->out_shape.h, l->out_shape.w);
            return -1;
        }
        for (int p = 0; p < l->n_params; p++)
            if (!l->params[p].data) {
                snprintf(err, errlen, "layer '%s': out of memory for parameters", l->name);
                return -1;
            }
    }
    return 0;
}

void net_init_params(Net *net, uint64_t seed)
{
    for (int i = 1; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        if (!op_table[l->type]->init)
            continue;
        Rng r;
        /* One stream per layer, so adding a layer does not shift the others' draws. */
        rng_seed(&r, seed * 0x100000001b3ULL + (uint64_t)i);
        op_table[l->type]->init(l, &r);
    }
}

void net_seed(Net *net, uint64_t seed) { rng_seed(&net->rng, seed); }

static void param_free(Param *p)
{
    free(p->data);
    free(p->grad);
    free(p->m);
    free(p->v);
}

void net_free(Net *net)
{
    if (!net)
        return;
    for (int i = 0; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        for (int p = 0; p < l->n_params; p++)
            param_free(&l->params[p]);
        free(l->out);
        free(l->dout);
        free(l->aux);
    }
    free(net->layers);
    free(net->work);
    free(net);
}

int layer_add_param(Layer *l, const char *name, int trainable, int decay, int ndim, const int *dims)
{
    if (l->n_params == NN_MAX_PARAMS || ndim < 1 || ndim > 4)
        return -1;
    Param *p = &l->params[l->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->size = 1;
    for (int d = 0; d < ndim; d++) {
        p->dims[d] = dims[d];
        p->size *= (size_t)dims[d];
    }
    p->trainable = trainable;
    p->decay = decay;
    p->data = calloc(p->size, sizeof(float));
    if (trainable)
        p->grad = calloc(p->size, sizeof(float));
    if (!p->data || (trainable && !p->grad)) {
        param_free(p);
        p->data = p->grad = NULL;
    }
    return l->n_params++;
}

Param *layer_param(Layer *l, const char *name)
{
    for (int p = 0; p < l->n_params; p++)
        if (strcmp(l->params[p].name, name) == 0)
            return &l->params[p];
    return NULL;
}

void *layer_aux(Layer *l, size_t bytes)
{
    if (bytes <= l->aux_bytes)
        return l->aux;
    void *grown = realloc(l->aux, bytes);
    if (!grown)
        return NULL;
    memset((char *)grown + l->aux_bytes, 0, bytes - l->aux_bytes);
    l->aux = grown;
    l->aux_bytes = bytes;
    return grown;
}

float *net_work(Net *net, size_t floats)
{
    if (floats <= net->work_floats)
        return net->work;
    float *grown = realloc(net->work, floats * sizeof *grown);
    if (!grown)
        return NULL;
    net->work = grown;
    net->work_floats = floats;
    return grown;
}

int net_reserve(Net *net, int batch, int training)
{
    if (batch <= net->capacity && (!training || net->training_buffers))
        return 0;
    if (batch < 1)
        return -1;
    int cap = batch > net->capacity ? batch : net->capacity;
    for (int i = 0; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        size_t n = (size_t)cap * layer_size(l);
        float *out = realloc(l->out, n * sizeof *out);
        if (!out)
            return -1;
        l->out = out;
        if (training || l->dout) {
            float *dout = realloc(l->dout, n * sizeof *dout);
            if (!dout)
                return -1;
            l->dout = dout;
        }
    }
    net->capacity = cap;
    net->training_buffers = net->training_buffers || training;
    for (int i = 1; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        /* Ops see samples × outer blocks (see Layer.outer). */
        if (op_table[l->type]->reserve &&
            op_table[l->type]->reserve(l, net, cap * l->outer, net->training_buffers))
            return -1;
    }
    return 0;
}

const float *net_forward(Net *net, const float *x, int batch, int train)
{
    Layer *in = &net->layers[0];
    memcpy(in->out, x, sizeof(float) * (size_t)batch * layer_size(in));
    for (int i = 1; i <= net->output; i++) {
        Layer *l = &net->layers[i];
        op_table[l->type]->forward(l, net, batch * l->outer, train);
    }
    return net->layers[net->output].out;
}

void net_zero_grads(Net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        for (int p = 0; p < l->n_params; p++)
            if (l->params[p].grad)
                memset(l->params[p].grad, 0, l->params[p].size * sizeof(float));
    }
}

void net_backward_begin(Net *net, const float *dlogits, int batch)
{
    net_zero_grads(net);
    /* A dout needs no zeroing when exactly one input slot of one overwriting
     * op reads it: count the slots of layers up to the output, a slot of an
     * op that only adds counting 2 (an input listed twice counts twice). */
    for (int i = 0; i <= net->output; i++)
        net->layers[i].dout_set = 0;
    for (int i = 1; i <= net->output; i++) {
        const Layer *l = &net->layers[i];
        for (int k = 0; k < l->n_inputs; k++)
            net->layers[l->inputs[k]].dout_set += op_table[l->type]->overwrites ? 1 : 2;
    }
    for (int i = 0; i < net->output; i++) {
        Layer *l = &net->layers[i];
        l->dout_set = l->dout_set == 1;
        if (!l->dout_set)
            memset(l->dout, 0, sizeof(float) * (size_t)batch * layer_size(l));
    }
    Layer *out = &net->layers[net->output];
    out->dout_set = 0;
    memcpy(out->dout, dlogits, sizeof(float) * (size_t)batch * layer_size(out));
}

void net_backward(Net *net, const float *dlogits, int batch)
{
    net_backward_begin(net, dlogits, batch);
    for (int i = net->output; i >= 1; i--) {
        Layer *l = &net->layers[i];
        op_table[l->type]->backward(l, net, batch * l->outer);
    }
}

Shape net_input_shape(const Net *net) { return net->layers[0].out_shape; }
Shape net_output_shape(const Net *net) { return net->layers[net->output].out_shape; }
size_t net_output_size(const Net *net) { return layer_size(&net->layers[net->output]); }

size_t net_param_count(const Net *net)
{
    size_t n = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int p = 0; p < net->layers[i].n_params; p++)
            if (net->layers[i].params[p].trainable)
                n += net->layers[i].params[p].size;
    return n;
}

/* 2·MACs of a conv or dense layer, whose MACs per output position are
 * exactly its weight count; 0 for other layers. */
double layer_flops(const Layer *l)
{
    if (l->type != OP_CONV && l->type != OP_DENSE)
        return 0;
    for (int p = 0; p < l->n_params; p++)
        if (!strcmp(l->params[p].name, "weight"))
            return 2.0 * (double)l->params[p].size * l->out_shape.h * l->out_shape.w * l->outer;
    return 0;
}

double net_flops(const Net *net)
{
    double f = 0;
    for (int i = 1; i <= net->output; i++)
        f += layer_flops(&net->layers[i]);
    return f;
}
