/* CIFAR-10 binary batches, plain or gzip. */
#include "../../datasets/datasets.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "");
    if (!path)
        return 0;
    uint8_t *pixels = NULL, *labels = NULL;
    int count = 0;
    char err[1024];
    (void)cifar_read_batch(path, &pixels, &labels, &count, err, sizeof err);
    free(pixels);
    free(labels);
    return 0;
}
