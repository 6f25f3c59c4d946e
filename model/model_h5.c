/* model_save / model_load: the native HDF5 model file (layout in model.h).
 *
 * Saving writes PATH.tmp.PID and renames it over PATH (h5io.h), so a failure
 * never leaves a half-written model. Loading rebuilds the Net from /graph/nodes
 * through the op table and the attribute parser, then reads every declared
 * parameter after checking its shape; hostile or truncated files give a
 * message, never a crash. HDF5's own error-stack printing is turned off. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "h5io.h"
#include "model.h"

#ifndef NNBENCH_VERSION
#define NNBENCH_VERSION "0.1.0"
#endif

#define NODE_NAME 64
#define NODE_OP 64
#define NODE_INPUTS 512
#define NODE_ATTRS 1024
#define NODES_MAX 16384   /* rows of /graph/nodes a file may hold */

/* One row of /graph/nodes, in memory. */
typedef struct {
    char name[NODE_NAME];
    char op[NODE_OP];
    char inputs[NODE_INPUTS];
    char attrs[NODE_ATTRS];
    int out_shape[3];
} NodeRow;

/* "6x1x5x5" */
static void dims_text(const int *dims, int ndim, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", d ? "x" : "", dims[d]);
}

/* The memory (and file) compound type of a /graph/nodes row. */
static hid_t node_type(void)
{
    hid_t t = -1, s_name = -1, s_op = -1, s_in = -1, s_attr = -1, arr = -1;
    hsize_t three = 3;
    const struct {
        hid_t *h;
        size_t size;
    } strs[] = {{&s_name, NODE_NAME}, {&s_op, NODE_OP}, {&s_in, NODE_INPUTS}, {&s_attr, NODE_ATTRS}};
    for (size_t i = 0; i < 4; i++) {
        *strs[i].h = H5Tcopy(H5T_C_S1);
        if (*strs[i].h < 0 || H5Tset_size(*strs[i].h, strs[i].size) < 0 ||
            H5Tset_strpad(*strs[i].h, H5T_STR_NULLTERM) < 0)
            goto out;
    }
    if ((arr = H5Tarray_create2(H5T_NATIVE_INT, 1, &three)) < 0)
        goto out;
    if ((t = H5Tcreate(H5T_COMPOUND, sizeof(NodeRow))) < 0)
        goto out;
    if (H5Tinsert(t, "name", HOFFSET(NodeRow, name), s_name) < 0 ||
        H5Tinsert(t, "op", HOFFSET(NodeRow, op), s_op) < 0 ||
        H5Tinsert(t, "inputs", HOFFSET(NodeRow, inputs), s_in) < 0 ||
        H5Tinsert(t, "attrs", HOFFSET(NodeRow, attrs), s_attr) < 0 ||
        H5Tinsert(t, "out_shape", HOFFSET(NodeRow, out_shape), arr) < 0) {
        H5Tclose(t);
        t = -1;
    }
out:
    h5io_close_type(s_name);
    h5io_close_type(s_op);
    h5io_close_type(s_in);
    h5io_close_type(s_attr);
    h5io_close_type(arr);
    return t;
}

/* ================================================================ save */

/* Fills the /graph/nodes rows (every layer but the input); checks that each
 * text fits its fixed-size field. */
