/* h5io — the HDF5 plumbing every nnbench file shares (models, programs):
 * quiet errors, atomic saves, checksummed datasets, checked attribute reads.
 *
 * Saving: h5io_create makes PATH.tmp.PID and an HDF5 file in memory with the
 * HDF5 1.8 object formats (their metadata carries checksums, so a damaged
 * file fails on open or read rather than being parsed); h5io_finish writes
 * it there, fsyncs it and renames it over PATH, or removes it — a failure
 * (a full disk) never leaves a half-written file or an open HDF5 id.
 *
 * Loading: h5io_open refuses missing files, folders and non-HDF5 files with
 * a plain message. Readers check types, counts and sizes before reading, so
 * hostile or truncated files give a message, never a crash.
 */
#ifndef MODEL_H5IO_H
#define MODEL_H5IO_H

#include <stddef.h>

#include <hdf5.h>

#define H5IO_STR_MAX 4096 /* longest fixed-length string attribute read */

/* Turns off HDF5's printing of its error stack (we report errors ourselves). */
void h5io_quiet(void);
void h5io_close_type(hid_t t);
void h5io_close_space(hid_t s);

/* ------------------------------------------------------------- saving */

/* Creates the temporary file for `path` (its name goes to tmp) and an HDF5
 * file built in memory, which h5io_finish writes there. -1 with
 * "PATH: cannot write TMP: why" in err (nothing left behind). */
hid_t h5io_create(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen);
/* ok: writes the file to tmp, syncs it, closes it and renames tmp over
 * path; 0, or -1 with "PATH: cannot write ..." in err. !ok: closes and removes tmp, returns -1
 * (err untouched). Either way the file is closed and tmp never survives a
 * failure. */
int h5io_finish(hid_t file, int ok, const char *path, const char *tmp, char *err, size_t errlen);

/* A fixed-length NUL-terminated string attribute (variable-length strings
 * live in the global heap, whose HDF5 1.10 reader trusts stored lengths). */
int h5io_attr_str(hid_t loc, const char *name, const char *value);
/* `count` numbers (a scalar when count is 1) of file type `type`, read from
 * memory as the same type. */
int h5io_attr_num(hid_t loc, const char *name, hid_t type, const void *v, hsize_t count);
/* Dataset creation: chunked with the Fletcher-32 checksum filter, so damaged
 * raw data is reported instead of read; chunks under 1 GiB. With `compress`
 * (and zlib in the HDF5 library) also byte-shuffled and deflated. */
hid_t h5io_dcpl(int ndim, const hsize_t *dims, size_t elem, int compress);

/* ------------------------------------------------------------ loading */

/* Opens path read-only: -1 with "PATH: cannot read: why", "PATH: not an
 * HDF5 file" or "PATH: damaged or truncated HDF5 file ..." in err. */
hid_t h5io_open(const char *path, char *err, size_t errlen);

/* Is every byte of dataset d really stored? A damaged chunk index (v1
 * B-trees carry no checksum) makes HDF5 read missing chunks as zeros, and a
 * chunk's filter mask can skip the Fletcher-32 check, both silently; an
 * external or virtual layout would read other files. 0, or -1 with the
 * reason in err (the caller names the dataset). Call before H5Dread. */
int h5io_check_stored(hid_t d, char *err, size_t errlen);

/* A string attribute (variable- or fixed-length) into buf. 0, 1 if absent
 * (buf untouched), or -1 with a message naming `where` and name
 * (where = "/", "/graph/", ...). */
int h5io_read_attr_str(hid_t loc, const char *where, const char *name, char *buf, size_t len,
                       char *err, size_t errlen);
/* `count` numbers of a numeric attribute as memtype. 0, 1 if absent, -1. */
int h5io_read_attr_num(hid_t loc, const char *where, const char *name, hid_t memtype, void *out,
                       hssize_t count, char *err, size_t errlen);

#endif
