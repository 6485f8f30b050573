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

/* Allocate a model's arrays for cfg (weights loaded by the caller). */
padim_status padim_model_alloc(const padim_config *cfg, padim_model **out);

#endif
