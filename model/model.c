/* model_free: the one piece of Model that is neither INI nor HDF5. */
#include <string.h>

#include "model.h"

void model_free(Model *m)
{
    if (!m)
        return;
    net_free(m->net);
    memset(m, 0, sizeof *m);
}
