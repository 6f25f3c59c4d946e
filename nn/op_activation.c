/* Element-wise activations: relu, leaky relu, sigmoid, tanh.
 *
 * One driver walks the tensors; each op supplies f(x) and f'(x) (given x and
 * y = f(x), so sigmoid and tanh reuse their output). The helpers are static
 * inline and passed as constants, so the compiler specialises each loop. */
#include <math.h>

#include "ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

typedef float (*ActFn)(float x, float alpha);
typedef float (*ActGrad)(float x, float y, float alpha);

static inline float relu_f(float x, float a) { (void)a; return x > 0 ? x : 0; }
static inline float relu_g(float x, float y, float a) { (void)y, (void)a; return x > 0 ? 1.0f : 0.0f; }
static inline float leaky_f(float x, float a) { return x > 0 ? x : a * x; }
static inline float leaky_g(float x, float y, float a) { (void)y; return x > 0 ? 1.0f : a; }
static inline float sigmoid_f(float x, float a)
{
    (void)a;
    /* Never exponentiate a large positive number. */
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline float sigmoid_g(float x, float y, float a) { (void)x, (void)a; return y * (1.0f - y); }
static inline float tanh_f(float x, float a) { (void)a; return tanhf(x); }
static inline float tanh_g(float x, float y, float a) { (void)x, (void)a; return 1.0f - y * y; }

static inline void act_forward(Layer *l, Net *net, int batch, ActFn f)
{
    const float *x = layer_input(net, l, 0)->out;
    float *y = l->out;
    const float a = l->a.alpha;
    size_t n = (size_t)batch * shape_size(l->out_shape);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = f(x[i], a);
}

/* Adds into the input's dout: the input may feed other layers too. */
static inline void act_backward(Layer *l, Net *net, int batch, ActGrad g)
{
    Layer *in = layer_input(net, l, 0);
    const float *x = in->out, *y = l->out, *dy = l->dout;
    float *dx = in->dout;
    const float a = l->a.alpha;
    size_t n = (size_t)batch * shape_size(l->out_shape);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * g(x[i], y[i], a);
}

static int act_setup(Layer *l, const Shape *in, int n_in, char *err, size_t errlen)
{
    (void)n_in, (void)err, (void)errlen;
    l->out_shape = in[0];
    return 0;
}

/* The four rows differ only in their pair of helpers. */
#define ACT_OP(id, NAME, str, attrs, F, G)                                                         \
    static void id##_forward(Layer *l, Net *net, int batch, int train)                             \
    {                                                                                              \
        (void)train;                                                                               \
        act_forward(l, net, batch, F);                                                             \
    }                                                                                              \
    static void id##_backward(Layer *l, Net *net, int batch) { act_backward(l, net, batch, G); }  \
    const OpInfo op_##id##_info = {NAME, str, 1, 1, attrs, act_setup, NULL, id##_forward,          \
                                   id##_backward, NULL};

ACT_OP(relu, OP_RELU, "relu", "", relu_f, relu_g)
ACT_OP(leaky_relu, OP_LEAKY_RELU, "leaky_relu", "alpha", leaky_f, leaky_g)
ACT_OP(sigmoid, OP_SIGMOID, "sigmoid", "", sigmoid_f, sigmoid_g)
ACT_OP(tanh, OP_TANH, "tanh", "", tanh_f, tanh_g)
