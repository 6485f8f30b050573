/*
 * test_ops.c - the CPU PaDiM operations (src/host/cpu/ops_cpu.c, mahalanobis_cpu.c) against independent
 * references dumped by tests/ref_ops.py: torch F.interpolate (nearest, bilinear), NumPy
 * np.cov / cholesky / inv in float64, torch conv2d with reflect padding (anomalib's blur)
 * and scipy.ndimage.gaussian_filter. Seeded inputs at odd sizes; every output buffer has
 * a guard band checked after the op; each comparison states its tolerance and why.
 */
#include "common.h"
#include "cpu/ops.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { GUARD = 16 };
static const float GUARD_VALUE = -12345.678f;
static const int THREADS = 2;

/* ------------------------------------------------------------------ helpers */

static int load(const char *name, npy_array *a) {
    char rel[256];
    snprintf(rel, sizeof(rel), "ops/%s.npy", name);
    if (npy_load(golden_path(rel), a) != 0) {
        fprintf(stderr, "missing golden %s: run /usr/bin/python3 tests/ref_ops.py\n", rel);
        test_failures++;
        return -1;
    }
    return 0;
}

static float *to_f32(const npy_array *a) {
    float *f = malloc(sizeof(float) * (size_t)a->count);
    for (int64_t i = 0; i < a->count; i++) f[i] = (float)a->data[i];
    return f;
}

/* n floats followed by GUARD sentinels. */
static float *guarded(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n + GUARD));
    for (int64_t i = 0; i < n + GUARD; i++) p[i] = GUARD_VALUE;
    return p;
}

static void check_guard(const char *what, const float *p, int64_t n) {
    for (int i = 0; i < GUARD; i++)
        if (p[n + i] != GUARD_VALUE) {
            fprintf(stderr, "%s: write past the end (guard element %d)\n", what, i);
            test_failures++;
            return;
        }
}

