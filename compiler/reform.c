/* Graph reform (DESIGN.md §2 step 2): a trained Net becomes a program of
 * core ops, still in float, computing the same function.
 *
 * Layers are visited in topological order, each turning its inputs'
 * affine expressions (expr.h) into its own. Only ReLU-like layers and the
 * output create core ops ("materialise"): one op per output position and
 * group of channels, over the union of the neurons its channels read.
 *   - batch norm, dense, conv, average pooling, add, concat, reshapes,
 *     dropout and constant arithmetic are exact linear rewrites;
 *   - max pooling is the exact tree max(a, b) = relu(a − b) + b;
 *   - leaky ReLU = relu(x) − α·relu(−x); clip = lo + relu(x − lo) − relu(x − hi);
 *   - a core op reading more neurons than the crossbar has rows is split
 *     into partial sums carried as relu(p), relu(−p) and a merge op;
 *     more channels than columns go to several ops;
 *   - a softmax at the output is dropped (it keeps the largest logit);
 *   - sigmoid, tanh and LRN become MLP approximators (approx.h) fitted on
 *     the values they see on calibration images; LRN is fitted as a
 *     function of its own channel (with AlexNet's small α the neighbours
 *     change it by well under 1%); other functions are refused, naming the layer.
 * Identical weight blocks are stored once (every interior position of a
 * convolution shares one).
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "approx.h"
#include "compiler.h"
#include "expr.h"

typedef struct {
    const Net *net;
    Program *p;
    ReformOptions lim;
    Approx *approx;         /* per layer: the fit of a non-core function, if any */
    ExprAcc acc;
    int32_t *pos;           /* neuron id → row in the op being built */
    int32_t cap_pos;
    int *table;             /* block dedup: open addressing, block index + 1 */
    size_t table_size;
    int last_block;         /* the block block_for gave last, + 1: neighbouring ops mostly share it */
    char *err;
    size_t errlen;
    int part;               /* the Net layer being reformed */
    char *relu_last;        /* per layer: a max pooling whose ReLU before it was deferred (see commute_relu) */
    int n_groups;           /* scale groups handed out so far */
    int group;              /* the group of what materialise() is producing */
    int level_group[32];    /* its partial-sum levels' groups (-1: none yet) */
} Reform;

/* A new scale group for one materialisation (its split levels get theirs lazily). */
static void begin_group(Reform *r)
{
    r->group = r->n_groups++;
    for (int i = 0; i < 32; i++)
        r->level_group[i] = -1;
}

static int level_group(Reform *r, int level)
{
    level = level < 31 ? level : 31;
    if (r->level_group[level] < 0)
        r->level_group[level] = r->n_groups++;
    return r->level_group[level];
}

/* ----------------------------------------------------------- block dedup */

static uint64_t block_hash(int rows, int cols, CoreActivation act, const float *w, const float *b)
{
    /* FNV-1a a word at a time (a byte at a time cost 5% of a compile), mixed
     * at the end so that the table's low bits depend on every bit. */
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)rows * 31 ^ (uint64_t)cols * 131 ^ (uint64_t)act;
    uint32_t word;
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        memcpy(&word, &w[i], sizeof word);
        h = (h ^ word) * 1099511628211ULL;
    }
    for (int j = 0; j < cols; j++) {
        memcpy(&word, &b[j], sizeof word);
        h = (h ^ word) * 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ h >> 32;
}

static int same_block(const CoreBlock *k, int rows, int cols, CoreActivation act, const float *w,
                      const float *b, int expand)
{
    return k->rows == rows && k->cols == cols && k->act == act && (k->expand > 1 ? k->expand : 1) == expand &&
           !memcmp(k->wf, w, sizeof(float) * (size_t)rows * cols) &&
           !memcmp(k->bf, b, sizeof(float) * (size_t)cols);
}

/* The index of a block with these weights (and re-encoding width), added
 * if new; -1 on OOM. */
static int block_for(Reform *r, int rows, int cols, CoreActivation act, const float *w, const float *b,
                     int expand)
{
    Program *p = r->p;
    if (r->last_block && same_block(&p->blocks[r->last_block - 1], rows, cols, act, w, b, expand))
        return r->last_block - 1;
    if ((size_t)(p->n_blocks + 1) * 2 > r->table_size) { /* grow and rehash */
        size_t size = r->table_size ? r->table_size * 2 : 1024;
        int *t = calloc(size, sizeof *t);
        if (!t)
            return -1;
        for (int i = 0; i < p->n_blocks; i++) {
            const CoreBlock *k = &p->blocks[i];
            size_t h = block_hash(k->rows, k->cols, k->act, k->wf, k->bf) & (size_t)(size - 1);
            while (t[h])
                h = (h + 1) & (size - 1);
            t[h] = i + 1;
        }
        free(r->table);
        r->table = t;
        r->table_size = size;
    }
    size_t h = block_hash(rows, cols, act, w, b) & (r->table_size - 1);
    for (; r->table[h]; h = (h + 1) & (r->table_size - 1))
        if (same_block(&p->blocks[r->table[h] - 1], rows, cols, act, w, b, expand)) {
            r->last_block = r->table[h];
            return r->table[h] - 1;
        }
    int idx = program_add_block_float(p, rows, cols, w, b, act);
    if (idx >= 0) {
        p->blocks[idx].expand = expand;
        r->table[h] = r->last_block = idx + 1;
    }
    return idx;
}

/* ------------------------------------------------------ materialisation */

static int fail_oom(Reform *r) { return errf(r->err, r->errlen, "layer '%s': out of memory", r->net->layers[r->part].name); }

static int reserve_pos(Reform *r)
{
    int32_t need = r->p->n_neurons;
    if (need <= r->cap_pos)
        return 0;
    int32_t cap = need + need / 2 + 64;
    int32_t *g = realloc(r->pos, sizeof *g * (size_t)cap);
    if (!g)
        return -1;
    r->pos = g;
    r->cap_pos = cap;
    return acc_reserve(&r->acc, cap);
}

