/*
 * calibrate.c - padim_calibrate: thresholds from good images only (a new line usually has
 * no labeled defects). Scores held-out good images, sets the image threshold at the upper
 * (1 - fpr) empirical quantile of their image scores and the pixel threshold at the same
 * quantile of their map pixels (preprocessed size), and stores both in the model with
 * their provenance (padim.h "calibration" states the exact rule).
 */
#include "calibrate.h"
#include "common.h"
#include "padim_internal.h"

#include <math.h>
#include <string.h>

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Smallest float t such that at most floor(fpr n) of v (n, sorted ascending here) are >= t. */
static double quantile_threshold(float *v, int64_t n, double fpr) {
    qsort(v, (size_t)n, sizeof(float), cmp_float);
    int64_t m = (int64_t)floor(fpr * (double)n + 1e-9);
    if (m > n - 1) m = n - 1;
    return (double)nextafterf(v[n - 1 - m], INFINITY);
}

padim_status calibration_compute(const padim_model *m, const padim_runtime *rt, const char *const *paths,
                                 int64_t n, double fpr, padim_calibration *out) {
    memset(out, 0, sizeof(*out));
    if (!m || !paths || n < 1)
        return padim_fail(PADIM_ERR_ARG, "calibrate: need at least one good image (got %lld)", (long long)n);
    if (!(fpr > 0.0 && fpr < 1.0))
        return padim_fail(PADIM_ERR_ARG, "calibrate: fpr = %g; expected 0 < fpr < 1 (e.g. 0.01)", fpr);
    padim_runtime rt_local;
    if (rt) rt_local = *rt;
    else padim_runtime_default(&rt_local);
    padim_progress_fn progress = rt_local.progress;
    rt_local.progress = NULL;
    const size_t plane = (size_t)m->S * (size_t)m->S;
    const int B = padim_runtime_batch(&rt_local, &m->cfg);
    padim_decode_options dopt; /* the runtime's limits, else the model's config, else the defaults */
    padim_decode_options_resolve(&rt_local, &m->cfg, &dopt);
    float *scores = NULL, *pixels = NULL;
    padim_image *imgs = NULL;
    padim_scorer *sc = NULL;
    padim_status st = padim_alloc((void **)&scores, (size_t)n * sizeof(float), "calibration scores");
    if (st == PADIM_OK)
        st = padim_alloc((void **)&pixels, (size_t)n * plane * sizeof(float), "calibration map pixels");
    if (st == PADIM_OK) st = padim_calloc((void **)&imgs, (size_t)B * sizeof(padim_image), "image batch");
    if (st == PADIM_OK) st = padim_scorer_create(m, &rt_local, &sc);
    for (int64_t i = 0; st == PADIM_OK && i < n; i += B) {
        const int nb = (int)(n - i < B ? n - i : B);
        st = padim_images_load_ex(paths + i, nb, rt_local.threads, &dopt, imgs);
        if (st == PADIM_OK) st = padim_score_images(sc, imgs, nb, scores + i, pixels + (size_t)i * plane);
        for (int k = 0; k < nb; k++) padim_image_free(&imgs[k]);
        if (st == PADIM_OK && progress) progress(rt_local.progress_user, "calibrate", i + nb, n);
    }
    padim_scorer_free(sc);
    free(imgs);
    if (st == PADIM_OK) {
        padim_calibration c = {.calibrated = 1, .fpr = fpr, .n_images = n};
        c.small_sample = (double)n * fpr < 1.0;
        c.score_min = c.score_max = scores[0];
        for (int64_t i = 1; i < n; i++) {
            if (scores[i] < c.score_min) c.score_min = scores[i];
            if (scores[i] > c.score_max) c.score_max = scores[i];
        }
        c.image_threshold = quantile_threshold(scores, n, fpr);
        c.pixel_threshold = quantile_threshold(pixels, (int64_t)(n * (int64_t)plane), fpr);
        *out = c;
    }
    free(scores);
    free(pixels);
    return st;
}

padim_status padim_calibrate(padim_model *m, const padim_runtime *rt, const char *const *paths,
                             int64_t n, double fpr, padim_calibration *out) {
    padim_calibration c;
    PADIM_TRY(calibration_compute(m, rt, paths, n, fpr, &c));
    m->calibration = c;
    if (out) *out = c;
    return PADIM_OK;
}
