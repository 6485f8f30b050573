/*
 * ops_cpu.c - the PaDiM operations on the CPU (contracts in ops.h): embedding gather,
 * streaming float64 statistics, Cholesky factor of the precision, batched Mahalanobis
 * distance, bilinear upsampling, Gaussian blur, image score. This file is the
 * specification the CUDA kernels are tested against; tests/test_ops.c checks it against
 * NumPy / SciPy / PyTorch goldens (tests/ref_ops.py).
 *
 * Threading: loops over positions (or rows) run under OpenMP with num_threads(threads);
 * BLAS/LAPACK calls inside those regions run single-threaded (OpenBLAS is switched to one
 * thread for the region and restored after), which beats one multi-threaded call per
 * small matrix. Per-thread scratch is a few MB; failing to get it aborts (second error
 * regime: the caller already holds buffers hundreds of times larger).
 */
#include "ops.h"
#include "blas_threads.h"
#include "shared_math.h"

#include "common.h"

#include <cblas.h>
#include <lapacke.h>
#include "cpu_isa.h"
#ifdef PADIM_CPU_X86
#include <immintrin.h>
#define MAHAL_VEC 1 /* the AVX2 + FMA Mahalanobis kernel, chosen at run time */
#endif
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Images per BLAS call in accumulate / mahalanobis: bounds the per-thread scratch
 * whatever N the caller passes. */
enum { OPS_IMAGE_CHUNK = 64 };

static void *scratch_alloc(size_t bytes) {
    void *p = NULL;
    if (padim_alloc_aligned(&p, bytes, "CPU op scratch") != PADIM_OK) {
        fprintf(stderr, "padim-gpu: %s\n", padim_last_error());
        abort();
    }
    return p;
}


/* ------------------------------------------------------------------ embedding */

void op_embed_cpu(const float *l1, const float *l2, const float *l3, int N, int C1, int C2,
                  int C3, int H, int W, int H2, int W2, int H3, int W3, const int32_t *idx,
                  int D, float *out, int threads) {
    const int64_t P = (int64_t)H * W;
    int *map2 = scratch_alloc(sizeof(int) * (size_t)P); /* l1 grid position -> l2 offset */
    int *map3 = scratch_alloc(sizeof(int) * (size_t)P);
    for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) {
            map2[h * W + w] = padim_nearest_src(h, H2, H) * W2 + padim_nearest_src(w, W2, W);
            map3[h * W + w] = padim_nearest_src(h, H3, H) * W3 + padim_nearest_src(w, W3, W);
        }
    /* Tiles of EMBED_TILE positions: the (tile, D) output block stays in cache while it is
     * filled channel by channel, and each channel is read as a contiguous run. */
    enum { EMBED_TILE = 64 };
    for (int d = 0; d < D; d++) PADIM_ASSERT(idx[d] >= 0 && idx[d] < C1 + C2 + C3);
    const int64_t tiles = (P + EMBED_TILE - 1) / EMBED_TILE;
#pragma omp parallel for schedule(static) num_threads(padim_thread_count(threads))
    for (int64_t job = 0; job < (int64_t)N * tiles; job++) {
        const int n = (int)(job / tiles);
        float *o = out + (int64_t)n * P * D; // (P, D)
        {
            const int64_t p0 = (job % tiles) * EMBED_TILE;
            const int64_t p1 = p0 + EMBED_TILE < P ? p0 + EMBED_TILE : P;
            for (int d = 0; d < D; d++) {
                const int c = idx[d];
                if (c < C1) {
                    const float *src = l1 + ((int64_t)n * C1 + c) * P; // (H, W)
                    for (int64_t p = p0; p < p1; p++) o[p * D + d] = src[p];
                } else if (c < C1 + C2) {
                    const float *src = l2 + ((int64_t)n * C2 + (c - C1)) * H2 * W2;
                    for (int64_t p = p0; p < p1; p++) o[p * D + d] = src[map2[p]];
                } else {
                    const float *src = l3 + ((int64_t)n * C3 + (c - C1 - C2)) * H3 * W3;
                    for (int64_t p = p0; p < p1; p++) o[p * D + d] = src[map3[p]];
                }
            }
        }
    }
    free(map2);
    free(map3);
}

