/* datasets — the data-set registry, its search path, and the file loaders
 * (idx for MNIST / Fashion-MNIST, the CIFAR-10 binary layout; gzip or plain,
 * both through zlib).
 *
 * Files are looked up, in order, under $NNBENCH_DATA, ./datasets/data,
 * ../shared/datasets and /usr/share/datasets, each followed by the data set's
 * folder name ("mnist", "fashion-mnist", "cifar10"). Counts come from the
 * file headers (the MNIST training set here has 10000 images, not 60000).
 * $NNBENCH_DATA may also name the data set's folder itself (tried right after
 * $NNBENCH_DATA/<folder>), unless its last component is another data set's
 * folder name. The first folder holding every file the requested splits need
 * wins; a folder with only some of them is passed over.
 */
#ifndef DATASETS_DATASETS_H
#define DATASETS_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/nn.h"

#define DATASET_ERR_MAX 512

typedef struct {
    char name[32];     /* registry name: "mnist", "fashion-mnist", "cifar10" */
    char root[4096];   /* folder the files were found in */
    int classes;
    Shape shape;       /* per image, NCHW: 1×28×28 or 3×32×32 */
    SampleSet train;   /* views into the buffers below */
    SampleSet test;
    uint8_t *train_pixels, *train_labels;
    uint8_t *test_pixels, *test_labels;
} Dataset;

typedef enum { SPLIT_TRAIN = 1, SPLIT_TEST = 2, SPLIT_BOTH = 3 } SplitMask;

/* Names the registry knows, NULL-terminated. */
const char *const *dataset_names(void);
/* Shape and class count of a registered data set without loading it; -1 if unknown. */
int dataset_info(const char *name, Shape *shape, int *classes);

/* Loads the splits in `which` of the named data set into ds (overwritten, not
 * freed; unrequested splits stay n = 0 / NULL). On failure returns -1
 * with a one-line message in err naming the data set, the file, what was
 * expected and where to get it (and frees everything it took). */
int dataset_load(const char *name, SplitMask which, Dataset *ds, char *err, size_t errlen);
void dataset_free(Dataset *ds);

/* File-level loaders (used by dataset_load and by tests). Each allocates
 * *out (caller frees) and returns 0, or -1 with the file and cause in err. */
int idx_read_images(const char *path, uint8_t **out, int *count, int *rows, int *cols,
                    char *err, size_t errlen);
int idx_read_labels(const char *path, uint8_t **out, int *count, char *err, size_t errlen);
/* Appends the records of one CIFAR-10 batch file (1 label + 3072 pixel bytes
 * each) to *pixels / *labels, growing them; *count is updated. */
int cifar_read_batch(const char *path, uint8_t **pixels, uint8_t **labels, int *count,
                     char *err, size_t errlen);

#endif
