/*
 * test_ops.c - the CPU PaDiM operations (src/host/ops_cpu.c) against independent
 * references dumped by tests/ref_ops.py: torch F.interpolate (nearest, bilinear), NumPy
 * np.cov / cholesky / inv in float64, torch conv2d with reflect padding (anomalib's blur)
 * and scipy.ndimage.gaussian_filter. Seeded inputs at odd sizes; every output buffer has
 * a guard band checked after the op; each comparison states its tolerance and why.
 */
#include "common.h"
#include "ops.h"
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
    op_embed_cpu(f1, f2, f3, N, C1, C2, C3, H, W, H2, W2, H3, W3, id, D, out);
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
            fit_result_free:
            fit_free(&s);
        }
    }
    fit_free(&r);
    free(x);
    npy_free(&emb), npy_free(&eps), npy_free(&mean), npy_free(&factor), npy_free(&prec);
}
