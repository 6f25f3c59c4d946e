/* Shared HDF5 plumbing (see h5io.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nn/nn.h"
#include "h5io.h"

void h5io_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

void h5io_close_type(hid_t t)
{
    if (t >= 0)
        H5Tclose(t);
}

void h5io_close_space(hid_t s)
{
    if (s >= 0)
        H5Sclose(s);
}

/* File access: close everything with the file; for writing, the HDF5 1.8
 * object formats (checksummed metadata; HDF5 1.8 and later, and h5py, read
 * them). */
static hid_t strong_fapl(int for_write)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 &&
        (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
         (for_write && H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0))) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* ============================================================= saving */

/* A file being saved is built in memory (the core driver, no backing
 * store): HDF5 never writes to the disk itself, since a write that fails
 * inside H5Fclose (a full disk) leaves HDF5 1.10 holding a half-closed file
 * that crashes the process at exit. The driver's buffer comes from the
 * callbacks below, which keep it when the driver lets go of it at close, so
 * h5io_finish gets the finished bytes and writes them with write(2).
 * (H5Fget_file_image is no way out: HDF5 1.10.8 clears the superblock's
 * status flags in its copy without redoing the checksum.) */
typedef struct {
    hid_t file;     /* 0: slot free (HDF5 ids are positive) */
    void *mem;      /* the driver's buffer, once it let go of it */
    size_t size;    /* its length (whole increments of the driver) */
} Image;

#define IMAGES_MAX 8 /* files being saved at once (HDF5 runs on one thread) */
static Image images[IMAGES_MAX];

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    ((Image *)udata)->size = size;
    return malloc(size);
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dest, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    void *p = realloc(ptr, size);
    if (p)
        ((Image *)udata)->size = size;
    return p;
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE)
        ((Image *)udata)->mem = ptr; /* h5io_finish's now */
    else
        free(ptr);
    return 0;
}

static void *image_udata_copy(void *udata) { return udata; } /* one Image per file */
static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

static Image *image_of(hid_t file)
{
    for (int i = 0; i < IMAGES_MAX; i++)
        if (images[i].file == file)
            return &images[i];
    return NULL;
}

hid_t h5io_create(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    h5io_quiet();
    int w = snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());
    if (w < 0 || (size_t)w >= tmplen)
        return errf(err, errlen, "%s: path too long", path);
    Image *im = image_of(0);
    if (!im)
        return errf(err, errlen, "%s: cannot write: more than %d files being saved at once", path,
                    IMAGES_MAX);
    /* Create it ourselves first, for a plain errno message (HDF5 gives none). */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return errf(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    close(fd);
    *im = (Image){0};
    H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy,     image_realloc, image_free,
                                      image_udata_copy, image_udata_free, im};
    hid_t fapl = strong_fapl(1);
    if (fapl >= 0 && (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
                      H5Pset_file_image_callbacks(fapl, &cb) < 0)) {
        H5Pclose(fapl);
        fapl = -1;
    }
    hid_t file = fapl < 0 ? -1 : H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (file < 0) {
        free(im->mem);
        *im = (Image){0};
        unlink(tmp);
        return errf(err, errlen, "%s: cannot create HDF5 file %s", path, tmp);
    }
    im->file = file;
    return file;
}

/* image into tmp (created by h5io_create), synced. 0, or -1 with errno set. */
static int write_image(const char *tmp, const unsigned char *image, size_t size)
{
    int fd = open(tmp, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, image + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

/* The file's length: the end-of-file address of its superblock (version 2
 * or 3, which the 1.8 formats write, at offset 28), as the buffer runs on to
 * the driver's next increment. size itself if the superblock is not one. */
static size_t image_length(const unsigned char *mem, size_t size)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size < 48 || memcmp(mem, sig, 8) != 0 || (mem[8] != 2 && mem[8] != 3) || mem[9] != 8)
        return size;
    uint64_t eof = 0;
    for (int k = 7; k >= 0; k--)
        eof = eof << 8 | mem[28 + k];
    return eof >= 48 && eof <= size ? (size_t)eof : size;
}

