/* A lower bound on cores that holds for ANY mapping of the program
 * (map_rows.h). A core S holds ops whose columns sum to at most C and whose
 * distinct row keys, rows(S), number at most R.
 *
 * Columns: every core holds at most C columns, so cores ≥ Σ_k cols_k / C.
 *
 * Rows: split the keys into classes: those whose neuron a group of ops
 * made (CoreOp.group) and, as one more class, those of the pixels. If every
 * op k gets a share ρ_k of each class N such that on any core
 * Σ_{k∈S} ρ_k(N) ≤ |rows(S) ∩ N|, then summing over classes gives
 * Σ_{k∈S} ρ_k ≤ |rows(S)| ≤ R, and cores ≥ Σ_k ρ_k / R. Each class takes
 * the larger total of two valid share schemes:
 *
 * (1) Per key. Let s_r be the most readers of key r one core can hold:
 *     at most its readers, and at most ⌊C / the fewest columns of a reader⌋.
 *     Op k's share is Σ_{r ∈ keys(k) ∩ N} 1/s_r; on S each key of rows(S)
 *     is counted by at most s_r of its ops, each 1/s_r.
 *
 * (2) Windows (convolutions, pooling, their split pieces). Give neuron v of
 *     the class coordinates (c, y, x): v is column c of the op that made it,
 *     which is the pos-th op of its group, y = pos / W, x = pos mod W (W
 *     guessed from the readers; the pixels are one group of 1-column ops).
 *     Distinct neurons get distinct coordinates. An op whose neurons of N
 *     are exactly a full box [y0, y0+h) × [x0, x0+w) × all Cn columns (the
 *     group's ops all have Cn columns) is a window at (y0, x0). Take one
 *     shape h × w and the set Q of windows at least that large, each cut to
 *     its top-left h × w box; at most μ of them share a corner. If S holds t
 *     ops of Q, their corners form a set A of at least ⌈t/μ⌉ points and
 *     |rows(S) ∩ N| ≥ Cn · |A + B|, B = [0,h) × [0,w). Two facts bound that:
 *
 *     (a) For any A ⊂ Z² of n points, |A + B| ≥ iso(n, h, w) =
 *         n + (h−1)(w−1) + min_{p≥1} ((w−1) p + (h−1) ⌈n/p⌉).
 *         Compress A along y (in each column x, move its points to y = 0 ..
 *         count−1). Column x of A + B is the union over x' ∈ (x−w, x] of
 *         A's column x' plus [0, h), which has at least
 *         max_{x'} (|A_x'| + h − 1) points (a set of m integers plus an
 *         interval of h has ≥ m + h − 1); after compressing, the columns are
 *         nested intervals from 0 and the union has exactly that many, so
 *         |A + B| does not grow. The same holds along x. Alternating the
 *         two strictly lowers Σ (x + y) until A is compressed both ways: a
 *         staircase with p rows, the longest of q ≥ ⌈n/p⌉ points. Its line
 *         Y (0 ≤ Y < p + h − 1) of A + B holds the longest row among
 *         Y−h+1 .. Y plus w − 1, which sums to n + (h−1) q + (w−1)(p + h − 1).
 *     (b) Strides. If every corner is ≡ (oy, ox) mod (sy, sx), the points of
 *         A + B fall into residue classes (ry, rx) mod (sy, sx), ry < min(sy, h),
 *         rx < min(sx, w); in class (ry, rx) they are a copy of A' + B', where
 *         A' = the corners divided by the strides (still n points) and B' is
 *         a box of ⌈(h−ry)/sy⌉ × ⌈(w−rx)/sx⌉. So |A + B| ≥ Σ_classes iso(n, B').
 *
 *     Call that g(t) (with n = ⌈t/μ⌉, times Cn). It grows with t, so no core
 *     holds more than m ops of Q: the largest t with g(t) ≤ R and with the t
 *     narrowest ops of Q within C columns. Every op of Q gets
 *     ρ = min_{1≤t≤m} g(t)/t, every other op 0 for this class: a core with
 *     t ≤ m ops of Q gets t·ρ ≤ g(t) ≤ |rows(S) ∩ N|.
 *     (An axon type only splits a neuron's row into several: counting
 *     neurons instead of keys undercounts, which keeps the bound valid.)
 *
 * The bound is the larger of the column and the row bound, rounded up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "map_rows.h"

#define MAX_SHAPES 6      /* box shapes tried per class (the most common ones) */
#define GUESSES 4         /* grid widths voted on per class */
#define EXACT_READERS 12  /* keys read by at most this many ops get an exact s */
#define EXACT_NODES 500   /* ... unless the search takes longer */
#define EXACT_WORK 100000000LL /* rows added by all searches together (time) */

