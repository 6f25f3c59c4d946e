/* The spiking core simulator (DESIGN.md §6; the exact semantics are in
 * simulators.h, SNN section).
 *
 * Layer by layer over a chunk of up to 16 steps, not step by step over all
 * ops. An op at step t needs its sources' spikes of step t and its own
 * potentials of step t − 1, nothing else, and its sources come before it in
 * program order; so once every earlier op has run all steps of the chunk,
 * this op can run all of them too. Each neuron's spikes in the chunk are one
 * 16-bit train. Consecutive ops that do not read each other (a layer,
 * snn_plan.h) then
 *   1. gather, op by op, the trains of their rows;
 *   2. sum, for every spike (row i, step t), row i's weights into the
 *      step's synaptic sum S[t] (a few KB, in L1): with int8 weights on
 *      AMX (snn_amx.h: 64 rows × 16 steps × 16 columns a tile multiply,
 *      dense over the rows) or AVX-512 VNNI (snn_vnni.h: four spiking rows
 *      × 16 columns an instruction per step, sums in registers) where the
 *      CPU has them; else from a list of the spikes of the rows that spiked,
 *      one weight row (a contiguous vector of the transposed block) added
 *      per spike, and a row that spiked in most steps adds its weights once
 *      to the constant drive and subtracts them at the steps it was silent;
 *   3. run their neurons' integrate / leak / fire / reset through the steps,
 *      a vector of neurons at a time in registers, from the drive (bias,
 *      current-coded pixels, those always-on rows) and S[t], and write their
 *      trains.
 * Integer sums do not depend on their order, so this equals the step-by-step
 * definition exactly. A layer computes in int32 where snn_plan.c proves that
 * no potential or partial sum can leave it, else in int64 (the copies of
 * snn_layer.inc: int32 sums of int8 or of int32 weights, int64 sums). Potentials are carried between chunks only when T > 16.
 *
 * Images are independent and each is run whole by one thread with its own
 * state; results do not depend on the thread count or on how images are
 * split between calls (poisson draws hash the image's global index,
 * snn_input.c), nor on the path: sums are exact integers. The hot loops are
 * compiled for AVX-512, AVX2 and plain x86-64, picked at load time
 * (SNN_CLONES); AMX and VNNI are picked per run (snn_plan.c). */
#include <stdlib.h>
#include <string.h>

#include "simulators.h"
#include "snn_plan.h"
#include "snn_amx.h"
#include "snn_vnni.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SNN_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SNN_INLINE static inline __attribute__((always_inline))
#else
#define SNN_INLINE static inline
#endif

/* Weight rows prefetched this many spikes ahead. */
#define SNN_AHEAD 16

/* A spike event: (row << SNN_STEP_BITS) | step. */
#define SNN_STEP_BITS 4

/* Where S[t + 1] starts after S[t] in a layer of `cols` (padded) columns:
 * a vector further, so that the steps of one row's spikes are not 4 KB
 * apart (loads that alias earlier stores mod 4 KB wait for them), with
 * room for a weight row's padding to run past the last column. */
static inline size_t snn_sum_stride(int cols)
{
    return (size_t)cols + SNN_PAD;
}

/* One thread's working memory, reused image after image. A layer uses the
 * _32 or the _64 scratch (snn_layer.inc). */
typedef struct {
    uint16_t *trains;    /* [1 + n_neurons]: neuron n's train at [1 + n]; [0] stays 0 for PROGRAM_ZERO */
    int64_t *v;          /* [core neurons]: potentials between chunks (T > 16), else NULL */
    int32_t *v_32, *drive_32, *sum_32; /* [max_cols]: a layer's potentials and its gain at every */
    int64_t *v_64, *drive_64, *sum_64; /* step; sum [SNN_CHUNK][max_cols]: per step, 0 between layers */
    uint16_t *layer_train; /* [max_cols]: a layer's trains, before they go to their neurons */
    int32_t *act_row;    /* [max_rows + 16]: the op's rows that spiked in the chunk ... */
    uint16_t *act_train; /* ... and their trains */
    uint32_t *events;    /* [SNN_CHUNK · max_rows + 16]: their spikes (snn_events) */
    uint64_t *keys;      /* [n_inputs]: the pixels' poisson streams */
    void *vnni;          /* snn_vnni_accumulate's scratch, if the plan uses it */
    void *amx;           /* snn_amx_accumulate's, likewise */
} SnnState;

