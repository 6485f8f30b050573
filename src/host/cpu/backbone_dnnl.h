/*
 * backbone_dnnl.h - the CPU backbone through oneDNN (backbone_dnnl.c): the same forward
 * pass as bb_forward_cpu (conv1 .. layer3, folded BatchNorm), as oneDNN's direct
 * convolutions on blocked layouts with fused bias, residual sum and ReLU. Built when CMake
 * finds oneDNN (PADIM_DNNL, Debian's libdnnl-dev); bb_forward_cpu stays the reference.
 *
 * A net is made for one weights set, side S and thread count; plans (primitives, weights
 * in the layout the primitives chose, activation buffers) are made per batch size on
 * first use and kept (two at most: the full batch and the last, shorter one).
 */
#ifndef PADIM_BACKBONE_DNNL_H
#define PADIM_BACKBONE_DNNL_H

#include "weights.h"

typedef struct bb_dnnl_net bb_dnnl_net;

/* fp32 nets run the 3x3 stride-1 convolutions with at least this many input channels (64:
 * all of them in ResNet-18 and Wide-ResNet-50-2) by our Winograd F(4x4, 3x3) on the blocked
 * layout (winograd_blocked.h) instead of oneDNN's direct kernel; PADIM_WINOGRAD_MIN in the
 * environment overrides it (0: never). Speed and error per layer, and the bottle scores
 * against the PyTorch reference, in benchmarks/RESULTS.md. */
#define BB_DNNL_WINOGRAD_MIN 64
/* Their tile: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3); PADIM_WINOGRAD_TILE overrides it. */
#define BB_DNNL_WINOGRAD_TILE 4

/* 1 when this build has the oneDNN backbone. */
int bb_dnnl_available(void);

/* The processor's instruction set as oneDNN sees it ("avx2", "avx512_core_amx", ...). */
const char *bb_dnnl_isa(void);

/* 1 when the processor has native bf16 dot products (AVX512-BF16 or AMX). */
int bb_dnnl_has_bf16(void);

/* bf16: activations and weights rounded to bfloat16, products accumulated in float32
 * (AVX512-BF16 / AMX); refused with a clear error where bb_dnnl_has_bf16() is 0. */
padim_status bb_dnnl_create(const bb_weights *w, int S, int threads, int bf16, bb_dnnl_net **out);

/* Make the plan for batch n now (primitives, weight layouts, Winograd filters, buffers:
 * about 0.3 s for ResNet-18 at n = 16 on 2 cores), so that the first forward pass of that
 * size does not pay for it. */
padim_status bb_dnnl_prepare(bb_dnnl_net *net, int n);

/* Same contract as bb_forward_cpu: x (n, 3, S, S) -> l1, l2, l3 (NCHW). */
padim_status bb_dnnl_forward(bb_dnnl_net *net, const float *x, int n, float *l1, float *l2,
                             float *l3);

void bb_dnnl_destroy(bb_dnnl_net *net);

#endif
