/* ONNX files: protobuf decoding, tensors, attributes, constant folding, import. */
#include "../../compiler/compiler.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".onnx");
    if (!path)
        return 0;
    OnnxOptions opt = {.has_data_shape = 1, .data_shape = {1, 28, 28}};
    Model m;
    char err[1024];
    if (onnx_import(path, &opt, &m, err, sizeof err) == 0)
        model_free(&m);
    return 0;
}
