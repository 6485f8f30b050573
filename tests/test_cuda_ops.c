/*
 * test_cuda_ops.c - every CUDA operation of src/kernels (and the host-side statistics of
 * cuda/cuda_stats.c) against its CPU twin of src/host/cpu/ops.h, on seeded random inputs at odd
 * sizes (D in 1, 7, 33, 100, 550; P in 1, 49, 3136, 4096; batches 1, 3, 32; big combos
 * trimmed so the CPU side stays quick). Each device output sits between guard bands of
 * a byte pattern that must survive the op; comparisons check NaN/Inf first, then a
 * per-op tolerance stated where it is used. Without a working GPU: exit 77 (skip).
 */
#include "common.h"
#include "cuda/cuda_stats.h"
#include "kernels.h"
#include "cpu/ops.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_BYTES 256
#define GUARD_BYTE 0xA5

static cudaStream_t stream;

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_state = 12345;
static double urand(void) { /* splitmix64 -> [0, 1) */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static float *rand_host(int64_t n, double lo, double hi) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * urand());
    return p;
}

static void die_cuda(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    fprintf(stderr, "FATAL: %s: %s (%s)\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
    exit(1);
}

/* Device buffer of `bytes` with GUARD_BYTES of GUARD_BYTE on either side; the interior is
 * filled from host (or the pattern when host is NULL). */
static void *guarded_dev(size_t bytes, const void *host) {
    char *base;
    die_cuda(cudaMalloc((void **)&base, bytes + 2 * GUARD_BYTES), "cudaMalloc");
    die_cuda(cudaMemset(base, GUARD_BYTE, bytes + 2 * GUARD_BYTES), "cudaMemset");
    if (host) die_cuda(cudaMemcpy(base + GUARD_BYTES, host, bytes, cudaMemcpyHostToDevice), "H2D");
    return base + GUARD_BYTES;
}

/* Check the guard bands, copy the interior to host (when non-NULL) and free. */
static void guarded_finish(const char *what, void *dev, size_t bytes, void *host) {
    char *base = (char *)dev - GUARD_BYTES;
    unsigned char *g = malloc(2 * GUARD_BYTES);
    die_cuda(cudaStreamSynchronize(stream), what);
    die_cuda(cudaMemcpy(g, base, GUARD_BYTES, cudaMemcpyDeviceToHost), "D2H guard");
    die_cuda(cudaMemcpy(g + GUARD_BYTES, base + GUARD_BYTES + bytes, GUARD_BYTES,
                        cudaMemcpyDeviceToHost), "D2H guard");
    for (int i = 0; i < 2 * GUARD_BYTES; i++)
        if (g[i] != GUARD_BYTE) {
            fprintf(stderr, "%s: write outside the output (%s guard, byte %d)\n", what,
                    i < GUARD_BYTES ? "front" : "back", i % GUARD_BYTES);
            test_failures++;
            break;
        }
    free(g);
    if (host) die_cuda(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost), "D2H");
    cudaFree(base);
}

static double *to_double(const float *f, int64_t n) {
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

static double max_abs_d(const double *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* Compare float32 GPU output with a float32 CPU reference. */
static void compare_ff(const char *what, const float *got, const float *ref, int64_t n, double atol,
                       double rtol) {
    double *r = to_double(ref, n);
    compare_f32(what, got, r, n, atol, rtol);
    free(r);
}

/* Compare float64 arrays (NaN first, then atol + rtol |ref|). */
static void compare_dd(const char *what, const double *got, const double *ref, int64_t n,
                       double atol, double rtol) {
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || fabs(got[i] - ref[i]) > atol + rtol * fabs(ref[i])) {
            fprintf(stderr, "%s: element %lld: got %.17g, expected %.17g (atol %g, rtol %g)\n",
                    what, (long long)i, got[i], ref[i], atol, rtol);
            test_failures++;
            return;
        }
    }
}

/* ------------------------------------------------------------------ embedding */

