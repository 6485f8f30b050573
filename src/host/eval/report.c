/*
 * report.c - report.html of one evaluated category, and the `eval --root` summary page
 * (contents in report.h). Curves come from the scores and maps padim_evaluate holds; the
 * heatmaps are padim_render_heatmap's, every file goes through the atomic writers.
 */
#include "report.h"

#include "common.h"
#include "padim_internal.h"
#include "published.h"
#include "report_html.h"

#include <math.h>
#include <string.h>

static const char *STYLE =
    "<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fafafa}"
    "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}"
    "th{background:#e8eef6}td.num{text-align:right;font-family:monospace}.plots{display:flex;flex-wrap:wrap;gap:12px}"
    ".plots svg{border:1px solid #ccc;background:#fff}img.case{width:128px;height:128px;image-rendering:pixelated;"
    "border:1px solid #999}.note{color:#666;font-size:90%}</style>\n";

static void page_head(html_buf *b, const char *title) {
    hb_printf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    hb_text(b, title);
    hb_printf(b, "</title>\n%s</head>\n<body>\n<h1>", STYLE);
    hb_text(b, title);
    hb_printf(b, "</h1>\n");
}

/* One metrics row: ours, the published value (or why there is none) and the difference. */
static void metric_row(html_buf *b, const char *name, double ours, double pub, const published_values *pv) {
    hb_printf(b, "<tr><td>");
    hb_text(b, name);
    hb_printf(b, "</td><td class=\"num\">");
    hb_metric(b, ours, 4);
    hb_printf(b, "</td><td class=\"num\">");
    if (pub >= 0) hb_metric(b, pub, 3);
    else hb_text(b, pv->note[0] ? pv->note : "not published");
    hb_printf(b, "</td><td class=\"num\">");
    if (pub >= 0 && ours >= 0) hb_printf(b, "%+.3f", ours - pub);
    hb_printf(b, "</td></tr>\n");
}

static double published_aupro(const published_values *pv, double limit) {
    if (fabs(limit - 0.3) < 1e-12) return pv->aupro_03;
    if (fabs(limit - 0.05) < 1e-12) return pv->aupro_005;
    return -1;
}

static void metrics_table(html_buf *b, const report_input *in, const published_values *pv) {
    const padim_eval_result *r = in->r;
    char name[96];
    hb_printf(b, "<h2>Metrics</h2>\n<table class=\"metrics\">\n<tr><th>metric</th><th>padim-gpu</th>"
                 "<th>published PaDiM</th><th>difference</th></tr>\n");
    metric_row(b, "image AUROC", r->image_auroc, pv->image_auroc, pv);
    metric_row(b, "pixel AUROC", r->pixel_auroc, pv->pixel_auroc, pv);
    metric_row(b, "image F1 (F1-optimal threshold on this test set)", r->image_f1, pv->image_f1, pv);
    metric_row(b, "pixel F1 (F1-optimal threshold on this test set)", r->pixel_f1, pv->pixel_f1, pv);
    snprintf(name, sizeof(name), "AU-PRO, FPR limit %g (the --pro-limit)", r->fpr_limit);
    metric_row(b, name, r->aupro, published_aupro(pv, r->fpr_limit), pv);
    if (fabs(r->fpr_limit - 0.05) > 1e-12) metric_row(b, "AU-PRO, FPR limit 0.05", r->aupro_005, pv->aupro_005, pv);
    if (fabs(r->fpr_limit - 0.3) > 1e-12) metric_row(b, "AU-PRO, FPR limit 0.3", r->aupro_03, pv->aupro_03, pv);
    if (r->calibration.calibrated)
        snprintf(name, sizeof(name), "SegF1 (good-only threshold, FPR %g)", r->calibration.fpr);
    else
        snprintf(name, sizeof(name), "SegF1 (needs a good-only calibration)");
    metric_row(b, name, r->seg_f1, pv->seg_f1, pv);
    hb_printf(b, "</table>\n<p class=\"note\">Published: ");
    hb_text(b, pv->source[0] ? pv->source : (pv->note[0] ? pv->note : "no published values file"));
    hb_printf(b, ". Thresholds: image %.6g, pixel %.6g (F1-optimal on this test set)", r->image_threshold,
              r->pixel_threshold);
    if (r->calibration.calibrated)
        hb_printf(b, "; good-only calibration on %lld images at FPR %g: image %.6g, pixel %.6g%s",
                  (long long)r->calibration.n_images, r->calibration.fpr, r->calibration.image_threshold,
                  r->calibration.pixel_threshold, r->calibration.small_sample ? " (small sample)" : "");
    hb_printf(b, ".</p>\n");
}

