/*
 * cli_eval.c - `padim-gpu eval`: fit (or load) a model and evaluate it on a labeled test
 * set, writing metrics.json, row.md (a Markdown table row) and scores.csv. Public API only.
 */
#include "cli_util.h"
#include "padim.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int eval_fail(padim_status st) {
    fprintf(stderr, "padim-gpu eval: error: %s\n", padim_last_error());
    return st == PADIM_ERR_ARG ? 2 : 1;
}

static void eval_progress(void *user, const char *stage, int64_t done, int64_t total) {
    const int *q = user;
    if (*q) return;
    if (isatty(2)) {
        fprintf(stderr, "\r%s: %lld/%lld images", stage, (long long)done, (long long)total);
        if (done == total) fputc('\n', stderr);
    } else if (done == total || done % 64 == 0) {
        fprintf(stderr, "%s: %lld/%lld images\n", stage, (long long)done, (long long)total);
    }
}

/* "0.9944" or "null" for an unavailable metric. */
static const char *jnum(char *buf, double v) {
    if (v < 0) return "null";
    snprintf(buf, 32, "%.6f", v);
    return buf;
}
static const char *mdnum(char *buf, double v) {
    if (v < 0) return "n/a";
    snprintf(buf, 32, "%.3f", v);
    return buf;
}

static const char *eval_help =
    "usage: padim-gpu eval [options] CATEGORY_DIR\n"
    "\n"
    "Evaluate on a labeled test set: image AUROC, pixel AUROC, image F1, pixel F1, AUPRO.\n"
    "CATEGORY_DIR is an MVTec AD category (train/good, test/<type>, ground_truth/<type>) or\n"
    "the generic layout (good/, <defect>/, optional masks/; README 'Datasets').\n"
    "Without --model, fits on CATEGORY_DIR/train/good (or --train DIR) first.\n"
    "F1 thresholds are chosen on this test set (F1-optimal), as the published tables do.\n"
    "\n"
    "  -m, --model MODEL        evaluate an existing model\n"
    "  --train DIR              training images (default CATEGORY_DIR/train/good)\n"
    "  -o, --out-dir DIR        write DIR/metrics.json, DIR/row.md, DIR/scores.csv\n"
    "  --heatmaps               also DIR/heatmaps/<type>_<name>.png with the predicted-mask contour\n"
    "  --save-model PATH        save the (fitted) model, with the thresholds found here\n"
    "  --save-thresholds        store the thresholds into --model MODEL (rewritten atomically)\n"
    "  --config FILE, --backbone NAME, --preset NAME, --weights FILE, --seed N, --d N,\n"
    "  --batch N, --eps X       model settings when fitting (as in 'padim-gpu fit')\n"
    "  --device cpu|cuda|auto, --gpu N, --threads N, --precision P, -q   as in 'padim-gpu fit'\n"
    "\n"
    "example: padim-gpu eval ../shared/data/mvtec_ad/bottle -o eval-bottle\n";

