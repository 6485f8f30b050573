/*
 * backbone_spec.c - the backbone table (one row per backbone: name, channels, default d,
 * block kind, weights file) and the layer lists derived from it, torchvision ResNet-18 and
 * Wide-ResNet-50-2 up to layer3 (see backbone.h), in torchvision tensor names. Adding a
 * backbone of the ResNet family is one row here (and its weights).
 */
#include "backbone.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

static const bb_info BACKBONES[] = {
    {PADIM_BACKBONE_RESNET18, "resnet18", "", "ResNet-18", BB_BLOCK_BASIC, {2, 2, 2}, 1,
     {64, 128, 256}, 100, "resnet18_tv_in1k.safetensors"},
    {PADIM_BACKBONE_WIDE_RESNET50_2, "wide_resnet50_2", "wrn50 wide_resnet50", "Wide ResNet-50",
     BB_BLOCK_BOTTLENECK, {3, 4, 6}, 2, {256, 512, 1024}, 550, "wide_resnet50_2_tv_in1k.safetensors"},
};
enum { N_BACKBONES = (int)(sizeof(BACKBONES) / sizeof(BACKBONES[0])) };

const bb_info *bb_info_of(padim_backbone_kind kind) {
    for (int i = 0; i < N_BACKBONES; i++)
        if (BACKBONES[i].kind == kind) return &BACKBONES[i];
    return NULL;
}

static int alias_match(const char *aliases, const char *s) {
    const size_t n = strlen(s);
    for (const char *a = aliases; *a;) {
        const size_t len = strcspn(a, " ");
        if (len == n && !strncmp(a, s, n)) return 1;
        a += len;
        a += strspn(a, " ");
    }
    return 0;
}

const bb_info *bb_info_find(const char *s) {
    for (int i = 0; s && i < N_BACKBONES; i++)
        if (!strcmp(BACKBONES[i].name, s) || alias_match(BACKBONES[i].aliases, s)) return &BACKBONES[i];
    return NULL;
}

const char *padim_backbone_name(padim_backbone_kind k) {
    const bb_info *b = bb_info_of(k);
    return b ? b->name : NULL;
}
const char *padim_backbone_title(padim_backbone_kind k) {
    const bb_info *b = bb_info_of(k);
    return b ? b->title : NULL;
}
int padim_backbone_channels(padim_backbone_kind k) {
    const bb_info *b = bb_info_of(k);
    return b ? b->channels[0] + b->channels[1] + b->channels[2] : 0;
}
int padim_backbone_default_d(padim_backbone_kind k) {
    const bb_info *b = bb_info_of(k);
    return b ? b->default_d : 0;
}
const char *padim_backbone_weights_file(padim_backbone_kind k) {
    const bb_info *b = bb_info_of(k);
    return b ? b->weights_file : NULL;
}

padim_status padim_backbone_parse(const char *s, padim_backbone_kind *out) {
    const bb_info *b = bb_info_find(s);
    if (b) {
        *out = b->kind;
        return PADIM_OK;
    }
    char known[256] = "";
    for (int i = 0; i < N_BACKBONES; i++)
        snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "", BACKBONES[i].name);
    return padim_fail(PADIM_ERR_ARG, "unknown backbone '%s' (expected one of: %s)", s ? s : "(null)", known);
}

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
    const bb_info *info = bb_info_of(kind);
    PADIM_ASSERT(info != NULL); /* kinds come from padim_backbone_parse or the enum */
    s->kind = kind;
    add_conv(s, "conv1", "bn1", 64, 3, 7, 2);
    const int bottleneck = info->block == BB_BLOCK_BOTTLENECK;
    int inplanes = 64;
    char name[48], bn[48];
    for (int layer = 0; layer < 3; layer++) {
        const int planes = 64 << layer;
        const int stride = layer == 0 ? 1 : 2;
        const int nb = info->blocks[layer];
        const int out = bottleneck ? planes * 4 : planes; /* expansion 4 */
        const int width = planes * info->width_factor;     /* wide_resnet50_2: width x2 */
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
