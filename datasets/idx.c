/* idx loader (MNIST, Fashion-MNIST): a big-endian header, then uint8 data.
 *   images: magic 2051, count, rows, cols, then count·rows·cols pixels
 *   labels: magic 2049, count, then count labels
 * Read through zlib, so .gz and plain files both work. Every size comes from
 * the header and is checked before anything is allocated. */
#include "datasets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 2051u
#define IDX_MAGIC_LABELS 2049u
/* Larger than any real idx file (Fashion-MNIST train: 47 MB); a header
 * asking for more is corrupt, and refusing it avoids huge allocations. */
#define IDX_MAX_BYTES 100000000ull
#define IDX_MAX_SIDE 65535u

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static gzFile open_idx(const char *path, char *err, size_t errlen)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        errf(err, errlen, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    return f;
}

/* Reads up to len bytes; returns how many arrived (fewer only at the end of
 * the data, including a gzip stream cut short), or -1 on a corrupt stream. */
static long long read_full(gzFile f, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got;
        if (want > (1u << 30))
            want = 1u << 30; /* gzread takes an unsigned and returns an int */
        int n = gzread(f, buf + got, (unsigned)want);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long long)got;
}

static int stream_error(gzFile f, const char *path, char *err, size_t errlen)
{
    int code;
    const char *msg = gzerror(f, &code);
    return errf(err, errlen, "%s: corrupt gzip data: %s", path, msg ? msg : "read error");
}

/* Reads the header words after the magic; checks the magic first so a
 * swapped images/labels file gets a clear message. */
static int read_header(gzFile f, const char *path, uint32_t magic, uint32_t *words, int nwords,
                       char *err, size_t errlen)
{
    unsigned char h[16];
    size_t len = 4 * (size_t)(nwords + 1);
    long long got = read_full(f, h, len);
    if (got < 0)
        return stream_error(f, path, err, errlen);
    if (got < 4 || be32(h) != magic) {
        uint32_t seen = got >= 4 ? be32(h) : 0;
        const char *what = magic == IDX_MAGIC_IMAGES ? "idx3 images" : "idx1 labels";
        const char *hint = seen == IDX_MAGIC_IMAGES   ? " (this is an idx3 images file)"
                           : seen == IDX_MAGIC_LABELS ? " (this is an idx1 labels file)"
                                                      : "";
        if (got < 4)
            return errf(err, errlen, "%s: too short for an idx header; expected %s (magic %u)",
                        path, what, magic);
        return errf(err, errlen, "%s: bad magic %u, expected %u (%s)%s", path, seen, magic, what,
                    hint);
    }
    if (got < (long long)len)
        return errf(err, errlen, "%s: truncated: idx header needs %zu bytes, file holds %lld",
                    path, len, got);
    for (int i = 0; i < nwords; i++)
        words[i] = be32(h + 4 * (i + 1));
    return 0;
}

/* Reads exactly `len` data bytes into a fresh buffer. `what` describes the
 * header's promise for the truncation message. */
static int read_data(gzFile f, const char *path, size_t len, const char *what, const char *kind,
                     uint8_t **out, char *err, size_t errlen)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return errf(err, errlen, "%s: out of memory for %zu bytes", path, len);
    long long got = read_full(f, buf, len);
    if (got < 0) {
        free(buf);
        return stream_error(f, path, err, errlen);
    }
    if ((size_t)got < len) {
        free(buf);
        return errf(err, errlen, "%s: truncated: header says %s, file holds %lld bytes of %s data",
                    path, what, got, kind);
    }
    *out = buf;
    return 0;
}

int idx_read_images(const char *path, uint8_t **out, int *count, int *rows, int *cols, char *err,
                    size_t errlen)
{
    *out = NULL;
    gzFile f = open_idx(path, err, errlen);
    if (!f)
        return -1;
    uint32_t w[3] = {0, 0, 0};
    int rc = read_header(f, path, IDX_MAGIC_IMAGES, w, 3, err, errlen);
    if (rc == 0) {
        /* Each factor is bounded first so the product cannot overflow. */
        if (w[0] == 0 || w[1] == 0 || w[2] == 0 || w[1] > IDX_MAX_SIDE || w[2] > IDX_MAX_SIDE ||
            (unsigned long long)w[0] * w[1] * w[2] > IDX_MAX_BYTES)
            rc = errf(err, errlen,
                      "%s: implausible idx header: %u images of %ux%u (expected 1..%llu bytes "
                      "of pixels)",
                      path, w[0], w[1], w[2], IDX_MAX_BYTES);
    }
    if (rc == 0) {
        char what[96];
        snprintf(what, sizeof what, "%u images of %ux%u", w[0], w[1], w[2]);
        rc = read_data(f, path, (size_t)w[0] * w[1] * w[2], what, "pixel", out, err, errlen);
    }
    gzclose(f);
    if (rc == 0) {
        *count = (int)w[0];
        *rows = (int)w[1];
        *cols = (int)w[2];
    }
    return rc;
}

int idx_read_labels(const char *path, uint8_t **out, int *count, char *err, size_t errlen)
{
    *out = NULL;
    gzFile f = open_idx(path, err, errlen);
    if (!f)
        return -1;
    uint32_t n = 0;
    int rc = read_header(f, path, IDX_MAGIC_LABELS, &n, 1, err, errlen);
    if (rc == 0 && (n == 0 || n > IDX_MAX_BYTES))
        rc = errf(err, errlen, "%s: implausible idx header: %u labels (expected 1..%llu)", path, n,
                  IDX_MAX_BYTES);
    if (rc == 0) {
        char what[64];
        snprintf(what, sizeof what, "%u labels", n);
        rc = read_data(f, path, n, what, "label", out, err, errlen);
    }
    gzclose(f);
    if (rc == 0)
        *count = (int)n;
    return rc;
}
