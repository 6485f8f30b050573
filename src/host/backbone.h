/*
 * backbone.h - the two backbones (torchvision ResNet-18 and Wide-ResNet-50-2, eval mode,
 * conv1 .. layer3) as a flat list of convolutions plus the residual blocks that use them,
 * as data (backbone_spec.c). The spec is shared by the weights loader (weights.h), the CPU
 * forward pass (cpu/backbone_cpu.h) and the cuDNN forward pass (cuda/cuda_backbone.c).
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

/* One row of the backbone table: everything that differs between backbones. The layer
 * list (bb_spec) is derived from it; the channel counts of the row are checked against
 * the derived spec by test_backbone. */
typedef enum bb_block_kind { BB_BLOCK_BASIC = 0, BB_BLOCK_BOTTLENECK = 1 } bb_block_kind;
typedef struct bb_info {
    padim_backbone_kind kind;
    const char *name;         /* "resnet18": config, CLI, model metadata */
    const char *aliases;      /* other accepted names, space separated ("wrn50") */
    const char *title;        /* "ResNet-18": tables */
    bb_block_kind block;
    int blocks[3];            /* residual blocks of layer1..3 */
    int width_factor;         /* inner width = planes * width_factor (bottleneck) */
    int channels[3];          /* C1, C2, C3 */
    int default_d;            /* channels kept by default (anomalib's n_features) */
    const char *weights_file; /* converted weights in weights/ */
} bb_info;

/* The row of kind, or NULL for an unknown kind. */
const bb_info *bb_info_of(padim_backbone_kind kind);
/* The row whose name or alias is s, or NULL. */
const bb_info *bb_info_find(const char *s);

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

/* Feature grid sizes at input side S: layer1 S/4, layer2 S/8, layer3 S/16 (ceil as
 * torch computes with the paddings above). */
void bb_feature_sizes(int S, int *h1, int *h2, int *h3);

#endif
