/*
 * cuda_stats.c - the CUDA fit's statistics (src/host/cuda/, contracts in cuda_stats.h),
 * driven by backend_cuda.c after each batch's embedding:
 *
 *   accumulate   memory independent of the number of images:
 *                  shift = the first image's embedding (P, D);
 *                  per batch  X_c = X - shift (in place) and s1 += sum_n X_c  (float64);
 *                             G_p = X_c,p X_c,p^T by cublasSgemmStridedBatched over a
 *                             chunk of positions (X_p is D x N column-major with leading
 *                             dimension P*D in the (N, P, D) layout; strideA = D), in
 *                             float32 over the <= batch images of one batch, then added
 *                             to s2 (P, T) packed float64.
 *                So sums within a batch are float32 of centred values (a few dozen terms)
 *                and everything across batches is float64: the same s1/s2 arrays as the
 *                CPU twin op_stats_accumulate_cpu, at the memory of the packed float64
 *                triangle (WRN50 @256: 4.96 GB) plus one gram chunk.
 *   finalize     per chunk of positions: cov = (s2 - s1 s1^T / n) / (n - 1) + eps I
 *                (float64), batched Cholesky cusolverDn{D,S}potrfBatched (lower), per
 *                matrix info copied back (failure -> PADIM_ERR_NUMERIC naming the
 *                position), L^-1 by cublas{D,S}trsmBatched against the identity, packed
 *                to float (P, T) and copied to the host. float64 by default (as the CPU
 *                twin's LAPACK dpotrf); the float32 path (Spotrf/Strsm) when fp64 = 0.
 */
#include "cuda_stats.h"

#include "common.h"
#include "cpu/ops.h"
#include "cuda_check.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

padim_status padim_cuda_stats_accumulate(cublasHandle_t blas, cudaStream_t stream, float *emb,
                                         int N, int P, int D, const float *shift, double *s1,
                                         double *s2, float *gram, int gram_np) {
    GPU_CHECK(padim_k_center_sum(emb, N, P, D, shift, s1, stream));
    const float one = 1.0f, zero = 0.0f;
    /* X_p (D x N, column-major): column n at emb + (n P + p) D, so lda = P D and
     * consecutive positions are D apart (strideA). C_p = X_p X_p^T (D x D). */
    const int ld = P * D;
    for (int p0 = 0; p0 < P; p0 += gram_np) {
        const int np = P - p0 < gram_np ? P - p0 : gram_np;
        const float *xp = emb + (size_t)p0 * D;
        GPU_CHECK(cublasSgemmStridedBatched(blas, CUBLAS_OP_N, CUBLAS_OP_T, D, D, N, &one, xp, ld,
                                            D, xp, ld, D, &zero, gram, D, (long long)D * D, np));
        GPU_CHECK(padim_k_add_packed(gram, np, D, p0, s2, stream));
    }
    return PADIM_OK;
}

void padim_cuda_finalize_ws_free(padim_cuda_finalize_ws *ws) {
    cuda_dev_free(&ws->cov);
    cuda_dev_free(&ws->eye);
    cuda_dev_free(&ws->cov_ptrs);
    cuda_dev_free(&ws->eye_ptrs);
    cuda_dev_free(&ws->info);
    cuda_dev_free(&ws->fchunk);
    free(ws->info_host);
    ws->info_host = NULL;
    ws->np = 0;
}

