/*
 * embed.cu - the embedding kernel (twin of op_embed_cpu): layer2/layer3 nearest upsampling
 * to the layer1 grid, concatenation and channel gather by idx in one pass, writing the
 * (N, P, D) layout that the statistics (X_p is a D x N column-major matrix with leading
 * dimension P*D) and the Mahalanobis kernel read.
 */
#include "kernel_util.cuh"
#include "kernels.h"
#include "shared_math.h"

/* One thread per output element, d fastest so the writes coalesce; reads gather. */
__global__ void embed_kernel(const float *__restrict__ l1, const float *__restrict__ l2,
                             const float *__restrict__ l3, int N, int C1, int C2, int C3, int H,
                             int W, int H2, int W2, int H3, int W3,
                             const int32_t *__restrict__ idx, int D, float *__restrict__ out) {
    const int64_t P = (int64_t)H * W;
    const int64_t total = (int64_t)N * P * D;
    PADIM_GRID_STRIDE(e, total) {
        const int d = (int)(e % D);
        const int64_t p = (e / D) % P;
        const int64_t n = e / ((int64_t)D * P);
        const int y = (int)(p / W), x = (int)(p % W);
        const int c = idx[d];
        float v;
        if (c < C1) {
            v = l1[((n * C1 + c) * H + y) * W + x];
        } else if (c < C1 + C2) {
            const int sy = padim_nearest_src(y, H2, H), sx = padim_nearest_src(x, W2, W);
            v = l2[((n * C2 + (c - C1)) * H2 + sy) * W2 + sx];
        } else {
            const int sy = padim_nearest_src(y, H3, H), sx = padim_nearest_src(x, W3, W);
            v = l3[((n * C3 + (c - C1 - C2)) * H3 + sy) * W3 + sx];
        }
        out[e] = v;
    }
}

extern "C" cudaError_t padim_k_embed(const float *l1, const float *l2, const float *l3, int N,
                                     int C1, int C2, int C3, int H, int W, int H2, int W2, int H3,
                                     int W3, const int32_t *idx, int D, float *out,
                                     cudaStream_t stream) {
    const int64_t total = (int64_t)N * H * W * D;
    PADIM_LAUNCH(embed_kernel, padim_grid(total), PADIM_THREADS, 0, stream, l1, l2, l3, N, C1, C2,
                 C3, H, W, H2, W2, H3, W3, idx, D, out);
    return cudaGetLastError();
}
