/* Replays kept fuzz inputs without libFuzzer: `replay FILE...` feeds each
 * file to the target's LLVMFuzzerTestOneInput once, so `make test` runs the
 * regression inputs under the ASan/UBSan build. A crash or sanitizer report
 * fails the run. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "replay: %s: cannot read\n", argv[i]);
            return 1;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, got;
        do {
            if (len == cap) {
                cap = cap ? cap * 2 : 4096;
                uint8_t *g = realloc(buf, cap);
                if (!g) {
                    free(buf);
                    fclose(f);
                    fprintf(stderr, "replay: %s: out of memory\n", argv[i]);
                    return 1;
                }
                buf = g;
            }
            got = fread(buf + len, 1, cap - len, f);
            len += got;
        } while (got > 0);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
    }
    return 0;
}