/* min |A + [0,h)×[0,w)| over sets A of n points of Z² ((a) above). */
static long long iso(long long n, long long h, long long w)
{
    if (n <= 0)
        return 0;
    long long best = -1;
    for (long long p = 1; p <= n; p++) {
        long long q = (n + p - 1) / p, v = (w - 1) * p + (h - 1) * q;
        best = best < 0 || v < best ? v : best;
        if (q == 1)
            break; /* larger p only adds (w − 1) p */
    }
    return n + (h - 1) * (w - 1) + best;
}

typedef struct {
    int32_t group, op, y0, x0, h, w;
} Window;

typedef struct {
    int n_classes;       /* groups, then the pixels */
    int *group_size;     /* ops per group (pixels: n_inputs) */
    int *cols;           /* per class: its ops' columns (-1: they differ) */
    int32_t *class_of;   /* per neuron */
    int32_t *pos_of;     /* per neuron: its op's place in the group (pixels: the pixel) */
} Coords;

static void coords_free(Coords *c)
{
    free(c->group_size);
    free(c->cols);
    free(c->class_of);
    free(c->pos_of);
}

static int coords_build(const Program *p, Coords *c)
{
    int ng = 0;
    for (int k = 0; k < p->n_ops; k++)
        ng = p->ops[k].group + 1 > ng ? p->ops[k].group + 1 : ng;
    size_t nn = (size_t)(p->n_neurons ? p->n_neurons : 1);
    c->n_classes = ng + 1;
    c->group_size = calloc((size_t)ng + 1, sizeof *c->group_size);
    c->cols = malloc(sizeof *c->cols * ((size_t)ng + 1));
    c->class_of = malloc(sizeof *c->class_of * nn);
    c->pos_of = malloc(sizeof *c->pos_of * nn);
    if (!c->group_size || !c->cols || !c->class_of || !c->pos_of)
        return coords_free(c), -1;
    for (int g = 0; g < ng; g++)
        c->cols[g] = 0;
    c->cols[ng] = 1;
    c->group_size[ng] = p->n_inputs;
    for (int32_t v = 0; v < p->n_inputs; v++) {
        c->class_of[v] = ng;
        c->pos_of[v] = v;
    }
    for (int k = 0; k < p->n_ops; k++) {
        const CoreOp *op = &p->ops[k];
        int g = op->group, cols = p->blocks[op->block].cols;
        c->cols[g] = c->cols[g] == 0 || c->cols[g] == cols ? cols : -1;
        for (int j = 0; j < cols; j++) {
            c->class_of[op->out + j] = g;
            c->pos_of[op->out + j] = c->group_size[g];
        }
        c->group_size[g]++;
    }
    return 0;
}

typedef struct {
    int32_t cls, pos;
    int32_t v;
} Read;

/* Op k's distinct neurons ordered by (class, neuron): by (class, pos, column). */
static int op_reads(const OpRows *r, const Coords *c, int k, int32_t *stamp, Read *out)
{
    int n = 0;
    for (int64_t t = r->start[k]; t < r->start[k + 1]; t++) {
        int32_t v = r->key_neuron[r->key[t]];
        if (stamp[v] == k + 1)
            continue;
        stamp[v] = k + 1;
        Read x = {c->class_of[v], c->pos_of[v], v};
        int j = n++;
        /* insertion: an op's inputs come nearly sorted */
        while (j > 0 && (out[j - 1].cls > x.cls || (out[j - 1].cls == x.cls && out[j - 1].v > x.v))) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = x;
    }
    return n;
}

/* One vote for width w among a class's GUESSES (width, count) slots. */
static void vote(int *slot, int w)
{
    for (int s = 0; s < GUESSES; s++)
        if (slot[2 * s + 1] > 0 && slot[2 * s] == w) {
            slot[2 * s + 1]++;
            return;
        }
    for (int s = 0; s < GUESSES; s++)
        if (slot[2 * s + 1] == 0) {
            slot[2 * s] = w;
            slot[2 * s + 1] = 1;
            return;
        }
    for (int s = 0; s < GUESSES; s++)
        slot[2 * s + 1]--;
}

