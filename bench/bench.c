/* nnbench-bench: training and inference throughput of the nn engine on zoo
 * models, against the OpenBLAS sgemm peak measured in the same run and
 * (optionally) PyTorch CPU numbers measured by bench/torch_bench.py on the same
 * machine, threads and architecture. bench/run.sh drives both; see bench/README.md.
 *
 *   nnbench-bench [--model NAME]... [--threads N] [--torch FILE] [--torch-note TEXT]
 *                 [--train-batch N] [--infer-batch N] [--warmup N] [--min-iters N]
 *                 [--min-time S] [--peak-size N] [--profile]
 *
 * The network is built from the model-definition INI by the model module, so
 * the C and Python sides read the very same file. Data are random (throughput
 * does not depend on pixel values), labels uniform over the classes.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"
#include "nn/nn.h"
#include "harness/harness.h"

#define MAX_MODELS 16
#define MAX_ITERS 200
#define PROFILE_RUNS 5

typedef struct {
    const char *models[MAX_MODELS];
    int n_models;
    int threads;
    const char *torch_file, *torch_note;
    int train_batch, infer_batch; /* 0: the recipe's batch for training */
    int warmup, min_iters;
    double min_time;
    int peak_size;
    int profile;
} Options;

/* ------------------------------------------------------------- helpers */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "nnbench-bench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* How busy the machine was with other work during the run: the CPU time all
 * processes used (from /proc/stat, including time stolen by the hypervisor)
 * minus our own, in CPUs on average. Figures are trustworthy only while this
 * stays within the CPUs the benchmark leaves free. */
typedef struct {
    double wall, busy, self; /* seconds */
} CpuSnap;

static CpuSnap cpu_snap(void)
{
    CpuSnap s = {now(), NAN, 0};
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (f) {
        /* user nice system idle iowait irq softirq steal */
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) == 8)
            s.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
                     (double)sysconf(_SC_CLK_TCK);
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        s.self = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                 (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    return s;
}

/* CPUs (on average) used by other processes between a and b; NAN if unknown. */
static double cpu_other(CpuSnap a, CpuSnap b)
{
    double wall = b.wall - a.wall;
    if (isnan(a.busy) || isnan(b.busy) || wall <= 0)
        return NAN;
    double other = (b.busy - a.busy) - (b.self - a.self);
    return other < 0 ? 0 : other / wall;
}

/* ------------------------------------------------------ PyTorch numbers */

/* One model's figures from the torch_bench.py output (TSV, see there). */
typedef struct {
    char model[64];
    double train_ips, infer_ips;
    long params;
} TorchResult;

typedef struct {
    char model[64], layer[NN_NAME_MAX];
    double infer_fwd, train_fwd, train_bwd; /* ms per batch; NAN when not measured */
} TorchLayer;

typedef struct {
    char version[64];
    int threads;
    double sgemm_gflops, other_cpus;
    TorchResult res[MAX_MODELS];
    int n_res;
    TorchLayer *layers;
    int n_layers, cap_layers;
} TorchRef;