/* ------------------------------------------------------------------ statistics */

/* Per position: Y (n, D) = x - shift in float64, s1 += column sums of Y, and
 * s2 += lower triangle of Y^T Y, STATS_ROWS rows at a time: a DGEMM of those rows against
 * the columns up to their diagonal into a small scratch (32 x D: in L1/L2), added at once
 * into the packed row-major triangle. One DSYRK into a D x D scratch, then the add, went
 * through memory twice (D 550: 2.4 MB per position): 6.3-6.7 against 4.9-5.1 ms per image
 * for 1024 positions (RESULTS.md). DSYRK had beaten register-blocked direct loops. */
enum { STATS_ROWS = 32 };
void op_stats_accumulate_cpu(const float *emb, int N, int P, int D, const float *shift,
                             double *s1, double *s2, int threads) {
    const int64_t T = padim_tri(D);
    const int nt = padim_thread_count(threads);
    const int chunk = N < OPS_IMAGE_CHUNK ? N : OPS_IMAGE_CHUNK;
    if (N <= 0) return;
    cpu_blas_single_begin(); /* OpenBLAS inside our OpenMP loops: one thread */
#pragma omp parallel num_threads(nt)
    {
        double *y = scratch_alloc(sizeof(double) * (size_t)chunk * (size_t)D); // (chunk, D)
        double *c = scratch_alloc(sizeof(double) * (size_t)STATS_ROWS * (size_t)D); // (rows, D)
#pragma omp for schedule(static)
        for (int p = 0; p < P; p++) {
            const float *sh = shift + (int64_t)p * D;
            double *s1p = s1 + (int64_t)p * D;
            double *s2p = s2 + (int64_t)p * T;
            for (int n0 = 0; n0 < N; n0 += chunk) {
                int nb = N - n0 < chunk ? N - n0 : chunk;
                for (int n = 0; n < nb; n++) {
                    const float *x = emb + ((int64_t)(n0 + n) * P + p) * D;
                    double *yn = y + (int64_t)n * D;
                    for (int d = 0; d < D; d++) {
                        yn[d] = (double)x[d] - (double)sh[d];
                        s1p[d] += yn[d];
                    }
                }
                for (int i0 = 0; i0 < D; i0 += STATS_ROWS) { /* rows i0 .. i0 + rb - 1, columns 0 .. i0 + rb - 1 */
                    const int rb = D - i0 < STATS_ROWS ? D - i0 : STATS_ROWS, w = i0 + rb;
                    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rb, w, nb, 1.0, y + i0, D, y, D, 0.0, c, w);
                    for (int r = 0; r < rb; r++) {
                        double *row = s2p + padim_tri(i0 + r);
                        const double *cr = c + (int64_t)r * w;
                        for (int j = 0; j <= i0 + r; j++) row[j] += cr[j];
                    }
                }
            }
        }
        free(y);
        free(c);
    }
    cpu_blas_single_end();
}

/* A row-major lower triangle is a column-major upper one, so LAPACK runs in its native
 * column-major order with uplo 'U' on the same buffer, no transposition: DPOTRF gives
 * U = L^T, DTRTRI gives U^-1 = (L^-1)^T, read back row-major as L^-1. */