/* Sorted union of the neurons the elements elem[0..k) read. */
static int union_inputs(Reform *r, const Exprs *e, const size_t *elem, int k, int32_t **out, int *n_out)
{
    r->acc.n_touched = 0;
    for (int c = 0; c < k; c++)
        for (size_t t = e->start[elem[c]]; t < e->start[elem[c] + 1]; t++)
            acc_add_neuron(&r->acc, e->id[t], 1);
    int n = r->acc.n_touched;
    int32_t *u = malloc(sizeof *u * (size_t)(n ? n : 1));
    if (!u)
        return -1;
    memcpy(u, r->acc.touched, sizeof *u * (size_t)n);
    for (int i = 0; i < n; i++)
        r->acc.seen[u[i]] = 0;
    r->acc.n_touched = 0;
    for (int i = 1; i < n; i++) { /* insertion sort: unions are mostly sorted already */
        int32_t v = u[i];
        int j = i - 1;
        while (j >= 0 && u[j] > v) {
            u[j + 1] = u[j];
            j--;
        }
        u[j + 1] = v;
    }
    *out = u;
    *n_out = n;
    return 0;
}

/* Neurons per ReLU value (data re-encoding): tune.expand, at most what a
 * partial op's two columns per channel leave room for. */
static int partial_expand(const Reform *r)
{
    int ex = r->lim.expand > 1 ? r->lim.expand : 1, most = r->lim.cols / 2 > 1 ? r->lim.cols / 2 : 1;
    return ex < most ? ex : most;
}

/* One core op (or a split-and-merge group) computing act(expr) for the k
 * elements elem[], over the neurons u[0..nu), each value on `ex` neurons
 * (data re-encoding; a split's partial sums on partial_expand's); writes
 * their k·ex neurons to out_ids. */
static int emit_group(Reform *r, const Exprs *e, const size_t *elem, int k, const int32_t *u, int nu,
                      CoreActivation act, int level, int ex, int32_t *out_ids)
{
    Program *p = r->p;
    const int R = r->lim.rows;
    static const int32_t zero_row = PROGRAM_ZERO;
    if (nu == 0) { /* constants only: one row wired to 0 */
        u = &zero_row;
        nu = 1;
    }
    for (int i = 0; i < nu; i++)
        if (u[i] != PROGRAM_ZERO)
            r->pos[u[i]] = i;
    const int xk = nu <= R ? ex : 1; /* copies of each column in this op */
    float *w = calloc((size_t)nu * k * xk, sizeof *w), *b = malloc(sizeof *b * (size_t)k * xk);
    if (!w || !b) {
        free(w);
        free(b);
        return fail_oom(r);
    }
    for (int c = 0; c < k * xk; c++) {
        const size_t el = elem[c / xk];
        for (size_t t = e->start[el]; t < e->start[el + 1]; t++)
            w[(size_t)c * nu + r->pos[e->id[t]]] = e->coef[t];
        b[c] = e->k[el];
    }
    int rc = 0;
    if (nu <= R) {
        int blk = block_for(r, nu, k * xk, act, w, b, xk);
        int32_t first = blk < 0 ? -1 : program_add_op(p, blk, u, r->part, r->group);
        if (first < 0)
            rc = fail_oom(r);
        for (int c = 0; c < k * xk && !rc; c++)
            out_ids[c] = first + c;
    } else {
        /* Split-and-merge: G partial ops of at most R rows give relu(p), relu(−p)
         * for each channel (each on ex neurons: they are values at the I/O
         * precision too); the merge sums them (and may split again). */
        int G = (nu + R - 1) / R;
        const int px = partial_expand(r), P = 2 * k * px; /* a partial op's columns */
        int32_t *mids = malloc(sizeof *mids * (size_t)G * P);
        float *pw = malloc(sizeof *pw * (size_t)R * P), *zb = calloc((size_t)P, sizeof *zb);
        size_t *melem = malloc(sizeof *melem * (size_t)k);
        Exprs m;
        exprs_init(&m);
        if (!mids || !pw || !zb || !melem)
            rc = fail_oom(r);
        for (int g = 0; g < G && !rc; g++) {
            int lo = g * nu / G, hi = (g + 1) * nu / G, rows = hi - lo;
            for (int c = 0; c < P; c++) /* column (2·channel + sign)·px + copy */
                for (int i = 0; i < rows; i++) {
                    float v = w[(size_t)(c / (2 * px)) * nu + lo + i];
                    pw[(size_t)c * rows + i] = c / px % 2 ? -v : v;
                }
            int blk = block_for(r, rows, P, CORE_RELU, pw, zb, px);
            int32_t first = blk < 0 ? -1 : program_add_op(p, blk, u + lo, r->part, level_group(r, level));
            if (first < 0 || reserve_pos(r))
                rc = fail_oom(r);
            for (int c = 0; c < P; c++)
                mids[(size_t)g * P + c] = first + c;
        }
        for (int c = 0; c < k && !rc; c++) { /* channel c: Σ_g relu(p) − relu(−p) + bias */
            for (int g = 0; g < G; g++)
                for (int m = 0; m < 2 * px; m++)
                    acc_add_neuron(&r->acc, mids[(size_t)g * P + 2 * c * px + m], m < px ? 1.0 / px : -1.0 / px);
            r->acc.k = b[c];
            melem[c] = (size_t)c;
            rc = acc_push(&r->acc, &m) ? fail_oom(r) : 0;
        }
        if (!rc) /* ids are ascending: ops were added in order */
            rc = emit_group(r, &m, melem, k, mids, G * P, act, level + 1, ex, out_ids);
        exprs_free(&m);
        free(melem);
        free(mids);
        free(pw);
        free(zb);
    }
    free(w);
    free(b);
    return rc;
}

/* Materialises elements into neurons, `group` elements (listed in `order`)
 * sharing their inputs at a time; out becomes one neuron per element, or
 * the mean of its `expand` copies (data re-encoding; ReLU values only). */