static void test_embed(int N, int C1, int C2, int C3, int H, int D) {
    int h2 = (H - 1) / 2 + 1, h3 = (h2 - 1) / 2 + 1;
    const int W = H, W2 = h2, W3 = h3;
    const int64_t n1 = (int64_t)N * C1 * H * W, n2 = (int64_t)N * C2 * h2 * W2,
                  n3 = (int64_t)N * C3 * h3 * W3, no = (int64_t)N * H * W * D;
    float *l1 = rand_host(n1, -1, 1), *l2 = rand_host(n2, -1, 1), *l3 = rand_host(n3, -1, 1);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)D);
    const int C = C1 + C2 + C3;
    for (int d = 0; d < D; d++) idx[d] = (int32_t)((d * 7919 + 13) % C); /* spread over C */
    if (D >= 3) idx[0] = 0, idx[1] = C - 1, idx[2] = C1; /* the edges of each part */
    float *ref = malloc(sizeof(float) * (size_t)no), *got = malloc(sizeof(float) * (size_t)no);
    op_embed_cpu(l1, l2, l3, N, C1, C2, C3, H, W, h2, W2, h3, W3, idx, D, ref, 2);
    float *d1 = guarded_dev(n1 * 4, l1), *d2 = guarded_dev(n2 * 4, l2), *d3 = guarded_dev(n3 * 4, l3);
    int32_t *didx = guarded_dev((size_t)D * 4, idx);
    float *dout = guarded_dev(no * 4, NULL);
    die_cuda(padim_k_embed(d1, d2, d3, N, C1, C2, C3, H, W, h2, W2, h3, W3, didx, D, dout, stream),
             "padim_k_embed");
    char what[96];
    snprintf(what, sizeof(what), "embed N=%d C=%d/%d/%d H=%d D=%d", N, C1, C2, C3, H, D);
    guarded_finish(what, dout, no * 4, got);
    guarded_finish(what, d1, n1 * 4, NULL);
    guarded_finish(what, d2, n2 * 4, NULL);
    guarded_finish(what, d3, n3 * 4, NULL);
    guarded_finish(what, didx, (size_t)D * 4, NULL);
    compare_ff(what, got, ref, no, 0.0, 0.0); /* a pure gather: exact */
    free(l1), free(l2), free(l3), free(idx), free(ref), free(got);
}

/* ------------------------------------------------------------------ statistics */

/* Accumulate two batches (N1 then N2 images) on both sides; compare s1, s2. Then
 * finalize the GPU side from the CPU's sums (isolates the finalize) and compare mean and
 * factor with op_stats_finalize_cpu. */
