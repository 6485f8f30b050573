/*
 * winograd_blocked.h - F(2x2, 3x3) or F(4x4, 3x3) convolution (see winograd.h for the
 * method; F(4x4, 3x3) is Lavin and Gray's, 36 multiplies per 16 outputs instead of 144) on the
 * channel-blocked layouts of the oneDNN backbone (nChw8c / nChw16c: the channels of a
 * pixel in blocks of BS contiguous floats), for backbone_dnnl.c (winograd_blocked.c).
 *
 * Blocked, the transforms run BS channels at a time in SIMD registers, and the T*T GEMMs
 * take tiles as rows: V[xi] (Tc, C) x U[xi] (C, K) -> M[xi] (Tc, K), so that V and M are
 * written and read BS channels at a time as well. The bias, the residual sum (dst already
 * holds the shortcut) and the ReLU are fused into the output transform, as oneDNN's post-ops.
 */
#ifndef PADIM_WINOGRAD_BLOCKED_H
#define PADIM_WINOGRAD_BLOCKED_H

#include "common.h"

#include <stdint.h>

/* m: outputs per tile side, 2 for F(2x2, 3x3) or 4 for F(4x4, 3x3) (T = m + 2 inputs). */

/* U (T*T, C, K) from w (K, C, 3, 3). Allocates *U (free()). */
padim_status winob_filters(const float *w, int K, int C, int m, float **U);

/* Tiles per chunk (the GEMMs' rows): measured best of 32..256 for F(4x4, 3x3) on the
 * 2-core AVX2 machine (benchmarks/RESULTS.md). */
#define WINOB_CHUNK 64

/* Floats of scratch per thread for a C -> K conv with tile m and chunks of `chunk` tiles. */
int64_t winob_scratch_floats(int C, int K, int m, int chunk);

/* dst (n, K, H, W) = conv3x3(src (n, C, H, W)) + bias [+ dst when sum], ReLU when relu;
 * both blocked by bs (8 or 16; C and K multiples of bs). scratch: threads times
 * winob_scratch_floats floats, in one block. OpenBLAS must be single-threaded. */
void winob_conv3x3(const float *U, const float *bias, const float *src, int n, int C, int H, int W, int K,
                   float *dst, int sum, int relu, int bs, int m, int chunk, float *scratch, int threads);

#endif
