/*
 * cmd_eval.c - `padim-gpu eval`: fit (or load) a model and evaluate it on a labeled test
 * set (padim_evaluate), writing a table of outputs (metrics.json through cJSON, row.md,
 * scores.csv), report.html, the MVTec AD 2 submission and optionally heatmaps; `--root`
 * does it for every category of a folder and writes a summary table and page. Options are
 * parsed once (cli_parse) for all categories; `--root` itself is cmd_eval_root.c.
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "cmd_eval.h"
#include "commands.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *eval_help =
    "usage: padim-gpu eval [options] CATEGORY_DIR\n"
    "       padim-gpu eval [options] --root ROOT [--categories a,b,...] [-o DIR]\n"
    "\n"
    "Evaluate on a labeled test set: image AUROC, pixel AUROC, image F1, pixel F1, AU-PRO\n"
    "(and SegF1 with a good-only calibration). CATEGORY_DIR is a category of MVTec AD, MVTec\n"
    "AD 2, VisA (raw with ../split_csv/1cls.csv, or converted by anomalib) or the generic\n"
    "layout (good/, <defect>/, optional masks/); README 'Datasets'. Without --model, fits on\n"
    "its training images (train/good, VisA: the CSV's train rows; or --train DIR) first.\n"
    "F1 thresholds are chosen on this test set (F1-optimal), as the published tables do.\n"
    "MVTec AD 2: thresholds from validation/good (--calibration-fpr), SegF1 on test_public,\n"
    "and test_private + test_private_mixed scored into MVTec's submission layout.\n"
    "\n"
    "  --root ROOT              evaluate every category folder of ROOT (or those of\n"
    "                           --categories), each fitted on its own training images;\n"
    "                           outputs in DIR/<category>/, a summary table DIR/summary.md\n"
    "                           and a page DIR/report.html linking the categories' reports\n"
    "  --dataset auto|mvtec_ad|mvtec_ad2|visa|folder   layout (default auto: detected)\n"
    "  --pro-limit X            AU-PRO integration limit, 0 < X <= 1 (default 0.3; MVTec AD 2's\n"
    "                           protocol is 0.05; AU-PRO at 0.05 and 0.3 is always reported)\n"
    "  --calibration-fpr X      MVTec AD 2: false-positive rate of the good-only thresholds\n"
    "                           on validation/good (default 0.01)\n"
    "  --submission DIR         MVTec AD 2: write the submission there (default DIR/submission\n"
    "                           with -o; with --root one submission for all categories)\n"
    "  -m, --model MODEL        evaluate an existing model\n"
    "  --train DIR              training images (default: the layout's)\n"
    "  -o, --out-dir DIR        write DIR/metrics.json, DIR/row.md, DIR/scores.csv and\n"
    "                           DIR/report.html (+ DIR/report_files/)\n"
    "  --no-report              no report.html\n"
    "  --heatmaps               also DIR/heatmaps/<type>_<name>.png with the predicted-mask contour\n"
    "  --map-size source|input  heatmaps at each image's own size (default) or at the\n"
    "                           preprocessed size (metrics are always at the evaluation size)\n"
    "  --save-model PATH        save the (fitted) model, with the thresholds found here\n"
    "  --save-thresholds        store the thresholds into --model MODEL (rewritten atomically)\n"
    "  --config FILE, --backbone NAME, --preset NAME, --weights FILE, --seed N, --d N,\n"
    "  --eps X, --resize N, --crop N, --factor-dtype T   model settings when fitting\n"
    "                           (as in 'padim-gpu fit'; ignored with --model)\n"
    "  --batch N                images per backbone batch, for fitting and scoring\n"
    "                           (default: the config's when fitting, else the model's)\n"
    "  --device cpu|cuda|auto, --gpu N, --threads N, --precision P, -q   as in 'padim-gpu fit'\n"
    "\n"
    "example: padim-gpu eval ../shared/data/mvtec_ad/bottle -o eval-bottle\n";

enum {
    OPT_TRAIN = CLI_OPT_OWN,
    OPT_HEATMAPS,
    OPT_SAVE_MODEL,
    OPT_SAVE_THRESHOLDS,
    OPT_ROOT,
    OPT_CATEGORIES,
    OPT_DATASET,
    OPT_PRO_LIMIT,
    OPT_CALIBRATION_FPR,
    OPT_SUBMISSION,
    OPT_NO_REPORT,
    OPT_MAP_SIZE,
};

static const struct option eval_options[] = {
    {"model", required_argument, 0, 'm'},
    {"train", required_argument, 0, OPT_TRAIN},
    {"out-dir", required_argument, 0, 'o'},
    {"heatmaps", no_argument, 0, OPT_HEATMAPS},
    {"save-model", required_argument, 0, OPT_SAVE_MODEL},
    {"save-thresholds", no_argument, 0, OPT_SAVE_THRESHOLDS},
    {"root", required_argument, 0, OPT_ROOT},
    {"categories", required_argument, 0, OPT_CATEGORIES},
    {"map-size", required_argument, 0, OPT_MAP_SIZE},
    {"dataset", required_argument, 0, OPT_DATASET},
    {"pro-limit", required_argument, 0, OPT_PRO_LIMIT},
    {"calibration-fpr", required_argument, 0, OPT_CALIBRATION_FPR},
    {"submission", required_argument, 0, OPT_SUBMISSION},
    {"no-report", no_argument, 0, OPT_NO_REPORT},
    {0, 0, 0, 0},
};

/* The string options: code and the field they set. */
static const struct {
    int code;
    size_t offset;
} eval_strings[] = {
    {'m', offsetof(eval_opts, model)},           {OPT_TRAIN, offsetof(eval_opts, train)},
    {'o', offsetof(eval_opts, outdir)},          {OPT_SAVE_MODEL, offsetof(eval_opts, save_model)},
    {OPT_ROOT, offsetof(eval_opts, root)},       {OPT_CATEGORIES, offsetof(eval_opts, categories)},
    {OPT_SUBMISSION, offsetof(eval_opts, submission)},
};