static int by_class_corner(const void *x, const void *y)
{
    const Window *a = x, *b = y;
    if (a->group != b->group)
        return a->group < b->group ? -1 : 1;
    if (a->y0 != b->y0)
        return a->y0 < b->y0 ? -1 : 1;
    if (a->x0 != b->x0)
        return a->x0 < b->x0 ? -1 : 1;
    return (a->op > b->op) - (a->op < b->op);
}

typedef struct {
    int h, w, n;
} Shape2;

static int by_shape(const void *x, const void *y)
{
    const Shape2 *a = x, *b = y;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return (a->w > b->w) - (a->w < b->w);
}

static int by_count(const void *x, const void *y)
{
    const Shape2 *a = x, *b = y;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return (a->w > b->w) - (a->w < b->w);
}

static long long gcd(long long a, long long b)
{
    a = a < 0 ? -a : a;
    b = b < 0 ? -b : b;
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Puts a residue class's box side into one of two slots (there are at most
 * two values; a third would join the smaller, which only lowers the bound). */
static void add_side(long long side, long long *val, long long *n)
{
    int s = val[0] == 0 || val[0] == side ? 0 : 1;
    if (s == 1 && val[1] && val[1] != side)
        side = side < val[1] ? side : val[1];
    val[s] = side;
    n[s]++;
}

/* The window share total (rows) of one class for boxes of h × w: (2) above.
 * win[0..n) is sorted by corner; cols is scratch of C + 1 counts. */
static double window_total(const Program *p, const Window *win, int n, int h, int w, int cn, int R, int C,
                           int *cols)
{
    long long sy = 0, sx = 0;
    int mu = 0, run = 0, nq = 0, first = -1, prev = -1;
    memset(cols, 0, sizeof *cols * ((size_t)C + 1));
    for (int i = 0; i < n; i++) {
        if (win[i].h < h || win[i].w < w)
            continue;
        first = first < 0 ? i : first;
        sy = gcd(sy, win[i].y0 - win[first].y0);
        sx = gcd(sx, win[i].x0 - win[first].x0);
        run = prev >= 0 && win[i].y0 == win[prev].y0 && win[i].x0 == win[prev].x0 ? run + 1 : 1;
        mu = run > mu ? run : mu;
        int kc = p->blocks[p->ops[win[i].op].block].cols;
        cols[kc < C ? kc : C]++;
        nq++;
        prev = i;
    }
    if (!nq)
        return 0;
    sy = sy ? sy : h; /* one corner row: no overlap across rows to exploit beyond h */
    sx = sx ? sx : w;
    /* Residue classes: box heights take at most two values, widths too. */
    long long bh[2] = {0, 0}, bw[2] = {0, 0}, nh[2] = {0, 0}, nw[2] = {0, 0};
    for (long long ry = 0; ry < sy && ry < h; ry++)
        add_side((h - ry + sy - 1) / sy, bh, nh);
    for (long long rx = 0; rx < sx && rx < w; rx++)
        add_side((w - rx + sx - 1) / sx, bw, nw);
    double rho = -1;
    long long used = 0;
    int narrow = 1; /* columns of the t-th narrowest op */
    for (int t = 1; t <= nq; t++) {
        while (!cols[narrow])
            narrow++;
        cols[narrow]--;
        used += narrow;
        if (used > C)
            break;
        long long np = (t + mu - 1) / mu, g = 0;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                if (nh[i] && nw[j])
                    g += nh[i] * nw[j] * iso(np, bh[i], bw[j]);
        g *= cn;
        if (g > R)
            break;
        rho = rho < 0 || (double)g / t < rho ? (double)g / t : rho;
    }
    return rho < 0 ? 0 : rho * nq;
}

