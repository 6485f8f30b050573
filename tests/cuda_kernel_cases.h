/*
 * cuda_kernel_cases.h - the test cases of the custom kernels of src/kernels (kernels.h)
 * against their CPU twins, written once for two tests: test_cuda_ops on a real GPU and
 * test_cuda_kernels_emu on the CPU emulator of tests/emu (the same .cu compiled as C++),
 * which is how every kernel line runs in CI without a GPU.
 *
 * A case uploads seeded random inputs into guarded device buffers, runs one launcher,
 * checks that the guard bands survived, then NaN/Inf and a per-op tolerance (failures
 * counted by test_util.h). The device-memory helpers below are shared with the statistics
 * cases of test_cuda_ops.c (cuBLAS / cuSOLVER, GPU only). Under the emulator (PADIM_EMU)
 * the guard bands are also ASan-poisoned, so an out-of-bounds read is reported too.
 */
#ifndef PADIM_CUDA_KERNEL_CASES_H
#define PADIM_CUDA_KERNEL_CASES_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ helpers */

/* The stream every case launches on and synchronizes; set before the first case. */
void kc_set_stream(cudaStream_t stream);

/* Seeded splitmix64 -> [0, 1); rand_host: n floats uniform in [lo, hi) (caller frees). */
double urand(void);
float *rand_host(int64_t n, double lo, double hi);

/* Exit 1 with the call and the CUDA error name and message unless e is cudaSuccess. */
void die_cuda(cudaError_t e, const char *what);

/* Device buffer of `bytes` between two guard bands of a byte pattern; the interior is
 * filled from host (or the pattern when host is NULL). */
void *guarded_dev(size_t bytes, const void *host);
/* Synchronize, check the guard bands (a failure when one changed), copy the interior to
 * host (when non-NULL) and free. */
void guarded_finish(const char *what, void *dev, size_t bytes, void *host);

double *to_double(const float *f, int64_t n); /* caller frees */
double max_abs_d(const double *a, int64_t n);
/* Compare float32 output with a float32 reference / float64 with float64 (NaN first, then
 * atol + rtol |ref|). */
void compare_ff(const char *what, const float *got, const float *ref, int64_t n, double atol,
                double rtol);
void compare_dd(const char *what, const double *got, const double *ref, int64_t n, double atol,
                double rtol);

/* ------------------------------------------------------------------ cases */

/* padim_k_embed vs op_embed_cpu: l1 (N, C1, H, H), l2 and l3 on the halved grids. */
void kc_embed(int N, int C1, int C2, int C3, int H, int D);
/* The four conversions on n values: f32 -> f16 vs padim_f32_to_f16 (half.c), f32 -> bf16 vs a
 * nearest-value search, f16 / bf16 -> f32 over bit patterns (all 65536 when n >= 65536). */
void kc_convert(int64_t n);
/* The statistics kernels one by one, the library steps done on the host as cuBLAS /
 * cuSOLVER would: center_sum and add_packed (gram from the centred batch) for two batches
 * vs op_stats_accumulate_cpu; mean, covariance (+ identity), host Cholesky and inverse,
 * pack_lower vs op_stats_finalize_cpu. Chunks of gram_np positions (last one partial). */
void kc_stats_kernels(int P, int D, int N1, int N2, int gram_np, int fp64);
/* padim_k_pointer_array: np pointers stride_bytes apart, exact. */
void kc_pointer_array(int np, int64_t stride_bytes);
/* padim_k_mahalanobis vs op_mahalanobis_cpu on a plausible packed L^-1. */
void kc_mahalanobis(int N, int P, int D);
/* padim_k_upsample_bilinear, padim_k_gaussian_blur, padim_k_map_max vs their twins. */
void kc_upsample(int N, int H, int W, int S);
void kc_blur(int N, int S, double sigma, int pad_mode);
void kc_map_max(int N, int S, int with_nan);

/* Every case at the odd and real sizes of both tests. emulated = 1 swaps the one case too
 * slow for the CPU emulator (Mahalanobis P = 4096, D = 100: half a billion fiber
 * switches) for P = 97, D = 100; everything else is the same list. */
void kc_run_all(int emulated);

#endif