static double field_num(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

static TorchResult *torch_result(TorchRef *t, const char *model, int create)
{
    for (int i = 0; i < t->n_res; i++)
        if (!strcmp(t->res[i].model, model))
            return &t->res[i];
    if (!create || t->n_res == MAX_MODELS)
        return NULL;
    TorchResult *r = &t->res[t->n_res++];
    snprintf(r->model, sizeof r->model, "%s", model);
    r->train_ips = r->infer_ips = NAN;
    r->params = -1;
    return r;
}

static const TorchLayer *torch_layer(const TorchRef *t, const char *model, const char *layer)
{
    for (int i = 0; i < t->n_layers; i++)
        if (!strcmp(t->layers[i].model, model) && !strcmp(t->layers[i].layer, layer))
            return &t->layers[i];
    return NULL;
}

/* Reads the TSV; unknown lines are skipped so the two sides can evolve apart. */
static int torch_load(const char *path, TorchRef *t)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *fld[8], *save = NULL;
        int n = 0;
        for (char *p = strtok_r(line, "\t\n", &save); p && n < 8; p = strtok_r(NULL, "\t\n", &save))
            fld[n++] = p;
        if (n == 3 && !strcmp(fld[0], "torch")) {
            if (!strcmp(fld[1], "version"))
                snprintf(t->version, sizeof t->version, "%s", fld[2]);
            else if (!strcmp(fld[1], "threads"))
                t->threads = atoi(fld[2]);
            else if (!strcmp(fld[1], "sgemm_gflops"))
                t->sgemm_gflops = field_num(fld[2]);
            else if (!strcmp(fld[1], "other_cpus"))
                t->other_cpus = field_num(fld[2]);
        } else if (n == 6 && !strcmp(fld[0], "result")) {
            TorchResult *r = torch_result(t, fld[1], 1);
            if (!r)
                continue;
            if (!strcmp(fld[2], "train"))
                r->train_ips = field_num(fld[4]);
            else if (!strcmp(fld[2], "infer"))
                r->infer_ips = field_num(fld[4]);
            r->params = atol(fld[5]);
        } else if (n == 6 && !strcmp(fld[0], "layer")) {
            if (t->n_layers == t->cap_layers) {
                t->cap_layers = t->cap_layers ? 2 * t->cap_layers : 64;
                TorchLayer *g = realloc(t->layers, sizeof *g * (size_t)t->cap_layers);
                if (!g)
                    break;
                t->layers = g;
            }
            TorchLayer *l = &t->layers[t->n_layers++];
            snprintf(l->model, sizeof l->model, "%s", fld[1]);
            snprintf(l->layer, sizeof l->layer, "%s", fld[2]);
            l->infer_fwd = field_num(fld[3]);
            l->train_fwd = field_num(fld[4]);
            l->train_bwd = field_num(fld[5]);
        }
    }
    fclose(f);
    return 0;
}

/* ----------------------------------------------------------- sgemm peak */

/* Best of `reps` square sgemms after one warm-up: the reference ceiling for
 * everything the engine does through OpenBLAS. */
static double sgemm_peak(int n, int reps)
{
    size_t nn = (size_t)n * n;
    float *a = xmalloc(nn * sizeof *a), *b = xmalloc(nn * sizeof *b), *c = xmalloc(nn * sizeof *c);
    Rng r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < nn; i++) {
        a[i] = rng_uniform(&r) - 0.5f;
        b[i] = rng_uniform(&r) - 0.5f;
    }
    double best = 0;
    for (int k = 0; k <= reps; k++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double dt = now() - t0;
        if (k > 0 && 2.0 * (double)nn * n / dt > best) /* k = 0 warms up */
            best = 2.0 * (double)nn * n / dt;
    }
    free(a);
    free(b);
    free(c);
    return best * 1e-9;
}

/* ------------------------------------------------------- model and FLOPs */

typedef struct {
    Model m;
    int train_batch, infer_batch, classes;
    float *x, *dlogits;
    int *labels;
    OptConfig opt;
    float lr;
    long step;
    float last_loss;
} Bench;