static int materialise(Reform *r, const Exprs *e, const size_t *order, size_t n, int group,
                       CoreActivation act, Exprs *out)
{
    const int R = r->lim.rows, C = r->lim.cols, px = partial_expand(r);
    const int ex = act == CORE_RELU ? px : 1;
    int32_t *ids = malloc(sizeof *ids * (n ? n : 1) * ex);
    if (!ids || reserve_pos(r))
        return free(ids), fail_oom(r);
    begin_group(r);
    int rc = 0;
    for (size_t g0 = 0; g0 < n && !rc; g0 += (size_t)group) {
        int gk = (int)(n - g0 < (size_t)group ? n - g0 : (size_t)group);
        int32_t *u;
        int nu;
        if (union_inputs(r, e, order + g0, gk, &u, &nu))
            return free(ids), fail_oom(r);
        /* Channels per op: at most the columns. When split, partial ops have
         * two columns per channel and the merge reads 2·G per channel: choose
         * channels so that one merge level suffices, or one channel at a time
         * (each level then shrinks the fan-in from n to 2·⌈n/R⌉ < n). */
        int per = gk < C / ex ? gk : C / ex;
        if (nu > R) {
            int G = (nu + R - 1) / R, by_cols = C / (2 * px), by_merge = R / (2 * G * px);
            per = per < by_cols ? per : by_cols;
            per = per < by_merge ? per : by_merge;
            per = per < 1 ? 1 : per;
        }
        for (int c0 = 0; c0 < gk && !rc; c0 += per) {
            int k = gk - c0 < per ? gk - c0 : per;
            int32_t *sub = u;
            int nsub = nu;
            if (k < gk) { /* only the neurons these channels read */
                if (union_inputs(r, e, order + g0 + c0, k, &sub, &nsub))
                    rc = fail_oom(r);
            }
            if (!rc)
                rc = emit_group(r, e, order + g0 + c0, k, sub, nsub, act, 0, ex, ids + (g0 + c0) * ex);
            if (sub != u)
                free(sub);
            if (!rc && reserve_pos(r))
                rc = fail_oom(r);
        }
        free(u);
    }
    exprs_init(out);
    if (!rc) {
        /* out[order[j]] = neurons ids[j·ex ..]: build in element order. */
        size_t *by_elem = malloc(sizeof *by_elem * (n ? n : 1));
        if (!by_elem)
            rc = fail_oom(r);
        for (size_t j = 0; j < n && !rc; j++)
            by_elem[order[j]] = j;
        for (size_t i = 0; i < n && !rc; i++) {
            for (int m = 0; m < ex; m++)
                acc_add_neuron(&r->acc, ids[by_elem[i] * ex + m], 1.0 / ex);
            if (acc_push(&r->acc, out))
                rc = fail_oom(r);
        }
        free(by_elem);
    }
    free(ids);
    if (rc)
        exprs_free(out);
    return rc;
}

/* The order that groups a layer's elements by (block, position), channels together. */
static size_t *position_order(int outer, Shape s, int *group)
{
    size_t hw = (size_t)s.h * s.w, n = (size_t)outer * s.c * hw, j = 0;
    size_t *order = malloc(sizeof *order * (n ? n : 1));
    if (!order)
        return NULL;
    for (int o = 0; o < outer; o++)
        for (size_t q = 0; q < hw; q++)
            for (int c = 0; c < s.c; c++)
                order[j++] = ((size_t)o * s.c + (size_t)c) * hw + q;
    *group = s.c;
    return order;
}

/* relu(scale·e + shift) for every element of a layer's view. */
static int materialise_layer(Reform *r, const Exprs *e, int outer, Shape s, double scale, double shift,
                             CoreActivation act, Exprs *out)
{
    int group = 1;
    size_t *order = position_order(outer, s, &group);
    Exprs t;
    exprs_init(&t);
    int rc = order ? 0 : fail_oom(r);
    const Exprs *src = e;
    if (!rc && (scale != 1 || shift != 0)) {
        for (size_t i = 0; i < e->n && !rc; i++) {
            acc_add(&r->acc, e, i, scale);
            r->acc.k += shift;
            rc = acc_push(&r->acc, &t) ? fail_oom(r) : 0;
        }
        src = &t;
    }
    if (!rc)
        rc = materialise(r, src, order, e->n, group, act, out);
    exprs_free(&t);
    free(order);
    return rc;
}

/* ------------------------------------------------------------ the layers */

#define PUSH() do { if (acc_push(&r->acc, out)) return fail_oom(r); } while (0)

static int reform_input(Reform *r, const Layer *l, const Normalize *norm, Exprs *out)
{
    Shape s = l->out_shape;
    size_t hw = (size_t)s.h * s.w;
    if (reserve_pos(r))
        return fail_oom(r);
    for (int c = 0; c < s.c; c++) {
        int k = c < 3 ? c : 2;
        double mul = norm->scale / norm->std[k], add = -norm->mean[k] / norm->std[k];
        for (size_t q = 0; q < hw; q++) {
            acc_add_neuron(&r->acc, (int32_t)(c * hw + q), mul);
            r->acc.k = add;
            PUSH();
        }
    }
    return 0;
}

static int reform_dense(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const Param *w = &l->params[0], *b = l->n_params > 1 ? &l->params[1] : NULL;
    int N = l->out_shape.c, K = (int)shape_size(l->in_shape[0]);
    for (int o = 0; o < l->outer; o++)
        for (int j = 0; j < N; j++) {
            for (int i = 0; i < K; i++)
                acc_add(&r->acc, in, (size_t)o * K + i, w->data[(size_t)j * K + i]);
            r->acc.k += b ? b->data[j] : 0;
            PUSH();
        }
    return 0;
}

