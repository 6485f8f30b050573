/*
 * shared_math.h - index arithmetic shared verbatim by the CPU ops (ops_cpu.c) and their
 * CUDA twins (the .cu files in src/kernels), so that both sides mirror and clamp identically.
 * Plain C that compiles as host code and, under nvcc, as __host__ __device__ code.
 */
#ifndef PADIM_SHARED_MATH_H
#define PADIM_SHARED_MATH_H

#ifdef __CUDACC__
#define PADIM_HD static __host__ __device__ __forceinline__
#else
#define PADIM_HD static inline
#endif

/* Mirror index i into [0, S) for the blur's padding. pad_mode 0: torch "reflect" (period
 * 2(S-1), edge not repeated: -1 -> 1); 1: scipy "reflect" (period 2S, edge repeated:
 * -1 -> 0). Folding by the period repeats the reflection, so any radius works: scipy does
 * the same for small S; torch refuses pad >= S, where this is the natural extension. */
PADIM_HD int padim_reflect_index(int i, int S, int pad_mode) {
    if (pad_mode == 0) {
        if (S == 1) return 0;
        const int m = 2 * (S - 1);
        i %= m;
        if (i < 0) i += m;
        return i < S ? i : m - i;
    }
    const int m = 2 * S;
    i %= m;
    if (i < 0) i += m;
    return i < S ? i : m - 1 - i;
}

#endif
