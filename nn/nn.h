/* nn — the float32 training and inference engine.
 *
 * A network (Net) is a DAG of layers kept in topological order: every layer
 * reads the outputs of earlier layers only. Tensors are NCHW float32; a layer's
 * output for a batch is `batch × layer_size` floats (per sample, `outer`
 * blocks of its out_shape; outer is 1 but in imported graphs).
 *
 * Every op is described by one row of the op table (nn/ops.c): its name in
 * model files, the attributes it takes, and its shape / forward / backward
 * functions. Adding an op means adding one row and one file.
 *
 * Nothing here knows about hardware, data-set files or MPI.
 */
#ifndef NN_NN_H
#define NN_NN_H

#include <stddef.h>
#include <stdint.h>

#define NN_NAME_MAX 64
#define NN_MAX_INPUTS 8
#define NN_MAX_PARAMS 4
#define NN_ERR_MAX 512
#define NN_MAX_RANK 6   /* tensors of imported graphs: up to 6 dimensions */

/* ------------------------------------------------------------------- text */

/* Formats a one-line message into err (when non-NULL) and returns -1, so
 * error paths read `return errf(err, errlen, "...", ...);`. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends to a message built in pieces; truncates silently. */
void errf_append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses up to `max` comma-separated finite numbers ("3", "1, 2.5"); returns
 * how many, or -1 if the text is not such a list. */
int parse_numbers(const char *s, double *out, int max);
/* Copies s without surrounding blanks (and line ends) into out; -1 if it does not fit. */
int text_trim_copy(const char *s, char *out, size_t len);
/* The file name of `path` without folders and its last extension ("a/b.ini" → "b"). */
void path_stem(const char *path, char *out, size_t len);

/* ------------------------------------------------------------------ shapes */

typedef struct {
    int c, h, w; /* per sample; a flat vector is c = n, h = w = 1 */
} Shape;

static inline size_t shape_size(Shape s) { return (size_t)s.c * s.h * s.w; }

/* The view a layer takes of a row-major tensor with these dims: the leading
 * dims become `outer` repetitions of a (c, h, w) block, so rank-4 NCHW is
 * (N; C, H, W), rank-3 NCL is (N; C, 1, L), rank-2 rows are (M; K, 1, 1) and
 * rank 1 is (1; K, 1, 1). Memory does not change with the view. */
void view_natural(const int *dims, int rank, int *outer, Shape *s);

/* --------------------------------------------------------------------- rng */

/* Deterministic 64-bit generator (splitmix64 seeding xoshiro256**). */
typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
float rng_uniform(Rng *r);              /* [0, 1) */
float rng_normal(Rng *r);               /* N(0, 1) */
uint32_t rng_below(Rng *r, uint32_t n); /* [0, n) without modulo bias */

/* ---------------------------------------------------------------- op table */

typedef enum {
    OP_INPUT,
    OP_DENSE,
    OP_CONV,
    OP_MAXPOOL,
    OP_AVGPOOL,
    OP_GLOBAL_AVGPOOL,
    OP_RELU,
    OP_LEAKY_RELU,
    OP_SIGMOID,
    OP_TANH,
    OP_LRN,
    OP_BATCHNORM,
    OP_DROPOUT,
    OP_ADD,
    OP_CONCAT,
    OP_FLATTEN,
    /* Mostly for imported graphs (compiler/onnx): */
    OP_CLIP,      /* min(max(x, lo), hi) */
    OP_SOFTMAX,   /* over c, for every (h, w) of every block */
    OP_ELTWISE,   /* a op b, b a constant or a second input, broadcast ONNX-style */
    OP_TRANSPOSE, /* permutes the axes of a tensor of `dims` */
    OP_PAD,       /* constant padding of a tensor of `dims` */
    OP_RESHAPE,   /* the same floats in another view (outer; c, h, w) */
    OP_MATMUL,    /* per leading index g: out[g] = in[g] (M×K) · weight[g] (K×N) */
    OP_CONSTANT,  /* a fixed tensor, repeated for every sample; takes no input */
    OP_COUNT
} OpType;

/* A short list of integers (dims, a permutation, pads). */
typedef struct {
    int n;
    int v[2 * NN_MAX_RANK];
} IntList;