static int reform_conv(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const LayerAttrs *a = &l->a;
    const float *w = l->params[0].data, *b = a->bias ? l->params[1].data : NULL;
    Shape is = l->in_shape[0], os = l->out_shape;
    int kh = a->kernel_h, kw = a->kernel_w;
    for (int o = 0; o < l->outer; o++)
        for (int f = 0; f < os.c; f++)
            for (int y = 0; y < os.h; y++)
                for (int x = 0; x < os.w; x++) {
                    for (int c = 0; c < is.c; c++)
                        for (int i = 0; i < kh; i++) {
                            int yy = y * a->stride_h - a->pad_t + i;
                            if (yy < 0 || yy >= is.h)
                                continue;
                            for (int j = 0; j < kw; j++) {
                                int xx = x * a->stride_w - a->pad_l + j;
                                if (xx < 0 || xx >= is.w)
                                    continue;
                                size_t e = (((size_t)o * is.c + c) * is.h + yy) * is.w + xx;
                                acc_add(&r->acc, in, e, w[(((size_t)f * is.c + c) * kh + i) * kw + j]);
                            }
                        }
                    r->acc.k += b ? b[f] : 0;
                    PUSH();
                }
    return 0;
}

static int reform_batchnorm(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const float *g = l->params[0].data, *be = l->params[1].data, *mu = l->params[2].data,
                *var = l->params[3].data;
    Shape s = l->out_shape;
    size_t hw = (size_t)s.h * s.w, e = 0;
    for (int o = 0; o < l->outer; o++)
        for (int c = 0; c < s.c; c++) {
            double inv = 1.0 / sqrt((double)var[c] + l->a.eps), scale = g[c] * inv;
            for (size_t q = 0; q < hw; q++, e++) {
                acc_add(&r->acc, in, e, scale);
                r->acc.k += be[c] - scale * mu[c];
                PUSH();
            }
        }
    return 0;
}

/* The real input pixels of pooling window (y, x), clipped to the input. */
static void pool_window(const LayerAttrs *a, Shape is, int y, int x, int *h0, int *h1, int *w0, int *w1)
{
    *h0 = y * a->stride_h - a->pad_t, *w0 = x * a->stride_w - a->pad_l;
    *h1 = *h0 + a->kernel_h, *w1 = *w0 + a->kernel_w;
    *h0 = *h0 < 0 ? 0 : *h0, *w0 = *w0 < 0 ? 0 : *w0;
    *h1 = *h1 > is.h ? is.h : *h1, *w1 = *w1 > is.w ? is.w : *w1;
}

static int reform_avgpool(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const LayerAttrs *a = &l->a;
    Shape is = l->in_shape[0], os = l->out_shape;
    int global = l->type == OP_GLOBAL_AVGPOOL;
    for (int o = 0; o < l->outer; o++)
        for (int c = 0; c < os.c; c++)
            for (int y = 0; y < os.h; y++)
                for (int x = 0; x < os.w; x++) {
                    int h0 = 0, h1 = is.h, w0 = 0, w1 = is.w;
                    double div = (double)is.h * is.w;
                    if (!global) {
                        pool_window(a, is, y, x, &h0, &h1, &w0, &w1);
                        div = (double)(h1 - h0) * (w1 - w0);
                        if (a->count_include_pad) { /* as nn/op_pool.c: clipped to the padded input */
                            int hs = y * a->stride_h - a->pad_t, ws = x * a->stride_w - a->pad_l;
                            int he = hs + a->kernel_h, we = ws + a->kernel_w;
                            he = he > is.h + a->pad_b ? is.h + a->pad_b : he;
                            we = we > is.w + a->pad_r ? is.w + a->pad_r : we;
                            div = (double)(he - hs) * (we - ws);
                        }
                    }
                    for (int yy = h0; yy < h1; yy++)
                        for (int xx = w0; xx < w1; xx++)
                            acc_add(&r->acc, in, (((size_t)o * is.c + c) * is.h + yy) * is.w + xx, 1 / div);
                    PUSH();
                }
    return 0;
}

/* Max pooling as a tree of max(a, b) = relu(a − b) + b, one level at a time. */
static int reform_maxpool(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const LayerAttrs *a = &l->a;
    Shape is = l->in_shape[0], os = l->out_shape;
    size_t n = (size_t)l->outer * os.c * os.h * os.w;
    /* Current candidates of every output, as expressions: level 0 = the window. */
    Exprs cur, next, diff, relu;
    exprs_init(&cur);
    int width = 0, rc = 0;
    size_t *cnt = malloc(sizeof *cnt * (n ? n : 1));
    if (!cnt)
        return fail_oom(r);
    size_t e = 0;
    for (int o = 0; o < l->outer; o++)
        for (int c = 0; c < os.c; c++)
            for (int y = 0; y < os.h; y++)
                for (int x = 0; x < os.w; x++, e++) {
                    int h0, h1, w0, w1;
                    pool_window(a, is, y, x, &h0, &h1, &w0, &w1);
                    cnt[e] = (size_t)(h1 - h0) * (w1 - w0);
                    width = (int)cnt[e] > width ? (int)cnt[e] : width;
                }
    /* cur holds `width` slots per output (unused slots repeat the first). */
    e = 0;
    for (int o = 0; o < l->outer && !rc; o++)
        for (int c = 0; c < os.c && !rc; c++)
            for (int y = 0; y < os.h && !rc; y++)
                for (int x = 0; x < os.w && !rc; x++, e++) {
                    int h0, h1, w0, w1;
                    pool_window(a, is, y, x, &h0, &h1, &w0, &w1);
                    for (int s = 0; s < width && !rc; s++) {
                        int yy = h0 + (s < (int)cnt[e] ? s : 0) / (w1 - w0);
                        int xx = w0 + (s < (int)cnt[e] ? s : 0) % (w1 - w0);
                        acc_add(&r->acc, in, (((size_t)o * is.c + c) * is.h + yy) * is.w + xx, 1);
                        rc = acc_push(&r->acc, &cur) ? fail_oom(r) : 0;
                    }
                }
    free(cnt);
    /* Each level pairs slot 2i with 2i+1: relu(a − b) is materialised, b + it carried on. */
    Shape pos = os;
    while (!rc && width > 1) {
        int pairs = width / 2, nw = (width + 1) / 2;
        exprs_init(&diff);
        for (size_t q = 0; q < n && !rc; q++)
            for (int i = 0; i < pairs && !rc; i++) {
                acc_add(&r->acc, &cur, q * width + 2 * i, 1);
                acc_add(&r->acc, &cur, q * width + 2 * i + 1, -1);
                rc = acc_push(&r->acc, &diff) ? fail_oom(r) : 0;
            }
        /* Group the differences of one position across channels (and pairs). */
        size_t nd = n * (size_t)pairs, j = 0, hw = (size_t)pos.h * pos.w;
        size_t *order = rc ? NULL : malloc(sizeof *order * (nd ? nd : 1));
        exprs_init(&relu);
        if (!rc && !order)
            rc = fail_oom(r);
        for (int o = 0; o < l->outer && !rc; o++)
            for (size_t qq = 0; qq < hw; qq++)
                for (int c = 0; c < pos.c; c++)
                    for (int i = 0; i < pairs; i++)
                        order[j++] = ((((size_t)o * pos.c + c) * hw + qq) * pairs) + (size_t)i;
        if (!rc)
            rc = materialise(r, &diff, order, nd, pos.c * pairs, CORE_RELU, &relu);
        free(order);
        exprs_init(&next);
        for (size_t q = 0; q < n && !rc; q++)
            for (int i = 0; i < nw && !rc; i++) {
                if (2 * i + 1 < width) {
                    acc_add(&r->acc, &relu, q * pairs + i, 1);
                    acc_add(&r->acc, &cur, q * width + 2 * i + 1, 1);
                } else {
                    acc_add(&r->acc, &cur, q * width + 2 * i, 1);
                }
                rc = acc_push(&r->acc, &next) ? fail_oom(r) : 0;
            }
        exprs_free(&diff);
        exprs_free(&relu);
        exprs_free(&cur);
        cur = next;
        width = nw;
    }
    if (rc) {
        exprs_free(&cur);
        return rc;
    }
    if (r->relu_last[r->part]) { /* max(relu(x)) = relu(max(x)) */
        rc = materialise_layer(r, &cur, l->outer, os, 1, 0, CORE_RELU, out);
        exprs_free(&cur);
        return rc;
    }
    *out = cur;
    return 0;
}

