/* Hardware descriptions: the INI reader, every key's range, the cross-key checks. */
#include "../../compiler/hw.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".ini");
    if (!path)
        return 0;
    Hw hw;
    hw_default(&hw);
    char err[1024];
    if (hw_load(path, &hw, err, sizeof err) == 0)
        (void)hw_check(&hw, path, err, sizeof err);
    return 0;
}
