/* compiler — turns trained networks into chip programs (DESIGN.md §2).
 *
 * This part is the front end: ONNX files (IR versions 3–8, opsets 7–17, as
 * PyTorch and Keras export them) imported into the same computational graph
 * (nn's Net) that the engine trains and runs. Constant sub-graphs (shape
 * arithmetic, weights computed from weights) are folded at import time, so
 * only data-dependent ops become layers; reshapes, flattens and squeezes
 * become views of the same memory; per-channel constant adds after a conv or
 * dense fold into its bias, and zero Pads into the next conv or pool.
 *
 * The importer instantiates the graph for one sample: a symbolic or unit
 * batch dimension is 1, and the Net's batch runs many samples. A leading
 * dimension that is not the batch (ONNX node tests feed [N, C, H, W] as one
 * tensor) becomes the layer's `outer` count (see nn.h).
 */
#ifndef COMPILER_COMPILER_H
#define COMPILER_COMPILER_H

#include "../model/model.h"
#include "hw.h"
#include "program.h"
#include "verify.h"

/* A constant tensor: initializers, folded values, tensor .pb files. Values
 * are held in double, which is exact for float32 and for int64 shapes. */
typedef struct {
    char name[NN_NAME_MAX * 2];
    int rank;
    int dims[NN_MAX_RANK];
    int is_int;       /* an integer or bool ONNX type (shapes, indices) */
    int dtype;        /* the ONNX TensorProto data type */
    size_t count;
    double *v;
} OnnxTensor;

typedef struct {
    /* The data set's image shape (C, H, W), when the model will be fed from
     * one: an input of [1, C, H, W] takes images as they are, one of
     * [1, H, W, C] (Keras) gets a transpose from them. */
    int has_data_shape;
    Shape data_shape;
    /* Graph inputs given as constants (ONNX node tests pass a layer's
     * weights as inputs; a compiled network's weights are fixed). */
    int n_bound;
    const OnnxTensor *bound;
} OnnxOptions;

/* Imports an ONNX model into m (m->net, name, classes; no recipe). Errors
 * name the file, the node (name and op type) and the cause; an op or an
 * attribute value nnbench does not support says so ("unsupported: ..."). */
int onnx_import(const char *path, const OnnxOptions *opt, Model *m, char *err, size_t errlen);

/* Reads a serialized TensorProto (an ONNX test's input_0.pb). */
int onnx_read_tensor(const char *path, OnnxTensor *t, char *err, size_t errlen);
void onnx_tensor_free(OnnxTensor *t);

/* ------------------------------------------------------------ reform */

typedef struct {
    int rows, cols;          /* the crossbar: fan-in and neurons of one core op */
    /* For the MLP approximators of non-core functions (sigmoid, tanh, LRN):
     * calibration images (raw pixels) whose real values they are fitted on,
     * the hidden ReLU neurons per value and the samples used. */
    const uint8_t *calib;
    int n_calib;
    int approx_width, approx_samples;
    /* Data re-encoding (tune.expand): every materialised ReLU value is
     * carried by this many neurons (CoreBlock.expand), its readers taking
     * 1/expand of each; 0 or 1 = off. Logits and partial sums are not. */
    int expand;
} ReformOptions;

/* Graph reform (compiler/reform.c): the inference function of net, with the
 * input normalisation folded in, as a float program of core ops over raw
 * pixels (0..255) with an unbounded ReLU. Runs net on the calibration
 * images when it has non-core functions. Errors name the layer. */
int reform(Net *net, const Normalize *norm, const ReformOptions *opt, Program **out, char *err,
           size_t errlen);

/* The naive strategy (compiler/naive.c): a float program rounded to the
 * chip's integers (weights.bits, io.bits, per-core shifts up to
 * neuron.shift_max) with activation scales from n_calib calibration images
 * (raw pixels), no tuning. */
int quantise_naive(const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, Program **out,
                   char *err, size_t errlen);
/* The full strategy (compiler/tune.c): naive quantisation with value
 * ranges tuned per scale group, then the weights tuned part by part in
 * program order against the float program's activations on (up to 256
 * of) the calibration images, then the encoding. hw->tune.phases says
 * which of range, free and round tuning run (none: naive); with axon
 * types, which are assigned after tuning, only range runs. */
int quantise_full(const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, Program **out, char *err,
                  size_t errlen);
/* quantise_naive with choices (the full strategy's starting point). */
typedef struct {
    /* Per scale group (fp->n_groups): the value that maps to the top level
     * (a rate of 1 on an SNN), instead of the calibrated maximum (ANN, PIM)
     * or 99.9th percentile (SNN); NULL = calibrate. */
    const double *group_max;
    /* Filled when not NULL ([n_groups]): each group's value per level (the
     * scale S_g the integer program's neurons are in; logits included). */
    double *scales;
    int raw; /* 1: stop before quantise_encode (the weights are tuned first) */
} QuantiseOptions;
int quantise_scaled(const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, const QuantiseOptions *qo,
                    Program **out, char *err, size_t errlen);
