/*
 * report.h - the evaluation report (report.c): one self-contained HTML page per category,
 * <dir>/report.html, with its images beside it in <dir>/report_files/:
 *   - the metrics table beside the published PaDiM values (published.h) where known;
 *   - image and pixel ROC curves, the PRO curve up to the AUPRO limit (inline SVG);
 *   - histograms of the image scores of good and defective images with the thresholds;
 *   - the worst cases: the highest-scoring good images (false positives once above the
 *     image threshold) and the lowest-scoring defective ones (false negatives below it),
 *     REPORT_WORST of each, with heatmap, ground-truth mask and predicted mask PNGs.
 * Also padim_write_summary_report (padim.h), the `eval --root` page linking the categories.
 */
#ifndef PADIM_REPORT_H
#define PADIM_REPORT_H

#include "dataset.h"
#include "metrics.h"

enum { REPORT_WORST = 4 };

typedef struct report_input {
    const char *dir;            /* output folder (created) */
    const char *category;       /* page title and published lookup */
    const char *test_dir;
    const char *published_file; /* NULL: no published column values */
    const padim_model *m;
    const padim_eval_result *r; /* metrics, thresholds, scores (test-set order) */
    const padim_testset *ts;    /* paths and labels (same order) */
    const float *maps;          /* (n, S, S) anomaly maps */
    const uint8_t *masks;       /* (n, S, S) ground truth at the evaluation size (0/1) */
    const metric_curve *pro;    /* PRO curve up to r->fpr_limit; n = 0: none */
} report_input;

padim_status report_write(const report_input *in);

#endif
