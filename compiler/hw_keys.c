/* The hardware-description key table (DESIGN.md §5) and the per-kind code
 * that reads, prints and describes one key. Adding a key is adding a row
 * here and a field to Hw; every other path picks it up. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/nn.h"
#include "hw.h"

static const char *const mode_words[] = {[HW_ANN] = "ann", [HW_SNN] = "snn", [HW_PIM] = "pim"};
static const char *const psum_words[] = {[HW_PSUM_CORE] = "core", [HW_PSUM_DIGITAL] = "digital"};
static const char *const enc_words[] = {
    [HW_ENC_INT] = "int", [HW_ENC_CELLS] = "cells", [HW_ENC_AXON_TYPES] = "axon_types"};
static const char *const scale_words[] = {[HW_SCALE_PER_CORE] = "per_core",
                                          [HW_SCALE_PER_NEURON] = "per_neuron"};
static const char *const coding_words[] = {
    [HW_IN_CURRENT] = "current", [HW_IN_RATE] = "rate", [HW_IN_POISSON] = "poisson"};
static const char *const act_words[] = {[HW_ACT_RELU] = "relu", [HW_ACT_IF] = "if",
                                        [HW_ACT_LIF] = "lif"};
static const char *const reset_words[] = {[HW_RESET_SUBTRACT] = "subtract",
                                          [HW_RESET_ZERO] = "zero"};
/* Bit i of tune.phases is phase_words[i] (HW_PHASE_FREE = 1 << 0, ...). */
static const char *const phase_words[] = {"free", "range", "round", "e2e"};

const HwSection hw_sections[] = {
    {"target", "What the chip is: its label and its kind of core."},
    {"crossbar", "One core's crossbar of synapses and how far a neuron's output may go."},
    {"weights", "How the crossbar stores a weight."},
    {"io", "The values passed between cores and how the input pixels enter."},
    {"neuron", "The one non-linearity every core applies, and its output scale."},
    {"pim", "ReRAM processing-in-memory periphery (target.mode = pim)."},
    {"chip", "Cores on one chip and the mesh network that connects them."},
    {"tune", "Not the chip: how the compiler tunes the transformed network for it."},
};
const int hw_n_sections = (int)(sizeof hw_sections / sizeof *hw_sections);

