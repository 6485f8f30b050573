/*
 * test_cuda_backend.c - backend-level parity: the CUDA backend against the CPU backend
 * (the specification) through backend.h's table, on random backbone weights
 * (bb_weights_random) and random preprocessed images at S = 64: fit (several batches,
 * one of them partial) -> mean and factor; score with the same statistics -> distances,
 * maps and image scores; also the reduced-precision backbones tf32, fp16 and bf16 (scores
 * with the CPU's statistics within a stated relative bound of the fp32 CPU scores; the
 * measured deviation is printed).
 *
 * Without a GPU it checks that create() fails cleanly with PADIM_ERR_DEVICE and a "no CUDA
 * device found" message, then exits 77 (skip).
 */
#include "backend.h"
#include "common.h"
#include "cpu/ops.h"
#include "rng.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 777;
static float urand_pm(double a) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(a * (2.0 * ((double)(z >> 11) * (1.0 / 9007199254740992.0)) - a));
}

static double max_abs_f(const float *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static void compare_ff(const char *what, const float *got, const float *ref, int64_t n,
                       double atol, double rtol) {
    double *r = calloc((size_t)n + 1, sizeof(double));
    if (!r) return;
    for (int64_t i = 0; i < n; i++) r[i] = ref[i];
    const double err = compare_f32(what, got, r, n, atol, rtol);
    fprintf(stderr, "  %-28s max abs err %.3g (max |ref| %.3g)\n", what, err, max_abs_f(ref, n));
    free(r);
}

/* Largest relative difference of two score vectors. */
static double max_rel(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), 1e-30));
    return m;
}

/* eps: the fit's regularization; fac_tol: the fit factor's tolerance, relative to max |factor|
 * (see the fit comparison). */
