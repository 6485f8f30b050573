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

/* Precomputed per weights set for bb_forward_cpu_ex: the Winograd F(2x2, 3x3) filters
 * (winograd.h) of the 3x3 stride-1 convs with at least min_channels input channels (NULL
 * elsewhere: those stay im2col + GEMM). Measured on the 2-core dev machine (R18 at
 * 256x256, batch 16, 2 threads, benchmarks/RESULTS.md): faster than im2col + GEMM at every
 * width, 1.15x at 64 channels (64x64) to 1.6x at 128 and 256; the CPU backend without
 * oneDNN uses BB_WINOGRAD_MIN_CHANNELS. */
#define BB_WINOGRAD_MIN_CHANNELS 64
typedef struct bb_cpu_prep {
    float *U[BB_MAX_CONVS];
} bb_cpu_prep;

padim_status bb_cpu_prep_make(const bb_weights *w, int min_channels, bb_cpu_prep *out);
void bb_cpu_prep_free(bb_cpu_prep *p);

/* bb_forward_cpu with the 3x3 stride-1 convs by Winograd where prep has their filters
 * (prep NULL: bb_forward_cpu, im2col + GEMM everywhere). */
padim_status bb_forward_cpu_ex(const bb_weights *w, const bb_cpu_prep *prep, const float *x, int n, int S,
                               int threads, float *l1, float *l2, float *l3);

/* Benchmark hook: when `seconds` is not NULL, both CPU backbones (this one and
 * backbone_dnnl.c) add the time of each conv to seconds[conv index] and of everything
 * else (max pool, layout reorders, shortcut copies) to seconds[BB_MAX_CONVS]. With
 * several images in flight at once (bb_forward_cpu's one image per thread), the times
 * are thread-seconds. Process-wide; for benchmarks/bench_backbone.c, not for concurrent use. */
void bb_cpu_profile(double *seconds);
double *bb_cpu_profile_get(void);

#endif