static int reform_concat(Reform *r, const Layer *l, const Exprs *const *in, Exprs *out)
{
    for (int o = 0; o < l->outer; o++)
        for (int k = 0; k < l->n_inputs; k++) {
            size_t block = shape_size(l->in_shape[k]);
            for (size_t i = 0; i < block; i++) {
                acc_add(&r->acc, in[k], (size_t)o * block + i, 1);
                PUSH();
            }
        }
    return 0;
}

/* Index of output element i of an eltwise's b, broadcast to a's dims. */
static size_t bcast_index(const LayerAttrs *a, size_t i)
{
    int r = a->dims.n, rb = a->bdims.n;
    size_t bi = 0, stride = 1;
    for (int d = r - 1; d >= 0; d--) {
        size_t x = i % (size_t)a->dims.v[d];
        i /= (size_t)a->dims.v[d];
        int k = d - (r - rb);
        if (k >= 0) {
            if (a->bdims.v[k] != 1)
                bi += x * stride;
            stride *= (size_t)a->bdims.v[k];
        }
    }
    return bi;
}

static int unsupported(Reform *r, const Layer *l, const char *why)
{
    return errf(r->err, r->errlen, "layer '%s' (%s): %s", l->name, op_table[l->type]->name, why);
}

static int reform_eltwise(Reform *r, const Layer *l, const Exprs *const *in, Exprs *out)
{
    const LayerAttrs *a = &l->a;
    size_t n = layer_size(l);
    const float *b = l->n_inputs == 1 ? l->params[0].data : NULL;
    int op = a->binop;
    if ((op == BINOP_MUL || op == BINOP_DIV) && !b)
        return unsupported(r, l, "a product or quotient of two data tensors has no core-op form");
    if (op == BINOP_DIV && a->reverse)
        return unsupported(r, l, "dividing by data has no core-op form");
    for (size_t i = 0; i < n; i++) {
        size_t bi = bcast_index(a, i);
        double sa = a->reverse && op == BINOP_SUB ? -1 : 1;
        if (op == BINOP_MUL)
            sa = b[bi];
        else if (op == BINOP_DIV)
            sa = 1.0 / b[bi];
        acc_add(&r->acc, in[0], i, sa);
        if (op == BINOP_ADD || op == BINOP_SUB) {
            double sb = op == BINOP_SUB && !a->reverse ? -1 : 1;
            if (b)
                r->acc.k += sb * b[bi];
            else
                acc_add(&r->acc, in[1], bi, sb);
        }
        PUSH();
    }
    return 0;
}

/* Transpose and pad move elements: out element i is input element src(i) or a constant. */
static int reform_layout(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const LayerAttrs *a = &l->a;
    int rank = a->dims.n, od[NN_MAX_RANK];
    size_t ist[NN_MAX_RANK], s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        ist[d] = s;
        s *= (size_t)a->dims.v[d];
    }
    for (int d = 0; d < rank; d++)
        od[d] = l->type == OP_TRANSPOSE ? a->dims.v[a->perm.v[d]]
                                        : a->dims.v[d] + a->pads.v[d] + a->pads.v[d + rank];
    size_t n = layer_size(l);
    for (size_t i = 0; i < n; i++) {
        size_t rest = i, src = 0;
        int inside = 1;
        for (int d = rank - 1; d >= 0; d--) {
            long x = (long)(rest % (size_t)od[d]);
            rest /= (size_t)od[d];
            if (l->type == OP_TRANSPOSE) {
                src += (size_t)x * ist[a->perm.v[d]];
            } else {
                x -= a->pads.v[d];
                if (x < 0 || x >= a->dims.v[d])
                    inside = 0;
                else
                    src += (size_t)x * ist[d];
            }
        }
        if (inside)
            acc_add(&r->acc, in, src, 1);
        else
            r->acc.k = a->value;
        PUSH();
    }
    return 0;
}

/* A pointwise function built from two ReLUs: lo + relu(x − lo) − relu(x − hi), or
 * relu(x) − α·relu(−x) for leaky ReLU. */