static void test_stats(cublasHandle_t blas, cusolverDnHandle_t solver, int P, int D, int N1,
                       int N2, int fp64) {
    const int64_t T = padim_tri(D), PD = (int64_t)P * D;
    const int Nmax = N1 > N2 ? N1 : N2;
    char what[96];
    snprintf(what, sizeof(what), "stats P=%d D=%d N=%d+%d %s", P, D, N1, N2, fp64 ? "fp64" : "fp32");
    /* Features with an offset (as post-ReLU activations) and per-channel scale. */
    float *e1 = rand_host((int64_t)N1 * PD, 0.5, 2.5), *e2 = rand_host((int64_t)N2 * PD, 0.5, 2.5);
    float *shift = malloc(sizeof(float) * (size_t)PD);
    memcpy(shift, e1, sizeof(float) * (size_t)PD);
    double *s1 = calloc((size_t)PD, sizeof(double)), *s2 = calloc((size_t)(P * T), sizeof(double));
    op_stats_accumulate_cpu(e1, N1, P, D, shift, s1, s2, 2);
    op_stats_accumulate_cpu(e2, N2, P, D, shift, s1, s2, 2);

    float *demb = guarded_dev((size_t)Nmax * PD * 4, NULL);
    float *dshift = guarded_dev((size_t)PD * 4, shift);
    double *ds1 = guarded_dev((size_t)PD * 8, NULL), *ds2 = guarded_dev((size_t)(P * T) * 8, NULL);
    die_cuda(cudaMemset(ds1, 0, (size_t)PD * 8), "memset");
    die_cuda(cudaMemset(ds2, 0, (size_t)(P * T) * 8), "memset");
    const int gram_np = P < 5 ? P : 5; /* several chunks, the last one partial */
    float *dgram = guarded_dev((size_t)gram_np * D * D * 4, NULL);
    cublasSetStream(blas, stream);
    cusolverDnSetStream(solver, stream);
    die_cuda(cudaMemcpy(demb, e1, (size_t)N1 * PD * 4, cudaMemcpyHostToDevice), "H2D");
    CHECK_OK(padim_cuda_stats_accumulate(blas, stream, demb, N1, P, D, dshift, ds1, ds2, dgram, gram_np));
    die_cuda(cudaStreamSynchronize(stream), "accumulate");
    die_cuda(cudaMemcpy(demb, e2, (size_t)N2 * PD * 4, cudaMemcpyHostToDevice), "H2D");
    CHECK_OK(padim_cuda_stats_accumulate(blas, stream, demb, N2, P, D, dshift, ds1, ds2, dgram, gram_np));
    double *g1 = malloc(sizeof(double) * (size_t)PD), *g2 = malloc(sizeof(double) * (size_t)(P * T));
    guarded_finish(what, ds1, (size_t)PD * 8, g1);
    guarded_finish(what, ds2, (size_t)(P * T) * 8, g2);
    guarded_finish(what, dgram, (size_t)gram_np * D * D * 4, NULL);
    guarded_finish(what, demb, (size_t)Nmax * PD * 4, NULL);
    /* s1: float64 differences x - shift summed in float64 on both sides, equal up to order.
     * s2: the GPU forms each batch's products in float32 (<= 32 terms of size <= 4):
     * about N * 2^-24 relative of the sum of |products| (bounded by 4 N), so atol. */
    compare_dd("stats s1", g1, s1, PD, 1e-9 * (N1 + N2), 1e-12);
    compare_dd("stats s2", g2, s2, P * T, 4e-6 * (N1 + N2), 1e-5);

    /* Finalize from the CPU's sums on both sides. */
    const int64_t n = N1 + N2;
    const double eps = 0.01;
    float *mean_c = malloc(sizeof(float) * (size_t)PD), *fac_c = malloc(sizeof(float) * (size_t)(P * T));
    float *mean_g = malloc(sizeof(float) * (size_t)PD), *fac_g = malloc(sizeof(float) * (size_t)(P * T));
    CHECK_OK(op_stats_finalize_cpu(n, P, D, shift, s1, s2, eps, mean_c, fac_c, 2));
    ds1 = guarded_dev((size_t)PD * 8, s1);
    ds2 = guarded_dev((size_t)(P * T) * 8, s2);
    float *dmean = guarded_dev((size_t)PD * 4, NULL);
    padim_cuda_finalize_ws ws;
    /* A small budget forces several chunks (and a partial last one). */
    CHECK_OK(padim_cuda_finalize_ws_alloc(&ws, P, D, fp64, (size_t)3 * 2 * D * D * 8, stream));
    CHECK_OK(padim_cuda_stats_finalize(blas, solver, stream, &ws, n, P, D, dshift, ds1, ds2, eps,
                                       dmean, mean_g, fac_g));
    guarded_finish(what, dmean, (size_t)PD * 4, NULL);
    compare_ff("finalize mean", mean_g, mean_c, PD, 1e-6, 1e-6);
    /* Factor: float64 Cholesky + solve on both sides, rounded to float: ~1e-6 relative of
     * the row's scale; float32 on the GPU adds ~cond * 2^-24 (cond <= ~1e3 with eps 0.01
     * and these variances). */
    double *fc = to_double(fac_c, P * T);
    const double fmax_abs = max_abs_d(fc, P * T);
    compare_f32("finalize factor", fac_g, fc, P * T, (fp64 ? 1e-6 : 2e-4) * fmax_abs, fp64 ? 1e-5 : 1e-3);
    free(fc);

    /* Failure path: a negative eps makes position 0 indefinite -> PADIM_ERR_NUMERIC. */
    const padim_status st = padim_cuda_stats_finalize(blas, solver, stream, &ws, n, P, D, dshift,
                                                      ds1, ds2, -1e6, dmean, mean_g, fac_g);
    CHECK(st == PADIM_ERR_NUMERIC);
    CHECK(strstr(padim_last_error(), "position 0") != NULL);
    padim_clear_error();

    padim_cuda_finalize_ws_free(&ws);
    guarded_finish(what, ds1, (size_t)PD * 8, NULL);
    guarded_finish(what, ds2, (size_t)(P * T) * 8, NULL);
    guarded_finish(what, dshift, (size_t)PD * 4, NULL);
    free(e1), free(e2), free(shift), free(s1), free(s2), free(g1), free(g2);
    free(mean_c), free(fac_c), free(mean_g), free(fac_g);
}

/* ------------------------------------------------------------------ Mahalanobis */

