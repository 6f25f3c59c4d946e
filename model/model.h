/* model — a network with its training recipe and provenance, read from a
 * model-definition INI (the zoo in configs/models/) and saved to / loaded from
 * the native HDF5 model file (DESIGN.md §7).
 *
 * Model INI: a [model] section (name, dataset, optional input = C,H,W), an
 * optional [train] section (the recipe: see train_key_set), and then one
 * section per layer in topological order:
 *
 *     [conv1]
 *     type   = conv          ; an op name from nn's op table
 *     inputs = input         ; comma-separated earlier layers; default: the previous one
 *     filters = 6
 *     kernel = 5
 *
 * HDF5 model file:
 *     /                 attrs format_version, name, dataset, trained_on, train_seconds,
 *                       accuracy, seed, nnbench_version
 *     /graph            attrs input_shape (3 ints), output (layer name);
 *                       dataset /graph/nodes: compound table, one row per layer:
 *                       name, op, inputs ("a,b"), attrs ("key = value; ..."), out_shape
 *     /train            one string attribute per recipe key (same keys as [train])
 *     /params/LAYER/P   float32 dataset per parameter, with its dims
 * Saving writes a temporary file and renames it, so a failure never leaves a
 * half-written model.
 */
#ifndef MODEL_MODEL_H
#define MODEL_MODEL_H

#include <stddef.h>

#include "../nn/nn.h"

#define MODEL_FORMAT_VERSION 1

typedef struct {
    char name[64];
    char dataset[32];       /* the data set it is defined / trained for */
    int classes;
    Net *net;
    TrainConfig train;      /* the recipe, including input normalisation */
    /* provenance, set by training */
    int trained;
    char trained_on[32];
    double train_seconds;   /* wall time of training: the "retraining time" */
    double accuracy;        /* test accuracy measured after training, -1 if unknown */
} Model;

/* Sets one [train] key from text. Keys: epochs, batch, seed, optimizer
 * (sgd|adam), lr, momentum, nesterov, weight_decay, beta1, beta2, schedule
 * (constant|step|cosine), step_every, step_gamma, warmup_epochs, augment
 * (none|crop|flip|crop,flip), input_scale, input_mean (M or M,M,M),
 * input_std (D or D,D,D). Unknown key or bad value: -1 with the allowed form. */
int train_key_set(TrainConfig *t, const char *key, const char *value, char *err, size_t errlen);
/* Writes the recipe as "key = value\n" lines; snprintf-like return. */
int train_format(const TrainConfig *t, char *buf, size_t len);

/* Finds a model definition: an existing path, or NAME → configs/models/NAME.ini
 * searched under ., the executable's ../configs and ../share/nnbench/configs.
 * Returns 0 with the path, -1 with a message listing the zoo names. */
int model_resolve(const char *name_or_path, char *path, size_t pathlen, char *err, size_t errlen);

/* A folder of named configurations (configs/models, configs/hw) and the
 * words its error messages use. */
typedef struct {
    const char *dir;     /* "configs/models" */
    const char *noun;    /* "model": "unknown model 'x'" */
    const char *member;  /* "zoo model": "not a file nor a zoo model" */
    const char *members; /* "zoo models": "(zoo models: a, b)" */
    const char *example; /* "lenet5": "a name such as lenet5" */
} ConfigDir;

/* model_resolve for any configuration folder: an existing path, or NAME →
 * DIR/NAME.ini under ., the executable's .. and ../share/nnbench. */
int config_resolve(const ConfigDir *dir, const char *name_or_path, char *path, size_t pathlen,
                   char *err, size_t errlen);

/* Opens a configuration INI with iniparser after rejecting what iniparser
 * would silently accept (a section or key given twice, a key before any
 * section, a section name that is not a name). Returns the dictionary (free
 * with iniparser_freedict), or NULL with "FILE: cannot read: ..." or "FILE:
 * line N: ..." in err. */
struct _dictionary_ *ini_open(const char *path, char *err, size_t errlen);
/* 1 if s is 1+ letters, digits, '_', '-' or '.'. */
int ini_name_ok(const char *s);
/* Trims blanks at both ends and lower-cases, in place (as iniparser does to names). */
void ini_trim_lower(char *s);

/* Builds an untrained model from a definition file. `dataset` (may be NULL)
 * overrides [model] dataset; the input shape and class count come from the
 * data set registry unless [model] input is given. Errors name the file,
 * the section and the key. */
int model_from_ini(const char *path, const char *dataset, Model *m, char *err, size_t errlen);

int model_save(const Model *m, const char *path, char *err, size_t errlen);
int model_load(const char *path, Model *m, char *err, size_t errlen);
void model_free(Model *m);

#endif
