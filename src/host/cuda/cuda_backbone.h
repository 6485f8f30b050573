/*
 * cuda_backbone.h - the cuDNN backbone program of the CUDA backend (src/host/cuda/): the
 * spec's convolutions (backbone.h) as a list of steps over nine device buffers, run with
 * the cuDNN legacy API in NCHW, from a preprocessed batch (n, 3, S, S) to the float32
 * layer1..3 features that backend_cuda.c embeds. Owns its descriptors, weights, algorithm
 * cache, workspace and activation buffers; borrows the cuDNN handle and the stream.
 *
 * Precision: fp32 (exact: FMA math), tf32 (tensor-op math), fp16 / bf16 (every backbone
 * tensor in half / bfloat16, convolutions computing in float32; the input and the layer
 * outputs are converted on the device, so the features are float32 in every mode).
 *
 * Environment: PADIM_CUDA_UNFUSED=1 never uses the fused conv + bias + ReLU call;
 * PADIM_CUDA_REPORT=1 prints, when the program is freed, one line per convolution on
 * stderr saying whether the fused call ran or fell back to separate calls, and the cuDNN
 * status that caused the fallback (cuda_backbone_fused_report).
 */
#ifndef PADIM_CUDA_BACKBONE_H
#define PADIM_CUDA_BACKBONE_H

#include "backbone.h"
#include "padim.h"
#include "weights.h"

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The program's buffers: the input batch, two block outputs (ping-pong), conv scratch,
 * the shortcut, and the three feature layers. */
enum {
    CUDA_BUF_X, CUDA_BUF_R0, CUDA_BUF_R1, CUDA_BUF_T1, CUDA_BUF_T2, CUDA_BUF_T3,
    CUDA_BUF_L1, CUDA_BUF_L2, CUDA_BUF_L3, CUDA_BUF_COUNT
};

#define CUDA_BB_MAX_STEPS (BB_MAX_CONVS + 1)
#define CUDA_BB_ALGO_CACHE 8

/* One step: a convolution of spec.convs (or the max pool), from buffer `in` to `out`,
 * plus buffer z (residual, -1 none), then ReLU when relu. */
typedef struct cuda_bb_step {
    int conv; /* -1: max pool */
    int in, out, z, relu;
    int cin, hin, cout, hout;
    cudnnTensorDescriptor_t xdesc, ydesc; /* (n, cin, hin, hin), (n, cout, hout, hout) */
} cuda_bb_step;

/* The algorithm and math type of every conv step, for one batch size. */
typedef struct cuda_bb_algos {
    int n; /* batch size the entry is for; 0 = empty */
    cudnnConvolutionFwdAlgo_t algo[CUDA_BB_MAX_STEPS];
    cudnnMathType_t math[CUDA_BB_MAX_STEPS];
} cuda_bb_algos;

/* What one conv step ran, over the program's life. A step that ends in ReLU tries the
 * fused call until cuDNN refuses it once, then runs separate calls from then on. */
typedef struct cuda_bb_fused {
    int64_t fused, split;               /* forward calls per path */
    cudnnStatus_t refused;              /* CUDNN_STATUS_SUCCESS: never refused */
    cudnnConvolutionFwdAlgo_t refused_algo;
    int refused_n;                      /* batch size of the refused call */
} cuda_bb_fused;