static padim_status finalize_ws_alloc_inner(padim_cuda_finalize_ws *ws, int P, int D, int fp64,
                                            size_t budget, cudaStream_t stream) {
    const size_t DD = (size_t)D * D, elem = fp64 ? sizeof(double) : sizeof(float);
    const size_t np = budget / (2 * DD * elem);
    ws->fp64 = fp64;
    ws->np = (int)(np < 1 ? 1 : np > (size_t)P ? (size_t)P : np);
    const size_t k = (size_t)ws->np;
    PADIM_TRY(cuda_dev_alloc(&ws->cov, k * DD * elem, "covariance chunk"));
    PADIM_TRY(cuda_dev_alloc(&ws->eye, k * DD * elem, "inverse chunk"));
    PADIM_TRY(cuda_dev_alloc((void **)&ws->cov_ptrs, k * sizeof(void *), "batched pointers"));
    PADIM_TRY(cuda_dev_alloc((void **)&ws->eye_ptrs, k * sizeof(void *), "batched pointers"));
    PADIM_TRY(cuda_dev_alloc((void **)&ws->info, k * sizeof(int), "Cholesky info"));
    PADIM_TRY(cuda_dev_alloc((void **)&ws->fchunk, k * (size_t)padim_tri(D) * sizeof(float),
                             "factor chunk"));
    PADIM_TRY(padim_alloc((void **)&ws->info_host, k * sizeof(int), "Cholesky info"));
    GPU_CHECK(padim_k_pointer_array(ws->cov, ws->np, (int64_t)(DD * elem), ws->cov_ptrs, stream));
    GPU_CHECK(padim_k_pointer_array(ws->eye, ws->np, (int64_t)(DD * elem), ws->eye_ptrs, stream));
    return PADIM_OK;
}

padim_status padim_cuda_finalize_ws_alloc(padim_cuda_finalize_ws *ws, int P, int D, int fp64,
                                          size_t budget, cudaStream_t stream) {
    memset(ws, 0, sizeof(*ws));
    const padim_status st = finalize_ws_alloc_inner(ws, P, D, fp64, budget, stream);
    if (st != PADIM_OK) padim_cuda_finalize_ws_free(ws);
    return st;
}

padim_status padim_cuda_stats_finalize(cublasHandle_t blas, cusolverDnHandle_t solver,
                                       cudaStream_t stream, padim_cuda_finalize_ws *ws, int64_t n,
                                       int P, int D, const float *shift, const double *s1,
                                       const double *s2, double eps, float *mean_dev,
                                       float *mean, float *factor) {
    PADIM_ASSERT(n >= 2 && ws->np >= 1);
    const int fp64 = ws->fp64;
    const int64_t T = padim_tri(D);
    GPU_CHECK(padim_k_mean(shift, s1, n, P, D, mean_dev, stream));
    GPU_CHECK(cudaMemcpyAsync(mean, mean_dev, (size_t)P * D * sizeof(float),
                              cudaMemcpyDeviceToHost, stream));
    for (int p0 = 0; p0 < P; p0 += ws->np) {
        const int np = P - p0 < ws->np ? P - p0 : ws->np;
        GPU_CHECK(padim_k_covariance(s1, s2, n, p0, np, D, eps, fp64, ws->cov, ws->eye, stream));
        if (fp64)
            GPU_CHECK(cusolverDnDpotrfBatched(solver, CUBLAS_FILL_MODE_LOWER, D,
                                              (double **)ws->cov_ptrs, D, ws->info, np));
        else
            GPU_CHECK(cusolverDnSpotrfBatched(solver, CUBLAS_FILL_MODE_LOWER, D,
                                              (float **)ws->cov_ptrs, D, ws->info, np));
        GPU_CHECK(cudaMemcpyAsync(ws->info_host, ws->info, (size_t)np * sizeof(int),
                                  cudaMemcpyDeviceToHost, stream));
        GPU_CHECK(cudaStreamSynchronize(stream));
        for (int k = 0; k < np; k++)
            if (ws->info_host[k] != 0)
                return padim_fail(PADIM_ERR_NUMERIC,
                                  "covariance at position %d is not positive definite (%s "
                                  "Cholesky: leading minor %d); increase eps (now %g) or check "
                                  "the training images",
                                  p0 + k, fp64 ? "float64" : "float32", ws->info_host[k], eps);
        /* L X = I -> X = L^-1, lower; the solve reads only L's lower triangle (potrf
         * leaves the covariance in the upper one). */
        if (fp64) {
            const double one = 1.0;
            GPU_CHECK(cublasDtrsmBatched(blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER,
                                         CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, D, D, &one,
                                         (const double *const *)ws->cov_ptrs, D,
                                         (double *const *)ws->eye_ptrs, D, np));
        } else {
            const float one = 1.0f;
            GPU_CHECK(cublasStrsmBatched(blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER,
                                         CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, D, D, &one,
                                         (const float *const *)ws->cov_ptrs, D,
                                         (float *const *)ws->eye_ptrs, D, np));
        }
        GPU_CHECK(padim_k_pack_lower(ws->eye, np, D, fp64, ws->fchunk, stream));
        GPU_CHECK(cudaMemcpyAsync(factor + (size_t)p0 * T, ws->fchunk,
                                  (size_t)np * T * sizeof(float), cudaMemcpyDeviceToHost, stream));
    }
    GPU_CHECK(cudaStreamSynchronize(stream));
    return PADIM_OK;
}

