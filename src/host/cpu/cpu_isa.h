/*
 * cpu_isa.h - whether the CPU kernels that have an AVX2 (+ FMA) build (the Winograd
 * transforms of winograd_blocked.c, the Mahalanobis kernels of mahalanobis_cpu.c) may use it:
 * the processor has both, and PADIM_CPU_NO_AVX2 is unset or 0 (set it to run the
 * portable builds on any machine, as the ctests test_ops_no_avx2 and
 * test_backbone_no_avx2 do). Decided once per process.
 */
#ifndef PADIM_CPU_ISA_H
#define PADIM_CPU_ISA_H

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define PADIM_CPU_X86 1
#endif

static inline int cpu_avx2_fma(void) {
#ifdef PADIM_CPU_X86
    static int ok = -1;
    if (ok < 0) {
        const char *e = getenv("PADIM_CPU_NO_AVX2");
        ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !(e && *e && strcmp(e, "0"));
    }
    return ok;
#else
    return 0;
#endif
}

/* AVX-512 (F, with AVX2 + FMA allowed above) for the kernels that have such a build (the
 * Mahalanobis kernel of mahalanobis_cpu.c); PADIM_CPU_NO_AVX512=1 keeps them on AVX2 (the ctest
 * test_ops_no_avx512 does). */
static inline int cpu_avx512(void) {
#ifdef PADIM_CPU_X86
    static int ok = -1;
    if (ok < 0) {
        const char *e = getenv("PADIM_CPU_NO_AVX512");
        ok = cpu_avx2_fma() && __builtin_cpu_supports("avx512f") && !(e && *e && strcmp(e, "0"));
    }
    return ok;
#else
    return 0;
#endif
}

#endif
