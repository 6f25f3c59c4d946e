/* Trained models cached by a sweep are sealed with their size and zlib CRC-32
 * in a side file (MODEL.h5.crc32); a cached model is used only while its
 * bytes still match. A flipped bit in a weight leaves an HDF5 file loadable,
 * so loading it is no test of it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "harness.h"

/* Size and CRC-32 of a whole file. 0, or -1 with the cause in why. */
static int file_crc(const char *path, unsigned long *crc, long long *size, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errf(why, whylen, "cannot read: %s", strerror(errno));
    unsigned char buf[1 << 16];
    size_t got;
    *crc = crc32(0L, Z_NULL, 0);
    *size = 0;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        *crc = crc32(*crc, buf, (uInt)got);
        *size += (long long)got;
    }
    int bad = ferror(f);
    fclose(f);
    return bad ? errf(why, whylen, "read error") : 0;
}

static void seal_path(const char *model, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s.crc32", model);
}

int model_cache_check(const char *path, char *why, size_t whylen)
{
    char seal[4200], line[128];
    seal_path(path, seal, sizeof seal);
    unsigned long crc, want_crc;
    long long size, want_size;
    if (file_crc(path, &crc, &size, why, whylen))
        return -1;
    FILE *f = fopen(seal, "r");
    if (!f)
        return errf(why, whylen, "no seal %s", seal);
    int parsed = fgets(line, sizeof line, f) && sscanf(line, "crc32 %lx size %lld", &want_crc, &want_size) == 2;
    fclose(f);
    if (!parsed)
        return errf(why, whylen, "%s: unreadable seal", seal);
    if (size != want_size || crc != want_crc)
        return errf(why, whylen, "%lld bytes with CRC-32 %08lx, sealed as %lld bytes with %08lx", size, crc,
                    want_size, want_crc);
    return 0;
}

int model_cache_seal(const char *path, char *err, size_t errlen)
{
    char seal[4200], tmp[4300], why[256];
    unsigned long crc;
    long long size;
    if (file_crc(path, &crc, &size, why, sizeof why))
        return errf(err, errlen, "%s: %s", path, why);
    seal_path(path, seal, sizeof seal);
    snprintf(tmp, sizeof tmp, "%s.tmp", seal);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
    int bad = fprintf(f, "crc32 %08lx size %lld\n", crc, size) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, seal) != 0) {
        int e = errno;
        remove(tmp);
        return errf(err, errlen, "%s: cannot write: %s", seal, strerror(e));
    }
    return 0;
}