static void test_mahalanobis(int N, int P, int D) {
    const int64_t T = padim_tri(D), PD = (int64_t)P * D;
    float *emb = rand_host((int64_t)N * PD, -2, 2), *mean = rand_host(PD, -1, 1);
    /* A plausible L^-1: lower, diagonal in [0.5, 1.5], off-diagonal small. */
    float *fac = rand_host(P * T, -0.3 / sqrt((double)D), 0.3 / sqrt((double)D));
    for (int p = 0; p < P; p++)
        for (int i = 0; i < D; i++) fac[p * T + padim_tri(i) + i] = (float)(0.5 + urand());
    float *ref = malloc(sizeof(float) * (size_t)N * P), *got = malloc(sizeof(float) * (size_t)N * P);
    op_mahalanobis_cpu(emb, N, P, D, mean, fac, ref, 2);
    float *demb = guarded_dev((size_t)N * PD * 4, emb), *dmean = guarded_dev((size_t)PD * 4, mean);
    float *dfac = guarded_dev((size_t)(P * T) * 4, fac), *ddist = guarded_dev((size_t)N * P * 4, NULL);
    die_cuda(padim_k_mahalanobis(demb, N, P, D, dmean, dfac, ddist, stream), "padim_k_mahalanobis");
    char what[96];
    snprintf(what, sizeof(what), "mahalanobis N=%d P=%d D=%d", N, P, D);
    guarded_finish(what, ddist, (size_t)N * P * 4, got);
    guarded_finish(what, demb, (size_t)N * PD * 4, NULL);
    guarded_finish(what, dmean, (size_t)PD * 4, NULL);
    guarded_finish(what, dfac, (size_t)(P * T) * 4, NULL);
    /* float32 dot products of <= 550 terms on both sides, different order: ~sqrt(D) ulp. */
    compare_ff(what, got, ref, (int64_t)N * P, 1e-6, 2e-5);
    free(emb), free(mean), free(fac), free(ref), free(got);
}

/* ------------------------------------------------------------------ maps */

static void test_upsample(int N, int H, int W, int S) {
    float *in = rand_host((int64_t)N * H * W, 0, 10);
    const int64_t no = (int64_t)N * S * S;
    float *ref = malloc(sizeof(float) * (size_t)no), *got = malloc(sizeof(float) * (size_t)no);
    op_upsample_bilinear_cpu(in, N, H, W, S, ref);
    float *din = guarded_dev((size_t)N * H * W * 4, in), *dout = guarded_dev((size_t)no * 4, NULL);
    die_cuda(padim_k_upsample_bilinear(din, N, H, W, S, dout, stream), "upsample");
    char what[96];
    snprintf(what, sizeof(what), "upsample N=%d %dx%d -> %d", N, H, W, S);
    guarded_finish(what, dout, (size_t)no * 4, got);
    guarded_finish(what, din, (size_t)N * H * W * 4, NULL);
    /* Same float operations in the same order (no FMA contraction on either side). */
    compare_ff(what, got, ref, no, 0.0, 1e-7);
    free(in), free(ref), free(got);
}

static void test_blur(int N, int S, double sigma, int pad_mode) {
    const int64_t n = (int64_t)N * S * S;
    float *maps = rand_host(n, 0, 10);
    float *ref = malloc(sizeof(float) * (size_t)n), *got = malloc(sizeof(float) * (size_t)n);
    memcpy(ref, maps, sizeof(float) * (size_t)n);
    op_gaussian_blur_cpu(ref, N, S, sigma, pad_mode, 2);
    const int R = padim_gaussian_weights(sigma, NULL);
    float *w = malloc(sizeof(float) * (size_t)(2 * R + 1));
    padim_gaussian_weights(sigma, w);
    float *dmaps = guarded_dev((size_t)n * 4, maps), *dtmp = guarded_dev((size_t)n * 4, NULL);
    float *dw = guarded_dev((size_t)(2 * R + 1) * 4, w);
    die_cuda(padim_k_gaussian_blur(dmaps, dtmp, N, S, dw, R, pad_mode, stream), "blur");
    char what[96];
    snprintf(what, sizeof(what), "blur N=%d S=%d sigma=%g pad=%d", N, S, sigma, pad_mode);
    guarded_finish(what, dmaps, (size_t)n * 4, got);
    guarded_finish(what, dtmp, (size_t)n * 4, NULL);
    guarded_finish(what, dw, (size_t)(2 * R + 1) * 4, NULL);
    /* float accumulation of 2 x 33 positive terms vs float64 on the CPU. */
    compare_ff(what, got, ref, n, 1e-5, 1e-5);
    free(maps), free(ref), free(got), free(w);
}