/* The window totals (2) of every class, in rows; -1 on OOM. */
static int window_totals(const Program *p, const OpRows *r, const Coords *c, int R, int C, double *total)
{
    size_t nn = (size_t)(p->n_neurons ? p->n_neurons : 1);
    int32_t *stamp = calloc(nn, sizeof *stamp);
    int maxr = 1;
    for (int k = 0; k < p->n_ops; k++)
        maxr = op_row_count(r, k) > maxr ? op_row_count(r, k) : maxr;
    Read *rd = malloc(sizeof *rd * (size_t)maxr);
    int *W = calloc((size_t)c->n_classes, sizeof *W);
    int (*guess)[2 * GUESSES] = calloc((size_t)c->n_classes, sizeof *guess); /* width, votes */
    Window *win = NULL;
    int nwin = 0, capwin = 0, rc = 0;
    if (!stamp || !rd || !W || !guess)
        rc = -1;
    /* Pass 1: each class's W, the most common distance between the first two
     * runs of consecutive positions one op reads (Misra–Gries votes: a wrong
     * W only loses windows, never validity). */
    for (int k = 0; k < p->n_ops && !rc; k++) {
        int n = op_reads(r, c, k, stamp, rd);
        for (int i = 0; i < n;) {
            int j = i, cls = rd[i].cls, second = -1;
            int32_t prev = rd[i].pos;
            for (; j < n && rd[j].cls == cls; j++) {
                if (second < 0 && rd[j].pos > prev + 1)
                    second = rd[j].pos;
                prev = rd[j].pos;
            }
            if (second >= 0 && c->cols[cls] > 0)
                vote(guess[cls], second - rd[i].pos);
            i = j;
        }
    }
    for (int g = 0; g < c->n_classes && !rc; g++)
        for (int s = 0, most = 0; s < GUESSES; s++)
            if (guess[g][2 * s + 1] > most) {
                most = guess[g][2 * s + 1];
                W[g] = guess[g][2 * s];
            }
    free(guess);
    /* Pass 2: the windows. */
    if (stamp)
        memset(stamp, 0, sizeof *stamp * nn);
    for (int k = 0; k < p->n_ops && !rc; k++) {
        int n = op_reads(r, c, k, stamp, rd);
        for (int i = 0; i < n;) {
            int j = i, cls = rd[i].cls, Wc = W[cls];
            int32_t y0 = INT32_MAX, y1 = -1, x0 = INT32_MAX, x1 = -1;
            for (; j < n && rd[j].cls == cls; j++) {
                int32_t y = Wc ? rd[j].pos / Wc : 0, x = Wc ? rd[j].pos % Wc : rd[j].pos;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
            }
            long long h = y1 - y0 + 1, w = x1 - x0 + 1;
            if (c->cols[cls] > 0 && h * w * c->cols[cls] == j - i) { /* a full box */
                if (nwin == capwin) {
                    capwin = capwin ? 2 * capwin : 1024;
                    Window *g = realloc(win, sizeof *g * (size_t)capwin);
                    if (!g) {
                        rc = -1;
                        break;
                    }
                    win = g;
                }
                win[nwin++] = (Window){cls, k, y0, x0, (int32_t)h, (int32_t)w};
            }
            i = j;
        }
    }
    free(stamp);
    free(rd);
    free(W);
    if (rc) {
        free(win);
        return -1;
    }
    /* Per class, the best of its most common shapes. */
    if (nwin)
        qsort(win, (size_t)nwin, sizeof *win, by_class_corner);
    int *cols = malloc(sizeof *cols * ((size_t)C + 1));
    Shape2 *shapes = malloc(sizeof *shapes * (size_t)(nwin ? nwin : 1));
    if (!cols || !shapes)
        rc = -1;
    for (int i = 0, j; i < nwin && !rc; i = j) {
        for (j = i; j < nwin && win[j].group == win[i].group; j++)
            shapes[j - i] = (Shape2){win[j].h, win[j].w, 1};
        qsort(shapes, (size_t)(j - i), sizeof *shapes, by_shape);
        int ns = 0;
        for (int a = 0; a < j - i; a++)
            if (ns && shapes[ns - 1].h == shapes[a].h && shapes[ns - 1].w == shapes[a].w)
                shapes[ns - 1].n++;
            else
                shapes[ns++] = shapes[a];
        qsort(shapes, (size_t)ns, sizeof *shapes, by_count);
        ns = ns < MAX_SHAPES ? ns : MAX_SHAPES;
        int cls = win[i].group;
        for (int s = 0; s < ns; s++) {
            double t = window_total(p, win + i, j - i, shapes[s].h, shapes[s].w, c->cols[cls], R, C, cols);
            total[cls] = t > total[cls] ? t : total[cls];
        }
    }
    free(cols);
    free(shapes);
    free(win);
    return rc;
}

/* Exact search for the most of a key's readers one core holds. */
typedef struct {
    const Program *p;
    const OpRows *r;
    const int32_t *rd;
    int n, R, C;
    int32_t *count;   /* per key: chosen readers reading it */
    int rows, cols, best;
    long nodes;
    long long *work;  /* rows added by every search so far */
} Together;

