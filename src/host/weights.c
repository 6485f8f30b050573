/*
 * weights.c - backbone weights (see backbone.h): load a safetensors file with torchvision
 * names, folding BatchNorm into the convolutions; seeded random weights for tests and
 * benchmarks; writing weights back into a safetensors writer (model files).
 *
 * BatchNorm folding (eval mode, eps 1e-5 as torchvision's BatchNorm2d), per out channel o,
 * computed in double and rounded once to float:
 *   scale[o] = gamma[o] / sqrt(running_var[o] + eps)
 *   w'[o]    = w[o] * scale[o]
 *   b'[o]    = beta[o] + (conv_bias[o] - running_mean[o]) * scale[o]   (conv_bias 0 if absent)
 * so conv(x, w') + b' == BN(conv(x, w) + conv_bias).
 */
#include "weights.h"

#include "common.h"
#include "half.h"
#include "safetensors.h"
#include "st_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_EPS 1e-5

/* Read tensor `name` (already prefixed) of exactly `shape` as float. */
static padim_status read_floats(const st_file *f, const char *name, int ndim, const int64_t *shape,
                                padim_backbone_kind kind, float *dst) {
    const st_tensor *t = st_find(f, name);
    if (!t)
        return padim_fail(PADIM_ERR_MISMATCH,
                          "%s: tensor '%s' is missing (is this a %s checkpoint with torchvision "
                          "tensor names?)",
                          f->path, name, padim_backbone_name(kind));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[96], got[96];
        st_format_shape(want, sizeof(want), ndim, shape);
        st_format_shape(got, sizeof(got), t->ndim, t->shape);
        return padim_fail(PADIM_ERR_MISMATCH,
                          "%s: tensor '%s': expected shape %s, found %s (does the file hold %s "
                          "weights?)",
                          f->path, name, want, got, padim_backbone_name(kind));
    }
    size_t count = t->nbytes / st_dtype_size(t->dtype);
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, src, count * sizeof(float)); break;
    case ST_F16:
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = padim_f16_to_f32(h);
        }
        break;
    case ST_BF16:
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            uint32_t x = (uint32_t)h << 16;
            memcpy(&dst[i], &x, 4);
        }
        break;
    default:
        return padim_fail(PADIM_ERR_MISMATCH,
                          "%s: tensor '%s': expected dtype F32 (or F16/BF16), found %s", f->path,
                          name, st_dtype_name(t->dtype));
    }
    return PADIM_OK;
}

/* Load conv i into w->w[i], w->b[i] (allocated by the caller), folding BN if present. */
static padim_status load_conv(const st_file *f, const char *prefix, bb_weights *w, int i) {
    const bb_conv_spec *c = &w->spec.convs[i];
    const padim_backbone_kind kind = w->spec.kind;
    char name[192];
    const int64_t wshape[4] = {c->cout, c->cin, c->k, c->k};
    const int64_t bshape[1] = {c->cout};
    snprintf(name, sizeof(name), "%s%s.weight", prefix, c->name);
    PADIM_TRY(read_floats(f, name, 4, wshape, kind, w->w[i]));

    char bias_name[192], bn_name[192];
    snprintf(bias_name, sizeof(bias_name), "%s%s.bias", prefix, c->name);
    snprintf(bn_name, sizeof(bn_name), "%s%s.weight", prefix, c->bn);
    const int has_bias = st_find(f, bias_name) != NULL;
    if (!st_find(f, bn_name)) {
        if (!has_bias)
            return padim_fail(PADIM_ERR_MISMATCH,
                              "%s: tensor '%s' is missing, and so is '%s': each convolution "
                              "needs either its BatchNorm (%s%s.{weight,bias,running_mean,"
                              "running_var}) or a folded bias",
                              f->path, bn_name, bias_name, prefix, c->bn);
        return read_floats(f, bias_name, 1, bshape, kind, w->b[i]); /* already folded */
    }

    float *bn = NULL; /* gamma, beta, mean, var, conv bias: 5 x (cout) */
    PADIM_TRY(padim_calloc((void **)&bn, 5 * (size_t)c->cout * sizeof(float), "BatchNorm folding"));
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    padim_status st = PADIM_OK;
    for (int p = 0; p < 4 && st == PADIM_OK; p++) {
        snprintf(name, sizeof(name), "%s%s.%s", prefix, c->bn, parts[p]);
        st = read_floats(f, name, 1, bshape, kind, bn + (size_t)p * c->cout);
    }
    if (st == PADIM_OK && has_bias) st = read_floats(f, bias_name, 1, bshape, kind, bn + 4 * (size_t)c->cout);
    const float *gamma = bn, *beta = bn + c->cout, *mean = bn + 2 * c->cout,
                *var = bn + 3 * c->cout, *cbias = bn + 4 * c->cout;
    const size_t per_out = (size_t)c->cin * c->k * c->k;
    for (int o = 0; o < c->cout && st == PADIM_OK; o++) {
        if (!(var[o] + BN_EPS > 0) || !isfinite(var[o])) {
            st = padim_fail(PADIM_ERR_FORMAT,
                            "%s: tensor '%s%s.running_var'[%d] = %g: a variance must be >= 0", f->path,
                            prefix, c->bn, o, (double)var[o]);
            break;
        }
        const double scale = (double)gamma[o] / sqrt((double)var[o] + BN_EPS);
        float *wo = w->w[i] + (size_t)o * per_out;
        for (size_t j = 0; j < per_out; j++) wo[j] = (float)((double)wo[j] * scale);
        w->b[i][o] = (float)((double)beta[o] + ((double)cbias[o] - (double)mean[o]) * scale);
    }
    free(bn);
    return st;
}

