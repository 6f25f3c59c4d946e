/* nnbench: dispatch to the subcommand. */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} commands[] = {
    {"train", cmd_train,
     "train --model NAME|FILE.ini [--dataset NAME] [--epochs N] [--seed S] [--limit N] -o MODEL.h5 [--json]"},
    {"eval", cmd_eval,
     "eval MODEL.h5|MODEL.onnx [--dataset NAME] [--limit N] [--input-scale S] [--input-mean M[,M,M]] "
     "[--input-std D[,D,D]] [--json]"},
    {"compile", cmd_compile,
     "compile MODEL.h5|MODEL.onnx --hw NAME|HW.ini [--set SECTION.KEY=VALUE]... [--strategy reform|naive|full] "
     "[--dataset NAME] [--limit N] [--input-scale S] [--input-mean M] [--input-std D] [-o PROGRAM.h5] [--json]"},
    {"simulate", cmd_simulate, "simulate PROGRAM.h5 [--dataset NAME] [--limit N] [--json]"},
    {"sweep", cmd_sweep, "sweep SWEEP.ini [--dry-run]   (also: nnbench SWEEP.ini; under mpirun -n N, N ranks)"},
    {"hw", cmd_hw, "hw NAME|FILE.ini [--set SECTION.KEY=VALUE]... [--json | --ini]"},
    {"report", cmd_report, "report RESULTS.h5 [-o DIR]"},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: nnbench COMMAND [options]\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  nnbench %s\n", commands[i].usage);
    return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int main(int argc, char **argv)
{
    run_env_settle(argv);
    if (argc < 2)
        return usage(stderr);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
        return usage(stdout);
    size_t len = strlen(argv[1]);
    if (len > 4 && !strcmp(argv[1] + len - 4, ".ini")) /* nnbench SWEEP.ini */
        return cmd_sweep(argc, argv);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nnbench: unknown command '%s' (commands:", argv[1]);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, "; see nnbench --help)\n");
    return EXIT_USAGE;
}
