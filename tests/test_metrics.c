/*
 * test_metrics.c - src/host/metrics.c against scikit-learn / scipy goldens written by
 * tests/ref_metrics.py (tests/golden/metrics/): AUROC (roc_auc_score) and best F1
 * (precision_recall_curve) on random, heavily tied and all-equal scores; AUPRO against an
 * exact threshold-sweep implementation; 8-connected components against
 * scipy.ndimage.label; edge cases with known answers; the report's curves (every ROC point
 * one of sklearn's roc_curve points, every PRO point one of the exact sweep's, the thinning
 * bound), AUPRO at several limits in one sweep, and SegF1 counts against sklearn's
 * f1_score. Prints (does not assert) the time of each metric on 5 million pixels.
 *
 * Tolerances: AUROC, F1, precision, recall 1e-12 (both sides are exact rational numbers
 * rounded once or a few times in float64); the F1 threshold must be the same float;
 * AUPRO 1e-9 (the C side sums per-pixel increments of 1/area, the reference per-threshold
 * overlaps: different float64 rounding of the same exact value).
 */
#include "eval/metrics.h"
#include "test_util.h"

#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int load(const char *name, npy_array *a) {
    char file[256];
    snprintf(file, sizeof(file), "metrics/%s.npy", name);
    if (npy_load(golden_path(file), a) != 0) {
        test_failures++;
        return -1;
    }
    return 0;
}

static float *to_f32(const npy_array *a) {
    float *v = malloc((size_t)a->count * sizeof(float));
    for (int64_t i = 0; i < a->count; i++) v[i] = (float)a->data[i];
    return v;
}

static uint8_t *to_u8(const npy_array *a) {
    uint8_t *v = malloc((size_t)a->count);
    for (int64_t i = 0; i < a->count; i++) v[i] = (uint8_t)a->data[i];
    return v;
}

static void check_close(const char *what, double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) {
        fprintf(stderr, "%s: got %.15g, expected %.15g (|diff| %.3g > %.3g)\n", what, got, want,
                fabs(got - want), tol);
        test_failures++;
    }
}

static void classification_case(const char *name) {
    char b[128];
    npy_array s, l, e;
    snprintf(b, sizeof(b), "%s_scores", name);
    if (load(b, &s)) return;
    snprintf(b, sizeof(b), "%s_labels", name);
    if (load(b, &l)) return;
    snprintf(b, sizeof(b), "%s_expected", name);
    if (load(b, &e)) return;
    float *scores = to_f32(&s);
    uint8_t *labels = to_u8(&l);
    double auroc = metric_auroc(scores, labels, s.count);
    metric_f1 f = metric_best_f1(scores, labels, s.count);
    snprintf(b, sizeof(b), "%s auroc", name);
    check_close(b, auroc, e.data[0], 1e-12);
    snprintf(b, sizeof(b), "%s f1", name);
    check_close(b, f.f1, e.data[1], 1e-12);
    snprintf(b, sizeof(b), "%s threshold", name);
    check_close(b, f.threshold, e.data[2], 0.0);
    snprintf(b, sizeof(b), "%s precision", name);
    check_close(b, f.precision, e.data[3], 1e-12);
    snprintf(b, sizeof(b), "%s recall", name);
    check_close(b, f.recall, e.data[4], 1e-12);
    int64_t pos = 0;
    for (int64_t i = 0; i < s.count; i++) pos += labels[i];
    CHECK(f.tp + f.fn == pos);
    fprintf(stderr, "%-7s n=%-5lld auroc %.12f f1 %.12f threshold %g\n", name, (long long)s.count,
            auroc, f.f1, f.threshold);
    free(scores);
    free(labels);
    npy_free(&s);
    npy_free(&l);
    npy_free(&e);
}