static int bench_open(Bench *b, const char *name, const Options *o)
{
    char path[4096], err[1024];
    memset(b, 0, sizeof *b);
    if (model_resolve(name, path, sizeof path, err, sizeof err) != 0 ||
        model_from_ini(path, NULL, &b->m, err, sizeof err) != 0) {
        fprintf(stderr, "nnbench-bench: %s\n", err);
        return -1;
    }
    Net *net = b->m.net;
    b->train_batch = o->train_batch ? o->train_batch : b->m.train.batch;
    b->infer_batch = o->infer_batch;
    b->classes = (int)shape_size(net_output_shape(net));
    int most = b->train_batch > b->infer_batch ? b->train_batch : b->infer_batch;
    if (net_reserve(net, b->train_batch, 1) != 0 || net_reserve(net, most, 0) != 0) {
        fprintf(stderr, "nnbench-bench: %s: out of memory for batch %d\n", name, most);
        return -1;
    }
    size_t in = shape_size(net_input_shape(net));
    b->x = xmalloc(sizeof *b->x * in * (size_t)most);
    b->labels = xmalloc(sizeof *b->labels * (size_t)b->train_batch);
    b->dlogits = xmalloc(sizeof *b->dlogits * (size_t)b->train_batch * b->classes);
    Rng r;
    rng_seed(&r, 42);
    for (size_t i = 0; i < in * (size_t)most; i++)
        b->x[i] = rng_normal(&r); /* like normalised pixels */
    for (int i = 0; i < b->train_batch; i++)
        b->labels[i] = (int)rng_below(&r, (uint32_t)b->classes);
    b->opt = b->m.train.opt; /* the recipe's optimiser: SGD, momentum, Nesterov, decay */
    b->lr = lr_at(&b->opt, 0, b->m.train.epochs > 0 ? b->m.train.epochs : 1);
    net_seed(net, 1);
    if (optim_init(net, &b->opt) != 0) {
        fprintf(stderr, "nnbench-bench: %s: out of memory for the optimiser\n", name);
        return -1;
    }
    return 0;
}

static void bench_close(Bench *b)
{
    free(b->x);
    free(b->labels);
    free(b->dlogits);
    model_free(&b->m);
}

/* One SGD step on the fixed batch: what net_train does per batch, minus data handling. */
static void train_step(Bench *b)
{
    Net *net = b->m.net;
    const float *logits = net_forward(net, b->x, b->train_batch, 1);
    b->last_loss = softmax_cross_entropy(logits, b->labels, b->train_batch, b->classes,
                                         b->dlogits, NULL);
    net_backward(net, b->dlogits, b->train_batch);
    optim_step(net, &b->opt, b->lr, ++b->step);
}

static void infer_step(Bench *b) { net_forward(b->m.net, b->x, b->infer_batch, 0); }

/* Median seconds per call of fn after `warmup` calls; timed calls continue
 * until both min_iters and min_time are reached (capped at MAX_ITERS). */
static double time_median(void (*fn)(Bench *), Bench *b, const Options *o, int *iters)
{
    static double t[MAX_ITERS];
    for (int i = 0; i < o->warmup; i++)
        fn(b);
    int n = 0;
    double start = now();
    while (n < MAX_ITERS && (n < o->min_iters || now() - start < o->min_time)) {
        double t0 = now();
        fn(b);
        t[n++] = now() - t0;
    }
    *iters = n;
    return median(t, n);
}

/* ------------------------------------------------------------- profile */

typedef struct {
    double *infer_fwd, *train_fwd, *train_bwd; /* [layer] medians, seconds per batch */
    double zero, loss, optim, step;             /* the rest of a training step */
} Profile;

/* net_forward (nn/net.c) with a clock around each layer; keep in step with it. */
static void forward_timed(Net *net, const float *x, int batch, int train, double *t)
{
    Layer *in = &net->layers[0];
    memcpy(in->out, x, sizeof(float) * (size_t)batch * layer_size(in));
    for (int i = 1; i <= net->output; i++) {
        double t0 = now();
        Layer *l = &net->layers[i];
        op_table[l->type]->forward(l, net, batch * l->outer, train);
        t[i] = now() - t0;
    }
}

/* net_backward (nn/net.c) with a clock around the zeroing and each layer. */
static void backward_timed(Net *net, const float *dlogits, int batch, double *t, double *zero)
{
    double t0 = now();
    net_backward_begin(net, dlogits, batch);
    *zero = now() - t0;
    for (int i = net->output; i >= 1; i--) {
        t0 = now();
        Layer *l = &net->layers[i];
        op_table[l->type]->backward(l, net, batch * l->outer);
        t[i] = now() - t0;
    }
}