#define OFF(f) offsetof(Hw, f)
#define WORDS(w) .words = (w), .n_words = (int)(sizeof(w) / sizeof *(w))
#define SEED_MAX 18446744073709551615.0
const HwKey hw_keys[] = {
    /* [target] */
    {"target", "name", HW_NAME, OFF(target.name), .def = "generic",
     .doc = "The chip's label in results and figures."},
    {"target", "mode", HW_WORD, OFF(target.mode), WORDS(mode_words), .def = "ann",
     .doc = "ann: few-bit values and a saturating ReLU; snn: binary spikes counted over "
            "io.window steps; pim: a ReRAM crossbar fed by DACs and read by ADCs."},
    /* [crossbar] */
    {"crossbar", "rows", HW_INT, OFF(crossbar.rows), 1, 65536, .def = "256",
     .doc = "Inputs (axons) of one crossbar: the largest fan-in of a core op."},
    {"crossbar", "cols", HW_INT, OFF(crossbar.cols), 1, 65536, .def = "256",
     .doc = "Neurons of one crossbar: the most outputs of a core op."},
    {"crossbar", "fanout", HW_INT, OFF(crossbar.fanout), 0, 65536, .zero = "unlimited",
     .def = "0",
     .doc = "The most cores one neuron's output may feed; beyond it the compiler adds relay "
            "neurons."},
    {"crossbar", "partial_sums", HW_WORD, OFF(crossbar.partial_sums), WORDS(psum_words),
     .def = "core",
     .doc = "Fan-in above rows is split: core = each partial sum p travels as relu(p), "
            "relu(-p) to a merge core; digital = the chip adds partial sums exactly."},
    /* [weights] */
    {"weights", "bits", HW_INT, OFF(weights.bits), 1, 16, .def = "8",
     .doc = "Weight precision: signed integers -2^(bits-1) .. 2^(bits-1)-1."},
    {"weights", "encoding", HW_WORD, OFF(weights.encoding), WORDS(enc_words), .def = "int",
     .doc = "int: any bits-bit integer; cells: split over `cells` cells of cell_bits bits "
            "(ReRAM); axon_types: each neuron has only axon_types distinct weights, picked by "
            "the input's axon type (TrueNorth)."},
    {"weights", "cell_bits", HW_INT, OFF(weights.cell_bits), 0, 16, .zero = "not used",
     .def = "0", .doc = "Bits per cell (encoding = cells)."},
    {"weights", "cells", HW_INT, OFF(weights.cells), 0, 16, .zero = "not used", .def = "0",
     .doc = "Cells per weight, cell c weighted 2^(c*cell_bits); cells*cell_bits must reach "
            "bits (encoding = cells)."},
    {"weights", "axon_types", HW_INT, OFF(weights.axon_types), 0, 256, .zero = "not used",
     .def = "0",
     .doc = "k: the distinct weights of one neuron, one per axon type (encoding = "
            "axon_types)."},
    {"weights", "scale", HW_WORD, OFF(weights.scale), WORDS(scale_words), .def = "per_core",
     .doc = "The output scale 2^-shift: one per core, or one per neuron."},
    /* [io] */
    {"io", "bits", HW_INT, OFF(io.bits), 1, 16, .def = "8",
     .doc = "ANN/PIM: values between cores are unsigned integers 0 .. 2^bits-1 (unused in SNN "
            "mode)."},
    {"io", "window", HW_INT, OFF(io.window), 0, 4096, .zero = "none: ANN/PIM",
     .def = "0", .doc = "SNN: time steps T per inference; a value is a spike count 0..T."},
    {"io", "input_coding", HW_WORD, OFF(io.input_coding), WORDS(coding_words),
     .def = "current",
     .doc = "How pixels enter: current = as values (ANN/PIM) or as a constant current every "
            "step (SNN); rate = evenly spaced spikes; poisson = random spikes (io.seed)."},
    {"io", "seed", HW_SEED, OFF(io.seed), 0, SEED_MAX, .def = "1",
     .doc = "Seed of the poisson input spikes."},
    /* [neuron] */
    {"neuron", "activation", HW_WORD, OFF(neuron.activation), WORDS(act_words), .def = "relu",
     .doc = "relu: saturating quantised ReLU (ANN/PIM); if: integrate-and-fire; lif: leaky "
            "integrate-and-fire (SNN)."},
    {"neuron", "threshold", HW_INT, OFF(neuron.threshold), 0, 1073741824,
     .zero = "programmable: the compiler sets each core's", .def = "0",
     .doc = "SNN firing threshold, in accumulator units."},
    {"neuron", "leak", HW_REAL, OFF(neuron.leak), 0, 1, .def = "0",
     .doc = "LIF: every step the membrane moves this fraction of the threshold toward 0."},
    {"neuron", "reset", HW_WORD, OFF(neuron.reset), WORDS(reset_words), .def = "subtract",
     .doc = "After a spike: subtract = V -= threshold; zero = V = 0."},
    {"neuron", "shift_max", HW_INT, OFF(neuron.shift_max), 0, 62, .def = "24",
     .doc = "The largest right shift s of an output scale 2^-s (ANN/PIM); SNN: programmable "
            "thresholds up to 2^shift_max."},
    /* [pim] */
    {"pim", "dac_bits", HW_INT, OFF(pim.dac_bits), 0, 16, .zero = "not a PIM chip",
     .def = "0",
     .doc = "Input bits per DAC phase: an input takes ceil(io.bits / dac_bits) phases."},
    {"pim", "adc_bits", HW_INT, OFF(pim.adc_bits), 0, 32, .zero = "ideal, exact conversion",
     .def = "0", .doc = "ADC resolution of each (input phase, cell) column sum."},
    {"pim", "adc_range", HW_REAL, OFF(pim.adc_range), 0, 1,
     .zero = "set per core by the compiler from calibration data", .def = "1",
     .doc = "ADC full scale as a fraction of the largest possible column sum "
            "rows*(2^dac_bits-1)*(2^cell_bits-1); larger sums saturate."},
    {"pim", "noise_sigma", HW_REAL, OFF(pim.noise_sigma), 0, 1, .def = "0",
     .doc = "Relative sigma of Gaussian conductance noise, per cell."},
    {"pim", "stuck_at_rate", HW_REAL, OFF(pim.stuck_at_rate), 0, 1, .def = "0",
     .doc = "Fraction of cells stuck at the lowest or the highest conductance (half each)."},
    {"pim", "differential", HW_BOOL, OFF(pim.differential), 0, 1, .def = "yes",
     .doc = "yes: positive and negative weights in two arrays; no: one array, weights offset "
            "by 2^(bits-1)."},
    {"pim", "seed", HW_SEED, OFF(pim.seed), 0, SEED_MAX, .def = "1",
     .doc = "Seed of the noise and the stuck cells: one fabricated chip."},
    /* [chip] */
    {"chip", "cores", HW_INT, OFF(chip.cores), 1, 16777216, .def = "4096",
     .doc = "Cores per chip; a larger program spans several chips."},
    {"chip", "mesh_x", HW_INT, OFF(chip.mesh_x), 1, 65536, .def = "64",
     .doc = "Columns of the 2-D mesh of cores."},
    {"chip", "mesh_y", HW_INT, OFF(chip.mesh_y), 1, 65536, .def = "64",
     .doc = "Rows of the mesh; mesh_x*mesh_y must hold chip.cores."},
    /* [tune] */
    {"tune", "iterations", HW_INT, OFF(tune.iterations), 0, 10000000, .zero = "none",
     .def = "200", .doc = "Steps of the end-to-end pass (phase e2e)."},
    {"tune", "batch", HW_INT, OFF(tune.batch), 1, 65536, .def = "64",
     .doc = "Tuning images per step of the end-to-end pass."},
    {"tune", "lr", HW_REAL, OFF(tune.lr), 0, 10, .lo_open = 1, .def = "0.01",
     .doc = "Adam step of the end-to-end pass, in weight units (biases: in levels)."},
    {"tune", "calib", HW_INT, OFF(tune.calib), 1, 1000000, .def = "1024",
     .doc = "Calibration images (from the training set): the activations each part is tuned "
            "against and value ranges are taken from."},
    {"tune", "expand", HW_INT, OFF(tune.expand), 1, 64, .def = "1",
     .doc = "Re-encoding width k: where I/O precision is too low one value is carried by k "
            "neurons; 1 = off."},
    {"tune", "approx_width", HW_INT, OFF(tune.approx_width), 1, 65536, .def = "8",
     .doc = "Hidden width of the MLP of core ops that replaces a non-core function (sigmoid, "
            "tanh, LRN, ...): ReLU neurons per value."},
    {"tune", "approx_samples", HW_INT, OFF(tune.approx_samples), 1, 10000000, .def = "16384",
     .doc = "Samples of a node's real inputs its approximator is trained on."},
    {"tune", "phases", HW_FLAGS, OFF(tune.phases), WORDS(phase_words),
     .def = "free,range,round",
     .doc = "Weight-tuning phases, run in this order: free = full precision; range = choose "
            "scales and clip; round = round progressively, tuning the rest; e2e = then every "
            "part at once for the network's output."},
    {"tune", "seed", HW_SEED, OFF(tune.seed), 0, SEED_MAX, .def = "1",
     .doc = "Seed of sampling, initialisation and the rounding order."},
};
#undef SEED_MAX
#undef WORDS
#undef OFF
const int hw_n_keys = (int)(sizeof hw_keys / sizeof *hw_keys);

