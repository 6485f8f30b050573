/*
 * cuda_kernel_cases.c - see cuda_kernel_cases.h. Compiled twice: into test_cuda_ops
 * against the CUDA runtime, into test_cuda_kernels_emu against tests/emu/include (PADIM_EMU).
 */
#include "cuda_kernel_cases.h"

#include "common.h"
#include "cpu/ops.h"
#include "half.h"
#include "kernels.h"
#include "test_util.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef PADIM_EMU
#include "padim_emu.h"
#endif

#define GUARD_BYTES 256
#define GUARD_BYTE 0xA5

static cudaStream_t kc_stream;

void kc_set_stream(cudaStream_t stream) { kc_stream = stream; }

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_state = 12345;
double urand(void) { /* splitmix64 -> [0, 1) */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

float *rand_host(int64_t n, double lo, double hi) {
    float *p = malloc(sizeof(float) * (n > 0 ? (size_t)n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * urand());
    return p;
}

void die_cuda(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    fprintf(stderr, "FATAL: %s: %s (%s)\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
    exit(1);
}

/* Under the emulator the guard bands are also ASan-poisoned: a kernel that reads or writes
 * them is stopped at the access (with its source line) instead of found afterwards. */
static void guard_poison(char *base, size_t bytes, int on) {
#ifdef PADIM_EMU
    padim_emu_poison(base, GUARD_BYTES, on);
    padim_emu_poison(base + GUARD_BYTES + bytes, GUARD_BYTES, on);
#else
    (void)base, (void)bytes, (void)on;
#endif
}

void *guarded_dev(size_t bytes, const void *host) {
    char *base;
    die_cuda(cudaMalloc((void **)&base, bytes + 2 * GUARD_BYTES), "cudaMalloc");
    die_cuda(cudaMemset(base, GUARD_BYTE, bytes + 2 * GUARD_BYTES), "cudaMemset");
    if (host) die_cuda(cudaMemcpy(base + GUARD_BYTES, host, bytes, cudaMemcpyHostToDevice), "H2D");
    guard_poison(base, bytes, 1);
    return base + GUARD_BYTES;
}

void guarded_finish(const char *what, void *dev, size_t bytes, void *host) {
    char *base = (char *)dev - GUARD_BYTES;
    unsigned char *g = malloc(2 * GUARD_BYTES);
    die_cuda(cudaStreamSynchronize(kc_stream), what);
    guard_poison(base, bytes, 0);
    die_cuda(cudaMemcpy(g, base, GUARD_BYTES, cudaMemcpyDeviceToHost), "D2H guard");
    die_cuda(cudaMemcpy(g + GUARD_BYTES, base + GUARD_BYTES + bytes, GUARD_BYTES,
                        cudaMemcpyDeviceToHost),
             "D2H guard");
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

double *to_double(const float *f, int64_t n) {
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

double max_abs_d(const double *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

void compare_ff(const char *what, const float *got, const float *ref, int64_t n, double atol,
                double rtol) {
    double *r = to_double(ref, n);
    compare_f32(what, got, r, n, atol, rtol);
    free(r);
}

void compare_dd(const char *what, const double *got, const double *ref, int64_t n, double atol,
                double rtol) {
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

void kc_embed(int N, int C1, int C2, int C3, int H, int D) {
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
    float *d1 = guarded_dev(n1 * 4, l1), *d2 = guarded_dev(n2 * 4, l2),
          *d3 = guarded_dev(n3 * 4, l3);
    int32_t *didx = guarded_dev((size_t)D * 4, idx);
    float *dout = guarded_dev(no * 4, NULL);
    die_cuda(
        padim_k_embed(d1, d2, d3, N, C1, C2, C3, H, W, h2, W2, h3, W3, didx, D, dout, kc_stream),
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

/* ------------------------------------------------------------------ conversions */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Magnitude of the bfloat16 with the 15 bits b (exponent 8, mantissa 7); b = 0x7f80, the
 * value after the largest finite one, is 2^128: IEEE's overflow threshold lies half-way. */
static double bf16_magnitude(uint32_t b) {
    const int e = (int)(b >> 7), m = (int)(b & 0x7fu);
    return e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
}

/* bfloat16 reference by search, not by the bit arithmetic of the kernels: of the two
 * bfloat16 magnitudes that bracket |x| (its truncation and the next one up), the nearer in
 * float64 (differences of these values are exact), ties to the even mantissa. */
static uint16_t bf16_nearest(float x) {
    const uint32_t u = f32_bits(x), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7fc0; /* NaN (any NaN is accepted) */
    const uint32_t t = a >> 16;
    if (a == 0x7f800000u) return (uint16_t)(sign | t);
    const double v = fabs((double)x), below = v - bf16_magnitude(t),
                 above = bf16_magnitude(t + 1) - v;
    const uint32_t r = (below < above || (below == above && !(t & 1u))) ? t : t + 1;
    return (uint16_t)(sign | r);
}

static int f16_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu); }
static int bf16_is_nan(uint16_t h) { return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu); }

/* Inputs: the edges of both formats first (ties, the overflow thresholds, subnormals,
 * signed zero, Inf, NaN), then alternately a log-uniform magnitude over and around the
 * half range with a random sign, and a random float bit pattern (any exponent, NaNs). */
static float *convert_inputs(int64_t n) {
    static const float edges[] = {
        0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f,
        5.9604645e-8f /* 2^-24 */, 2.9802322e-8f /* 2^-25: tie to 0 */,
        8.9406967e-8f /* 1.5 * 2^-24: tie to 2^-23 */, 6.1035156e-5f /* 2^-14 */,
        6.1004353e-5f, 1e-10f, INFINITY, -INFINITY, NAN, 3.4028235e38f, 1.1754944e-38f, 1e-45f,
        1.00390625f /* 1 + 2^-8: bfloat16 tie to 1 */, 1.01171875f /* tie up */,
        2049.0f /* half tie to 2048 */, 2051.0f /* half tie to 2052 */};
    const int64_t ne = (int64_t)(sizeof(edges) / sizeof(edges[0]));
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        if (i < ne) {
            x[i] = edges[i];
        } else if (i % 2) {
            x[i] = bits_f32((uint32_t)(urand() * 4294967296.0));
        } else {
            const double mag = ldexp(1.0 + urand(), (int)(urand() * 48.0) - 30);
            x[i] = (float)(urand() < 0.5 ? -mag : mag);
        }
    }
    return x;
}

/* First mismatch of a 16-bit result (reported with the input bits), or an ok line. */
static void check_bits16(const char *what, const float *in, const uint16_t *got,
                         const uint16_t *ref, int (*is_nan)(uint16_t), int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const int ok = isnan(in[i]) ? is_nan(got[i]) : got[i] == ref[i];
        if (!ok) {
            fprintf(stderr, "%s: element %lld: input 0x%08x (%.9g): got 0x%04x, expected 0x%04x\n",
                    what, (long long)i, f32_bits(in[i]), (double)in[i], got[i], ref[i]);
            test_failures++;
            return;
        }
    }
    fprintf(stderr, "%s: ok (%lld values, bit-exact)\n", what, (long long)n);
}

static void check_bits32(const char *what, const uint16_t *in, const float *got, const float *ref,
                         int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const int ok = isnan(ref[i]) ? isnan(got[i]) : f32_bits(got[i]) == f32_bits(ref[i]);
        if (!ok) {
            fprintf(stderr, "%s: element %lld: input 0x%04x: got 0x%08x, expected 0x%08x\n", what,
                    (long long)i, in[i], f32_bits(got[i]), f32_bits(ref[i]));
            test_failures++;
            return;
        }
    }
    fprintf(stderr, "%s: ok (%lld values, bit-exact)\n", what, (long long)n);
}

void kc_convert(int64_t n) {
    float *x = convert_inputs(n);
    uint16_t *pat = malloc(2 * (size_t)n), *h = malloc(2 * (size_t)n), *b = malloc(2 * (size_t)n);
    uint16_t *href = malloc(2 * (size_t)n), *bref = malloc(2 * (size_t)n);
    float *fh = malloc(4 * (size_t)n), *fb = malloc(4 * (size_t)n);
    float *fhref = malloc(4 * (size_t)n), *fbref = malloc(4 * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        pat[i] = (uint16_t)((i * 40503) & 0xffff); /* odd factor: every pattern once per 65536 */
        href[i] = padim_f32_to_f16(x[i]);
        bref[i] = bf16_nearest(x[i]);
        fhref[i] = padim_f16_to_f32(pat[i]);
        fbref[i] = bits_f32((uint32_t)pat[i] << 16);
    }
    float *dx = guarded_dev((size_t)n * 4, x);
    uint16_t *dpat = guarded_dev((size_t)n * 2, pat);
    uint16_t *dh = guarded_dev((size_t)n * 2, NULL), *db = guarded_dev((size_t)n * 2, NULL);
    float *dfh = guarded_dev((size_t)n * 4, NULL), *dfb = guarded_dev((size_t)n * 4, NULL);
    die_cuda(padim_k_f32_to_f16(dx, n, dh, kc_stream), "padim_k_f32_to_f16");
    die_cuda(padim_k_f32_to_bf16(dx, n, db, kc_stream), "padim_k_f32_to_bf16");
    die_cuda(padim_k_f16_to_f32(dpat, n, dfh, kc_stream), "padim_k_f16_to_f32");
    die_cuda(padim_k_bf16_to_f32(dpat, n, dfb, kc_stream), "padim_k_bf16_to_f32");
    char what[4][64];
    snprintf(what[0], sizeof(what[0]), "f32 -> f16 n=%lld", (long long)n);
    snprintf(what[1], sizeof(what[1]), "f32 -> bf16 n=%lld", (long long)n);
    snprintf(what[2], sizeof(what[2]), "f16 -> f32 n=%lld", (long long)n);
    snprintf(what[3], sizeof(what[3]), "bf16 -> f32 n=%lld", (long long)n);
    guarded_finish(what[0], dh, (size_t)n * 2, h);
    guarded_finish(what[1], db, (size_t)n * 2, b);
    guarded_finish(what[2], dfh, (size_t)n * 4, fh);
    guarded_finish(what[3], dfb, (size_t)n * 4, fb);
    guarded_finish(what[0], dx, (size_t)n * 4, NULL);
    guarded_finish(what[2], dpat, (size_t)n * 2, NULL);
    check_bits16(what[0], x, h, href, f16_is_nan, n);
    check_bits16(what[1], x, b, bref, bf16_is_nan, n);
    check_bits32(what[2], pat, fh, fhref, n);
    check_bits32(what[3], pat, fb, fbref, n);
    free(x), free(pat), free(h), free(b), free(href), free(bref);
    free(fh), free(fb), free(fhref), free(fbref);
}

/* ------------------------------------------------------------------ statistics kernels */

/* The gram of one chunk as the CUDA fit's cublasSgemmStridedBatched forms it: G_k = X_k
 * X_k^T, X_k the (D, N) centred batch at position p0 + k, column-major (i, j) at j * D + i.
 * Summed in float64 and rounded once (cuBLAS sums in float32; the s2 tolerance covers it). */
static void host_gram(const float *xc, int N, int P, int D, int p0, int np, float *gram) {
    for (int k = 0; k < np; k++)
        for (int j = 0; j < D; j++)
            for (int i = 0; i < D; i++) {
                double acc = 0.0;
                for (int n = 0; n < N; n++) {
                    const float *x = xc + ((int64_t)n * P + p0 + k) * D;
                    acc += (double)x[i] * (double)x[j];
                }
                gram[((int64_t)k * D + j) * D + i] = (float)acc;
            }
}

/* One batch through center_sum (checked: emb becomes emb - shift, exactly) and add_packed
 * (the host gram of each chunk uploaded to dgram). */
static void stats_batch(const char *what, const float *e, int N, int P, int D, const float *shift,
                        float *demb, const float *dshift, double *ds1, double *ds2, float *dgram,
                        int gram_np) {
    const int64_t PD = (int64_t)P * D, DD = (int64_t)D * D;
    float *xc = malloc(sizeof(float) * (size_t)(N * PD)),
          *ref = malloc(sizeof(float) * (size_t)(N * PD));
    float *gram = malloc(sizeof(float) * (size_t)(gram_np * DD));
    die_cuda(cudaMemcpy(demb, e, sizeof(float) * (size_t)(N * PD), cudaMemcpyHostToDevice), "H2D");
    die_cuda(padim_k_center_sum(demb, N, P, D, dshift, ds1, kc_stream), "padim_k_center_sum");
    die_cuda(cudaStreamSynchronize(kc_stream), what);
    die_cuda(cudaMemcpy(xc, demb, sizeof(float) * (size_t)(N * PD), cudaMemcpyDeviceToHost), "D2H");
    for (int64_t i = 0; i < N * PD; i++) ref[i] = e[i] - shift[i % PD];
    compare_ff("center_sum emb - shift", xc, ref, N * PD, 0.0, 0.0); /* one float subtraction */
    for (int p0 = 0; p0 < P; p0 += gram_np) {
        const int np = P - p0 < gram_np ? P - p0 : gram_np;
        host_gram(xc, N, P, D, p0, np, gram);
        die_cuda(cudaMemcpy(dgram, gram, sizeof(float) * (size_t)(np * DD), cudaMemcpyHostToDevice),
                 "H2D");
        die_cuda(padim_k_add_packed(dgram, np, D, p0, ds2, kc_stream), "padim_k_add_packed");
        die_cuda(cudaStreamSynchronize(kc_stream), what); /* dgram is rewritten next */
    }
    free(xc), free(ref), free(gram);
}

/* Host Cholesky and inverse of the chunk's np covariances (column-major, as cuSOLVER potrf
 * and the trsm against the identity leave them): inv_k = L_k^-1, zeros above. fp64: double
 * matrices, else float. Returns 0, or the position that is not positive definite + 1. */
static int host_factor(void *cov, void *inv, int np, int D, int fp64) {
    const int64_t DD = (int64_t)D * D;
    for (int k = 0; k < np; k++) {
        lapack_int info;
        if (fp64) {
            double *a = (double *)inv + k * DD;
            memcpy(a, (double *)cov + k * DD, sizeof(double) * (size_t)DD);
            info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', D, a, D);
            if (!info) info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', D, a, D);
            for (int j = 1; j < D; j++)
                for (int i = 0; i < j; i++) a[(int64_t)j * D + i] = 0.0;
        } else {
            float *a = (float *)inv + k * DD;
            memcpy(a, (float *)cov + k * DD, sizeof(float) * (size_t)DD);
            info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', D, a, D);
            if (!info) info = LAPACKE_strtri(LAPACK_COL_MAJOR, 'L', 'N', D, a, D);
            for (int j = 1; j < D; j++)
                for (int i = 0; i < j; i++) a[(int64_t)j * D + i] = 0.0f;
        }
        if (info) return k + 1;
    }
    return 0;
}

/* Covariance chunk check: identity exact, cov against the kernel's float64 formula (on
 * the device the subtraction may be fused: 1e-12 of the largest entry), rounded to float
 * when !fp64 (2^-24 relative). */
static void check_covariance(const char *what, const void *cov, const void *eye, const double *s1,
                             const double *s2, int64_t n, int p0, int np, int D, double eps,
                             int fp64) {
    const int64_t DD = (int64_t)D * D, T = padim_tri(D);
    double *ref = malloc(sizeof(double) * (size_t)(np * DD)),
           *got = malloc(sizeof(double) * (size_t)(np * DD));
    const double inv_n = 1.0 / (double)n, inv_n1 = 1.0 / (double)(n - 1);
    int eye_ok = 1;
    for (int k = 0; k < np; k++)
        for (int j = 0; j < D; j++)
            for (int i = 0; i < D; i++) {
                const int64_t e = k * DD + (int64_t)j * D + i, p = p0 + k;
                const int hi = i > j ? i : j, lo = i > j ? j : i;
                const double a = s1[p * D + i], b = s1[p * D + j];
                ref[e] = (s2[p * T + padim_tri(hi) + lo] - a * b * inv_n) * inv_n1 +
                         (i == j ? eps : 0.0);
                got[e] = fp64 ? ((const double *)cov)[e] : (double)((const float *)cov)[e];
                const double id = fp64 ? ((const double *)eye)[e] : (double)((const float *)eye)[e];
                if (id != (i == j ? 1.0 : 0.0)) eye_ok = 0;
            }
    if (!eye_ok) {
        fprintf(stderr, "%s: the identity right-hand side is wrong (positions %d..%d)\n", what, p0,
                p0 + np - 1);
        test_failures++;
    }
    const double m = max_abs_d(ref, np * DD);
    compare_dd(what, got, ref, np * DD, fp64 ? 1e-12 * m : 1e-7 * m, fp64 ? 1e-12 : 1e-6);
    free(ref), free(got);
}

void kc_stats_kernels(int P, int D, int N1, int N2, int gram_np, int fp64) {
    const int64_t T = padim_tri(D), PD = (int64_t)P * D, DD = (int64_t)D * D;
    const int Nmax = N1 > N2 ? N1 : N2;
    const size_t elem = fp64 ? sizeof(double) : sizeof(float);
    char what[96];
    snprintf(what, sizeof(what), "stats kernels P=%d D=%d N=%d+%d chunk %d %s", P, D, N1, N2,
             gram_np, fp64 ? "fp64" : "fp32");
    /* Features with an offset (as post-ReLU activations); the shift is the first image. */
    float *e1 = rand_host((int64_t)N1 * PD, 0.5, 2.5), *e2 = rand_host((int64_t)N2 * PD, 0.5, 2.5);
    float *shift = malloc(sizeof(float) * (size_t)PD);
    memcpy(shift, e1, sizeof(float) * (size_t)PD);
    double *s1 = calloc((size_t)PD, sizeof(double)), *s2 = calloc((size_t)(P * T), sizeof(double));
    op_stats_accumulate_cpu(e1, N1, P, D, shift, s1, s2, 2);
    op_stats_accumulate_cpu(e2, N2, P, D, shift, s1, s2, 2);

    float *demb = guarded_dev((size_t)Nmax * PD * 4, NULL),
          *dshift = guarded_dev((size_t)PD * 4, shift);
    double *ds1 = guarded_dev((size_t)PD * 8, NULL), *ds2 = guarded_dev((size_t)(P * T) * 8, NULL);
    float *dgram = guarded_dev((size_t)(gram_np * DD) * 4, NULL);
    die_cuda(cudaMemset(ds1, 0, (size_t)PD * 8), "memset");
    die_cuda(cudaMemset(ds2, 0, (size_t)(P * T) * 8), "memset");
    stats_batch(what, e1, N1, P, D, shift, demb, dshift, ds1, ds2, dgram, gram_np);
    stats_batch(what, e2, N2, P, D, shift, demb, dshift, ds1, ds2, dgram, gram_np);
    double *g1 = malloc(sizeof(double) * (size_t)PD),
           *g2 = malloc(sizeof(double) * (size_t)(P * T));
    guarded_finish(what, ds1, (size_t)PD * 8, g1);
    guarded_finish(what, ds2, (size_t)(P * T) * 8, g2);
    guarded_finish(what, dgram, (size_t)(gram_np * DD) * 4, NULL);
    guarded_finish(what, demb, (size_t)Nmax * PD * 4, NULL);
    /* As test_cuda_ops' accumulate: s1 equal up to summation order; s2 from float grams. */
    compare_dd("center_sum s1", g1, s1, PD, 1e-9 * (N1 + N2), 1e-12);
    compare_dd("add_packed s2", g2, s2, P * T, 4e-6 * (N1 + N2), 1e-5);

    /* Finalize from the CPU's sums, kernel by kernel. */
    const int64_t n = N1 + N2;
    const double eps = 0.01;
    float *mean_c = malloc(sizeof(float) * (size_t)PD),
          *fac_c = malloc(sizeof(float) * (size_t)(P * T));
    float *mean_g = malloc(sizeof(float) * (size_t)PD),
          *fac_g = malloc(sizeof(float) * (size_t)(P * T));
    float *mean_x = malloc(sizeof(float) * (size_t)PD);
    CHECK_OK(op_stats_finalize_cpu(n, P, D, shift, s1, s2, eps, mean_c, fac_c, 2));
    double *ds1c = guarded_dev((size_t)PD * 8, s1), *ds2c = guarded_dev((size_t)(P * T) * 8, s2);
    float *dmean = guarded_dev((size_t)PD * 4, NULL);
    die_cuda(padim_k_mean(dshift, ds1c, n, P, D, dmean, kc_stream), "padim_k_mean");
    guarded_finish(what, dmean, (size_t)PD * 4, mean_g);
    for (int64_t i = 0; i < PD; i++) mean_x[i] = (float)((double)shift[i] + s1[i] / (double)n);
    compare_ff("mean (its formula)", mean_g, mean_x, PD, 0.0, 0.0);
    compare_ff("mean (op_stats_finalize_cpu)", mean_g, mean_c, PD, 1e-6, 1e-6);

    void *dcov = guarded_dev((size_t)(gram_np * DD) * elem, NULL);
    void *deye = guarded_dev((size_t)(gram_np * DD) * elem, NULL);
    float *dfac = guarded_dev((size_t)(gram_np * T) * 4, NULL);
    void *cov = malloc((size_t)(gram_np * DD) * elem), *eye = malloc((size_t)(gram_np * DD) * elem);
    void *inv = malloc((size_t)(gram_np * DD) * elem);
    int pack_ok = 1;
    for (int p0 = 0; p0 < P; p0 += gram_np) {
        const int np = P - p0 < gram_np ? P - p0 : gram_np;
        const size_t bytes = (size_t)(np * DD) * elem;
        die_cuda(padim_k_covariance(ds1c, ds2c, n, p0, np, D, eps, fp64, dcov, deye, kc_stream),
                 "padim_k_covariance");
        die_cuda(cudaStreamSynchronize(kc_stream), what);
        die_cuda(cudaMemcpy(cov, dcov, bytes, cudaMemcpyDeviceToHost), "D2H");
        die_cuda(cudaMemcpy(eye, deye, bytes, cudaMemcpyDeviceToHost), "D2H");
        check_covariance("covariance", cov, eye, s1, s2, n, p0, np, D, eps, fp64);
        const int bad = host_factor(cov, inv, np, D, fp64);
        if (bad) {
            fprintf(stderr, "%s: position %d is not positive definite on the host\n", what,
                    p0 + bad - 1);
            test_failures++;
            break;
        }
        die_cuda(cudaMemcpy(deye, inv, bytes, cudaMemcpyHostToDevice), "H2D");
        die_cuda(padim_k_pack_lower(deye, np, D, fp64, dfac, kc_stream), "padim_k_pack_lower");
        die_cuda(cudaStreamSynchronize(kc_stream), what);
        float *fchunk = fac_g + (int64_t)p0 * T;
        die_cuda(cudaMemcpy(fchunk, dfac, sizeof(float) * (size_t)(np * T), cudaMemcpyDeviceToHost),
                 "D2H");
        for (int k = 0; k < np && pack_ok; k++) /* pack_lower is a gather: exact */
            for (int i = 0; i < D && pack_ok; i++)
                for (int j = 0; j <= i; j++) {
                    const int64_t src = k * DD + (int64_t)j * D + i;
                    const float want = fp64 ? (float)((double *)inv)[src] : ((float *)inv)[src];
                    if (f32_bits(fchunk[k * T + padim_tri(i) + j]) != f32_bits(want)) {
                        fprintf(stderr,
                                "%s: pack_lower: position %d, (%d, %d): got %.9g, expected %.9g\n",
                                what, p0 + k, i, j, (double)fchunk[k * T + padim_tri(i) + j],
                                (double)want);
                        test_failures++;
                        pack_ok = 0;
                        break;
                    }
                }
    }
    guarded_finish(what, dcov, (size_t)(gram_np * DD) * elem, NULL);
    guarded_finish(what, deye, (size_t)(gram_np * DD) * elem, NULL);
    guarded_finish(what, dfac, (size_t)(gram_np * T) * 4, NULL);
    /* As test_cuda_ops' finalize: float64 factor ~1e-6 of the row's scale; float32 adds
     * ~cond * 2^-24. */
    double *fc = to_double(fac_c, P * T);
    const double fmax_abs = max_abs_d(fc, P * T);
    compare_f32("factor (op_stats_finalize_cpu)", fac_g, fc, P * T, (fp64 ? 1e-6 : 2e-4) * fmax_abs,
                fp64 ? 1e-5 : 1e-3);
    free(fc);
    guarded_finish(what, ds1c, (size_t)PD * 8, NULL);
    guarded_finish(what, ds2c, (size_t)(P * T) * 8, NULL);
    guarded_finish(what, dshift, (size_t)PD * 4, NULL);
    free(e1), free(e2), free(shift), free(s1), free(s2), free(g1), free(g2);
    free(mean_c), free(fac_c), free(mean_g), free(fac_g), free(mean_x), free(cov), free(eye),
        free(inv);
}

void kc_pointer_array(int np, int64_t stride_bytes) {
    char *base;
    die_cuda(cudaMalloc((void **)&base, (size_t)(np * stride_bytes)), "cudaMalloc");
    void **dptrs = guarded_dev(sizeof(void *) * (size_t)np, NULL);
    die_cuda(padim_k_pointer_array(base, np, stride_bytes, dptrs, kc_stream),
             "padim_k_pointer_array");
    void **got = malloc(sizeof(void *) * (size_t)np);
    char what[64];
    snprintf(what, sizeof(what), "pointer array np=%d stride=%lld", np, (long long)stride_bytes);
    guarded_finish(what, dptrs, sizeof(void *) * (size_t)np, got);
    for (int k = 0; k < np; k++)
        if (got[k] != (void *)(base + k * stride_bytes)) {
            fprintf(stderr, "%s: pointer %d is %p, expected %p\n", what, k, got[k],
                    (void *)(base + k * stride_bytes));
            test_failures++;
            break;
        }
    cudaFree(base);
    free(got);
}
/* ------------------------------------------------------------------ Mahalanobis */

void kc_mahalanobis(int N, int P, int D) {
    const int64_t T = padim_tri(D), PD = (int64_t)P * D;
    float *emb = rand_host((int64_t)N * PD, -2, 2), *mean = rand_host(PD, -1, 1);
    /* A plausible L^-1: lower, diagonal in [0.5, 1.5], off-diagonal small. */
    float *fac = rand_host(P * T, -0.3 / sqrt((double)D), 0.3 / sqrt((double)D));
    for (int p = 0; p < P; p++)
        for (int i = 0; i < D; i++) fac[p * T + padim_tri(i) + i] = (float)(0.5 + urand());
    float *ref = malloc(sizeof(float) * (size_t)N * P),
          *got = malloc(sizeof(float) * (size_t)N * P);
    op_mahalanobis_cpu(emb, N, P, D, mean, fac, ref, 2);
    float *demb = guarded_dev((size_t)N * PD * 4, emb), *dmean = guarded_dev((size_t)PD * 4, mean);
    float *dfac = guarded_dev((size_t)(P * T) * 4, fac),
          *ddist = guarded_dev((size_t)N * P * 4, NULL);
    die_cuda(padim_k_mahalanobis(demb, N, P, D, dmean, dfac, ddist, kc_stream),
             "padim_k_mahalanobis");
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

void kc_upsample(int N, int H, int W, int S) {
    float *in = rand_host((int64_t)N * H * W, 0, 10);
    const int64_t no = (int64_t)N * S * S;
    float *ref = malloc(sizeof(float) * (size_t)no), *got = malloc(sizeof(float) * (size_t)no);
    op_upsample_bilinear_cpu(in, N, H, W, S, ref);
    float *din = guarded_dev((size_t)N * H * W * 4, in), *dout = guarded_dev((size_t)no * 4, NULL);
    die_cuda(padim_k_upsample_bilinear(din, N, H, W, S, dout, kc_stream), "upsample");
    char what[96];
    snprintf(what, sizeof(what), "upsample N=%d %dx%d -> %d", N, H, W, S);
    guarded_finish(what, dout, (size_t)no * 4, got);
    guarded_finish(what, din, (size_t)N * H * W * 4, NULL);
    /* Same float operations in the same order (no FMA contraction on either side). */
    compare_ff(what, got, ref, no, 0.0, 1e-7);
    free(in), free(ref), free(got);
}

void kc_blur(int N, int S, double sigma, int pad_mode) {
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
    die_cuda(padim_k_gaussian_blur(dmaps, dtmp, N, S, dw, R, pad_mode, kc_stream), "blur");
    char what[96];
    snprintf(what, sizeof(what), "blur N=%d S=%d sigma=%g pad=%d", N, S, sigma, pad_mode);
    guarded_finish(what, dmaps, (size_t)n * 4, got);
    guarded_finish(what, dtmp, (size_t)n * 4, NULL);
    guarded_finish(what, dw, (size_t)(2 * R + 1) * 4, NULL);
    /* float accumulation of 2 x 33 positive terms vs float64 on the CPU. */
    compare_ff(what, got, ref, n, 1e-5, 1e-5);
    free(maps), free(ref), free(got), free(w);
}

void kc_map_max(int N, int S, int with_nan) {
    const int64_t n = (int64_t)N * S * S;
    float *maps = rand_host(n, -5, 5);
    if (with_nan) maps[(int64_t)(N - 1) * S * S + (S * S) / 2] = NAN;
    float *ref = malloc(sizeof(float) * (size_t)N), *got = malloc(sizeof(float) * (size_t)N);
    op_map_max_cpu(maps, N, S, ref);
    float *dmaps = guarded_dev((size_t)n * 4, maps), *dsc = guarded_dev((size_t)N * 4, NULL);
    die_cuda(padim_k_map_max(dmaps, N, S, dsc, kc_stream), "map max");
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

/* ------------------------------------------------------------------ all cases */

/* Launchers that refuse their arguments return an error without launching. */
static void launch_refusals(void) {
    CHECK(padim_k_mahalanobis(NULL, 0, 1, 1, NULL, NULL, NULL, kc_stream) == cudaErrorInvalidValue);
    /* D = 6200: even 2-image tiles need more than 48 KB of shared memory */
    CHECK(padim_k_mahalanobis(NULL, 1, 1, 6200, NULL, NULL, NULL, kc_stream) ==
          cudaErrorInvalidValue);
    CHECK(padim_k_map_max(NULL, 0, 1, NULL, kc_stream) == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
}

void kc_run_all(int emulated) {
    /* embedding: D in 1, 7, 33, 100, 550; grids 1, 7 (odd), 16, 64; real channel counts */
    kc_embed(1, 3, 5, 7, 1, 1);
    kc_embed(3, 5, 6, 7, 7, 7);
    kc_embed(1, 64, 128, 256, 16, 33);
    kc_embed(3, 64, 128, 256, 64, 100);
    kc_embed(2, 256, 512, 1024, 8, 550);
    kc_embed(32, 8, 16, 32, 7, 100);
    /* grid 198 (S = 789): layer3 50 -> 198, where torch's float nearest index differs from
     * the integer floor(dst * in / out) at dst = 99 */
    kc_embed(1, 2, 3, 4, 198, 9);

    /* conversions: odd counts (grid-stride tails), every 16-bit pattern, a larger set */
    kc_convert(1);
    kc_convert(7);
    kc_convert(4099);
    kc_convert(65536);
    kc_convert(300001);

    /* statistics kernels: the sizes of test_cuda_ops' accumulate / finalize cases */
    for (int fp64 = 1; fp64 >= 0; fp64--) {
        kc_stats_kernels(1, 1, 3, 1, 1, fp64);
        kc_stats_kernels(49, 7, 3, 32, 5, fp64);
        kc_stats_kernels(49, 33, 32, 3, 5, fp64);
    }
    kc_stats_kernels(3136, 7, 3, 1, 64, 1);
    kc_stats_kernels(7, 100, 32, 32, 3, 1);
    kc_stats_kernels(3, 550, 32, 3, 2, 1);
    kc_pointer_array(1, 8);
    kc_pointer_array(7, 4 * 33 * 33);
    kc_pointer_array(300, 8 * 100 * 100);

    /* Mahalanobis */
    kc_mahalanobis(1, 1, 1);
    kc_mahalanobis(3, 49, 7);
    kc_mahalanobis(32, 49, 33);
    if (emulated)
        kc_mahalanobis(3, 97, 100);
    else
        kc_mahalanobis(3, 4096, 100);
    kc_mahalanobis(32, 7, 550);
    kc_mahalanobis(9, 3136, 1);
    kc_mahalanobis(1, 17, 550);
    kc_mahalanobis(3, 2, 1600); /* D > 1500: the 2-image tiles, last tile partial */

    /* maps */
    kc_upsample(1, 1, 1, 5);
    kc_upsample(3, 7, 7, 33);
    kc_upsample(2, 64, 64, 256);
    kc_upsample(1, 56, 56, 224);
    kc_upsample(32, 16, 16, 64);
    for (int pad = 0; pad <= 1; pad++) {
        kc_blur(1, 33, 4.0, pad);
        kc_blur(3, 64, 4.0, pad);
        kc_blur(2, 7, 4.0, pad); /* radius 16 > S: repeated reflection */
        kc_blur(1, 256, 4.0, pad);
        kc_blur(1, 1, 4.0, pad);
        kc_blur(3, 49, 1.3, pad);
    }
    kc_map_max(1, 1, 0);
    kc_map_max(3, 33, 0);
    kc_map_max(32, 256, 0);
    kc_map_max(3, 64, 1);

    launch_refusals();
}
