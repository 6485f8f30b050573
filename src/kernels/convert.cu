/*
 * convert.cu - element-wise conversions between float32 and the reduced backbone types
 * (--precision fp16 / bf16): the input batch and the weights go to half / bfloat16
 * before the cuDNN backbone, the layer1..3 outputs come back to float32 for the embedding
 * (everything after the backbone stays float32). Round to nearest even both ways in.
 */
#include "kernel_util.cuh"
#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

__global__ void f32_to_f16_kernel(const float *__restrict__ in, int64_t n, __half *__restrict__ out) {
    PADIM_GRID_STRIDE(i, n) out[i] = __float2half_rn(in[i]);
}

__global__ void f32_to_bf16_kernel(const float *__restrict__ in, int64_t n,
                                   __nv_bfloat16 *__restrict__ out) {
    PADIM_GRID_STRIDE(i, n) out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void f16_to_f32_kernel(const __half *__restrict__ in, int64_t n, float *__restrict__ out) {
    PADIM_GRID_STRIDE(i, n) out[i] = __half2float(in[i]);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16 *__restrict__ in, int64_t n,
                                   float *__restrict__ out) {
    PADIM_GRID_STRIDE(i, n) out[i] = __bfloat162float(in[i]);
}

extern "C" cudaError_t padim_k_f32_to_f16(const float *in, int64_t n, void *out, cudaStream_t stream) {
    PADIM_LAUNCH(f32_to_f16_kernel, padim_grid(n), PADIM_THREADS, 0, stream, in, n, (__half *)out);
    return cudaGetLastError();
}

extern "C" cudaError_t padim_k_f32_to_bf16(const float *in, int64_t n, void *out, cudaStream_t stream) {
    PADIM_LAUNCH(f32_to_bf16_kernel, padim_grid(n), PADIM_THREADS, 0, stream, in, n,
                 (__nv_bfloat16 *)out);
    return cudaGetLastError();
}

extern "C" cudaError_t padim_k_f16_to_f32(const void *in, int64_t n, float *out, cudaStream_t stream) {
    PADIM_LAUNCH(f16_to_f32_kernel, padim_grid(n), PADIM_THREADS, 0, stream,
                 (const __half *)in, n, out);
    return cudaGetLastError();
}

extern "C" cudaError_t padim_k_bf16_to_f32(const void *in, int64_t n, float *out, cudaStream_t stream) {
    PADIM_LAUNCH(bf16_to_f32_kernel, padim_grid(n), PADIM_THREADS, 0, stream,
                 (const __nv_bfloat16 *)in, n, out);
    return cudaGetLastError();
}
