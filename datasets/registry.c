/* The data-set registry, the search path, and dataset_load / dataset_free. */
#include "datasets.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define SEARCH_MAX 5          /* $NNBENCH_DATA/<f>, $NNBENCH_DATA, three fixed roots */
#define CIFAR_TRAIN_BATCHES 5 /* data_batch_1 .. data_batch_5 */

typedef enum { FORMAT_IDX, FORMAT_CIFAR } Format;

typedef struct {
    const char *name;   /* registry name, also used in messages */
    const char *folder; /* sub-folder under each search root */
    Shape shape;
    int classes;
    Format format;
    const char *source; /* where to get the files: ends every error message */
} Entry;

static const Entry registry[] = {
    {"mnist", "mnist", {1, 28, 28}, 10, FORMAT_IDX,
     "get the MNIST idx files ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz) and set "
     "NNBENCH_DATA"},
    {"fashion-mnist", "fashion-mnist", {1, 28, 28}, 10, FORMAT_IDX,
     "apt-get install dataset-fashion-mnist (or get the Fashion-MNIST idx files and set "
     "NNBENCH_DATA)"},
    {"cifar10", "cifar10", {3, 32, 32}, 10, FORMAT_CIFAR,
     "get the CIFAR-10 binary version (data_batch_*.bin, test_batch.bin) and set NNBENCH_DATA"},
};
#define N_ENTRIES (sizeof registry / sizeof registry[0])

/* The registry's names in its order, for dataset_names. */
static const char *const names[N_ENTRIES + 1] = {"mnist", "fashion-mnist", "cifar10", NULL};

/* Roots after $NNBENCH_DATA, in search order. */
static const char *const fixed_roots[] = {"./datasets/data", "../shared/datasets",
                                          "/usr/share/datasets"};