static double max_abs(const double *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* ------------------------------------------------------------------ embed */

static void test_embed(const char *c) {
    char nm[64];
    npy_array l1, l2, l3, idx, ref;
    snprintf(nm, sizeof(nm), "embed_%s_l1", c);
    if (load(nm, &l1)) return;
    snprintf(nm, sizeof(nm), "embed_%s_l2", c);
    if (load(nm, &l2)) return;
    snprintf(nm, sizeof(nm), "embed_%s_l3", c);
    if (load(nm, &l3)) return;
    snprintf(nm, sizeof(nm), "embed_%s_idx", c);
    if (load(nm, &idx)) return;
    snprintf(nm, sizeof(nm), "embed_%s_out", c);
    if (load(nm, &ref)) return;
    int N = (int)l1.shape[0], C1 = (int)l1.shape[1], H = (int)l1.shape[2], W = (int)l1.shape[3];
    int C2 = (int)l2.shape[1], H2 = (int)l2.shape[2], W2 = (int)l2.shape[3];
    int C3 = (int)l3.shape[1], H3 = (int)l3.shape[2], W3 = (int)l3.shape[3];
    int D = (int)idx.count;
    int32_t *id = malloc(sizeof(int32_t) * (size_t)D);
    for (int d = 0; d < D; d++) id[d] = (int32_t)idx.data[d];
    float *f1 = to_f32(&l1), *f2 = to_f32(&l2), *f3 = to_f32(&l3);
    float *out = guarded(ref.count);
    op_embed_cpu(f1, f2, f3, N, C1, C2, C3, H, W, H2, W2, H3, W3, id, D, out, 2);
    /* A gather: exact (tolerance 0) against torch nearest + cat + index_select. */
    snprintf(nm, sizeof(nm), "embed %s (%dx%d from %dx%d, %dx%d)", c, H, W, H2, W2, H3, W3);
    compare_f32(nm, out, ref.data, ref.count, 0.0, 0.0);
    check_guard(nm, out, ref.count);
    free(id), free(f1), free(f2), free(f3), free(out);
    npy_free(&l1), npy_free(&l2), npy_free(&l3), npy_free(&idx), npy_free(&ref);
}

/* ------------------------------------------------------------------ stats */

typedef struct fit_result {
    float *mean;   // (P, D)
    float *factor; // (P, T)
    padim_status status;
} fit_result;

/* Accumulate emb (N, P, D) in the given batch sizes (summing to N), then finalize. */
static fit_result fit(const float *emb, int N, int P, int D, double eps, const int *batches,
                      int n_batches) {
    const int64_t T = padim_tri(D);
    fit_result r;
    float *shift = malloc(sizeof(float) * (size_t)P * D);
    memcpy(shift, emb, sizeof(float) * (size_t)P * D); /* the first image, per ops.h */
    double *s1 = calloc((size_t)P * D, sizeof(double)), *s2 = calloc((size_t)(P * T), sizeof(double));
    int n0 = 0;
    for (int b = 0; b < n_batches; b++) {
        op_stats_accumulate_cpu(emb + (int64_t)n0 * P * D, batches[b], P, D, shift, s1, s2, THREADS);
        n0 += batches[b];
    }
    PADIM_ASSERT(n0 == N);
    r.mean = guarded((int64_t)P * D);
    r.factor = guarded(P * T);
    r.status = op_stats_finalize_cpu(N, P, D, shift, s1, s2, eps, r.mean, r.factor, THREADS);
    if (r.status == PADIM_OK) {
        check_guard("finalize mean", r.mean, (int64_t)P * D);
        check_guard("finalize factor", r.factor, P * T);
    }
    free(shift), free(s1), free(s2);
    return r;
}

static void fit_free(fit_result *r) { free(r->mean), free(r->factor); }

static void test_stats(const char *c) {
    char nm[64], what[128];
    npy_array emb, eps, mean, factor, prec;
    snprintf(nm, sizeof(nm), "stats_%s_emb", c);
    if (load(nm, &emb)) return;
    snprintf(nm, sizeof(nm), "stats_%s_eps", c);
    if (load(nm, &eps)) return;
    snprintf(nm, sizeof(nm), "stats_%s_mean", c);
    if (load(nm, &mean)) return;
    snprintf(nm, sizeof(nm), "stats_%s_factor", c);
    if (load(nm, &factor)) return;
    snprintf(nm, sizeof(nm), "stats_%s_prec", c);
    if (load(nm, &prec)) return;
    int N = (int)emb.shape[0], P = (int)emb.shape[1], D = (int)emb.shape[2];
    const int64_t T = padim_tri(D);
    float *x = to_f32(&emb);

    int one[1] = {N};
    fit_result r = fit(x, N, P, D, eps.data[0], one, 1);
    CHECK_OK(r.status);
    if (r.status == PADIM_OK) {
        /* Mean: float64 sums rounded once to float32: 2 ulp of the mean's magnitude. */
        snprintf(what, sizeof(what), "stats %s mean (N %d P %d D %d)", c, N, P, D);
        compare_f32(what, r.mean, mean.data, mean.count, 1e-6, 2.4e-7);
        /* Factor L^-1: same float64 algorithm as NumPy up to summation order, rounded to
         * float32 (the golden too for D > 7): 2e-6 of the largest entry + 1e-5 relative. */
        double fmax_ = max_abs(factor.data, factor.count);
        snprintf(what, sizeof(what), "stats %s factor L^-1 vs inv(cholesky(np.cov))", c);
        compare_f32(what, r.factor, factor.data, factor.count, 2e-6 * fmax_, 1e-5);

        /* Precision F^T F vs np.linalg.inv(cov): a D-term sum of float32 products, so
         * 1e-5 of the largest entry + 1e-4 relative. */
        float *pr = malloc(sizeof(float) * (size_t)(P * T));
        for (int p = 0; p < P; p++) {
            const float *f = r.factor + p * T;
            for (int i = 0; i < D; i++)
                for (int j = 0; j <= i; j++) {
                    double s = 0; /* (F^T F)_ij = sum_k F_ki F_kj, k >= i */
                    for (int k = i; k < D; k++) s += (double)f[padim_tri(k) + i] * f[padim_tri(k) + j];
                    pr[p * T + padim_tri(i) + j] = (float)s;
                }
        }
        snprintf(what, sizeof(what), "stats %s precision F^T F vs np.linalg.inv(cov)", c);
        compare_f32(what, pr, prec.data, prec.count, 1e-5 * max_abs(prec.data, prec.count), 1e-4);
        free(pr);

        /* Streaming: uneven batches must agree with one batch up to float64 summation
         * order (tolerance 1e-6 of the largest factor entry). */
        if (N >= 3) {
            int uneven[3] = {1, N / 2, N - 1 - N / 2};
            fit_result s = fit(x, N, P, D, eps.data[0], uneven, 3);
            CHECK_OK(s.status);
            double *one_f = malloc(sizeof(double) * (size_t)(P * T));
            for (int64_t i = 0; i < P * T; i++) one_f[i] = r.factor[i];
            snprintf(what, sizeof(what), "stats %s batches 1+%d+%d vs one batch", c, N / 2, N - 1 - N / 2);
            compare_f32(what, s.factor, one_f, P * T, 1e-6 * fmax_, 0.0);
            free(one_f);
            fit_free(&s);
        }
    }
    fit_free(&r);
    free(x);
    npy_free(&emb), npy_free(&eps), npy_free(&mean), npy_free(&factor), npy_free(&prec);
}

/* Chunked path: 74 images in one call (two chunks of the op's internal image blocking)
 * must equal two calls of 37 images (tolerance 1e-6 of the largest factor entry). */
static void test_stats_large_batch(void) {
    npy_array emb;
    if (load("stats_s2_emb", &emb)) return;
    int N = (int)emb.shape[0], P = (int)emb.shape[1], D = (int)emb.shape[2];
    const int64_t T = padim_tri(D), per = (int64_t)P * D;
    float *x = malloc(sizeof(float) * (size_t)(2 * N * per));
    for (int64_t i = 0; i < N * per; i++) x[i] = x[N * per + i] = (float)emb.data[i];
    int one[1] = {2 * N}, two[2] = {N, N};
    fit_result a = fit(x, 2 * N, P, D, 0.01, one, 1), b = fit(x, 2 * N, P, D, 0.01, two, 2);
    CHECK_OK(a.status);
    CHECK_OK(b.status);
    double *ref = malloc(sizeof(double) * (size_t)(P * T));
    double m = 0;
    for (int64_t i = 0; i < P * T; i++) ref[i] = b.factor[i], m = fmax(m, fabs(ref[i]));
    compare_f32("stats 74 images in one call vs 37 + 37", a.factor, ref, P * T, 1e-6 * m, 0.0);
    free(ref), free(x);
    fit_free(&a), fit_free(&b);
    npy_free(&emb);
}

/* Rank deficiency: N = 3 < D = 33 is factorized thanks to eps (checked against NumPy in
 * test_stats("rank")); eps = 0 must fail with PADIM_ERR_NUMERIC naming the position. */
static void test_stats_not_pd(void) {
    npy_array emb;
    if (load("stats_rank_emb", &emb)) return;
    int N = (int)emb.shape[0], P = (int)emb.shape[1], D = (int)emb.shape[2];
    float *x = to_f32(&emb);
    int one[1] = {N};
    fit_result r = fit(x, N, P, D, 0.0, one, 1);
    CHECK(r.status == PADIM_ERR_NUMERIC);
    fprintf(stderr, "rank deficient, eps 0: %s\n", padim_last_error());
    CHECK(strstr(padim_last_error(), "position 0 ") != NULL);
    CHECK(strstr(padim_last_error(), "increase eps") != NULL);
    fit_free(&r);
    free(x);
    npy_free(&emb);

    /* D = 3, N = 5, P = 6; channel 1 is constant over the images at position 4 only: its
     * variance is exactly 0, so eps = 0 fails there and nowhere else. */
    enum { N2 = 5, P2 = 6, D2 = 3 };
    float y[N2 * P2 * D2];
    uint32_t s = 12345;
    for (int i = 0; i < N2 * P2 * D2; i++) {
        s = s * 1664525u + 1013904223u;
        y[i] = (float)(s >> 8) / 16777216.0f;
    }
    for (int n = 0; n < N2; n++) y[(n * P2 + 4) * D2 + 1] = 0.25f;
    int b[1] = {N2};
    r = fit(y, N2, P2, D2, 0.0, b, 1);
    CHECK(r.status == PADIM_ERR_NUMERIC);
    fprintf(stderr, "constant channel at position 4, eps 0: %s\n", padim_last_error());
    CHECK(strstr(padim_last_error(), "position 4 ") != NULL);
    fit_free(&r);
    r = fit(y, N2, P2, D2, 0.01, b, 1);
    CHECK_OK(r.status);
    fit_free(&r);

    /* One image: no unbiased covariance. */
    double s1[D2] = {0}, s2[6] = {0};
    float mean[D2], factor[6];
    CHECK(op_stats_finalize_cpu(1, 1, D2, y, s1, s2, 0.01, mean, factor, 1) == PADIM_ERR_ARG);
}

/* ------------------------------------------------------------------ mahalanobis */

/* emb_name (N, P, D) with mean (P, D) and packed factor (P, T) -> ref dist (N, P);
 * repeat > 1 tiles the images to exercise the op's image chunking; repeat 0 scores only
 * the first image (the op's few-images path). Tolerance: the op
 * gets mean and factor rounded to float32 and computes in float32, the reference is
 * (x - mu)^T inv(cov) (x - mu) in float64: 1e-4 relative + 1e-5. */
static void test_mahal(const char *emb_name, const char *mean_name, const char *factor_name,
                       const char *dist_name, int repeat) {
    npy_array emb, mean, factor, dist;
    if (load(emb_name, &emb) || load(mean_name, &mean) || load(factor_name, &factor) ||
        load(dist_name, &dist))
        return;
    int N0 = (int)emb.shape[0], P = (int)emb.shape[1], D = (int)emb.shape[2], N = N0 * repeat;
    if (repeat == 0) N0 = N = 1, repeat = 1;
    const int64_t per = (int64_t)P * D;
    float *x = malloc(sizeof(float) * (size_t)(N * per));
    double *ref = malloc(sizeof(double) * (size_t)N * P);
    for (int r = 0; r < repeat; r++) {
        for (int64_t i = 0; i < N0 * per; i++) x[r * N0 * per + i] = (float)emb.data[i];
        for (int64_t i = 0; i < (int64_t)N0 * P; i++) ref[r * N0 * P + i] = dist.data[i];
    }
    float *mu = to_f32(&mean), *f = to_f32(&factor), *out = guarded((int64_t)N * P);
    op_mahalanobis_cpu(x, N, P, D, mu, f, out, THREADS);
    char what[128];
    snprintf(what, sizeof(what), "mahalanobis %s (N %d P %d D %d)", emb_name, N, P, D);
    compare_f32(what, out, ref, (int64_t)N * P, 1e-5, 1e-4);
    check_guard(what, out, (int64_t)N * P);
    free(x), free(ref), free(mu), free(f), free(out);
    npy_free(&emb), npy_free(&mean), npy_free(&factor), npy_free(&dist);
}

/* ------------------------------------------------------------------ map ops */

static void test_upsample(const char *c) {
    char nm[64], what[128];
    npy_array in, ref;
    snprintf(nm, sizeof(nm), "upsample_%s_in", c);
    if (load(nm, &in)) return;
    snprintf(nm, sizeof(nm), "upsample_%s_out", c);
    if (load(nm, &ref)) return;
    int N = (int)in.shape[0], H = (int)in.shape[1], W = (int)in.shape[2], S = (int)ref.shape[1];
    float *x = to_f32(&in), *out = guarded(ref.count);
    op_upsample_bilinear_cpu(x, N, H, W, S, out);
    /* Same float32 index/weight arithmetic as torch's CPU kernel; values ~10: 1e-6 rel. */
    snprintf(what, sizeof(what), "upsample %s %dx%d -> %d vs torch bilinear", c, H, W, S);
    compare_f32(what, out, ref.data, ref.count, 1e-6, 1e-6);
    check_guard(what, out, ref.count);
    free(x), free(out);
    npy_free(&in), npy_free(&ref);
}

static void test_blur(const char *c) {
    char nm[64], what[128];
    npy_array in, ref, params, mx;
    snprintf(nm, sizeof(nm), "blur_%s_in", c);
    if (load(nm, &in)) return;
    snprintf(nm, sizeof(nm), "blur_%s_out", c);
    if (load(nm, &ref)) return;
    snprintf(nm, sizeof(nm), "blur_%s_params", c);
    if (load(nm, &params)) return;
    snprintf(nm, sizeof(nm), "blur_%s_max", c);
    if (load(nm, &mx)) return;
    int N = (int)in.shape[0], S = (int)in.shape[1], pad = (int)params.data[1];
    double sigma = params.data[0];
    float *m = guarded(in.count);
    for (int64_t i = 0; i < in.count; i++) m[i] = (float)in.data[i];
    op_gaussian_blur_cpu(m, N, S, sigma, pad, THREADS);
    /* Reference: a float32 33x33 conv2d (torch) or float64 passes with a float32
     * intermediate (scipy); the op accumulates in double. 1e-5 relative + 1e-5 of the max. */
    snprintf(what, sizeof(what), "blur %s (N %d S %d sigma %g) vs %s", c, N, S, sigma,
             pad == 0 ? "torch conv2d + reflect pad" : "scipy gaussian_filter reflect");
    compare_f32(what, m, ref.data, ref.count, 1e-5 * max_abs(ref.data, ref.count), 1e-5);
    check_guard(what, m, in.count);
    float scores[4];
    op_map_max_cpu(m, N, S, scores);
    snprintf(what, sizeof(what), "map max %s vs np.max", c);
    compare_f32(what, scores, mx.data, N, 0.0, 1e-5);
    free(m);
    npy_free(&in), npy_free(&ref), npy_free(&params), npy_free(&mx);
}

/* Map max on a hand-made map: the maximum in the last pixel, and a NaN stays visible. */
static void test_map_max(void) {
    float maps[2 * 9] = {1, 2, 3, 4, 5, 6, 7, 8, 9.5f, -3, -2, -1, -7, -8, -9, -4, -5, -6};
    float scores[2];
    op_map_max_cpu(maps, 2, 3, scores);
    CHECK(scores[0] == 9.5f);
    CHECK(scores[1] == -1.0f);
    maps[4] = NAN;
    op_map_max_cpu(maps, 1, 3, scores);
    CHECK(isnan(scores[0]));
}

int main(void) {
    test_embed("a");
    test_embed("b");
    test_embed("c");
    test_stats("s1");
    test_stats("s2");
    test_stats("s3");
    test_stats("s4");
    test_stats("off");
    test_stats("rank");
    test_stats_large_batch();
    test_stats_not_pd();
    test_mahal("mahal_s2_emb", "stats_s2_mean", "stats_s2_factor", "mahal_s2_dist", 1);
    test_mahal("mahal_s2_emb", "stats_s2_mean", "stats_s2_factor", "mahal_s2_dist", 14);
    /* N 4, 12, 16, 24: the AVX2 kernel (8 lanes x 1, 2, 2, 3), on AVX-512 the 16-lane kernel
     * from 9 images (x 1, 1, 2 with padding); with PADIM_CPU_NO_AVX2=1 (ctest
     * test_ops_no_avx2) packed rows and unpacked + STRMM, PADIM_CPU_NO_AVX512=1 AVX2 only */
    test_mahal("mahal_d100_emb", "mahal_d100_mean", "mahal_d100_factor", "mahal_d100_dist", 1);
    test_mahal("mahal_d100_emb", "mahal_d100_mean", "mahal_d100_factor", "mahal_d100_dist", 3);
    test_mahal("mahal_d100_emb", "mahal_d100_mean", "mahal_d100_factor", "mahal_d100_dist", 4);
    test_mahal("mahal_d100_emb", "mahal_d100_mean", "mahal_d100_factor", "mahal_d100_dist", 6);
    test_mahal("mahal_d100_emb", "mahal_d100_mean", "mahal_d100_factor", "mahal_d100_dist", 0);
    test_mahal("mahal_s2_emb", "stats_s2_mean", "stats_s2_factor", "mahal_s2_dist", 0);
    test_upsample("u1");
    test_upsample("u2");
    test_upsample("u3");
    test_upsample("u4");
    test_blur("t1");
    test_blur("t2");
    test_blur("t3");
    test_blur("c1");
    test_blur("c2");
    test_blur("c3");
    test_map_max();
    return test_finish("test_ops");
}