const HwKey *hw_key_find(const char *section, const char *key)
{
    for (int i = 0; i < hw_n_keys; i++)
        if (!strcmp(hw_keys[i].section, section) && !strcmp(hw_keys[i].key, key))
            return &hw_keys[i];
    return NULL;
}

/* ---------------------------------------------------------------- set */


static int word_index(const HwKey *k, const char *w, size_t n)
{
    for (int i = 0; i < k->n_words; i++)
        if (strlen(k->words[i]) == n && !strncmp(k->words[i], w, n))
            return i;
    return -1;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '+';
}

/* "a, b" → the set of bits; "none" → 0; a repeat or an unknown word → -1. */
static int parse_flags(const HwKey *k, const char *v, unsigned *out)
{
    unsigned set = 0;
    if (!strcmp(v, "none")) {
        *out = 0;
        return 0;
    }
    for (const char *p = v;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",+"); /* '+' too: a sweep axis value is one item of a comma list */
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        int i = word_index(k, p, m);
        if (i < 0 || (set & (1u << i)))
            return -1;
        set |= 1u << i;
        if (!p[n])
            break;
        p += n + 1;
    }
    *out = set;
    return 0;
}

int hw_key_set(Hw *hw, const HwKey *k, const char *value)
{
    char v[256];
    if (!value || text_trim_copy(value, v, sizeof v) != 0 || !v[0])
        return -1;
    char *field = (char *)hw + k->offset;
    switch (k->kind) {
    case HW_INT: {
        double d;
        if (parse_numbers(v, &d, 1) != 1 || d != floor(d) || d < k->lo || d > k->hi)
            return -1;
        *(int *)field = (int)d;
        return 0;
    }
    case HW_REAL: {
        double d;
        if (parse_numbers(v, &d, 1) != 1 || d < k->lo || d > k->hi || (k->lo_open && d <= k->lo))
            return -1;
        *(double *)field = d == 0 ? 0 : d; /* no -0: it would print as "-0" */
        return 0;
    }
    case HW_WORD: {
        int i = word_index(k, v, strlen(v));
        if (i < 0)
            return -1;
        *(int *)field = i;
        return 0;
    }
    case HW_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
            *(int *)field = 1;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
            *(int *)field = 0;
        else
            return -1;
        return 0;
    case HW_SEED: {
        if (v[0] < '0' || v[0] > '9')
            return -1;
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || *end)
            return -1;
        *(uint64_t *)field = (uint64_t)u;
        return 0;
    }
    case HW_NAME: {
        if (strlen(v) >= HW_NAME_MAX)
            return -1;
        for (const char *p = v; *p; p++)
            if (!name_char(*p))
                return -1;
        snprintf(field, HW_NAME_MAX, "%s", v);
        return 0;
    }
    case HW_FLAGS: {
        unsigned set;
        if (parse_flags(k, v, &set) != 0)
            return -1;
        *(unsigned *)field = set;
        return 0;
    }
    }
    return -1;
}

