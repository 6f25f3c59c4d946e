/* Report output files that appear whole or not at all: written under a
 * temporary name, flushed to disk, renamed into place; and the one way
 * they write numbers. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nn/nn.h"
#include "report.h"

int out_open(OutFile *o, const char *dir, const char *name, char *err, size_t errlen)
{
    o->f = NULL;
    int n = snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
    int t = snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", o->path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof o->path || t < 0 || (size_t)t >= sizeof o->tmp)
        return errf(err, errlen, "%s/%s: path too long", dir, name);
    o->f = fopen(o->tmp, "w");
    if (!o->f)
        return errf(err, errlen, "%s: cannot write %s: %s", o->path, o->tmp, strerror(errno));
    return 0;
}

int out_commit(OutFile *o, char *err, size_t errlen)
{
    FILE *f = o->f;
    o->f = NULL;
    int e = 0;
    if (fflush(f) != 0 || ferror(f))
        e = errno ? errno : EIO;
    else if (fsync(fileno(f)) != 0)
        e = errno;
    if (fclose(f) != 0 && !e)
        e = errno ? errno : EIO;
    if (!e && rename(o->tmp, o->path) != 0)
        e = errno;
    if (e) {
        unlink(o->tmp);
        return errf(err, errlen, "%s: cannot write: %s", o->path, strerror(e));
    }
    printf("%s\n", o->path);
    return 0;
}

void out_abort(OutFile *o)
{
    if (!o->f)
        return;
    fclose(o->f);
    o->f = NULL;
    unlink(o->tmp);
}

/* gnuplot exits 0 even when its writes failed (a full disk): a figure is
 * whole only if it ends as its format ends, a PNG in its IEND chunk, an SVG
 * in </svg>. Other files are taken as they are. */
static int figure_whole(const char *path, const char *name)
{
    static const unsigned char png_end[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    size_t n = strlen(name);
    int png = n > 4 && !strcmp(name + n - 4, ".png"), svg = n > 4 && !strcmp(name + n - 4, ".svg");
    if (!png && !svg)
        return 1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char tail[64];
    size_t got = 0;
    if (fseek(f, -(long)sizeof tail, SEEK_END) != 0)
        rewind(f);
    got = fread(tail, 1, sizeof tail, f);
    fclose(f);
    if (png)
        return got >= sizeof png_end && !memcmp(tail + got - sizeof png_end, png_end, sizeof png_end);
    while (got > 0 && (tail[got - 1] == '\n' || tail[got - 1] == '\r' || tail[got - 1] == ' '))
        got--;
    return got >= 6 && !memcmp(tail + got - 6, "</svg>", 6);
}

int out_adopt(const char *dir, const char *from, const char *to, char *err, size_t errlen)
{
    char src[REPORT_PATH_MAX + 64], dst[REPORT_PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/%s", dir, from);
    snprintf(dst, sizeof dst, "%s/%s", dir, to);
    struct stat st;
    if (stat(src, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        unlink(src);
        return errf(err, errlen, "%s: gnuplot wrote no such file (or an empty one)", dst);
    }
    if (!figure_whole(src, to)) {
        unlink(src);
        return errf(err, errlen, "%s: cannot write: gnuplot's file is cut short (disk full?)", dst);
    }
    int fd = open(src, O_RDONLY); /* on disk before it takes the final name */
    int e = fd < 0 || fsync(fd) != 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    if (e || rename(src, dst) != 0) {
        e = e ? e : errno;
        unlink(src);
        return errf(err, errlen, "%s: cannot write: %s", dst, strerror(e));
    }
    printf("%s\n", dst);
    return 0;
}

void format_real(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else if (snprintf(buf, len, "%.15g", v), strtod(buf, NULL) != v)
        snprintf(buf, len, "%.17g", v);
}