/* The encoding steps every integer strategy ends with: axon types (with
 * weights.encoding = axon_types) and PIM ADC ranges (pim.adc_range = 0;
 * `tuned`: clipped by least squares, the full strategy's range tuning). */
int quantise_encode(Program **p, const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib, int tuned,
                    char *err, size_t errlen);
/* Axon types (compiler/axon_types.c, weights.encoding = axon_types): makes
 * an integer program fit k = weights.axon_types weights per neuron, each
 * block row getting a type (CoreBlock.axon_type). A block whose columns
 * fall into runs that read disjoint rows (relays, merges of partial sums,
 * max-pool trees) is first cut into core ops of consecutive columns with at
 * most k distinct rows each, which are exact; neurons keep their ids and
 * none gains a reader. Other blocks are clustered (axon_cluster.h), each
 * row weighted by its input's mean square on up to 256 of the calibration
 * images run through fp, the float program *p was quantised from (neuron
 * for neuron), then refitted to the output error on those images, spending
 * the crossbar's spare rows on copies of rows with other types where that
 * lowers it (n_calib = 0: plain clustering). *p is replaced; rel_error (may
 * be NULL) gets the relative Frobenius error of all weights, ‖W' − W‖ / ‖W‖
 * over every block once. */
int assign_axon_types(Program **p, const Program *fp, const Hw *hw, const uint8_t *calib, int n_calib,
                      double *rel_error, char *err, size_t errlen);
/* PIM ADC ranges (compiler/pim_range.c): with pim.adc_range = 0 and a real
 * ADC, each block's adc_full becomes the largest column sum its ADCs see
 * on (up to 64 of) the calibration images, or with PIM_RANGE_CLIP the full
 * scale of least squared error over them (pim_range.c); otherwise nothing
 * changes. With PIM_RANGE_KEEP a block whose adc_full is set already keeps
 * it (the full strategy's walk sets its blocks part by part). */
enum { PIM_RANGE_CLIP = 1, PIM_RANGE_KEEP = 2 };
int pim_adc_ranges(Program *p, const Hw *hw, const uint8_t *calib, int n_calib, int flags, char *err,
                   size_t errlen);
/* Calibration (compiler/calib.c): per scale group of a float program, the
 * largest value of its neurons (0 if none is positive) over n images of px,
 * or with percentile > 0 that percentile of its values (to 1/4096 of the
 * largest, rounded up), in one float pass. gmax: n_groups values. 0 / -1 OOM. */
int calibrate_groups(const Program *fp, const uint8_t *px, int n, double percentile, double *gmax);
/* The compiler's integer forward pass (compiler/int_forward.c): n images of
 * quantised inputs to n × n_outputs logits, batch-major. Must equal the
 * ANN simulator bit for bit. 0, or -1 (a float program, OOM). */
int program_forward_int(const Program *p, const int32_t *inputs, int n, int64_t *logits);
/* The same, keeping every neuron's value: v[neuron · n + image] (n_neurons · n values). */
int program_forward_int_values(const Program *p, const int32_t *inputs, int n, int64_t *v);
/* The compiler's float forward pass (compiler/float_forward.c): every
 * neuron's value for n images of a float program, written to v neuron-major
 * (v[neuron · n + image], n_neurons · n doubles). 0, or -1 (not a float
 * program, OOM). */
int program_forward_float(const Program *p, const float *inputs, int n, double *v);
/* Called after each op of the float pass with its values y[col · n + image]
 * (while they are in cache: calibration reduces them there). */
typedef void (*FloatOpSeen)(void *ctx, const CoreOp *op, int cols, const double *y, int n);
/* program_forward_float, calling seen (if not NULL) after each op. */
int program_forward_float_each(const Program *p, const float *inputs, int n, double *v, FloatOpSeen seen,
                               void *ctx);
/* An integer program's inputs from raw pixels (rounded to its I/O bits). */
void quantise_pixels(const Program *p, const uint8_t *px, size_t n, int32_t *out);

/* Relay neurons (compiler/relay.c): a copy of p where no neuron is read by
 * more than `fanout` core ops; copies come from relay ops of at most `cols`
 * columns placed right after each producer. 0, or -1 with a message. */
int add_relays(const Program *p, int fanout, int cols, Program **out, char *err, size_t errlen);

/* ----------------------------------------------------------- mapping */

typedef struct {
    int n_cores, chips;      /* cores used; chips of hw.chip.cores each */
    int *core_of_op;         /* [n_ops] */
    int *core_x, *core_y;    /* [n_cores] mesh position (chip c continues at x + c·mesh_x) */
    double utilization;      /* weights held / (cores × rows × cols) */
    long long traffic;       /* values × hops per image */
    long long lower_bound;   /* no mapping has fewer cores (by columns and by rows; map.c) */
} Mapping;

/* Packs core ops onto cores and places them (compiler/map.c). */
int map_program(const Program *p, const Hw *hw, Mapping *m, char *err, size_t errlen);
void mapping_free(Mapping *m);

/* Does the file name end in .onnx? (the command line picks the front end by it) */
int is_onnx_path(const char *path);

#endif