static int build_rows(const Net *net, NodeRow *rows, char *err, size_t errlen)
{
    for (int i = 1; i < net->n_layers; i++) {
        const Layer *l = &net->layers[i];
        const OpInfo *op = op_table[l->type];
        NodeRow *r = &rows[i - 1];
        memset(r, 0, sizeof *r);
        if (strlen(l->name) >= NODE_NAME || strlen(op->name) >= NODE_OP)
            return errf(err, errlen, "layer '%s': name or op longer than %d characters", l->name,
                        NODE_NAME - 1);
        snprintf(r->name, sizeof r->name, "%s", l->name);
        snprintf(r->op, sizeof r->op, "%s", op->name);
        size_t used = 0;
        for (int k = 0; k < l->n_inputs; k++) {
            const char *in = net->layers[l->inputs[k]].name;
            int w = snprintf(r->inputs + used, sizeof r->inputs - used, "%s%s", k ? "," : "", in);
            if (w < 0 || used + (size_t)w >= sizeof r->inputs)
                return errf(err, errlen, "layer '%s': input list longer than %d characters",
                            l->name, NODE_INPUTS - 1);
            used += (size_t)w;
        }
        /* "key = value\n..." becomes "key = value; ..." */
        char text[4096];
        text[0] = '\0'; /* layer_attrs_format writes nothing for an op without attributes */
        int need = layer_attrs_format(&l->a, op, text, sizeof text);
        if (need < 0 || (size_t)need >= sizeof text)
            return errf(err, errlen, "layer '%s': attributes too long", l->name);
        used = 0;
        for (char *line = text; *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (*line) {
                int w = snprintf(r->attrs + used, sizeof r->attrs - used, "%s%s", used ? "; " : "",
                                 line);
                if (w < 0 || used + (size_t)w >= sizeof r->attrs)
                    return errf(err, errlen, "layer '%s': attributes longer than %d characters",
                                l->name, NODE_ATTRS - 1);
                used += (size_t)w;
            }
            if (!nl)
                break;
            line = nl + 1;
        }
        r->out_shape[0] = l->out_shape.c;
        r->out_shape[1] = l->out_shape.h;
        r->out_shape[2] = l->out_shape.w;
    }
    return 0;
}

static int write_root(hid_t file, const Model *m)
{
    int64_t version = MODEL_FORMAT_VERSION;
    uint64_t seed = m->train.seed;
    const char *trained_on = m->trained_on[0] ? m->trained_on : m->trained ? "unknown" : "";
    if (h5io_attr_num(file, "format_version", H5T_NATIVE_INT64, &version, 1) < 0 ||
        h5io_attr_str(file, "name", m->name) < 0 || h5io_attr_str(file, "dataset", m->dataset) < 0 ||
        h5io_attr_str(file, "trained_on", trained_on) < 0 ||
        h5io_attr_num(file, "train_seconds", H5T_NATIVE_DOUBLE, &m->train_seconds, 1) < 0 ||
        h5io_attr_num(file, "accuracy", H5T_NATIVE_DOUBLE, &m->accuracy, 1) < 0 ||
        h5io_attr_num(file, "seed", H5T_NATIVE_UINT64, &seed, 1) < 0 ||
        h5io_attr_str(file, "nnbench_version", NNBENCH_VERSION) < 0)
        return -1;
    return 0;
}

