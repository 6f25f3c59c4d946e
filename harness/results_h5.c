/* results_save / results_load: the results store as HDF5 (DESIGN.md §7).
 *
 *   /runs   compound dataset, one row per job, chunked (Fletcher-32,
 *           deflated): the fixed columns of results_columns (fixed-length
 *           NUL-terminated strings of the field's size; native int, long
 *           long and double), then one double column per sweep axis, named
 *           by its key. The axes are the columns that are not fixed ones, in
 *           file order: nothing else records them, so h5py and pandas see
 *           plain columns.
 *   /meta   group with attributes format_version (int), version, commit,
 *           host, started, finished (strings), ranks (int) and, when the
 *           sweep file is known, config (its text).
 *
 * Loading checks the format version, every column's type and size and
 * every string's terminator before anything reaches the caller.
 */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "../model/h5io.h"
#include "../nn/nn.h"
#include "results.h"

#define ROWS_MAX 1000000        /* rows a results file may hold (a sweep has thousands) */
#define CONFIG_MAX (16u << 20)  /* bytes of the sweep file's text */
#define PATH_TMP_MAX 4200       /* PATH.tmp.PID */

/* ======================================================== row types */

/* A fixed-length string type of `size` bytes (NUL-terminated). */
static hid_t text_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static hid_t number_type(ResultsColumnKind kind)
{
    return kind == RESULTS_COL_INT     ? H5T_NATIVE_INT
           : kind == RESULTS_COL_LLONG ? H5T_NATIVE_LLONG
                                       : H5T_NATIVE_DOUBLE;
}

/* Adds the fixed columns to a compound type at RunRecord's offsets. With
 * `text` (a file's string member types, by column) the strings keep the
 * file's own string type, so reading copies their bytes unchanged. */
static int insert_fixed(hid_t row, const hid_t *text)
{
    for (int c = 0; c < RESULTS_N_COLUMNS; c++) {
        const ResultsColumn *col = &results_columns[c];
        if (col->kind != RESULTS_COL_TEXT) {
            if (H5Tinsert(row, col->name, col->offset, number_type(col->kind)) < 0)
                return -1;
            continue;
        }
        hid_t t = text ? text[c] : text_type(col->size);
        int bad = t < 0 || H5Tinsert(row, col->name, col->offset, t) < 0;
        if (!text)
            h5io_close_type(t);
        if (bad)
            return -1;
    }
    return 0;
}

/* The memory type of a row: a whole RunRecord, with axis i at axis[i]. */
static hid_t memory_row(int n_axes, const char (*keys)[64], const hid_t *text)
{
    hid_t row = H5Tcreate(H5T_COMPOUND, sizeof(RunRecord));
    if (row < 0)
        return -1;
    int bad = insert_fixed(row, text);
    for (int i = 0; i < n_axes && !bad; i++)
        bad = H5Tinsert(row, keys[i], offsetof(RunRecord, axis) + (size_t)i * sizeof(double),
                        H5T_NATIVE_DOUBLE) < 0;
    if (bad) {
        H5Tclose(row);
        return -1;
    }
    return row;
}

/* ============================================================= save */

/* Axis names must make distinct columns. */
static int check_axes(const Results *r, char *err, size_t errlen)
{
    if (r->n_axes < 0 || r->n_axes > RESULTS_MAX_AXES)
        return errf(err, errlen, "%d axes (at most %d)", r->n_axes, RESULTS_MAX_AXES);
    if (r->n > 0 && !r->runs)
        return errf(err, errlen, "%zu rows but no row data", r->n);
    for (int i = 0; i < r->n_axes; i++) {
        const char *key = r->axis_key[i];
        size_t len = strnlen(key, sizeof r->axis_key[i]);
        if (len == 0 || len == sizeof r->axis_key[i])
            return errf(err, errlen, "axis %d: %s name", i + 1, len ? "an unterminated" : "no");
        for (int c = 0; c < RESULTS_N_COLUMNS; c++)
            if (!strcmp(key, results_columns[c].name))
                return errf(err, errlen, "axis '%s' has the name of a fixed column", key);
        for (int j = 0; j < i; j++)
            if (!strcmp(key, r->axis_key[j]))
                return errf(err, errlen, "axis '%s' appears twice", key);
    }
    return 0;
}

