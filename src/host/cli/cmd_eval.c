/*
 * cmd_eval.c - `padim-gpu eval`: fit (or load) a model and evaluate it on a labeled test
 * set (padim_evaluate), writing a table of outputs (metrics.json through cJSON, row.md,
 * scores.csv) and optionally heatmaps; `--root` does it for every category of a folder
 * and writes a summary table. Options are parsed once (cli_parse) for all categories.
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <dirent.h>
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

typedef struct eval_opts {
    cli_opts common;
    const char *model, *train, *outdir, *save_model, *root, *categories;
    int heatmaps, save_thresholds, heatmap_input_size;
} eval_opts;

enum { OPT_TRAIN = CLI_OPT_OWN, OPT_HEATMAPS, OPT_SAVE_MODEL, OPT_SAVE_THRESHOLDS, OPT_ROOT, OPT_CATEGORIES, OPT_MAP_SIZE };

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
};

static int eval_option(void *ctx, int code, const char *arg) {
    eval_opts *e = ctx;
    for (size_t i = 0; i < sizeof(eval_strings) / sizeof(eval_strings[0]); i++)
        if (eval_strings[i].code == code) {
            *(const char **)((char *)e + eval_strings[i].offset) = arg;
            return 0;
        }
    if (code == OPT_HEATMAPS) e->heatmaps = 1;
    else if (code == OPT_SAVE_THRESHOLDS) e->save_thresholds = 1;
    else if (code == OPT_MAP_SIZE && (!strcmp(arg, "source") || !strcmp(arg, "input")))
        e->heatmap_input_size = !strcmp(arg, "input");
    else if (code == OPT_MAP_SIZE) {
        fprintf(stderr, "padim-gpu eval: error: --map-size expects source or input, got '%s'\n", arg);
        return -1;
    } else return -1;
    return 0;
}

/* What one category's evaluation reports to the --root summary. */
typedef struct eval_summary {
    char category[256];
    int ok;
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro, fit_s, score_s;
    int64_t n_images;
} eval_summary;

/* One evaluation: the result, the model it was made with and what names it. */
typedef struct eval_run {
    const char *test_dir, *category; /* category: test_dir's last component */
    padim_eval_result r;
    padim_model_info info;
    double fit_s;
} eval_run;

/* "0.994" or "n/a" for an unavailable metric. */
static const char *mdnum(char *buf, double v) {
    if (v < 0) return "n/a";
    snprintf(buf, 32, "%.3f", v);
    return buf;
}

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
    cJSON *m = cJSON_AddObjectToObject(root, "metrics");
    cli_json_metric(m, "image_auroc", r->image_auroc);
    cli_json_metric(m, "pixel_auroc", r->pixel_auroc);
    cli_json_metric(m, "image_f1", r->image_f1);
    cli_json_metric(m, "pixel_f1", r->pixel_f1);
    cli_json_metric(m, "aupro_0.3", r->aupro);
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
               padim_preset_name(c->preset), e->category, mdnum(b1, r->image_auroc));
    cli_printf(&md, "%s | %s | ", mdnum(b1, r->pixel_auroc), mdnum(b2, r->image_f1));
    cli_printf(&md, "%s | %s |\n", mdnum(b1, r->pixel_f1), mdnum(b2, r->aupro));
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
    printf("  wrote %s/metrics.json, row.md, scores.csv%s\n", outdir, heatmaps ? ", heatmaps/" : "");
    return 0;
}