/* The rates: code, field, name, whether the value 1 is allowed. */
static const struct {
    int code;
    size_t offset;
    const char *name;
    int one_ok;
} eval_rates[] = {
    {OPT_PRO_LIMIT, offsetof(eval_opts, pro_limit), "--pro-limit", 1},
    {OPT_CALIBRATION_FPR, offsetof(eval_opts, calibration_fpr), "--calibration-fpr", 0},
};

static int eval_option(void *ctx, int code, const char *arg) {
    eval_opts *e = ctx;
    for (size_t i = 0; i < sizeof(eval_strings) / sizeof(eval_strings[0]); i++)
        if (eval_strings[i].code == code) {
            *(const char **)((char *)e + eval_strings[i].offset) = arg;
            return 0;
        }
    for (size_t i = 0; i < sizeof(eval_rates) / sizeof(eval_rates[0]); i++)
        if (eval_rates[i].code == code) {
            char *end;
            const double v = strtod(arg, &end);
            if (*end || !(v > 0) || v > 1 || (v == 1 && !eval_rates[i].one_ok)) {
                fprintf(stderr, "padim-gpu eval: %s '%s': expected a number with 0 < x %s 1\n", eval_rates[i].name,
                        arg, eval_rates[i].one_ok ? "<=" : "<");
                return -1;
            }
            *(double *)((char *)e + eval_rates[i].offset) = v;
            return 0;
        }
    if (code == OPT_DATASET) {
        if (padim_dataset_parse(arg, &e->dataset) == PADIM_OK) return 0;
        fprintf(stderr, "padim-gpu eval: --dataset: %s\n", padim_last_error());
        return -1;
    }
    if (code == OPT_HEATMAPS) e->heatmaps = 1;
    else if (code == OPT_SAVE_THRESHOLDS) e->save_thresholds = 1;
    else if (code == OPT_NO_REPORT) e->no_report = 1;
    else if (code == OPT_MAP_SIZE && (!strcmp(arg, "source") || !strcmp(arg, "input")))
        e->heatmap_input_size = !strcmp(arg, "input");
    else if (code == OPT_MAP_SIZE) {
        fprintf(stderr, "padim-gpu eval: error: --map-size expects source or input, got '%s'\n", arg);
        return -1;
    } else return -1;
    return 0;
}

