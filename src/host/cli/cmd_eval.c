/*
 * cli_eval.c - `padim-gpu eval`: fit (or load) a model and evaluate it on a labeled test
 * set, writing metrics.json, row.md (a Markdown table row) and scores.csv. Public API only.
 */
#include "cli_util.h"
#include "padim.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
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
    "       padim-gpu eval [options] --root ROOT [--categories a,b,...] [-o DIR]\n"
    "\n"
    "Evaluate on a labeled test set: image AUROC, pixel AUROC, image F1, pixel F1, AUPRO.\n"
    "CATEGORY_DIR is an MVTec AD category (train/good, test/<type>, ground_truth/<type>) or\n"
    "the generic layout (good/, <defect>/, optional masks/; README 'Datasets').\n"
    "Without --model, fits on CATEGORY_DIR/train/good (or --train DIR) first.\n"
    "F1 thresholds are chosen on this test set (F1-optimal), as the published tables do.\n"
    "\n"
    "  --root ROOT              evaluate every category folder of ROOT (or those of\n"
    "                           --categories), each fitted on its train/good; outputs in\n"
    "                           DIR/<category>/ and a summary table DIR/summary.md\n"
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

/* What one category's evaluation reports to the --root summary. */
typedef struct eval_summary {
    char category[256];
    int ok;
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro, fit_s, score_s;
    int64_t n_images;
} eval_summary;

static int eval_single(int argc, char **argv, eval_summary *sum) {
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
            if (!cli_is_dir(train_dir)) {
                free(rest);
                fprintf(stderr, "padim-gpu eval: error: %s: no such folder; without --model, eval fits on "
                                "CATEGORY_DIR/train/good: give --model MODEL or --train DIR\n", train_dir);
                return 2;
            }
        }
        int rc = cli_fit_model(nrest, rest, "eval", train_dir, &m, &rt, &quiet, &fit_s);
        if (rc) {
            free(rest);
            return rc;
        }
    }
    free(rest);
    rt.progress = cli_progress;
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

    if (sum) {
        const char *base = strrchr(category, '/');
        snprintf(sum->category, sizeof(sum->category), "%s", base && base[1] ? base + 1 : category);
        sum->ok = 1;
        sum->image_auroc = r.image_auroc;
        sum->pixel_auroc = r.pixel_auroc;
        sum->image_f1 = r.image_f1;
        sum->pixel_f1 = r.pixel_f1;
        sum->aupro = r.aupro;
        sum->fit_s = fit_s;
        sum->score_s = r.seconds_score;
        sum->n_images = r.n_images;
    }
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

/* Mean of the available values (>= 0) of one metric over the summary rows; -1 when none. */
static double mean_metric(const eval_summary *rows, int n, size_t offset) {
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const double v = *(const double *)((const char *)&rows[i] + offset);
        if (rows[i].ok && v >= 0) sum += v, k++;
    }
    return k ? sum / k : -1;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* `eval --root ROOT [--categories a,b,...] -o OUT`: every category in turn (fitted on its
 * own train/good), outputs in OUT/<category>/, then a summary table (OUT/summary.md) with
 * the category means. A category that fails is reported and the others go on. */
