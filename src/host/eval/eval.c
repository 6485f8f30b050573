/*
 * eval.c - padim_evaluate: score a labeled test set with full-size anomaly maps, load the
 * ground-truth masks at the evaluation size, and compute the published metrics
 * (metrics.c). Optionally writes heatmaps with the predicted-mask contour.
 */
#include "common.h"
#include "dataset.h"
#include "image.h"
#include "metrics.h"
#include "padim_internal.h"

#include <string.h>

void padim_eval_result_free(padim_eval_result *r) {
    if (!r) return;
    padim_free_paths(r->paths, r->n_images);
    padim_free_paths(r->defect_types, r->n_images);
    free(r->labels);
    free(r->scores);
    memset(r, 0, sizeof(*r));
}

/* Overlay + contour of (map >= thr): contour pixels (mask pixel with a 4-neighbour
 * outside) drawn in white. */
static padim_status write_eval_heatmap(const padim_model *m, const padim_decode_options *dopt, const char *img_path,
                                       const float *map, float vmax, double thr, const char *out_path) {
    const int S = m->S;
    padim_image img = {0};
    float *rgb = NULL;
    uint8_t *heat = NULL;
    padim_status st = padim_image_load_ex(img_path, dopt, &img);
    if (st == PADIM_OK) st = padim_alloc((void **)&rgb, (size_t)3 * S * S * sizeof(float), "heatmap");
    if (st == PADIM_OK) st = padim_alloc((void **)&heat, (size_t)3 * S * S, "heatmap");
    if (st == PADIM_OK) st = padim_preprocess_rgb(&img, &m->cfg, rgb);
    if (st == PADIM_OK) {
        image_render_heatmap(rgb, map, S, 0.0f, vmax, 0.5f, heat);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                if (map[(size_t)y * S + x] < thr) continue;
                int edge = x == 0 || y == 0 || x == S - 1 || y == S - 1 || map[(size_t)y * S + x - 1] < thr ||
                           map[(size_t)y * S + x + 1] < thr || map[(size_t)(y - 1) * S + x] < thr ||
                           map[(size_t)(y + 1) * S + x] < thr;
                if (edge) memset(heat + ((size_t)y * S + x) * 3, 255, 3);
            }
        st = image_write_png(out_path, S, S, 3, heat);
    }
    padim_image_free(&img);
    free(rgb);
    free(heat);
    return st;
}

