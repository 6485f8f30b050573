/*
 * backbone.h - the two backbones (torchvision ResNet-18 and Wide-ResNet-50-2, eval mode,
 * conv1 .. layer3) as a flat list of convolutions plus the residual blocks that use them,
 * and their weights with BatchNorm folded in. The spec is shared by the weights loader,
 * the CPU forward pass (backbone_cpu.c) and the cuDNN forward pass (backend_cuda.c).
 *
 * Architecture (torchvision): conv1 7x7/2 pad 3 -> ReLU -> maxpool 3x3/2 pad 1 ->
 * layer1 (stride 1), layer2 (stride 2), layer3 (stride 2).
 *   ResNet-18: BasicBlock x [2, 2, 2]: conv1 3x3 (stride s) -> ReLU -> conv2 3x3,
 *     + shortcut (downsample 1x1/s when the shape changes) -> ReLU. Channels 64/128/256.
 *   Wide-ResNet-50-2: Bottleneck x [3, 4, 6], width 2x: conv1 1x1 -> ReLU -> conv2 3x3
 *     (stride s) -> ReLU -> conv3 1x1, + shortcut (downsample 1x1/s on the first block of
 *     each layer) -> ReLU. Channels out 256/512/1024, inner widths 128/256/512.
 */
#ifndef PADIM_BACKBONE_H
#define PADIM_BACKBONE_H

#include "padim.h"

#include <stdint.h>

#define BB_MAX_CONVS 64
#define BB_MAX_BLOCKS 8

typedef struct bb_conv_spec {
    char name[48];  /* torchvision name without suffix: "layer2.0.downsample.0" */
    char bn[48];    /* matching BatchNorm: "layer2.0.downsample.1", "bn1", "layer1.0.bn2" */
    int cout, cin, k, stride, pad;
} bb_conv_spec;

/* One residual block: indices into spec.convs; c = -1 for a BasicBlock, down = -1 when
 * the shortcut is the identity. */
typedef struct bb_block {
    int a, b, c, down;
} bb_block;

typedef struct bb_spec {
    padim_backbone_kind kind;
    int n_convs;
    bb_conv_spec convs[BB_MAX_CONVS]; /* convs[0] is conv1 */
    int n_blocks[3];                  /* per layer */
    bb_block blocks[3][BB_MAX_BLOCKS];
    int channels[3];                  /* C1, C2, C3 */
} bb_spec;

void bb_spec_init(bb_spec *s, padim_backbone_kind kind);
/* C1 + C2 + C3 (448 for R18, 1792 for WRN50). */
int bb_channels_total(const bb_spec *s);

/* Weights of every conv of the spec, BatchNorm folded: w (cout, cin, k, k), b (cout). */
typedef struct bb_weights {
    bb_spec spec;
    float *w[BB_MAX_CONVS];
    float *b[BB_MAX_CONVS];
} bb_weights;

/* Load from a safetensors file with torchvision/timm names. For each conv, either
 * "<name>.weight" + BatchNorm "<bn>.{weight,bias,running_mean,running_var}" (folded here,
 * BN eps 1e-5) or "<name>.weight" + "<name>.bias" (already folded). float32 (also f16/bf16
 * accepted and widened). Extra tensors (layer4, fc) are ignored. Errors name the path,
 * the tensor and expected vs actual shape/dtype. */
padim_status bb_weights_load(const char *path, padim_backbone_kind kind, bb_weights *out);
/* The same from an already-read safetensors file whose tensor names carry `prefix`
 * ("" for a weights file, "backbone." inside a model file). Errors name f->path and the
 * tensor. bb_weights_load is st_read + this with prefix "" or, when the file has
 * "backbone.conv1.weight" and no "conv1.weight", "backbone.". */
struct st_file;
padim_status bb_weights_from_st(const struct st_file *f, const char *prefix,
                                padim_backbone_kind kind, bb_weights *out);
/* Add every conv's "<prefix><name>.weight" (cout, cin, k, k) and "<prefix><name>.bias"
 * (cout) as F32 to a safetensors writer (data borrowed from w until the write). */
struct st_writer;
padim_status bb_weights_to_st(const bb_weights *w, struct st_writer *wr, const char *prefix);
/* Seeded random weights of the right shapes (tests and benchmarks without real weights). */
padim_status bb_weights_random(padim_backbone_kind kind, uint32_t seed, bb_weights *out);
void bb_weights_free(bb_weights *w);
/* Number of float parameters (weights + biases). */
int64_t bb_weights_count(const bb_weights *w);

/* Feature grid sizes at input side S: layer1 S/4, layer2 S/8, layer3 S/16 (ceil as
 * torch computes with the paddings above). */
void bb_feature_sizes(int S, int *h1, int *h2, int *h3);

/* CPU forward pass, conv1 .. layer3, on n images.
 * x:  (n, 3, S, S) normalized input
 * l1: (n, C1, h1, h1), l2: (n, C2, h2, h2), l3: (n, C3, h3, h3) outputs
 * threads: worker threads for im2col / GEMM. Allocates its scratch internally per call
 * (bounded by one image's largest activation times the thread count). */
padim_status bb_forward_cpu(const bb_weights *w, const float *x, int n, int S, int threads,
                            float *l1, float *l2, float *l3);

#endif
