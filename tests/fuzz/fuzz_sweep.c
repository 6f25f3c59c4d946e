/* Sweep files: sections, lists, axes (through the hardware parser), models, expansion. */
#include "../../harness/sweep.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".ini");
    if (!path)
        return 0;
    Sweep s;
    char err[1024];
    if (sweep_load(path, &s, err, sizeof err) != 0)
        return 0;
    SweepTask *t = NULL;
    int n = 0;
    if (sweep_expand(&s, &t, &n, err, sizeof err) == 0)
        free(t);
    sweep_free(&s);
    return 0;
}