/* One evaluation: the result, the model it was made with and what names it. */
typedef struct eval_run {
    const char *test_dir, *category; /* category: test_dir's last component */
    padim_eval_result r;
    padim_model_info info;
    double fit_s;
    const char *submission, *report; /* where they were written, NULL: not */
} eval_run;

/* ---------------------------------------------------------------- outputs */

static char *metrics_json(const eval_run *e) {
    const padim_eval_result *r = &e->r;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "category", e->category);
    cJSON_AddStringToObject(root, "test_dir", e->test_dir);
    cli_json_model(cJSON_AddObjectToObject(root, "model"), &e->info);
    cJSON *c = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(c, "images", (double)r->n_images);
    cJSON_AddNumberToObject(c, "good", (double)r->n_good);
    cJSON_AddNumberToObject(c, "defective", (double)r->n_defective);
    cJSON_AddNumberToObject(c, "pixels", (double)r->n_pixels);
    cJSON_AddBoolToObject(c, "has_masks", r->has_masks);
    cJSON_AddStringToObject(root, "dataset", padim_dataset_name(r->dataset));
    cJSON *m = cJSON_AddObjectToObject(root, "metrics");
    cli_json_metric(m, "image_auroc", r->image_auroc);
    cli_json_metric(m, "pixel_auroc", r->pixel_auroc);
    cli_json_metric(m, "image_f1", r->image_f1);
    cli_json_metric(m, "pixel_f1", r->pixel_f1);
    /* AU-PRO named by its limit ("aupro_0.3"): the --pro-limit one, 0.05 and 0.3. */
    const double limits[3] = {r->fpr_limit, 0.05, 0.3}, values[3] = {r->aupro, r->aupro_005, r->aupro_03};
    for (int k = 0; k < 3; k++) {
        char key[32];
        snprintf(key, sizeof(key), "aupro_%g", limits[k]);
        if (!cJSON_GetObjectItemCaseSensitive(m, key)) cli_json_metric(m, key, values[k]);
    }
    cli_json_number(m, "pro_limit", r->fpr_limit);
    cli_json_metric(m, "seg_f1", r->seg_f1);
    cli_json_metric(m, "seg_precision", r->seg_precision);
    cli_json_metric(m, "seg_recall", r->seg_recall);
    if (r->calibration.calibrated) {
        cJSON *cal = cJSON_AddObjectToObject(root, "calibration");
        cJSON_AddStringToObject(cal, "on", r->dataset == PADIM_DATASET_MVTEC_AD2 ? "validation/good" : "model");
        cli_json_number(cal, "fpr", r->calibration.fpr);
        cJSON_AddNumberToObject(cal, "images", (double)r->calibration.n_images);
        cli_json_number(cal, "image", r->calibration.image_threshold);
        cli_json_number(cal, "pixel", r->calibration.pixel_threshold);
        cJSON_AddBoolToObject(cal, "small_sample", r->calibration.small_sample);
    }
    if (e->submission) {
        cJSON *sub = cJSON_AddObjectToObject(root, "submission");
        cJSON_AddStringToObject(sub, "dir", e->submission);
        cJSON_AddNumberToObject(sub, "images", (double)r->n_submission);
    }
    if (e->report) cJSON_AddStringToObject(root, "report", e->report);
    cJSON *t = cJSON_AddObjectToObject(root, "thresholds");
    cJSON_AddStringToObject(t, "chosen_on", "test set (F1-optimal)");
    cli_json_number(t, "image", r->image_threshold);
    cli_json_number(t, "pixel", r->pixel_threshold);
    cli_json_number(t, "image_precision", r->image_precision);
    cli_json_number(t, "image_recall", r->image_recall);
    cli_json_number(t, "score_min", r->score_min);
    cli_json_number(t, "score_max", r->score_max);
    cJSON *s = cJSON_AddObjectToObject(root, "timings_s");
    cli_json_number(s, "fit", e->fit_s);
    cli_json_number(s, "score", r->seconds_score);
    cli_json_number(s, "metrics", r->seconds_metrics);
    cJSON_AddStringToObject(root, "backend", r->backend);
    cJSON_AddStringToObject(root, "padim_version", PADIM_VERSION_STRING);
    return cli_json_text(root);
}