padim_status op_stats_finalize_cpu(int64_t n, int P, int D, const float *shift,
                                   const double *s1, const double *s2, double eps,
                                   float *mean, float *factor, int threads) {
    if (n < 2)
        return padim_fail(PADIM_ERR_ARG,
                          "statistics: %lld training image(s), the unbiased covariance needs "
                          "at least 2; add training images",
                          (long long)n);
    const int64_t T = padim_tri(D);
    const int nt = padim_thread_count(threads);
    const double inv_n = 1.0 / (double)n, inv_n1 = 1.0 / (double)(n - 1);
    int bad_p = INT_MAX, bad_info = 0, bad_step = 0;
    cpu_blas_single_begin(); /* OpenBLAS inside our OpenMP loops: one thread */
#pragma omp parallel num_threads(nt)
    {
        double *a = scratch_alloc(sizeof(double) * (size_t)D * (size_t)D); // (D, D)
#pragma omp for schedule(dynamic, 4)
        for (int p = 0; p < P; p++) {
            const double *s1p = s1 + (int64_t)p * D;
            const double *s2p = s2 + (int64_t)p * T;
            for (int i = 0; i < D; i++) {
                mean[(int64_t)p * D + i] = (float)((double)shift[(int64_t)p * D + i] + s1p[i] * inv_n);
                /* cov = (S2 - S1 S1^T / n) / (n - 1) + eps I, all float64. */
                const double *row = s2p + padim_tri(i);
                double *ai = a + (int64_t)i * D;
                for (int j = 0; j <= i; j++) ai[j] = (row[j] - s1p[i] * s1p[j] * inv_n) * inv_n1;
                ai[i] += eps;
            }
            lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', D, a, D);
            int step = 1;
            if (info == 0) {
                info = LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, 'U', 'N', D, a, D);
                step = 2;
            }
            if (info != 0) {
#pragma omp critical(padim_finalize_error)
                if (p < bad_p) {
                    bad_p = p;
                    bad_info = (int)info;
                    bad_step = step;
                }
                continue;
            }
            float *f = factor + (int64_t)p * T;
            for (int i = 0; i < D; i++) {
                const double *ai = a + (int64_t)i * D;
                float *fi = f + padim_tri(i);
                for (int j = 0; j <= i; j++) fi[j] = (float)ai[j];
            }
        }
        free(a);
    }
    cpu_blas_single_end();
    if (bad_p != INT_MAX) {
        if (bad_info < 0) /* an argument LAPACK rejected: a bug, not the data */
            return padim_fail(PADIM_ERR_NUMERIC, "LAPACK %s rejected argument %d (D = %d)",
                              bad_step == 1 ? "dpotrf" : "dtrtri", -bad_info, D);
        return padim_fail(PADIM_ERR_NUMERIC,
                          "covariance at position %d is not positive definite (LAPACK %s "
                          "info %d: leading minor %d; %lld training images, D = %d, eps = %g); "
                          "increase eps or use more (and more varied) training images",
                          bad_p, bad_step == 1 ? "dpotrf" : "dtrtri", bad_info, bad_info,
                          (long long)n, D, eps);
    }
    return PADIM_OK;
}

/* ------------------------------------------------------------------ distance */

/* Without AVX2 + FMA (or PADIM_CPU_NO_AVX2=1), eight images or more: per position, unpack
 * the factor once into a dense lower D x D (zeros above), gather
 * Z (chunk, D) = x - mean for a chunk of images, Z := Z L^T with STRMM (row n becomes
 * (L z_n)^T), dist = sqrt of the row's squared norm accumulated in double. One read of
 * the factor per batch; STRMM beat SGEMM and a packed dot-product loop (D = 100 and 550,
 * N = 8..64) on the dev machine. */
/* Fewer than eight images without AVX2 + FMA (one image with it: mahalanobis_one below,
 * the same loop with four FMA chains and prefetch): y = L^-1 z straight from the packed rows, each row read once for all the
 * images; unpacking L (D x D per position, 164 MB of writes per image for R18) and a
 * TRMM of one row cost 8x more at batch 1 than this. Eight partial sums per dot product
 * (vectorized, fixed order: the result does not depend on the thread count). */
enum { MAHAL_PACKED_MAX_N = 8 };

static void mahalanobis_packed(const float *emb, int N, int P, int D, const float *mean, const float *factor,
                               float *dist, int nt) {
    const int64_t T = padim_tri(D);
#pragma omp parallel num_threads(nt)
    {
        float *z = scratch_alloc(sizeof(float) * (size_t)MAHAL_PACKED_MAX_N * (size_t)D);
#pragma omp for schedule(static)
        for (int p = 0; p < P; p++) {
            const float *f = factor + (int64_t)p * T;
            const float *mu = mean + (int64_t)p * D;
            double q[MAHAL_PACKED_MAX_N] = {0};
            for (int n = 0; n < N; n++) {
                const float *x = emb + ((int64_t)n * P + p) * D;
                for (int d = 0; d < D; d++) z[n * D + d] = x[d] - mu[d];
            }
            for (int i = 0; i < D; i++) {
                const float *row = f + padim_tri(i); /* L^-1 row i: columns 0..i */
                const int len = i + 1, len8 = len / 8 * 8;
                for (int n = 0; n < N; n++) {
                    const float *zn = z + n * D;
                    float acc[8] = {0};
                    for (int j = 0; j < len8; j += 8)
                        for (int l = 0; l < 8; l++) acc[l] += row[j + l] * zn[j + l];
                    float y = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
                    for (int j = len8; j < len; j++) y += row[j] * zn[j];
                    q[n] += (double)y * (double)y;
                }
            }
            for (int n = 0; n < N; n++) dist[(int64_t)n * P + p] = (float)sqrt(q[n] > 0.0 ? q[n] : 0.0);
        }
        free(z);
    }
}

