/* program_save / program_load: a compiled program as HDF5 (DESIGN.md §7).
 *
 * DESIGN §7 sketches a group per core (/cores/NNNN/{weights,bias,inputs}).
 * We store each weight block once instead, with the core ops that share it
 * (every position of a convolution is one op of one block: thousands of
 * per-core copies would multiply the file), and flat arrays rather than a
 * group per op (thousands of HDF5 groups are slow to write and to open).
 * Which core runs which op is /mapping/core_of_op.
 *
 *   /                   attributes format_version (1), nnbench_version,
 *                       kind ("int" | "float"), io_bits, input_shift,
 *                       n_inputs, n_neurons, n_groups
 *   /hw                 the hardware description: one string attribute per
 *                       key, "section.key" = value as hw_key_get writes it
 *                       (so `h5dump -A` shows the chip)
 *   /blocks/rows, cols, shift, act   int32 [n_blocks]; act 0 relu, 1 linear
 *   /blocks/weights     int32: every block's [cols][rows] weights, in block
 *                       order (block b starts at the sum of rows·cols before it)
 *   /blocks/bias        int64: every block's [cols] biases, concatenated
 *   /blocks/adc_full    int64 [n_blocks]: a PIM block's ADC full scale (0 =
 *                       not set); files written before it existed lack it
 *                       and load with 0s
 *   /blocks/axon_type   uint8: every block's [rows] axon types (encoding =
 *                       axon_types), concatenated like the biases; only
 *                       when some block has types (a block without them
 *                       is stored as 0s, which is what NULL means). Files
 *                       without it load with NULL everywhere, and so does a
 *                       block whose stored types are all 0
 *   /blocks/weights_f, /blocks/bias_f   float32: the same for a float program
 *   /ops/block, out, part, group     int32 [n_ops]
 *   /ops/inputs         int32: every op's `rows` source neurons in op order
 *                       (PROGRAM_ZERO = -1 for a constant 0)
 *   /outputs            int32 [n_outputs]: the logits' neurons
 *   /mapping/core_of_op int32 [n_ops], /mapping/core_x, core_y int32
 *                       [n_cores] (each only when known)
 *   /stats              attributes model, dataset, strategy (strings);
 *                       orig_accuracy, compiled_accuracy, transform_s,
 *                       utilization (double, -1 unknown); traffic, chips,
 *                       cores, core_ops, weight_blocks, neurons (int64)
 *
 * Every dataset is chunked with Fletcher-32 checksums (big ones shuffled
 * and deflated too). Loading checks every size and index against the others
 * before building anything, then runs program_validate.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "../model/h5io.h"
#include "../nn/nn.h"
#include "program.h"

#ifndef NNBENCH_VERSION
#define NNBENCH_VERSION "0.1.0"
#endif

#define ARRAY_MAX INT32_MAX /* values in one dataset */
#define DEFLATE_FROM 4096   /* values from which a dataset is compressed */
#define KEY_MAX 128         /* "section.key" */
#define VALUE_MAX 256       /* a hardware value as text */

void program_info_init(ProgramInfo *info)
{
    memset(info, 0, sizeof *info);
    info->orig_accuracy = info->compiled_accuracy = -1;
    info->transform_s = info->utilization = -1;
    info->traffic = -1;
}

void program_info_free(ProgramInfo *info)
{
    if (!info)
        return;
    free(info->core_of_op);
    free(info->core_x);
    free(info->core_y);
    program_info_init(info);
}

/* What program_validate leaves to the builders, checked on save and load
 * alike: a file we write always loads. */
static int check_rest(const Program *p, char *err, size_t errlen)
{
    if (p->io_bits < 1 || p->io_bits > 30)
        return errf(err, errlen, "io_bits %d outside 1..30", p->io_bits);
    if (p->input_shift < 0 || p->input_shift > 30)
        return errf(err, errlen, "input_shift %d outside 0..30", p->input_shift);
    if (p->n_groups < 0 || p->n_groups > p->n_ops)
        return errf(err, errlen, "%d groups for %d core ops", p->n_groups, p->n_ops);
    for (int b = 0; b < p->n_blocks; b++) {
        const CoreBlock *k = &p->blocks[b];
        if (k->act != CORE_RELU && k->act != CORE_LINEAR)
            return errf(err, errlen, "block %d: unknown activation %d", b, (int)k->act);
        if (k->shift < 0 || k->shift > 62)
            return errf(err, errlen, "block %d: shift %d outside 0..62", b, k->shift);
        if (k->adc_full < 0)
            return errf(err, errlen, "block %d: negative ADC full scale %lld", b,
                        (long long)k->adc_full);
        if (p->is_float ? !k->wf || !k->bf : !k->w || !k->bias)
            return errf(err, errlen, "block %d: no %s weights", b,
                        p->is_float ? "float" : "integer");
    }
    for (int k = 0; k < p->n_ops; k++) {
        if (p->ops[k].group < 0 || p->ops[k].group >= p->n_groups)
            return errf(err, errlen, "core op %d: group %d outside 0..%d", k, p->ops[k].group,
                        p->n_groups - 1);
        if (p->ops[k].part < 0)
            return errf(err, errlen, "core op %d: part %d is negative", k, p->ops[k].part);
    }
    return 0;
}

