/*
 * ops.h - the PaDiM operations of the CPU backend: the specification every CUDA kernel is
 * tested against (each has a twin in src/kernels/kernels.h with the same arguments on
 * device pointers). Plain loops named after the math, BLAS/LAPACK where they fit.
 *
 * Letters: N images, C backbone channels, D kept channels, H, W the layer1 grid,
 * P = H*W positions, S the preprocessed side, T = D*(D+1)/2 packed-triangle length.
 * Packed triangles are lower, row-major: element (i, j), j <= i, at i*(i+1)/2 + j.
 */
#ifndef PADIM_OPS_H
#define PADIM_OPS_H

#include "padim.h"
#include "shared_math.h"

#include <stdint.h>

/* Embedding: nearest-upsample l2 and l3 to the l1 grid (src = floor(dst * in / out), as
 * torch's mode="nearest"), concatenate channels [l1 | l2 | l3], keep channels idx.
 * l1 (N, C1, H, W), l2 (N, C2, H2, W2), l3 (N, C3, H3, W3), idx (D) in [0, C1+C2+C3)
 * out (N, P, D): out[n][p][d] = concat[n][idx[d]][p]. threads: OpenMP threads over
 * (image, position tile). */
void op_embed_cpu(const float *l1, const float *l2, const float *l3, int N, int C1, int C2,
                  int C3, int H, int W, int H2, int W2, int H3, int W3, const int32_t *idx,
                  int D, float *out, int threads);

/* Streaming statistics, shifted sums in float64 (numerics: the shift is the first
 * image's embedding, so sums are of small centered values; float64 accumulation keeps
 * the cancellation in S2 - S1 S1^T / N harmless for any N).
 * shift (P, D) float: set by the caller from the first image before the first call.
 * emb (N, P, D); s1 (P, D) double += sum_n (x - shift); s2 (P, T) double += packed lower
 * triangle of sum_n (x - shift)(x - shift)^T. */
void op_stats_accumulate_cpu(const float *emb, int N, int P, int D, const float *shift,
                             double *s1, double *s2, int threads);

/* Finalize: mean = shift + s1 / n; cov = (s2 - s1 s1^T / n) / (n - 1) + eps I
 * (unbiased; n >= 2); Cholesky cov = L L^T (float64, LAPACK); factor = L^-1 (lower),
 * stored packed as float. mean (P, D), factor (P, T).
 * On a non-positive-definite matrix returns PADIM_ERR_NUMERIC naming the position. */
padim_status op_stats_finalize_cpu(int64_t n, int P, int D, const float *shift,
                                   const double *s1, const double *s2, double eps,
                                   float *mean, float *factor, int threads);

/* Mahalanobis distance: dist[n][p] = sqrt(max(0, || factor_p (x - mean_p) ||^2)).
 * emb (N, P, D), mean (P, D), factor (P, T), dist (N, P). */
void op_mahalanobis_cpu(const float *emb, int N, int P, int D, const float *mean,
                        const float *factor, float *dist, int threads);

/* Bilinear upsampling, align_corners=False (torch semantics, source index clamped at 0).
 * in (N, H, W) -> out (N, S, S). */
void op_upsample_bilinear_cpu(const float *in, int N, int H, int W, int S, float *out);

/* Gaussian blur, separable, normalized kernel of 2*radius+1 taps, radius =
 * int(4 * sigma + 0.5). pad_mode 0: torch "reflect" (mirror, edge not repeated);
 * 1: scipy "reflect" (half-sample symmetric, edge repeated). In place on (N, S, S).
 * Any S >= 1: when radius >= S the reflection repeats (index folded by the period 2(S-1),
 * resp. 2S), as SciPy does; torch refuses that case. Accumulation in double, rounded to
 * float after each of the two passes. */
void op_gaussian_blur_cpu(float *maps, int N, int S, double sigma, int pad_mode, int threads);

/* scores[n] = max over the map (N, S, S). */
void op_map_max_cpu(const float *maps, int N, int S, float *scores);

#endif