/* Eight images or more, on AVX2 + FMA: per position, Z^T (D, NB) = (x - mean)^T for a
 * chunk of NB <= 32 images (zeros past N), then Y^T = L^-1 Z^T straight from the packed
 * rows, R rows at a time: y_i (NB lanes) += L[i][j] * z_j over j <= i, NB / 8 vector
 * accumulators per row, and q += y_i^2 in double. The factor is read once per chunk and
 * never unpacked; measured 1.6x faster than the unpack + STRMM path below at D 550 and
 * batch 16, where both are bound by reading the factor (2.5 GB per batch; RESULTS.md).
 * The order of every sum is fixed (j ascending), so the result does not depend on the
 * thread count. */
#ifdef MAHAL_VEC
/* From 2 images: at 1 the packed dot products above read the factor as fast and waste
 * no lanes (D 550: 153 vs 299 ms per image; at 2 images 132 vs 260 for the two). */
enum { MAHAL_VEC_MAX_N = 32, MAHAL_VEC_MIN_N = 2 };
/* Software prefetch distance along the factor's rows, in floats: the hardware prefetcher
 * alone left the loop waiting on memory (37 -> 23 ms per image at D 550, batch 16;
 * 1024..16384 measured alike, 256 no help). */
enum { MAHAL_PF = 2048 };

/* Rows i .. i + R - 1 of y = L^-1 z for NV x 8 images, q += y^2. R and NV are constants
 * after inlining, so that acc is R x NV registers. */
static inline __attribute__((always_inline, target("avx2,fma"))) void mahal_vec_rows(const float *f, const float *zt,
                                                                                    int i, double *q, const int NV,
                                                                                    const int R) {
    const float *row[4];
    __m256 acc[4][4];
    for (int r = 0; r < R; r++) {
        row[r] = f + padim_tri(i + r);
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
    }
    for (int j = 0; j <= i; j++) { /* the rows share columns 0..i */
        if ((j & 15) == 0)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(row[r] + j + MAHAL_PF), _MM_HINT_T0);
        const float *zj = zt + (int64_t)j * NV * 8;
        __m256 z[4];
        for (int v = 0; v < NV; v++) z[v] = _mm256_load_ps(zj + v * 8);
        for (int r = 0; r < R; r++) {
            const __m256 c = _mm256_broadcast_ss(row[r] + j);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(c, z[v], acc[r][v]);
        }
    }
    for (int r = 1; r < R; r++) /* row i + r's columns i + 1 .. i + r */
        for (int j = i + 1; j <= i + r; j++) {
            const __m256 c = _mm256_broadcast_ss(row[r] + j);
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm256_fmadd_ps(c, _mm256_load_ps(zt + (int64_t)j * NV * 8 + v * 8), acc[r][v]);
        }
    for (int v = 0; v < NV; v++) {
        __m256d lo = _mm256_loadu_pd(q + v * 8), hi = _mm256_loadu_pd(q + v * 8 + 4);
        for (int r = 0; r < R; r++) { /* rows in ascending order, as the scalar sum would */
            const __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(acc[r][v]));
            const __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(acc[r][v], 1));
            lo = _mm256_add_pd(lo, _mm256_mul_pd(a, a));
            hi = _mm256_add_pd(hi, _mm256_mul_pd(b, b));
        }
        _mm256_storeu_pd(q + v * 8, lo);
        _mm256_storeu_pd(q + v * 8 + 4, hi);
    }
}

static inline __attribute__((always_inline, target("avx2,fma"))) void mahal_vec_pos(const float *f, const float *zt,
                                                                                   int D, double *q, const int NV,
                                                                                   const int R) {
    int i = 0;
    for (; i + R <= D; i += R) mahal_vec_rows(f, zt, i, q, NV, R);
    for (; i < D; i++) mahal_vec_rows(f, zt, i, q, NV, 1);
}

