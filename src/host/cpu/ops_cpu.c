/*
 * ops_cpu.c - the PaDiM operations on the CPU (contracts in ops.h): embedding gather,
 * streaming float64 statistics, Cholesky factor of the precision, bilinear upsampling,
 * Gaussian blur, image score; the Mahalanobis distance is in mahalanobis_cpu.c. This file is the
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
#include "ops_cpu_util.h"
#include "shared_math.h"

#include "common.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <stdlib.h>



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
