/*
 * map.cu - anomaly-map kernels of scoring (twins of op_upsample_bilinear_cpu,
 * op_gaussian_blur_cpu, op_map_max_cpu): bilinear upsampling of the distance grid to the
 * input side, separable Gaussian blur with reflect padding (torch or scipy flavour), and
 * the per-image maximum (the image score).
 *
 * The upsampling reproduces the CPU twin's float arithmetic operation by operation
 * (__fmul_rn / __fadd_rn keep nvcc from contracting into FMAs), so the two agree to the
 * last bit. The blur accumulates in float (the CPU twin in double): within ~1e-6 relative.
 */
#include "kernel_util.cuh"
#include "kernels.h"
#include "shared_math.h"

#include <math.h>
#include <stdlib.h>

__global__ void upsample_bilinear_kernel(const float *__restrict__ in, int N, int H, int W, int S,
                                         float *__restrict__ out) {
    const int64_t SS = (int64_t)S * S;
    const int64_t total = (int64_t)N * SS;
    PADIM_GRID_STRIDE(e, total) {
        const int64_t n = e / SS;
        const int y = (int)((e % SS) / S), x = (int)(e % S);
        int y0, y1, x0, x1;
        float a0, a1, b0, b1;
        padim_linear_src(y, H, S, &y0, &y1, &a0, &a1);
        padim_linear_src(x, W, S, &x0, &x1, &b0, &b1);
        const float *src = in + n * H * W;
        const float *r0 = src + (int64_t)y0 * W, *r1 = src + (int64_t)y1 * W;
        const float top = __fadd_rn(__fmul_rn(r0[x0], b0), __fmul_rn(r0[x1], b1));
        const float bot = __fadd_rn(__fmul_rn(r1[x0], b0), __fmul_rn(r1[x1], b1));
        out[e] = __fadd_rn(__fmul_rn(top, a0), __fmul_rn(bot, a1));
    }
}

extern "C" cudaError_t padim_k_upsample_bilinear(const float *in, int N, int H, int W, int S,
                                                 float *out, cudaStream_t stream) {
    const int64_t total = (int64_t)N * S * S;
    PADIM_LAUNCH(upsample_bilinear_kernel, padim_grid(total), PADIM_THREADS, 0, stream, in, N, H, W,
                 S, out);
    return cudaGetLastError();
}

extern "C" int padim_gaussian_weights(double sigma, float *w) {
    const int R = padim_gaussian_radius(sigma);
    if (w) {
        double wd[2 * 64 + 1];
        double *wk = R <= 64 ? wd : (double *)malloc(sizeof(double) * (size_t)(2 * R + 1));
        if (!wk) return -1;
        padim_gaussian_weights_f64(sigma, R, wk);
        for (int k = 0; k <= 2 * R; k++) w[k] = (float)wk[k];
        if (wk != wd) free(wk);
    }
    return R;
}

/* One pass along rows (vertical = 0: out[y][x] = sum_k w[k] in[y][x + k - R]) or
 * columns (vertical = 1). Reads of a warp are consecutive in x in both passes. */
__global__ void blur_pass_kernel(const float *__restrict__ in, float *__restrict__ out, int N,
                                 int S, const float *__restrict__ w, int R, int pad_mode,
                                 int vertical) {
    const int64_t SS = (int64_t)S * S;
    const int64_t total = (int64_t)N * SS;
    PADIM_GRID_STRIDE(e, total) {
        const int64_t n = e / SS;
        const int y = (int)((e % SS) / S), x = (int)(e % S);
        const float *m = in + n * SS;
        float acc = 0.0f;
        for (int k = -R; k <= R; k++) {
            const float v = vertical ? m[(int64_t)padim_reflect_index(y + k, S, pad_mode) * S + x]
                                     : m[(int64_t)y * S + padim_reflect_index(x + k, S, pad_mode)];
            acc = fmaf(w[k + R], v, acc);
        }
        out[e] = acc;
    }
}

extern "C" cudaError_t padim_k_gaussian_blur(float *maps, float *tmp, int N, int S,
                                             const float *weights, int radius, int pad_mode,
                                             cudaStream_t stream) {
    const int64_t total = (int64_t)N * S * S;
    PADIM_LAUNCH(blur_pass_kernel, padim_grid(total), PADIM_THREADS, 0, stream, maps, tmp, N, S,
                 weights, radius, pad_mode, 0);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    PADIM_LAUNCH(blur_pass_kernel, padim_grid(total), PADIM_THREADS, 0, stream, tmp, maps, N, S,
                 weights, radius, pad_mode, 1);
    return cudaGetLastError();
}

/* NaN-propagating max (a NaN map scores NaN, as on the CPU). */
__device__ __forceinline__ float nan_max(float a, float b) {
    return (isnan(a) || isnan(b)) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
}

/* One block per image: strided scan, warp reduction, then across warps. */
__global__ void map_max_kernel(const float *__restrict__ maps, int S, float *__restrict__ scores) {
    __shared__ float red[PADIM_THREADS / 32];
    const int64_t SS = (int64_t)S * S;
    const float *m = maps + blockIdx.x * SS;
    float best = -INFINITY;
    for (int64_t i = threadIdx.x; i < SS; i += blockDim.x) best = nan_max(best, m[i]);
    for (int o = 16; o > 0; o >>= 1) best = nan_max(best, __shfl_xor_sync(0xffffffffu, best, o));
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
        float b = red[0];
        for (int w = 1; w < PADIM_THREADS / 32; w++) b = nan_max(b, red[w]);
        scores[blockIdx.x] = b;
    }
}

extern "C" cudaError_t padim_k_map_max(const float *maps, int N, int S, float *scores,
                                       cudaStream_t stream) {
    if (N < 1) return cudaSuccess;
    PADIM_LAUNCH(map_max_kernel, N, PADIM_THREADS, 0, stream, maps, S, scores);
    return cudaGetLastError();
}