static char *row_md(const eval_run *e) {
    const padim_eval_result *r = &e->r;
    const padim_config *c = &e->info.config;
    char b1[32], b2[32];
    cli_buf md = {0};
    cli_printf(&md, "| backbone | preset | category | image AUROC | pixel AUROC | image F1 | pixel F1 | AUPRO |\n"
                    "|---|---|---|---|---|---|---|---|\n");
    cli_printf(&md, "| %s | %s | %s | %s | ", c->backbone == PADIM_BACKBONE_RESNET18 ? "ResNet-18" : "Wide ResNet-50",
               padim_preset_name(c->preset), e->category, eval_mdnum(b1, r->image_auroc));
    cli_printf(&md, "%s | %s | ", eval_mdnum(b1, r->pixel_auroc), eval_mdnum(b2, r->image_f1));
    cli_printf(&md, "%s | %s |\n", eval_mdnum(b1, r->pixel_f1), eval_mdnum(b2, r->aupro));
    return md.s;
}

static char *scores_csv(const eval_run *e) {
    const padim_eval_result *r = &e->r;
    cli_buf csv = {0};
    cli_printf(&csv, "path,defect_type,label,score,predicted\n");
    for (int64_t i = 0; i < r->n_images; i++)
        cli_printf(&csv, "%s,%s,%d,%.9g,%d\n", r->paths[i], r->defect_types[i], r->labels[i], (double)r->scores[i],
                   r->scores[i] >= r->image_threshold);
    return csv.s;
}

/* The files of -o DIR: name and the text it holds. */
static const struct eval_output {
    const char *file;
    char *(*text)(const eval_run *e);
} eval_outputs[] = {
    {"metrics.json", metrics_json},
    {"row.md", row_md},
    {"scores.csv", scores_csv},
};

static int write_outputs(const eval_run *e, const char *outdir, int heatmaps) {
    for (size_t k = 0; k < sizeof(eval_outputs) / sizeof(eval_outputs[0]); k++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/%s", outdir, eval_outputs[k].file);
        char *text = eval_outputs[k].text(e);
        const int bad = !text ? (fprintf(stderr, "padim-gpu eval: error: out of memory\n"), 1) : cli_write_text(p, text);
        free(text);
        if (bad) return 1;
    }
    printf("  wrote %s/metrics.json, row.md, scores.csv%s%s\n", outdir, e->report ? ", report.html" : "",
           heatmaps ? ", heatmaps/" : "");
    if (e->submission)
        printf("  MVTec AD 2 submission: %lld images of test_private/ and test_private_mixed/ in %s\n",
               (long long)e->r.n_submission, e->submission);
    return 0;
}

static void print_result(const eval_run *e) {
    const padim_eval_result *r = &e->r;
    const padim_config *c = &e->info.config;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("%s: %lld test images (%lld good, %lld defective), %s, preset %s, input %d, d %d, seed %u\n", e->test_dir,
           (long long)r->n_images, (long long)r->n_good, (long long)r->n_defective, padim_backbone_name(c->backbone),
           padim_preset_name(c->preset), e->info.input_size, c->d, c->seed);
    printf("  image AUROC %s   pixel AUROC %s   image F1 %s   pixel F1 %s   AUPRO@%g %s\n", eval_mdnum(b1, r->image_auroc),
           eval_mdnum(b2, r->pixel_auroc), eval_mdnum(b3, r->image_f1), eval_mdnum(b4, r->pixel_f1), r->fpr_limit, eval_mdnum(b5, r->aupro));
    if (r->calibration.calibrated)
        printf("  SegF1 %s at the good-only pixel threshold %.6g (FPR %g on %lld images); AUPRO@0.05 %s\n",
               eval_mdnum(b1, r->seg_f1), r->calibration.pixel_threshold, r->calibration.fpr,
               (long long)r->calibration.n_images, eval_mdnum(b2, r->aupro_005));
    printf("  thresholds (F1-optimal on this test set): image %.6g, pixel %.6g\n", r->image_threshold, r->pixel_threshold);
    printf("  time: fit %.2f s, score %.2f s (%.1f images/s), metrics %.2f s\n", e->fit_s, r->seconds_score,
           (double)r->n_images / (r->seconds_score > 0 ? r->seconds_score : 1), r->seconds_metrics);
    if (!r->has_masks) printf("  pixel metrics unavailable: no ground-truth masks found\n");
}