static void profile_run(Bench *b, Profile *p, double step_s)
{
    Net *net = b->m.net;
    int L = net->n_layers;
    double *runs = xmalloc(sizeof *runs * (size_t)L * 3 * PROFILE_RUNS);
    double zero[PROFILE_RUNS], loss[PROFILE_RUNS], optim[PROFILE_RUNS], col[PROFILE_RUNS];
    /* runs[(kind·L + layer)·PROFILE_RUNS + run] */
#define RUN(kind, i, r) runs[((size_t)(kind) * L + (size_t)(i)) * PROFILE_RUNS + (r)]
    double *t = xmalloc(sizeof *t * (size_t)L);
    for (int r = 0; r < PROFILE_RUNS; r++) {
        forward_timed(net, b->x, b->infer_batch, 0, t);
        for (int i = 1; i < L; i++)
            RUN(0, i, r) = t[i];
        forward_timed(net, b->x, b->train_batch, 1, t);
        for (int i = 1; i < L; i++)
            RUN(1, i, r) = t[i];
        double t0 = now();
        b->last_loss = softmax_cross_entropy(net->layers[net->output].out, b->labels,
                                             b->train_batch, b->classes, b->dlogits, NULL);
        loss[r] = now() - t0;
        backward_timed(net, b->dlogits, b->train_batch, t, &zero[r]);
        for (int i = 1; i < L; i++)
            RUN(2, i, r) = t[i];
        t0 = now();
        optim_step(net, &b->opt, b->lr, ++b->step);
        optim[r] = now() - t0;
    }
    p->infer_fwd = xmalloc(sizeof(double) * (size_t)L);
    p->train_fwd = xmalloc(sizeof(double) * (size_t)L);
    p->train_bwd = xmalloc(sizeof(double) * (size_t)L);
    for (int i = 0; i < L; i++) {
        double *dst[3] = {p->infer_fwd, p->train_fwd, p->train_bwd};
        for (int k = 0; k < 3; k++) {
            if (i == 0) {
                dst[k][i] = 0;
                continue;
            }
            for (int r = 0; r < PROFILE_RUNS; r++)
                col[r] = RUN(k, i, r);
            dst[k][i] = median(col, PROFILE_RUNS);
        }
    }
#undef RUN
    p->zero = median(zero, PROFILE_RUNS);
    p->loss = median(loss, PROFILE_RUNS);
    p->optim = median(optim, PROFILE_RUNS);
    p->step = step_s;
    free(t);
    free(runs);
}

static void profile_free(Profile *p)
{
    free(p->infer_fwd);
    free(p->train_fwd);
    free(p->train_bwd);
}

/* "12.34" or "-" for a missing figure, right-aligned in `w`. */
static void put_ms(double seconds_or_ms, int is_ms, int w)
{
    if (isnan(seconds_or_ms))
        printf(" %*s", w, "-");
    else
        printf(" %*.2f", w, is_ms ? seconds_or_ms : seconds_or_ms * 1e3);
}

/* nnbench time / PyTorch time, "-" when either is missing or too small to compare. */
static void put_slowdown(double ours_s, double torch_ms, int w)
{
    if (isnan(torch_ms) || torch_ms <= 0 || ours_s <= 0)
        printf(" %*s", w, "-");
    else
        printf(" %*.2fx", w - 1, ours_s * 1e3 / torch_ms);
}