int h5io_finish(hid_t file, int ok, const char *path, const char *tmp, char *err, size_t errlen)
{
    Image *im = image_of(file);
    /* In memory, closing writes nothing to the disk, so it cannot fail half
     * way and it frees every id of the file. */
    int closed = H5Fclose(file) >= 0;
    void *mem = im ? im->mem : NULL;
    size_t size = mem ? image_length(mem, im->size) : 0;
    if (im)
        *im = (Image){0};
    int rc = -1;
    if (!ok) {
        /* the caller reports why */
    } else if (!closed || !mem) {
        errf(err, errlen, "%s: cannot write (cannot build the HDF5 file in memory)", path);
    } else if (write_image(tmp, mem, size) != 0) {
        errf(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    } else if (rename(tmp, path) != 0) {
        errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    } else {
        rc = 0;
    }
    free(mem);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static int write_attr(hid_t loc, const char *name, hid_t type, hid_t space, const void *buf)
{
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return -1;
    int rc = H5Awrite(a, type, buf) < 0 ? -1 : 0;
    if (H5Aclose(a) < 0)
        rc = -1;
    return rc;
}

int h5io_attr_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    int rc = -1;
    if (t >= 0 && s >= 0 && H5Tset_size(t, strlen(value) + 1) >= 0 &&
        H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0)
        rc = write_attr(loc, name, t, s, value);
    h5io_close_type(t);
    h5io_close_space(s);
    return rc;
}

int h5io_attr_num(hid_t loc, const char *name, hid_t type, const void *v, hsize_t count)
{
    hid_t s = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, NULL);
    if (s < 0)
        return -1;
    int rc = write_attr(loc, name, type, s, v);
    H5Sclose(s);
    return rc;
}