/* R rows at a time: enough independent accumulators (R x NV >= 8) to hide the FMA latency. */
__attribute__((target("avx2,fma"))) static void mahal_vec_pos_any(const float *f, const float *zt, int D,
                                                                  double *q, int NV) {
    switch (NV) {
    case 1: mahal_vec_pos(f, zt, D, q, 1, 4); break;
    case 2: mahal_vec_pos(f, zt, D, q, 2, 4); break;
    case 3: mahal_vec_pos(f, zt, D, q, 3, 3); break;
    default: mahal_vec_pos(f, zt, D, q, 4, 2); break;
    }
}

/* The same on AVX-512 for chunks of more than 8 images: 16 images a vector, so one FMA (its
 * factor element broadcast from memory) where AVX2 needs two. Every image's sums are in the
 * same order as above (j ascending, q over rows ascending), so the bits are the AVX2 build's. */
static inline __attribute__((always_inline, target("avx512f"))) void mahal512_rows(const float *f, const float *zt,
                                                                                   int i, double *q, const int NV,
                                                                                   const int R) {
    const float *row[8];
    __m512 acc[8][2];
    for (int r = 0; r < R; r++) {
        row[r] = f + padim_tri(i + r);
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    }
    for (int j = 0; j <= i; j++) {
        if ((j & 15) == 0)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(row[r] + j + MAHAL_PF), _MM_HINT_T0);
        const float *zj = zt + (int64_t)j * NV * 16;
        __m512 z[2];
        for (int v = 0; v < NV; v++) z[v] = _mm512_load_ps(zj + v * 16);
        for (int r = 0; r < R; r++) {
            const __m512 c = _mm512_set1_ps(row[r][j]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(c, z[v], acc[r][v]);
        }
    }
    for (int r = 1; r < R; r++)
        for (int j = i + 1; j <= i + r; j++) {
            const __m512 c = _mm512_set1_ps(row[r][j]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_fmadd_ps(c, _mm512_load_ps(zt + (int64_t)j * NV * 16 + v * 16), acc[r][v]);
        }
    for (int v = 0; v < NV; v++) {
        __m512d lo = _mm512_loadu_pd(q + v * 16), hi = _mm512_loadu_pd(q + v * 16 + 8);
        for (int r = 0; r < R; r++) {
            const __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(acc[r][v]));
            const __m512d b = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][v]), 1)));
            lo = _mm512_add_pd(lo, _mm512_mul_pd(a, a));
            hi = _mm512_add_pd(hi, _mm512_mul_pd(b, b));
        }
        _mm512_storeu_pd(q + v * 16, lo);
        _mm512_storeu_pd(q + v * 16 + 8, hi);
    }
}

static inline __attribute__((always_inline, target("avx512f"))) void mahal512_pos(const float *f, const float *zt,
                                                                                  int D, double *q, const int NV,
                                                                                  const int R) {
    int i = 0;
    for (; i + R <= D; i += R) mahal512_rows(f, zt, i, q, NV, R);
    for (; i < D; i++) mahal512_rows(f, zt, i, q, NV, 1);
}

__attribute__((target("avx512f"))) static void mahal512_pos_any(const float *f, const float *zt, int D, double *q,
                                                                 int NV) {
    if (NV == 1)
        mahal512_pos(f, zt, D, q, 1, 8);
    else
        mahal512_pos(f, zt, D, q, 2, 4);
}

/* One image on AVX2 + FMA: y_i = L^-1 row i . z with four 8-lane FMA chains (the single
 * chain of the portable loop waits on its adds) and software prefetch along the factor,
 * which is read once per image, so memory bandwidth is the limit (D 550: 2.5 GB per image;
 * 90-118 against 200-221 ms for the portable loop, RESULTS.md). Fixed order: the result
 * does not depend on the thread count. */