static void together(Together *t, int from, int size)
{
    t->best = size > t->best ? size : t->best;
    for (int j = from; j < t->n && t->nodes <= EXACT_NODES && *t->work <= EXACT_WORK; j++) {
        if (size + (t->n - j) <= t->best)
            return;
        int k = t->rd[j], kc = t->p->blocks[t->p->ops[k].block].cols, added = 0;
        t->nodes++;
        if (t->cols + kc > t->C)
            continue;
        *t->work += t->r->start[k + 1] - t->r->start[k];
        for (int64_t u = t->r->start[k]; u < t->r->start[k + 1]; u++)
            added += t->count[t->r->key[u]]++ == 0;
        if (t->rows + added <= t->R) {
            t->rows += added, t->cols += kc;
            together(t, j + 1, size + 1);
            t->rows -= added, t->cols -= kc;
        }
        for (int64_t u = t->r->start[k]; u < t->r->start[k + 1]; u++)
            t->count[t->r->key[u]]--;
    }
}

/* The largest set of the readers rd[0..n) whose keys fit R rows and whose
 * columns fit C, or 0 when the search grew too long to finish. */
static int most_together(const Program *p, const OpRows *r, const int32_t *rd, int n, int R, int C,
                         int32_t *count, long long *work)
{
    Together t = {p, r, rd, n, R, C, count, 0, 0, 0, 0, work};
    together(&t, 0, 0);
    return t.nodes > EXACT_NODES || *work > EXACT_WORK ? 0 : t.best;
}

long long map_lower_bound(const Program *p, const OpRows *r, int R, int C)
{
    Coords c;
    if (coords_build(p, &c))
        return -1;
    double *per_key = calloc((size_t)c.n_classes, sizeof *per_key);
    double *windows = calloc((size_t)c.n_classes, sizeof *windows);
    int *fewest = malloc(sizeof *fewest * (size_t)(r->n_keys ? r->n_keys : 1));
    if (!per_key || !windows || !fewest) {
        free(per_key);
        free(windows);
        free(fewest);
        coords_free(&c);
        return -1;
    }
    double cols = 0;
    for (int32_t q = 0; q < r->n_keys; q++)
        fewest[q] = C;
    for (int k = 0; k < p->n_ops; k++) {
        int kc = p->blocks[p->ops[k].block].cols;
        cols += kc;
        for (int64_t t = r->start[k]; t < r->start[k + 1]; t++)
            fewest[r->key[t]] = kc < fewest[r->key[t]] ? kc : fewest[r->key[t]];
    }
    int32_t *count = calloc((size_t)(r->n_keys ? r->n_keys : 1), sizeof *count);
    if (!count) {
        free(per_key);
        free(windows);
        free(fewest);
        coords_free(&c);
        return -1;
    }
    long long s = 1, work = 0;
    for (int32_t q = 0; q < r->n_keys; q++) {
        long long readers = r->rstart[q + 1] - r->rstart[q];
        if (!readers)
            continue;
        const int32_t *rd = r->reader + r->rstart[q];
        /* Keys with the same readers (a position's channels) share s. */
        if (!(q > 0 && r->rstart[q] - r->rstart[q - 1] == readers &&
              !memcmp(rd, r->reader + r->rstart[q - 1], sizeof *rd * (size_t)readers))) {
            s = C / (fewest[q] > 0 ? fewest[q] : 1);
            s = s < readers ? s : readers;
            if (s > 1 && readers <= EXACT_READERS) {
                int most = most_together(p, r, rd, (int)readers, R, C, count, &work);
                s = most > 0 && most < s ? most : s;
            }
            s = s > 0 ? s : 1;
        }
        per_key[c.class_of[r->key_neuron[q]]] += (double)readers / (double)s;
    }
    free(count);
    free(fewest);
    int rc = window_totals(p, r, &c, R, C, windows);
    double rows = 0;
    for (int g = 0; g < c.n_classes; g++)
        rows += per_key[g] > windows[g] ? per_key[g] : windows[g];
    free(per_key);
    free(windows);
    coords_free(&c);
    if (rc)
        return -1;
    /* Rounded down first by a hair: the shares are sums of fractions. */
    double bound = cols / C > rows / R ? cols / C : rows / R;
    bound -= 1e-9 * (bound > 1 ? bound : 1);
    return (long long)ceil(bound);
}
