/*
 * mahalanobis_cpu.c - op_mahalanobis_cpu (contract in ops.h): the distance of each
 * embedding to its position's Gaussian, from the packed float32 factor L^-1, in four
 * kernels picked by the processor and the number of images: AVX2 + FMA and AVX-512 ones
 * (cpu_isa.h) and the portable paths. Same threading and scratch rules as ops_cpu.c;
 * tests/test_ops.c checks every path against NumPy goldens.
 */
#include "ops.h"
#include "blas_threads.h"
#include "cpu_isa.h"
#include "ops_cpu_util.h"
#include "shared_math.h"

#include "common.h"

#include <cblas.h>
#ifdef PADIM_CPU_X86
#include <immintrin.h>
#define MAHAL_VEC 1 /* the AVX2 + FMA Mahalanobis kernels, chosen at run time */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    if (cpu_avx2_fma()) { /* MAHAL_VEC_MIN_N is 2: every N has a vector kernel */
        if (N >= MAHAL_VEC_MIN_N)
            mahalanobis_vec(emb, N, P, D, mean, factor, dist, nt);
        else
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
