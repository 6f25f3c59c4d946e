/* Building small nets in the layer tests; include after cmocka.h. */
#ifndef TESTS_NET_BUILD_H
#define TESTS_NET_BUILD_H

#include "nn/nn.h"

#define IN (const char *[]){"input"}

static char err[NN_ERR_MAX];

/* Adds a layer (inputs by name) and fails the test on an error. */
static void add_layer(Net *net, const char *name, OpType t, const LayerAttrs *a,
                      const char *const *inputs, int n)
{
    if (net_add(net, name, t, a, inputs, n, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* Finalizes and initialises (seed 1), failing the test on an error. */
static void finish(Net *net)
{
    if (net_finalize(net, err, sizeof err) != 0)
        fail_msg("%s", err);
    net_init_params(net, 1);
}

#endif