/* Every attribute any op may take. Which ones an op accepts is listed in
 * its op-table row; the rest keep their defaults (layer_attrs_default). */
typedef struct {
    int units;                      /* dense: output features */
    int filters;                    /* conv: output channels */
    int kernel_h, kernel_w;         /* conv, pools */
    int stride_h, stride_w;         /* conv, pools */
    int pad_t, pad_l, pad_b, pad_r; /* conv, pools: zero (conv/avg) or -inf (max) padding */
    int bias;                       /* dense, conv: 1 = has a bias vector */
    int ceil_mode;                  /* pools: output size rounds up */
    int count_include_pad;          /* avgpool: divide by the full window */
    float alpha;                    /* leaky relu slope; lrn alpha */
    float beta, k;                  /* lrn */
    int size;                       /* lrn: channels in the window */
    float eps, momentum;            /* batchnorm: running = (1-m)·running + m·batch */
    float rate;                     /* dropout: probability of dropping */
    float lo, hi;                   /* clip bounds */
    int binop;                      /* eltwise: BINOP_ADD, _SUB, _MUL, _DIV */
    int reverse;                    /* eltwise: out = b op a instead of a op b */
    float value;                    /* pad: fill value */
    IntList dims;                   /* transpose, pad, eltwise, matmul, constant: tensor dims per sample */
    IntList bdims;                  /* eltwise: dims of b, broadcast against dims */
    IntList perm;                   /* transpose: output axis i is input axis perm[i] */
    IntList pads;                   /* pad: the begin of every axis, then the end of every axis */
    IntList view;                   /* reshape: outer, c, h, w of the output */
} LayerAttrs;

enum { BINOP_ADD, BINOP_SUB, BINOP_MUL, BINOP_DIV };

/* Defaults for a layer of type t (e.g. LRN alpha 1e-4, leaky relu alpha 0.01). */
void layer_attrs_default(LayerAttrs *a, OpType t);

struct OpInfo;
/* Sets attribute `key` from text ("3", "3,5" for kernel h,w, "1" or "t,l,b,r"
 * for pad, "yes"/"no" for flags, "add"/"sub"/"mul"/"div" for binop, "2,3,4"
 * for a list, "none" or "" for an empty one). Fails on a key the op does not
 * accept or a value out of range, with the key and the allowed form in err. */
int layer_attr_set(LayerAttrs *a, const struct OpInfo *op, const char *key, const char *value,
                   char *err, size_t errlen);
/* Writes the op's attributes as "key = value" lines; returns chars needed (snprintf-like). */
int layer_attrs_format(const LayerAttrs *a, const struct OpInfo *op, char *buf, size_t len);

struct Net;
struct Layer;

typedef struct OpInfo {
    OpType type;
    const char *name;     /* as written in model files: "dense", "conv", ... */
    int min_inputs, max_inputs;
    const char *attrs;    /* comma-separated attribute keys it accepts */
    /* Computes l->out_shape from the input shapes and declares parameters
     * (layer_add_param). Returns 0, or -1 with a message in err. */
    int (*setup)(struct Layer *l, const Shape *in, int n_in, char *err, size_t errlen);
    /* Fills parameters with their initial values. NULL: nothing to init. */
    void (*init)(struct Layer *l, Rng *rng);
    /* out = f(inputs) for `batch` samples; train selects training behaviour
     * (dropout masks, batch statistics). */
    void (*forward)(struct Layer *l, struct Net *net, int batch, int train);
    /* Given l->dout, ADDS d(loss)/d(input) into each input layer's dout and
     * d(loss)/d(param) into each parameter's grad (both zeroed by the net),
     * except that an op with `overwrites` WRITES the dout of an input whose
     * dout_set is 1 (see dout_put in ops.h). */
    void (*backward)(struct Layer *l, struct Net *net, int batch);
    /* Allocates, for up to `batch` samples, the per-layer state (layer_aux)
     * and shared scratch (net_work) that forward and backward will ask for,
     * so those never fail later. NULL: needs none. 0, or -1 on OOM. */
    int (*reserve)(struct Layer *l, struct Net *net, int batch, int training);
    /* 1: setup sets l->outer itself and checks its inputs' sizes (ops that
     * see whole tensors through `dims`); 0: every input must share one outer,
     * which the layer inherits. */
    int own_layout;
    /* 1: backward writes every value of an input's dout (=) when that input
     * has this layer as its only reader, so the net skips zeroing it first
     * (a memory pass per layer); 0: backward always adds. */
    int overwrites;
} OpInfo;