__attribute__((target("avx2,fma"))) static double mahal1_pos(const float *f, const float *z, int D) {
    double q = 0.0;
    for (int i = 0; i < D; i++) {
        const float *row = f + padim_tri(i);
        const int len = i + 1;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int j = 0;
        for (; j + 32 <= len; j += 32) {
            _mm_prefetch((const char *)(row + j + MAHAL_PF), _MM_HINT_T0);
            _mm_prefetch((const char *)(row + j + 16 + MAHAL_PF), _MM_HINT_T0);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(z + j), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 8), _mm256_loadu_ps(z + j + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 16), _mm256_loadu_ps(z + j + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 24), _mm256_loadu_ps(z + j + 24), a3);
        }
        for (; j + 8 <= len; j += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(z + j), a0);
        const __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        const __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        const __m128 h2 = _mm_add_ps(h, _mm_movehl_ps(h, h));
        float y = _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
        for (; j < len; j++) y += row[j] * z[j];
        q += (double)y * (double)y;
    }
    return q;
}

static void mahalanobis_one(const float *emb, int P, int D, const float *mean, const float *factor, float *dist,
                            int nt) {
    const int64_t T = padim_tri(D);
#pragma omp parallel num_threads(nt)
    {
        float *z = scratch_alloc(sizeof(float) * (size_t)D);
#pragma omp for schedule(static)
        for (int p = 0; p < P; p++) {
            const float *x = emb + (int64_t)p * D, *mu = mean + (int64_t)p * D;
            for (int d = 0; d < D; d++) z[d] = x[d] - mu[d];
            const double q = mahal1_pos(factor + (int64_t)p * T, z, D);
            dist[p] = (float)sqrt(q > 0.0 ? q : 0.0);
        }
        free(z);
    }
}

static void mahalanobis_vec(const float *emb, int N, int P, int D, const float *mean, const float *factor,
                            float *dist, int nt) {
    const int wide = cpu_avx512();
    const int64_t T = padim_tri(D);
#pragma omp parallel num_threads(nt)
    {
        float *zt = scratch_alloc(sizeof(float) * (size_t)D * MAHAL_VEC_MAX_N);
#pragma omp for schedule(static)
        for (int p = 0; p < P; p++) {
            const float *f = factor + (int64_t)p * T;
            const float *mu = mean + (int64_t)p * D;
            for (int n0 = 0; n0 < N; n0 += MAHAL_VEC_MAX_N) {
                const int nb = N - n0 < MAHAL_VEC_MAX_N ? N - n0 : MAHAL_VEC_MAX_N;
                const int lanes = wide && nb > 8 ? 16 : 8, NV = (nb + lanes - 1) / lanes, w = NV * lanes;
                for (int n = 0; n < w; n++) {
                    if (n < nb) {
                        const float *x = emb + ((int64_t)(n0 + n) * P + p) * D;
                        for (int d = 0; d < D; d++) zt[(int64_t)d * w + n] = x[d] - mu[d];
                    } else {
                        for (int d = 0; d < D; d++) zt[(int64_t)d * w + n] = 0.0f;
                    }
                }
                double q[MAHAL_VEC_MAX_N] = {0};
                if (lanes == 16)
                    mahal512_pos_any(f, zt, D, q, NV);
                else
                    mahal_vec_pos_any(f, zt, D, q, NV);
                for (int n = 0; n < nb; n++) dist[(int64_t)(n0 + n) * P + p] = (float)sqrt(q[n] > 0.0 ? q[n] : 0.0);
            }
        }
        free(zt);
    }
}
#endif

