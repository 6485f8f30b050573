/*
 * backbone_spec.c - the layer lists of torchvision ResNet-18 and Wide-ResNet-50-2 up to
 * layer3 (see backbone.h), in torchvision tensor names.
 */
#include "backbone.h"

#include <stdio.h>
#include <string.h>

static int add_conv(bb_spec *s, const char *name, const char *bn, int cout, int cin, int k,
                    int stride) {
    bb_conv_spec *c = &s->convs[s->n_convs];
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->bn, sizeof(c->bn), "%s", bn);
    c->cout = cout;
    c->cin = cin;
    c->k = k;
    c->stride = stride;
    c->pad = k / 2; /* 7x7 -> 3, 3x3 -> 1, 1x1 -> 0 */
    return s->n_convs++;
}

void bb_spec_init(bb_spec *s, padim_backbone_kind kind) {
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    add_conv(s, "conv1", "bn1", 64, 3, 7, 2);
    const int bottleneck = kind == PADIM_BACKBONE_WIDE_RESNET50_2;
    const int r18_blocks[3] = {2, 2, 2}, wrn_blocks[3] = {3, 4, 6};
    int inplanes = 64;
    char name[48], bn[48];
    for (int layer = 0; layer < 3; layer++) {
        const int planes = 64 << layer;
        const int stride = layer == 0 ? 1 : 2;
        const int nb = bottleneck ? wrn_blocks[layer] : r18_blocks[layer];
        const int out = bottleneck ? planes * 4 : planes;
        const int width = bottleneck ? planes * 2 : planes; /* wide_resnet50_2: width x2 */
        s->n_blocks[layer] = nb;
        s->channels[layer] = out;
        for (int b = 0; b < nb; b++) {
            bb_block *blk = &s->blocks[layer][b];
            const int st = b == 0 ? stride : 1;
            const int in = b == 0 ? inplanes : out;
#define CONV(suffix, bnsuffix, co, ci, k, strd)                                        \
    (snprintf(name, sizeof(name), "layer%d.%d.%s", layer + 1, b, suffix),              \
     snprintf(bn, sizeof(bn), "layer%d.%d.%s", layer + 1, b, bnsuffix),                \
     add_conv(s, name, bn, co, ci, k, strd))
            if (bottleneck) {
                blk->a = CONV("conv1", "bn1", width, in, 1, 1);
                blk->b = CONV("conv2", "bn2", width, width, 3, st); /* torchvision v1.5 */
                blk->c = CONV("conv3", "bn3", out, width, 1, 1);
            } else {
                blk->a = CONV("conv1", "bn1", out, in, 3, st);
                blk->b = CONV("conv2", "bn2", out, out, 3, 1);
                blk->c = -1;
            }
            blk->down = (b == 0 && (st != 1 || in != out))
                            ? CONV("downsample.0", "downsample.1", out, in, 1, st)
                            : -1;
#undef CONV
        }
        inplanes = out;
    }
}

int bb_channels_total(const bb_spec *s) { return s->channels[0] + s->channels[1] + s->channels[2]; }

void bb_feature_sizes(int S, int *h1, int *h2, int *h3) {
    /* conv1 7x7/2 pad 3: floor((S + 6 - 7) / 2) + 1; maxpool 3x3/2 pad 1: same form;
     * stride-2 3x3 pad 1 (or 1x1 pad 0) convs: floor((h - 1) / 2) + 1. */
    int h = (S - 1) / 2 + 1;
    h = (h - 1) / 2 + 1;
    *h1 = h;
    h = (h - 1) / 2 + 1;
    *h2 = h;
    h = (h - 1) / 2 + 1;
    *h3 = h;
}
