/* Sweep files (format in sweep.h): reading, checking, and expanding into
 * tasks. Every error names the file, the section and the key. */
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iniparser/iniparser.h>

#include "../compiler/compiler.h"
#include "../datasets/datasets.h"
#include "sweep.h"

typedef struct {
    const char *path;
    dictionary *d;
    char *err;
    size_t errlen;
} Reader;

static int bad(Reader *r, const char *sec, const char *key, const char *fmt, const char *val)
{
    char what[512];
    snprintf(what, sizeof what, fmt, val);
    return errf(r->err, r->errlen, "%s: [%s] %s: %s", r->path, sec, key, what);
}

/* A comma-separated list into n items of `size` bytes; blanks trimmed. */
static int split_list(Reader *r, const char *sec, const char *key, const char *text, char *items, size_t size,
                      int *n)
{
    *n = 0;
    const char *s = text;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (!len)
            return bad(r, sec, key, "an empty item in '%s'", text);
        if (len >= size)
            return bad(r, sec, key, "an item too long in '%s'", text);
        if (*n == SWEEP_MAX)
            return bad(r, sec, key, "more than 64 items in '%s'", text);
        memcpy(items + (size_t)*n * size, s, len);
        items[(size_t)*n * size + len] = 0;
        for (int k = 0; k < *n; k++)
            if (!strcmp(items + (size_t)k * size, items + (size_t)*n * size))
                return bad(r, sec, key, "'%s' is listed twice", items + (size_t)*n * size);
        (*n)++;
        s = end ? end + 1 : s + len;
        if (end && !*s)
            return bad(r, sec, key, "a trailing comma in '%s'", text);
    }
    if (*n == 0)
        return bad(r, sec, key, "%sempty: list at least one", "");
    return 0;
}

static const char *get(Reader *r, const char *sec, const char *key)
{
    char full[256];
    snprintf(full, sizeof full, "%s:%s", sec, key);
    return iniparser_getstring(r->d, full, NULL);
}

/* Keys of a section must all be known. */
static int only_keys(Reader *r, const char *sec, const char *const *known)
{
    int n = iniparser_getsecnkeys(r->d, sec);
    const char **keys = malloc(sizeof *keys * (size_t)(n ? n : 1));
    if (!keys)
        return errf(r->err, r->errlen, "%s: out of memory", r->path);
    iniparser_getseckeys(r->d, sec, keys);
    for (int i = 0; i < n; i++) {
        const char *k = strchr(keys[i], ':') + 1;
        int ok = 0;
        for (int j = 0; known[j] && !ok; j++)
            ok = !strcmp(k, known[j]);
        if (!ok) {
            char list[512] = "";
            for (int j = 0; known[j]; j++)
                errf_append(list, sizeof list, "%s%s", j ? ", " : "", known[j]);
            bad(r, sec, k, "unknown key (known: %s)", list);
            free(keys);
            return -1;
        }
    }
    free(keys);
    return 0;
}

static int read_model(Reader *r, const char *name, SweepModel *m)
{
    static const char *const known[] = {"zoo", "file", "dataset", "epochs", "input_scale", "input_mean",
                                        "input_std", NULL};
    char sec[128];
    sweep_copy(sec, sizeof sec, "model.");
    sweep_copy(sec + 6, sizeof sec - 6, name);
    memset(m, 0, sizeof *m);
    m->epochs = -1;
    normalize_default(&m->norm);
    sweep_copy(m->name, sizeof m->name, name);
    if (!iniparser_find_entry(r->d, sec)) { /* a zoo name on its own data set */
        sweep_copy(m->zoo, sizeof m->zoo, name);
        return 0;
    }
    if (only_keys(r, sec, known))
        return -1;
    const char *zoo = get(r, sec, "zoo"), *file = get(r, sec, "file"), *ds = get(r, sec, "dataset");
    if (!zoo == !file)
        return bad(r, sec, "zoo", "%sgive exactly one of zoo = NAME and file = MODEL.h5|MODEL.onnx", "");
    snprintf(zoo ? m->zoo : m->file, sizeof m->zoo, "%s", zoo ? zoo : file);
    if (ds)
        snprintf(m->dataset, sizeof m->dataset, "%s", ds);
    const char *ep = get(r, sec, "epochs");
    long epochs;
    if (ep && (parse_long(ep, 0, 100000, &epochs) || !zoo))
        return bad(r, sec, "epochs", "'%s' is not a whole number in 0..100000 (for zoo models only)", ep);
    if (ep)
        m->epochs = (int)epochs;
    static const char *const pre[] = {"input_scale", "input_mean", "input_std"};
    for (int k = 0; k < 3; k++) {
        const char *v = get(r, sec, pre[k]);
        if (!v)
            continue;
        char opt[32], e[512];
        snprintf(opt, sizeof opt, "--%s", pre[k]);
        opt[7] = '-'; /* --input_scale → --input-scale */
        if (parse_preprocessing(opt, v, &m->norm, e, sizeof e) != 1)
            return bad(r, sec, pre[k], "%s", e);
        m->has_norm = 1;
    }
    /* Found now, not hours into the sweep when its first job runs. */
    if (file && access(file, R_OK) != 0)
        return errf(r->err, r->errlen, "%s: [%s] file: cannot read '%s': %s", r->path, sec, file,
                    strerror(errno));
    return 0;
}