static void profile_print(const Bench *b, const Profile *p, const TorchRef *tr)
{
    const Net *net = b->m.net;
    const char *name = b->m.name;
    printf("\nprofile %s: ms per batch, median of %d runs (train batch %d, inference batch %d);"
           " each layer timed in place in full passes on both sides; 'x' = nnbench time / PyTorch time\n",
           name, PROFILE_RUNS, b->train_batch, b->infer_batch);
    printf("%-12s %-10s %-10s %8s | %8s %8s %7s | %8s %8s %7s | %8s %8s %7s | %7s %7s\n", "layer",
           "op", "output", "MFLOP/im", "inf fwd", "torch", "x", "trn fwd", "torch", "x", "trn bwd",
           "torch", "x", "GF/s f", "GF/s b");
    double sum_if = 0, sum_tf = 0, sum_tb = 0;
    for (int i = 1; i <= net->output; i++) {
        const Layer *l = &net->layers[i];
        const TorchLayer *t = torch_layer(tr, name, l->name);
        double tf = t ? t->infer_fwd : NAN, ttf = t ? t->train_fwd : NAN,
               ttb = t ? t->train_bwd : NAN;
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out_shape.c, l->out_shape.h, l->out_shape.w);
        double fl = layer_flops(l);
        printf("%-12.12s %-10.10s %-10s %8.2f |", l->name, op_table[l->type]->name, shape,
               fl * 1e-6);
        put_ms(p->infer_fwd[i], 0, 8);
        put_ms(tf, 1, 8);
        put_slowdown(p->infer_fwd[i], tf, 7);
        printf(" |");
        put_ms(p->train_fwd[i], 0, 8);
        put_ms(ttf, 1, 8);
        put_slowdown(p->train_fwd[i], ttf, 7);
        printf(" |");
        put_ms(p->train_bwd[i], 0, 8);
        put_ms(ttb, 1, 8);
        put_slowdown(p->train_bwd[i], ttb, 7);
        printf(" |");
        if (fl > 0)
            printf(" %7.1f %7.1f\n", fl * b->infer_batch / p->infer_fwd[i] * 1e-9,
                   2 * fl * b->train_batch / p->train_bwd[i] * 1e-9);
        else
            printf(" %7s %7s\n", "", "");
        sum_if += p->infer_fwd[i];
        sum_tf += p->train_fwd[i];
        sum_tb += p->train_bwd[i];
    }
    const TorchLayer *to = torch_layer(tr, name, "(optimizer)");
    printf("%-12s %-10s %-10s %8s |", "(zero grads)", "net", "", "");
    printf(" %8s %8s %7s | %8s %8s %7s |", "", "", "", "", "", "");
    put_ms(p->zero, 0, 8);
    printf(" %8s %7s |\n", "", "");
    printf("%-12s %-10s %-10s %8s |", "(loss)", "softmax-ce", "", "");
    printf(" %8s %8s %7s |", "", "", "");
    put_ms(p->loss, 0, 8);
    printf(" %8s %7s | %8s %8s %7s |\n", "", "", "", "", "");
    printf("%-12s %-10s %-10s %8s |", "(optimizer)", "sgd", "", "");
    printf(" %8s %8s %7s | %8s %8s %7s |", "", "", "", "", "", "");
    put_ms(p->optim, 0, 8);
    put_ms(to ? to->train_bwd : NAN, 1, 8);
    put_slowdown(p->optim, to ? to->train_bwd : NAN, 7);
    printf(" |\n");
    double total = sum_tf + sum_tb + p->zero + p->loss + p->optim;
    printf("sum: inference forward %.2f ms; training step %.2f ms (forward %.2f, backward %.2f, "
           "zeroing %.2f, loss %.2f, optimizer %.2f) vs %.2f ms measured without the clocks\n",
           sum_if * 1e3, total * 1e3, sum_tf * 1e3, sum_tb * 1e3, p->zero * 1e3, p->loss * 1e3,
           p->optim * 1e3, p->step * 1e3);

    /* Per op type: where a training step's time goes. */
    double by_op[OP_COUNT] = {0}, by_op_inf[OP_COUNT] = {0};
    for (int i = 1; i <= net->output; i++) {
        by_op[net->layers[i].type] += p->train_fwd[i] + p->train_bwd[i];
        by_op_inf[net->layers[i].type] += p->infer_fwd[i];
    }
    printf("share of the training step (inference forward) by op:");
    for (int t = 1; t < OP_COUNT; t++)
        if (by_op[t] > 0 || by_op_inf[t] > 0)
            printf(" %s %.0f%% (%.0f%%)", op_table[t]->name, 100 * by_op[t] / total,
                   100 * by_op_inf[t] / (sum_if > 0 ? sum_if : 1));
    printf("; zeroing+loss+optimizer %.0f%%\n", 100 * (p->zero + p->loss + p->optim) / total);
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: nnbench-bench [--model NAME|FILE.ini]... [--threads N] [--torch FILE]\n"
               "                     [--torch-note TEXT] [--train-batch N] [--infer-batch N]\n"
               "                     [--warmup N] [--min-iters N] [--min-time S] [--peak-size N]\n"
               "                     [--profile]\n"
               "Defaults: lenet5 and vgg-small, threads from OMP_NUM_THREADS (else all CPUs),\n"
               "the recipe's training batch, inference batch 256, 3 warm-up iterations, then\n"
               "at least 5 iterations and 2 s per figure; sgemm peak at 2048^3.\n");
}