static void run_parity(padim_backbone_kind kind, int S, int D, int n_fit, int n_score, double eps,
                       double fac_tol) {
    const backend_ops *cuda = padim_backend_cuda();
    const backend_ops *cpu = &padim_backend_cpu;
    bb_weights w;
    CHECK_OK(bb_weights_random(kind, 1234, &w));
    int H, h2, h3;
    bb_feature_sizes(S, &H, &h2, &h3);
    const int P = H * H;
    const int64_t T = padim_tri(D);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)D);
    CHECK_OK(padim_sample_channels(42, bb_channels_total(&w.spec), D, idx));
    padim_runtime rt;
    padim_runtime_default(&rt);
    rt.threads = 2;
    const int B = 4;
    backend_setup setup = {.weights = &w, .S = S, .H = H, .W = H, .D = D, .idx = idx,
                           .max_batch = B, .sigma = 4.0, .pad_mode = 0, .rt = &rt};
    void *cc = NULL, *gc = NULL;
    CHECK_OK(cpu->create(&setup, &cc));
    CHECK_OK(cuda->create(&setup, &gc));
    if (!cc || !gc) return;
    fprintf(stderr, "%s S=%d D=%d on %s\n", padim_backbone_name(kind), S, D, cuda->describe(gc));
    CHECK(strncmp(cuda->describe(gc), "cuda:", 5) == 0);

    const size_t img = (size_t)3 * S * S;
    float *x = malloc(sizeof(float) * img * (size_t)(n_fit > n_score ? n_fit : n_score));
    for (size_t i = 0; i < img * (size_t)n_fit; i++) x[i] = urand_pm(2.0);

    /* fit: batches of B, the last one partial */
    float *mean_c = malloc(sizeof(float) * (size_t)P * D), *mean_g = malloc(sizeof(float) * (size_t)P * D);
    float *fac_c = malloc(sizeof(float) * (size_t)(P * T)), *fac_g = malloc(sizeof(float) * (size_t)(P * T));
    int64_t nc = 0, ng = 0;
    CHECK_OK(cpu->fit_begin(cc));
    CHECK_OK(cuda->fit_begin(gc));
    for (int off = 0; off < n_fit; off += B) {
        const int nb = n_fit - off < B ? n_fit - off : B;
        CHECK_OK(cpu->fit_batch(cc, x + (size_t)off * img, nb));
        CHECK_OK(cuda->fit_batch(gc, x + (size_t)off * img, nb));
    }
    CHECK_OK(cpu->fit_end(cc, eps, &nc, mean_c, fac_c));
    CHECK_OK(cuda->fit_end(gc, eps, &ng, mean_g, fac_g));
    CHECK(nc == n_fit && ng == n_fit);
    /* Backbone in float32 on both sides, different summation orders: ~1e-6 relative per
     * feature; the factor amplifies by the covariance's condition number (few images:
     * rank-deficient, held up by eps). Measured on the CPU backend alone, a 1e-6 relative
     * perturbation of the input images (the backbone's own rounding is ~2e-6 of max |feature|,
     * tests/test_backbone.c) moves the factor by 0.03 x (1e-3 max|factor| + 1e-3 |ref|) for
     * ResNet-18 D = 33 (10 images, eps 0.01) but by 1.2 x that for Wide-ResNet-50-2 D = 100
     * (6 images, features up to ~1700: condition number ~1e7 at eps 0.01): hence eps 1 and
     * a 1e-2 tolerance there (measured 1.9e-4 max|factor| per 1e-6). A layout, transposition
     * or packing error moves the factor by O(max|factor|) and still fails. */
    const double mmax = max_abs_f(mean_c, (int64_t)P * D), fmax_ = max_abs_f(fac_c, P * T);
    compare_ff("fit mean", mean_g, mean_c, (int64_t)P * D, 1e-5 * mmax, 1e-4);
    compare_ff("fit factor", fac_g, fac_c, P * T, fac_tol * fmax_, 1e-3);

    /* score with the CPU's statistics on both */
    for (size_t i = 0; i < img * (size_t)n_score; i++) x[i] = urand_pm(2.0);
    float *sc_c = malloc(sizeof(float) * (size_t)n_score), *sc_g = malloc(sizeof(float) * (size_t)n_score);
    float *d_c = malloc(sizeof(float) * (size_t)n_score * P), *d_g = malloc(sizeof(float) * (size_t)n_score * P);
    float *m_c = malloc(sizeof(float) * (size_t)n_score * S * S), *m_g = malloc(sizeof(float) * (size_t)n_score * S * S);
    CHECK_OK(cpu->set_stats(cc, mean_c, fac_c));
    CHECK_OK(cuda->set_stats(gc, mean_c, fac_c));
    for (int off = 0; off < n_score; off += B) {
        const int nb = n_score - off < B ? n_score - off : B;
        CHECK_OK(cpu->score_batch(cc, x + (size_t)off * img, nb, sc_c + off, d_c + (size_t)off * P,
                                  m_c + (size_t)off * S * S));
        CHECK_OK(cuda->score_batch(gc, x + (size_t)off * img, nb, sc_g + off, d_g + (size_t)off * P,
                                   m_g + (size_t)off * S * S));
    }
    /* The bar: scores within 1e-4 relative in fp32 mode. */
    compare_ff("score dist", d_g, d_c, (int64_t)n_score * P, 1e-4 * max_abs_f(d_c, (int64_t)n_score * P), 1e-4);
    compare_ff("score maps", m_g, m_c, (int64_t)n_score * S * S, 1e-4 * max_abs_f(m_c, (int64_t)n_score * S * S), 1e-4);
    compare_ff("score scores", sc_g, sc_c, n_score, 0.0, 1e-4);
    /* Scores only (dist and maps NULL) give the same scores. */
    float *sc_g2 = malloc(sizeof(float) * (size_t)n_score);
    for (int off = 0; off < n_score; off += B)
        CHECK_OK(cuda->score_batch(gc, x + (size_t)off * img, n_score - off < B ? n_score - off : B,
                                   sc_g2 + off, NULL, NULL));
    compare_ff("scores without maps", sc_g2, sc_g, n_score, 0.0, 0.0);
    cuda->destroy(gc);

    /* Reduced-precision backbones: report the deviation of the scores from the fp32 CPU
     * ones; bound loosely (precision options, random weights): tf32 and fp16 (10-bit
     * mantissas) 5%, bf16 (7-bit mantissa) 10%. The fit path too: a fit of the score
     * images, whose mean must stay within the same bound (relative to max |mean|) of the
     * CPU's fit of those images. */
    float *mean_c2 = malloc(sizeof(float) * (size_t)P * D), *fac_2 = malloc(sizeof(float) * (size_t)(P * T));
    CHECK_OK(cpu->fit_begin(cc));
    for (int off = 0; off < n_score; off += B)
        CHECK_OK(cpu->fit_batch(cc, x + (size_t)off * img, n_score - off < B ? n_score - off : B));
    CHECK_OK(cpu->fit_end(cc, eps, &nc, mean_c2, fac_2));
    const double mmax2 = max_abs_f(mean_c2, (int64_t)P * D);
    static const struct {
        padim_precision prec;
        const char *name;
        double tol;
    } reduced[] = {{PADIM_PRECISION_TF32, "tf32", 0.05},
                   {PADIM_PRECISION_FP16, "fp16", 0.05},
                   {PADIM_PRECISION_BF16, "bf16", 0.10}};
    for (size_t r = 0; r < sizeof(reduced) / sizeof(reduced[0]); r++) {
        rt.precision = reduced[r].prec;
        gc = NULL;
        const padim_status st = cuda->create(&setup, &gc);
        if (st == PADIM_ERR_ARG && strstr(padim_last_error(), "compute capability")) {
            fprintf(stderr, "  %s: skipped (%s)\n", reduced[r].name, padim_last_error());
            padim_clear_error();
            continue;
        }
        CHECK_OK(st);
        if (!gc) continue;
        char tag[16];
        snprintf(tag, sizeof(tag), "(%s)", reduced[r].name);
        CHECK(strstr(cuda->describe(gc), tag) != NULL);
        CHECK_OK(cuda->set_stats(gc, mean_c, fac_c));
        for (int off = 0; off < n_score; off += B)
            CHECK_OK(cuda->score_batch(gc, x + (size_t)off * img, n_score - off < B ? n_score - off : B,
                                       sc_g2 + off, NULL, NULL));
        int finite = 1;
        for (int i = 0; i < n_score; i++) finite &= isfinite(sc_g2[i]) != 0;
        CHECK(finite);
        const double dev = max_rel(sc_g2, sc_c, n_score);
        fprintf(stderr, "  %s scores: max relative deviation from fp32 CPU %.3g (bound %.2g)\n",
                reduced[r].name, dev, reduced[r].tol);
        CHECK(dev < reduced[r].tol);
        CHECK_OK(cuda->fit_begin(gc));
        for (int off = 0; off < n_score; off += B)
            CHECK_OK(cuda->fit_batch(gc, x + (size_t)off * img, n_score - off < B ? n_score - off : B));
        CHECK_OK(cuda->fit_end(gc, eps, &ng, mean_g, fac_g));
        CHECK(ng == n_score);
        char what[32];
        snprintf(what, sizeof(what), "%s fit mean", reduced[r].name);
        compare_ff(what, mean_g, mean_c2, (int64_t)P * D, reduced[r].tol * mmax2, reduced[r].tol);
        cuda->destroy(gc);
    }
    free(mean_c2), free(fac_2);

    cpu->destroy(cc);
    free(x), free(mean_c), free(mean_g), free(fac_c), free(fac_g), free(sc_c), free(sc_g), free(sc_g2);
    free(d_c), free(d_g), free(m_c), free(m_g), free(idx);
    bb_weights_free(&w);
}