/* Is name one of the n items? (No items: everything is.) */
static int listed(const char (*items)[SWEEP_NAME], int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(items[k], name))
            return 1;
    return !n; /* an empty list: everything */
}

static int read_axis(Reader *r, const char *sec, SweepAxis *a, const Sweep *s)
{
    static const char *const known[] = {"key", "values", "presets", "strategies", NULL};
    memset(a, 0, sizeof *a);
    if (only_keys(r, sec, known))
        return -1;
    const char *key = get(r, sec, "key"), *values = get(r, sec, "values"), *presets = get(r, sec, "presets");
    if (!key)
        return bad(r, sec, "key", "%smissing (a hardware key such as weights.bits)", "");
    if (!values)
        return bad(r, sec, "values", "%smissing (a list such as 2, 4, 8)", "");
    if (split_list(r, sec, "key", key, &a->keys[0][0], sizeof a->keys[0], &a->n_keys))
        return -1;
    if (a->n_keys > SWEEP_AXIS_KEYS)
        return bad(r, sec, "key", "more than 4 keys in '%s'", key);
    for (int k = 0; k < a->n_keys; k++) {
        if (k && strlen(a->key) + 1 < sizeof a->key)
            strcat(a->key, "+");
        strncat(a->key, a->keys[k], sizeof a->key - strlen(a->key) - 1);
    }
    if (split_list(r, sec, "values", values, &a->values[0][0], sizeof a->values[0], &a->n_values))
        return -1;
    if (presets && split_list(r, sec, "presets", presets, &a->presets[0][0], sizeof a->presets[0], &a->n_presets))
        return -1;
    const char *strategies = get(r, sec, "strategies");
    if (strategies && split_list(r, sec, "strategies", strategies, &a->strategies[0][0], sizeof a->strategies[0],
                                 &a->n_strategies))
        return -1;
    for (int k = 0; k < a->n_strategies; k++) {
        int found = 0;
        for (int t = 0; t < s->n_strategies && !found; t++)
            found = !strcmp(s->strategies[t], a->strategies[k]);
        if (!found)
            return bad(r, sec, "strategies", "'%s' is not in [sweep] strategies", a->strategies[k]);
    }
    for (int p = 0; p < a->n_presets; p++)
        if (!listed(s->hw, s->n_hw, a->presets[p])) /* [sweep] hw is never empty */
            return bad(r, sec, "presets", "'%s' is not in [sweep] hw", a->presets[p]);
    /* Every value must be a valid override on every preset it applies to. */
    for (int h = 0; h < s->n_hw; h++) {
        int applies = listed(a->presets, a->n_presets, s->hw[h]);
        for (int v = 0; v < a->n_values && applies; v++) {
            char set[SWEEP_AXIS_KEYS][128], e[512];
            const char *sets[SWEEP_AXIS_KEYS];
            for (int k = 0; k < a->n_keys; k++) {
                snprintf(set[k], sizeof set[k], "%s=%s", a->keys[k], a->values[v]);
                sets[k] = set[k];
            }
            Hw hw;
            if (hw_open(s->hw[h], sets, a->n_keys, &hw, NULL, 0, e, sizeof e))
                return bad(r, sec, "values", "%s", e);
        }
    }
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *t = NULL;
    if (!fseek(f, 0, SEEK_END)) {
        long n = ftell(f);
        if (n >= 0 && !fseek(f, 0, SEEK_SET) && (t = malloc((size_t)n + 1))) {
            if (fread(t, 1, (size_t)n, f) != (size_t)n) {
                free(t);
                t = NULL;
            } else {
                t[n] = 0;
            }
        }
    }
    fclose(f);
    return t;
}

