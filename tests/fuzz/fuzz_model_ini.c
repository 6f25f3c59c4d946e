/* Model definitions (the INI files of configs/models): layers, wiring, shapes, the recipe. */
#include "../../model/model.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".ini");
    if (!path)
        return 0;
    Model m;
    char err[1024];
    if (model_from_ini(path, "mnist", &m, err, sizeof err) == 0)
        model_free(&m);
    return 0;
}
