/* Shared by unit tests that need a real compiled network: the lenet5 zoo
 * model, MNIST and a hardware preset, reformed for the preset's crossbar.
 * Include after cmocka.h and the project headers it uses. */
#ifndef TESTS_UNIT_LENET5_FIXTURE_H
#define TESTS_UNIT_LENET5_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

/* 0 with *m, *ds (the splits asked for), *hw and *fp (the reformed float
 * program) filled; 1, after printing why, when models/lenet5.h5 or MNIST is
 * not here (the test then skips). Any other failure fails the test. */
static inline int lenet5_reformed(const char *preset, SplitMask split, Model *m, Dataset *ds, Hw *hw,
                                  Program **fp)
{
    char err[1024];
    if (access("models/lenet5.h5", R_OK) != 0) {
        printf("skip: models/lenet5.h5 not found\n");
        return 1;
    }
    if (dataset_load("mnist", split, ds, err, sizeof err)) {
        printf("skip: %s\n", err);
        return 1;
    }
    if (model_load("models/lenet5.h5", m, err, sizeof err) || hw_open(preset, NULL, 0, hw, NULL, 0, err, sizeof err))
        fail_msg("%s", err);
    ReformOptions opt = {.rows = hw->crossbar.rows, .cols = hw->crossbar.cols};
    if (reform(m->net, &m->train.norm, &opt, fp, err, sizeof err))
        fail_msg("%s", err);
    return 0;
}

#endif