static void state_free(SnnState *st)
{
    free(st->trains);
    free(st->v);
    free(st->v_32);
    free(st->drive_32);
    free(st->sum_32);
    free(st->v_64);
    free(st->drive_64);
    free(st->sum_64);
    free(st->layer_train);
    free(st->act_row);
    free(st->act_train);
    free(st->events);
    free(st->keys);
    free(st->vnni);
    free(st->amx);
}

static int state_make(const SnnPlan *pl, SnnState *st)
{
    const Program *p = pl->p;
    size_t cores = (size_t)(p->n_neurons - p->n_inputs), pixels = (size_t)p->n_inputs;
    /* a weight row's padding may run SNN_PAD past the last column */
    size_t cols = (size_t)snn_padded(pl->max_cols) + SNN_PAD, sums = SNN_CHUNK * snn_sum_stride(snn_padded(pl->max_cols));
    memset(st, 0, sizeof *st);
    /* a slot after the last train: snn_vnni_gather reads 4 bytes a train */
    int failed = !(st->trains = calloc((size_t)p->n_neurons + 2, sizeof *st->trains));
    if (pl->T > SNN_CHUNK)
        failed |= !(st->v = malloc(sizeof *st->v * (cores ? cores : 1)));
    failed |= !(st->v_32 = snn_lines(sizeof *st->v_32 * cols, 0)) ||
              !(st->drive_32 = snn_lines(sizeof *st->drive_32 * cols, 0)) ||
              !(st->sum_32 = snn_lines(sums * sizeof *st->sum_32, 1));
    if (pl->any_wide)
        failed |= !(st->v_64 = snn_lines(sizeof *st->v_64 * cols, 0)) ||
                  !(st->drive_64 = snn_lines(sizeof *st->drive_64 * cols, 0)) ||
                  !(st->sum_64 = snn_lines(sums * sizeof *st->sum_64, 1));
    failed |= !(st->layer_train = malloc(sizeof *st->layer_train * cols)) ||
              !(st->act_row = malloc(sizeof *st->act_row * ((size_t)pl->max_rows + 16))) ||
              !(st->act_train = malloc(sizeof *st->act_train * ((size_t)pl->max_rows + 16))) ||
              !(st->events = malloc(sizeof *st->events * ((size_t)pl->max_rows * SNN_CHUNK + 16))) ||
              !(st->keys = malloc(sizeof *st->keys * (pixels ? pixels : 1)));
    if (pl->vnni)
        failed |= !(st->vnni = snn_lines(snn_vnni_scratch(pl->max_rows, pl->max_cols), 0));
    if (pl->amx)
        failed |= !(st->amx = snn_lines(snn_amx_scratch(pl->max_rows), 0));
    if (failed)
        return state_free(st), -1;
    return 0;
}

/* What a layer runs on within one chunk of one image. */
typedef struct {
    const SnnPlan *pl;
    SnnState *st;
    const int32_t *x;   /* the image's pixels */
    int t0, steps;      /* the chunk: steps t0 .. t0 + steps − 1 */
    int last;           /* it ends at step T − 1 */
    size_t image;       /* its index in the call (where its outputs go) */
    SnnOutput *out;
} Chunk;

/* Spikes in a train (no popcnt instruction on plain x86-64). */
SNN_INLINE uint32_t train_count(uint32_t m)
{
    m = m - ((m >> 1) & 0x5555u);
    m = (m & 0x3333u) + ((m >> 2) & 0x3333u);
    m = (m + (m >> 4)) & 0x0f0fu;
    return (m + (m >> 8)) & 0x1fu;
}

/* 1. The op's rows that spiked in the chunk (a branch-free compaction);
 * PROGRAM_ZERO reads train[0] = 0. Returns how many. */
SNN_INLINE int gather(const uint16_t *restrict trains, const int32_t *restrict in, int rows,
                      int32_t *restrict act_row, uint16_t *restrict act_train)
{
    int n = 0;
    for (int i = 0; i < rows; i++) {
        uint16_t m = trains[in[i] + 1];
        act_row[n] = i;
        act_train[n] = m;
        n += m != 0;
    }
    return n;
}

#if defined(__GNUC__) || defined(__clang__)
typedef int32_t SnnVector32 __attribute__((vector_size(SNN_PAD * sizeof(int32_t))));
typedef int8_t SnnWeights8 __attribute__((vector_size(SNN_PAD * sizeof(int8_t))));
typedef uint16_t SnnTrains16 __attribute__((vector_size(SNN_PAD * sizeof(uint16_t))));
#define SNN_VECTOR SnnVector32
#endif
/* Appends the spikes of train m as events base | step to ev[n ..], returns
 * the new n: a byte of the train at a time, by table, with no branch on its
 * bits (the table's 8 entries are stored whatever the count; ev has room). */