/* A copy of the rows whose strings end inside their fields (the last byte
 * gives way) and whose bytes after the terminator are zero, so the file
 * holds no stray memory. NULL on OOM (or no rows). */
static RunRecord *clean_rows(const Results *r)
{
    RunRecord *rows = malloc((r->n ? r->n : 1) * sizeof *rows);
    if (!rows)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        rows[i] = r->runs[i];
        for (int c = 0; c < RESULTS_N_COLUMNS; c++) {
            const ResultsColumn *col = &results_columns[c];
            if (col->kind != RESULTS_COL_TEXT)
                continue;
            char *s = (char *)&rows[i] + col->offset;
            size_t len = strnlen(s, col->size);
            if (len == col->size)
                len--;
            memset(s + len, 0, col->size - len);
        }
    }
    return rows;
}

static int write_runs(hid_t f, const Results *r, const RunRecord *rows)
{
    hsize_t dims = r->n, maxdims = H5S_UNLIMITED; /* unlimited: an empty table is chunked too */
    hid_t mem = memory_row(r->n_axes, r->axis_key, NULL);
    hid_t file = mem < 0 ? -1 : H5Tcopy(mem);
    if (file >= 0 && H5Tpack(file) < 0) {
        H5Tclose(file);
        file = -1;
    }
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = file < 0 ? -1 : h5io_dcpl(1, &dims, H5Tget_size(file), 1);
    hid_t d = space < 0 || dcpl < 0
                  ? -1
                  : H5Dcreate2(f, "runs", file, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (rc == 0 && r->n > 0 && H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
        rc = -1;
    if (d >= 0 && H5Dclose(d) < 0)
        rc = -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    h5io_close_space(space);
    h5io_close_type(file);
    h5io_close_type(mem);
    return rc;
}

/* A fixed-size text field, even one that lacks its terminator. */
static int attr_field(hid_t loc, const char *name, const char *field, size_t size)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(size - 1), field);
    return h5io_attr_str(loc, name, buf);
}