/* The image threshold that decides a false positive / negative: the good-only one when
 * there is one (what a line would run with), else the F1-optimal one. */
static double decision_threshold(const padim_eval_result *r) {
    return r->calibration.calibrated ? r->calibration.image_threshold : r->image_threshold;
}

static double pixel_decision_threshold(const padim_eval_result *r) {
    if (r->calibration.calibrated) return r->calibration.pixel_threshold;
    return r->has_masks ? r->pixel_threshold : r->image_threshold;
}

/* The ROC curve of values against labels, or why there is none. */
static void roc_plot(html_buf *b, const char *class_name, const char *title, const float *v, const uint8_t *labels,
                     int64_t n, double auroc, const char *color, const char *why_not) {
    metric_curve c = {0};
    char label[64];
    if (metric_roc_curve(v, labels, n, 400, &c) == 0) {
        snprintf(label, sizeof(label), "AUROC %.4f", auroc);
        const svg_series s = {c.x, c.y, c.n, color, label};
        svg_curves(b, class_name, title, "false-positive rate", "true-positive rate", 1, 1, &s, 1, 1);
    } else {
        hb_printf(b, "<p class=\"%s\">%s: %s.</p>\n", class_name, title, why_not);
    }
    metric_curve_free(&c);
}

static void plots(html_buf *b, const report_input *in) {
    const padim_eval_result *r = in->r;
    const int64_t n = in->ts->n, P = (int64_t)in->m->S * in->m->S;
    char label[96];
    hb_printf(b, "<h2>Curves</h2>\n<div class=\"plots\">\n");
    roc_plot(b, "roc-image", "Image ROC", r->scores, in->ts->labels, n, r->image_auroc, "#1f77b4",
             "needs good and defective images");
    if (r->has_masks)
        roc_plot(b, "roc-pixel", "Pixel ROC", in->maps, in->masks, n * P, r->pixel_auroc, "#d62728",
                 "needs ground-truth masks with defects");
    else
        hb_printf(b, "<p class=\"roc-pixel\">Pixel ROC: needs ground-truth masks.</p>\n");
    if (in->pro && in->pro->n > 0) {
        snprintf(label, sizeof(label), "AU-PRO %.4f", r->aupro);
        svg_series s = {in->pro->x, in->pro->y, in->pro->n, "#2ca02c", label};
        char title[64];
        snprintf(title, sizeof(title), "PRO curve (FPR up to %g)", r->fpr_limit);
        svg_curves(b, "pro", title, "false-positive rate (normal pixels)", "per-region overlap", r->fpr_limit, 1, &s,
                   1, 0);
    } else {
        hb_printf(b, "<p class=\"pro\">PRO curve: needs ground-truth masks with defects.</p>\n");
    }
    double thr[2] = {r->image_threshold, NAN};
    const char *thr_label[2] = {"F1-optimal threshold", "calibrated threshold"};
    if (r->calibration.calibrated) thr[1] = r->calibration.image_threshold;
    svg_histogram(b, "histogram", "Image scores", r->scores, in->ts->labels, n, thr, thr_label,
                  r->calibration.calibrated ? 2 : 1);
    hb_printf(b, "</div>\n");
}

/* The heatmap, ground-truth mask and predicted mask PNGs of test image i as
 * report_files/<tag>_{heatmap,mask,pred}.png. */