hid_t h5io_dcpl(int ndim, const hsize_t *dims, size_t elem, int compress)
{
    hsize_t chunk[H5S_MAX_RANK];
    size_t inner = elem;
    for (int k = 0; k < ndim; k++) {
        chunk[k] = dims[k] ? dims[k] : 1;
        if (k > 0)
            inner *= (size_t)chunk[k];
    }
    /* Compressed chunks stay at 1 MiB (HDF5's default chunk cache). */
    size_t cap = compress ? (size_t)1 << 20 : (size_t)1 << 30;
    hsize_t rows_max = inner >= cap ? 1 : (hsize_t)(cap / inner);
    if (chunk[0] > rows_max)
        chunk[0] = rows_max;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0)
        return -1;
    int bad = H5Pset_chunk(dcpl, ndim, chunk) < 0;
    /* Filters run in the order set: shuffle, deflate, then the checksum of
     * the bytes as stored. */
    if (!bad && compress && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0)
        bad = H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0;
    if (bad || H5Pset_fletcher32(dcpl) < 0) {
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* ============================================================ loading */

hid_t h5io_open(const char *path, char *err, size_t errlen)
{
    h5io_quiet();
    FILE *f = fopen(path, "rb");
    if (!f)
        return errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    struct stat st;
    int st_rc = fstat(fileno(f), &st);
    int e = st_rc != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    fclose(f);
    if (e)
        return errf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    if (H5Fis_hdf5(path) <= 0)
        return errf(err, errlen, "%s: not an HDF5 file", path);
    hid_t fapl = strong_fapl(0);
    hid_t file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (file < 0)
        return errf(err, errlen, "%s: damaged or truncated HDF5 file (cannot open it)", path);
    return file;
}

#define CHUNKS_MAX 65536 /* chunks of one dataset (we write at most a few thousand) */

/* Every chunk of a chunked dataset present, with all its filters applied. */
static int check_chunks(hid_t d, hid_t dcpl, hid_t sp, int ndim, const hsize_t *dims, char *err,
                        size_t errlen)
{
    hsize_t cdims[H5S_MAX_RANK], grid[H5S_MAX_RANK], at[H5S_MAX_RANK], expected = 1, stored = 0;
    if (H5Pget_chunk(dcpl, ndim, cdims) != ndim)
        return errf(err, errlen, "cannot read its chunk layout");
    for (int k = 0; k < ndim; k++) {
        if (cdims[k] == 0)
            return errf(err, errlen, "a chunk dimension of 0");
        grid[k] = (dims[k] + cdims[k] - 1) / cdims[k];
        expected = grid[k] == 0                      ? 0
                   : expected > CHUNKS_MAX / grid[k] ? CHUNKS_MAX + 1
                                                     : expected * grid[k];
        at[k] = 0;
    }
    if (expected > CHUNKS_MAX)
        return errf(err, errlen, "stored in more than %d chunks", CHUNKS_MAX);
    /* HDF5 1.10 takes the dataset's own space here, not H5S_ALL */
    if (H5Dget_num_chunks(d, sp, &stored) < 0 || stored != expected)
        return errf(err, errlen, "%llu of its %llu chunks stored (damaged or truncated file?)",
                    (unsigned long long)stored, (unsigned long long)expected);
    for (hsize_t c = 0; c < expected; c++) {
        hsize_t offset[H5S_MAX_RANK];
        for (int k = 0; k < ndim; k++)
            offset[k] = at[k] * cdims[k];
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        if (H5Dget_chunk_info_by_coord(d, offset, &mask, &addr, &size) < 0 || addr == HADDR_UNDEF)
            return errf(err, errlen, "chunk %llu is missing (damaged file?)",
                        (unsigned long long)c);
        if (mask != 0)
            return errf(err, errlen, "chunk %llu skips its filters (damaged file?)",
                        (unsigned long long)c);
        for (int k = ndim - 1; k >= 0 && ++at[k] == grid[k]; k--) /* odometer */
            at[k] = 0;
    }
    return 0;
}

int h5io_check_stored(hid_t d, char *err, size_t errlen)
{
    hid_t dcpl = H5Dget_create_plist(d), sp = H5Dget_space(d), ft = H5Dget_type(d);
    hsize_t dims[H5S_MAX_RANK];
    int ndim = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    int rc = -1;
    if (dcpl < 0 || ft < 0 || ndim < 0 || ndim > H5S_MAX_RANK ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        errf(err, errlen, "cannot read its layout");
        goto out;
    }
    H5D_layout_t layout = H5Pget_layout(dcpl);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (layout == H5D_COMPACT) {
        rc = 0; /* held in the object header, under its checksum */
    } else if (layout == H5D_CONTIGUOUS) {
        if (H5Pget_external_count(dcpl) != 0)
            errf(err, errlen, "stored in external files (not supported)");
        else if (n < 0 || H5Dget_storage_size(d) < (hsize_t)n * H5Tget_size(ft))
            errf(err, errlen, "not all of its data is stored (damaged or truncated file?)");
        else
            rc = 0;
    } else if (layout == H5D_CHUNKED) {
        rc = check_chunks(d, dcpl, sp, ndim, dims, err, errlen);
    } else {
        errf(err, errlen, "an unsupported storage layout");
    }
out:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    h5io_close_space(sp);
    h5io_close_type(ft);
    return rc;
}

/* Copies text (n characters) into buf if it fits. */
static int take_str(const char *text, size_t n, const char *where, const char *name, char *buf,
                    size_t len, char *err, size_t errlen)
{
    if (n >= len)
        return errf(err, errlen, "attribute %s%s: longer than %zu characters", where, name,
                    len - 1);
    memcpy(buf, text, n);
    buf[n] = '\0';
    return 0;
}

int h5io_read_attr_str(hid_t loc, const char *where, const char *name, char *buf, size_t len,
                       char *err, size_t errlen)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex == 0)
        return 1;
    if (ex < 0)
        return errf(err, errlen, "cannot read attribute %s%s", where, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ft = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    hid_t mt = -1;
    int rc = -1;
    char *text = NULL;
    if (ft < 0 || sp < 0) {
        errf(err, errlen, "cannot read attribute %s%s", where, name);
        goto out;
    }
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        errf(err, errlen, "attribute %s%s: a single string expected", where, name);
        goto out;
    }
    htri_t var = H5Tis_variable_str(ft);
    /* HDF5 does not convert between character sets: read in the file's. */
    H5T_cset_t cset = H5Tget_cset(ft);
    if (var < 0 || cset < 0 || (mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_cset(mt, cset) < 0) {
        errf(err, errlen, "cannot read attribute %s%s", where, name);
        goto out;
    }
    if (var) {
        if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, &text) < 0 || !text) {
            errf(err, errlen, "cannot read attribute %s%s", where, name);
            goto out;
        }
        rc = take_str(text, strlen(text), where, name, buf, len, err, errlen);
        H5free_memory(text);
        text = NULL;
    } else {
        size_t size = H5Tget_size(ft);
        if (size == 0 || size > H5IO_STR_MAX) {
            errf(err, errlen, "attribute %s%s: bad string size %zu", where, name, size);
            goto out;
        }
        text = calloc(1, size + 1);
        if (!text || H5Tset_size(mt, size) < 0 || H5Aread(a, mt, text) < 0) {
            errf(err, errlen, "cannot read attribute %s%s", where, name);
            goto out;
        }
        size_t n = strlen(text);
        while (n > 0 && text[n - 1] == ' ' && H5Tget_strpad(ft) == H5T_STR_SPACEPAD)
            n--;
        rc = take_str(text, n, where, name, buf, len, err, errlen);
    }
out:
    free(text);
    h5io_close_type(mt);
    h5io_close_space(sp);
    h5io_close_type(ft);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

int h5io_read_attr_num(hid_t loc, const char *where, const char *name, hid_t memtype, void *out,
                       hssize_t count, char *err, size_t errlen)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex == 0)
        return 1;
    if (ex < 0)
        return errf(err, errlen, "cannot read attribute %s%s", where, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ft = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    int rc = -1;
    if (ft < 0 || sp < 0) {
        errf(err, errlen, "cannot read attribute %s%s", where, name);
    } else if ((H5Tget_class(ft) != H5T_INTEGER && H5Tget_class(ft) != H5T_FLOAT) ||
               H5Sget_simple_extent_npoints(sp) != count) {
        errf(err, errlen, "attribute %s%s: %lld number%s expected", where, name, (long long)count,
             count == 1 ? "" : "s");
    } else if (H5Aread(a, memtype, out) < 0) {
        errf(err, errlen, "cannot read attribute %s%s", where, name);
    } else {
        rc = 0;
    }
    h5io_close_space(sp);
    h5io_close_type(ft);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}