static int parse_args(int argc, char **argv, Options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = omp_get_max_threads();
    o->infer_batch = 256;
    o->warmup = 3;
    o->min_iters = 5;
    o->min_time = 2.0;
    o->peak_size = 2048;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--profile")) {
            o->profile = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "nnbench-bench: unknown option or missing value: %s\n", a);
            usage(stderr);
            return -1;
        }
        i++;
        if (!strcmp(a, "--model")) {
            if (o->n_models == MAX_MODELS)
                bad = 1;
            else
                o->models[o->n_models++] = v;
        } else if (!strcmp(a, "--threads"))
            bad = parse_int(v, 1, 1024, &o->threads);
        else if (!strcmp(a, "--torch"))
            o->torch_file = v;
        else if (!strcmp(a, "--torch-note"))
            o->torch_note = v;
        else if (!strcmp(a, "--train-batch"))
            bad = parse_int(v, 1, 1 << 16, &o->train_batch);
        else if (!strcmp(a, "--infer-batch"))
            bad = parse_int(v, 1, 1 << 16, &o->infer_batch);
        else if (!strcmp(a, "--warmup"))
            bad = parse_int(v, 0, 1000, &o->warmup);
        else if (!strcmp(a, "--min-iters"))
            bad = parse_int(v, 1, MAX_ITERS, &o->min_iters);
        else if (!strcmp(a, "--peak-size"))
            bad = parse_int(v, 64, 8192, &o->peak_size);
        else if (!strcmp(a, "--min-time")) {
            char *end;
            o->min_time = strtod(v, &end);
            bad = end == v || *end || !(o->min_time >= 0 && o->min_time <= 600);
        } else {
            fprintf(stderr, "nnbench-bench: unknown option: %s\n", a);
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "nnbench-bench: bad value '%s' for %s\n", v, a);
            return -1;
        }
    }
    if (o->n_models == 0) {
        o->models[o->n_models++] = "lenet5";
        o->models[o->n_models++] = "vgg-small";
    }
    return 0;
}

typedef struct {
    char name[64];
    int train_batch, infer_batch;
    double mflop;               /* forward, per image */
    double train_ips, infer_ips;
    int train_iters, infer_iters;
    long params;
    float loss;
    int omp_threads; /* OpenMP's thread count once the net is built */
} Row;

static void put_ips(double ips, double flop_per_img, double peak)
{
    if (isnan(ips))
        printf("  %13s  %7s  %5s", "-", "-", "-");
    else
        printf("  %13.1f  %7.2f  %4.1f%%", ips, ips * flop_per_img * 1e-9,
               100 * ips * flop_per_img * 1e-9 / peak);
}