SNN_INLINE int snn_events(const SnnPlan *pl, uint32_t *restrict ev, int n, uint32_t base, uint32_t m)
{
    const uint8_t *lo = pl->bit_at[m & 0xff], *hi = pl->bit_at[m >> 8];
    for (int k = 0; k < 8; k++)
        ev[n + k] = base | lo[k];
    n += pl->bit_count[m & 0xff];
    for (int k = 0; k < 8; k++)
        ev[n + k] = base | (8u + hi[k]);
    return n + pl->bit_count[m >> 8];
}

#define SNN_V int32_t
#define SNN_ACC 32
#define SNN_W int8_t
#define SNN_WVECTOR SnnWeights8
#define SNN_WT wt8
#define SNN_SFX 32b
#define SNN_VNNI
#include "snn_layer.inc"
#undef SNN_VNNI
#undef SNN_W
#undef SNN_WVECTOR
#undef SNN_WT
#undef SNN_SFX
#define SNN_W int32_t
#define SNN_WVECTOR SnnVector32
#define SNN_WT wt
#define SNN_SFX 32
#include "snn_layer.inc"
#undef SNN_V
#undef SNN_ACC
#undef SNN_SFX
#undef SNN_VECTOR
#undef SNN_WVECTOR
#define SNN_V int64_t
#define SNN_ACC 64
#define SNN_SFX 64
#include "snn_layer.inc"
#undef SNN_V
#undef SNN_ACC
#undef SNN_W
#undef SNN_WT
#undef SNN_SFX

/* Layer l over one chunk, in int32 (of int8 weights) where it fits. Returns the spikes fired. */
SNN_CLONES
static int64_t run_layer(const Chunk *c, const SnnLayer *l)
{
    /* int8 weights only for AMX and VNNI: widening bytes costs the portable adds more than it saves */
    const int bytes = l->bytes && (c->pl->amx || c->pl->vnni);
    return l->wide ? layer_64(c, l) : bytes ? layer_32b(c, l) : layer_32(c, l);
}

/* Image `i` of the call: all T steps, chunk by chunk, then its spike count. */
static void run_image(const SnnPlan *pl, SnnState *st, const int32_t *x, size_t i, uint64_t image,
                      SnnOutput *out)
{
    const Program *p = pl->p;
    if (st->v)
        memset(st->v, 0, sizeof *st->v * (size_t)(p->n_neurons - p->n_inputs));
    snn_input_begin(&pl->coding, p->n_inputs, image, st->keys);
    if (pl->amx)
        snn_amx_begin();
    int64_t fired = 0;
    for (int t0 = 0; t0 < pl->T; t0 += SNN_CHUNK) {
        int steps = pl->T - t0 < SNN_CHUNK ? pl->T - t0 : SNN_CHUNK;
        Chunk c = {pl, st, x, t0, steps, t0 + steps == pl->T, i, out};
        snn_input_trains(&pl->coding, x, p->n_inputs, st->keys, t0, steps, st->trains + 1);
        for (int l = 0; l < pl->n_layers; l++)
            fired += run_layer(&c, &pl->layers[l]);
        if (out->counts) { /* what the compiler's tuning reads */
            int32_t *cnt = out->counts + i * (size_t)p->n_neurons;
            for (int k = 0; k < p->n_neurons; k++)
                cnt[k] = (t0 ? cnt[k] : 0) + (int32_t)train_count(st->trains[1 + k]);
        }
    }
    if (pl->amx)
        snn_amx_end();
    if (out->spikes)
        out->spikes[i] = fired;
}

int snn_run(const Program *p, const Hw *hw, const int32_t *inputs, int n, long first_image,
            SnnOutput *out)
{
    if (!p || !hw || !out || n < 0 || (n > 0 && !inputs))
        return -1;
    SnnPlan pl;
    if (snn_plan_make(p, hw, &pl))
        return -1;
    size_t n_px = (size_t)n * (size_t)p->n_inputs;
    for (size_t k = 0; k < n_px; k++)
        if (inputs[k] < 0 || inputs[k] > pl.coding.top)
            return snn_plan_free(&pl), -1;
    int failed = 0;
#pragma omp parallel if (n > 1)
    {
        SnnState st;
        int ok = state_make(&pl, &st) == 0;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n; i++)
            if (ok)
                run_image(&pl, &st, inputs + (size_t)i * p->n_inputs, (size_t)i,
                          (uint64_t)first_image + (uint64_t)i, out);
        if (ok)
            state_free(&st);
    }
    snn_plan_free(&pl);
    return failed ? -1 : 0;
}
