/*
 * cuda_stats.h - streaming statistics of the CUDA fit (src/host/cuda/): per batch the
 * centred sums s1 (P, D) and packed second moments s2 (P, T) in float64, then the finalize
 * into mean (P, D) and precision factor L^-1 (P, T). The twins of op_stats_accumulate_cpu /
 * op_stats_finalize_cpu (cpu/ops.h); the scheme is described in cuda_stats.c. Used by
 * backend_cuda.c (through padim_cuda_fit), by tests/test_cuda_ops.c and
 * benchmarks/bench_cuda_kernels.c (through the functions on raw buffers).
 */
#ifndef PADIM_CUDA_STATS_H
#define PADIM_CUDA_STATS_H

#include "padim.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>
#include <stddef.h>
#include <stdint.h>

/* What the backend's fit holds per chunk of positions (the benchmarks time the same). */
#define GRAM_BUDGET ((size_t)256 << 20)     /* bytes of (np, D, D) float grams */
#define FINALIZE_BUDGET ((size_t)512 << 20) /* bytes of cov + identity of the finalize */

/* Accumulate: emb (N, P, D) device, centred in place (emb -= shift); s1 (P, D) and s2
 * (P, T) float64 device += the batch's sums; gram (gram_np, D, D) device scratch. */
padim_status padim_cuda_stats_accumulate(cublasHandle_t blas, cudaStream_t stream, float *emb,
                                         int N, int P, int D, const float *shift, double *s1,
                                         double *s2, float *gram, int gram_np);

/* Device scratch of the finalize, for chunks of np positions (fp64: float64 Cholesky). */
typedef struct padim_cuda_finalize_ws {
    int np, fp64;
    void *cov, *eye;             /* (np, D, D) double or float */
    void **cov_ptrs, **eye_ptrs; /* (np) device arrays of pointers into cov / eye */
    int *info;                   /* (np) device */
    int *info_host;              /* (np) host */
    float *fchunk;               /* (np, T) device */
} padim_cuda_finalize_ws;

/* Allocate for D with at most budget bytes of cov + identity per chunk (>= 1 position,
 * <= P). On failure everything allocated is freed. */
padim_status padim_cuda_finalize_ws_alloc(padim_cuda_finalize_ws *ws, int P, int D, int fp64,
                                          size_t budget, cudaStream_t stream);
void padim_cuda_finalize_ws_free(padim_cuda_finalize_ws *ws);

/* Finalize (synchronous): mean_dev (P, D) device = shift + s1 / n, copied to mean (P, D)
 * host; per chunk covariance + eps I, batched Cholesky (a failure returns
 * PADIM_ERR_NUMERIC naming the position), L^-1, packed into factor (P, T) host. */
padim_status padim_cuda_stats_finalize(cublasHandle_t blas, cusolverDnHandle_t solver,
                                       cudaStream_t stream, padim_cuda_finalize_ws *ws, int64_t n,
                                       int P, int D, const float *shift, const double *s1,
                                       const double *s2, double eps, float *mean_dev,
                                       float *mean, float *factor);

/* The fit accumulators of one model (P positions, D channels), all on the device; memory
 * independent of the number of images. Zero-initialise before the first alloc. */
typedef struct padim_cuda_fit {
    int P, D;
    int64_t n_seen; /* images accumulated since the last reset */
    float *shift;   /* (P, D): the first image's embedding */
    double *s1;     /* (P, D) */
    double *s2;     /* (P, T) */
    float *gram;    /* (gram_np, D, D) */
    int gram_np;
    padim_cuda_finalize_ws fin; /* float64 factor when fp64, else float32 */
} padim_cuda_fit;

/* (Re)allocate the accumulators and the finalize scratch (FINALIZE_BUDGET). On failure
 * (PADIM_ERR_NOMEM when the device is full) everything is freed. */
padim_status padim_cuda_fit_alloc(padim_cuda_fit *f, int P, int D, int fp64, cudaStream_t stream);
void padim_cuda_fit_free(padim_cuda_fit *f);
/* s1 = s2 = 0, n_seen = 0 (asynchronous on stream). */
padim_status padim_cuda_fit_reset(padim_cuda_fit *f, cudaStream_t stream);
/* Add a batch: emb (n, P, D) device (centred in place); the first batch after a reset
 * sets the shift. */
padim_status padim_cuda_fit_add(padim_cuda_fit *f, cublasHandle_t blas, cudaStream_t stream,
                                float *emb, int n);
/* padim_cuda_stats_finalize over the n_seen (>= 2) images accumulated. */
padim_status padim_cuda_fit_finalize(padim_cuda_fit *f, cublasHandle_t blas,
                                     cusolverDnHandle_t solver, cudaStream_t stream, double eps,
                                     float *mean_dev, float *mean, float *factor);

#endif
