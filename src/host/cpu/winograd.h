/*
 * winograd.h - 3x3 stride-1 pad-1 convolution by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray 2016), on one image's NCHW planes (winograd.c).
 *
 * Each 2x2 output tile costs 16 multiplies per (input, output) channel pair instead of 36:
 *   Y = A^T [ (G g G^T) . (B^T d B) ] A     for a 4x4 input patch d and a 3x3 filter g,
 * where the product is elementwise and, summed over the input channels, becomes 16 GEMMs
 * (one per position of the 4x4 transformed tile):
 *   M[xi] (K, tiles) = U[xi] (K, C) x V[xi] (C, tiles).
 * The transform matrices hold 0, +-1 and 1/2 only, so the transforms add no rounding of
 * their own beyond float32 sums of at most 4 terms (the filter transform is done once, in
 * double). Float32 products and float32 accumulation as the direct path; the error against
 * the direct convolution is measured in tests/test_backbone.c and benchmarks/RESULTS.md.
 */
#ifndef PADIM_WINOGRAD_H
#define PADIM_WINOGRAD_H

#include "common.h"

#include <stdint.h>

/* The 4x4 transformed filter G g G^T of one 3x3 filter g (row-major), in double, rounded
 * once to float: u[xi], xi = 4 i + j. Shared by both Winograd layouts. */
void wino_filter_tile(const float *g, float u[16]);

/* Distance in floats between the 16 matrices of a transformed chunk (V or M) of f floats
 * each: f rounded up to 16 and offset by 16 more, so that the 16 streams of a transform
 * are not a power of two apart (they would share L1 sets: measured 5x slower transforms
 * at 64 channels). (The blocked layout, tile-major, pads its rows instead.) */
static inline int64_t wino_xi_stride(int64_t f) { return (f + 15) / 16 * 16 + 16; }

/* U (16, K, C) from w (K, C, 3, 3). Allocates *U (free()). */
padim_status wino_filters(const float *w, int K, int C, float **U);

/* Floats of scratch each thread needs for a C -> K conv on H x W. */
int64_t wino_scratch_floats(int C, int K, int H, int W, int threads);

/* out (K, H, W) [+]= conv3x3(x (C, H, W)) + bias (+ res), ReLU when relu. accumulate:
 * out already holds a partial sum (the downsample branch), added before the ReLU.
 * scratch[t]: wino_scratch_floats floats for each of `threads` OpenMP threads. */
void wino_conv3x3(const float *U, const float *bias, const float *x, int C, int H, int W, int K, float *out,
                  const float *res, int accumulate, int relu, float *const *scratch, int threads);

#endif