static void test_map_max(int N, int S, int with_nan) {
    const int64_t n = (int64_t)N * S * S;
    float *maps = rand_host(n, -5, 5);
    if (with_nan) maps[(int64_t)(N - 1) * S * S + (S * S) / 2] = NAN;
    float *ref = malloc(sizeof(float) * (size_t)N), *got = malloc(sizeof(float) * (size_t)N);
    op_map_max_cpu(maps, N, S, ref);
    float *dmaps = guarded_dev((size_t)n * 4, maps), *dsc = guarded_dev((size_t)N * 4, NULL);
    die_cuda(padim_k_map_max(dmaps, N, S, dsc, stream), "map max");
    char what[96];
    snprintf(what, sizeof(what), "map max N=%d S=%d nan=%d", N, S, with_nan);
    guarded_finish(what, dsc, (size_t)N * 4, got);
    guarded_finish(what, dmaps, (size_t)n * 4, NULL);
    if (with_nan) {
        CHECK(isnan(got[N - 1]) && isnan(ref[N - 1]));
        compare_ff(what, got, ref, N - 1, 0.0, 0.0);
    } else {
        compare_ff(what, got, ref, N, 0.0, 0.0); /* a max is exact */
    }
    free(maps), free(ref), free(got);
}

/* ------------------------------------------------------------------ main */

int main(void) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        char why[128];
        snprintf(why, sizeof(why), "no CUDA device (cudaGetDeviceCount: %s, %d devices)",
                 cudaGetErrorName(e), count);
        test_skip(why);
    }
    die_cuda(cudaStreamCreate(&stream), "cudaStreamCreate");
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS || cusolverDnCreate(&solver) != CUSOLVER_STATUS_SUCCESS) {
        fprintf(stderr, "FATAL: cannot create cuBLAS / cuSOLVER handles\n");
        return 1;
    }

    /* embedding: D in 1, 7, 33, 100, 550; grids 1, 7 (odd), 16, 64; real channel counts */
    test_embed(1, 3, 5, 7, 1, 1);
    test_embed(3, 5, 6, 7, 7, 7);
    test_embed(1, 64, 128, 256, 16, 33);
    test_embed(3, 64, 128, 256, 64, 100);
    test_embed(2, 256, 512, 1024, 8, 550);
    test_embed(32, 8, 16, 32, 7, 100);
    /* grid 198 (S = 789): layer3 50 -> 198, where torch's float nearest index differs from
     * the integer floor(dst * in / out) at dst = 99 */
    test_embed(1, 2, 3, 4, 198, 9);

    /* statistics: P in 1, 49, 3136 (small D), D in 1, 7, 33, 100, 550; both factor
     * precisions on the mid sizes */
    for (int fp64 = 1; fp64 >= 0; fp64--) {
        test_stats(blas, solver, 1, 1, 3, 1, fp64);
        test_stats(blas, solver, 49, 7, 3, 32, fp64);
        test_stats(blas, solver, 49, 33, 32, 3, fp64);
    }
    test_stats(blas, solver, 3136, 7, 3, 1, 1);
    test_stats(blas, solver, 7, 100, 32, 32, 1);
    test_stats(blas, solver, 3, 550, 32, 3, 1);

    /* Mahalanobis */
    test_mahalanobis(1, 1, 1);
    test_mahalanobis(3, 49, 7);
    test_mahalanobis(32, 49, 33);
    test_mahalanobis(3, 4096, 100);
    test_mahalanobis(32, 7, 550);
    test_mahalanobis(9, 3136, 1);
    test_mahalanobis(1, 17, 550);
    test_mahalanobis(3, 2, 1600); /* D > 1500: the 2-image tiles, last tile partial */

    /* maps */
    test_upsample(1, 1, 1, 5);
    test_upsample(3, 7, 7, 33);
    test_upsample(2, 64, 64, 256);
    test_upsample(1, 56, 56, 224);
    test_upsample(32, 16, 16, 64);
    for (int pad = 0; pad <= 1; pad++) {
        test_blur(1, 33, 4.0, pad);
        test_blur(3, 64, 4.0, pad);
        test_blur(2, 7, 4.0, pad); /* radius 16 > S: repeated reflection */
        test_blur(1, 256, 4.0, pad);
        test_blur(1, 1, 4.0, pad);
        test_blur(3, 49, 1.3, pad);
    }
    test_map_max(1, 1, 0);
    test_map_max(3, 33, 0);
    test_map_max(32, 256, 0);
    test_map_max(3, 64, 1);

    cusolverDnDestroy(solver);
    cublasDestroy(blas);
    cudaStreamDestroy(stream);
    return test_finish("test_cuda_ops");
}
