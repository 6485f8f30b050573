/*
 * eval.c - padim_evaluate: score a labeled test set with full-size anomaly maps, load the
 * ground-truth masks at the evaluation size, and compute the published metrics
 * (metrics.c). Then what the options ask for: the good-only calibration and SegF1
 * (segment.c; MVTec AD 2 calibrates on validation/good), the MVTec AD 2 submission,
 * heatmaps with the predicted-mask contour (render.c), and report.html (report.c). Also
 * padim_normalize_score, the public face of metric_normalize.
 */
#include "calibrate.h"
#include "common.h"
#include "dataset.h"
#include "image.h"
#include "mask.h"
#include "metrics.h"
#include "padim_internal.h"
#include "report.h"
#include "segment.h"

#include <string.h>

void padim_eval_result_free(padim_eval_result *r) {
    if (!r) return;
    padim_free_paths(r->paths, r->n_images);
    padim_free_paths(r->defect_types, r->n_images);
    free(r->labels);
    free(r->scores);
    memset(r, 0, sizeof(*r));
}

/* The heatmap of one test image: the overlay and the contour of (map >= thr), through
 * the one renderer (render.c) that `score --heatmaps` uses too. */
static padim_status write_eval_heatmap(const padim_model *m, const padim_decode_options *dopt, const char *img_path,
                                       const float *map, float vmax, double thr, int input_size,
                                       const char *out_path) {
    const int S = m->S;
    padim_image img = {0};
    float *buf = NULL; /* (3, S, S) rgb at the input size, or the (h, w) map at the source size */
    uint8_t *heat = NULL;
    padim_status st = padim_image_load_ex(img_path, dopt, &img);
    const size_t n = input_size ? (size_t)S * S : (size_t)img.width * img.height;
    if (st == PADIM_OK) st = padim_alloc((void **)&buf, n * (input_size ? 3 : 1) * sizeof(float), "heatmap");
    if (st == PADIM_OK) st = padim_alloc((void **)&heat, 3 * n, "heatmap");
    if (st == PADIM_OK && input_size) {
        st = padim_preprocess_rgb(&img, &m->cfg, buf);
        if (st == PADIM_OK) padim_render_heatmap(buf, map, S, 0.0f, vmax, 0.5f, thr, heat);
        if (st == PADIM_OK) st = image_write_png(out_path, S, S, 3, heat);
    } else if (st == PADIM_OK) {
        st = padim_map_to_source(m, map, img.width, img.height, buf);
        if (st == PADIM_OK) st = padim_render_heatmap_image(&img, buf, 0.0f, vmax, 0.5f, thr, heat);
        if (st == PADIM_OK) st = image_write_png(out_path, img.width, img.height, 3, heat);
    }
    padim_image_free(&img);
    free(buf);
    free(heat);
    return st;
}

double padim_normalize_score(double score, double threshold, double score_min, double score_max) {
    return metric_normalize(score, threshold, score_min, score_max);
}

/* The good-only thresholds of SegF1 and the submission: MVTec AD 2 computes them on its
 * validation/good images; any other layout uses the model's own calibration, if any. */
static padim_status eval_calibration(const padim_model *m, const padim_runtime *rt, const char *test_dir,
                                     const padim_testset *ts, double fpr, padim_calibration *out) {
    if (ts->kind != PADIM_DATASET_MVTEC_AD2) {
        padim_model_get_calibration(m, out);
        return PADIM_OK;
    }
    char **paths = NULL;
    int64_t n = 0;
    PADIM_TRY(dataset_split_images(test_dir, "validation/good", &paths, &n));
    padim_status st = calibration_compute(m, rt, (const char *const *)paths, n, fpr, out);
    padim_free_paths(paths, n);
    return st;
}

