/*
 * cuda_check.c - the failure path of GPU_CHECK (library error names and messages turned
 * into a padim_status) and device allocation with a user-facing out-of-memory message.
 * Shared by the CUDA backend's host files (src/host/cuda/); contracts in cuda_check.h.
 */
#include "cuda_check.h"

#include "common.h"

const char *padim_gpu_error_name(int lib, int code) {
    switch (lib) {
    case PADIM_LIB_CUDA: return cudaGetErrorName((cudaError_t)code);
    case PADIM_LIB_CUBLAS: return cublasGetStatusName((cublasStatus_t)code);
    case PADIM_LIB_CUDNN: return cudnnGetErrorString((cudnnStatus_t)code);
    case PADIM_LIB_CUSOLVER:
        switch ((cusolverStatus_t)code) {
        case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
        case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
        case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
        case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
        case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
        case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
        case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
        case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
        default: return "CUSOLVER_STATUS_(other)";
        }
    }
    return "unknown library";
}

/* The longer message where the library has one (cuSOLVER and cuDNN: the name says it). */
static const char *gpu_error_message(int lib, int code) {
    switch (lib) {
    case PADIM_LIB_CUDA: return cudaGetErrorString((cudaError_t)code);
    case PADIM_LIB_CUBLAS: return cublasGetStatusString((cublasStatus_t)code);
    default: return "";
    }
}

padim_status padim_gpu_fail(int lib, int code, const char *expr, const char *func,
                            const char *file, int line) {
    static const char *const libs[] = {"CUDA", "cuBLAS", "cuSOLVER", "cuDNN"};
    const int oom = (lib == PADIM_LIB_CUDA && code == (int)cudaErrorMemoryAllocation) ||
                    (lib == PADIM_LIB_CUBLAS && code == (int)CUBLAS_STATUS_ALLOC_FAILED) ||
                    (lib == PADIM_LIB_CUSOLVER && code == (int)CUSOLVER_STATUS_ALLOC_FAILED) ||
                    (lib == PADIM_LIB_CUDNN && code == (int)CUDNN_STATUS_ALLOC_FAILED);
    if (lib == PADIM_LIB_CUDA) (void)cudaGetLastError(); /* clear a non-sticky error */
    const char *msg = gpu_error_message(lib, code);
    return padim_fail(oom ? PADIM_ERR_NOMEM : PADIM_ERR_DEVICE,
                      "%s error %s (%d)%s%s in %s at %s:%d: %s%s", libs[lib],
                      padim_gpu_error_name(lib, code), code, msg[0] ? ": " : "", msg, func, file,
                      line, expr, oom ? " (out of device memory: try a smaller --batch)" : "");
}

padim_status cuda_dev_alloc(void **p, size_t bytes, const char *what) {
    *p = NULL;
    const cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaSuccess) return PADIM_OK;
    *p = NULL;
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    return padim_fail(e == cudaErrorMemoryAllocation ? PADIM_ERR_NOMEM : PADIM_ERR_DEVICE,
                      "cannot allocate %.1f MiB of device memory for %s (%s; %.1f of %.1f MiB "
                      "free): try a smaller --batch",
                      (double)bytes / 1048576.0, what, cudaGetErrorName(e),
                      (double)free_b / 1048576.0, (double)total_b / 1048576.0);
}

void cuda_dev_free(void *pp) {
    void **p = pp;
    if (*p) cudaFree(*p);
    *p = NULL;
}