typedef struct cuda_backbone {
    bb_spec spec;
    int S;
    padim_precision prec;
    cudnnHandle_t dnn;     /* borrowed */
    cudaStream_t stream;   /* borrowed; dnn is set to it */
    cudnnMathType_t math;  /* CUDNN_FMA_MATH (exact fp32) or CUDNN_TENSOR_OP_MATH */
    cudnnDataType_t dt;    /* backbone tensors: FLOAT, HALF or BFLOAT16 */
    size_t elem;           /* bytes per backbone element: 4 or 2 */
    int unfused, report, verbose;

    cudnnActivationDescriptor_t relu;
    cudnnPoolingDescriptor_t pool;
    cudnnFilterDescriptor_t wdesc[BB_MAX_CONVS];
    cudnnConvolutionDescriptor_t cdesc[BB_MAX_CONVS];
    cudnnTensorDescriptor_t bdesc[BB_MAX_CONVS]; /* (1, cout, 1, 1) */
    void *w[BB_MAX_CONVS], *b[BB_MAX_CONVS];     /* device weights, biases (type dt) */
    cuda_bb_step steps[CUDA_BB_MAX_STEPS];
    int n_steps;
    int64_t buf_per_image[CUDA_BUF_COUNT]; /* elements per image each buffer must hold */
    cuda_bb_fused fused[CUDA_BB_MAX_STEPS];
    int desc_n; /* batch size the step descriptors are set for */
    cuda_bb_algos algos[CUDA_BB_ALGO_CACHE];
    int algo_next;
    const cuda_bb_algos *cur_algo;

    /* batch buffers (B images), cuda_backbone_alloc_batch */
    int B;
    void *buf[CUDA_BUF_COUNT]; /* type dt: CUDA_BUF_X (B, 3, S, S); others per buf_per_image */
    /* fp16/bf16 only (NULL in fp32/tf32, where buf[] is float32 and used directly): */
    float *x32;       /* (B, 3, S, S) float32 input batch, converted into buf[CUDA_BUF_X] */
    float *feat32[3]; /* layer1..3 outputs converted to float32 */
    void *ws;         /* cuDNN workspace */
    size_t ws_bytes;
} cuda_backbone;

/* "fp32", "tf32", "fp16", "bf16"; NULL for a value outside padim_precision. */
const char *cuda_backbone_precision_name(padim_precision prec);

/* Build the program for input side S (wt->spec) in precision prec (checked by the caller:
 * one of padim_precision, bf16 only on compute capability >= 8.0) and upload the
 * weights. dnn must be set to stream; both must outlive bb. verbose: say on stderr when a
 * fused call is refused. fp32 parameters are copied with plain cudaMemcpy: synchronize
 * the device before the first forward. On failure everything is freed. */
padim_status cuda_backbone_create(cuda_backbone *bb, const bb_weights *wt, int S,
                                  padim_precision prec, int verbose, cudnnHandle_t dnn,
                                  cudaStream_t stream);
/* Free everything (batch buffers included); with PADIM_CUDA_REPORT=1 print the fused
 * report first. Safe on a zeroed or already freed bb. */
void cuda_backbone_free(cuda_backbone *bb);

/* (Re)allocate the buffers for batches of up to B images and the workspace the preferred
 * algorithms want at batch B (at most 1 GiB per conv); the algorithm cache restarts with
 * the entry for B. On failure (PADIM_ERR_NOMEM when the device is full) the batch buffers
 * are freed. */
padim_status cuda_backbone_alloc_batch(cuda_backbone *bb, int B);
void cuda_backbone_free_batch(cuda_backbone *bb);

/* Descriptors and algorithms (cached per batch size) for batch n <= B. */
padim_status cuda_backbone_prepare(cuda_backbone *bb, int n);
/* x (n, 3, S, S) float32 host -> the device input batch (on the stream), then prepare n. */
padim_status cuda_backbone_upload(cuda_backbone *bb, const float *x, int n);
/* Run the program on the uploaded batch of n images (asynchronous on the stream):
 * feat[l] = float32 device layer l+1 output (n, C_l, h_l, h_l), valid until the next
 * upload. */
padim_status cuda_backbone_forward(cuda_backbone *bb, int n, const float *feat[3]);

/* One line per conv step on out: the step, its conv name and shapes, how many forward
 * calls ran fused and split, and the cuDNN status (and algorithm, batch) of a refusal. */
void cuda_backbone_fused_report(const cuda_backbone *bb, FILE *out);

#endif
