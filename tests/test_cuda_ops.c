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
#include "cuda_kernel_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cudaStream_t stream;

/* The device-memory helpers and the kernel-only cases are in cuda_kernel_cases.c, shared
 * with the emulated test of tests/emu; what needs cuBLAS / cuSOLVER stays here. */

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

    kc_set_stream(stream);
    kc_run_all(0);

    /* statistics through the host functions (cuBLAS gram, cuSOLVER Cholesky): P in 1, 49,
     * 3136 (small D), D in 1, 7, 33, 100, 550; both factor precisions on the mid sizes */
    for (int fp64 = 1; fp64 >= 0; fp64--) {
        test_stats(blas, solver, 1, 1, 3, 1, fp64);
        test_stats(blas, solver, 49, 7, 3, 32, fp64);
        test_stats(blas, solver, 49, 33, 32, 3, fp64);
    }
    test_stats(blas, solver, 3136, 7, 3, 1, 1);
    test_stats(blas, solver, 7, 100, 32, 32, 1);
    test_stats(blas, solver, 3, 550, 32, 3, 1);

    cusolverDnDestroy(solver);
    cublasDestroy(blas);
    cudaStreamDestroy(stream);
    return test_finish("test_cuda_ops");
}
