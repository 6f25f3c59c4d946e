/* Compiled program files (HDF5): blocks, ops, wiring, hardware, mapping, checksums. */
#include "../../compiler/program.h"
#define FUZZ_HDF5
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    if (!path)
        return 0;
    Program *p = NULL;
    Hw hw;
    ProgramInfo info;
    char err[1024];
    if (program_load(path, &p, &hw, &info, err, sizeof err) == 0) {
        program_free(p);
        program_info_free(&info);
    }
    fuzz_check_closed();
    return 0;
}
