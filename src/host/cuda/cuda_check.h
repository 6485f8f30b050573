/*
 * cuda_check.h - the one check macro of the CUDA backend. GPU_CHECK(expr) accepts a call
 * returning cudaError_t, cublasStatus_t, cusolverStatus_t or cudnnStatus_t (C11 _Generic
 * picks the library) and, on failure, returns from the enclosing function with a
 * padim_status whose message names the expression, the function, file:line, the
 * library's error name and message:
 *   allocation failures  -> PADIM_ERR_NOMEM, with the hint to use a smaller --batch;
 *   anything else        -> PADIM_ERR_DEVICE (driver or library failure; the context may
 *                           be unusable afterwards, the message says where it happened).
 * Kernel launchers (src/kernels/kernels.h) return cudaGetLastError() of their launch, so
 * GPU_CHECK(padim_k_...(...)) checks every launch.
 */
#ifndef PADIM_CUDA_CHECK_H
#define PADIM_CUDA_CHECK_H

#include "padim.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <cusolverDn.h>

enum { PADIM_LIB_CUDA = 0, PADIM_LIB_CUBLAS = 1, PADIM_LIB_CUSOLVER = 2, PADIM_LIB_CUDNN = 3 };

#define PADIM_GPU_LIB(expr)                                                               \
    _Generic((expr), cudaError_t: PADIM_LIB_CUDA, cublasStatus_t: PADIM_LIB_CUBLAS,        \
             cusolverStatus_t: PADIM_LIB_CUSOLVER, cudnnStatus_t: PADIM_LIB_CUDNN)

/* Every library's success code is 0. _Generic does not evaluate its operand: expr runs
 * once. */
#define GPU_CHECK(expr)                                                                   \
    do {                                                                                  \
        const int gpu_lib_ = PADIM_GPU_LIB(expr);                                         \
        const int gpu_code_ = (int)(expr);                                                \
        if (gpu_code_ != 0)                                                               \
            return padim_gpu_fail(gpu_lib_, gpu_code_, #expr, __func__, __FILE__, __LINE__); \
    } while (0)

/* Record the failure (see above) and return its status. Defined in backend_cuda.c. */
padim_status padim_gpu_fail(int lib, int code, const char *expr, const char *func,
                            const char *file, int line);
/* Streaming statistics of the CUDA fit, shared by backend_cuda.c and the op tests (the
 * twins of op_stats_accumulate_cpu / op_stats_finalize_cpu; scheme in backend_cuda.c).
 * Accumulate: emb (N, P, D) device, centred in place (emb -= shift); s1 (P, D) and s2
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

/* Error name of a library code ("cudaErrorMemoryAllocation", "CUBLAS_STATUS_ALLOC_FAILED",
 * "CUSOLVER_STATUS_NOT_INITIALIZED", "CUDNN_STATUS_BAD_PARAM"). */
const char *padim_gpu_error_name(int lib, int code);

#endif