void sweep_free(Sweep *s)
{
    free(s->text);
    s->text = NULL;
}

static int axis_applies(const SweepAxis *a, const char *hw, const char *strategy)
{
    return listed(a->presets, a->n_presets, hw) && listed(a->strategies, a->n_strategies, strategy);
}

/* The jobs sweep_expand would make, as a double: the lists multiply out to
 * as much as 64^(4 + axes), which no integer holds. */
static double count_jobs(const Sweep *s)
{
    double per_seed = 0;
    for (int h = 0; h < s->n_hw; h++)
        for (int st = 0; st < s->n_strategies; st++) {
            double n = 1;
            for (int a = 0; a < s->n_axes; a++)
                if (axis_applies(&s->axes[a], s->hw[h], s->strategies[st]))
                    n *= s->axes[a].n_values;
            per_seed += n;
        }
    double jobs = 0;
    for (int m = 0; m < s->n_models; m++)
        jobs += (s->models[m].zoo[0] ? s->n_seeds : 1) * per_seed;
    return jobs;
}

int sweep_load(const char *path, Sweep *s, char *err, size_t errlen)
{
    static const char *const known[] = {"name", "output", "report", "models", "hw", "strategies", "seeds",
                                        "limit", "cache", NULL};
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    Reader r = {path, ini_open(path, err, errlen), err, errlen};
    if (!r.d)
        return -1;
    int rc = -1;
    const char *v;
    char list[SWEEP_MAX][64];
    if (!iniparser_find_entry(r.d, "sweep")) {
        errf(err, errlen, "%s: no [sweep] section (see configs/quick.ini)", path);
        goto done;
    }
    if (only_keys(&r, "sweep", known))
        goto done;
    /* Any other section must be a model or an axis. */
    for (int i = 0; i < iniparser_getnsec(r.d); i++) {
        const char *sec = iniparser_getsecname(r.d, i);
        if (strcmp(sec, "sweep") && strncmp(sec, "model.", 6) && strncmp(sec, "axis.", 5)) {
            errf(err, errlen, "%s: [%s]: unknown section (expected [sweep], [model.NAME] or [axis.NAME])", path, sec);
            goto done;
        }
    }
    v = get(&r, "sweep", "name");
    if (!v || !ini_name_ok(v)) {
        bad(&r, "sweep", "name", "'%s' is not a name (letters, digits, _ - .)", v ? v : "");
        goto done;
    }
    snprintf(s->name, sizeof s->name, "%s", v);
    v = get(&r, "sweep", "output");
    snprintf(s->output, sizeof s->output, v ? "%s" : "results/%s.h5", v ? v : s->name);
    v = get(&r, "sweep", "report");
    if (v)
        snprintf(s->report, sizeof s->report, "%s", v);
    else {
        snprintf(s->report, sizeof s->report, "%s", s->output);
        size_t n = strlen(s->report);
        if (n > 3 && !strcmp(s->report + n - 3, ".h5"))
            s->report[n - 3] = 0;
    }
    v = get(&r, "sweep", "cache");
    snprintf(s->cache, sizeof s->cache, "%s", v ? v : "results/cache");
    v = get(&r, "sweep", "limit");
    if (v && parse_long(v, 0, 1L << 30, &s->limit)) {
        bad(&r, "sweep", "limit", "'%s' is not a whole number >= 0 (0: the whole test split)", v);
        goto done;
    }
    static const char *const required[] = {"models", "hw", "strategies"};
    for (int k = 0; k < 3; k++)
        if (!get(&r, "sweep", required[k])) {
            bad(&r, "sweep", required[k], "%smissing", "");
            goto done;
        }
    int n;
    if (split_list(&r, "sweep", "models", get(&r, "sweep", "models"), &list[0][0], sizeof list[0], &n))
        goto done;
    s->n_models = n;
    for (int m = 0; m < n; m++)
        if (read_model(&r, list[m], &s->models[m]))
            goto done;
    if (split_list(&r, "sweep", "hw", get(&r, "sweep", "hw"), &s->hw[0][0], sizeof s->hw[0], &s->n_hw))
        goto done;
    for (int h = 0; h < s->n_hw; h++) {
        Hw hw;
        char e[512];
        if (hw_open(s->hw[h], NULL, 0, &hw, NULL, 0, e, sizeof e)) {
            bad(&r, "sweep", "hw", "%s", e);
            goto done;
        }
    }
    if (split_list(&r, "sweep", "strategies", get(&r, "sweep", "strategies"), &s->strategies[0][0],
                   sizeof s->strategies[0], &s->n_strategies))
        goto done;
    for (int k = 0; k < s->n_strategies; k++)
        if (strcmp(s->strategies[k], "reform") && strcmp(s->strategies[k], "naive") && strcmp(s->strategies[k], "full")) {
            bad(&r, "sweep", "strategies", "'%s': not one of reform, naive, full", s->strategies[k]);
            goto done;
        }
    v = get(&r, "sweep", "seeds");
    if (split_list(&r, "sweep", "seeds", v ? v : "1", &list[0][0], sizeof list[0], &s->n_seeds))
        goto done;
    for (int k = 0; k < s->n_seeds; k++)
        if (parse_long(list[k], 0, 1L << 62, &s->seeds[k])) {
            bad(&r, "sweep", "seeds", "'%.60s' is not a whole number >= 0", list[k]);
            goto done;
        }
    for (int i = 0; i < iniparser_getnsec(r.d); i++) {
        const char *sec = iniparser_getsecname(r.d, i);
        if (strncmp(sec, "axis.", 5))
            continue;
        if (s->n_axes == RESULTS_MAX_AXES) {
            errf(err, errlen, "%s: [%s]: more than %d axes", path, sec, RESULTS_MAX_AXES);
            goto done;
        }
        if (read_axis(&r, sec, &s->axes[s->n_axes], s))
            goto done;
        for (int k = 0; k < s->n_axes; k++)
            if (!strcmp(s->axes[k].key, s->axes[s->n_axes].key)) {
                bad(&r, sec, "key", "'%s' is already an axis", s->axes[k].key);
                goto done;
            }
        s->n_axes++;
    }
    double jobs = count_jobs(s);
    if (jobs > SWEEP_JOBS_MAX) {
        errf(err, errlen, "%s: [sweep]: %.4g jobs (models x seeds x hw x strategies x axis values; at most %d)",
             path, jobs, SWEEP_JOBS_MAX);
        goto done;
    }
    if (!(s->text = read_text(path))) {
        errf(err, errlen, "%s: cannot read it again", path);
        goto done;
    }
    rc = 0;
done:
    iniparser_freedict(r.d);
    return rc;
}