/* Base names of the idx files, indexed [test][labels]. */
static const char *const idx_files[2][2] = {
    {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
    {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
};

static const Entry *lookup(const char *name)
{
    for (size_t i = 0; name && i < N_ENTRIES; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

const char *const *dataset_names(void) { return names; }

int dataset_info(const char *name, Shape *shape, int *classes)
{
    const Entry *e = lookup(name);
    if (!e)
        return -1;
    if (shape)
        *shape = e->shape;
    if (classes)
        *classes = e->classes;
    return 0;
}

/* ------------------------------------------------------------ search path */

/* dir + "/" + file into out; -1 if it does not fit. */
static int join(char *out, size_t len, const char *dir, const char *file)
{
    size_t d = strlen(dir);
    const char *sep = d && dir[d - 1] == '/' ? "" : "/";
    int n = snprintf(out, len, "%s%s%s", dir, sep, file);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds base.gz or plain base in dir (the .gz name first: that is how the
 * files are shipped). Writes the path into out; 0 if found. */
static int find_file(const char *dir, const char *base, char *out, size_t len)
{
    char gz[256];
    snprintf(gz, sizeof gz, "%s.gz", base);
    if (join(out, len, dir, gz) == 0 && is_file(out))
        return 0;
    if (join(out, len, dir, base) == 0 && is_file(out))
        return 0;
    return -1;
}

/* Lists the files (base names) a split needs; returns how many. Only the
 * first CIFAR training batch is required: later ones are optional. */
static int needed_files(const Entry *e, SplitMask which, const char *out[4])
{
    int n = 0;
    for (int test = 0; test < 2; test++) {
        if (!(which & (test ? SPLIT_TEST : SPLIT_TRAIN)))
            continue;
        if (e->format == FORMAT_CIFAR) {
            out[n++] = test ? "test_batch.bin" : "data_batch_1.bin";
        } else {
            out[n++] = idx_files[test][0];
            out[n++] = idx_files[test][1];
        }
    }
    return n;
}

/* How many of the needed files dir holds; *missing gets the first absent one. */
static int count_present(const Entry *e, SplitMask which, const char *dir, const char **missing)
{
    const char *files[4];
    int n = needed_files(e, which, files), present = 0;
    *missing = NULL;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (find_file(dir, files[i], path, sizeof path) == 0)
            present++;
        else if (!*missing)
            *missing = files[i];
    }
    return present;
}

/* The data set whose folder name is dir's last component, or NULL. */
static const Entry *folder_owner(const char *dir)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const char *f = registry[i].folder;
        if (strlen(f) == end - start && strncmp(dir + start, f, end - start) == 0)
            return &registry[i];
    }
    return NULL;
}

/* Whether $NNBENCH_DATA may itself be the folder of data set e. Not when it
 * is named after another data set: MNIST and Fashion-MNIST use the same file
 * names, and NNBENCH_DATA=.../fashion-mnist must not pass for MNIST. */
static int direct_folder_ok(const char *dir, const Entry *e)
{
    const Entry *owner = folder_owner(dir);
    return !owner || owner == e;
}

typedef struct {
    int n;
    char dir[SEARCH_MAX][PATH_MAX];
} SearchPath;

static void add_dir(SearchPath *sp, const char *root, const char *folder)
{
    if (sp->n == SEARCH_MAX)
        return;
    int ok = folder ? join(sp->dir[sp->n], PATH_MAX, root, folder) == 0
                    : snprintf(sp->dir[sp->n], PATH_MAX, "%s", root) < PATH_MAX;
    if (ok)
        sp->n++;
}

static void search_path(const Entry *e, SearchPath *sp)
{
    const char *env = getenv("NNBENCH_DATA");
    sp->n = 0;
    if (env && *env) {
        add_dir(sp, env, e->folder);
        if (direct_folder_ok(env, e))
            add_dir(sp, env, NULL);
    }
    for (size_t i = 0; i < sizeof fixed_roots / sizeof fixed_roots[0]; i++)
        add_dir(sp, fixed_roots[i], e->folder);
}

/* Writes the not-found message: every folder looked in, the first folder
 * that held only some of the files (a likely half-finished copy), and where
 * to get the data. */
static int not_found(const Entry *e, const SearchPath *sp, const char *partial_dir,
                     const char *partial_missing, char *err, size_t errlen)
{
    char msg[DATASET_ERR_MAX * 2] = "";
    errf_append(msg, sizeof msg, "%s: no data found (looked in ", e->name);
    const char *env = getenv("NNBENCH_DATA");
    if (!env || !*env)
        errf_append(msg, sizeof msg, "$NNBENCH_DATA/%s, ", e->folder);
    for (int i = 0; i < sp->n; i++)
        errf_append(msg, sizeof msg, "%s%s", sp->dir[i], i + 1 < sp->n ? ", " : ")");
    if (env && *env && !direct_folder_ok(env, e))
        errf_append(msg, sizeof msg, "; NNBENCH_DATA=%s is the %s folder, not used for %s", env,
               folder_owner(env)->name, e->name);
    if (partial_dir)
        errf_append(msg, sizeof msg, "; %s has some files but not %s[.gz]", partial_dir,
               partial_missing);
    errf_append(msg, sizeof msg, "; %s", e->source);
    return errf(err, errlen, "%s", msg);
}

/* Picks the first folder on the search path that holds every file the
 * requested splits need, and stores its canonical path in root. */
static int find_root(const Entry *e, SplitMask which, char *root, size_t rootlen, char *err,
                     size_t errlen)
{
    SearchPath sp;
    const char *files[4];
    int needed = needed_files(e, which, files);
    int partial = -1;
    const char *partial_missing = NULL;
    search_path(e, &sp);
    for (int i = 0; i < sp.n; i++) {
        const char *missing;
        int present = count_present(e, which, sp.dir[i], &missing);
        if (present == needed) {
            char canon[PATH_MAX];
            /* Absolute paths make error messages unambiguous. */
            const char *dir = realpath(sp.dir[i], canon) ? canon : sp.dir[i];
            snprintf(root, rootlen, "%s", dir);
            return 0;
        }
        if (present > 0 && partial < 0) {
            partial = i;
            partial_missing = missing;
        }
    }
    return not_found(e, &sp, partial >= 0 ? sp.dir[partial] : NULL, partial_missing, err, errlen);
}

/* ---------------------------------------------------------------- loading */

static int check_labels(const char *path, const uint8_t *labels, int n, int classes, char *err,
                        size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (labels[i] >= classes)
            return errf(err, errlen, "%s: label %d at index %d is out of range (expected 0..%d)",
                        path, labels[i], i, classes - 1);
    return 0;
}

/* Loads one idx split into *px / *lb (owned by ds from the moment they are
 * allocated, so dataset_free cleans up after any failure). */
static int load_idx(const Entry *e, const char *root, int test, uint8_t **px, uint8_t **lb,
                    int *n, char *err, size_t errlen)
{
    char img[PATH_MAX], lab[PATH_MAX];
    int rows, cols, nlabels;
    if (find_file(root, idx_files[test][0], img, sizeof img) != 0 ||
        find_file(root, idx_files[test][1], lab, sizeof lab) != 0)
        return errf(err, errlen, "%s: idx files vanished while loading", root);
    if (idx_read_images(img, px, n, &rows, &cols, err, errlen) != 0)
        return -1;
    if (rows != e->shape.h || cols != e->shape.w)
        return errf(err, errlen, "%s: images are %dx%d, expected %dx%d", img, rows, cols,
                    e->shape.h, e->shape.w);
    if (idx_read_labels(lab, lb, &nlabels, err, errlen) != 0)
        return -1;
    if (nlabels != *n)
        return errf(err, errlen, "%s holds %d images but %s holds %d labels", img, *n, lab,
                    nlabels);
    return check_labels(lab, *lb, *n, e->classes, err, errlen);
}

/* Training batches are data_batch_1, 2, ... up to the first one missing. */
static int load_cifar(const char *root, int test, uint8_t **px, uint8_t **lb, int *n, char *err,
                      size_t errlen)
{
    char path[PATH_MAX];
    *n = 0;
    if (test) {
        if (find_file(root, "test_batch.bin", path, sizeof path) != 0)
            return errf(err, errlen, "%s: test_batch.bin vanished while loading", root);
        return cifar_read_batch(path, px, lb, n, err, errlen);
    }
    for (int b = 1; b <= CIFAR_TRAIN_BATCHES; b++) {
        char base[32];
        snprintf(base, sizeof base, "data_batch_%d.bin", b);
        if (find_file(root, base, path, sizeof path) != 0) {
            if (b == 1)
                return errf(err, errlen, "%s: data_batch_1.bin vanished while loading", root);
            break;
        }
        if (cifar_read_batch(path, px, lb, n, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int load_split(const Entry *e, Dataset *ds, int test, char *err, size_t errlen)
{
    uint8_t **px = test ? &ds->test_pixels : &ds->train_pixels;
    uint8_t **lb = test ? &ds->test_labels : &ds->train_labels;
    int n = 0;
    int rc = e->format == FORMAT_CIFAR ? load_cifar(ds->root, test, px, lb, &n, err, errlen)
                                       : load_idx(e, ds->root, test, px, lb, &n, err, errlen);
    if (rc != 0)
        return -1;
    SampleSet *s = test ? &ds->test : &ds->train;
    *s = (SampleSet){.n = n, .shape = e->shape, .classes = e->classes, .pixels = *px,
                     .labels = *lb};
    return 0;
}

static int unknown(const char *name, char *err, size_t errlen)
{
    char known[128] = "";
    for (size_t i = 0; i < N_ENTRIES; i++)
        errf_append(known, sizeof known, "%s%s", i ? ", " : "", registry[i].name);
    return errf(err, errlen, "unknown data set '%s' (known: %s)", name ? name : "(null)", known);
}

/* ds is overwritten, not freed: dataset_free a loaded one before reusing it. */
int dataset_load(const char *name, SplitMask which, Dataset *ds, char *err, size_t errlen)
{
    if (!ds)
        return errf(err, errlen, "dataset_load: no Dataset given");
    memset(ds, 0, sizeof *ds);
    const Entry *e = lookup(name);
    if (!e)
        return unknown(name, err, errlen);
    if (which < SPLIT_TRAIN || which > SPLIT_BOTH)
        return errf(err, errlen, "%s: bad split mask %d (expected train, test or both)", e->name,
                    (int)which);
    if (find_root(e, which, ds->root, sizeof ds->root, err, errlen) != 0)
        return -1;
    snprintf(ds->name, sizeof ds->name, "%s", e->name);
    ds->classes = e->classes;
    ds->shape = e->shape;
    char msg[DATASET_ERR_MAX];
    for (int test = 0; test < 2; test++) {
        if (!(which & (test ? SPLIT_TEST : SPLIT_TRAIN)))
            continue;
        if (load_split(e, ds, test, msg, sizeof msg) != 0) {
            dataset_free(ds);
            return errf(err, errlen, "%s: %s; to replace it, %s", e->name, msg, e->source);
        }
    }
    return 0;
}

void dataset_free(Dataset *ds)
{
    if (!ds)
        return;
    free(ds->train_pixels);
    free(ds->train_labels);
    free(ds->test_pixels);
    free(ds->test_labels);
    memset(ds, 0, sizeof *ds);
}