static int reform_two_relus(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    int leaky = l->type == OP_LEAKY_RELU;
    double lo = leaky ? 0 : l->a.lo, hi = leaky ? 0 : l->a.hi;
    int has_lo = leaky || lo > -3e38, has_hi = leaky || hi < 3e38;
    Exprs up, down;
    exprs_init(&up);
    exprs_init(&down);
    int rc = 0;
    /* up = relu(x − lo) (leaky: relu(x)); down = relu(x − hi) (leaky: relu(−x)). */
    if (has_lo)
        rc = materialise_layer(r, in, l->outer, l->out_shape, 1, has_lo && !leaky ? -lo : 0, CORE_RELU, &up);
    if (!rc && has_hi)
        rc = materialise_layer(r, in, l->outer, l->out_shape, leaky ? -1 : 1, leaky ? 0 : -hi, CORE_RELU, &down);
    for (size_t i = 0; i < in->n && !rc; i++) {
        if (leaky) {
            acc_add(&r->acc, &up, i, 1);
            acc_add(&r->acc, &down, i, -l->a.alpha);
        } else if (has_lo) {
            acc_add(&r->acc, &up, i, 1);
            r->acc.k += lo;
            if (has_hi)
                acc_add(&r->acc, &down, i, -1);
        } else if (has_hi) { /* min(x, hi) = x − relu(x − hi) */
            acc_add(&r->acc, in, i, 1);
            acc_add(&r->acc, &down, i, -1);
        } else {
            acc_add(&r->acc, in, i, 1);
        }
        rc = acc_push(&r->acc, out) ? fail_oom(r) : 0;
    }
    exprs_free(&up);
    exprs_free(&down);
    return rc;
}

/* Are all elements sums of neurons with non-negative weights and constants?
 * (Every neuron is non-negative: a pixel or a ReLU output.) */
static int non_negative(const Exprs *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->k[i] < 0)
            return 0;
    for (size_t t = 0; e->n && t < e->start[e->n]; t++)
        if (e->coef[t] < 0)
            return 0;
    return 1;
}

/* Carries each element on neurons: relu(x) when x cannot be negative (an
 * exact copy), else the pair relu(x), relu(−x) with x = one − other. */
static int carry(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    Exprs pos, neg;
    exprs_init(&pos);
    exprs_init(&neg);
    exprs_init(out);
    int nonneg = non_negative(in);
    int rc = materialise_layer(r, in, l->outer, l->out_shape, 1, 0, CORE_RELU, &pos);
    if (!rc && !nonneg)
        rc = materialise_layer(r, in, l->outer, l->out_shape, -1, 0, CORE_RELU, &neg);
    for (size_t i = 0; i < in->n && !rc; i++) {
        acc_add(&r->acc, &pos, i, 1);
        if (!nonneg)
            acc_add(&r->acc, &neg, i, -1);
        rc = acc_push(&r->acc, out) ? fail_oom(r) : 0;
    }
    exprs_free(&pos);
    exprs_free(&neg);
    if (rc)
        exprs_free(out);
    return rc;
}

/* Pooling outputs are sums of several neurons; carried on one neuron each
 * (two where they can be negative, after a tanh or an LRN) they keep their
 * consumers' fan-in small instead of multiplying it by the window. */
static int compact_pooled(Reform *r, const Layer *l, Exprs *out)
{
    int many = 0;
    size_t most = non_negative(out) ? 1 : 2; /* a pair only pays for more than two terms */
    for (size_t i = 0; i < out->n && !many; i++)
        many = expr_terms(out, i) > most;
    if (!many)
        return 0;
    Exprs c;
    int rc = carry(r, l, out, &c);
    if (rc)
        return rc;
    exprs_free(out);
    *out = c;
    return 0;
}

/* g(x) = a0 + Σ_j a_j relu(x − t_j). Every knot of every channel at one
 * position is one materialisation, so a position's knots share core ops
 * (k·channels columns over the same few rows) instead of one op per knot. */
static int reform_approx(Reform *r, const Layer *l, const Exprs *in, Exprs *out)
{
    const Approx *g = &r->approx[r->part];
    Exprs carried, knots, hidden;
    exprs_init(&carried);
    exprs_init(&knots);
    exprs_init(&hidden);
    int rc = 0;
    /* Each knot reads the input; a long expression (a conv's window) is first
     * carried on neurons, so the knots read one or two neurons instead of
     * the whole window. */
    size_t terms = in->n ? in->start[in->n] : 0;
    if (terms > 2 * in->n) {
        rc = carry(r, l, in, &carried);
        in = &carried;
    }
    /* knots[j·n + i] = x_i − t_j, materialised position by position. */
    const size_t n = in->n, k = (size_t)g->k;
    for (size_t j = 0; j < k && !rc; j++)
        for (size_t i = 0; i < n && !rc; i++) {
            acc_add(&r->acc, in, i, 1);
            r->acc.k -= g->t[j];
            rc = acc_push(&r->acc, &knots) ? fail_oom(r) : 0;
        }
    Shape s = l->out_shape;
    size_t hw = (size_t)s.h * s.w, q = 0;
    size_t *order = rc ? NULL : malloc(sizeof *order * (n * k > 0 ? n * k : 1));
    if (!rc && !order)
        rc = fail_oom(r);
    for (int o = 0; o < l->outer && !rc; o++)
        for (size_t p = 0; p < hw; p++)
            for (int c = 0; c < s.c; c++)
                for (size_t j = 0; j < k; j++)
                    order[q++] = j * n + ((size_t)o * s.c + (size_t)c) * hw + p;
    if (!rc)
        rc = materialise(r, &knots, order, n * k, s.c * g->k, CORE_RELU, &hidden);
    free(order);
    for (size_t i = 0; i < n && !rc; i++) {
        for (size_t j = 0; j < k; j++)
            acc_add(&r->acc, &hidden, j * n + i, g->a[j]);
        r->acc.k += g->a0;
        rc = acc_push(&r->acc, out) ? fail_oom(r) : 0;
    }
    exprs_free(&carried);
    exprs_free(&knots);
    exprs_free(&hidden);
    return rc;
}

