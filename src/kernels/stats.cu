/*
 * stats.cu - the streaming-statistics kernels of the CUDA fit (twins of
 * op_stats_accumulate_cpu and op_stats_finalize_cpu, see backend_cuda.c for the scheme):
 *   centre + first-order sums   emb -= shift, s1 += sum_n          (float64 sums)
 *   add packed                  s2 += lower(gram) per position      (float64 sums)
 *   mean, covariance + eps I (and the identity right-hand side), lower-triangle packing,
 *   and the pointer arrays the batched cuSOLVER / cuBLAS calls take.
 */
#include "kernel_util.cuh"
#include "kernels.h"

/* One thread per (p, d): the N values of a (p, d) are N*P*D apart; consecutive threads
 * read consecutive d, so every load coalesces. The sum over the batch is formed in
 * float64 of the float64 differences x - shift, as op_stats_accumulate_cpu (the float
 * difference written back to emb for the gram is rounded: up to 2^-24 |x| per term),
 * then added to s1 (one thread owns each s1 entry: no atomics). */
__global__ void center_sum_kernel(float *__restrict__ emb, int N, int64_t PD,
                                  const float *__restrict__ shift, double *__restrict__ s1) {
    PADIM_GRID_STRIDE(e, PD) {
        const float sh = shift[e];
        double acc = 0.0;
        for (int n = 0; n < N; n++) {
            const float x = emb[(int64_t)n * PD + e];
            emb[(int64_t)n * PD + e] = x - sh;
            acc += (double)x - (double)sh;
        }
        s1[e] += acc;
    }
}

extern "C" cudaError_t padim_k_center_sum(float *emb, int N, int P, int D, const float *shift,
                                          double *s1, cudaStream_t stream) {
    const int64_t PD = (int64_t)P * D;
    PADIM_LAUNCH(center_sum_kernel, padim_grid(PD), PADIM_THREADS, 0, stream, emb, N, PD, shift,
                 s1);
    return cudaGetLastError();
}

/* One thread per element of the chunk's (np, D, D) grams; only j <= i adds. gram is
 * column-major: (i, j) at j * D + i, i.e. threads with consecutive i read consecutive
 * addresses; the packed writes (i*(i+1)/2 + j) stride by row, acceptable for a kernel
 * that moves np*D*D floats once per batch. */
__global__ void add_packed_kernel(const float *__restrict__ gram, int np, int D, int64_t p0,
                                  double *__restrict__ s2) {
    const int64_t DD = (int64_t)D * D;
    const int64_t T = padim_tri(D);
    const int64_t total = (int64_t)np * DD;
    PADIM_GRID_STRIDE(e, total) {
        const int64_t k = e / DD;
        const int64_t r = e % DD;
        const int64_t j = r / D, i = r % D;
        if (j > i) continue;
        s2[(p0 + k) * T + padim_tri(i) + j] += (double)gram[e];
    }
}

extern "C" cudaError_t padim_k_add_packed(const float *gram, int np, int D, int64_t p0,
                                          double *s2, cudaStream_t stream) {
    const int64_t total = (int64_t)np * D * D;
    PADIM_LAUNCH(add_packed_kernel, padim_grid(total), PADIM_THREADS, 0, stream, gram, np, D, p0,
                 s2);
    return cudaGetLastError();
}

__global__ void mean_kernel(const float *__restrict__ shift, const double *__restrict__ s1,
                            int64_t n, int64_t PD, float *__restrict__ mean) {
    PADIM_GRID_STRIDE(e, PD) { mean[e] = (float)((double)shift[e] + s1[e] / (double)n); }
}

extern "C" cudaError_t padim_k_mean(const float *shift, const double *s1, int64_t n, int P, int D,
                                    float *mean, cudaStream_t stream) {
    const int64_t PD = (int64_t)P * D;
    PADIM_LAUNCH(mean_kernel, padim_grid(PD), PADIM_THREADS, 0, stream, shift, s1, n, PD, mean);
    return cudaGetLastError();
}

/* cov = (s2 - s1 s1^T / n) / (n - 1) + eps I in float64 (the shifted sums make the
 * subtraction benign), written to both triangles, then rounded to Real. */