padim_status padim_evaluate(const padim_model *m, const padim_runtime *rt, const char *test_dir,
                            const padim_eval_options *opt, padim_eval_result *out) {
    memset(out, 0, sizeof(*out));
    padim_testset ts = {0};
    PADIM_TRY(testset_load(test_dir, &ts));
    const int S = m->S;
    const size_t plane = (size_t)S * S;
    const int64_t n = ts.n;
    const int B = m->cfg.batch > 0 ? m->cfg.batch : 8;
    float *maps = NULL, *scores = NULL;
    uint8_t *masks = NULL, *labels = NULL;
    int *sizes = NULL; /* (B, 2) width, height of the batch's images */
    padim_scorer *sc = NULL;
    padim_runtime rt_local;
    if (rt) rt_local = *rt;
    else padim_runtime_default(&rt_local);
    padim_progress_fn progress = rt_local.progress;
    rt_local.progress = NULL;
    padim_status st = padim_alloc((void **)&maps, (size_t)n * plane * sizeof(float), "evaluation maps");
    if (st == PADIM_OK) st = padim_calloc((void **)&masks, (size_t)n * plane, "evaluation masks");
    if (st == PADIM_OK) st = padim_alloc((void **)&scores, (size_t)n * sizeof(float), "scores");
    if (st == PADIM_OK) st = padim_alloc((void **)&labels, (size_t)n, "labels");
    if (st == PADIM_OK) st = padim_alloc((void **)&sizes, (size_t)B * 2 * sizeof(int), "image sizes");
    if (st == PADIM_OK) st = padim_scorer_create(m, &rt_local, &sc);
    if (st == PADIM_OK) snprintf(out->backend, sizeof(out->backend), "%s", padim_scorer_backend(sc));
    const double t0 = padim_now();
    for (int64_t i = 0; st == PADIM_OK && i < n; i += B) {
        const int nb = (int)(n - i < B ? n - i : B);
        /* Decoded and preprocessed image by image (memory bounded by the threads, not B). */
        st = pipeline_score_files(sc, (const char *const *)ts.paths + i, nb, sizes, scores + i,
                                  maps + (size_t)i * plane);
        for (int k = 0; k < nb && st == PADIM_OK; k++) {
            if (ts.has_masks && ts.mask_paths[i + k])
                st = mask_load_eval(ts.mask_paths[i + k], ts.paths[i + k], sizes[2 * k], sizes[2 * k + 1], &m->cfg,
                                    masks + (size_t)(i + k) * plane);
        }
        if (st == PADIM_OK && progress) progress(rt_local.progress_user, "eval", i + nb, n);
    }
    const double t1 = padim_now();
    if (st == PADIM_OK) {
        memcpy(labels, ts.labels, (size_t)n);
        out->n_images = n;
        out->n_good = ts.n_good;
        out->n_defective = ts.n_defective;
        out->has_masks = ts.has_masks;
        out->image_auroc = metric_auroc(scores, labels, n);
        metric_f1 f1 = metric_best_f1(scores, labels, n);
        out->image_f1 = f1.f1;
        out->image_threshold = f1.threshold;
        out->image_precision = f1.precision;
        out->image_recall = f1.recall;
        out->pixel_auroc = out->pixel_f1 = out->aupro = METRIC_UNAVAILABLE;
        out->pixel_threshold = 0;
        if (ts.has_masks) {
            out->n_pixels = n * (int64_t)plane;
            out->pixel_auroc = metric_auroc(maps, masks, out->n_pixels);
            metric_f1 pf = metric_best_f1(maps, masks, out->n_pixels);
            out->pixel_f1 = pf.f1;
            out->pixel_threshold = pf.threshold;
            out->aupro = metric_aupro(maps, masks, (int)n, S, S, opt && opt->fpr_limit > 0 ? opt->fpr_limit : 0.3);
        }
        if (out->image_auroc == METRIC_FAILED || out->pixel_auroc == METRIC_FAILED || out->aupro == METRIC_FAILED ||
            out->image_f1 == METRIC_FAILED || out->pixel_f1 == METRIC_FAILED)
            st = padim_fail(PADIM_ERR_NOMEM, "out of memory computing metrics over %lld pixels", (long long)out->n_pixels);
        out->score_min = out->score_max = n ? scores[0] : 0;
        for (int64_t i = 0; i < n; i++) {
            if (scores[i] < out->score_min) out->score_min = scores[i];
            if (scores[i] > out->score_max) out->score_max = scores[i];
        }
    }
    const double t2 = padim_now();
    out->seconds_score = t1 - t0;
    out->seconds_metrics = t2 - t1;
    if (st == PADIM_OK && opt && opt->heatmap_dir) {
        /* Colour scale shared by all images: 0 .. max score; contour at the pixel threshold
         * (at the image threshold when there are no masks). */
        const double thr = ts.has_masks ? out->pixel_threshold : out->image_threshold;
        padim_decode_options dopt;
        padim_decode_options_resolve(&rt_local, &m->cfg, &dopt);
        for (int64_t i = 0; st == PADIM_OK && i < n; i++) {
            const char *base = strrchr(ts.paths[i], '/');
            base = base ? base + 1 : ts.paths[i];
            char path[4096];
            int len = snprintf(path, sizeof(path), "%s/%s_%s", opt->heatmap_dir, ts.defect_types[i], base);
            char *dot = strrchr(path + len - strlen(base), '.');
            if (dot) strcpy(dot, ".png");
            st = write_eval_heatmap(m, &dopt, ts.paths[i], maps + (size_t)i * plane, (float)out->score_max, thr, path);
        }
    }
    if (st == PADIM_OK) {
        out->scores = scores;
        out->labels = labels;
        scores = NULL;
        labels = NULL;
        st = padim_calloc((void **)&out->paths, (size_t)n * sizeof(char *), "paths");
        if (st == PADIM_OK) st = padim_calloc((void **)&out->defect_types, (size_t)n * sizeof(char *), "paths");
        for (int64_t i = 0; st == PADIM_OK && i < n; i++) {
            out->paths[i] = strdup(ts.paths[i]);
            out->defect_types[i] = strdup(ts.defect_types[i]);
            if (!out->paths[i] || !out->defect_types[i]) st = padim_fail(PADIM_ERR_NOMEM, "out of memory");
        }
        if (st != PADIM_OK) padim_eval_result_free(out);
    } else {
        padim_eval_result_free(out);
    }
    testset_free(&ts);
    padim_scorer_free(sc);
    free(sizes);
    free(maps);
    free(masks);
    free(scores);
    free(labels);
    return st;
}
