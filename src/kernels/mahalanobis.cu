/*
 * mahalanobis.cu - the fused Mahalanobis distance of scoring (twin of op_mahalanobis_cpu):
 * per position p and image n, y = L_p^-1 (x - mu_p) with the packed lower factor,
 * dist = sqrt(max(0, ||y||^2)), in one kernel.
 *
 * One block per position. The batch goes through in tiles of NT images: the tile's
 * (x - mu) vectors sit in shared memory (NT x D floats), each warp takes rows i of the
 * factor (w, w + warps, ...), its lanes read the row's i + 1 packed entries coalesced and
 * form the NT dot products at once, so one read of the factor row serves NT images. The
 * factor of a position is read ceil(N / NT) times per batch (from L2 after the first
 * tile when it fits). Accumulation is float32 per row, as the CPU twin's sgemv-style
 * loops; the squared norm is summed per warp then across warps in shared memory.
 */
#include "kernel_util.cuh"
#include "kernels.h"

#define MAHA_WARPS 8

template <int NT>
__global__ void __launch_bounds__(MAHA_WARPS * 32)
    mahalanobis_kernel(const float *__restrict__ emb, int N, int P, int D,
                       const float *__restrict__ mean, const float *__restrict__ factor,
                       float *__restrict__ dist) {
    extern __shared__ float shm[];
    float *diff = shm;                      /* (NT, D) */
    float *red = shm + (int64_t)NT * D;     /* (NT, MAHA_WARPS) */
    const int p = blockIdx.x;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t T = padim_tri(D);
    const float *Lp = factor + (int64_t)p * T;
    const float *mu = mean + (int64_t)p * D;

    for (int n0 = 0; n0 < N; n0 += NT) {
        const int nt = N - n0 < NT ? N - n0 : NT;
        /* Rows of images past the batch end are zero: their sums are computed and
         * dropped, which keeps the inner loop free of bounds checks. */
        for (int k = threadIdx.x; k < NT * D; k += blockDim.x) {
            const int t = k / D, d = k % D;
            diff[k] = t < nt ? emb[((int64_t)(n0 + t) * P + p) * D + d] - mu[d] : 0.0f;
        }
        __syncthreads();

        float sq[NT];
#pragma unroll
        for (int t = 0; t < NT; t++) sq[t] = 0.0f;
        for (int i = warp; i < D; i += MAHA_WARPS) {
            const float *row = Lp + padim_tri(i);
            float y[NT];
#pragma unroll
            for (int t = 0; t < NT; t++) y[t] = 0.0f;
            for (int j = lane; j <= i; j += 32) {
                const float l = row[j];
#pragma unroll
                for (int t = 0; t < NT; t++) y[t] = fmaf(l, diff[t * D + j], y[t]);
            }
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float yt = padim_warp_sum(y[t]);
                sq[t] = fmaf(yt, yt, sq[t]);
            }
        }
        if (lane == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) red[t * MAHA_WARPS + warp] = sq[t];
        }
        __syncthreads();
        if (threadIdx.x < nt) {
            float s = 0.0f;
            for (int w = 0; w < MAHA_WARPS; w++) s += red[threadIdx.x * MAHA_WARPS + w];
            dist[(int64_t)(n0 + threadIdx.x) * P + p] = sqrtf(fmaxf(s, 0.0f));
        }
        __syncthreads(); /* diff and red are rewritten by the next tile */
    }
}

extern "C" cudaError_t padim_k_mahalanobis(const float *emb, int N, int P, int D,
                                           const float *mean, const float *factor, float *dist,
                                           cudaStream_t stream) {
    if (N < 1 || P < 1 || D < 1) return cudaErrorInvalidValue;
    /* NT = 8 images per tile keeps the tile within the default 48 KB of shared memory up
     * to D = 1500 (WRN50 uses 550); larger D (up to all 1792 channels) take tiles of 2. */
    const size_t sh8 = (size_t)8 * (D + MAHA_WARPS) * sizeof(float);
    const size_t sh2 = (size_t)2 * (D + MAHA_WARPS) * sizeof(float);
    if (sh8 <= 48 * 1024) {
        PADIM_LAUNCH(mahalanobis_kernel<8>, P, MAHA_WARPS * 32, sh8, stream, emb, N, P, D, mean,
                     factor, dist);
    } else if (sh2 <= 48 * 1024) {
        PADIM_LAUNCH(mahalanobis_kernel<2>, P, MAHA_WARPS * 32, sh2, stream, emb, N, P, D, mean,
                     factor, dist);
    } else {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