static void edge_cases(void) {
    const float s4[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    const uint8_t none[4] = {0, 0, 0, 0}, all[4] = {1, 1, 1, 1}, sep[4] = {0, 0, 1, 1},
                  inv[4] = {1, 1, 0, 0};
    CHECK(metric_auroc(s4, none, 4) == METRIC_UNAVAILABLE);
    CHECK(metric_auroc(s4, all, 4) == METRIC_UNAVAILABLE);
    CHECK(metric_auroc(s4, sep, 4) == 1.0);
    CHECK(metric_auroc(s4, inv, 4) == 0.0);
    CHECK(metric_auroc(s4, sep, 0) == METRIC_UNAVAILABLE);
    CHECK(metric_best_f1(s4, none, 4).f1 == METRIC_UNAVAILABLE);
    metric_f1 f = metric_best_f1(s4, all, 4); /* lowest threshold: everything positive */
    CHECK(f.f1 == 1.0 && f.threshold == (double)0.1f && f.precision == 1.0 && f.recall == 1.0);
    f = metric_best_f1(s4, sep, 4);
    CHECK(f.f1 == 1.0 && f.threshold == (double)0.3f && f.fp == 0 && f.fn == 0);
    /* Equal F1 at two thresholds (2/3 at 0.9 and at 0.6): the lowest wins, as argmax over
     * sklearn's increasing thresholds (checked with sklearn 1.2.1). */
    const float tie[4] = {0.9f, 0.8f, 0.7f, 0.6f};
    const uint8_t tiel[4] = {1, 0, 0, 1};
    f = metric_best_f1(tie, tiel, 4);
    CHECK(fabs(f.f1 - 2.0 / 3.0) < 1e-15 && f.threshold == (double)0.6f && f.tp == 2 && f.fp == 2);
    /* -0.0 and +0.0 are one score: a tie, AUROC 1/2. */
    const float z[2] = {-0.0f, 0.0f};
    const uint8_t zl[2] = {0, 1};
    CHECK(metric_auroc(z, zl, 2) == 0.5);
    /* Extreme values sort correctly. */
    const float ext[4] = {-INFINITY, -1e30f, 1e-30f, INFINITY};
    CHECK(metric_auroc(ext, sep, 4) == 1.0);

    /* AUPRO: a perfect map gives 1, no region or no normal pixel is unavailable. */
    float map[2 * 3 * 3];
    uint8_t mask[2 * 3 * 3] = {0};
    for (int i = 0; i < 18; i++) map[i] = (float)(i % 5);
    CHECK(metric_aupro(map, mask, 2, 3, 3, 0.3) == METRIC_UNAVAILABLE);
    uint8_t full[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(metric_aupro(map, full, 1, 3, 3, 0.3) == METRIC_UNAVAILABLE);
    for (int i = 0; i < 18; i++) map[i] = 0.0f;
    mask[4] = mask[9 + 0] = mask[9 + 8] = 1; /* three regions over two images */
    map[4] = map[9] = map[17] = 5.0f;
    CHECK(fabs(metric_aupro(map, mask, 2, 3, 3, 0.3) - 1.0) < 1e-15);
    /* A constant map: one threshold, straight line from (0,0) to (1,1): area limit/2. */
    for (int i = 0; i < 18; i++) map[i] = 2.0f;
    check_close("aupro constant map", metric_aupro(map, mask, 2, 3, 3, 0.3), 0.15, 1e-15);

    /* Normalization around the threshold. */
    CHECK(metric_normalize(5.0, 5.0, 0.0, 10.0) == 0.5);
    CHECK(metric_normalize(7.5, 5.0, 0.0, 10.0) == 0.75);
    CHECK(metric_normalize(100.0, 5.0, 0.0, 10.0) == 1.0);
    CHECK(metric_normalize(-100.0, 5.0, 0.0, 10.0) == 0.0);
    CHECK(metric_normalize(1.0, 1.0, 3.0, 3.0) == 0.5);
    CHECK(metric_normalize(2.0, 1.0, 3.0, 3.0) == 1.0);
}

static void aupro_case(void) {
    npy_array m, k, e, c;
    if (load("aupro_maps", &m) || load("aupro_masks", &k) || load("aupro_expected", &e) ||
        load("components", &c))
        return;
    int N = (int)m.shape[0], H = (int)m.shape[1], W = (int)m.shape[2];
    float *maps = to_f32(&m);
    uint8_t *masks = to_u8(&k);
    static const double limits[3] = {0.3, 0.05, 1.0};
    for (int i = 0; i < 3; i++) {
        double got = metric_aupro(maps, masks, N, H, W, limits[i]);
        char what[64];
        snprintf(what, sizeof(what), "aupro fpr_limit %.2f", limits[i]);
        check_close(what, got, e.data[i], 1e-9);
        fprintf(stderr, "%s: %.12f (reference %.12f)\n", what, got, e.data[i]);
    }
    /* Components, image by image, same numbering as scipy (raster order). */
    int32_t *lab = malloc((size_t)H * W * sizeof(int32_t));
    int64_t P = (int64_t)H * W, diffs = 0;
    for (int n = 0; n < N; n++) {
        int32_t count = metric_label_components(masks + n * P, H, W, lab), ref_max = 0;
        for (int64_t i = 0; i < P; i++) {
            diffs += lab[i] != (int32_t)c.data[n * P + i];
            if ((int32_t)c.data[n * P + i] > ref_max) ref_max = (int32_t)c.data[n * P + i];
        }
        CHECK(count == ref_max);
    }
    CHECK(diffs == 0);
    /* A comb and a spiral-ish shape: merges of labels met late in the raster scan. */
    const char *pic[] = {"1.1.1.1", "1.1.1.1", "1111111", ".......", "1...1.1", ".1.1..1",
                         "..1...1"};
    uint8_t pm[49];
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++) pm[y * 7 + x] = pic[y][x] == '1';
    int32_t pl[49];
    CHECK(metric_label_components(pm, 7, 7, pl) == 3);
    CHECK(pl[0] == 1 && pl[6] == 1 && pl[4 * 7 + 0] == 2 && pl[6 * 7 + 2] == 2 && pl[4 * 7 + 4] == 2 &&
          pl[4 * 7 + 6] == 3);
    free(lab);
    free(maps);
    free(masks);
    npy_free(&m);
    npy_free(&k);
    npy_free(&e);
    npy_free(&c);
}

/* Is (x, y) one of the reference points (2, k)? */
static int on_curve(const npy_array *ref, double x, double y) {
    const int64_t k = ref->shape[1];
    for (int64_t j = 0; j < k; j++)
        if (fabs(ref->data[j] - x) < 1e-12 && fabs(ref->data[k + j] - y) < 1e-12) return 1;
    return 0;
}

static void curve_cases(void) {
    npy_array s, l, roc, m, k, pro, e;
    if (load("random_scores", &s) || load("random_labels", &l) || load("random_roc", &roc) ||
        load("aupro_maps", &m) || load("aupro_masks", &k) || load("aupro_curve", &pro) ||
        load("aupro_expected", &e))
        return;
    float *scores = to_f32(&s);
    uint8_t *labels = to_u8(&l);
    /* Unthinned: exactly sklearn's points; thinned: a subset within the bound. */
    static const int caps[2] = {1000000, 25};
    for (int c = 0; c < 2; c++) {
        metric_curve cv;
        CHECK(metric_roc_curve(scores, labels, s.count, caps[c], &cv) == 0);
        if (c == 0) CHECK(cv.n == roc.shape[1]);
        else CHECK(cv.n <= 2 * caps[c] + 2 && cv.n >= 3);
        int64_t off = 0;
        for (int64_t i = 0; i < cv.n; i++) off += !on_curve(&roc, cv.x[i], cv.y[i]);
        CHECK(off == 0);
        CHECK(cv.x[0] == 0 && cv.y[0] == 0 && cv.x[cv.n - 1] == 1 && cv.y[cv.n - 1] == 1);
        metric_curve_free(&cv);
    }
    uint8_t one[3] = {1, 1, 1};
    metric_curve none;
    CHECK(metric_roc_curve(scores, one, 3, 10, &none) == METRIC_UNAVAILABLE);

    /* AUPRO at three limits in one sweep = one limit at a time; the PRO curve to 0.3. */
    int N = (int)m.shape[0], H = (int)m.shape[1], W = (int)m.shape[2];
    float *maps = to_f32(&m);
    uint8_t *masks = to_u8(&k);
    static const double limits[3] = {0.3, 0.05, 1.0};
    double au[3];
    metric_curve pc;
    CHECK(metric_aupro_multi(maps, masks, N, H, W, limits, 3, au, 1000000, &pc) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(au[i] == metric_aupro(maps, masks, N, H, W, limits[i]));
        check_close("aupro_multi", au[i], e.data[i], 1e-9);
    }
    int64_t off = 0;
    for (int64_t i = 0; i < pc.n; i++) off += !on_curve(&pro, pc.x[i], pc.y[i]);
    CHECK(off == 0 && pc.x[pc.n - 1] == 1.0);
    metric_curve_free(&pc);
    CHECK(metric_aupro_multi(maps, masks, N, H, W, limits, 1, au, 40, &pc) == 0);
    CHECK(pc.n <= 2 * 40 + 2 && fabs(pc.x[pc.n - 1] - 0.3) < 1e-15);
    for (int64_t i = 0; i + 1 < pc.n; i++) off += !on_curve(&pro, pc.x[i], pc.y[i]);
    CHECK(off == 0);
    metric_curve_free(&pc);
    free(scores);
    free(labels);
    free(maps);
    free(masks);
    npy_free(&s);
    npy_free(&l);
    npy_free(&roc);
    npy_free(&m);
    npy_free(&k);
    npy_free(&pro);
    npy_free(&e);
}

/* SegF1's counts at fixed thresholds against sklearn's f1_score; -1 (not scored) pixels
 * are never predicted. */
static void segf1_case(void) {
    npy_array m, k, e;
    if (load("segf1_maps", &m) || load("segf1_masks", &k) || load("segf1_expected", &e)) return;
    float *maps = to_f32(&m);
    uint8_t *masks = to_u8(&k);
    for (int64_t t = 0; t < e.shape[0]; t++) {
        int64_t tp = 0, fp = 0, fn = 0;
        metric_count_at(maps, masks, m.count, e.data[2 * t], &tp, &fp, &fn);
        check_close("segf1", metric_f1_counts(tp, fp, fn), e.data[2 * t + 1], 1e-12);
    }
    CHECK(metric_f1_counts(0, 0, 0) == METRIC_UNAVAILABLE && metric_f1_counts(0, 3, 0) == 0.0);
    free(maps);
    free(masks);
    npy_free(&m);
    npy_free(&k);
    npy_free(&e);
}

/* 76 maps of 256 x 256 (~5M pixels, an MVTec category at the evaluation size). */
static void timing(void) {
    const int N = 76, S = 256;
    const int64_t M = (int64_t)N * S * S;
    float *maps = malloc((size_t)M * sizeof(float));
    uint8_t *masks = calloc((size_t)M, 1);
    uint64_t x = 88172645463325252ull;
    for (int64_t i = 0; i < M; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        maps[i] = (float)(x >> 40) / (float)(1 << 24);
    }
    for (int n = 20; n < N; n++) /* a 40x30 defect per defective image, scored higher */
        for (int y = 100; y < 140; y++)
            for (int xx = 60 + n; xx < 90 + n; xx++) {
                int64_t i = ((int64_t)n * S + y) * S + xx;
                masks[i] = 1;
                maps[i] += 0.5f;
            }
    double t0 = padim_now();
    double auroc = metric_auroc(maps, masks, M);
    double t1 = padim_now();
    metric_f1 f = metric_best_f1(maps, masks, M);
    double t2 = padim_now();
    double aupro = metric_aupro(maps, masks, N, S, S, 0.3);
    double t3 = padim_now();
    CHECK(auroc > 0.5 && auroc <= 1.0 && f.f1 > 0.0 && aupro > 0.0 && aupro <= 1.0);
    fprintf(stderr,
            "timing, %lld pixels (%d x %dx%d): auroc %.3f s, best f1 %.3f s, aupro %.3f s "
            "(values %.4f %.4f %.4f)\n",
            (long long)M, N, S, S, t1 - t0, t2 - t1, t3 - t2, auroc, f.f1, aupro);
    free(maps);
    free(masks);
}

int main(void) {
    classification_case("random");
    classification_case("tied");
    classification_case("same");
    classification_case("small");
    edge_cases();
    aupro_case();
    curve_cases();
    segf1_case();
    timing();
    return test_finish("test_metrics");
}
