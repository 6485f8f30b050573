/*
 * padim_internal.h - the model object behind padim.h's opaque padim_model, shared by the
 * pipeline (padim.c), the model file (model.c) and evaluation. Not installed.
 */
#ifndef PADIM_INTERNAL_H
#define PADIM_INTERNAL_H

#include "weights.h"
#include "padim.h"

#include <stdint.h>

#define PADIM_MODEL_FORMAT "padim-gpu-model"
#define PADIM_MODEL_VERSION 1

struct padim_model {
    padim_config cfg;
    bb_weights weights;  /* folded backbone, conv1 .. layer3 (stored in the model file) */
    int S;               /* preprocessed input side */
    int H, W, P;         /* layer1 grid */
    int C;               /* C1 + C2 + C3 */
    int D;
    int32_t *idx;        /* (D) */
    float *mean;         /* (P, D) */
    float *factor;       /* (P, T) packed lower L^-1, float32 in memory */
    int64_t n_train;
    int has_thresholds;
    double image_threshold, pixel_threshold, score_min, score_max; /* evaluation (F1 on test) */
    padim_calibration calibration;                                  /* good images only */
    int64_t file_bytes;
};

/* Score n image files with s: each thread decodes and preprocesses one image at a time
 * (decoded pixels bounded by the threads and the decoding budget, not by the batch), with
 * the decoding options of s's runtime and model (padim_decode_options_resolve). sizes:
 * NULL or (n, 2) width, height of each file; scores (n); maps NULL or (n, S, S). */
padim_status pipeline_score_files(padim_scorer *s, const char *const *paths, int64_t n, int *sizes,
                                  float *scores, float *maps);

/* Allocate a model's arrays for cfg (weights loaded by the caller). */
padim_status padim_model_alloc(const padim_config *cfg, padim_model **out);

#endif
