/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): every parser of
 * nnbench reads files, so each input is written to one scratch file per
 * process and the parser is given its path. Built with clang's
 * -fsanitize=fuzzer by `make fuzz`; `make test` replays the kept inputs
 * (tests/fuzz/regressions/TARGET/) through replay.c with the ASan build. */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The scratch file, named with the suffix parsers look at (".onnx", ".h5"),
 * holding data. NULL if it cannot be written (the input is then skipped). */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/nnbench-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(),
             suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || put != size)
        return NULL;
    return path;
}

/* HDF5 objects the parser left open: LeakSanitizer cannot see them (HDF5's
 * id table keeps them reachable), so the HDF5 targets abort if any file,
 * group, dataset, named type or attribute is still open after a load.
 * (HDF5 1.10 cannot count transient types and spaces: H5Inmembers refuses
 * library id types.) */
#ifdef FUZZ_HDF5
#include <hdf5.h>

static inline void fuzz_check_closed(void)
{
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) {
        fprintf(stderr, "fuzz: %zd HDF5 object(s) left open\n", open_ids);
        abort();
    }
}
#endif

#endif