/* ---------------------------------------------------------------- tasks */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

/* What the trainings of a zoo model share, worked out once per model (a
 * definition is built to be measured: 64 seeds must not build it 64 times). */
typedef struct {
    uint64_t hash;     /* of the definition's text and the data set */
    char name[64], dataset[32];
    int epochs;
    double flops;      /* per image, forward */
} ZooModel;

static int zoo_model(const Sweep *s, int m, ZooModel *z, char *err, size_t errlen)
{
    const SweepModel *sm = &s->models[m];
    char ini[4096];
    char why[1024];
    if (model_resolve(sm->zoo, ini, sizeof ini, why, sizeof why))
        return errf(err, errlen, "%s: [model.%s] zoo: %s", s->path, sm->name, why);
    Model mdl;
    if (model_from_ini(ini, sm->dataset[0] ? sm->dataset : NULL, &mdl, err, errlen))
        return -1;
    char *text = read_text(ini);
    if (!text) {
        model_free(&mdl);
        return errf(err, errlen, "%s: cannot read", ini);
    }
    z->hash = fnv(1469598103934665603ULL, text, strlen(text));
    z->hash = fnv(z->hash, mdl.dataset, strlen(mdl.dataset));
    free(text);
    snprintf(z->name, sizeof z->name, "%s", mdl.name);
    snprintf(z->dataset, sizeof z->dataset, "%s", mdl.dataset);
    z->epochs = sm->epochs >= 0 ? sm->epochs : mdl.train.epochs;
    z->flops = net_flops(mdl.net);
    model_free(&mdl);
    return 0;
}

/* The training task of (model m, seed): its cache file named by a hash of
 * the definition's text, the data set, the seed and the epochs. */
static void training_task(const Sweep *s, int m, const ZooModel *z, long seed, SweepTask *t)
{
    uint64_t h = fnv(z->hash, &seed, sizeof seed);
    h = fnv(h, &s->models[m].epochs, sizeof s->models[m].epochs);
    memset(t, 0, sizeof *t);
    t->kind = TASK_TRAIN;
    t->model = m;
    t->seed = seed;
    t->train = -1;
    snprintf(t->model_path, sizeof t->model_path, "%s/%s-%s-s%ld-%016llx.h5", s->cache, z->name, z->dataset, seed,
             (unsigned long long)h);
    t->cost = 3.0 * z->flops * z->epochs * 60000.0; /* forward + backward over a training split */
}