static padim_status case_images(const report_input *in, int64_t i, const char *tag) {
    const int S = in->m->S;
    const size_t plane = (size_t)S * S;
    const float *map = in->maps + (size_t)i * plane;
    const double pthr = pixel_decision_threshold(in->r);
    padim_image img = {0};
    float *rgb = NULL;
    uint8_t *px = NULL;
    char path[4096];
    padim_status st = padim_image_load(in->ts->paths[i], &img);
    if (st == PADIM_OK) st = padim_alloc((void **)&rgb, 3 * plane * sizeof(float), "report image");
    if (st == PADIM_OK) st = padim_alloc((void **)&px, 3 * plane, "report image");
    if (st == PADIM_OK) st = padim_model_input_rgb(in->m, &img, rgb);
    if (st == PADIM_OK) {
        padim_render_heatmap(rgb, map, S, 0.0f, (float)in->r->score_max, 0.5f, pthr, px);
        snprintf(path, sizeof(path), "%s/report_files/%s_heatmap.png", in->dir, tag);
        st = padim_write_png(path, S, S, 3, px);
    }
    if (st == PADIM_OK && in->r->has_masks) {
        for (size_t k = 0; k < plane; k++) px[k] = in->masks[(size_t)i * plane + k] ? 255 : 0;
        snprintf(path, sizeof(path), "%s/report_files/%s_mask.png", in->dir, tag);
        st = padim_write_png(path, S, S, 1, px);
    }
    if (st == PADIM_OK) {
        for (size_t k = 0; k < plane; k++) px[k] = (double)map[k] >= pthr ? 255 : 0;
        snprintf(path, sizeof(path), "%s/report_files/%s_pred.png", in->dir, tag);
        st = padim_write_png(path, S, S, 1, px);
    }
    padim_image_free(&img);
    free(rgb);
    free(px);
    return st;
}

/* Indices of the k highest-scoring images with label `label` (descending) or, when
 * lowest, the k lowest (ascending). */
static int pick_worst(const padim_eval_result *r, int64_t n, int label, int lowest, int64_t *idx) {
    int k = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((r->labels[i] != 0) != label) continue;
        const float v = r->scores[i];
        int pos = k;
        while (pos > 0 && (lowest ? v < r->scores[idx[pos - 1]] : v > r->scores[idx[pos - 1]])) pos--;
        if (pos >= REPORT_WORST) continue;
        if (k < REPORT_WORST) k++;
        memmove(idx + pos + 1, idx + pos, (size_t)(k - 1 - pos) * sizeof(int64_t));
        idx[pos] = i;
    }
    return k;
}

static padim_status worst_cases(html_buf *b, const report_input *in) {
    const padim_eval_result *r = in->r;
    const double thr = decision_threshold(r);
    hb_printf(b, "<h2>Worst cases</h2>\n<p class=\"note\">Decided at the image threshold %.6g (%s); heatmaps over "
                 "the preprocessed image (colour scale 0 to %.4g), predicted masks at the pixel threshold %.6g.</p>\n",
              thr, r->calibration.calibrated ? "good-only calibration" : "F1-optimal on this test set", r->score_max,
              pixel_decision_threshold(r));
    hb_printf(b, "<table class=\"worst\">\n<tr><th>case</th><th>image</th><th>score</th><th>heatmap</th>"
                 "<th>ground truth</th><th>predicted</th></tr>\n");
    padim_status st = PADIM_OK;
    for (int kind = 0; kind < 2 && st == PADIM_OK; kind++) {
        int64_t idx[REPORT_WORST];
        const int k = pick_worst(r, in->ts->n, kind, kind, idx); /* good: highest; defective: lowest */
        for (int j = 0; j < k && st == PADIM_OK; j++) {
            const int64_t i = idx[j];
            const int wrong = kind ? r->scores[i] < thr : r->scores[i] >= thr;
            char tag[32];
            snprintf(tag, sizeof(tag), "%s%d", kind ? "fn" : "fp", j + 1);
            st = case_images(in, i, tag);
            hb_printf(b, "<tr class=\"%s\"><td>%s #%d%s</td><td>", kind ? "fn" : "fp",
                      kind ? "lowest defective" : "highest good", j + 1,
                      wrong ? (kind ? " (false negative)" : " (false positive)") : "");
            hb_text(b, r->paths[i]);
            hb_printf(b, "</td><td class=\"num\">%.5g</td>", (double)r->scores[i]);
            hb_printf(b, "<td><img class=\"case\" src=\"report_files/%s_heatmap.png\" alt=\"heatmap\"></td>", tag);
            if (r->has_masks) hb_printf(b, "<td><img class=\"case\" src=\"report_files/%s_mask.png\" alt=\"mask\"></td>", tag);
            else hb_printf(b, "<td>no masks</td>");
            hb_printf(b, "<td><img class=\"case\" src=\"report_files/%s_pred.png\" alt=\"predicted\"></td></tr>\n", tag);
        }
    }
    hb_printf(b, "</table>\n");
    return st;
}

