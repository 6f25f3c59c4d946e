/* Input normalisation, CIFAR-style augmentation, the training loop and
 * evaluation over an in-memory SampleSet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"

void normalize_default(Normalize *n)
{
    n->scale = 1.0f / 255.0f;
    for (int c = 0; c < 3; c++) {
        n->mean[c] = 0.0f;
        n->std[c] = 1.0f;
    }
}

void normalize_pixels(const Normalize *n, const uint8_t *px, Shape s, float *out)
{
    size_t plane = (size_t)s.h * s.w;
    for (int c = 0; c < s.c; c++) {
        int k = c < 3 ? c : 2;
        float mul = n->scale / n->std[k], add = -n->mean[k] / n->std[k];
        for (size_t i = 0; i < plane; i++)
            out[c * plane + i] = (float)px[c * plane + i] * mul + add;
    }
}

void train_config_default(TrainConfig *t)
{
    memset(t, 0, sizeof *t);
    t->epochs = 10;
    t->batch = 64;
    t->seed = 1;
    normalize_default(&t->norm);
    opt_config_default(&t->opt);
}

void augment_image(float *img, Shape s, int crop_pad, int flip, Rng *rng, float *scratch)
{
    int dy = 0, dx = 0, mirror = 0;
    /* Draw in a fixed order so the stream does not depend on which options are on. */
    uint32_t span = 2 * (uint32_t)(crop_pad > 0 ? crop_pad : 0) + 1;
    uint32_t r1 = rng_below(rng, span), r2 = rng_below(rng, span), r3 = rng_below(rng, 2);
    if (crop_pad > 0) {
        dy = (int)r1 - crop_pad;
        dx = (int)r2 - crop_pad;
    }
    if (flip)
        mirror = (int)r3;
    if (!dy && !dx && !mirror)
        return;
    size_t n = shape_size(s);
    memcpy(scratch, img, n * sizeof *img);
    for (int c = 0; c < s.c; c++)
        for (int y = 0; y < s.h; y++)
            for (int x = 0; x < s.w; x++) {
                int sy = y + dy, sx = mirror ? s.w - 1 - x + dx : x + dx;
                float v = 0.0f; /* zero-padded border */
                if (sy >= 0 && sy < s.h && sx >= 0 && sx < s.w)
                    v = scratch[((size_t)c * s.h + sy) * s.w + sx];
                img[((size_t)c * s.h + y) * s.w + x] = v;
            }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void shuffle(int *idx, int n, Rng *rng)
{
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

int net_train(Net *net, const SampleSet *train, const TrainConfig *cfg, TrainStats *stats,
              char *err, size_t errlen)
{
    const Shape s = train->shape;
    const size_t in_size = shape_size(s);
    const int classes = (int)net_output_size(net);
    const int batch = cfg->batch < train->n ? cfg->batch : train->n;
    if (batch < 1 || classes != train->classes || in_size != shape_size(net_input_shape(net))) {
        snprintf(err, errlen,
                 "training set (%d images of %dx%dx%d, %d classes) does not fit the net "
                 "(input %zu values, %d outputs) or batch %d",
                 train->n, s.c, s.h, s.w, train->classes, shape_size(net_input_shape(net)), classes,
                 cfg->batch);
        return -1;
    }
    int *order = malloc(sizeof *order * (size_t)train->n);
    int *labels = malloc(sizeof *labels * (size_t)batch);
    float *x = malloc(sizeof *x * in_size * (size_t)batch);
    float *dlogits = malloc(sizeof *dlogits * (size_t)classes * batch);
    float *scratch = malloc(sizeof *scratch * in_size);
    int rc = -1;
    if (!order || !labels || !x || !dlogits || !scratch || net_reserve(net, batch, 1) ||
        optim_init(net, &cfg->opt)) {
        snprintf(err, errlen, "out of memory for training buffers (batch %d)", batch);
        goto done;
    }
    Rng rng;
    rng_seed(&rng, cfg->seed);
    net_seed(net, cfg->seed ^ 0x5eedULL);
    const int steps = train->n / batch; /* the incomplete last batch is dropped */
    const double t0 = now_seconds();
    long step = 0;
    double loss_sum = 0;
    long hits = 0, seen = 0;
    for (int epoch = 0; epoch < cfg->epochs; epoch++) {
        shuffle(order, train->n, &rng);
        loss_sum = 0;
        hits = seen = 0;
        for (int b = 0; b < steps; b++) {
            for (int i = 0; i < batch; i++) {
                int k = order[b * batch + i];
                float *img = x + (size_t)i * in_size;
                normalize_pixels(&cfg->norm, train->pixels + (size_t)k * in_size, s, img);
                if (cfg->augment_crop || cfg->augment_flip)
                    augment_image(img, s, cfg->augment_crop, cfg->augment_flip, &rng, scratch);
                labels[i] = train->labels[k];
            }
            const float *logits = net_forward(net, x, batch, 1);
            int correct = 0;
            float loss = softmax_cross_entropy(logits, labels, batch, classes, dlogits, &correct);
            net_backward(net, dlogits, batch);
            float lr = lr_at(&cfg->opt, epoch + (float)b / steps, cfg->epochs);
            optim_step(net, &cfg->opt, lr, ++step);
            loss_sum += loss;
            hits += correct;
            seen += batch;
        }
        if (cfg->verbose)
            fprintf(stderr, "epoch %d/%d  loss %.4f  train acc %.2f%%  lr %.4g  %.1fs\n", epoch + 1,
                    cfg->epochs, loss_sum / (steps ? steps : 1), 100.0 * hits / (seen ? seen : 1),
                    lr_at(&cfg->opt, (float)epoch + 1, cfg->epochs), now_seconds() - t0);
    }
    if (stats) {
        stats->final_loss = (float)(loss_sum / (steps ? steps : 1));
        stats->train_accuracy = seen ? (float)hits / (float)seen : 0.0f;
        stats->seconds = now_seconds() - t0;
    }
    rc = 0;
done:
    free(order);
    free(labels);
    free(x);
    free(dlogits);
    free(scratch);
    return rc;
}

double net_evaluate(Net *net, const SampleSet *set, const Normalize *norm, int batch,
                    float *logits_out)
{
    const Shape s = set->shape;
    const size_t in_size = shape_size(s);
    const int classes = (int)net_output_size(net);
    if (set->n == 0)
        return 0.0;
    if (batch > set->n)
        batch = set->n;
    float *x = malloc(sizeof *x * in_size * (size_t)batch);
    if (!x || net_reserve(net, batch, 0)) {
        free(x);
        return -1.0;
    }
    long hits = 0;
    for (int start = 0; start < set->n; start += batch) {
        int nb = set->n - start < batch ? set->n - start : batch;
        for (int i = 0; i < nb; i++)
            normalize_pixels(norm, set->pixels + (size_t)(start + i) * in_size, s,
                             x + (size_t)i * in_size);
        const float *logits = net_forward(net, x, nb, 0);
        for (int i = 0; i < nb; i++) {
            if (argmax(logits + (size_t)i * classes, classes) == set->labels[start + i])
                hits++;
        }
        if (logits_out)
            memcpy(logits_out + (size_t)start * classes, logits, sizeof *logits * (size_t)nb * classes);
    }
    free(x);
    return (double)hits / set->n;
}