/* The mapping arrays against the program. */
static int check_mapping(const Program *p, const ProgramInfo *info, char *err, size_t errlen)
{
    if (info->n_cores < 0)
        return errf(err, errlen, "%d cores", info->n_cores);
    if ((info->core_of_op || info->core_x || info->core_y) && info->n_cores < 1)
        return errf(err, errlen, "a mapping onto no cores");
    if (!info->core_x != !info->core_y)
        return errf(err, errlen, "core_x and core_y come together");
    for (int k = 0; info->core_of_op && k < p->n_ops; k++)
        if (info->core_of_op[k] < 0 || info->core_of_op[k] >= info->n_cores)
            return errf(err, errlen, "/mapping/core_of_op: core op %d on core %d of %d", k,
                        info->core_of_op[k], info->n_cores);
    for (int c = 0; info->core_x && c < info->n_cores; c++)
        if (info->core_x[c] < 0 || info->core_y[c] < 0)
            return errf(err, errlen, "/mapping: core %d at a negative position (%d, %d)", c,
                        info->core_x[c], info->core_y[c]);
    return 0;
}

/* ================================================================ save */

/* A 1-D dataset of n values. */
static int write_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t elem,
                       const void *data, size_t n)
{
    hsize_t dims = n;
    hid_t s = H5Screate_simple(1, &dims, NULL);
    hid_t dcpl = h5io_dcpl(1, &dims, elem, n >= DEFLATE_FROM);
    hid_t d =
        s < 0 || dcpl < 0 ? -1 : H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = d >= 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    if (d >= 0 && H5Dclose(d) < 0)
        rc = -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    h5io_close_space(s);
    return rc;
}

static int write_i32(hid_t loc, const char *name, const int32_t *v, size_t n)
{
    return write_array(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, sizeof *v, v, n);
}

static int attr_i64(hid_t loc, const char *name, int64_t v)
{
    return h5io_attr_num(loc, name, H5T_STD_I64LE, &v, 1);
}

static int attr_f64(hid_t loc, const char *name, double v)
{
    return h5io_attr_num(loc, name, H5T_IEEE_F64LE, &v, 1);
}

/* A fixed-size text field, even one that lacks its terminator. */
static int attr_field(hid_t loc, const char *name, const char *field, size_t size)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s", (int)(size - 1), field);
    return h5io_attr_str(loc, name, buf);
}

static int write_root(hid_t f, const Program *p)
{
    int bad = attr_i64(f, "format_version", PROGRAM_FORMAT_VERSION) ||
              h5io_attr_str(f, "nnbench_version", NNBENCH_VERSION) ||
              h5io_attr_str(f, "kind", p->is_float ? "float" : "int") ||
              attr_i64(f, "io_bits", p->io_bits) || attr_i64(f, "input_shift", p->input_shift) ||
              attr_i64(f, "n_inputs", p->n_inputs) || attr_i64(f, "n_neurons", p->n_neurons) ||
              attr_i64(f, "n_groups", p->n_groups);
    return bad ? -1 : 0;
}

static int write_hw(hid_t f, const Hw *hw)
{
    hid_t g = H5Gcreate2(f, "hw", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < hw_n_keys && rc == 0; i++) {
        char name[KEY_MAX], value[VALUE_MAX];
        int nn = snprintf(name, sizeof name, "%s.%s", hw_keys[i].section, hw_keys[i].key);
        int nv = hw_key_get(hw, &hw_keys[i], value, sizeof value);
        int bad = nn < 0 || (size_t)nn >= sizeof name || nv < 0 || (size_t)nv >= sizeof value ||
                  h5io_attr_str(g, name, value) < 0;
        rc = bad ? -1 : 0;
    }
    if (H5Gclose(g) < 0)
        rc = -1;
    return rc;
}