static int write_meta(hid_t f, const RunMeta *m)
{
    hid_t g = H5Gcreate2(f, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int version = RESULTS_FORMAT_VERSION;
    int bad = h5io_attr_num(g, "format_version", H5T_NATIVE_INT, &version, 1) ||
              attr_field(g, "version", m->version, sizeof m->version) ||
              attr_field(g, "commit", m->commit, sizeof m->commit) ||
              attr_field(g, "host", m->host, sizeof m->host) ||
              h5io_attr_num(g, "ranks", H5T_NATIVE_INT, &m->ranks, 1) ||
              attr_field(g, "started", m->started, sizeof m->started) ||
              attr_field(g, "finished", m->finished, sizeof m->finished) ||
              (m->config && h5io_attr_str(g, "config", m->config));
    if (H5Gclose(g) < 0)
        bad = 1;
    return bad ? -1 : 0;
}

/* Makes the rename itself durable; best effort (some file systems refuse). */
static void sync_folder(const char *path)
{
    char dir[PATH_TMP_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + (slash == path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int results_save(const Results *r, const char *path, char *err, size_t errlen)
{
    char why[NN_ERR_MAX];
    if (check_axes(r, why, sizeof why))
        return errf(err, errlen, "%s: cannot save: %s", path, why);
    RunRecord *rows = clean_rows(r);
    if (!rows)
        return errf(err, errlen, "%s: cannot save: out of memory", path);
    char tmp[PATH_TMP_MAX];
    hid_t file = h5io_create(path, tmp, sizeof tmp, err, errlen);
    if (file < 0) {
        free(rows);
        return -1;
    }
    int ok = write_runs(file, r, rows) == 0 && write_meta(file, &r->meta) == 0 &&
             H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0;
    free(rows);
    int rc = h5io_finish(file, ok, path, tmp, err, errlen);
    if (!ok)
        errf(err, errlen, "%s: cannot write (disk full?)", path);
    if (rc == 0)
        sync_folder(path);
    return rc;
}

/* ============================================================= load */

/* A fixed column's member in the file's row type: right class and size. */
static int check_member(hid_t ft, const ResultsColumn *col, hid_t *text, char *err, size_t errlen)
{
    int idx = H5Tget_member_index(ft, col->name);
    if (idx < 0)
        return errf(err, errlen, "/runs: no column '%s' (not an nnbench results file?)", col->name);
    hid_t mt = H5Tget_member_type(ft, (unsigned)idx);
    if (mt < 0)
        return errf(err, errlen, "/runs: column '%s': cannot read its type", col->name);
    H5T_class_t cls = H5Tget_class(mt);
    size_t size = H5Tget_size(mt);
    int ok;
    const char *want;
    if (col->kind == RESULTS_COL_TEXT) {
        ok = cls == H5T_STRING && H5Tis_variable_str(mt) == 0 && size == col->size;
        want = "a fixed-length string";
    } else if (col->kind == RESULTS_COL_REAL) {
        ok = cls == H5T_FLOAT && size == sizeof(double);
        want = "a 64-bit float";
    } else {
        ok = cls == H5T_INTEGER && size == col->size && H5Tget_sign(mt) == H5T_SGN_2;
        want = col->kind == RESULTS_COL_INT ? "a 32-bit signed integer"
                                            : "a 64-bit signed integer";
    }
    if (!ok) {
        H5Tclose(mt);
        if (col->kind == RESULTS_COL_TEXT)
            return errf(err, errlen, "/runs: column '%s': %s of %zu bytes expected", col->name,
                        want, col->size);
        return errf(err, errlen, "/runs: column '%s': %s expected", col->name, want);
    }
    if (col->kind == RESULTS_COL_TEXT)
        *text = mt; /* the caller's: read the bytes as stored */
    else
        H5Tclose(mt);
    return 0;
}

static int is_fixed(const char *name)
{
    for (int c = 0; c < RESULTS_N_COLUMNS; c++)
        if (!strcmp(name, results_columns[c].name))
            return 1;
    return 0;
}

/* The axis columns: every member that is not a fixed column, in file order. */
static int find_axes(hid_t ft, Results *r, char *err, size_t errlen)
{
    int n = H5Tget_nmembers(ft);
    if (n < 0)
        return errf(err, errlen, "/runs: cannot read its columns");
    r->n_axes = 0;
    for (int i = 0; i < n; i++) {
        char *name = H5Tget_member_name(ft, (unsigned)i);
        if (!name)
            return errf(err, errlen, "/runs: cannot read the name of column %d", i + 1);
        int rc = 0;
        if (!is_fixed(name)) {
            hid_t mt = H5Tget_member_type(ft, (unsigned)i);
            if (r->n_axes == RESULTS_MAX_AXES)
                rc = errf(err, errlen, "/runs: more than %d axis columns", RESULTS_MAX_AXES);
            else if (strlen(name) >= sizeof r->axis_key[0] || !name[0])
                rc = errf(err, errlen, "/runs: axis column '%.64s...': name empty or too long", name);
            else if (mt < 0 || H5Tget_class(mt) != H5T_FLOAT || H5Tget_size(mt) != sizeof(double))
                rc = errf(err, errlen, "/runs: axis column '%s': a 64-bit float expected", name);
            else
                snprintf(r->axis_key[r->n_axes++], sizeof r->axis_key[0], "%s", name);
            h5io_close_type(mt);
        }
        H5free_memory(name);
        if (rc)
            return -1;
    }
    return 0;
}

/* The row count, after checking the dataset is a 1-D table fully stored. */
static int count_rows(hid_t d, hid_t ft, size_t *n, char *err, size_t errlen)
{
    hid_t sp = H5Dget_space(d);
    hsize_t dims = 0;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
             H5Sget_simple_extent_dims(sp, &dims, NULL) == 1;
    h5io_close_space(sp);
    if (!ok)
        return errf(err, errlen, "/runs: a 1-D table expected");
    if (dims > ROWS_MAX)
        return errf(err, errlen, "/runs: %llu rows (at most %d)", (unsigned long long)dims,
                    ROWS_MAX);
    /* deflate shrinks at most ~1032:1: more rows than the stored bytes can
     * hold means a tampered file (and would cost us the memory) */
    double need = (double)dims * (double)H5Tget_size(ft), stored = (double)H5Dget_storage_size(d);
    if (need > 1100 * stored + 65536)
        return errf(err, errlen, "/runs: %llu rows declared but %.0f bytes stored (truncated file?)",
                    (unsigned long long)dims, stored);
    char why[NN_ERR_MAX];
    if (h5io_check_stored(d, why, sizeof why))
        return errf(err, errlen, "/runs: %s", why);
    *n = (size_t)dims;
    return 0;
}

/* Every string column of every row ends inside its field. */
static int check_terminated(const Results *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n; i++)
        for (int c = 0; c < RESULTS_N_COLUMNS; c++) {
            const ResultsColumn *col = &results_columns[c];
            const char *s = (const char *)&r->runs[i] + col->offset;
            if (col->kind == RESULTS_COL_TEXT && !memchr(s, '\0', col->size))
                return errf(err, errlen, "/runs: row %zu: column '%s' is not NUL-terminated",
                            i + 1, col->name);
        }
    return 0;
}

static int read_runs(hid_t f, Results *r, char *err, size_t errlen)
{
    hid_t text[RESULTS_N_COLUMNS];
    for (int c = 0; c < RESULTS_N_COLUMNS; c++)
        text[c] = -1;
    hid_t d = H5Dopen2(f, "runs", H5P_DEFAULT);
    hid_t ft = d < 0 ? -1 : H5Dget_type(d);
    hid_t mem = -1;
    int rc = -1;
    if (ft < 0 || H5Tget_class(ft) != H5T_COMPOUND) {
        errf(err, errlen, "/runs: %s", ft < 0 ? "not a readable dataset" : "a compound table expected");
        goto out;
    }
    for (int c = 0; c < RESULTS_N_COLUMNS; c++)
        if (check_member(ft, &results_columns[c], &text[c], err, errlen))
            goto out;
    if (find_axes(ft, r, err, errlen) || count_rows(d, ft, &r->n, err, errlen))
        goto out;
    r->runs = calloc(r->n ? r->n : 1, sizeof *r->runs);
    r->cap = r->n;
    if (!r->runs) {
        errf(err, errlen, "/runs: out of memory for %zu rows", r->n);
        goto out;
    }
    if ((mem = memory_row(r->n_axes, r->axis_key, text)) < 0) {
        errf(err, errlen, "/runs: cannot build the row type");
        goto out;
    }
    if (r->n > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->runs) < 0) {
        errf(err, errlen, "/runs: cannot read (damaged or truncated file?)");
        goto out;
    }
    for (size_t i = 0; i < r->n; i++) /* slots of no axis: not applicable */
        for (int a = r->n_axes; a < RESULTS_MAX_AXES; a++)
            r->runs[i].axis[a] = NAN;
    rc = check_terminated(r, err, errlen);
out:
    for (int c = 0; c < RESULTS_N_COLUMNS; c++)
        h5io_close_type(text[c]);
    h5io_close_type(mem);
    h5io_close_type(ft);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* A whole-number attribute of /meta in lo..hi. */
static int read_meta_int(hid_t g, const char *name, long lo, long hi, long *v, char *err,
                         size_t errlen)
{
    double x;
    int r = h5io_read_attr_num(g, "/meta/", name, H5T_NATIVE_DOUBLE, &x, 1, err, errlen);
    if (r > 0)
        return errf(err, errlen, "missing attribute /meta/%s", name);
    if (r < 0)
        return -1;
    if (!(x >= (double)lo && x <= (double)hi) || x != floor(x))
        return errf(err, errlen, "attribute /meta/%s: %g is not a whole number in %ld..%ld", name, x,
                    lo, hi);
    *v = (long)x;
    return 0;
}

static int read_meta_str(hid_t g, const char *name, char *buf, size_t len, char *err,
                         size_t errlen)
{
    int r = h5io_read_attr_str(g, "/meta/", name, buf, len, err, errlen);
    return r > 0 ? errf(err, errlen, "missing attribute /meta/%s", name) : r;
}

/* /meta/config: the sweep file's text, of any length up to CONFIG_MAX;
 * absent is fine (*out stays NULL). */
static int read_config(hid_t g, char **out, char *err, size_t errlen)
{
    *out = NULL;
    htri_t ex = H5Aexists(g, "config");
    if (ex == 0)
        return 0;
    hid_t a = ex < 0 ? -1 : H5Aopen(g, "config", H5P_DEFAULT);
    hid_t ft = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    int rc = -1;
    if (ft < 0 || sp < 0) {
        errf(err, errlen, "cannot read attribute /meta/config");
    } else if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0 ||
               H5Sget_simple_extent_npoints(sp) != 1) {
        errf(err, errlen, "attribute /meta/config: a single fixed-length string expected");
    } else if (H5Tget_size(ft) == 0 || H5Tget_size(ft) > CONFIG_MAX) {
        errf(err, errlen, "attribute /meta/config: %zu bytes (at most %u)", H5Tget_size(ft),
             CONFIG_MAX);
    } else if (!(*out = calloc(1, H5Tget_size(ft) + 1))) { /* +1: a terminator in any case */
        errf(err, errlen, "attribute /meta/config: out of memory");
    } else if (H5Aread(a, ft, *out) < 0) { /* the file's own type: bytes as stored */
        errf(err, errlen, "cannot read attribute /meta/config (damaged file?)");
    } else {
        rc = 0;
    }
    if (rc) {
        free(*out);
        *out = NULL;
    }
    h5io_close_space(sp);
    h5io_close_type(ft);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

static int read_meta(hid_t f, RunMeta *m, char *err, size_t errlen)
{
    htri_t ex = H5Lexists(f, "meta", H5P_DEFAULT);
    if (ex <= 0)
        return errf(err, errlen, ex ? "/meta: cannot read (damaged file?)" : "no /meta group");
    hid_t g = H5Gopen2(f, "meta", H5P_DEFAULT);
    if (g < 0)
        return errf(err, errlen, "/meta: not a readable group");
    long version = 0, ranks = 0;
    int bad = read_meta_int(g, "format_version", 0, INT_MAX, &version, err, errlen);
    if (!bad && version != RESULTS_FORMAT_VERSION)
        bad = errf(err, errlen, "format_version %ld not supported (this nnbench reads %d)",
                   version, RESULTS_FORMAT_VERSION);
    bad = bad || read_meta_str(g, "version", m->version, sizeof m->version, err, errlen) ||
          read_meta_str(g, "commit", m->commit, sizeof m->commit, err, errlen) ||
          read_meta_str(g, "host", m->host, sizeof m->host, err, errlen) ||
          read_meta_int(g, "ranks", 0, INT_MAX, &ranks, err, errlen) ||
          read_meta_str(g, "started", m->started, sizeof m->started, err, errlen) ||
          read_meta_str(g, "finished", m->finished, sizeof m->finished, err, errlen) ||
          read_config(g, &m->config, err, errlen);
    m->ranks = (int)ranks;
    H5Gclose(g);
    return bad ? -1 : 0;
}

int results_load(const char *path, Results *r, char *err, size_t errlen)
{
    results_init(r);
    hid_t file = h5io_open(path, err, errlen);
    if (file < 0)
        return -1;
    Results got;
    results_init(&got);
    char why[NN_ERR_MAX];
    why[0] = '\0';
    /* /meta before the rows: its format_version says whether /runs is ours */
    htri_t ex = H5Lexists(file, "runs", H5P_DEFAULT);
    int rc = ex <= 0 ? errf(why, sizeof why,
                            ex ? "/runs: cannot read (damaged file?)"
                               : "no /runs table (not an nnbench results file?)")
                     : read_meta(file, &got.meta, why, sizeof why);
    if (rc == 0)
        rc = read_runs(file, &got, why, sizeof why);
    H5Fclose(file);
    if (rc != 0) {
        results_free(&got);
        return errf(err, errlen, "%s: %s", path, why);
    }
    *r = got;
    return 0;
}