/* Shared with cli.c: fit options and config building live there. */
int cli_fit_model(int argc, char **argv, const char *cmd, const char *train_dir, padim_model **out,
                  padim_runtime *rt, int *quiet_out, double *fit_seconds);

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *train_dir = NULL, *outdir = NULL, *save_model = NULL;
    int heatmaps = 0, save_thr = 0;
    /* First pass: eval's own options; the rest (config and runtime) go to cli_fit_model. */
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(eval_help, stdout);
            free(rest);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_next) model_path = argv[++i];
        else if (!strcmp(a, "--train") && has_next) train_dir = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--out-dir")) && has_next) outdir = argv[++i];
        else if (!strcmp(a, "--save-model") && has_next) save_model = argv[++i];
        else if (!strcmp(a, "--heatmaps")) heatmaps = 1;
        else if (!strcmp(a, "--save-thresholds")) save_thr = 1;
        else rest[nrest++] = argv[i];
    }
    /* The category folder is the one positional argument: every remaining option takes a
     * value (as "--opt value" or "--opt=value") except -q/--quiet. */
    const char *category = NULL;
    for (int i = 1; i < nrest; i++) {
        const char *a = rest[i];
        if (a[0] == '-') {
            if (strcmp(a, "-q") && strcmp(a, "--quiet") && !strchr(a, '=')) i++;
            continue;
        }
        if (category) {
            free(rest);
            fprintf(stderr, "padim-gpu eval: more than one CATEGORY_DIR given ('%s', '%s')\n", category, a);
            return 2;
        }
        category = a;
        memmove(rest + i, rest + i + 1, (size_t)(nrest - i - 1) * sizeof(char *));
        nrest--;
        i--;
    }
    if (!category) {
        free(rest);
        fprintf(stderr, "padim-gpu eval: missing CATEGORY_DIR\nTry 'padim-gpu eval --help'.\n");
        return 2;
    }
    if (heatmaps && !outdir) {
        free(rest);
        fprintf(stderr, "padim-gpu eval: --heatmaps needs -o DIR\n");
        return 2;
    }
    if (save_thr && !model_path) {
        free(rest);
        fprintf(stderr, "padim-gpu eval: --save-thresholds rewrites --model MODEL; when fitting use --save-model PATH\n");
        return 2;
    }
    padim_model *m = NULL;
    padim_runtime rt;
    int quiet = 0;
    double fit_s = 0;
    padim_status st;
    char train_buf[PATH_MAX];
    if (model_path) {
        if (nrest > 1 && !strcmp(rest[1], "--config")) fprintf(stderr, "padim-gpu eval: note: --model given, config options ignored\n");
        st = padim_model_load(model_path, &m);
        if (st != PADIM_OK) {
            free(rest);
            return eval_fail(st);
        }
        /* Runtime options still apply. */
        int rc = cli_fit_model(nrest, rest, "eval", NULL, NULL, &rt, &quiet, NULL);
        if (rc) {
            free(rest);
            padim_model_free(m);
            return rc;
        }
    } else {
        if (!train_dir) {
            snprintf(train_buf, sizeof(train_buf), "%s/train/good", category);
            train_dir = train_buf;
        }
        int rc = cli_fit_model(nrest, rest, "eval", train_dir, &m, &rt, &quiet, &fit_s);
        if (rc) {
            free(rest);
            return rc;
        }
    }
    free(rest);
    rt.progress = eval_progress;
    rt.progress_user = &quiet;
    char heat_dir[PATH_MAX + 16];
    if (outdir) {
        snprintf(heat_dir, sizeof(heat_dir), "%s/heatmaps", outdir);
        if (cli_mkdir_p(heatmaps ? heat_dir : outdir) != 0) {
            fprintf(stderr, "padim-gpu eval: error: %s: cannot create folder: %s\n", outdir, strerror(errno));
            padim_model_free(m);
            return 1;
        }
    }
    padim_eval_options opt = {.heatmap_dir = heatmaps ? heat_dir : NULL, .fpr_limit = 0.3};
    padim_eval_result r;
    st = padim_evaluate(m, &rt, category, &opt, &r);
    if (st != PADIM_OK) {
        padim_model_free(m);
        return eval_fail(st);
    }
    padim_model_info info;
    padim_model_get_info(m, &info);
    const padim_config *c = &info.config;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("%s: %lld test images (%lld good, %lld defective), %s, preset %s, input %d, d %d, seed %u\n", category,
           (long long)r.n_images, (long long)r.n_good, (long long)r.n_defective, padim_backbone_name(c->backbone),
           padim_preset_name(c->preset), info.input_size, c->d, c->seed);
    printf("  image AUROC %s   pixel AUROC %s   image F1 %s   pixel F1 %s   AUPRO@0.3 %s\n", mdnum(b1, r.image_auroc),
           mdnum(b2, r.pixel_auroc), mdnum(b3, r.image_f1), mdnum(b4, r.pixel_f1), mdnum(b5, r.aupro));
    printf("  thresholds (F1-optimal on this test set): image %.6g, pixel %.6g\n", r.image_threshold, r.pixel_threshold);
    printf("  time: fit %.2f s, score %.2f s (%.1f images/s), metrics %.2f s\n", fit_s, r.seconds_score,
           (double)r.n_images / (r.seconds_score > 0 ? r.seconds_score : 1), r.seconds_metrics);
    if (!r.has_masks) printf("  pixel metrics unavailable: no ground-truth masks found\n");

    int rc = 0;
    padim_model_set_thresholds(m, r.image_threshold, r.pixel_threshold, r.score_min, r.score_max);
    if (save_model && padim_model_save(m, save_model) != PADIM_OK) rc = eval_fail(PADIM_ERR_IO);
    if (!rc && save_thr && padim_model_save(m, model_path) != PADIM_OK) rc = eval_fail(PADIM_ERR_IO);
    if (!rc && outdir) {
        cli_buf js = {0}, md = {0}, csv = {0};
        const char *cat = strrchr(category, '/');
        cat = cat && cat[1] ? cat + 1 : category;
        cli_printf(&js, "{\n  \"category\": \"%s\",\n  \"test_dir\": \"%s\",\n  \"model\": {\"backbone\": \"%s\", \"preset\": \"%s\", "
               "\"input_size\": %d, \"resize\": %d, \"crop\": %d, \"d\": %d, \"seed\": %u, \"eps\": %g, \"sigma\": %g, "
               "\"n_train\": %lld, \"factor_dtype\": \"%s\", \"weights\": \"%s\"},\n",
               cat, category, padim_backbone_name(c->backbone), padim_preset_name(c->preset), info.input_size, c->resize,
               c->crop, c->d, c->seed, c->eps, c->sigma, (long long)info.n_train, info.factor_fp16 ? "F16" : "F32",
               c->weights);
        cli_printf(&js, "  \"counts\": {\"images\": %lld, \"good\": %lld, \"defective\": %lld, \"pixels\": %lld, \"has_masks\": %s},\n",
               (long long)r.n_images, (long long)r.n_good, (long long)r.n_defective, (long long)r.n_pixels,
               r.has_masks ? "true" : "false");
        cli_printf(&js, "  \"metrics\": {\"image_auroc\": %s, ", jnum(b1, r.image_auroc));
        cli_printf(&js, "\"pixel_auroc\": %s, ", jnum(b1, r.pixel_auroc));
        cli_printf(&js, "\"image_f1\": %s, ", jnum(b1, r.image_f1));
        cli_printf(&js, "\"pixel_f1\": %s, ", jnum(b1, r.pixel_f1));
        cli_printf(&js, "\"aupro_0.3\": %s},\n", jnum(b1, r.aupro));
        cli_printf(&js, "  \"thresholds\": {\"chosen_on\": \"test set (F1-optimal)\", \"image\": %.9g, \"pixel\": %.9g, "
               "\"image_precision\": %.6f, \"image_recall\": %.6f, \"score_min\": %.9g, \"score_max\": %.9g},\n",
               r.image_threshold, r.pixel_threshold, r.image_precision, r.image_recall, r.score_min, r.score_max);
        cli_printf(&js, "  \"timings_s\": {\"fit\": %.4f, \"score\": %.4f, \"metrics\": %.4f},\n  \"backend\": \"%s\",\n  \"padim_version\": \"%s\"\n}\n",
               fit_s, r.seconds_score, r.seconds_metrics, r.backend, PADIM_VERSION_STRING);
        cli_printf(&md, "| backbone | preset | category | image AUROC | pixel AUROC | image F1 | pixel F1 | AUPRO |\n"
                              "|---|---|---|---|---|---|---|---|\n");
        cli_printf(&md, "| %s | %s | %s | %s | ", c->backbone == PADIM_BACKBONE_RESNET18 ? "ResNet-18" : "Wide ResNet-50",
               padim_preset_name(c->preset), cat, mdnum(b1, r.image_auroc));
        cli_printf(&md, "%s | %s | ", mdnum(b1, r.pixel_auroc), mdnum(b2, r.image_f1));
        cli_printf(&md, "%s | %s |\n", mdnum(b1, r.pixel_f1), mdnum(b2, r.aupro));
        cli_printf(&csv, "path,defect_type,label,score,predicted\n");
        for (int64_t i = 0; i < r.n_images; i++)
            cli_printf(&csv, "%s,%s,%d,%.9g,%d\n", r.paths[i], r.defect_types[i], r.labels[i], (double)r.scores[i],
                   r.scores[i] >= r.image_threshold);
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/metrics.json", outdir);
        if (cli_write_text(p, js.s)) rc = 1;
        snprintf(p, sizeof(p), "%s/row.md", outdir);
        if (!rc && cli_write_text(p, md.s)) rc = 1;
        snprintf(p, sizeof(p), "%s/scores.csv", outdir);
        if (!rc && cli_write_text(p, csv.s)) rc = 1;
        if (!rc) printf("  wrote %s/metrics.json, row.md, scores.csv%s\n", outdir, heatmaps ? ", heatmaps/" : "");
        free(js.s);
        free(md.s);
        free(csv.s);
    }
    padim_eval_result_free(&r);
    padim_model_free(m);
    return rc;
}
