/*
 * shared_math.h - the index and weight rules that the CPU ops (src/host/cpu/ops_cpu.c),
 * their CUDA twins (the .cu files of src/kernels) and the dataset/preprocessing code must agree on,
 * each written once: torch-nearest and torch-bilinear source indices, the reflect padding
 * of the blur, the Gaussian radius and weights, the center-crop offset, the packed-triangle
 * index. Plain C that compiles as host code and, under nvcc, as __host__ __device__ code.
 *
 * Float arithmetic is written through PADIM_FMUL / PADIM_FADD / PADIM_FDIV: on the device
 * they are the round-to-nearest intrinsics, so nvcc cannot contract a multiply and an add
 * into an FMA; on the host they are the plain operators (C11 mode: no contraction). Both
 * sides then round every operation identically and agree to the last bit.
 */
#ifndef PADIM_SHARED_MATH_H
#define PADIM_SHARED_MATH_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PADIM_HD static __host__ __device__ __forceinline__
#else
#define PADIM_HD static inline
#endif

#ifdef __CUDA_ARCH__
#define PADIM_FMUL(a, b) __fmul_rn((a), (b))
#define PADIM_FADD(a, b) __fadd_rn((a), (b))
#define PADIM_FDIV(a, b) __fdiv_rn((a), (b))
#else
#define PADIM_FMUL(a, b) ((a) * (b))
#define PADIM_FADD(a, b) ((a) + (b))
#define PADIM_FDIV(a, b) ((a) / (b))
#endif

/* Length of a packed lower triangle of a (D, D) matrix: D (D + 1) / 2. Element (i, j),
 * j <= i, sits at padim_tri(i) + j (row-major). */
PADIM_HD int64_t padim_tri(int64_t D) { return D * (D + 1) / 2; }

/* torch 1.13 F.interpolate(mode="nearest") without scale_factor, as its CPU kernel:
 * scale = (float)in / out, src = min(floor(dst * scale), in - 1) in float. Integer
 * floor(dst * in / out) differs where dst * in / out is an integer and the float scale
 * rounds down (e.g. S = 789: H = 198, H3 = 50, dst = 99 gives 24 in float, 25 in
 * integers). Identical sizes map to themselves; exact doubling is a shift. */
PADIM_HD int padim_nearest_src(int dst, int in, int out) {
    if (in == out) return dst;
    if (out == 2 * in) return dst >> 1;
    const float scale = PADIM_FDIV((float)in, (float)out);
    const int s = (int)floorf(PADIM_FMUL((float)dst, scale));
    return s < in - 1 ? s : in - 1;
}

/* torch area_pixel_compute_source_index, align_corners=False, float arithmetic as torch
 * 1.13's CPU kernel: src = scale (o + 0.5) - 0.5 with scale = in / out, clamped at 0;
 * i0 = floor(src), i1 = min(i0 + 1, in - 1), weights w0 = 1 - lambda, w1 = lambda. */
PADIM_HD void padim_linear_src(int o, int in, int out, int *i0, int *i1, float *w0, float *w1) {
    const float scale = PADIM_FDIV((float)in, (float)out);
    float src = PADIM_FADD(PADIM_FMUL(scale, PADIM_FADD((float)o, 0.5f)), -0.5f);
    if (src < 0.0f) src = 0.0f;
    const int lo = (int)src;
    float lambda = PADIM_FADD(src, -(float)lo);
    if (lambda > 1.0f) lambda = 1.0f;
    *i0 = lo;
    *i1 = lo < in - 1 ? lo + 1 : lo;
    *w0 = PADIM_FADD(1.0f, -lambda);
    *w1 = lambda;
}

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

/* Radius of the anomaly-map Gaussian: int(4 sigma + 0.5) (anomalib's kernel size
 * 2 * radius + 1 = 33 at sigma 4; SciPy's truncate = 4). */
PADIM_HD int padim_gaussian_radius(double sigma) { return (int)(4.0 * sigma + 0.5); }

/* Host only: the 2 * radius + 1 weights exp(-x^2 / (2 sigma^2)), x in [-R, R], normalized
 * in double. The CPU blur uses them as they are, the CUDA blur rounded to float. */
static inline void padim_gaussian_weights_f64(double sigma, int radius, double *w) {
    double wsum = 0.0;
    for (int k = 0; k <= 2 * radius; k++) {
        const double x = (double)(k - radius);
        w[k] = exp(-x * x / (2.0 * sigma * sigma));
        wsum += w[k];
    }
    for (int k = 0; k <= 2 * radius; k++) w[k] /= wsum;
}

/* torchvision center_crop offset: int(round((size - crop) / 2.0)) with Python's round,
 * i.e. half to even (d = 33 -> 16, d = 35 -> 18). Used for images and masks alike. */
PADIM_HD int padim_center_crop_offset(int size, int crop) {
    const int d = size - crop;
    int q = d / 2;
    if (d % 2 != 0 && q % 2 != 0) q++;
    return q;
}

#endif