/* A model file's forward FLOPs per image, for ordering jobs; a file that
 * cannot be read now gets a small guess (its jobs will fail and say why). */
static double file_flops(const SweepModel *sm)
{
    Model m;
    char err[1024];
    int rc;
    if (is_onnx_path(sm->file)) {
        OnnxOptions opt = {0};
        opt.has_data_shape = sm->dataset[0] && !dataset_info(sm->dataset, &opt.data_shape, NULL);
        rc = onnx_import(sm->file, &opt, &m, err, sizeof err);
    } else {
        rc = model_load(sm->file, &m, err, sizeof err);
    }
    if (rc)
        return 1e6;
    double f = net_flops(m.net);
    model_free(&m);
    return f > 0 ? f : 1e6;
}

int sweep_expand(const Sweep *s, SweepTask **tasks, int *n, char *err, size_t errlen)
{
    *tasks = NULL;
    *n = 0;
    size_t cap = 64, count = 0;
    SweepTask *t = malloc(sizeof *t * cap);
    if (!t)
        return errf(err, errlen, "out of memory expanding %s", s->path);
    for (int m = 0; m < s->n_models; m++) {
        const SweepModel *sm = &s->models[m];
        int n_seeds = sm->zoo[0] ? s->n_seeds : 1; /* a model file has no seed */
        ZooModel zoo;
        if (sm->zoo[0] && zoo_model(s, m, &zoo, err, errlen)) {
            free(t);
            return -1;
        }
        double file_f = sm->zoo[0] ? 0 : file_flops(sm);
        for (int si = 0; si < n_seeds; si++) {
            double flops = 0;
            int train = -1;
            char model_path[SWEEP_NAME * 2];
            if (sm->zoo[0]) {
                if (count == cap) {
                    SweepTask *g = realloc(t, sizeof *t * (cap *= 2));
                    if (!g)
                        goto oom;
                    t = g;
                }
                training_task(s, m, &zoo, s->seeds[si], &t[count]);
                flops = zoo.flops;
                snprintf(model_path, sizeof model_path, "%s", t[count].model_path);
                train = (int)count++;
            } else {
                snprintf(model_path, sizeof model_path, "%s", sm->file);
                flops = file_f;
            }
            for (int h = 0; h < s->n_hw; h++)
                for (int st = 0; st < s->n_strategies; st++) {
                    /* Odometer over the axes that apply to this preset. */
                    int value[RESULTS_MAX_AXES];
                    for (int a = 0; a < s->n_axes; a++)
                        value[a] = axis_applies(&s->axes[a], s->hw[h], s->strategies[st]) ? 0 : -1;
                    for (;;) {
                        if (count == cap) {
                            SweepTask *g = realloc(t, sizeof *t * (cap *= 2));
                            if (!g)
                                goto oom;
                            t = g;
                        }
                        SweepTask *j = &t[count++];
                        memset(j, 0, sizeof *j);
                        j->kind = TASK_JOB;
                        j->model = m;
                        j->hw = h;
                        j->strategy = st;
                        j->seed = sm->zoo[0] ? s->seeds[si] : -1;
                        j->train = train;
                        memcpy(j->value, value, sizeof value);
                        snprintf(j->model_path, sizeof j->model_path, "%s", model_path);
                        snprintf(j->key, sizeof j->key, "model=%s hw=%s strategy=%s seed=%ld", sm->name, s->hw[h],
                                 s->strategies[st], j->seed);
                        for (int a = 0; a < s->n_axes; a++)
                            if (value[a] >= 0)
                                errf_append(j->key, sizeof j->key, " %s=%s", s->axes[a].key,
                                            s->axes[a].values[value[a]]);
                        j->cost = flops * (double)(s->limit > 0 ? s->limit : 10000) * 4;
                        int a = 0;
                        while (a < s->n_axes && (value[a] < 0 || ++value[a] == s->axes[a].n_values)) {
                            if (value[a] >= 0)
                                value[a] = 0;
                            a++;
                        }
                        if (a == s->n_axes)
                            break;
                    }
                }
        }
    }
    *tasks = t;
    *n = (int)count;
    return 0;
oom:
    free(t);
    return errf(err, errlen, "out of memory expanding %s", s->path);
}