static void summarize(const eval_run *e, eval_summary *sum) {
    snprintf(sum->category, sizeof(sum->category), "%s", e->category);
    sum->ok = 1;
    sum->image_auroc = e->r.image_auroc;
    sum->pixel_auroc = e->r.pixel_auroc;
    sum->image_f1 = e->r.image_f1;
    sum->pixel_f1 = e->r.pixel_f1;
    sum->aupro = e->r.aupro;
    sum->seg_f1 = e->r.seg_f1;
    sum->dataset = e->r.dataset;
    sum->fit_s = e->fit_s;
    sum->score_s = e->r.seconds_score;
    sum->n_images = e->r.n_images;
}

/* ---------------------------------------------------------------- one category */

/* The model: --model, or fitted on --train / test_dir/train/good. Returns 0 or the exit code. */
static int get_model(eval_opts *e, const char *test_dir, padim_model **m, double *fit_s) {
    if (e->model) {
        if (e->common.n_config) fprintf(stderr, "padim-gpu eval: note: --model given, config options ignored\n");
        padim_status st = padim_model_load(e->model, m);
        return st == PADIM_OK ? 0 : cli_fail("eval", st);
    }
    padim_config cfg;
    padim_status st = cli_build_config(&e->common, &cfg);
    if (st != PADIM_OK) return cli_fail("eval", st);
    char **paths;
    int64_t n;
    st = e->train ? padim_list_images(e->train, 1, &paths, &n) : padim_dataset_train_images(test_dir, e->dataset, &paths, &n);
    if (st != PADIM_OK) {
        if (!e->train) {
            fprintf(stderr, "padim-gpu eval: error: %s\n  without --model, eval fits on the category's training "
                            "images: give --model MODEL or --train DIR\n", padim_last_error());
            return 2;
        }
        return cli_fail("eval", st);
    }
    const int rc = cli_fit_model(&e->common, &cfg, e->train ? e->train : test_dir, paths, n, m, fit_s);
    padim_free_paths(paths, n);
    return rc;
}

/* Store the thresholds found here, save where asked (--save-model, --save-thresholds). */
static int save_model(const eval_opts *e, padim_model *m, const padim_eval_result *r) {
    padim_model_set_thresholds(m, r->image_threshold, r->pixel_threshold, r->score_min, r->score_max);
    const char *targets[2] = {e->save_model, e->save_thresholds ? e->model : NULL};
    for (int k = 0; k < 2; k++) {
        if (!targets[k]) continue;
        padim_status st = padim_model_save(m, targets[k]);
        if (st != PADIM_OK) return cli_fail("eval", st);
    }
    return 0;
}

/* The published values beside the code: <data dir>/configs/published_padim.json. */
static const char *published_file(char *buf, size_t cap) {
    snprintf(buf, cap, "%s/configs/published_padim.json", cli_data_dir());
    return buf;
}

/* MVTec AD 2's submission folder: --submission, else OUT/submission (with --root, the
 * root's OUT: one submission for every category). NULL: none. */
static const char *submission_dir(const eval_opts *e, const char *test_dir, const char *outdir, char *buf,
                                  size_t cap) {
    if (e->submission) return e->submission; /* padim_evaluate refuses it outside MVTec AD 2 */
    padim_dataset_kind k = e->dataset;
    if (k == PADIM_DATASET_AUTO && padim_dataset_detect(test_dir, &k) != PADIM_OK) return NULL;
    if (k != PADIM_DATASET_MVTEC_AD2 || !outdir) return NULL;
    snprintf(buf, cap, "%s/submission", e->root ? e->outdir : outdir);
    return buf;
}