/* /blocks: the per-block numbers and the weight and bias concatenations. */
static int write_blocks(hid_t f, const Program *p)
{
    const int nb = p->n_blocks;
    size_t nw = 0, nc = 0;
    for (int b = 0; b < nb; b++) {
        nw += (size_t)p->blocks[b].rows * p->blocks[b].cols;
        nc += (size_t)p->blocks[b].cols;
    }
    int32_t *num = malloc(sizeof *num * (size_t)nb * 4);
    int64_t *adc_full = malloc(sizeof *adc_full * (size_t)nb);
    size_t nr = 0;
    int typed = 0;
    for (int b = 0; b < nb; b++) {
        nr += (size_t)p->blocks[b].rows;
        typed |= !p->is_float && p->blocks[b].axon_type;
    }
    uint8_t *types = typed ? calloc(nr, 1) : NULL;
    const size_t wsize = p->is_float ? sizeof(float) : sizeof(int32_t);
    const size_t bsize = p->is_float ? sizeof(float) : sizeof(int64_t);
    char *w = malloc(wsize * nw), *bias = malloc(bsize * nc);
    hid_t g = H5Gcreate2(f, "blocks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (!num || !adc_full || !w || !bias || g < 0 || (typed && !types))
        goto out;
    size_t ow = 0, oc = 0, orow = 0;
    for (int b = 0; b < nb; b++) {
        const CoreBlock *k = &p->blocks[b];
        size_t kw = (size_t)k->rows * k->cols;
        num[b] = k->rows;
        num[nb + b] = k->cols;
        num[2 * nb + b] = k->shift;
        num[3 * nb + b] = (int32_t)k->act;
        adc_full[b] = k->adc_full;
        memcpy(w + ow * wsize, p->is_float ? (const void *)k->wf : (const void *)k->w, kw * wsize);
        memcpy(bias + oc * bsize, p->is_float ? (const void *)k->bf : (const void *)k->bias,
               (size_t)k->cols * bsize);
        if (types && k->axon_type)
            memcpy(types + orow, k->axon_type, (size_t)k->rows);
        ow += kw;
        oc += (size_t)k->cols;
        orow += (size_t)k->rows;
    }
    if (write_i32(g, "rows", num, (size_t)nb) || write_i32(g, "cols", num + nb, (size_t)nb) ||
        write_i32(g, "shift", num + 2 * nb, (size_t)nb) ||
        write_i32(g, "act", num + 3 * nb, (size_t)nb) ||
        write_array(g, "adc_full", H5T_STD_I64LE, H5T_NATIVE_INT64, sizeof *adc_full, adc_full,
                    (size_t)nb) ||
        (types && write_array(g, "axon_type", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, types, nr)))
        goto out;
    hid_t act = H5Dopen2(g, "act", H5P_DEFAULT);
    int bad = act < 0 || h5io_attr_str(act, "values", "0 relu, 1 linear") < 0;
    if (act >= 0)
        H5Dclose(act);
    if (bad)
        goto out;
    if (p->is_float)
        bad = write_array(g, "weights_f", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, wsize, w, nw) ||
              write_array(g, "bias_f", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, bsize, bias, nc);
    else
        bad = write_i32(g, "weights", (const int32_t *)(void *)w, nw) ||
              write_array(g, "bias", H5T_STD_I64LE, H5T_NATIVE_INT64, bsize, bias, nc);
    rc = bad ? -1 : 0;
out:
    if (g >= 0 && H5Gclose(g) < 0)
        rc = -1;
    free(num);
    free(adc_full);
    free(types);
    free(w);
    free(bias);
    return rc;
}

static int write_ops(hid_t f, const Program *p)
{
    const int n = p->n_ops;
    size_t total = 0;
    for (int k = 0; k < n; k++)
        total += (size_t)p->blocks[p->ops[k].block].rows;
    int32_t *num = malloc(sizeof *num * (size_t)n * 4), *in = malloc(sizeof *in * total);
    hid_t g = H5Gcreate2(f, "ops", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (num && in && g >= 0) {
        size_t o = 0;
        for (int k = 0; k < n; k++) {
            const CoreOp *op = &p->ops[k];
            int rows = p->blocks[op->block].rows;
            num[k] = op->block;
            num[n + k] = op->out;
            num[2 * n + k] = op->part;
            num[3 * n + k] = op->group;
            memcpy(in + o, op->in, sizeof *in * (size_t)rows);
            o += (size_t)rows;
        }
        int bad =
            write_i32(g, "block", num, (size_t)n) || write_i32(g, "out", num + n, (size_t)n) ||
            write_i32(g, "part", num + 2 * n, (size_t)n) ||
            write_i32(g, "group", num + 3 * n, (size_t)n) || write_i32(g, "inputs", in, total);
        rc = bad ? -1 : 0;
    }
    if (g >= 0 && H5Gclose(g) < 0)
        rc = -1;
    free(num);
    free(in);
    return rc;
}

/* int → int32 copies of the mapping arrays (the file's type is fixed). */
static int write_int_array(hid_t g, const char *name, const int *v, int n)
{
    int32_t *c = malloc(sizeof *c * (size_t)n);
    if (!c)
        return -1;
    for (int i = 0; i < n; i++)
        c[i] = v[i];
    int rc = write_i32(g, name, c, (size_t)n);
    free(c);
    return rc;
}

static int write_mapping(hid_t f, const Program *p, const ProgramInfo *info)
{
    if (!info->core_of_op && !info->core_x)
        return 0;
    hid_t g = H5Gcreate2(f, "mapping", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int rc = 0;
    if (info->core_of_op)
        rc = write_int_array(g, "core_of_op", info->core_of_op, p->n_ops);
    if (rc == 0 && info->core_x)
        rc = write_int_array(g, "core_x", info->core_x, info->n_cores);
    if (rc == 0 && info->core_y)
        rc = write_int_array(g, "core_y", info->core_y, info->n_cores);
    if (H5Gclose(g) < 0)
        rc = -1;
    return rc;
}

static int write_stats(hid_t f, const Program *p, const ProgramInfo *i)
{
    hid_t g = H5Gcreate2(f, "stats", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int bad = attr_field(g, "model", i->model, sizeof i->model) ||
              attr_field(g, "dataset", i->dataset, sizeof i->dataset) ||
              attr_field(g, "strategy", i->strategy, sizeof i->strategy) ||
              attr_f64(g, "orig_accuracy", i->orig_accuracy) ||
              attr_f64(g, "compiled_accuracy", i->compiled_accuracy) ||
              attr_f64(g, "transform_s", i->transform_s) ||
              attr_f64(g, "utilization", i->utilization) || attr_i64(g, "traffic", i->traffic) ||
              attr_i64(g, "chips", i->chips) || attr_i64(g, "cores", i->n_cores) ||
              attr_i64(g, "core_ops", p->n_ops) || attr_i64(g, "weight_blocks", p->n_blocks) ||
              attr_i64(g, "neurons", p->n_neurons);
    int rc = bad ? -1 : 0;
    if (H5Gclose(g) < 0)
        rc = -1;
    return rc;
}

int program_save(const Program *p, const Hw *hw, const ProgramInfo *info, const char *path,
                 char *err, size_t errlen)
{
    ProgramInfo none;
    program_info_init(&none);
    if (!info)
        info = &none;
    char why[NN_ERR_MAX];
    if (!p || !hw)
        return errf(err, errlen, "%s: cannot save: no program or no hardware description", path);
    if (program_validate(p, why, sizeof why) || check_rest(p, why, sizeof why) ||
        check_mapping(p, info, why, sizeof why))
        return errf(err, errlen, "%s: cannot save: %s", path, why);
    char tmp[4200];
    hid_t file = h5io_create(path, tmp, sizeof tmp, err, errlen);
    if (file < 0)
        return -1;
    int ok = write_root(file, p) == 0 && write_hw(file, hw) == 0 && write_blocks(file, p) == 0 &&
             write_ops(file, p) == 0 &&
             write_i32(file, "outputs", p->outputs, (size_t)p->n_outputs) == 0 &&
             write_mapping(file, p, info) == 0 && write_stats(file, p, info) == 0;
    int rc = h5io_finish(file, ok, path, tmp, err, errlen);
    if (!ok)
        errf(err, errlen, "%s: cannot write (disk full?)", path);
    return rc;
}

/* ================================================================ load */

/* Does the path (relative to the file root, "a/b") exist? Each level in
 * turn: 1, 0, or -1 when a level cannot be read (a damaged group must not
 * pass for a missing one). */
static int has(hid_t f, const char *path)
{
    char buf[KEY_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf;; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            htri_t ex = H5Lexists(f, buf, H5P_DEFAULT);
            if (ex <= 0)
                return ex < 0 ? -1 : 0;
            *s = c;
        }
        if (!c)
            return 1;
    }
}

/* Reads the 1-D dataset /name of class cls as mtype (elem bytes each) into a
 * fresh *out. want >= 0: it must hold that many values (`what` says why);
 * want < 0: 1 .. ARRAY_MAX values, the count going to *count. */
static int read_array(hid_t f, const char *name, H5T_class_t cls, hid_t mtype, size_t elem,
                      int64_t want, const char *what, void **out, int64_t *count, char *err,
                      size_t errlen)
{
    *out = NULL;
    int ex = has(f, name);
    if (ex <= 0)
        return errf(err, errlen, ex ? "/%s: cannot read (damaged file?)" : "missing /%s", name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t ft = d < 0 ? -1 : H5Dget_type(d);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    int rc = -1;
    if (ft < 0 || sp < 0) {
        errf(err, errlen, "/%s: not a readable dataset", name);
        goto out;
    }
    if (H5Tget_class(ft) != cls) {
        errf(err, errlen, "/%s: %s expected", name, cls == H5T_FLOAT ? "float values" : "integers");
        goto out;
    }
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (H5Sget_simple_extent_ndims(sp) != 1 || n < 1 || n > ARRAY_MAX) {
        errf(err, errlen, "/%s: a 1-D array of 1 to %d values expected", name, ARRAY_MAX);
        goto out;
    }
    if (want >= 0 && n != want) {
        errf(err, errlen, "/%s: %lld values, expected %lld (%s)", name, (long long)n,
             (long long)want, what);
        goto out;
    }
    /* deflate shrinks at most ~1032:1: a file claiming far more than its
     * stored bytes can hold is tampered with (and would cost us the memory) */
    double need = (double)n * (double)H5Tget_size(ft), stored = (double)H5Dget_storage_size(d);
    if (need > 1100 * stored + 65536) {
        errf(err, errlen,
             "/%s: %lld values declared but %.0f bytes stored (truncated or tampered file?)", name,
             (long long)n, stored);
        goto out;
    }
    char why[NN_ERR_MAX];
    if (h5io_check_stored(d, why, sizeof why)) {
        errf(err, errlen, "/%s: %s", name, why);
        goto out;
    }
    *out = malloc(elem * (size_t)n);
    if (!*out) {
        errf(err, errlen, "/%s: out of memory for %lld values", name, (long long)n);
        goto out;
    }
    if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0) {
        errf(err, errlen, "/%s: cannot read (damaged or truncated file?)", name);
        free(*out);
        *out = NULL;
        goto out;
    }
    if (count)
        *count = n;
    rc = 0;
out:
    h5io_close_space(sp);
    h5io_close_type(ft);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

static int read_i32(hid_t f, const char *name, int64_t want, const char *what, int32_t **out,
                    int64_t *count, char *err, size_t errlen)
{
    return read_array(f, name, H5T_INTEGER, H5T_NATIVE_INT32, sizeof(int32_t), want, what,
                      (void **)out, count, err, errlen);
}

/* A whole-number attribute in lo..hi; 0, 1 if absent and optional, -1. */
static int read_int(hid_t loc, const char *where, const char *name, int64_t lo, int64_t hi,
                    int optional, int64_t *v, char *err, size_t errlen)
{
    double d;
    int r = h5io_read_attr_num(loc, where, name, H5T_NATIVE_DOUBLE, &d, 1, err, errlen);
    if (r > 0 && optional)
        return 1;
    if (r > 0)
        return errf(err, errlen, "missing attribute %s%s", where, name);
    if (r < 0)
        return -1;
    /* the range test first: casting a huge double is undefined */
    int64_t i = 0;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d ||
        h5io_read_attr_num(loc, where, name, H5T_NATIVE_INT64, &i, 1, err, errlen) != 0 || i < lo ||
        i > hi) /* read again as an integer: doubles hold 53 bits */
        return errf(err, errlen, "attribute %s%s: %g is not a whole number in %lld..%lld", where,
                    name, d, (long long)lo, (long long)hi);
    *v = i;
    return 0;
}

/* Everything read from the file before the program is built. */
typedef struct {
    int is_float;
    int64_t io_bits, input_shift, n_inputs, n_neurons, n_groups, n_blocks, n_ops, n_outputs;
    int32_t *rows, *cols, *shift, *act;
    int32_t *w, *block, *out, *part, *group, *in, *outputs;
    int64_t *bias, *adc_full; /* adc_full: NULL in files from before it */
    uint8_t *axon_type;       /* NULL in files without it */
    float *wf, *bf;
} Raw;

static void raw_free(Raw *r)
{
    void *all[] = {r->rows, r->cols,    r->shift, r->act, r->w,  r->block, r->out,     r->part,
                   r->group, r->in, r->outputs, r->bias,  r->adc_full, r->wf, r->bf,
                   r->axon_type};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
}

static int read_root(hid_t f, Raw *r, char *err, size_t errlen)
{
    if (H5Lexists(f, "graph", H5P_DEFAULT) > 0)
        return errf(err, errlen,
                    "a model file, not a compiled program (nnbench compile makes one)");
    int64_t version;
    int rc = read_int(f, "/", "format_version", 0, INT32_MAX, 1, &version, err, errlen);
    if (rc > 0)
        return errf(err, errlen, "missing attribute format_version (not an nnbench program file?)");
    if (rc < 0)
        return -1;
    if (version != PROGRAM_FORMAT_VERSION)
        return errf(err, errlen, "format_version %lld not supported (this nnbench reads %d)",
                    (long long)version, PROGRAM_FORMAT_VERSION);
    char kind[16];
    rc = h5io_read_attr_str(f, "/", "kind", kind, sizeof kind, err, errlen);
    if (rc > 0)
        return errf(err, errlen, "missing attribute kind (not an nnbench program file?)");
    if (rc < 0)
        return -1;
    if (strcmp(kind, "int") && strcmp(kind, "float"))
        return errf(err, errlen, "attribute /kind: '%s', expected int or float", kind);
    r->is_float = !strcmp(kind, "float");
    if (read_int(f, "/", "io_bits", 1, 30, 0, &r->io_bits, err, errlen) ||
        read_int(f, "/", "input_shift", 0, 30, 0, &r->input_shift, err, errlen) ||
        read_int(f, "/", "n_inputs", 0, INT32_MAX, 0, &r->n_inputs, err, errlen) ||
        read_int(f, "/", "n_neurons", 0, INT32_MAX, 0, &r->n_neurons, err, errlen) ||
        read_int(f, "/", "n_groups", 0, INT32_MAX, 0, &r->n_groups, err, errlen))
        return -1;
    return 0;
}

typedef struct {
    Hw *hw;
    char *err;
    size_t errlen;
} HwIter;

/* One /hw attribute through hw_set, as if given as --set. */
static herr_t hw_attr(hid_t loc, const char *name, const H5A_info_t *ainfo, void *data)
{
    (void)ainfo;
    HwIter *it = data;
    char value[VALUE_MAX], line[KEY_MAX + VALUE_MAX + 2], why[NN_ERR_MAX];
    if (h5io_read_attr_str(loc, "/hw/", name, value, sizeof value, why, sizeof why) != 0) {
        errf(it->err, it->errlen, "%s", why);
        return -1;
    }
    int n = snprintf(line, sizeof line, "%s=%s", name, value);
    if (n < 0 || (size_t)n >= sizeof line || strlen(name) >= KEY_MAX) {
        errf(it->err, it->errlen, "/hw: attribute name too long");
        return -1;
    }
    if (hw_set(it->hw, line, why, sizeof why) != 0) {
        errf(it->err, it->errlen, "/hw %s", why);
        return -1;
    }
    return 0;
}

/* /hw over the defaults (a key missing from an older file keeps its
 * default), then the cross-key check. */
static int read_hw(hid_t f, Hw *hw, char *err, size_t errlen)
{
    htri_t ex = H5Lexists(f, "hw", H5P_DEFAULT);
    if (ex <= 0)
        return errf(err, errlen,
                    ex ? "/hw: cannot read (damaged file?)"
                       : "missing /hw (the hardware description)");
    hid_t g = H5Gopen2(f, "hw", H5P_DEFAULT);
    if (g < 0)
        return errf(err, errlen, "/hw: not a readable group");
    hw_default(hw);
    err[0] = '\0';
    HwIter it = {hw, err, errlen};
    hsize_t idx = 0;
    herr_t r = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, hw_attr, &it);
    H5Gclose(g);
    if (r < 0) {
        if (!err[0])
            errf(err, errlen, "/hw: cannot read its attributes");
        return -1;
    }
    return hw_check(hw, "/hw", err, errlen);
}

/* /blocks/adc_full: optional (older files lack it: every block 0), else
 * one per block and none negative. */
static int read_adc_full(hid_t f, Raw *r, char *err, size_t errlen)
{
    int ex = has(f, "blocks/adc_full");
    if (ex <= 0)
        return ex ? errf(err, errlen, "/blocks/adc_full: cannot read (damaged file?)") : 0;
    if (read_array(f, "blocks/adc_full", H5T_INTEGER, H5T_NATIVE_INT64, sizeof(int64_t),
                   r->n_blocks, "one per block", (void **)&r->adc_full, NULL, err, errlen))
        return -1;
    for (int64_t b = 0; b < r->n_blocks; b++)
        if (r->adc_full[b] < 0)
            return errf(err, errlen, "/blocks/adc_full: block %lld: %lld is negative",
                        (long long)b, (long long)r->adc_full[b]);
    return 0;
}

/* /blocks/axon_type: optional; else one per row of every block (any uint8
 * is a type: the verifier checks them against weights.axon_types). */
static int read_axon_types(hid_t f, Raw *r, int64_t n_rows, char *err, size_t errlen)
{
    int ex = has(f, "blocks/axon_type");
    if (ex <= 0)
        return ex ? errf(err, errlen, "/blocks/axon_type: cannot read (damaged file?)") : 0;
    if (r->is_float)
        return errf(err, errlen, "/blocks/axon_type: a float program has no axon types");
    return read_array(f, "blocks/axon_type", H5T_INTEGER, H5T_NATIVE_UINT8, 1, n_rows,
                      "rows of every block", (void **)&r->axon_type, NULL, err, errlen);
}

/* /blocks: counts, then the weights the counts call for. */
static int read_blocks(hid_t f, Raw *r, char *err, size_t errlen)
{
    if (read_i32(f, "blocks/rows", -1, NULL, &r->rows, &r->n_blocks, err, errlen) ||
        read_i32(f, "blocks/cols", r->n_blocks, "one per block", &r->cols, NULL, err, errlen) ||
        read_i32(f, "blocks/shift", r->n_blocks, "one per block", &r->shift, NULL, err, errlen) ||
        read_i32(f, "blocks/act", r->n_blocks, "one per block", &r->act, NULL, err, errlen))
        return -1;
    int64_t nw = 0, nc = 0, nr = 0;
    for (int64_t b = 0; b < r->n_blocks; b++) {
        if (r->rows[b] < 1 || r->cols[b] < 1)
            return errf(err, errlen, "/blocks: block %lld has %d rows and %d columns", (long long)b,
                        r->rows[b], r->cols[b]);
        if (r->shift[b] < 0 || r->shift[b] > 62)
            return errf(err, errlen, "/blocks/shift: block %lld: %d outside 0..62", (long long)b,
                        r->shift[b]);
        if (r->act[b] != CORE_RELU && r->act[b] != CORE_LINEAR)
            return errf(err, errlen,
                        "/blocks/act: block %lld: %d is neither 0 (relu) nor 1 (linear)",
                        (long long)b, r->act[b]);
        nw += (int64_t)r->rows[b] * r->cols[b];
        nc += r->cols[b];
        nr += r->rows[b];
        if (nw > ARRAY_MAX)
            return errf(err, errlen, "/blocks: more than %d weights", ARRAY_MAX);
    }
    if (read_adc_full(f, r, err, errlen) || read_axon_types(f, r, nr, err, errlen))
        return -1;
    const char *ww = "rows x cols of every block", *bw = "cols of every block";
    int bad;
    if (r->is_float)
        bad = read_array(f, "blocks/weights_f", H5T_FLOAT, H5T_NATIVE_FLOAT, sizeof(float), nw, ww,
                         (void **)&r->wf, NULL, err, errlen) ||
              read_array(f, "blocks/bias_f", H5T_FLOAT, H5T_NATIVE_FLOAT, sizeof(float), nc, bw,
                         (void **)&r->bf, NULL, err, errlen);
    else
        bad = read_i32(f, "blocks/weights", nw, ww, &r->w, NULL, err, errlen) ||
              read_array(f, "blocks/bias", H5T_INTEGER, H5T_NATIVE_INT64, sizeof(int64_t), nc, bw,
                         (void **)&r->bias, NULL, err, errlen);
    return bad ? -1 : 0;
}

/* /ops: every index in range and every op's neurons right after the last. */
static int read_ops(hid_t f, Raw *r, char *err, size_t errlen)
{
    if (read_i32(f, "ops/block", -1, NULL, &r->block, &r->n_ops, err, errlen) ||
        read_i32(f, "ops/out", r->n_ops, "one per core op", &r->out, NULL, err, errlen) ||
        read_i32(f, "ops/part", r->n_ops, "one per core op", &r->part, NULL, err, errlen) ||
        read_i32(f, "ops/group", r->n_ops, "one per core op", &r->group, NULL, err, errlen))
        return -1;
    if (r->n_groups > r->n_ops)
        return errf(err, errlen, "attribute /n_groups: %lld groups for %lld core ops",
                    (long long)r->n_groups, (long long)r->n_ops);
    int64_t next = r->n_inputs, n_in = 0;
    for (int64_t k = 0; k < r->n_ops; k++) {
        int32_t b = r->block[k];
        if (b < 0 || b >= r->n_blocks)
            return errf(err, errlen, "/ops/block: core op %lld uses block %d of %lld", (long long)k,
                        b, (long long)r->n_blocks);
        if (r->out[k] != next)
            return errf(err, errlen, "/ops/out: core op %lld starts at neuron %d, expected %lld",
                        (long long)k, r->out[k], (long long)next);
        if (r->part[k] < 0)
            return errf(err, errlen, "/ops/part: core op %lld: %d is negative", (long long)k,
                        r->part[k]);
        if (r->group[k] < 0 || r->group[k] >= r->n_groups)
            return errf(err, errlen, "/ops/group: core op %lld: group %d outside 0..%lld",
                        (long long)k, r->group[k], (long long)r->n_groups - 1);
        next += r->cols[b];
        n_in += r->rows[b];
        if (next > INT32_MAX || n_in > ARRAY_MAX)
            return errf(err, errlen, "/ops: more than %d neurons or inputs", INT32_MAX);
    }
    if (next != r->n_neurons)
        return errf(err, errlen, "attribute /n_neurons: %lld, but the core ops end at neuron %lld",
                    (long long)r->n_neurons, (long long)next);
    int bad = read_i32(f, "ops/inputs", n_in, "the rows of every core op's block", &r->in, NULL,
                       err, errlen) ||
              read_i32(f, "outputs", -1, NULL, &r->outputs, &r->n_outputs, err, errlen);
    return bad ? -1 : 0;
}

/* The Program from checked raw arrays; NULL on OOM. */
static Program *build(const Raw *r)
{
    Program *p = r->is_float ? program_create_float((int)r->n_inputs)
                             : program_create((int)r->n_inputs, (int)r->io_bits);
    if (!p)
        return NULL;
    p->io_bits = (int)r->io_bits;
    p->input_shift = (int)r->input_shift;
    size_t ow = 0, oc = 0, oi = 0, orow = 0;
    for (int64_t b = 0; b < r->n_blocks; b++) {
        int rows = r->rows[b], cols = r->cols[b];
        CoreActivation act = r->act[b] == CORE_RELU ? CORE_RELU : CORE_LINEAR;
        int got = r->is_float
                      ? program_add_block_float(p, rows, cols, r->wf + ow, r->bf + oc, act)
                      : program_add_block(p, rows, cols, r->w + ow, r->bias + oc, r->shift[b], act);
        if (got < 0)
            goto oom;
        p->blocks[got].shift = r->shift[b];
        p->blocks[got].adc_full = r->adc_full ? r->adc_full[b] : 0;
        const uint8_t *t = r->axon_type ? r->axon_type + orow : NULL;
        int any = 0;
        for (int i = 0; t && i < rows && !any; i++)
            any = t[i] != 0;
        if (any && program_set_axon_types(p, got, t))
            goto oom;
        ow += (size_t)rows * cols;
        oc += (size_t)cols;
        orow += (size_t)rows;
    }
    for (int64_t k = 0; k < r->n_ops; k++) {
        if (program_add_op(p, r->block[k], r->in + oi, r->part[k], r->group[k]) < 0)
            goto oom;
        oi += (size_t)r->rows[r->block[k]];
    }
    if (program_set_outputs(p, r->outputs, (int)r->n_outputs) != 0)
        goto oom;
    p->n_groups = (int)r->n_groups;
    return p;
oom:
    program_free(p);
    return NULL;
}

static int read_str(hid_t g, const char *name, char *buf, size_t len, char *err, size_t errlen)
{
    return h5io_read_attr_str(g, "/stats/", name, buf, len, err, errlen) < 0 ? -1 : 0;
}

static int read_real(hid_t g, const char *name, double *v, char *err, size_t errlen)
{
    int r = h5io_read_attr_num(g, "/stats/", name, H5T_NATIVE_DOUBLE, v, 1, err, errlen);
    return r < 0 ? -1 : 0;
}

/* A count in /stats that the program itself fixes must agree with it. */
static int check_count(hid_t g, const char *name, int64_t actual, char *err, size_t errlen)
{
    int64_t v;
    int r = read_int(g, "/stats/", name, 0, INT64_MAX / 2, 1, &v, err, errlen);
    if (r < 0)
        return -1;
    if (r == 0 && v != actual)
        return errf(err, errlen, "attribute /stats/%s: %lld, but the program has %lld", name,
                    (long long)v, (long long)actual);
    return 0;
}

/* /stats: all optional. */
static int read_stats(hid_t f, const Program *p, ProgramInfo *info, char *err, size_t errlen)
{
    htri_t ex = H5Lexists(f, "stats", H5P_DEFAULT);
    if (ex == 0)
        return 0;
    hid_t g = ex < 0 ? -1 : H5Gopen2(f, "stats", H5P_DEFAULT);
    if (g < 0)
        return errf(err, errlen, "/stats: not a readable group");
    int64_t traffic = -1, chips = 0, cores = 0;
    int bad = read_str(g, "model", info->model, sizeof info->model, err, errlen) ||
              read_str(g, "dataset", info->dataset, sizeof info->dataset, err, errlen) ||
              read_str(g, "strategy", info->strategy, sizeof info->strategy, err, errlen) ||
              read_real(g, "orig_accuracy", &info->orig_accuracy, err, errlen) ||
              read_real(g, "compiled_accuracy", &info->compiled_accuracy, err, errlen) ||
              read_real(g, "transform_s", &info->transform_s, err, errlen) ||
              read_real(g, "utilization", &info->utilization, err, errlen) ||
              read_int(g, "/stats/", "traffic", -1, INT64_MAX / 2, 1, &traffic, err, errlen) < 0 ||
              read_int(g, "/stats/", "chips", 0, INT32_MAX, 1, &chips, err, errlen) < 0 ||
              read_int(g, "/stats/", "cores", 0, INT32_MAX, 1, &cores, err, errlen) < 0 ||
              check_count(g, "core_ops", p->n_ops, err, errlen) ||
              check_count(g, "weight_blocks", p->n_blocks, err, errlen) ||
              check_count(g, "neurons", p->n_neurons, err, errlen);
    int rc = bad ? -1 : 0;
    H5Gclose(g);
    info->traffic = traffic;
    info->chips = (int)chips;
    info->n_cores = (int)cores;
    return rc;
}

/* One /mapping array into a fresh int array; absent is fine. */
static int read_map(hid_t f, const char *name, int64_t want, const char *what, int **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    int ex = has(f, name);
    if (ex <= 0)
        return ex ? errf(err, errlen, "/%s: cannot read (damaged file?)", name) : 0;
    int32_t *v;
    if (want < 1)
        return errf(err, errlen, "/%s: a mapping, but /stats/cores is %lld", name, (long long)want);
    if (read_i32(f, name, want, what, &v, NULL, err, errlen))
        return -1;
    *out = malloc(sizeof **out * (size_t)want);
    if (!*out) {
        free(v);
        return errf(err, errlen, "/%s: out of memory", name);
    }
    for (int64_t i = 0; i < want; i++)
        (*out)[i] = v[i];
    free(v);
    return 0;
}

static int read_mapping(hid_t f, const Program *p, ProgramInfo *info, char *err, size_t errlen)
{
    htri_t ex = H5Lexists(f, "mapping", H5P_DEFAULT);
    if (ex <= 0)
        return ex ? errf(err, errlen, "/mapping: cannot read (damaged file?)") : 0;
    int64_t cores = info->n_cores;
    /* core_of_op has one value per op; any mapping needs /stats/cores >= 1 */
    if (read_map(f, "mapping/core_of_op", cores < 1 ? cores : p->n_ops, "one per core op",
                 &info->core_of_op, err, errlen) ||
        read_map(f, "mapping/core_x", cores, "one per core (/stats/cores)", &info->core_x, err,
                 errlen) ||
        read_map(f, "mapping/core_y", cores, "one per core (/stats/cores)", &info->core_y, err,
                 errlen))
        return -1;
    return check_mapping(p, info, err, errlen);
}

/* The body of program_load; messages come without the file name. */
static int load_file(hid_t f, Program **out, Hw *hw, ProgramInfo *info, char *err, size_t errlen)
{
    Raw r;
    memset(&r, 0, sizeof r);
    Program *p = NULL;
    int rc = -1;
    if (read_root(f, &r, err, errlen) || read_hw(f, hw, err, errlen) ||
        read_blocks(f, &r, err, errlen) || read_ops(f, &r, err, errlen))
        goto out;
    if (!(p = build(&r))) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    char why[NN_ERR_MAX];
    if (program_validate(p, why, sizeof why) || check_rest(p, why, sizeof why)) {
        errf(err, errlen, "not a valid program: %s", why);
        goto out;
    }
    if (read_stats(f, p, info, err, errlen) || read_mapping(f, p, info, err, errlen))
        goto out;
    *out = p;
    p = NULL;
    rc = 0;
out:
    program_free(p);
    raw_free(&r);
    return rc;
}

int program_load(const char *path, Program **p, Hw *hw, ProgramInfo *info, char *err, size_t errlen)
{
    *p = NULL;
    ProgramInfo mine;
    program_info_init(&mine);
    if (info)
        program_info_init(info);
    hid_t file = h5io_open(path, err, errlen);
    if (file < 0)
        return -1;
    Hw h;
    char why[NN_ERR_MAX + 512];
    why[0] = '\0';
    int rc = load_file(file, p, &h, &mine, why, sizeof why);
    H5Fclose(file);
    if (rc != 0) {
        program_info_free(&mine);
        return errf(err, errlen, "%s: %s", path, why);
    }
    if (hw)
        *hw = h;
    if (info)
        *info = mine;
    else
        program_info_free(&mine);
    return 0;
}