static padim_status alloc_weights(padim_backbone_kind kind, bb_weights *out) {
    memset(out, 0, sizeof(*out));
    bb_spec_init(&out->spec, kind);
    for (int i = 0; i < out->spec.n_convs; i++) {
        const bb_conv_spec *c = &out->spec.convs[i];
        size_t nw = (size_t)c->cout * c->cin * c->k * c->k;
        padim_status st = padim_alloc_aligned((void **)&out->w[i], nw * sizeof(float), "conv weights");
        if (st == PADIM_OK)
            st = padim_alloc_aligned((void **)&out->b[i], (size_t)c->cout * sizeof(float), "conv bias");
        if (st != PADIM_OK) {
            bb_weights_free(out);
            return st;
        }
    }
    return PADIM_OK;
}

padim_status bb_weights_from_st(const st_file *f, const char *prefix, padim_backbone_kind kind,
                                bb_weights *out) {
    PADIM_TRY(alloc_weights(kind, out));
    for (int i = 0; i < out->spec.n_convs; i++) {
        padim_status st = load_conv(f, prefix, out, i);
        if (st != PADIM_OK) {
            bb_weights_free(out);
            return st;
        }
    }
    return PADIM_OK;
}

padim_status bb_weights_load(const char *path, padim_backbone_kind kind, bb_weights *out) {
    memset(out, 0, sizeof(*out));
    st_file f;
    PADIM_TRY(st_read(path, &f));
    /* Model files store the backbone under "backbone."; plain weight files have no prefix. */
    const char *prefix =
        !st_find(&f, "conv1.weight") && st_find(&f, "backbone.conv1.weight") ? "backbone." : "";
    padim_status st = bb_weights_from_st(&f, prefix, kind, out);
    st_free(&f);
    return st;
}

padim_status bb_weights_to_st(const bb_weights *w, st_writer *wr, const char *prefix) {
    char name[192];
    for (int i = 0; i < w->spec.n_convs; i++) {
        const bb_conv_spec *c = &w->spec.convs[i];
        const int64_t wshape[4] = {c->cout, c->cin, c->k, c->k};
        const int64_t bshape[1] = {c->cout};
        snprintf(name, sizeof(name), "%s%s.weight", prefix, c->name);
        PADIM_TRY(st_writer_add(wr, name, ST_F32, 4, wshape, w->w[i]));
        snprintf(name, sizeof(name), "%s%s.bias", prefix, c->name);
        PADIM_TRY(st_writer_add(wr, name, ST_F32, 1, bshape, w->b[i]));
    }
    return PADIM_OK;
}

/* splitmix64: the generator of bb_weights_random, simple enough to reproduce in NumPy. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): 24 random bits. */
static float uniform_pm1(uint64_t *state) {
    return (float)((double)(splitmix64(state) >> 40) * (1.0 / 8388608.0) - 1.0);
}

padim_status bb_weights_random(padim_backbone_kind kind, uint32_t seed, bb_weights *out) {
    PADIM_TRY(alloc_weights(kind, out));
    /* One splitmix64 stream from `seed`, conv by conv in spec order, weights then biases.
     * Weights: Kaiming-uniform for ReLU, U(-a, a) with a = sqrt(6 / fan_in), so activations
     * keep their scale through each conv. Biases: U(-0.1, 0.1), nonzero so that a bias
     * dropped anywhere shows in a comparison. */
    uint64_t state = seed;
    for (int i = 0; i < out->spec.n_convs; i++) {
        const bb_conv_spec *c = &out->spec.convs[i];
        const size_t fan_in = (size_t)c->cin * c->k * c->k;
        const float a = (float)sqrt(6.0 / (double)fan_in);
        for (size_t j = 0; j < (size_t)c->cout * fan_in; j++) out->w[i][j] = a * uniform_pm1(&state);
        for (int o = 0; o < c->cout; o++) out->b[i][o] = 0.1f * uniform_pm1(&state);
    }
    return PADIM_OK;
}

void bb_weights_free(bb_weights *w) {
    if (!w) return;
    for (int i = 0; i < BB_MAX_CONVS; i++) {
        free(w->w[i]);
        free(w->b[i]);
        w->w[i] = w->b[i] = NULL;
    }
}

int64_t bb_weights_count(const bb_weights *w) {
    int64_t n = 0;
    for (int i = 0; i < w->spec.n_convs; i++) {
        const bb_conv_spec *c = &w->spec.convs[i];
        n += (int64_t)c->cout * c->cin * c->k * c->k + c->cout;
    }
    return n;
}