static int needs_approx(OpType t) { return t == OP_SIGMOID || t == OP_TANH || t == OP_LRN; }

/* Fits the approximators of every non-core layer on the calibration images. */
static int fit_approximators(Reform *r, Net *net, const Normalize *norm)
{
    const ReformOptions *o = &r->lim;
    int k = o->approx_width > 0 ? o->approx_width : 8;
    size_t samples = o->approx_samples > 0 ? (size_t)o->approx_samples : 16384;
    for (int i = 1; i <= net->output; i++) {
        const Layer *l = &net->layers[i];
        if (!needs_approx(l->type))
            continue;
        if (!o->calib || o->n_calib < 1)
            return unsupported(r, l, "its approximator needs calibration images");
        float *x, *y;
        size_t n;
        if (approx_samples(net, norm, o->calib, o->n_calib, i, samples, &x, &y, &n))
            return errf(r->err, r->errlen, "layer '%s': out of memory sampling", l->name);
        int rc = approx_fit(x, y, n, k, &r->approx[i]);
        free(x);
        free(y);
        if (rc)
            return unsupported(r, l, "could not fit its approximator (no samples, or a singular fit)");
    }
    return 0;
}

/* A ReLU read only by a max pooling commutes with it: max(relu(a), relu(b))
 * = relu(max(a, b)). Deferring it lets the pooling tree read the
 * convolution's inputs directly, and the full-resolution ReLU layer never
 * exists, which pays when a pooling window's inputs (all channels) take at
 * most a quarter of the rows, as after a first convolution. Returns the
 * pooling layer, or 0 to materialise the ReLU as usual. */
static int commute_relu(Reform *r, const Net *net, int i, const int *uses, const Exprs *in)
{
    const Layer *l = &net->layers[i];
    if (l->type != OP_RELU || uses[i] != 1 || i == net->output || l->outer != 1)
        return 0;
    int j = i + 1;
    while (j <= net->output && !(net->layers[j].n_inputs == 1 && net->layers[j].inputs[0] == i))
        j++;
    if (j > net->output || j == net->output || net->layers[j].type != OP_MAXPOOL)
        return 0;
    const Layer *pool = &net->layers[j];
    Shape is = pool->in_shape[0], os = pool->out_shape;
    int h0, h1, w0, w1;
    pool_window(&pool->a, is, os.h / 2, os.w / 2, &h0, &h1, &w0, &w1);
    r->acc.n_touched = 0;
    for (int c = 0; c < is.c; c++)
        for (int y = h0; y < h1; y++)
            for (int x = w0; x < w1; x++) {
                size_t e = ((size_t)c * is.h + y) * is.w + x;
                for (size_t t = in->start[e]; t < in->start[e + 1]; t++)
                    acc_add_neuron(&r->acc, in->id[t], 1);
            }
    int rows = r->acc.n_touched;
    for (int t = 0; t < rows; t++) /* leave the accumulator empty */
        r->acc.seen[r->acc.touched[t]] = 0;
    r->acc.n_touched = 0;
    r->acc.k = 0;
    return 4 * rows <= r->lim.rows ? j : 0;
}

/* Global average pooling of a 1×1 convolution is the convolution of the
 * pooled input (both are linear, and a 1×1 convolution treats positions
 * alike): GAP(conv(x)) = conv(GAP(x)). Pooling first carries each channel's
 * mean on one neuron (compact_pooled), so the convolution reads C neurons
 * instead of every position of every channel — fewer partial sums, each a
 * rounding on the chip (a GAP head after its last convolution, as in
 * fully convolutional networks). Returns the pooling layer, or 0. */
static int commute_gap(const Net *net, int i, const int *uses)
{
    const Layer *l = &net->layers[i];
    const LayerAttrs *a = &l->a;
    if (l->type != OP_CONV || uses[i] != 1 || i == net->output || l->outer != 1 || a->kernel_h != 1 ||
        a->kernel_w != 1 || a->stride_h != 1 || a->stride_w != 1 || a->pad_t || a->pad_l || a->pad_b || a->pad_r)
        return 0;
    int j = i + 1;
    while (j <= net->output && !(net->layers[j].n_inputs == 1 && net->layers[j].inputs[0] == i))
        j++;
    return j <= net->output && net->layers[j].type == OP_GLOBAL_AVGPOOL && net->layers[j].outer == 1 ? j : 0;
}

/* Layer i (see commute_gap) as pooling, then the convolution on 1×1. */
static int reform_gap_conv(Reform *r, const Layer *conv, const Exprs *in, Exprs *out)
{
    Layer pool = {.type = OP_GLOBAL_AVGPOOL, .outer = 1, .n_inputs = 1};
    snprintf(pool.name, sizeof pool.name, "%s", conv->name);
    pool.in_shape[0] = conv->in_shape[0];
    pool.out_shape = (Shape){conv->in_shape[0].c, 1, 1};
    Layer point = *conv;
    point.in_shape[0] = pool.out_shape;
    point.out_shape = (Shape){conv->out_shape.c, 1, 1};
    Exprs pooled;
    exprs_init(&pooled);
    int rc = reform_avgpool(r, &pool, in, &pooled);
    rc = rc ? rc : compact_pooled(r, &pool, &pooled);
    rc = rc ? rc : reform_conv(r, &point, &pooled, out);
    exprs_free(&pooled);
    return rc;
}

