/*
 * cuda_check.h - error handling and device allocation of the CUDA backend (src/host/cuda/),
 * used by every host file that calls CUDA, cuBLAS, cuSOLVER or cuDNN (cuda_backbone.c,
 * cuda_stats.c, backend_cuda.c) and by the CUDA tests and benchmarks.
 *
 * GPU_CHECK(expr) accepts a call returning cudaError_t, cublasStatus_t, cusolverStatus_t or
 * cudnnStatus_t (C11 _Generic picks the library) and, on failure, returns from the
 * enclosing function with a padim_status whose message names the expression, the
 * function, file:line, the library's error name and message:
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
#include <stddef.h>

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

/* Record the failure (see above) and return its status. lib is a PADIM_LIB_* value, code
 * the library's non-zero status. */
padim_status padim_gpu_fail(int lib, int code, const char *expr, const char *func,
                            const char *file, int line);

/* Error name of a library code ("cudaErrorMemoryAllocation", "CUBLAS_STATUS_ALLOC_FAILED",
 * "CUSOLVER_STATUS_NOT_INITIALIZED", "CUDNN_STATUS_BAD_PARAM"). Static strings. */
const char *padim_gpu_error_name(int lib, int code);

/* cudaMalloc of bytes (1 when 0) into *p. On failure *p = NULL and the status
 * (PADIM_ERR_NOMEM for out of memory, else PADIM_ERR_DEVICE) names `what`, the size, the
 * free and total device memory, and the hint to use a smaller --batch. */
padim_status cuda_dev_alloc(void **p, size_t bytes, const char *what);

/* pp is the address of a device pointer (any type): cudaFree it when non-NULL and set it
 * to NULL, so freeing twice is harmless. */
void cuda_dev_free(void *pp);

#endif
