/*
 * kernels.h - the custom CUDA kernels of padim-gpu behind C-callable launchers (the CUDA
 * twins of src/host/ops.h). Every launcher takes raw device pointers, sizes and a stream,
 * launches asynchronously and returns cudaGetLastError() of its launch(es), so the caller
 * checks every launch with its one check macro (cuda_check.h). Nothing here allocates.
 *
 * Letters as in ops.h: N images, D kept channels, H, W the layer1 grid, P = H*W,
 * S the preprocessed side, T = D*(D+1)/2. Packed triangles are lower, row-major:
 * element (i, j), j <= i, at i*(i+1)/2 + j. Element counts and offsets are int64_t.
 */
#ifndef PADIM_KERNELS_H
#define PADIM_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Embedding (twin of op_embed_cpu): nearest upsampling of l2, l3 to the l1 grid (torch's
 * float index arithmetic, as op_embed_cpu), concatenation [l1 | l2 | l3], gather of
 * channels idx, in one pass. l1 (N, C1, H, W), l2 (N, C2, H2, W2), l3 (N, C3, H3, W3),
 * idx (D) device, out (N, P, D). */
cudaError_t padim_k_embed(const float *l1, const float *l2, const float *l3, int N, int C1, int C2,
                          int C3, int H, int W, int H2, int W2, int H3, int W3, const int32_t *idx,
                          int D, float *out, cudaStream_t stream);

/* Conversions for the reduced-precision backbone (--precision fp16 / bf16), n elements,
 * round to nearest even: in (n) float32 -> out (n) IEEE half / bfloat16, and back. The
 * 16-bit buffers are void * so that C callers need no CUDA half headers. */
cudaError_t padim_k_f32_to_f16(const float *in, int64_t n, void *out, cudaStream_t stream);
cudaError_t padim_k_f32_to_bf16(const float *in, int64_t n, void *out, cudaStream_t stream);
cudaError_t padim_k_f16_to_f32(const void *in, int64_t n, float *out, cudaStream_t stream);
cudaError_t padim_k_bf16_to_f32(const void *in, int64_t n, float *out, cudaStream_t stream);

/* Streaming statistics, part 1: centre in place and sum.
 * emb (N, P, D) becomes emb - shift; s1 (P, D) double += sum_n (emb - shift).
 * shift (P, D). */
cudaError_t padim_k_center_sum(float *emb, int N, int P, int D, const float *shift, double *s1,
                               cudaStream_t stream);

/* Streaming statistics, part 2: s2 (P, T) double, rows p0 .. p0+np-1, += the lower
 * triangle of the batch's second moments gram (np, D, D) float (column-major per matrix,
 * as cublasSgemmStridedBatched writes it; symmetric). */
cudaError_t padim_k_add_packed(const float *gram, int np, int D, int64_t p0, double *s2,
                               cudaStream_t stream);

/* mean (P, D) = shift + s1 / n. */
cudaError_t padim_k_mean(const float *shift, const double *s1, int64_t n, int P, int D,
                         float *mean, cudaStream_t stream);

/* Covariance of positions p0 .. p0+np-1 into cov (np, D, D) (full symmetric matrices,
 * column-major = row-major), cov = (s2 - s1 s1^T / n) / (n - 1) + eps I, and eye (np, D, D)
 * set to the identity (right-hand side of the triangular solve that forms L^-1).
 * fp64: cov/eye are double when 1, float when 0 (the sums are double either way). */
cudaError_t padim_k_covariance(const double *s1, const double *s2, int64_t n, int64_t p0, int np,
                               int D, double eps, int fp64, void *cov, void *eye,
                               cudaStream_t stream);

/* Pack the lower triangles of np column-major (D, D) matrices (double when fp64, else
 * float) into factor (np, T) float, row-major packed. */
cudaError_t padim_k_pack_lower(const void *mats, int np, int D, int fp64, float *factor,
                               cudaStream_t stream);

/* Array of np device pointers base + k * stride_elems * elem_bytes (for the batched
 * cuSOLVER / cuBLAS calls). ptrs: device array of np pointers. */
cudaError_t padim_k_pointer_array(void *base, int np, int64_t stride_bytes, void **ptrs,
                                  cudaStream_t stream);

/* Fused Mahalanobis distance (twin of op_mahalanobis_cpu): one block per position; the
 * images of the batch go through in tiles whose (x - mu) sit in shared memory, each warp
 * forms rows of y = L^-1 (x - mu) from the packed factor; dist = sqrt(max(0, ||y||^2)).
 * emb (N, P, D), mean (P, D), factor (P, T), dist (N, P). */
cudaError_t padim_k_mahalanobis(const float *emb, int N, int P, int D, const float *mean,
                                const float *factor, float *dist, cudaStream_t stream);

/* Bilinear upsampling, align_corners=False (twin of op_upsample_bilinear_cpu).
 * in (N, H, W) -> out (N, S, S). */
cudaError_t padim_k_upsample_bilinear(const float *in, int N, int H, int W, int S, float *out,
                                      cudaStream_t stream);

/* Gaussian weights of op_gaussian_blur_cpu computed on the host: radius = int(4 sigma +
 * 0.5), w (2 * radius + 1) normalized, in float64 then rounded. Returns the radius; w must
 * hold 2 * radius + 1 floats (call with w = NULL to get the radius only). */
int padim_gaussian_weights(double sigma, float *w);

/* Separable Gaussian blur in place on maps (N, S, S), tmp (N, S, S) scratch, weights
 * (2 * radius + 1) device. pad_mode 0: torch reflect (edge not repeated); 1: scipy
 * reflect (edge repeated). */
cudaError_t padim_k_gaussian_blur(float *maps, float *tmp, int N, int S, const float *weights,
                                  int radius, int pad_mode, cudaStream_t stream);

/* scores (N) = max over each map of maps (N, S, S). */
cudaError_t padim_k_map_max(const float *maps, int N, int S, float *scores, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
