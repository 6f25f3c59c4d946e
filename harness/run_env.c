/* The run-time environment the libraries read when they load (see
 * run_env_settle in harness.h).
 *
 * Debian's OpenBLAS 0.3.21 picks its kernels by CPU model when it loads;
 * a model newer than the library (Sapphire Rapids, say) falls back to the
 * Prescott (SSE3) kernels, four to six times slower than the AVX-512 ones
 * the CPU runs. libgomp reads OMP_WAIT_POLICY at load too; its default
 * spins idle threads, and on a shared or oversubscribed node (MPI ranks ×
 * OpenMP threads) spinning threads steal the cores the working ones need
 * (a vgg-small compile took 369 s instead of 20 s on a loaded machine).
 * Both are read only at load time, so the fix is to set them and exec the
 * same binary again, once, before anything else runs. A variable the user
 * set is never changed. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

char *openblas_get_corename(void);

#define SETTLED "NNBENCH_ENV_SETTLED"

/* The kernel set for this CPU when OpenBLAS fell back to a generic one. */
static const char *blas_core(void)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return NULL;
    const char *core = openblas_get_corename();
    if (!core || (strcmp(core, "Prescott") && strcmp(core, "Core2") && strcmp(core, "Nehalem")))
        return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return NULL;
}

void run_env_settle(char **argv)
{
    if (getenv(SETTLED))
        return;
    const char *core = blas_core();
    int wait = !getenv("OMP_WAIT_POLICY");
    if (!core && !wait)
        return;
    if (setenv(SETTLED, "1", 1) || (core && setenv("OPENBLAS_CORETYPE", core, 1)) ||
        (wait && setenv("OMP_WAIT_POLICY", "passive", 1)))
        return;
    execv("/proc/self/exe", argv); /* returns only on failure: run as we are */
}
