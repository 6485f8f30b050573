/*
 * backbone_cpu.h - the CPU forward pass of the backbone (backbone_cpu.c): im2col + SGEMM
 * per convolution, the reference the cuDNN program is tested against.
 */
#ifndef PADIM_BACKBONE_CPU_H
#define PADIM_BACKBONE_CPU_H

#include "weights.h"

/* CPU forward pass, conv1 .. layer3, on n images.
 * x:  (n, 3, S, S) normalized input
 * l1: (n, C1, h1, h1), l2: (n, C2, h2, h2), l3: (n, C3, h3, h3) outputs
 * threads: worker threads for im2col / GEMM. Allocates its scratch internally per call
 * (bounded by one image's largest activation times the thread count). */
padim_status bb_forward_cpu(const bb_weights *w, const float *x, int n, int S, int threads,
                            float *l1, float *l2, float *l3);

#endif
