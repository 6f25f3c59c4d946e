/* Softmax cross-entropy loss and argmax. */
#include <math.h>

#include "nn.h"

float softmax_cross_entropy(const float *logits, const int *labels, int batch, int classes,
                            float *dlogits, int *correct)
{
    double total = 0;
    int hits = 0;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (size_t)b * classes;
        int y = labels[b];
        int top = argmax(z, classes);
        hits += top == y;
        /* Subtract the maximum so no exponent overflows: log Σ e^z = max + log Σ e^(z−max). */
        double sum = 0;
        for (int j = 0; j < classes; j++)
            sum += exp((double)z[j] - z[top]);
        total += z[top] + log(sum) - z[y];
        if (dlogits) {
            float *d = dlogits + (size_t)b * classes;
            for (int j = 0; j < classes; j++)
                d[j] = (float)((exp((double)z[j] - z[top]) / sum - (j == y)) / batch);
        }
    }
    if (correct)
        *correct = hits;
    return batch > 0 ? (float)(total / batch) : 0.0f;
}

/* The first maximum wins, so ties resolve the same way everywhere. */
int argmax(const float *v, int n)
{
    if (n <= 0)
        return -1;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}