extern const OpInfo *const op_table[OP_COUNT]; /* indexed by OpType */
const OpInfo *op_by_name(const char *name); /* NULL if unknown */

/* ------------------------------------------------------------------ layers */

typedef struct {
    char name[16];   /* "weight", "bias", "gamma", "beta", "running_mean", "running_var" */
    int ndim;
    int dims[4];     /* dense weight [out][in]; conv weight [out_c][in_c][kh][kw] */
    size_t size;
    int trainable;   /* 0: state saved with the model but not optimised (running stats) */
    int decay;       /* 1: weight decay applies (weights, not biases or BN affine) */
    float *data;
    float *grad;     /* NULL when not trainable */
    float *m, *v;    /* optimiser state (allocated by the optimiser) */
} Param;

typedef struct Layer {
    char name[NN_NAME_MAX];
    OpType type;
    int n_inputs;
    int inputs[NN_MAX_INPUTS];   /* indices of earlier layers */
    LayerAttrs a;
    /* Per sample, a layer's output is `outer` blocks of out_shape (see
     * view_natural); ops run on batch × outer blocks, so a conv over an
     * imported [N, C, H, W] tensor sees N images per sample. Usually 1. */
    int outer;
    int in_outer[NN_MAX_INPUTS];
    Shape out_shape;
    Shape in_shape[NN_MAX_INPUTS];
    int n_params;
    Param params[NN_MAX_PARAMS];
    float *out;     /* batch × layer_size */
    float *dout;    /* same size; allocated only for training */
    void *aux;      /* op-private per-batch state (masks, argmax, saved stats), freed by the net */
    size_t aux_bytes;
    /* Set by net_backward: 1 when the only reader of this output overwrites
     * (OpInfo.overwrites), so its dout was not zeroed and that reader must
     * write it; 0 when the dout was zeroed and readers add into it. */
    int dout_set;
} Layer;

/* Floats per sample in l's output: outer × shape_size(out_shape). */
static inline size_t layer_size(const Layer *l) { return (size_t)l->outer * shape_size(l->out_shape); }

/* Declares a parameter during setup; returns its index. */
int layer_add_param(Layer *l, const char *name, int trainable, int decay, int ndim, const int *dims);
Param *layer_param(Layer *l, const char *name); /* NULL if absent */
/* Returns l->aux grown to at least `bytes` (zero-filled when grown); NULL on OOM. */
void *layer_aux(Layer *l, size_t bytes);

/* ------------------------------------------------------------------- net */

typedef struct Net {
    int n_layers, cap_layers;
    Layer *layers;          /* layers[0] is the OP_INPUT layer */
    int output;             /* index of the layer whose output is the logits (last by default) */
    int capacity;           /* batch size the buffers hold */
    int training_buffers;   /* 1 when dout and grads are allocated */
    int input_grad;         /* 1: backward also computes d(loss)/d(input) (layers[0].dout) */
    Rng rng;                /* dropout masks; seeded by net_seed */
    float *work;            /* shared scratch (im2col), grown by net_work */
    size_t work_floats;
} Net;

/* Building: create, add layers in topological order, then finalize (shape
 * inference, parameter allocation). Errors name the layer and the cause. */
Net *net_create(Shape input);
int net_add(Net *net, const char *name, OpType type, const LayerAttrs *a,
            const char *const *input_names, int n_inputs, char *err, size_t errlen);
int net_find(const Net *net, const char *name); /* index or -1 */
int net_finalize(Net *net, char *err, size_t errlen);
void net_init_params(Net *net, uint64_t seed);  /* He/Xavier init, deterministic */
void net_seed(Net *net, uint64_t seed);
void net_free(Net *net);

/* Ensures buffers for `batch` samples (and gradients when training). 0 / -1 on OOM. */
int net_reserve(Net *net, int batch, int training);
float *net_work(Net *net, size_t floats);  /* scratch of at least `floats`; NULL on OOM */

