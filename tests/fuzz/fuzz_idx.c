/* idx files (MNIST, Fashion-MNIST), plain or gzip: images, then labels. */
#include "../../datasets/datasets.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "");
    if (!path)
        return 0;
    uint8_t *out = NULL;
    int count, rows, cols;
    char err[1024];
    if (idx_read_images(path, &out, &count, &rows, &cols, err, sizeof err) == 0)
        free(out);
    out = NULL;
    if (idx_read_labels(path, &out, &count, err, sizeof err) == 0)
        free(out);
    return 0;
}
