/*
 * backend.h - the PaDiM-level backend interface. The pipeline (pipeline.c) drives fitting
 * and scoring through this table only; cpu/backend_cpu.c (the reference) and cuda/backend_cuda.c
 * fill it. The pipeline never includes a CUDA header.
 *
 * Data crossing the interface is host memory: preprocessed image batches in, model
 * statistics and distance maps / scores out. What stays between calls (weights, idx,
 * accumulators, the model's mean and factor) lives in the backend's context, on the
 * device for CUDA.
 */
#ifndef PADIM_BACKEND_H
#define PADIM_BACKEND_H

#include "weights.h"
#include "padim.h"

#include <stdint.h>

/* What a backend needs to know about the model it runs. */
typedef struct backend_setup {
    const bb_weights *weights; /* folded backbone weights */
    int S;                     /* preprocessed input side */
    int H, W;                  /* layer1 grid, P = H * W */
    int D;
    const int32_t *idx;        /* (D) */
    int max_batch;             /* largest n passed to fit_batch / score_batch */
    double sigma;              /* map blur */
    int pad_mode;              /* 0 torch reflect, 1 scipy reflect */
    const padim_runtime *rt;
} backend_setup;

/* The sizes every backend derives from its setup, derived once (backend.c). */
typedef struct backend_dims {
    int S, H, W, P, D; /* input side, layer1 grid, P = H * W, kept channels */
    int h2, h3;        /* layer2 / layer3 grid sides */
    int64_t T;         /* packed-triangle length D (D + 1) / 2 */
    int max_batch;
} backend_dims;

/* The dims of s; asserts that the layer1 grid of S is s->H x s->W (a pipeline bug
 * otherwise). */
backend_dims backend_dims_of(const backend_setup *s);

typedef struct backend_ops {
    const char *name; /* "cpu", "cuda" */
    /* Create a context; on CUDA fails with PADIM_ERR_DEVICE when no GPU works. */
    padim_status (*create)(const backend_setup *setup, void **ctx);
    void (*destroy)(void *ctx);
    /* Human-readable description of the device ("cpu (2 threads)", "cuda:0 NVIDIA H100"). */
    const char *(*describe)(void *ctx);

    /* Fit: reset accumulators; add a batch of preprocessed images x (n, 3, S, S);
     * finalize into mean (P, D) and factor (P, T) host buffers (n_total >= 2). */
    padim_status (*fit_begin)(void *ctx);
    padim_status (*fit_batch)(void *ctx, const float *x, int n);
    padim_status (*fit_end)(void *ctx, double eps, int64_t *n_total, float *mean, float *factor);

    /* Score: set the model statistics once (host mean (P, D), factor (P, T) float32),
     * then score batches: x (n, 3, S, S) -> scores (n), optional dist (n, P) raw
     * distances, optional maps (n, S, S) smoothed maps. */
    padim_status (*set_stats)(void *ctx, const float *mean, const float *factor);
    padim_status (*score_batch)(void *ctx, const float *x, int n, float *scores, float *dist,
                                float *maps);
} backend_ops;

extern const backend_ops padim_backend_cpu;
/* NULL when built without CUDA. */
const backend_ops *padim_backend_cuda(void);

#endif