void op_mahalanobis_cpu(const float *emb, int N, int P, int D, const float *mean,
                        const float *factor, float *dist, int threads) {
    const int64_t T = padim_tri(D);
    const int nt = padim_thread_count(threads);
    const int chunk = N < OPS_IMAGE_CHUNK ? N : OPS_IMAGE_CHUNK;
    if (N <= 0) return;
#ifdef MAHAL_VEC
    if (cpu_avx2_fma() && N >= MAHAL_VEC_MIN_N) {
        mahalanobis_vec(emb, N, P, D, mean, factor, dist, nt);
        return;
    }
    if (cpu_avx2_fma() && N == 1) {
        mahalanobis_one(emb, P, D, mean, factor, dist, nt);
        return;
    }
#endif
    if (N < MAHAL_PACKED_MAX_N) {
        mahalanobis_packed(emb, N, P, D, mean, factor, dist, nt);
        return;
    }
    cpu_blas_single_begin(); /* OpenBLAS inside our OpenMP loops: one thread */
#pragma omp parallel num_threads(nt)
    {
        float *l = scratch_alloc(sizeof(float) * (size_t)D * (size_t)D);     // (D, D)
        float *z = scratch_alloc(sizeof(float) * (size_t)chunk * (size_t)D); // (chunk, D)
#pragma omp for schedule(static)
        for (int p = 0; p < P; p++) {
            const float *f = factor + (int64_t)p * T;
            const float *mu = mean + (int64_t)p * D;
            for (int i = 0; i < D; i++) {
                float *li = l + (int64_t)i * D;
                memcpy(li, f + padim_tri(i), sizeof(float) * (size_t)(i + 1));
                memset(li + i + 1, 0, sizeof(float) * (size_t)(D - i - 1));
            }
            for (int n0 = 0; n0 < N; n0 += chunk) {
                int nb = N - n0 < chunk ? N - n0 : chunk;
                for (int n = 0; n < nb; n++) {
                    const float *x = emb + ((int64_t)(n0 + n) * P + p) * D;
                    float *zn = z + (int64_t)n * D;
                    for (int d = 0; d < D; d++) zn[d] = x[d] - mu[d];
                }
                cblas_strmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, nb,
                            D, 1.0f, l, D, z, D);
                for (int n = 0; n < nb; n++) {
                    const float *zn = z + (int64_t)n * D;
                    double q = 0.0;
                    for (int d = 0; d < D; d++) q += (double)zn[d] * (double)zn[d];
                    dist[(int64_t)(n0 + n) * P + p] = (float)sqrt(q > 0.0 ? q : 0.0);
                }
            }
        }
        free(l);
        free(z);
    }
    cpu_blas_single_end();
}

/* ------------------------------------------------------------------ anomaly map */

/* Source indices and weights of every output along one axis (shared_math.h's rule). */
static void linear_axis(int in, int out, int *i0, int *i1, float *w0, float *w1) {
    for (int o = 0; o < out; o++) padim_linear_src(o, in, out, &i0[o], &i1[o], &w0[o], &w1[o]);
}

void op_upsample_bilinear_cpu(const float *in, int N, int H, int W, int S, float *out) {
    int *hi = scratch_alloc(sizeof(int) * 2 * (size_t)S), *wi = scratch_alloc(sizeof(int) * 2 * (size_t)S);
    float *hw = scratch_alloc(sizeof(float) * 2 * (size_t)S), *ww = scratch_alloc(sizeof(float) * 2 * (size_t)S);
    linear_axis(H, S, hi, hi + S, hw, hw + S);
    linear_axis(W, S, wi, wi + S, ww, ww + S);
    for (int n = 0; n < N; n++) {
        const float *src = in + (int64_t)n * H * W; // (H, W)
        float *dst = out + (int64_t)n * S * S;      // (S, S)
        for (int y = 0; y < S; y++) {
            const float *r0 = src + (int64_t)hi[y] * W, *r1 = src + (int64_t)hi[S + y] * W;
            const float a0 = hw[y], a1 = hw[S + y];
            for (int x = 0; x < S; x++) {
                const int c0 = wi[x], c1 = wi[S + x];
                const float b0 = ww[x], b1 = ww[S + x];
                dst[(int64_t)y * S + x] = (r0[c0] * b0 + r0[c1] * b1) * a0 + (r1[c0] * b0 + r1[c1] * b1) * a1;
            }
        }
    }
    free(hi);
    free(wi);
    free(hw);
    free(ww);
}


/* One map (S, S) in place: rows into tmp (S, S), then columns back into the map. Each
 * output accumulates in double and is rounded to float once per pass; the column pass
 * keeps 8 outputs in registers across the taps (2x faster than a row of accumulators). */
static void blur_rows(const float *m, float *tmp, int S, int R, const double *w, const int *refl,
                      float *pad, double *acc, int y0, int y1) {
    const int K = 2 * R + 1;
    for (int y = y0; y < y1; y++) {
        const float *row = m + (int64_t)y * S;
        for (int i = 0; i < S + 2 * R; i++) pad[i] = row[refl[i]];
        for (int x = 0; x < S; x++) acc[x] = 0.0;
        for (int k = 0; k < K; k++)
            for (int x = 0; x < S; x++) acc[x] += w[k] * (double)pad[x + k];
        for (int x = 0; x < S; x++) tmp[(int64_t)y * S + x] = (float)acc[x];
    }
}