template <typename Real>
__global__ void covariance_kernel(const double *__restrict__ s1, const double *__restrict__ s2,
                                  int64_t n, int64_t p0, int np, int D, double eps,
                                  Real *__restrict__ cov, Real *__restrict__ eye) {
    const int64_t DD = (int64_t)D * D;
    const int64_t T = padim_tri(D);
    const int64_t total = (int64_t)np * DD;
    const double inv_n = 1.0 / (double)n, inv_n1 = 1.0 / (double)(n - 1);
    PADIM_GRID_STRIDE(e, total) {
        const int64_t k = e / DD;
        const int64_t r = e % DD;
        const int64_t j = r / D, i = r % D;
        const int64_t hi = i > j ? i : j, lo = i > j ? j : i;
        const int64_t p = p0 + k;
        const double a = s1[p * D + i], b = s1[p * D + j];
        double c = (s2[p * T + padim_tri(hi) + lo] - a * b * inv_n) * inv_n1;
        if (i == j) c += eps;
        cov[e] = (Real)c;
        eye[e] = (Real)(i == j ? 1.0 : 0.0);
    }
}

extern "C" cudaError_t padim_k_covariance(const double *s1, const double *s2, int64_t n,
                                          int64_t p0, int np, int D, double eps, int fp64,
                                          void *cov, void *eye, cudaStream_t stream) {
    const int64_t total = (int64_t)np * D * D;
    if (fp64)
        PADIM_LAUNCH(covariance_kernel<double>, padim_grid(total), PADIM_THREADS, 0, stream, s1, s2,
                     n, p0, np, D, eps, (double *)cov, (double *)eye);
    else
        PADIM_LAUNCH(covariance_kernel<float>, padim_grid(total), PADIM_THREADS, 0, stream, s1, s2,
                     n, p0, np, D, eps, (float *)cov, (float *)eye);
    return cudaGetLastError();
}

/* One thread per packed element (k, t): recover (i, j) from t with the float64 square
 * root, corrected by one step either way (exact for any T < 2^52). */
template <typename Real>
__global__ void pack_lower_kernel(const Real *__restrict__ mats, int np, int D,
                                  float *__restrict__ factor) {
    const int64_t T = padim_tri(D);
    const int64_t DD = (int64_t)D * D;
    const int64_t total = (int64_t)np * T;
    PADIM_GRID_STRIDE(e, total) {
        const int64_t k = e / T;
        const int64_t t = e % T;
        int64_t i = (int64_t)((sqrt(8.0 * (double)t + 1.0) - 1.0) * 0.5);
        while (padim_tri(i) > t) i--;
        while (padim_tri(i + 1) <= t) i++;
        const int64_t j = t - padim_tri(i);
        factor[e] = (float)mats[k * DD + j * D + i]; /* column-major (i, j) */
    }
}

extern "C" cudaError_t padim_k_pack_lower(const void *mats, int np, int D, int fp64,
                                          float *factor, cudaStream_t stream) {
    const int64_t total = (int64_t)np * D * (D + 1) / 2;
    if (fp64)
        PADIM_LAUNCH(pack_lower_kernel<double>, padim_grid(total), PADIM_THREADS, 0, stream,
                     (const double *)mats, np, D, factor);
    else
        PADIM_LAUNCH(pack_lower_kernel<float>, padim_grid(total), PADIM_THREADS, 0, stream,
                     (const float *)mats, np, D, factor);
    return cudaGetLastError();
}

__global__ void pointer_array_kernel(char *base, int np, int64_t stride_bytes, void **ptrs) {
    PADIM_GRID_STRIDE(k, (int64_t)np) { ptrs[k] = base + k * stride_bytes; }
}

extern "C" cudaError_t padim_k_pointer_array(void *base, int np, int64_t stride_bytes,
                                             void **ptrs, cudaStream_t stream) {
    PADIM_LAUNCH(pointer_array_kernel, padim_grid(np), PADIM_THREADS, 0, stream,
                 (char *)base, np, stride_bytes, ptrs);
    return cudaGetLastError();
}
