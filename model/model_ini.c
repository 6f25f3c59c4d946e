/* model_from_ini: a model-definition INI ([model], [train], one section per
 * layer) to an untrained Model. Every error names the file, the section and
 * the key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iniparser/iniparser.h>

#include "../datasets/datasets.h"
#include "model.h"

/* ---------------------------------------------------------------- keys */

/* The keys of a section, without the "section:" prefix, in file order. */
typedef struct {
    int n;
    const char **full; /* "section:key", owned by the dictionary */
    size_t prefix;
} SecKeys;

static int sec_keys(dictionary *d, const char *sec, SecKeys *k)
{
    k->n = iniparser_getsecnkeys(d, sec);
    k->prefix = strlen(sec) + 1;
    k->full = NULL;
    if (k->n <= 0) {
        k->n = 0;
        return 0;
    }
    k->full = calloc((size_t)k->n, sizeof *k->full);
    if (!k->full)
        return -1;
    if (!iniparser_getseckeys(d, sec, k->full)) {
        free(k->full);
        k->full = NULL;
        return -1;
    }
    return 0;
}

static const char *key_name(const SecKeys *k, int i) { return k->full[i] + k->prefix; }

static const char *key_value(dictionary *d, const SecKeys *k, int i)
{
    const char *v = iniparser_getstring(d, k->full[i], NULL);
    return v ? v : "";
}

/* ------------------------------------------------------------- [model] */

typedef struct {
    char name[64];
    char dataset[32];
    int has_input, has_classes;
    Shape input;
    int classes;
} ModelKeys;