static void blur_cols(const float *tmp, float *m, int S, int R, const double *w, const int *refl,
                      int y0, int y1) {
    const int K = 2 * R + 1;
    for (int y = y0; y < y1; y++) {
        int x = 0;
        for (; x + 8 <= S; x += 8) {
            double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int k = 0; k < K; k++) {
                const float *src = tmp + (int64_t)refl[y + k] * S + x;
                for (int j = 0; j < 8; j++) a[j] += w[k] * (double)src[j];
            }
            for (int j = 0; j < 8; j++) m[(int64_t)y * S + x + j] = (float)a[j];
        }
        for (; x < S; x++) {
            double a = 0.0;
            for (int k = 0; k < K; k++) a += w[k] * (double)tmp[(int64_t)refl[y + k] * S + x];
            m[(int64_t)y * S + x] = (float)a;
        }
    }
}

/* Separable: within 1e-6 relative of anomalib's float32 33x33 conv2d and of SciPy's
 * float64 passes (which also store the intermediate as float32). Kernel weights
 * exp(-x^2 / (2 sigma^2)), x in [-R, R], normalized in double. Threads take whole maps
 * when there are at least as many maps as threads (no barrier per map), else split the
 * rows of each map. */
void op_gaussian_blur_cpu(float *maps, int N, int S, double sigma, int pad_mode, int threads) {
    const int R = padim_gaussian_radius(sigma);
    const int K = 2 * R + 1;
    const int nt = padim_thread_count(threads);
    const int64_t SS = (int64_t)S * S;
    double *w = scratch_alloc(sizeof(double) * (size_t)K);
    padim_gaussian_weights_f64(sigma, R, w);
    int *refl = scratch_alloc(sizeof(int) * (size_t)(S + 2 * R)); // padded index -> [0, S)
    for (int i = 0; i < S + 2 * R; i++) refl[i] = padim_reflect_index(i - R, S, pad_mode);
    if (N >= nt) {
#pragma omp parallel num_threads(nt)
        {
            float *pad = scratch_alloc(sizeof(float) * (size_t)(S + 2 * R));
            double *acc = scratch_alloc(sizeof(double) * (size_t)S);
            float *tmp = scratch_alloc(sizeof(float) * (size_t)SS); // (S, S)
#pragma omp for schedule(static)
            for (int n = 0; n < N; n++) {
                blur_rows(maps + n * SS, tmp, S, R, w, refl, pad, acc, 0, S);
                blur_cols(tmp, maps + n * SS, S, R, w, refl, 0, S);
            }
            free(pad), free(acc), free(tmp);
        }
    } else {
        float *tmp = scratch_alloc(sizeof(float) * (size_t)SS); // (S, S), shared
#pragma omp parallel num_threads(nt)
        {
            float *pad = scratch_alloc(sizeof(float) * (size_t)(S + 2 * R));
            double *acc = scratch_alloc(sizeof(double) * (size_t)S);
            for (int n = 0; n < N; n++) {
#pragma omp for schedule(static)
                for (int y = 0; y < S; y++) blur_rows(maps + n * SS, tmp, S, R, w, refl, pad, acc, y, y + 1);
                /* implicit barrier: tmp complete before the column pass */
#pragma omp for schedule(static)
                for (int y = 0; y < S; y++) blur_cols(tmp, maps + n * SS, S, R, w, refl, y, y + 1);
                /* implicit barrier: tmp is reused by the next map */
            }
            free(pad), free(acc);
        }
        free(tmp);
    }
    free(refl);
    free(w);
}

void op_map_max_cpu(const float *maps, int N, int S, float *scores) {
    const int64_t n_px = (int64_t)S * S;
    for (int n = 0; n < N; n++) {
        const float *m = maps + n * n_px;
        float best = m[0];
        for (int64_t i = 1; i < n_px; i++)
            if (m[i] > best || isnan(m[i])) best = m[i]; /* a NaN map scores NaN, visibly */
        scores[n] = best;
    }
}