static int reform_layer(Reform *r, const Layer *l, Exprs *const *in, int is_output, Exprs *out)
{
    exprs_init(out);
    if (needs_approx(l->type))
        return reform_approx(r, l, in[0], out);
    if ((l->type == OP_AVGPOOL || l->type == OP_GLOBAL_AVGPOOL || l->type == OP_MAXPOOL) && !is_output) {
        int rc = l->type == OP_MAXPOOL ? reform_maxpool(r, l, in[0], out) : reform_avgpool(r, l, in[0], out);
        return rc ? rc : compact_pooled(r, l, out);
    }
    switch (l->type) {
    case OP_DENSE: return reform_dense(r, l, in[0], out);
    case OP_CONV: return reform_conv(r, l, in[0], out);
    case OP_BATCHNORM: return reform_batchnorm(r, l, in[0], out);
    case OP_AVGPOOL: case OP_GLOBAL_AVGPOOL: return reform_avgpool(r, l, in[0], out);
    case OP_MAXPOOL: return reform_maxpool(r, l, in[0], out);
    case OP_RELU:
        return materialise_layer(r, in[0], l->outer, l->out_shape, 1, 0, CORE_RELU, out);
    case OP_LEAKY_RELU: case OP_CLIP: return reform_two_relus(r, l, in[0], out);
    case OP_ADD:
        for (size_t i = 0; i < layer_size(l); i++) {
            for (int k = 0; k < l->n_inputs; k++)
                acc_add(&r->acc, in[k], i, 1);
            PUSH();
        }
        return 0;
    case OP_CONCAT: return reform_concat(r, l, (const Exprs *const *)in, out);
    case OP_ELTWISE: return reform_eltwise(r, l, (const Exprs *const *)in, out);
    case OP_TRANSPOSE: case OP_PAD: return reform_layout(r, l, in[0], out);
    case OP_DROPOUT: case OP_FLATTEN: case OP_RESHAPE: return exprs_copy(out, in[0]) ? fail_oom(r) : 0;
    case OP_SOFTMAX:
        if (is_output) /* the largest logit stays the largest */
            return exprs_copy(out, in[0]) ? fail_oom(r) : 0;
        return unsupported(r, l, "softmax inside the network needs an MLP approximator (not built yet)");
    case OP_CONSTANT: {
        const Param *v = &l->params[0];
        for (size_t i = 0; i < v->size; i++) {
            r->acc.k = v->data[i];
            PUSH();
        }
        return 0;
    }
    default:
        return unsupported(r, l, "a function nnbench has no core-op form or approximator for yet");
    }
}

int reform(Net *net, const Normalize *norm, const ReformOptions *opt, Program **out, char *err,
           size_t errlen)
{
    *out = NULL;
    if (opt->rows < 3 || opt->cols < 2)
        return errf(err, errlen, "crossbars of %dx%d are too small to reform into", opt->rows, opt->cols);
    Shape in = net_input_shape(net);
    Reform r = {.net = net, .lim = *opt, .err = err, .errlen = errlen};
    r.p = program_create_float((int)shape_size(in));
    Exprs *ex = calloc((size_t)net->n_layers, sizeof *ex);
    int *uses = calloc((size_t)net->n_layers, sizeof *uses);
    r.approx = calloc((size_t)net->n_layers, sizeof *r.approx);
    r.relu_last = calloc((size_t)net->n_layers, 1);
    char *pooled_before = calloc((size_t)net->n_layers, 1); /* a GAP commute_gap moved before its conv */
    int rc = r.p && ex && uses && r.approx && r.relu_last && pooled_before ? 0 : errf(err, errlen, "out of memory");
    if (!rc)
        rc = fit_approximators(&r, net, norm);
    for (int i = 1; i <= net->output && !rc; i++)
        for (int k = 0; k < net->layers[i].n_inputs; k++)
            uses[net->layers[i].inputs[k]]++;
    if (!rc)
        rc = reform_input(&r, &net->layers[0], norm, &ex[0]);
    for (int i = 1; i <= net->output && !rc; i++) {
        const Layer *l = &net->layers[i];
        r.part = i;
        Exprs *in[NN_MAX_INPUTS];
        for (int k = 0; k < l->n_inputs; k++)
            in[k] = &ex[l->inputs[k]];
        int pool = reserve_pos(&r) ? -1 : commute_relu(&r, net, i, uses, in[0]), gap = commute_gap(net, i, uses);
        if (pool < 0)
            rc = fail_oom(&r);
        else if (pool > 0) {
            r.relu_last[pool] = 1;
            rc = exprs_copy(&ex[i], in[0]) ? fail_oom(&r) : 0;
        } else if (gap > 0) {
            pooled_before[gap] = 1;
            rc = reform_gap_conv(&r, l, in[0], &ex[i]);
        } else if (pooled_before[i]) { /* already pooled: the conv's output as it is */
            rc = exprs_copy(&ex[i], in[0]) ? fail_oom(&r) : 0;
        } else {
            rc = reform_layer(&r, l, in, i == net->output, &ex[i]);
        }
        for (int k = 0; k < l->n_inputs && !rc; k++) /* free what no later layer reads */
            if (--uses[l->inputs[k]] == 0)
                exprs_free(&ex[l->inputs[k]]);
    }
    if (!rc) { /* the logits: linear core ops */
        Exprs logits;
        r.part = net->output;
        size_t n = ex[net->output].n;
        size_t *order = malloc(sizeof *order * (n ? n : 1));
        if (order) {
            for (size_t i = 0; i < n; i++)
                order[i] = i;
            rc = materialise(&r, &ex[net->output], order, n, (int)n, CORE_LINEAR, &logits);
            free(order);
        } else {
            rc = fail_oom(&r);
        }
        int32_t *ids = rc ? NULL : malloc(sizeof *ids * (n ? n : 1));
        for (size_t i = 0; ids && i < n; i++)
            ids[i] = logits.id[logits.start[i]];
        if (!rc && (!ids || program_set_outputs(r.p, ids, (int)n)))
            rc = fail_oom(&r);
        free(ids);
        if (!rc)
            exprs_free(&logits);
    }
    for (int i = 0; i < net->n_layers && ex; i++)
        exprs_free(&ex[i]);
    free(ex);
    free(uses);
    for (int i = 0; i < net->n_layers && r.approx; i++)
        approx_free(&r.approx[i]);
    free(r.approx);
    free(r.relu_last);
    free(pooled_before);
    free(r.pos);
    free(r.table);
    acc_free(&r.acc);
    if (rc) {
        program_free(r.p);
        return -1;
    }
    *out = r.p;
    return 0;
}