static int write_graph(hid_t file, const Net *net, const NodeRow *rows)
{
    hid_t g = H5Gcreate2(file, "graph", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int rc = -1;
    hid_t t = -1, s = -1, d = -1, dcpl = -1;
    Shape in = net_input_shape(net);
    int shape[3] = {in.c, in.h, in.w};
    if (h5io_attr_num(g, "input_shape", H5T_NATIVE_INT, shape, 3) < 0 ||
        h5io_attr_str(g, "output", net->layers[net->output].name) < 0)
        goto out;
    hsize_t n = (hsize_t)(net->n_layers - 1);
    if ((t = node_type()) < 0 || (s = H5Screate_simple(1, &n, NULL)) < 0 ||
        (dcpl = h5io_dcpl(1, &n, sizeof(NodeRow), 0)) < 0)
        goto out;
    if ((d = H5Dcreate2(g, "nodes", t, s, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        goto out;
    if (H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
        goto out;
    rc = 0;
out:
    if (d >= 0 && H5Dclose(d) < 0)
        rc = -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    h5io_close_space(s);
    h5io_close_type(t);
    if (H5Gclose(g) < 0)
        rc = -1;
    return rc;
}

/* /train: one string attribute per recipe key, from train_format's lines. */
static int write_train(hid_t file, const TrainConfig *t)
{
    char text[4096];
    int need = train_format(t, text, sizeof text);
    if (need < 0 || (size_t)need >= sizeof text)
        return -1;
    hid_t g = H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int rc = 0;
    for (char *line = text; *line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *eq = strstr(line, " = ");
        if (eq) {
            *eq = '\0';
            rc = h5io_attr_str(g, line, eq + 3);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    if (H5Gclose(g) < 0)
        rc = -1;
    return rc;
}

static int write_params(hid_t file, const Net *net)
{
    hid_t params = H5Gcreate2(file, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (params < 0)
        return -1;
    int rc = 0;
    for (int i = 1; i < net->n_layers && rc == 0; i++) {
        const Layer *l = &net->layers[i];
        if (l->n_params == 0)
            continue;
        hid_t g = H5Gcreate2(params, l->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            rc = -1;
            break;
        }
        for (int p = 0; p < l->n_params && rc == 0; p++) {
            const Param *pa = &l->params[p];
            hsize_t dims[4];
            for (int k = 0; k < pa->ndim; k++)
                dims[k] = (hsize_t)pa->dims[k];
            hid_t s = H5Screate_simple(pa->ndim, dims, NULL);
            hid_t dcpl = h5io_dcpl(pa->ndim, dims, sizeof(float), 0);
            hid_t d = s < 0 || dcpl < 0 ? -1
                                        : H5Dcreate2(g, pa->name, H5T_IEEE_F32LE, s, H5P_DEFAULT,
                                                     dcpl, H5P_DEFAULT);
            if (d < 0 || !pa->data ||
                H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, pa->data) < 0)
                rc = -1;
            if (d >= 0 && H5Dclose(d) < 0)
                rc = -1;
            if (dcpl >= 0)
                H5Pclose(dcpl);
            h5io_close_space(s);
        }
        if (H5Gclose(g) < 0)
            rc = -1;
    }
    if (H5Gclose(params) < 0)
        rc = -1;
    return rc;
}

int model_save(const Model *m, const char *path, char *err, size_t errlen)
{
    h5io_quiet();
    if (!m || !m->net || m->net->n_layers < 2)
        return errf(err, errlen, "%s: cannot save: the model has no layers", path);
    const Net *net = m->net;
    NodeRow *rows = calloc((size_t)net->n_layers - 1, sizeof *rows);
    if (!rows)
        return errf(err, errlen, "%s: out of memory", path);
    char why[NN_ERR_MAX];
    if (build_rows(net, rows, why, sizeof why) != 0) {
        free(rows);
        return errf(err, errlen, "%s: cannot save: %s", path, why);
    }
    char tmp[4200];
    hid_t file = h5io_create(path, tmp, sizeof tmp, err, errlen);
    int rc = -1;
    if (file >= 0) {
        int ok = write_root(file, m) == 0 && write_graph(file, net, rows) == 0 &&
                 write_train(file, &m->train) == 0 && write_params(file, net) == 0;
        rc = h5io_finish(file, ok, path, tmp, err, errlen);
        if (!ok)
            errf(err, errlen, "%s: cannot write (disk full?)", path);
    }
    free(rows);
    return rc;
}

/* ================================================================ load */

/* Checks that the file's /graph/nodes type has our members in a readable form. */
static int check_node_type(hid_t ft, char *err, size_t errlen)
{
    if (H5Tget_class(ft) != H5T_COMPOUND)
        return errf(err, errlen, "/graph/nodes: not a compound table");
    const struct {
        const char *name;
        size_t max;
    } strs[] = {{"name", NODE_NAME}, {"op", NODE_OP}, {"inputs", NODE_INPUTS}, {"attrs", NODE_ATTRS}};
    for (size_t i = 0; i < 4; i++) {
        int idx = H5Tget_member_index(ft, strs[i].name);
        if (idx < 0)
            return errf(err, errlen, "/graph/nodes: missing member '%s'", strs[i].name);
        hid_t mt = H5Tget_member_type(ft, (unsigned)idx);
        if (mt < 0)
            return errf(err, errlen, "/graph/nodes: cannot read member '%s'", strs[i].name);
        int ok = H5Tget_class(mt) == H5T_STRING && H5Tis_variable_str(mt) == 0 &&
                 H5Tget_size(mt) <= strs[i].max;
        H5Tclose(mt);
        if (!ok)
            return errf(err, errlen,
                        "/graph/nodes: member '%s' must be a fixed-length string of at most %zu bytes",
                        strs[i].name, strs[i].max);
    }
    int idx = H5Tget_member_index(ft, "out_shape");
    if (idx < 0)
        return errf(err, errlen, "/graph/nodes: missing member 'out_shape'");
    hid_t mt = H5Tget_member_type(ft, (unsigned)idx);
    if (mt < 0)
        return errf(err, errlen, "/graph/nodes: cannot read member 'out_shape'");
    int ok = 0;
    if (H5Tget_class(mt) == H5T_ARRAY && H5Tget_array_ndims(mt) == 1) {
        hsize_t dim = 0;
        hid_t base = H5Tget_super(mt);
        ok = H5Tget_array_dims2(mt, &dim) == 1 && dim == 3 && base >= 0 &&
             H5Tget_class(base) == H5T_INTEGER;
        h5io_close_type(base);
    }
    H5Tclose(mt);
    if (!ok)
        return errf(err, errlen, "/graph/nodes: member 'out_shape' must be 3 integers");
    return 0;
}

/* Reads /graph/nodes into *rows (caller frees); returns the row count or -1. */
static int read_nodes(hid_t file, NodeRow **rows_out, char *err, size_t errlen)
{
    *rows_out = NULL;
    htri_t ex = H5Lexists(file, "graph", H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(file, "graph/nodes", H5P_DEFAULT);
    if (ex <= 0)
        return errf(err, errlen, "missing /graph/nodes");
    hid_t d = H5Dopen2(file, "graph/nodes", H5P_DEFAULT);
    hid_t ft = d < 0 ? -1 : H5Dget_type(d);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hid_t mt = -1;
    NodeRow *rows = NULL;
    int n = -1;
    if (ft < 0 || sp < 0) {
        errf(err, errlen, "/graph/nodes: not a readable dataset");
        goto out;
    }
    if (check_node_type(ft, err, errlen) != 0)
        goto out;
    hssize_t count = H5Sget_simple_extent_npoints(sp);
    if (H5Sget_simple_extent_ndims(sp) != 1 || count < 1 || count > NODES_MAX) {
        errf(err, errlen, "/graph/nodes: a table of 1 to %d rows expected", NODES_MAX);
        goto out;
    }
    char why[NN_ERR_MAX];
    if (h5io_check_stored(d, why, sizeof why)) {
        errf(err, errlen, "/graph/nodes: %s", why);
        goto out;
    }
    rows = calloc((size_t)count, sizeof *rows);
    if (!rows) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    if ((mt = node_type()) < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) {
        errf(err, errlen, "/graph/nodes: cannot read (damaged file?)");
        goto out;
    }
    for (hssize_t i = 0; i < count; i++) {
        rows[i].name[NODE_NAME - 1] = rows[i].op[NODE_OP - 1] = '\0';
        rows[i].inputs[NODE_INPUTS - 1] = rows[i].attrs[NODE_ATTRS - 1] = '\0';
    }
    n = (int)count;
    *rows_out = rows;
    rows = NULL;
out:
    free(rows);
    h5io_close_type(mt);
    h5io_close_space(sp);
    h5io_close_type(ft);
    if (d >= 0)
        H5Dclose(d);
    return n;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Adds one /graph/nodes row to the net. */
static int add_node(Net *net, NodeRow *r, int row, char *err, size_t errlen)
{
    const OpInfo *op = op_by_name(r->op);
    if (!op || op->type == OP_INPUT)
        return errf(err, errlen, "/graph/nodes row %d (%s): unknown op '%s'", row, r->name, r->op);
    LayerAttrs a;
    layer_attrs_default(&a, op->type);
    for (char *item = r->attrs; item;) {
        char *semi = strchr(item, ';');
        if (semi)
            *semi = '\0';
        char *kv = trim(item);
        if (*kv) {
            char *eq = strchr(kv, '=');
            if (!eq)
                return errf(err, errlen, "/graph/nodes %s attrs: '%s' is not key = value",
                            r->name, kv);
            *eq = '\0';
            char why[NN_ERR_MAX];
            if (layer_attr_set(&a, op, trim(kv), trim(eq + 1), why, sizeof why) != 0)
                return errf(err, errlen, "/graph/nodes %s attrs: %s", r->name, why);
        }
        item = semi ? semi + 1 : NULL;
    }
    char *names[NN_MAX_INPUTS];
    int n_in = 0;
    if (*trim(r->inputs)) {
        for (char *p = r->inputs; p;) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            if (n_in == NN_MAX_INPUTS)
                return errf(err, errlen, "/graph/nodes %s: more than %d inputs", r->name,
                            NN_MAX_INPUTS);
            names[n_in++] = trim(p);
            p = comma ? comma + 1 : NULL;
        }
    }
    char why[NN_ERR_MAX];
    if (net_add(net, r->name, op->type, &a, (const char *const *)names, n_in, why, sizeof why) != 0)
        return errf(err, errlen, "/graph/nodes: %s", why);
    return 0;
}

/* Reads the parameter at /params/LAYER/NAME after checking its type and dims. */
static int read_param(hid_t file, const Layer *l, Param *p, char *err, size_t errlen)
{
    char where[256];
    snprintf(where, sizeof where, "/params/%s/%s", l->name, p->name);
    char group[128];
    snprintf(group, sizeof group, "/params/%s", l->name);
    htri_t ex = H5Lexists(file, "/params", H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(file, group, H5P_DEFAULT);
    if (ex > 0)
        ex = H5Lexists(file, where, H5P_DEFAULT);
    if (ex <= 0)
        return errf(err, errlen, "missing %s (layer %s declares it)", where, l->name);
    hid_t d = H5Dopen2(file, where, H5P_DEFAULT);
    hid_t ft = d < 0 ? -1 : H5Dget_type(d);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    int rc = -1;
    if (ft < 0 || sp < 0) {
        errf(err, errlen, "%s: not a readable dataset", where);
        goto out;
    }
    if (H5Tget_class(ft) != H5T_FLOAT) {
        errf(err, errlen, "%s: float32 data expected", where);
        goto out;
    }
    int ndim = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[H5S_MAX_RANK];
    int fdims[H5S_MAX_RANK];
    if (ndim < 0 || ndim > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        errf(err, errlen, "%s: cannot read its shape", where);
        goto out;
    }
    int same = ndim == p->ndim;
    for (int k = 0; k < ndim; k++) {
        fdims[k] = dims[k] > (hsize_t)INT32_MAX ? -1 : (int)dims[k];
        if (same && fdims[k] != p->dims[k])
            same = 0;
    }
    if (!same) {
        char want[64], have[64];
        dims_text(p->dims, p->ndim, want, sizeof want);
        dims_text(fdims, ndim, have, sizeof have);
        errf(err, errlen, "%s: shape %s expected, file has %s", where, want, ndim ? have : "a scalar");
        goto out;
    }
    char why[NN_ERR_MAX];
    if (h5io_check_stored(d, why, sizeof why)) {
        errf(err, errlen, "%s: %s", where, why);
        goto out;
    }
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->data) < 0) {
        errf(err, errlen, "%s: cannot read (damaged or truncated file?)", where);
        goto out;
    }
    rc = 0;
out:
    h5io_close_space(sp);
    h5io_close_type(ft);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* Names of the links in a group, one at a time. */
static int link_name(hid_t g, hsize_t i, char *buf, size_t len)
{
    ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
    if (n < 0 || (size_t)n >= len)
        return -1;
    return H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, buf, len, H5P_DEFAULT) < 0
               ? -1
               : 0;
}

/* Every entry of /params must be a parameter a layer declares. */
static int check_no_extra_params(hid_t file, Net *net, char *err, size_t errlen)
{
    htri_t ex = H5Lexists(file, "/params", H5P_DEFAULT);
    if (ex == 0)
        return 0;
    hid_t params = ex < 0 ? -1 : H5Gopen2(file, "/params", H5P_DEFAULT);
    if (params < 0)
        return errf(err, errlen, "/params: not a readable group");
    H5G_info_t info;
    int rc = 0;
    if (H5Gget_info(params, &info) < 0)
        rc = errf(err, errlen, "/params: not a readable group");
    for (hsize_t i = 0; rc == 0 && i < info.nlinks; i++) {
        char name[256];
        if (link_name(params, i, name, sizeof name) != 0) {
            rc = errf(err, errlen, "/params: cannot read entry %llu", (unsigned long long)i);
            break;
        }
        int li = net_find(net, name);
        if (li <= 0 || net->layers[li].n_params == 0) {
            rc = errf(err, errlen, "/params/%s: no layer in /graph/nodes has parameters by that name",
                      name);
            break;
        }
        Layer *l = &net->layers[li];
        hid_t g = H5Gopen2(params, name, H5P_DEFAULT);
        H5G_info_t gi;
        if (g < 0 || H5Gget_info(g, &gi) < 0) {
            rc = errf(err, errlen, "/params/%s: not a readable group", name);
        } else {
            for (hsize_t k = 0; rc == 0 && k < gi.nlinks; k++) {
                char pname[256];
                if (link_name(g, k, pname, sizeof pname) != 0)
                    rc = errf(err, errlen, "/params/%s: cannot read entry %llu", name,
                              (unsigned long long)k);
                else if (!layer_param(l, pname))
                    rc = errf(err, errlen, "/params/%s/%s: layer %s (%s) has no parameter %s",
                              name, pname, name, op_table[l->type]->name, pname);
            }
        }
        if (g >= 0)
            H5Gclose(g);
    }
    H5Gclose(params);
    return rc;
}

typedef struct {
    TrainConfig *t;
    char *err;
    size_t errlen;
} TrainIter;

static herr_t train_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    TrainIter *it = data;
    char value[256], why[NN_ERR_MAX];
    int r = h5io_read_attr_str(loc, "/train/", name, value, sizeof value, why, sizeof why);
    if (r != 0) {
        errf(it->err, it->errlen, "%s", r > 0 ? "cannot read /train" : why);
        return -1;
    }
    if (train_key_set(it->t, name, value, why, sizeof why) != 0) {
        errf(it->err, it->errlen, "/train %s: %s", name, why);
        return -1;
    }
    return 0;
}

static int read_train(hid_t file, TrainConfig *t, char *err, size_t errlen)
{
    htri_t ex = H5Lexists(file, "train", H5P_DEFAULT);
    if (ex == 0)
        return 0; /* no recipe stored: the defaults */
    hid_t g = ex < 0 ? -1 : H5Gopen2(file, "train", H5P_DEFAULT);
    if (g < 0)
        return errf(err, errlen, "/train: not a readable group");
    err[0] = '\0';
    TrainIter it = {t, err, errlen};
    hsize_t idx = 0;
    herr_t r = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, train_attr, &it);
    H5Gclose(g);
    if (r < 0) {
        if (!err[0])
            errf(err, errlen, "/train: cannot read its attributes");
        return -1;
    }
    return 0;
}

/* The body of model_load; messages come without the file name. */
static int load_file(hid_t file, const char *path, Model *m, char *err, size_t errlen)
{
    int64_t version = 0;
    int r = h5io_read_attr_num(file, "/", "format_version", H5T_NATIVE_INT64, &version, 1, err, errlen);
    if (r > 0)
        return errf(err, errlen, "missing attribute format_version (not an nnbench model file?)");
    if (r < 0)
        return -1;
    if (version != MODEL_FORMAT_VERSION)
        return errf(err, errlen, "format_version %lld not supported (this nnbench reads %d)",
                    (long long)version, MODEL_FORMAT_VERSION);

    path_stem(path, m->name, sizeof m->name);
    if (h5io_read_attr_str(file, "/", "name", m->name, sizeof m->name, err, errlen) < 0 ||
        h5io_read_attr_str(file, "/", "dataset", m->dataset, sizeof m->dataset, err, errlen) < 0 ||
        h5io_read_attr_str(file, "/", "trained_on", m->trained_on, sizeof m->trained_on, err, errlen) < 0 ||
        h5io_read_attr_num(file, "/", "train_seconds", H5T_NATIVE_DOUBLE, &m->train_seconds, 1, err,
                      errlen) < 0 ||
        h5io_read_attr_num(file, "/", "accuracy", H5T_NATIVE_DOUBLE, &m->accuracy, 1, err, errlen) < 0)
        return -1;
    m->trained = m->trained_on[0] != '\0';
    train_config_default(&m->train);
    uint64_t seed;
    r = h5io_read_attr_num(file, "/", "seed", H5T_NATIVE_UINT64, &seed, 1, err, errlen);
    if (r < 0)
        return -1;
    if (r == 0)
        m->train.seed = seed;
    if (read_train(file, &m->train, err, errlen) != 0)
        return -1;

    /* /graph */
    htri_t ex = H5Lexists(file, "graph", H5P_DEFAULT);
    if (ex <= 0 && H5Lexists(file, "blocks", H5P_DEFAULT) > 0)
        return errf(err, errlen, "a compiled program, not a model (nnbench simulate runs it)");
    if (ex <= 0 && H5Lexists(file, "runs", H5P_DEFAULT) > 0)
        return errf(err, errlen, "sweep results, not a model (nnbench report reads them)");
    if (ex <= 0)
        return errf(err, errlen, "missing /graph");
    hid_t g = H5Gopen2(file, "graph", H5P_DEFAULT);
    if (g < 0)
        return errf(err, errlen, "/graph: not a readable group");
    int shape[3] = {0, 0, 0};
    char output[NODE_NAME] = "";
    r = h5io_read_attr_num(g, "/graph/", "input_shape", H5T_NATIVE_INT, shape, 3, err, errlen);
    if (r > 0)
        errf(err, errlen, "missing attribute /graph/input_shape");
    int r2 = r ? 0 : h5io_read_attr_str(g, "/graph/", "output", output, sizeof output, err, errlen);
    H5Gclose(g);
    if (r || r2 < 0)
        return -1;
    for (int k = 0; k < 3; k++)
        if (shape[k] < 1 || shape[k] > 65536)
            return errf(err, errlen, "/graph/input_shape: %d,%d,%d is not a valid C,H,W", shape[0],
                        shape[1], shape[2]);

    NodeRow *rows = NULL;
    int n = read_nodes(file, &rows, err, errlen);
    if (n < 0)
        return -1;
    Net *net = net_create((Shape){shape[0], shape[1], shape[2]});
    int rc = -1;
    if (!net) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (add_node(net, &rows[i], i, err, errlen) != 0)
            goto out;
    char why[NN_ERR_MAX];
    if (net_finalize(net, why, sizeof why) != 0) {
        errf(err, errlen, "/graph: %s", why);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const Layer *l = &net->layers[i + 1];
        const int *s = rows[i].out_shape;
        if (s[0] != l->out_shape.c || s[1] != l->out_shape.h || s[2] != l->out_shape.w) {
            errf(err, errlen, "/graph/nodes %s: out_shape %dx%dx%d stored, but the layer gives %dx%dx%d",
                 l->name, s[0], s[1], s[2], l->out_shape.c, l->out_shape.h, l->out_shape.w);
            goto out;
        }
    }
    if (output[0]) {
        int o = net_find(net, output);
        if (o <= 0) {
            errf(err, errlen, "/graph output: '%s' is not a layer", output);
            goto out;
        }
        net->output = o;
    }
    for (int i = 1; i < net->n_layers; i++) {
        Layer *l = &net->layers[i];
        for (int p = 0; p < l->n_params; p++)
            if (read_param(file, l, &l->params[p], err, errlen) != 0)
                goto out;
    }
    if (check_no_extra_params(file, net, err, errlen) != 0)
        goto out;
    m->classes = (int)net_output_size(net);
    m->net = net;
    net = NULL;
    rc = 0;
out:
    net_free(net);
    free(rows);
    return rc;
}

int model_load(const char *path, Model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->accuracy = -1;
    hid_t file = h5io_open(path, err, errlen);
    if (file < 0)
        return -1;
    char why[NN_ERR_MAX + 256];
    why[0] = '\0';
    int rc = load_file(file, path, m, why, sizeof why);
    H5Fclose(file);
    if (rc != 0) {
        model_free(m);
        m->accuracy = -1;
        return errf(err, errlen, "%s: %s", path, why);
    }
    return 0;
}
