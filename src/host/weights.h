/*
 * weights.h - the backbone's weights (weights.c): every convolution of a bb_spec with
 * BatchNorm folded in, loaded from a safetensors file with torchvision/timm names, written
 * into a model file, or generated at random for tests and benchmarks.
 */
#ifndef PADIM_WEIGHTS_H
#define PADIM_WEIGHTS_H

#include "backbone.h"

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

#endif