/* Base name of a folder path, trailing slashes ignored, into buf. */
static const char *folder_name(const char *dir, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", dir);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

padim_status padim_evaluate(const padim_model *m, const padim_runtime *rt, const char *test_dir,
                            const padim_eval_options *opt, padim_eval_result *out) {
    memset(out, 0, sizeof(*out));
    const padim_eval_options none = {0};
    if (!opt) opt = &none;
    const double limit = opt->fpr_limit > 0 ? opt->fpr_limit : 0.3;
    const double cal_fpr = opt->calibration_fpr > 0 ? opt->calibration_fpr : 0.01;
    if (!(limit <= 1.0))
        return padim_fail(PADIM_ERR_ARG, "AU-PRO limit %g: expected 0 < limit <= 1 (e.g. 0.3, MVTec AD 2: 0.05)", limit);
    if (!(cal_fpr < 1.0))
        return padim_fail(PADIM_ERR_ARG, "calibration FPR %g: expected 0 < fpr < 1 (e.g. 0.01)", cal_fpr);
    char name_buf[4096];
    const char *category = opt->category ? opt->category : folder_name(test_dir, name_buf, sizeof(name_buf));
    padim_testset ts = {0};
    PADIM_TRY(testset_load_kind(test_dir, opt->dataset, &ts));
    if (opt->submission_dir && ts.kind != PADIM_DATASET_MVTEC_AD2) {
        padim_status bad = padim_fail(PADIM_ERR_ARG, "%s: a submission is written for MVTec AD 2 only (this folder is "
                                      "%s)", test_dir, padim_dataset_name(ts.kind));
        testset_free(&ts);
        return bad;
    }
    const int S = m->S;
    const size_t plane = (size_t)S * S;
    const int64_t n = ts.n;
    float *maps = NULL, *scores = NULL;
    uint8_t *masks = NULL, *labels = NULL;
    int *sizes = NULL; /* (2, n) widths then heights */
    int *bsz = NULL;   /* (n, 2) width, height of each image */
    padim_scorer *sc = NULL;
    metric_curve pro = {0};
    padim_runtime rt_local;
    if (rt) rt_local = *rt;
    else padim_runtime_default(&rt_local);
    padim_status st = padim_alloc((void **)&maps, (size_t)n * plane * sizeof(float), "evaluation maps");
    if (st == PADIM_OK) st = padim_calloc((void **)&masks, (size_t)n * plane, "evaluation masks");
    if (st == PADIM_OK) st = padim_alloc((void **)&scores, (size_t)n * sizeof(float), "scores");
    if (st == PADIM_OK) st = padim_alloc((void **)&labels, (size_t)n, "labels");
    if (st == PADIM_OK) st = padim_alloc((void **)&sizes, (size_t)(2 * n) * sizeof(int), "image sizes");
    if (st == PADIM_OK) st = padim_scorer_create(m, &rt_local, &sc);
    if (st == PADIM_OK) st = padim_alloc((void **)&bsz, (size_t)n * 2 * sizeof(int), "image sizes");
    if (st == PADIM_OK) snprintf(out->backend, sizeof(out->backend), "%s", padim_scorer_backend(sc));
    const double t0 = padim_now();
    /* Decoded and preprocessed image by image (memory bounded by the threads, not the
     * batch), the next batch while the backend scores this one; the scorer reports progress. */
    if (st == PADIM_OK) st = pipeline_score_files(sc, (const char *const *)ts.paths, n, bsz, scores, maps);
    for (int64_t i = 0; i < n && st == PADIM_OK; i++) {
        sizes[i] = bsz[2 * i];
        sizes[n + i] = bsz[2 * i + 1];
        if (ts.has_masks && ts.mask_paths[i])
            st = mask_load_eval(ts.mask_paths[i], ts.paths[i], bsz[2 * i], bsz[2 * i + 1], &m->cfg, ts.mask_cut,
                                masks + (size_t)i * plane);
    }
    const double t1 = padim_now();
    if (st == PADIM_OK) {
        memcpy(labels, ts.labels, (size_t)n);
        out->dataset = ts.kind;
        out->n_images = n;
        out->n_good = ts.n_good;
        out->n_defective = ts.n_defective;
        out->has_masks = ts.has_masks;
        out->fpr_limit = limit;
        out->image_auroc = metric_auroc(scores, labels, n);
        metric_f1 f1 = metric_best_f1(scores, labels, n);
        out->image_f1 = f1.f1;
        out->image_threshold = f1.threshold;
        out->image_precision = f1.precision;
        out->image_recall = f1.recall;
        out->pixel_auroc = out->pixel_f1 = out->aupro = out->aupro_005 = out->aupro_03 = METRIC_UNAVAILABLE;
        out->seg_f1 = out->seg_precision = out->seg_recall = METRIC_UNAVAILABLE;
        out->pixel_threshold = 0;
        if (ts.has_masks) {
            out->n_pixels = n * (int64_t)plane;
            out->pixel_auroc = metric_auroc(maps, masks, out->n_pixels);
            metric_f1 pf = metric_best_f1(maps, masks, out->n_pixels);
            out->pixel_f1 = pf.f1;
            out->pixel_threshold = pf.threshold;
            const double limits[3] = {limit, 0.05, 0.3};
            double au[3];
            metric_aupro_multi(maps, masks, (int)n, S, S, limits, 3, au, 300, opt->report_dir ? &pro : NULL);
            out->aupro = au[0];
            out->aupro_005 = au[1];
            out->aupro_03 = au[2];
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
    if (st == PADIM_OK) st = eval_calibration(m, &rt_local, test_dir, &ts, cal_fpr, &out->calibration);
    if (st == PADIM_OK && out->calibration.calibrated && ts.has_masks) {
        int64_t c[3];
        st = seg_counts(m, &ts, maps, sizes, sizes + n, out->calibration.pixel_threshold, c);
        out->seg_f1 = metric_f1_counts(c[0], c[1], c[2]);
        out->seg_precision = c[0] + c[1] ? (double)c[0] / (double)(c[0] + c[1]) : METRIC_UNAVAILABLE;
        out->seg_recall = c[0] + c[2] ? (double)c[0] / (double)(c[0] + c[2]) : METRIC_UNAVAILABLE;
    }
    const double t2 = padim_now();
    out->seconds_score = t1 - t0;
    out->seconds_metrics = t2 - t1;
    if (st == PADIM_OK && opt->submission_dir)
        st = submission_write(m, sc, rt_local.threads, test_dir, category, out->calibration.pixel_threshold,
                              opt->submission_dir, &out->n_submission);
    if (st == PADIM_OK && opt->heatmap_dir) {
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
            st = write_eval_heatmap(m, &dopt, ts.paths[i], maps + (size_t)i * plane, (float)out->score_max, thr,
                                    opt->heatmap_input_size, path);
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
    }
    if (st == PADIM_OK && opt->report_dir) {
        const report_input in = {.dir = opt->report_dir, .category = category, .test_dir = test_dir,
                                 .published_file = opt->published_file, .m = m, .r = out, .ts = &ts,
                                 .maps = maps, .masks = masks, .pro = &pro};
        st = report_write(&in);
    }
    if (st != PADIM_OK) padim_eval_result_free(out);
    metric_curve_free(&pro);
    testset_free(&ts);
    padim_scorer_free(sc);
    free(bsz);
    free(maps);
    free(masks);
    free(sizes);
    free(scores);
    free(labels);
    return st;
}
