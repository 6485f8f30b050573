/*
 * cmd_eval.h - what the two files of `padim-gpu eval` share: cmd_eval.c (options, one
 * category, its outputs) and cmd_eval_root.c (`--root`: every category, the summaries).
 */
#ifndef PADIM_CMD_EVAL_H
#define PADIM_CMD_EVAL_H

#include "cli_opts.h"

#include <stdint.h>

typedef struct eval_opts {
    cli_opts common;
    const char *model, *train, *outdir, *save_model, *root, *categories, *submission;
    int heatmaps, save_thresholds, no_report, heatmap_input_size;
    padim_dataset_kind dataset;
    double pro_limit, calibration_fpr;
} eval_opts;

/* What one category's evaluation reports to the --root summary. */
typedef struct eval_summary {
    char category[256];
    int ok;
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro, seg_f1, fit_s, score_s;
    int64_t n_images;
    padim_dataset_kind dataset;
} eval_summary;

/* Evaluate one category folder (fitting its model unless --model), print the result, write
 * the outputs into outdir (NULL: none) and fill *sum (may be NULL). Returns the exit code. */
int eval_one(eval_opts *e, const char *test_dir, const char *outdir, eval_summary *sum);
/* `--root`: every category of e->root. Returns the exit code. */
int eval_root(eval_opts *e);
/* "0.994" or "n/a" for an unavailable metric (buf: 32 bytes). */
const char *eval_mdnum(char *buf, double v);

#endif
