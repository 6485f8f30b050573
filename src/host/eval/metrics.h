/*
 * metrics.h - evaluation metrics of `padim-gpu eval` (the last stage: scores and maps of a
 * labeled test set -> numbers comparable with the published tables). Definitions follow
 * REFERENCE.md "Metrics"; everything is exact (no binning, no squashing) and float64.
 *
 * Common conventions:
 *   - scores are float32 as the scorer produces them; they must not be NaN (a NaN is a bug
 *     upstream and aborts with context). -0.0 and +0.0 are the same score.
 *   - labels / masks: 0 = good (normal), anything else = defective.
 *   - ties: all samples with the same score move together; curve points exist only at
 *     distinct score values (scikit-learn semantics).
 *   - sorting is an LSD radix sort of (float key, payload) pairs: about 0.2 s CPU for 5 million
 *     pixels on one core (tests/test_metrics.c prints the timing).
 *   - return values: METRIC_UNAVAILABLE (-1) when the metric is undefined for the input
 *     (only one class present, no ground-truth regions); METRIC_FAILED (-2) when a scratch
 *     allocation failed (padim_last_error() names it). Callers report both as "unavailable",
 *     never as zero.
 */
#ifndef PADIM_METRICS_H
#define PADIM_METRICS_H

#include "padim.h"

#include <stdint.h>

#define METRIC_UNAVAILABLE (-1.0)
#define METRIC_FAILED (-2.0)

/* Area under the ROC curve of scores (n) against labels (n): the exact trapezoid area over
 * the points at distinct score values, equal to sklearn.metrics.roc_auc_score (ties count
 * one half). Computed with integer counts and one final division. */
double metric_auroc(const float *scores, const uint8_t *labels, int64_t n);

/* Best F1 on the precision-recall curve (prediction: score >= threshold, thresholds at the
 * distinct scores as sklearn.metrics.precision_recall_curve). This is how anomalib reports
 * F1: the threshold is chosen on the test set itself. */
typedef struct metric_f1 {
    double f1;        /* max over thresholds of 2 TP / (2 TP + FP + FN); METRIC_UNAVAILABLE
                         when there is no positive, METRIC_FAILED on allocation failure */
    double threshold; /* the score achieving it (lowest such score when several tie, as
                         argmax over sklearn's increasing thresholds) */
    double precision; /* TP / (TP + FP) at that threshold */
    double recall;    /* TP / (TP + FN) at that threshold */
    int64_t tp, fp, fn;
} metric_f1;

metric_f1 metric_best_f1(const float *scores, const uint8_t *labels, int64_t n);

/* AUPRO, the per-region-overlap metric of MVTec AD. maps (N, H, W) anomaly maps, masks
 * (N, H, W) ground truth. Regions are the 8-connected components of each image's mask;
 * for every threshold t (distinct map value), predicted = map >= t,
 *   FPR(t) = predicted normal pixels / all normal pixels (over all images),
 *   PRO(t) = mean over all regions of |predicted & region| / |region|.
 * Returns the trapezoid area under PRO(FPR) for FPR in [0, fpr_limit] (the last segment
 * interpolated linearly at fpr_limit), divided by fpr_limit (0 < fpr_limit <= 1; 0.3 is
 * the standard). METRIC_UNAVAILABLE when no image has a region or no normal pixel exists.
 * Images without defects contribute normal pixels only. */
double metric_aupro(const float *maps, const uint8_t *masks, int N, int H, int W,
                    double fpr_limit);

/* Points of a curve for plots (the report): x nondecreasing. The sweep's points are thinned:
 * a point is kept when it moves x or y by at least 1 / max_points from the last kept one
 * (the first and last points always), so a monotone curve keeps at most 2 max_points + 2
 * points and its shape is exact to 1 / max_points. */
typedef struct metric_curve {
    int64_t n, cap;
    double *x, *y; /* (n) each, malloc'd; free with metric_curve_free */
} metric_curve;
void metric_curve_free(metric_curve *c);

/* ROC points (FPR, TPR) of scores against labels, from (0, 0) to (1, 1), one per distinct
 * score (sklearn.metrics.roc_curve with drop_intermediate=False), thinned to max_points.
 * Returns 0, METRIC_UNAVAILABLE (one class only) or METRIC_FAILED (allocation). */
double metric_roc_curve(const float *scores, const uint8_t *labels, int64_t n, int max_points,
                        metric_curve *out);

/* metric_aupro at several limits in one sweep: out[i] for limits[i] (each in (0, 1]).
 * curve (NULL: none): the PRO(FPR) points from (0, 0) up to the largest limit, the last one
 * interpolated at it, thinned to max_points. Returns 0, METRIC_UNAVAILABLE (then every
 * out[i] is too) or METRIC_FAILED. */
double metric_aupro_multi(const float *maps, const uint8_t *masks, int N, int H, int W,
                          const double *limits, int n_limits, double *out, int max_points,
                          metric_curve *curve);

/* Confusion counts of (value >= threshold) against labels (nonzero = positive), added to
 * *tp, *fp, *fn; values equal to PADIM_NOT_SCORED are predicted negative. */
void metric_count_at(const float *values, const uint8_t *labels, int64_t n, double threshold,
                     int64_t *tp, int64_t *fp, int64_t *fn);
/* F1 = 2 TP / (2 TP + FP + FN) (sklearn's f1_score); METRIC_UNAVAILABLE when all three are 0. */
double metric_f1_counts(int64_t tp, int64_t fp, int64_t fn);

/* Connected components with 8-connectivity of one binary mask (H, W) (nonzero =
 * foreground). labels (H, W) receives 0 for background and 1..count for the components,
 * numbered in raster order of their first pixel (like scipy.ndimage.label). Returns the
 * number of components. */
int32_t metric_label_components(const uint8_t *mask, int H, int W, int32_t *labels);

/* anomalib's min-max normalization around a threshold:
 *   ((x - threshold) / (max - min)) + 0.5, clipped to [0, 1],
 * so the threshold maps to 0.5. When max <= min: 0.5 at the threshold, 1 above, 0 below. */
double metric_normalize(double x, double threshold, double min, double max);

#endif
