/* One training (see TrainJob in harness.h): shared by `nnbench train` and
 * the sweep's training tasks. */
#include <stdio.h>
#include <string.h>

#include "../datasets/datasets.h"
#include "harness.h"

int train_job(const TrainJob *job, TrainOutcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    Model m;
    Dataset ds;
    memset(&m, 0, sizeof m);
    memset(&ds, 0, sizeof ds);
    int rc = EXIT_USAGE;
    if (model_resolve(job->model, path, sizeof path, err, errlen) ||
        model_from_ini(path, job->dataset, &m, err, errlen) || dataset_load(m.dataset, SPLIT_BOTH, &ds, err, errlen))
        goto done;
    rc = EXIT_WORK;
    if (job->epochs >= 0)
        m.train.epochs = (int)job->epochs;
    if (job->seed >= 0)
        m.train.seed = (uint64_t)job->seed;
    if (job->limit > 0 && job->limit < ds.train.n)
        ds.train.n = (int)job->limit;
    m.train.verbose = job->verbose;
    net_init_params(m.net, m.train.seed);
    if (job->verbose)
        fprintf(stderr, "training %s on %s: %d images, %d epochs, %zu parameters\n", m.name, m.dataset, ds.train.n,
                m.train.epochs, net_param_count(m.net));
    TrainStats st;
    if (m.train.epochs > 0 && net_train(m.net, &ds.train, &m.train, &st, err, errlen)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err);
        errf(err, errlen, "%s: %s", m.name, msg);
        goto done;
    }
    double acc = net_evaluate(m.net, &ds.test, &m.train.norm, 256, NULL);
    if (acc < 0) {
        errf(err, errlen, "%s: out of memory evaluating", m.name);
        goto done;
    }
    m.trained = 1;
    snprintf(m.trained_on, sizeof m.trained_on, "%s", m.dataset);
    m.train_seconds = m.train.epochs > 0 ? st.seconds : 0.0;
    m.accuracy = acc;
    if (model_save(&m, job->out, err, errlen))
        goto done;
    snprintf(out->name, sizeof out->name, "%s", m.name);
    snprintf(out->dataset, sizeof out->dataset, "%s", m.dataset);
    out->epochs = m.train.epochs;
    out->train_images = ds.train.n;
    out->test_images = ds.test.n;
    out->params = net_param_count(m.net);
    out->train_s = m.train_seconds;
    out->accuracy = acc;
    rc = EXIT_OK;
done:
    model_free(&m);
    dataset_free(&ds);
    return rc;
}
