/*
 * blas_info.c - which kernels OpenBLAS picked for this processor, and the OPENBLAS_CORETYPE
 * that corrects a wrong pick (padim.h: padim_cpu_blas, padim_cpu_blas_coretype_fix,
 * padim_cpu_blas_restart).
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) chooses its kernel set once, when it is
 * loaded, from the processor's model number. Debian 12's 0.3.21 does not know models newer
 * than it (seen: Intel Xeon family 6 model 207, Emerald Rapids, with AVX-512 and
 * AVX512-BF16) and takes them for a Prescott: SSE3 kernels, SGEMM at 38 instead of 286
 * GFLOP/s on 2 cores. When it finds no model it falls back on the features instead, as
 * below (Cooperlake for AVX512-BF16, SkylakeX for AVX-512, Haswell for AVX2 + FMA).
 */
#include "padim.h"
#include "cpu_isa.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *padim_cpu_blas(void) {
    static _Thread_local char desc[192];
    const char *cfg = openblas_get_config(), *core = openblas_get_corename();
    snprintf(desc, sizeof(desc), "%s (kernels: %s)", cfg ? cfg : "OpenBLAS", core ? core : "unknown");
    return desc;
}

const char *padim_cpu_blas_coretype_fix(void) {
#ifdef PADIM_CPU_X86
    if (getenv("OPENBLAS_CORETYPE")) return NULL; /* the user's choice (or ours, after re-exec) */
    const char *core = openblas_get_corename();
    if (!core) return NULL;
    /* OpenBLAS's kernel sets that use AVX2 or wider (its corename strings, any case) */
    static const char *const wide[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"};
    for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
        if (!strcasecmp(core, wide[i])) return NULL;
    if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "Cooperlake";
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void padim_cpu_blas_restart(char **argv) {
    const char *no = getenv("PADIM_NO_BLAS_FIX");
    if (no && *no && strcmp(no, "0")) return;
    const char *core = padim_cpu_blas_coretype_fix();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* no /proc: go on with OpenBLAS's pick */
}