int cmd_eval(int argc, char **argv) {
    const char *root = NULL, *cats = NULL, *outdir = NULL;
    char **pass = calloc((size_t)argc + 4, sizeof(char *));
    int npass = 0;
    for (int i = 0; i < argc; i++) {
        const int has_next = i + 1 < argc;
        if (!strcmp(argv[i], "--root") && has_next) root = argv[++i];
        else if (!strcmp(argv[i], "--categories") && has_next) cats = argv[++i];
        else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out-dir")) && has_next) outdir = argv[++i];
        else pass[npass++] = argv[i];
    }
    if (!root) {
        if (cats) {
            free(pass);
            fprintf(stderr, "padim-gpu eval: --categories needs --root ROOT\n");
            return 2;
        }
        free(pass);
        return eval_single(argc, argv, NULL);
    }
    for (int i = 1; i < npass; i++) {
        if (!strcmp(pass[i], "-h") || !strcmp(pass[i], "--help")) {
            free(pass);
            return eval_single(argc, argv, NULL);
        }
        if (!strcmp(pass[i], "-m") || !strcmp(pass[i], "--model") || !strcmp(pass[i], "--train") ||
            !strcmp(pass[i], "--save-model") || !strcmp(pass[i], "--save-thresholds")) {
            fprintf(stderr, "padim-gpu eval: %s cannot be used with --root: each category is fitted on its "
                            "own train/good\n", pass[i]);
            free(pass);
            return 2;
        }
    }
    /* Categories: the list given, or every subfolder of root with a test/ folder. */
    char **names = NULL;
    int n = 0;
    if (cats) {
        char *copy = strdup(cats), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            names = realloc(names, (size_t)(n + 1) * sizeof(char *));
            names[n++] = strdup(t);
        }
        free(copy);
    } else {
        DIR *d = opendir(root);
        if (!d) {
            fprintf(stderr, "padim-gpu eval: error: %s: cannot open folder: %s\n", root, strerror(errno));
            free(pass);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char p[PATH_MAX];
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof(p), "%s/%s/test", root, e->d_name);
            if (!cli_is_dir(p)) continue;
            names = realloc(names, (size_t)(n + 1) * sizeof(char *));
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        if (n) qsort(names, (size_t)n, sizeof(char *), cmp_cstr);
    }
    if (!n) {
        fprintf(stderr, "padim-gpu eval: error: %s: no category folders (with a test/ subfolder) found\n", root);
        free(pass);
        return 1;
    }
    eval_summary *rows = calloc((size_t)n, sizeof(eval_summary));
    int failures = 0;
    for (int c = 0; c < n; c++) {
        char cat_dir[PATH_MAX], cat_out[PATH_MAX + 256];
        snprintf(cat_dir, sizeof(cat_dir), "%s/%s", root, names[c]);
        snprintf(rows[c].category, sizeof(rows[c].category), "%s", names[c]);
        int k = npass;
        pass[k++] = cat_dir;
        if (outdir) {
            snprintf(cat_out, sizeof(cat_out), "%s/%s", outdir, names[c]);
            pass[k++] = "-o";
            pass[k++] = cat_out;
        }
        pass[k] = NULL;
        if (!cli_is_dir(cat_dir)) {
            fprintf(stderr, "padim-gpu eval: %s: not found, skipped\n", cat_dir);
            failures++;
            continue;
        }
        if (eval_single(k, pass, &rows[c]) != 0) failures++;
    }
    /* Summary: one row per category and the mean over the categories evaluated. */
    cli_buf md = {0};
    char b[5][32];
    cli_printf(&md, "| category | images | image AUROC | pixel AUROC | image F1 | pixel F1 | AUPRO | fit s | score s |\n"
                    "|---|---|---|---|---|---|---|---|---|\n");
    for (int c = 0; c < n; c++) {
        const eval_summary *r = &rows[c];
        if (!r->ok) {
            cli_printf(&md, "| %s | failed or not found | | | | | | | |\n", r->category);
            continue;
        }
        cli_printf(&md, "| %s | %lld | %s | %s | %s | %s | %s | %.1f | %.1f |\n", r->category, (long long)r->n_images,
                   mdnum(b[0], r->image_auroc), mdnum(b[1], r->pixel_auroc), mdnum(b[2], r->image_f1),
                   mdnum(b[3], r->pixel_f1), mdnum(b[4], r->aupro), r->fit_s, r->score_s);
    }
    cli_printf(&md, "| mean | | %s | %s | %s | %s | %s | | |\n",
               mdnum(b[0], mean_metric(rows, n, offsetof(eval_summary, image_auroc))),
               mdnum(b[1], mean_metric(rows, n, offsetof(eval_summary, pixel_auroc))),
               mdnum(b[2], mean_metric(rows, n, offsetof(eval_summary, image_f1))),
               mdnum(b[3], mean_metric(rows, n, offsetof(eval_summary, pixel_f1))),
               mdnum(b[4], mean_metric(rows, n, offsetof(eval_summary, aupro))));
    printf("\n%s", md.s);
    int rc = failures ? 1 : 0;
    if (outdir) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/summary.md", outdir);
        if (cli_mkdir_p(outdir) != 0 || cli_write_text(p, md.s)) rc = 1;
        else printf("wrote %s\n", p);
    }
    if (failures) fprintf(stderr, "padim-gpu eval: %d of %d categories failed or were not found\n", failures, n);
    free(md.s);
    for (int c = 0; c < n; c++) free(names[c]);
    free(names);
    free(rows);
    free(pass);
    return rc;
}
