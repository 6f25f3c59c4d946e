/* Native model files (HDF5): graph table, attributes, parameter tensors. */
#include "../../model/model.h"
#define FUZZ_HDF5
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    if (!path)
        return 0;
    Model m;
    char err[1024];
    if (model_load(path, &m, err, sizeof err) == 0)
        model_free(&m);
    fuzz_check_closed();
    return 0;
}