padim_status report_write(const report_input *in) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/report_files", in->dir);
    PADIM_TRY(padim_make_dirs(path));
    const padim_model *m = in->m;
    const padim_eval_result *r = in->r;
    published_values pv;
    PADIM_TRY(published_lookup(in->published_file, padim_dataset_name(r->dataset), padim_backbone_name(m->cfg.backbone),
                               in->category, &pv));
    html_buf b = {0};
    char title[512];
    snprintf(title, sizeof(title), "PaDiM evaluation: %s", in->category);
    page_head(&b, title);
    hb_printf(&b, "<p>Dataset layout <b>%s</b>", padim_dataset_name(r->dataset));
    if (pv.title[0]) {
        hb_printf(&b, " (category ");
        hb_text(&b, pv.title);
        hb_printf(&b, ")");
    }
    hb_printf(&b, ", test set <code>");
    hb_text(&b, in->test_dir);
    hb_printf(&b, "</code>: %lld images (%lld good, %lld defective)%s.<br>\nModel: %s, preset %s, input %d, d %d, "
                  "seed %u, %lld training images. Scored on ", (long long)r->n_images, (long long)r->n_good,
              (long long)r->n_defective, r->has_masks ? "" : ", no masks", padim_backbone_title(m->cfg.backbone),
              padim_preset_name(m->cfg.preset), m->S, m->D, m->cfg.seed, (long long)m->n_train);
    hb_text(&b, r->backend);
    hb_printf(&b, " in %.2f s; padim-gpu %s.</p>\n", r->seconds_score, padim_version());
    metrics_table(&b, in, &pv);
    plots(&b, in);
    padim_status st = worst_cases(&b, in);
    hb_printf(&b, "</body>\n</html>\n");
    snprintf(path, sizeof(path), "%s/report.html", in->dir);
    if (st != PADIM_OK) {
        hb_free(&b);
        return st;
    }
    return hb_write(&b, path);
}

/* ---------------------------------------------------------------- summary */

padim_status padim_write_summary_report(const char *path, const padim_summary_row *rows, int n, double pro_limit) {
    if (!path || (n > 0 && !rows)) return padim_fail(PADIM_ERR_ARG, "summary report: no path or rows");
    html_buf b = {0};
    page_head(&b, "PaDiM evaluation summary");
    hb_printf(&b, "<table class=\"summary\">\n<tr><th>category</th><th>layout</th><th>image AUROC</th>"
                  "<th>pixel AUROC</th><th>image F1</th><th>pixel F1</th><th>AU-PRO (FPR %g)</th><th>SegF1</th></tr>\n",
              pro_limit);
    double sum[6] = {0};
    int cnt[6] = {0};
    for (int i = 0; i < n; i++) {
        const padim_summary_row *r = &rows[i];
        hb_printf(&b, "<tr><td>");
        if (r->ok && r->report) {
            hb_printf(&b, "<a href=\"");
            hb_url(&b, r->report);
            hb_printf(&b, "\">");
            hb_text(&b, r->category);
            hb_printf(&b, "</a>");
        } else {
            hb_text(&b, r->category);
        }
        hb_printf(&b, "</td><td>");
        hb_text(&b, r->ok ? (r->dataset ? r->dataset : "") : "failed or not found");
        hb_printf(&b, "</td>");
        const double v[6] = {r->image_auroc, r->pixel_auroc, r->image_f1, r->pixel_f1, r->aupro, r->seg_f1};
        for (int k = 0; k < 6; k++) {
            hb_printf(&b, "<td class=\"num\">");
            if (r->ok) hb_metric(&b, v[k], 4);
            hb_printf(&b, "</td>");
            if (r->ok && v[k] >= 0) sum[k] += v[k], cnt[k]++;
        }
        hb_printf(&b, "</tr>\n");
    }
    hb_printf(&b, "<tr class=\"mean\"><td><b>mean</b></td><td></td>");
    for (int k = 0; k < 6; k++) {
        hb_printf(&b, "<td class=\"num\">");
        hb_metric(&b, cnt[k] ? sum[k] / cnt[k] : -1, 4);
        hb_printf(&b, "</td>");
    }
    hb_printf(&b, "</tr>\n</table>\n<p class=\"note\">Means over the categories that have the metric.</p>\n"
                  "</body>\n</html>\n");
    return hb_write(&b, path);
}