/* Runs the batch x (batch × size(input)) through the net; returns the
 * output layer's buffer (batch × net_output_size). net_reserve first. */
const float *net_forward(Net *net, const float *x, int batch, int train);
/* Backpropagates dlogits (batch × outputs) after a training forward pass. */
void net_backward(Net *net, const float *dlogits, int batch);
/* Its first part, before the layers' backward passes run from the output
 * down: zeroes the parameter gradients and the douts that are accumulated
 * into (sets every dout_set), and copies dlogits into the output's dout. */
void net_backward_begin(Net *net, const float *dlogits, int batch);
void net_zero_grads(Net *net);

Shape net_input_shape(const Net *net);
Shape net_output_shape(const Net *net);
size_t net_output_size(const Net *net); /* floats per sample: layer_size of the output layer */
size_t net_param_count(const Net *net); /* trainable scalars */
double net_flops(const Net *net);       /* forward FLOPs per image (conv and dense) */
double layer_flops(const Layer *l);     /* its share of them */

/* ------------------------------------------------------------------- loss */

/* Mean softmax cross-entropy over the batch; writes d(loss)/d(logits) into
 * dlogits when non-NULL; counts argmax hits in *correct when non-NULL. */
float softmax_cross_entropy(const float *logits, const int *labels, int batch, int classes,
                            float *dlogits, int *correct);
int argmax(const float *v, int n);

/* --------------------------------------------------------- preprocessing */

/* x' = (x·scale − mean[c]) / std[c] for a raw 0..255 pixel x of channel c. */
typedef struct {
    float scale;
    float mean[3], std[3];
} Normalize;

void normalize_default(Normalize *n); /* scale 1/255, mean 0, std 1 */
void normalize_pixels(const Normalize *n, const uint8_t *px, Shape s, float *out);

/* A labelled image set in memory: n samples of `shape` uint8 pixels (NCHW). */
typedef struct {
    int n;
    Shape shape;
    int classes;
    const uint8_t *pixels;
    const uint8_t *labels;
} SampleSet;

/* ------------------------------------------------------------- training */

typedef enum { OPT_SGD, OPT_ADAM } OptKind;
typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE } SchedKind;

typedef struct {
    OptKind kind;
    float lr, momentum, weight_decay;
    int nesterov;
    float beta1, beta2, eps;     /* adam */
    SchedKind schedule;
    int step_every;              /* step: epochs between decays */
    float step_gamma;            /* step: factor */
    int warmup_epochs;           /* linear warm-up before the schedule */
} OptConfig;

void opt_config_default(OptConfig *o);
float lr_at(const OptConfig *o, float epoch, int epochs); /* epoch may be fractional */
int optim_init(Net *net, const OptConfig *o);             /* allocates state; -1 on OOM */
void optim_step(Net *net, const OptConfig *o, float lr, long step);

typedef struct {
    int epochs, batch;
    uint64_t seed;
    int augment_crop;       /* random crop after zero padding by this many pixels (0: off) */
    int augment_flip;       /* random horizontal flip */
    Normalize norm;
    OptConfig opt;
    int verbose;            /* 1: one line per epoch on stderr */
} TrainConfig;

void train_config_default(TrainConfig *t);

typedef struct {
    float final_loss;
    float train_accuracy;   /* on the last epoch's batches */
    double seconds;
} TrainStats;

/* Trains net on `train` (shuffled per epoch from the seed). Deterministic for
 * a given seed and thread count. Returns 0, or -1 with a message in err. */
int net_train(Net *net, const SampleSet *train, const TrainConfig *cfg, TrainStats *stats,
              char *err, size_t errlen);
/* Accuracy of net on the set (inference mode, batches of `batch`); -1 on OOM.
 * When logits_out is non-NULL it receives n × classes logits. */
double net_evaluate(Net *net, const SampleSet *set, const Normalize *norm, int batch,
                    float *logits_out);

/* Augments one normalised image in place: a random shift of up to `crop_pad`
 * pixels with zero fill (= pad-and-crop) and/or a horizontal flip, from rng. */
void augment_image(float *img, Shape s, int crop_pad, int flip, Rng *rng, float *scratch);

#endif
