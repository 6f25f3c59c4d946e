/* Hardware descriptions (DESIGN.md §5): what one chip can do, read from
 * configs/hw/NAME.ini with iniparser and overridden by `--set SECTION.KEY=VALUE`.
 *
 * Every key is one row of a table (hw_keys.c): section, key, kind, field,
 * allowed range or words, default and a one-line doc. Parsing, --set, range
 * errors, formatting, JSON and the documented INI all come from that table,
 * so they cannot disagree. Cross-key rules (which keys a mode needs) are in
 * hw_check.
 *
 * Use: hw_open(name_or_path, sets, n) = hw_resolve + hw_default + hw_load +
 * hw_set for each override, in order + hw_check.
 */
#ifndef COMPILER_HW_H
#define COMPILER_HW_H

#include <stddef.h>
#include <stdint.h>

enum { HW_ANN, HW_SNN, HW_PIM };                     /* target.mode */
enum { HW_PSUM_CORE, HW_PSUM_DIGITAL };              /* crossbar.partial_sums */
enum { HW_ENC_INT, HW_ENC_CELLS, HW_ENC_AXON_TYPES }; /* weights.encoding */
enum { HW_SCALE_PER_CORE, HW_SCALE_PER_NEURON };     /* weights.scale */
enum { HW_IN_CURRENT, HW_IN_RATE, HW_IN_POISSON };   /* io.input_coding */
enum { HW_ACT_RELU, HW_ACT_IF, HW_ACT_LIF };         /* neuron.activation */
enum { HW_RESET_SUBTRACT, HW_RESET_ZERO };           /* neuron.reset */
/* tune.phases: a set of the multi-phase weight-tuning steps (DESIGN.md §2.3). */
enum { HW_PHASE_FREE = 1, HW_PHASE_RANGE = 2, HW_PHASE_ROUND = 4, HW_PHASE_E2E = 8 };

#define HW_NAME_MAX 64

/* Enumerated keys are ints holding the values above; see hw_keys.c for the
 * meaning, range and default of every field. */
typedef struct {
    struct {
        char name[HW_NAME_MAX];
        int mode;
    } target;
    struct {
        int rows, cols;   /* inputs and neurons of one crossbar */
        int fanout;       /* cores one neuron may feed; 0 = unlimited */
        int partial_sums;
    } crossbar;
    struct {
        int bits;         /* signed weights: -2^(bits-1) .. 2^(bits-1)-1 */
        int encoding;
        int cell_bits, cells; /* encoding = cells; 0 = not used */
        int axon_types;   /* encoding = axon_types: k; 0 = not used */
        int scale;
    } weights;
    struct {
        int bits;         /* ANN/PIM values 0 .. 2^bits-1 */
        int window;       /* SNN time steps T; 0 = not used */
        int input_coding;
        uint64_t seed;    /* input_coding = poisson */
    } io;
    struct {
        int activation;
        int threshold;    /* 0 = programmable per core */
        double leak;      /* fraction of the threshold per step */
        int reset;
        int shift_max;
    } neuron;
    struct {
        int dac_bits;     /* 0 = not used (not PIM) */
        int adc_bits;     /* 0 = ideal (exact) conversion */
        double adc_range; /* 0 = per core, from calibration */
        double noise_sigma, stuck_at_rate;
        int differential;
        uint64_t seed;
    } pim;
    struct {
        int cores, mesh_x, mesh_y;
    } chip;
    struct {
        int iterations, batch;
        double lr;
        int calib, expand, approx_width, approx_samples;
        unsigned phases;  /* HW_PHASE_* bits */
        uint64_t seed;
    } tune;
} Hw;

/* ------------------------------------------------------------ the table */

typedef enum {
    HW_INT,   /* int in [lo, hi] */
    HW_REAL,  /* double in [lo, hi] ((lo, hi] when lo_open) */
    HW_WORD,  /* int: index into words */
    HW_BOOL,  /* int 0/1: yes|no (also true|false, 1|0) */
    HW_SEED,  /* uint64_t */
    HW_NAME,  /* char[HW_NAME_MAX]: letters, digits, '_', '-', '.', '+' */
    HW_FLAGS, /* unsigned: bit i = words[i]; "a,b" or none */
} HwKind;

typedef struct {
    const char *section, *key;
    HwKind kind;
    size_t offset;            /* of the field in Hw */
    double lo, hi;
    int lo_open;
    const char *const *words; /* HW_WORD, HW_FLAGS */
    int n_words;
    const char *zero;         /* what 0 means, when it is special */
    const char *def;          /* the default, as text */
    const char *doc;          /* one line for the documented INI */
} HwKey;

extern const HwKey hw_keys[];
extern const int hw_n_keys;

/* The sections in file order, each with a one-line doc. */
typedef struct {
    const char *name, *doc;
} HwSection;
extern const HwSection hw_sections[];
extern const int hw_n_sections;

const HwKey *hw_key_find(const char *section, const char *key);
/* Sets one key from text (blanks around it ignored); 0, or -1 if the value
 * is not allowed (hw_key_form says what is). */
int hw_key_set(Hw *hw, const HwKey *k, const char *value);
/* The value as text that hw_key_set reads back exactly; snprintf-like. */
int hw_key_get(const Hw *hw, const HwKey *k, char *buf, size_t len);
/* What the key accepts: "an integer in 1..65536 (0 = unlimited)"; snprintf-like. */
int hw_key_form(const HwKey *k, char *buf, size_t len);
/* Is the value a JSON number (else a string)? */
int hw_key_is_number(const HwKey *k);

/* ---------------------------------------------------------------- API */

/* The generic description: every key at its table default. */
void hw_default(Hw *hw);
/* Applies an INI file on top of hw. [target] name defaults to the file's
 * stem. Errors: "FILE: [section] key: bad value 'x': expected ...",
 * unknown sections and keys (listing the known ones), iniparser's syntax
 * errors with the line. */
int hw_load(const char *path, Hw *hw, char *err, size_t errlen);
/* "section.key=value" (the --set form; blanks around '=' allowed). The
 * error names the key and what it accepts. */
int hw_set(Hw *hw, const char *assignment, char *err, size_t errlen);
/* Cross-key consistency (a mode's required keys, cells × cell_bits >= bits,
 * the mesh holds the cores, ...): "ORIGIN: ..." naming every key involved. */
int hw_check(const Hw *hw, const char *origin, char *err, size_t errlen);
/* Every key as "section.key = value\n", in table order; snprintf-like.
 * hw_set of each line gives back an identical Hw. */
int hw_format(const Hw *hw, char *buf, size_t len);
/* The same as a documented INI file (sections, each key with its doc and
 * allowed values); hw_load of it gives back an identical Hw. */
int hw_format_ini(const Hw *hw, char *buf, size_t len);
/* Every key equal (names by strcmp, numbers exactly). */
int hw_equal(const Hw *a, const Hw *b);

/* A preset name (configs/hw/NAME.ini, searched like the model zoo) or a path. */
int hw_resolve(const char *name_or_path, char *path, size_t pathlen, char *err, size_t errlen);
/* Resolve, default, load, apply the --set assignments in order, check. The
 * resolved file goes to path (may be NULL). */
int hw_open(const char *name_or_path, const char *const *sets, int n_sets, Hw *hw, char *path,
            size_t pathlen, char *err, size_t errlen);

#endif