static void print_result(const eval_run *e) {
    const padim_eval_result *r = &e->r;
    const padim_config *c = &e->info.config;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("%s: %lld test images (%lld good, %lld defective), %s, preset %s, input %d, d %d, seed %u\n", e->test_dir,
           (long long)r->n_images, (long long)r->n_good, (long long)r->n_defective, padim_backbone_name(c->backbone),
           padim_preset_name(c->preset), e->info.input_size, c->d, c->seed);
    printf("  image AUROC %s   pixel AUROC %s   image F1 %s   pixel F1 %s   AUPRO@0.3 %s\n", mdnum(b1, r->image_auroc),
           mdnum(b2, r->pixel_auroc), mdnum(b3, r->image_f1), mdnum(b4, r->pixel_f1), mdnum(b5, r->aupro));
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
    char train_buf[PATH_MAX];
    const char *train = e->train;
    if (!train) {
        snprintf(train_buf, sizeof(train_buf), "%s/train/good", test_dir);
        train = train_buf;
        if (!cli_is_dir(train)) {
            fprintf(stderr, "padim-gpu eval: error: %s: no such folder; without --model, eval fits on "
                            "CATEGORY_DIR/train/good: give --model MODEL or --train DIR\n", train);
            return 2;
        }
    }
    padim_config cfg;
    padim_status st = cli_build_config(&e->common, &cfg);
    if (st != PADIM_OK) return cli_fail("eval", st);
    char **paths;
    int64_t n;
    st = padim_list_images(train, 1, &paths, &n);
    if (st != PADIM_OK) return cli_fail("eval", st);
    const int rc = cli_fit_model(&e->common, &cfg, train, paths, n, m, fit_s);
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

static int eval_one(eval_opts *e, const char *test_dir, const char *outdir, eval_summary *sum) {
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
    padim_eval_options opt = {.heatmap_dir = e->heatmaps ? heat_dir : NULL, .fpr_limit = 0.3,
                              .heatmap_input_size = e->heatmap_input_size};
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

/* ---------------------------------------------------------------- --root */

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

static void add_name(char ***names, int *n, const char *name) {
    char **grown = realloc(*names, (size_t)(*n + 1) * sizeof(char *));
    if (!grown) return;
    *names = grown;
    if ((grown[*n] = strdup(name)) != NULL) (*n)++;
}

/* Categories: the list given, or every subfolder of root with a test/ folder (sorted).
 * Returns -1 when root cannot be read. */
static int list_categories(const char *root, const char *list, char ***names) {
    int n = 0;
    *names = NULL;
    if (list) {
        char *copy = strdup(list), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) add_name(names, &n, t);
        free(copy);
        return n;
    }
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "padim-gpu eval: error: %s: cannot open folder: %s\n", root, strerror(errno));
        return -1;
    }
    for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s/test", root, ent->d_name);
        if (ent->d_name[0] != '.' && cli_is_dir(p)) add_name(names, &n, ent->d_name);
    }
    closedir(d);
    if (n) qsort(*names, (size_t)n, sizeof(char *), cmp_cstr);
    return n;
}

/* The summary table: one row per category and the mean over the categories evaluated. */
static char *summary_md(const eval_summary *rows, int n) {
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
    return md.s;
}

/* Every category in turn (fitted on its own train/good), outputs in OUT/<category>/, then
 * the summary (OUT/summary.md). A category that fails is reported and the others go on. */
static int eval_root(eval_opts *e) {
    char **names;
    const int n = list_categories(e->root, e->categories, &names);
    if (n < 0) return 1;
    if (!n) {
        fprintf(stderr, "padim-gpu eval: error: %s: no category folders (with a test/ subfolder) found\n", e->root);
        return 1;
    }
    eval_summary *rows = calloc((size_t)n, sizeof(eval_summary));
    int failures = 0;
    for (int c = 0; rows && c < n; c++) {
        char cat_dir[PATH_MAX], cat_out[PATH_MAX + 256];
        snprintf(cat_dir, sizeof(cat_dir), "%s/%s", e->root, names[c]);
        snprintf(cat_out, sizeof(cat_out), "%s/%s", e->outdir ? e->outdir : "", names[c]);
        snprintf(rows[c].category, sizeof(rows[c].category), "%s", names[c]);
        if (!cli_is_dir(cat_dir)) fprintf(stderr, "padim-gpu eval: %s: not found, skipped\n", cat_dir);
        if (!cli_is_dir(cat_dir) || eval_one(e, cat_dir, e->outdir ? cat_out : NULL, &rows[c]) != 0) failures++;
    }
    char *md = rows ? summary_md(rows, n) : NULL;
    int rc = failures || !md ? 1 : 0;
    if (md) printf("\n%s", md);
    if (md && e->outdir) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/summary.md", e->outdir);
        if (cli_mkdir_p(e->outdir) != 0 || cli_write_text(p, md)) rc = 1;
        else printf("wrote %s\n", p);
    }
    if (failures) fprintf(stderr, "padim-gpu eval: %d of %d categories failed or were not found\n", failures, n);
    free(md);
    for (int c = 0; c < n; c++) free(names[c]);
    free(names);
    free(rows);
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
    const cli_parser p = {eval_options, CLI_GROUP_BASE | CLI_GROUP_RUNTIME | CLI_GROUP_CONFIG, eval_help,
                          eval_option, &e};
    int rc = cli_parse(&e.common, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    rc = check_options(&e, argc - optind);
    if (rc) return rc;
    return e.root ? eval_root(&e) : eval_one(&e, argv[optind], e.outdir, NULL);
}