int eval_one(eval_opts *e, const char *test_dir, const char *outdir, eval_summary *sum) {
    eval_run run = {.test_dir = test_dir};
    const char *base = strrchr(test_dir, '/');
    run.category = base && base[1] ? base + 1 : test_dir;
    padim_model *m = NULL;
    int rc = get_model(e, test_dir, &m, &run.fit_s);
    if (rc) return rc;
    char heat_dir[PATH_MAX + 16];
    if (outdir) {
        snprintf(heat_dir, sizeof(heat_dir), "%s/heatmaps", outdir);
        if (cli_mkdir_p(e->heatmaps ? heat_dir : outdir) != 0) {
            fprintf(stderr, "padim-gpu eval: error: %s: cannot create folder: %s\n", outdir, strerror(errno));
            padim_model_free(m);
            return 1;
        }
    }
    padim_model_get_info(m, &run.info);
    char pub[PATH_MAX + 64], sub[PATH_MAX + 16], report[PATH_MAX + 16];
    padim_eval_options opt = {.heatmap_dir = e->heatmaps ? heat_dir : NULL, .fpr_limit = e->pro_limit,
                              .dataset = e->dataset, .calibration_fpr = e->calibration_fpr,
                              .submission_dir = submission_dir(e, test_dir, outdir, sub, sizeof(sub)),
                              .report_dir = outdir && !e->no_report ? outdir : NULL,
                              .published_file = published_file(pub, sizeof(pub)), .category = run.category,
                              .heatmap_input_size = e->heatmap_input_size};
    run.submission = opt.submission_dir;
    if (opt.report_dir) snprintf(report, sizeof(report), "%s/report.html", outdir);
    run.report = opt.report_dir ? report : NULL;
    padim_status st = padim_evaluate(m, &e->common.rt, test_dir, &opt, &run.r);
    if (st != PADIM_OK) {
        padim_model_free(m);
        return cli_fail("eval", st);
    }
    print_result(&run);
    if (sum) summarize(&run, sum);
    rc = save_model(e, m, &run.r);
    if (!rc && outdir) rc = write_outputs(&run, outdir, e->heatmaps);
    padim_eval_result_free(&run.r);
    padim_model_free(m);
    return rc;
}

/* Combinations that cannot work; returns 0 or the usage exit code (message printed). */
static int check_options(const eval_opts *e, int npos) {
    if (e->root) {
        const char *bad = e->model ? "--model" : e->train ? "--train" : e->save_model ? "--save-model"
                        : e->save_thresholds ? "--save-thresholds" : NULL;
        if (bad)
            return cli_usage_error("eval", "%s cannot be used with --root: each category is fitted on its own "
                                           "train/good", bad);
        if (npos) return cli_usage_error("eval", "--root ROOT takes no CATEGORY_DIR");
        return 0;
    }
    if (e->categories) return cli_usage_error("eval", "--categories needs --root ROOT");
    if (npos == 0) return cli_usage_error("eval", "missing CATEGORY_DIR");
    if (npos > 1) return cli_usage_error("eval", "more than one CATEGORY_DIR given");
    if (e->heatmaps && !e->outdir) return cli_usage_error("eval", "--heatmaps needs -o DIR");
    if (e->save_thresholds && !e->model)
        return cli_usage_error("eval", "--save-thresholds rewrites --model MODEL; when fitting use --save-model PATH");
    return 0;
}

int cmd_eval(int argc, char **argv) {
    eval_opts e = {0};
    cli_opts_init(&e.common, "eval");
    e.pro_limit = 0.3;
    e.calibration_fpr = 0.01;
    const cli_parser p = {eval_options, CLI_GROUP_BASE | CLI_GROUP_RUNTIME | CLI_GROUP_CONFIG, eval_help,
                          eval_option, &e};
    int rc = cli_parse(&e.common, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    rc = check_options(&e, argc - optind);
    if (rc) return rc;
    return e.root ? eval_root(&e) : eval_one(&e, argv[optind], e.outdir, NULL);
}