int main(void) {
    const backend_ops *cuda = padim_backend_cuda();
    if (!cuda) test_skip("built without CUDA");
    /* No device: create() must fail cleanly, before touching any library handle. */
    {
        bb_weights w;
        CHECK_OK(bb_weights_random(PADIM_BACKBONE_RESNET18, 1, &w));
        int32_t idx[4] = {0, 100, 200, 400};
        padim_runtime rt;
        padim_runtime_default(&rt);
        backend_setup setup = {.weights = &w, .S = 64, .H = 16, .W = 16, .D = 4, .idx = idx,
                               .max_batch = 2, .sigma = 4.0, .pad_mode = 0, .rt = &rt};
        void *ctx = NULL;
        const padim_status st = cuda->create(&setup, &ctx);
        bb_weights_free(&w);
        if (st == PADIM_ERR_DEVICE && strstr(padim_last_error(), "no CUDA device found")) {
            CHECK(ctx == NULL);
            if (test_failures) return test_finish("test_cuda_backend");
            fprintf(stderr, "create without a GPU: %s\n", padim_last_error());
            test_skip("no CUDA device");
        }
        CHECK_OK(st);
        if (ctx) cuda->destroy(ctx);
    }
    run_parity(PADIM_BACKBONE_RESNET18, 64, 33, 10, 5, 0.01, 1e-3);
    run_parity(PADIM_BACKBONE_WIDE_RESNET50_2, 64, 100, 6, 3, 1.0, 1e-2);
    return test_finish("test_cuda_backend");
}