/* ---------------------------------------------------------------- get */

/* The shortest %g form that reads back as the same double. */
static int real_text(double d, char *buf, size_t len)
{
    char room[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(room, sizeof room, "%.*g", prec, d);
        if (strtod(room, NULL) == d)
            break;
    }
    return snprintf(buf, len, "%s", room);
}

int hw_key_get(const Hw *hw, const HwKey *k, char *buf, size_t len)
{
    const char *field = (const char *)hw + k->offset;
    switch (k->kind) {
    case HW_INT:
        return snprintf(buf, len, "%d", *(const int *)field);
    case HW_REAL:
        return real_text(*(const double *)field, buf, len);
    case HW_WORD: {
        int i = *(const int *)field;
        return snprintf(buf, len, "%s", i >= 0 && i < k->n_words ? k->words[i] : "?");
    }
    case HW_BOOL:
        return snprintf(buf, len, "%s", *(const int *)field ? "yes" : "no");
    case HW_SEED:
        return snprintf(buf, len, "%" PRIu64, *(const uint64_t *)field);
    case HW_NAME:
        return snprintf(buf, len, "%s", field);
    case HW_FLAGS: {
        unsigned set = *(const unsigned *)field;
        char room[256] = "";
        for (int i = 0; i < k->n_words; i++)
            if (set & (1u << i))
                errf_append(room, sizeof room, "%s%s", room[0] ? "," : "", k->words[i]);
        return snprintf(buf, len, "%s", room[0] ? room : "none");
    }
    }
    return snprintf(buf, len, "?");
}

/* --------------------------------------------------------------- form */

static void words_text(const HwKey *k, const char *last_sep, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < k->n_words; i++)
        errf_append(buf, len, "%s%s",
                    i == 0 ? "" : i == k->n_words - 1 ? last_sep : ", ", k->words[i]);
}

int hw_key_form(const HwKey *k, char *buf, size_t len)
{
    char room[512];
    switch (k->kind) {
    case HW_INT:
        snprintf(room, sizeof room, "an integer in %.0f..%.0f", k->lo, k->hi);
        break;
    case HW_REAL:
        snprintf(room, sizeof room, "a number in %c%g, %g]", k->lo_open ? '(' : '[', k->lo, k->hi);
        break;
    case HW_WORD: {
        char w[256];
        words_text(k, " or ", w, sizeof w);
        snprintf(room, sizeof room, "%s%s", k->n_words > 2 ? "one of " : "", w);
        break;
    }
    case HW_BOOL:
        snprintf(room, sizeof room, "yes or no");
        break;
    case HW_SEED:
        snprintf(room, sizeof room, "an integer in 0..18446744073709551615");
        break;
    case HW_NAME:
        snprintf(room, sizeof room, "1 to %d letters, digits, '_', '-', '.' or '+'",
                 HW_NAME_MAX - 1);
        break;
    case HW_FLAGS: {
        char w[256];
        words_text(k, ", ", w, sizeof w);
        snprintf(room, sizeof room, "a comma-separated set of %s; or none", w);
        break;
    }
    }
    if (k->zero)
        errf_append(room, sizeof room, " (0 = %s)", k->zero);
    return snprintf(buf, len, "%s", room);
}

int hw_key_is_number(const HwKey *k)
{
    return k->kind == HW_INT || k->kind == HW_REAL || k->kind == HW_SEED;
}

/* ------------------------------------------------------ whole records */

void hw_default(Hw *hw)
{
    memset(hw, 0, sizeof *hw);
    for (int i = 0; i < hw_n_keys; i++)
        hw_key_set(hw, &hw_keys[i], hw_keys[i].def); /* test_hw checks every default parses */
}

int hw_equal(const Hw *a, const Hw *b)
{
    for (int i = 0; i < hw_n_keys; i++) {
        const HwKey *k = &hw_keys[i];
        const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
        int same;
        switch (k->kind) {
        case HW_REAL:
            same = *(const double *)fa == *(const double *)fb;
            break;
        case HW_SEED:
            same = *(const uint64_t *)fa == *(const uint64_t *)fb;
            break;
        case HW_NAME:
            same = strcmp(fa, fb) == 0;
            break;
        case HW_FLAGS:
            same = *(const unsigned *)fa == *(const unsigned *)fb;
            break;
        default:
            same = *(const int *)fa == *(const int *)fb;
            break;
        }
        if (!same)
            return 0;
    }
    return 1;
}