/* ------------------------------------------------------------------ fit accumulators */

void padim_cuda_fit_free(padim_cuda_fit *f) {
    cuda_dev_free(&f->shift);
    cuda_dev_free(&f->s1);
    cuda_dev_free(&f->s2);
    cuda_dev_free(&f->gram);
    padim_cuda_finalize_ws_free(&f->fin);
}

padim_status padim_cuda_fit_alloc(padim_cuda_fit *f, int P, int D, int fp64, cudaStream_t stream) {
    padim_cuda_fit_free(f);
    f->P = P;
    f->D = D;
    f->n_seen = 0;
    const size_t PD = (size_t)P * D, DD = (size_t)D * D;
    padim_status st = PADIM_OK;
    st = cuda_dev_alloc((void **)&f->shift, PD * sizeof(float), "fit shift");
    if (st == PADIM_OK)
        st = cuda_dev_alloc((void **)&f->s1, PD * sizeof(double), "fit sums (P, D)");
    if (st == PADIM_OK)
        st = cuda_dev_alloc((void **)&f->s2, (size_t)P * (size_t)padim_tri(D) * sizeof(double),
                            "fit second moments (P, D(D+1)/2) float64");
    const size_t np = GRAM_BUDGET / (DD * sizeof(float));
    f->gram_np = (int)(np < 1 ? 1 : np > (size_t)P ? (size_t)P : np);
    if (st == PADIM_OK)
        st = cuda_dev_alloc((void **)&f->gram, (size_t)f->gram_np * DD * sizeof(float),
                            "batch grams");
    if (st == PADIM_OK)
        st = padim_cuda_finalize_ws_alloc(&f->fin, P, D, fp64, FINALIZE_BUDGET, stream);
    if (st != PADIM_OK) padim_cuda_fit_free(f);
    return st;
}

padim_status padim_cuda_fit_reset(padim_cuda_fit *f, cudaStream_t stream) {
    GPU_CHECK(cudaMemsetAsync(f->s1, 0, (size_t)f->P * f->D * sizeof(double), stream));
    GPU_CHECK(cudaMemsetAsync(f->s2, 0, (size_t)f->P * (size_t)padim_tri(f->D) * sizeof(double),
                              stream));
    f->n_seen = 0;
    return PADIM_OK;
}

padim_status padim_cuda_fit_add(padim_cuda_fit *f, cublasHandle_t blas, cudaStream_t stream,
                                float *emb, int n) {
    if (f->n_seen == 0) /* shift = first image's embedding (P, D) */
        GPU_CHECK(cudaMemcpyAsync(f->shift, emb, (size_t)f->P * f->D * sizeof(float),
                                  cudaMemcpyDeviceToDevice, stream));
    PADIM_TRY(padim_cuda_stats_accumulate(blas, stream, emb, n, f->P, f->D, f->shift, f->s1,
                                          f->s2, f->gram, f->gram_np));
    f->n_seen += n;
    return PADIM_OK;
}

padim_status padim_cuda_fit_finalize(padim_cuda_fit *f, cublasHandle_t blas,
                                     cusolverDnHandle_t solver, cudaStream_t stream, double eps,
                                     float *mean_dev, float *mean, float *factor) {
    return padim_cuda_stats_finalize(blas, solver, stream, &f->fin, f->n_seen, f->P, f->D,
                                     f->shift, f->s1, f->s2, eps, mean_dev, mean, factor);
}