static void put_ratio(double ours, double theirs, double target)
{
    if (isnan(theirs) || theirs <= 0) {
        printf("  %15s  %s\n", "-", "-");
        return;
    }
    double r = ours / theirs;
    printf("  %14.2fx  >=%.1fx %s\n", r, target, r >= target ? "PASS" : "BELOW");
}

int main(int argc, char **argv)
{
    run_env_settle(argv); /* the BLAS kernels for this CPU, as nnbench runs them */
    Options o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    /* Both thread pools explicitly, whatever the environment says. */
    omp_set_num_threads(o.threads);
    openblas_set_num_threads(o.threads);

    CpuSnap start = cpu_snap();
    TorchRef tr;
    memset(&tr, 0, sizeof tr);
    tr.other_cpus = NAN;
    int have_torch = o.torch_file && torch_load(o.torch_file, &tr) == 0 && tr.n_res > 0;

    double peak = sgemm_peak(o.peak_size, 5);
    Row rows[MAX_MODELS];
    int n_rows = 0;
    Profile prof[MAX_MODELS];
    Bench benches[MAX_MODELS];
    for (int k = 0; k < o.n_models; k++) {
        Bench *b = &benches[n_rows];
        if (bench_open(b, o.models[k], &o) != 0)
            return 1;
        Row *r = &rows[n_rows];
        snprintf(r->name, sizeof r->name, "%.63s", b->m.name); /* Model name is 64 too */
        r->train_batch = b->train_batch;
        r->infer_batch = b->infer_batch;
        r->mflop = net_flops(b->m.net) * 1e-6;
        r->params = (long)net_param_count(b->m.net);
        /* Building the net must not change the thread count we benchmark at. */
        r->omp_threads = omp_get_max_threads();
        double ts = time_median(train_step, b, &o, &r->train_iters);
        r->train_ips = b->train_batch / ts;
        r->loss = b->last_loss;
        double is = time_median(infer_step, b, &o, &r->infer_iters);
        r->infer_ips = b->infer_batch / is;
        if (o.profile)
            profile_run(b, &prof[n_rows], ts);
        n_rows++;
        if (!o.profile)
            bench_close(b);
    }

    double other = cpu_other(start, cpu_snap());
    const char *omp = getenv("OMP_NUM_THREADS"), *obl = getenv("OPENBLAS_NUM_THREADS");
    printf("nnbench vs PyTorch CPU: float32, random data, %d threads (OMP_NUM_THREADS=%s, "
           "OPENBLAS_NUM_THREADS=%s",
           o.threads, omp ? omp : "unset", obl ? obl : "unset");
    const char *wait = getenv("OMP_WAIT_POLICY");
    if (wait)
        printf(", OMP_WAIT_POLICY=%s", wait);
    if (have_torch)
        printf(", torch.set_num_threads(%d)", tr.threads);
    printf(")\n");
    printf("BLAS: %s (core %s); PyTorch %s\n", openblas_get_config(), openblas_get_corename(),
           have_torch ? tr.version : "not measured");
    printf("timing: median over >= %d iterations and >= %.1f s after %d warm-up iterations "
           "(monotonic clock)\n",
           o.min_iters, o.min_time, o.warmup);
    /* Our threads plus the others' must fit the machine, or the timings mix in waiting. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double spare = (double)(ncpu > 0 ? ncpu : 1) - o.threads + 0.1;
    printf("CPUs used by other processes during the run (of %ld): nnbench %.2f", ncpu, other);
    if (have_torch)
        printf(", PyTorch %.2f", tr.other_cpus);
    printf("%s\n", other > spare || (have_torch && tr.other_cpus > spare)
                       ? " -- more than the spare CPUs: the figures are disturbed, rerun on a quiet machine"
                       : "");
    printf("OpenBLAS sgemm peak: %.1f GFLOP/s (%d^3, best of 5)", peak, o.peak_size);
    if (have_torch && tr.sgemm_gflops > 0)
        printf("; torch.mm same size: %.1f GFLOP/s", tr.sgemm_gflops);
    printf("\n\n");

    printf("%-14s  %-5s  %5s  %9s  %13s  %7s  %5s  %13s  %7s  %5s  %15s  %s\n", "model", "mode",
           "batch", "MFLOP/img", "nnbench img/s", "GFLOP/s", "%peak", "PyTorch img/s", "GFLOP/s",
           "%peak", "nnbench/PyTorch", "target");
    printf("%-14s  %-5s  %5s  %9s  %13s  %7s  %5s  %13s  %7s  %5s  %15s  %s\n", "--------------",
           "-----", "-----", "---------", "-------------", "-------", "-----", "-------------",
           "-------", "-----", "---------------", "------------");
    for (int k = 0; k < n_rows; k++) {
        Row *r = &rows[k];
        TorchResult *t = have_torch ? torch_result(&tr, r->name, 0) : NULL;
        double t_train = t ? t->train_ips : NAN, t_infer = t ? t->infer_ips : NAN;
        /* training: forward + input gradient + weight gradient = 3× the forward */
        printf("%-14s  %-5s  %5d  %9.2f", r->name, "train", r->train_batch, 3 * r->mflop);
        put_ips(r->train_ips, 3e6 * r->mflop, peak);
        put_ips(t_train, 3e6 * r->mflop, peak);
        put_ratio(r->train_ips, t_train, 0.8);
        printf("%-14s  %-5s  %5d  %9.2f", r->name, "infer", r->infer_batch, r->mflop);
        put_ips(r->infer_ips, 1e6 * r->mflop, peak);
        put_ips(t_infer, 1e6 * r->mflop, peak);
        put_ratio(r->infer_ips, t_infer, 1.0);
    }
    printf("\nMFLOP/img: 2*MACs of conv and dense layers (forward); a training step (forward,"
           " backward, SGD) counts 3x.\n"
           "Elementwise, pooling, batchnorm and optimiser work is not counted. %%peak is of the"
           " OpenBLAS sgemm peak above.\n"
           "Targets (informational, issue 8): training >= 0.8x PyTorch, inference >= 1.0x PyTorch.\n");
    if (!have_torch)
        printf("PyTorch: not measured (%s).\n",
               o.torch_note ? o.torch_note : "no --torch results given");
    for (int k = 0; k < n_rows; k++) {
        TorchResult *t = have_torch ? torch_result(&tr, rows[k].name, 0) : NULL;
        if (have_torch && !t)
            printf("PyTorch: no result for %s.\n", rows[k].name);
        if (t && t->params != rows[k].params)
            printf("WARNING: %s: PyTorch built %ld trainable parameters, nnbench %ld: the "
                   "architectures differ.\n",
                   rows[k].name, t->params, rows[k].params);
        if (rows[k].omp_threads != o.threads)
            printf("WARNING: %s: after the net was built OpenMP runs %d thread%s, not %d: "
                   "something in the library reset it (with OpenBLAS's OpenMP build, "
                   "openblas_set_num_threads() also sets omp_set_num_threads()).\n",
                   rows[k].name, rows[k].omp_threads, rows[k].omp_threads == 1 ? "" : "s",
                   o.threads);
        if (!isfinite(rows[k].loss))
            printf("WARNING: %s: the training loss became %g during the benchmark.\n",
                   rows[k].name, (double)rows[k].loss);
    }
    if (o.profile) {
        for (int k = 0; k < n_rows; k++) {
            profile_print(&benches[k], &prof[k], &tr);
            profile_free(&prof[k]);
            bench_close(&benches[k]);
        }
        if (!have_torch)
            printf("(no PyTorch per-layer figures: run bench/torch_bench.py --profile)\n");
    }
    free(tr.layers);
    fflush(stdout);
    return ferror(stdout) ? 1 : 0;
}
