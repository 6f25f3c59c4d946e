/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes (the
 * R, G and B planes of 32×32, so each record's pixels are already NCHW).
 * Read through zlib, so .bin and .bin.gz both work. */
#include "datasets.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10
/* An official batch is 30.7 MB; anything over this is not a batch file and
 * is refused before it eats memory. */
#define CIFAR_MAX_FILE_BYTES 100000000u
/* Keeps count · 3072 within an int-indexed, size_t-sized buffer. */
#define CIFAR_MAX_RECORDS (INT_MAX / CIFAR_PIXELS)

/* Reads the whole decompressed file into *out / *len. The record count is
 * not in the file, so the buffer grows until EOF. */
static int slurp(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return errf(err, errlen, "%s: cannot open: %s", path,
                    errno ? strerror(errno) : "out of memory");
    size_t cap = 1u << 20, n = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : errf(err, errlen, "%s: out of memory", path);
    while (rc == 0) {
        if (n == cap) {
            /* One byte past the limit is enough to tell the file is too big. */
            if (cap > CIFAR_MAX_FILE_BYTES) {
                rc = errf(err, errlen, "%s: more than %u bytes; not a CIFAR-10 batch file", path,
                          CIFAR_MAX_FILE_BYTES);
                break;
            }
            size_t want = cap * 2 > CIFAR_MAX_FILE_BYTES ? CIFAR_MAX_FILE_BYTES + 1u : cap * 2;
            unsigned char *grown = realloc(buf, want);
            if (!grown) {
                rc = errf(err, errlen, "%s: out of memory", path);
                break;
            }
            buf = grown;
            cap = want;
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            int code;
            rc = errf(err, errlen, "%s: corrupt gzip data: %s", path, gzerror(f, &code));
        } else if (got == 0) {
            break;
        } else {
            n += (size_t)got;
        }
    }
    if (rc == 0) {
        /* gzread reports a gzip stream cut short as a plain EOF; ask. */
        int code;
        const char *msg = gzerror(f, &code);
        if (code == Z_BUF_ERROR)
            rc = errf(err, errlen, "%s: truncated gzip stream (%s) after %zu bytes", path, msg, n);
    }
    gzclose(f);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Checks the record structure and the labels of a whole file image. */
static int check_records(const char *path, const unsigned char *buf, size_t len, char *err,
                         size_t errlen)
{
    if (len == 0)
        return errf(err, errlen, "%s: empty file; expected %d-byte CIFAR-10 records", path,
                    CIFAR_RECORD);
    if (len % CIFAR_RECORD != 0)
        return errf(err, errlen,
                    "%s: %zu bytes is not a whole number of %d-byte records (1 label + %d "
                    "pixels); truncated, or not a CIFAR-10 binary batch",
                    path, len, CIFAR_RECORD, CIFAR_PIXELS);
    for (size_t r = 0; r < len / CIFAR_RECORD; r++) {
        unsigned label = buf[r * CIFAR_RECORD];
        if (label >= CIFAR_CLASSES)
            return errf(err, errlen, "%s: record %zu has label %u; CIFAR-10 labels are 0..%d",
                        path, r, label, CIFAR_CLASSES - 1);
    }
    return 0;
}

/* Grows both arrays to hold `total` records. On failure the arrays stay
 * valid (possibly larger), so the caller still frees them as usual. */
static int grow(uint8_t **pixels, uint8_t **labels, size_t total)
{
    uint8_t *p = realloc(*pixels, total * CIFAR_PIXELS);
    if (!p)
        return -1;
    *pixels = p;
    uint8_t *l = realloc(*labels, total);
    if (!l)
        return -1;
    *labels = l;
    return 0;
}

int cifar_read_batch(const char *path, uint8_t **pixels, uint8_t **labels, int *count, char *err,
                     size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (*count < 0)
        return errf(err, errlen, "%s: negative record count %d passed in", path, *count);
    if (slurp(path, &buf, &len, err, errlen) != 0)
        return -1;
    int rc = check_records(path, buf, len, err, errlen);
    size_t n = len / CIFAR_RECORD, old = (size_t)*count;
    if (rc == 0 && n > (size_t)CIFAR_MAX_RECORDS - old)
        rc = errf(err, errlen, "%s: too many records in total (%zu + %zu, at most %d)", path, old,
                  n, CIFAR_MAX_RECORDS);
    if (rc == 0 && grow(pixels, labels, old + n) != 0)
        rc = errf(err, errlen, "%s: out of memory for %zu records", path, old + n);
    if (rc == 0) {
        for (size_t r = 0; r < n; r++) {
            const unsigned char *rec = buf + r * CIFAR_RECORD;
            (*labels)[old + r] = rec[0];
            memcpy(*pixels + (old + r) * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
        *count = (int)(old + n);
    }
    free(buf);
    return rc;
}