static int parse_int(const char *s, long lo, long hi, long *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_shape(const char *s, Shape *out)
{
    long v[3];
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *p = buf;
    for (int i = 0; i < 3; i++) {
        char *comma = strchr(p, ',');
        if ((i < 2) != (comma != NULL))
            return -1;
        if (comma)
            *comma = '\0';
        if (parse_int(p, 1, 65536, &v[i]) != 0)
            return -1;
        p = comma ? comma + 1 : NULL;
    }
    if (v[0] * v[1] * v[2] > (1L << 28))
        return -1;
    *out = (Shape){(int)v[0], (int)v[1], (int)v[2]};
    return 0;
}

static int read_model_section(dictionary *d, const char *path, ModelKeys *mk, char *err,
                              size_t errlen)
{
    SecKeys k;
    if (sec_keys(d, "model", &k) != 0)
        return errf(err, errlen, "%s: out of memory", path);
    int rc = 0;
    for (int i = 0; i < k.n && rc == 0; i++) {
        const char *key = key_name(&k, i), *val = key_value(d, &k, i);
        if (!strcmp(key, "name")) {
            if (!ini_name_ok(val) || strlen(val) >= sizeof mk->name)
                rc = errf(err, errlen,
                          "%s: [model] name: bad value '%s': expected 1 to %zu letters, digits, "
                          "'_', '-' or '.'",
                          path, val, sizeof mk->name - 1);
            else
                snprintf(mk->name, sizeof mk->name, "%s", val);
        } else if (!strcmp(key, "dataset")) {
            if (!*val || strlen(val) >= sizeof mk->dataset)
                rc = errf(err, errlen, "%s: [model] dataset: bad value '%s': expected a data set name",
                          path, val);
            else
                snprintf(mk->dataset, sizeof mk->dataset, "%s", val);
        } else if (!strcmp(key, "input")) {
            if (parse_shape(val, &mk->input) != 0)
                rc = errf(err, errlen,
                          "%s: [model] input: bad value '%s': expected C,H,W (each 1..65536)", path,
                          val);
            mk->has_input = 1;
        } else if (!strcmp(key, "classes")) {
            long c;
            if (parse_int(val, 2, 1 << 20, &c) != 0)
                rc = errf(err, errlen, "%s: [model] classes: bad value '%s': expected an integer in 2..%d",
                          path, val, 1 << 20);
            mk->classes = (int)c;
            mk->has_classes = 1;
        } else {
            rc = errf(err, errlen, "%s: [model] %s: unknown key (known: name, dataset, input, classes)",
                      path, key);
        }
    }
    free(k.full);
    return rc;
}

static void list_datasets(char *buf, size_t len)
{
    buf[0] = '\0';
    const char *const *names = dataset_names();
    for (int i = 0; names && names[i]; i++)
        errf_append(buf, len, "%s%s", i ? ", " : "", names[i]);
}

/* Input shape and class count: [model] input / classes, else the data set's. */
static int resolve_shape(const char *path, const char *override, ModelKeys *mk, char *err,
                         size_t errlen)
{
    if (override && *override) {
        if (strlen(override) >= sizeof mk->dataset)
            return errf(err, errlen, "%s: data set name '%s' is too long", path, override);
        snprintf(mk->dataset, sizeof mk->dataset, "%s", override);
    }
    Shape ds_shape;
    int ds_classes;
    int known = mk->dataset[0] && dataset_info(mk->dataset, &ds_shape, &ds_classes) == 0;
    if (!known && !(mk->has_input && mk->has_classes)) {
        char names[256];
        list_datasets(names, sizeof names);
        if (!mk->dataset[0])
            return errf(err, errlen,
                        "%s: [model] dataset: no data set given (set dataset = NAME, one of %s; or "
                        "input = C,H,W and classes = N)",
                        path, names);
        if (override && *override)
            return errf(err, errlen, "%s: unknown data set '%s' (known: %s)", path, mk->dataset,
                        names);
        return errf(err, errlen, "%s: [model] dataset: unknown data set '%s' (known: %s)", path,
                    mk->dataset, names);
    }
    if (known && mk->has_input &&
        (mk->input.c != ds_shape.c || mk->input.h != ds_shape.h || mk->input.w != ds_shape.w))
        return errf(err, errlen, "%s: [model] input: %d,%d,%d does not match data set %s (%d,%d,%d)",
                    path, mk->input.c, mk->input.h, mk->input.w, mk->dataset, ds_shape.c,
                    ds_shape.h, ds_shape.w);
    if (known && mk->has_classes && mk->classes != ds_classes)
        return errf(err, errlen, "%s: [model] classes: %d does not match data set %s (%d classes)",
                    path, mk->classes, mk->dataset, ds_classes);
    if (known) {
        mk->input = ds_shape;
        mk->classes = ds_classes;
    }
    return 0;
}

/* ------------------------------------------------------------- [train] */

static int read_train_section(dictionary *d, const char *path, TrainConfig *t, char *err,
                              size_t errlen)
{
    SecKeys k;
    if (sec_keys(d, "train", &k) != 0)
        return errf(err, errlen, "%s: out of memory", path);
    int rc = 0;
    for (int i = 0; i < k.n && rc == 0; i++) {
        char why[NN_ERR_MAX];
        if (train_key_set(t, key_name(&k, i), key_value(d, &k, i), why, sizeof why) != 0)
            rc = errf(err, errlen, "%s: [train] %s: %s", path, key_name(&k, i), why);
    }
    free(k.full);
    return rc;
}

/* -------------------------------------------------------------- layers */

static void list_ops(char *buf, size_t len)
{
    buf[0] = '\0';
    int first = 1;
    for (int t = 0; t < OP_COUNT; t++) {
        if (!op_table[t] || !op_table[t]->name || t == OP_INPUT)
            continue;
        errf_append(buf, len, "%s%s", first ? "" : ", ", op_table[t]->name);
        first = 0;
    }
}

static int add_layer(dictionary *d, const char *path, const char *sec, const char *prev, Net *net,
                     char *err, size_t errlen)
{
    if (!strcmp(sec, "input"))
        return errf(err, errlen, "%s: [input]: the name 'input' is reserved for the network input",
                    path);
    SecKeys k;
    if (sec_keys(d, sec, &k) != 0)
        return errf(err, errlen, "%s: out of memory", path);
    int rc = 0;
    const char *type = NULL, *inputs = NULL;
    for (int i = 0; i < k.n; i++) {
        if (!strcmp(key_name(&k, i), "type"))
            type = key_value(d, &k, i);
        else if (!strcmp(key_name(&k, i), "inputs"))
            inputs = key_value(d, &k, i);
    }
    char opname[64];
    snprintf(opname, sizeof opname, "%s", type ? type : "");
    ini_trim_lower(opname);
    const OpInfo *op = opname[0] ? op_by_name(opname) : NULL;
    if (!type || !opname[0]) {
        char ops[512];
        list_ops(ops, sizeof ops);
        rc = errf(err, errlen, "%s: [%s] type: missing (one of: %s)", path, sec, ops);
        goto out;
    }
    if (!op || op->type == OP_INPUT) {
        char ops[512];
        list_ops(ops, sizeof ops);
        rc = errf(err, errlen, "%s: [%s] type: unknown op '%s' (known: %s)", path, sec, type, ops);
        goto out;
    }
    LayerAttrs a;
    layer_attrs_default(&a, op->type);
    for (int i = 0; i < k.n && rc == 0; i++) {
        const char *key = key_name(&k, i);
        if (!strcmp(key, "type") || !strcmp(key, "inputs"))
            continue;
        char why[NN_ERR_MAX];
        if (layer_attr_set(&a, op, key, key_value(d, &k, i), why, sizeof why) != 0)
            rc = errf(err, errlen, "%s: [%s] %s: %s", path, sec, key, why);
    }
    if (rc)
        goto out;

    /* inputs: comma-separated earlier layers; default: the previous one
     * (none for an op that takes none, such as constant). */
    char list[1024];
    char *names[NN_MAX_INPUTS];
    int n_in = 0;
    snprintf(list, sizeof list, "%s", inputs ? inputs : prev);
    if (!inputs && op->max_inputs == 0)
        list[0] = '\0';
    if (inputs && strlen(inputs) >= sizeof list) {
        rc = errf(err, errlen, "%s: [%s] inputs: too long", path, sec);
        goto out;
    }
    for (char *p = *list ? list : NULL; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        ini_trim_lower(p);
        if (!*p) {
            rc = errf(err, errlen, "%s: [%s] inputs: bad value '%s': expected NAME[,NAME...] of "
                      "earlier layers", path, sec, inputs ? inputs : "");
            goto out;
        }
        if (net_find(net, p) < 0) {
            rc = errf(err, errlen, "%s: [%s] inputs: '%s' is not an earlier layer", path, sec, p);
            goto out;
        }
        if (n_in == NN_MAX_INPUTS) {
            rc = errf(err, errlen, "%s: [%s] inputs: more than %d inputs", path, sec,
                      NN_MAX_INPUTS);
            goto out;
        }
        names[n_in++] = p;
        p = comma ? comma + 1 : NULL;
    }
    if (n_in < op->min_inputs || n_in > op->max_inputs) {
        if (op->min_inputs == op->max_inputs)
            rc = errf(err, errlen, "%s: [%s] inputs: a %s layer takes %d input%s, not %d", path,
                      sec, op->name, op->min_inputs, op->min_inputs == 1 ? "" : "s", n_in);
        else
            rc = errf(err, errlen, "%s: [%s] inputs: a %s layer takes %d to %d inputs, not %d",
                      path, sec, op->name, op->min_inputs, op->max_inputs, n_in);
        goto out;
    }
    char why[NN_ERR_MAX];
    if (net_add(net, sec, op->type, &a, (const char *const *)names, n_in, why, sizeof why) != 0)
        rc = errf(err, errlen, "%s: [%s]: %s", path, sec, why);
out:
    free(k.full);
    return rc;
}

/* ---------------------------------------------------------------- main */

int model_from_ini(const char *path, const char *dataset, Model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->accuracy = -1;
    dictionary *d = ini_open(path, err, errlen);
    if (!d)
        return -1;
    int rc;

    ModelKeys mk;
    memset(&mk, 0, sizeof mk);
    path_stem(path, mk.name, sizeof mk.name);
    Net *net = NULL;
    int n_sec = iniparser_getnsec(d), n_layers = 0;
    if ((rc = read_model_section(d, path, &mk, err, errlen)) != 0)
        goto out;
    if ((rc = resolve_shape(path, dataset, &mk, err, errlen)) != 0)
        goto out;
    train_config_default(&m->train);
    if ((rc = read_train_section(d, path, &m->train, err, errlen)) != 0)
        goto out;

    net = net_create(mk.input);
    if (!net) {
        rc = errf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    char prev[NN_NAME_MAX] = "input";
    for (int s = 0; s < n_sec; s++) {
        const char *sec = iniparser_getsecname(d, s);
        if (!sec || !strcmp(sec, "model") || !strcmp(sec, "train"))
            continue;
        if ((rc = add_layer(d, path, sec, prev, net, err, errlen)) != 0)
            goto out;
        snprintf(prev, sizeof prev, "%s", net->layers[net->n_layers - 1].name);
        n_layers++;
    }
    if (n_layers == 0) {
        rc = errf(err, errlen,
                  "%s: no layers (expected [model], optionally [train], then one section per "
                  "layer)",
                  path);
        goto out;
    }
    char why[NN_ERR_MAX];
    if (net_finalize(net, why, sizeof why) != 0) {
        rc = errf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    Shape out_shape = net_output_shape(net);
    if (net_output_size(net) != (size_t)mk.classes) {
        rc = errf(err, errlen,
                  "%s: [%s]: the last layer has %zu outputs (%dx%dx%d) but %s%s has %d classes",
                  path, prev, net_output_size(net), out_shape.c, out_shape.h, out_shape.w,
                  mk.dataset[0] ? "data set " : "the model", mk.dataset, mk.classes);
        goto out;
    }
    net_init_params(net, m->train.seed);
    snprintf(m->name, sizeof m->name, "%s", mk.name);
    snprintf(m->dataset, sizeof m->dataset, "%s", mk.dataset);
    m->classes = mk.classes;
    m->net = net;
    net = NULL;
out:
    net_free(net);
    iniparser_freedict(d);
    if (rc) {
        memset(m, 0, sizeof *m);
        m->accuracy = -1;
    }
    return rc;
}
