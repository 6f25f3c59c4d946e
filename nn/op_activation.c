/* Element-wise activations: relu, leaky relu, sigmoid, tanh, and clip.
 *
 * One pair of loop macros walks the tensors; each op supplies f(x) and the
 * input gradient dy·f'(x) (given x, y = f(x) and dy, so sigmoid and tanh
 * reuse their output). */
#include <math.h>

#include "ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

/* The loop pragmas: `simd` only where the body has no libm call, which
 * neither compiler vectorises (clang then fails -Wpass-failed under -Werror). */
#define SIMD_LOOP "omp parallel for simd schedule(static) if (n_ >= PAR_MIN)"
#define PLAIN_LOOP "omp parallel for schedule(static) if (n_ >= PAR_MIN)"

static inline float relu_f(float x, float a) { (void)a; return x > 0 ? x : 0; }
/* Selects, not dy·(x > 0): a blend vectorises where a branch does not. */
static inline float relu_d(float x, float y, float dy, float a) { (void)y, (void)a; return x > 0 ? dy : 0.0f; }
static inline float leaky_f(float x, float a) { return x > 0 ? x : a * x; }
static inline float leaky_d(float x, float y, float dy, float a) { (void)y; return x > 0 ? dy : a * dy; }
static inline float sigmoid_f(float x, float a)
{
    (void)a;
    /* Never exponentiate a large positive number. */
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline float sigmoid_d(float x, float y, float dy, float a) { (void)x, (void)a; return dy * (y * (1.0f - y)); }
static inline float tanh_f(float x, float a) { (void)a; return tanhf(x); }
static inline float tanh_d(float x, float y, float dy, float a) { (void)x, (void)a; return dy * (1.0f - y * y); }

/* The loops are macros, not functions taking f: OpenMP outlines the loop
 * body, and a function pointer passed through it stays an indirect call per
 * element, which blocks vectorisation (seen as 5-30x slower than PyTorch). */
#define ACT_FORWARD(l, net, batch, F, LOOP)                                                        \
    do {                                                                                           \
        const float *x_ = layer_input(net, l, 0)->out;                                             \
        float *y_ = (l)->out;                                                                      \
        const float a_ = (l)->a.alpha;                                                             \
        size_t n_ = (size_t)(batch) * shape_size((l)->out_shape);                                  \
        _Pragma(LOOP)                                                                              \
        for (size_t i = 0; i < n_; i++)                                                            \
            y_[i] = F(x_[i], a_);                                                                  \
    } while (0)

/* Writes the input's dout when this layer is its only reader, else adds
 * (the input may feed other layers too); the test is outside the loops. */
#define ACT_BACKWARD(l, net, batch, D)                                                             \
    do {                                                                                           \
        Layer *in_ = layer_input(net, l, 0);                                                       \
        const float *x_ = in_->out, *y_ = (l)->out, *dy_ = (l)->dout;                              \
        float *dx_ = in_->dout;                                                                    \
        const float a_ = (l)->a.alpha;                                                             \
        size_t n_ = (size_t)(batch) * shape_size((l)->out_shape);                                  \
        if (in_->dout_set) {                                                                       \
            _Pragma(SIMD_LOOP)                                                                     \
            for (size_t i = 0; i < n_; i++)                                                        \
                dx_[i] = D(x_[i], y_[i], dy_[i], a_);                                              \
        } else {                                                                                   \
            _Pragma(SIMD_LOOP)                                                                     \
            for (size_t i = 0; i < n_; i++)                                                        \
                dx_[i] += D(x_[i], y_[i], dy_[i], a_);                                             \
        }                                                                                          \
    } while (0)

static int act_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in, (void)err, (void)errlen;
    l->out_shape = in[0];
    return 0;
}

/* The four rows differ only in their pair of helpers. */
#define ACT_OP(id, NAME, str, attrs, F, D, LOOP)                                                    \
    static void id##_forward(Layer *l, Net *net, int batch, int train)                             \
    {                                                                                              \
        (void)train;                                                                               \
        ACT_FORWARD(l, net, batch, F, LOOP);                                                       \
    }                                                                                              \
    static void id##_backward(Layer *l, Net *net, int batch) { ACT_BACKWARD(l, net, batch, D); }  \
    const OpInfo op_##id##_info = {NAME, str, 1, 1, attrs, act_setup, NULL, id##_forward,          \
                                   id##_backward, NULL, 0, 1};

ACT_OP(relu, OP_RELU, "relu", "", relu_f, relu_d, SIMD_LOOP)
ACT_OP(leaky_relu, OP_LEAKY_RELU, "leaky_relu", "alpha", leaky_f, leaky_d, SIMD_LOOP)
ACT_OP(sigmoid, OP_SIGMOID, "sigmoid", "", sigmoid_f, sigmoid_d, PLAIN_LOOP)
ACT_OP(tanh, OP_TANH, "tanh", "", tanh_f, tanh_d, PLAIN_LOOP)

/* Clip: y = min(max(x, lo), hi), as ONNX Clip (so lo > hi gives hi everywhere);
 * a NaN stays NaN. The gradient passes strictly inside (lo, hi). */
static void clip_forward(Layer *l, Net *net, int batch, int train)
{
    (void)train;
    const float *x = layer_input(net, l, 0)->out;
    float *y = l->out;
    const float lo = l->a.lo, hi = l->a.hi;
    size_t n = (size_t)batch * shape_size(l->out_shape);
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

static void clip_backward(Layer *l, Net *net, int batch)
{
    Layer *in = layer_input(net, l, 0);
    const float *x = in->out, *dy = l->dout;
    float *dx = input_dout(net, in);
    const float lo = l->a.lo, hi = l->a.hi;
    size_t n = (size_t)batch * shape_size(l->out_shape);
    if (!dx)
        return;
    if (in->dout_set) {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = x[i] > lo && x[i] < hi ? dy[i] : 0.0f;
    } else {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] += x[i] > lo && x[i] < hi ? dy[i] : 0.0f;
    }
}

const OpInfo op_clip_info = {OP_CLIP, "clip", 1, 1, "lo,hi", act_setup, NULL, clip_forward,
                             clip_backward, NULL, 0, 1};
