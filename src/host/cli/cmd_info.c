/*
 * cmd_info.c - `padim-gpu info [--json] MODEL`: a model file's metadata (backbone, preset,
 * sizes, seed, channel indices, batch, thresholds) as text, or as one JSON object (cJSON)
 * with every channel index.
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const char *info_help =
    "usage: padim-gpu info [--json] MODEL\n"
    "\n"
    "Print a model file's metadata (backbone, preset, sizes, seed, channel indices, batch,\n"
    "thresholds and their provenance); --json: the same as one JSON object on stdout (all channel indices).\n";

#define OPT_JSON CLI_OPT_OWN

static int info_option(void *ctx, int code, const char *arg) {
    (void)arg;
    if (code != OPT_JSON) return -1;
    *(int *)ctx = 1;
    return 0;
}

/* The good-only calibration: null, or its thresholds with their provenance. */
static cJSON *calibration_json(const padim_calibration *c) {
    if (!c->calibrated) return cJSON_CreateNull();
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "method", "good_quantile");
    cli_json_number(t, "fpr", c->fpr);
    cJSON_AddNumberToObject(t, "images", (double)c->n_images);
    cJSON_AddBoolToObject(t, "small_sample", c->small_sample);
    cli_json_number(t, "image", c->image_threshold);
    cli_json_number(t, "pixel", c->pixel_threshold);
    cli_json_number(t, "score_min", c->score_min);
    cli_json_number(t, "score_max", c->score_max);
    return t;
}

static cJSON *info_json(const char *path, const padim_model_info *in, const padim_calibration *cal,
                        const char *applied) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", path);
    cJSON_AddNumberToObject(root, "file_bytes", (double)in->file_bytes);
    cli_json_model(root, in);
    const int grid[2] = {in->grid_h, in->grid_w};
    cJSON_AddItemToObject(root, "grid", cJSON_CreateIntArray(grid, 2));
    cJSON_AddNumberToObject(root, "channels_total", in->channels_total);
    cJSON_AddItemToObject(root, "idx", cJSON_CreateIntArray((const int *)in->idx, in->config.d));
    cJSON_AddItemToObject(root, "calibration", calibration_json(cal));
    if (applied) cJSON_AddStringToObject(root, "thresholds_applied", applied);
    else cJSON_AddNullToObject(root, "thresholds_applied");
    if (!in->has_thresholds) {
        cJSON_AddNullToObject(root, "thresholds");
        return root;
    }
    cJSON *t = cJSON_AddObjectToObject(root, "thresholds");
    cli_json_number(t, "image", in->image_threshold);
    cli_json_number(t, "pixel", in->pixel_threshold);
    cli_json_number(t, "score_min", in->score_min);
    cli_json_number(t, "score_max", in->score_max);
    return root;
}

static void info_text(const char *path, const padim_model_info *in, const padim_calibration *cal,
                      const char *applied) {
    const padim_config *c = &in->config;
    printf("model:          %s (%.1f MB)\n", path, (double)in->file_bytes / 1e6);
    printf("backbone:       %s (layers layer1, layer2, layer3; %d channels)\n", padim_backbone_name(c->backbone),
           in->channels_total);
    printf("preset:         %s (resize %d, crop %d, input %dx%d)\n", padim_preset_name(c->preset), c->resize, c->crop,
           in->input_size, in->input_size);
    printf("grid:           %dx%d = %d positions\n", in->grid_h, in->grid_w, in->grid_h * in->grid_w);
    printf("d:              %d (seed %u)\n", c->d, c->seed);
    printf("idx:           ");
    for (int i = 0; i < c->d && i < 12; i++) printf(" %d", in->idx[i]);
    printf("%s\n", c->d > 12 ? " ..." : "");
    printf("eps:            %g\n", c->eps);
    printf("sigma:          %g\n", c->sigma);
    printf("batch:          %d (fitted with; the default of score --batch)\n", c->batch);
    printf("trained on:     %lld images\n", (long long)in->n_train);
    printf("factor:         packed lower-triangular L^-1, %s\n", in->factor_fp16 ? "fp16" : "fp32");
    printf("weights from:   %s\n", c->weights);
    if (in->has_thresholds)
        printf("thresholds:     image %.6g, pixel %.6g (score range %.6g .. %.6g), F1-optimal on an evaluation "
               "test set\n", in->image_threshold, in->pixel_threshold, in->score_min, in->score_max);
    else
        printf("thresholds:     none from evaluation (padim-gpu eval --save-thresholds)\n");
    if (cal->calibrated)
        printf("calibration:    image %.6g, pixel %.6g at fpr %g from %lld good images%s (score range %.6g .. %.6g)\n",
               cal->image_threshold, cal->pixel_threshold, cal->fpr, (long long)cal->n_images,
               cal->small_sample ? " - small sample: fewer than 1/fpr images" : "", cal->score_min, cal->score_max);
    else
        printf("calibration:    none (padim-gpu calibrate MODEL GOOD_DIR)\n");
    printf("score applies:  %s\n", applied ? (!strcmp(applied, "calibration") ? "the calibration" : "the evaluation thresholds")
                                            : "no thresholds (scores only)");
}

int cmd_info(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "info");
    int json = 0;
    static const struct option own[] = {{"json", no_argument, 0, OPT_JSON}, {"help", no_argument, 0, CLI_OPT_HELP},
                                        {0, 0, 0, 0}};
    const cli_parser p = {own, 0, info_help, info_option, &json};
    int rc = cli_parse(&o, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    if (argc - optind != 1) return cli_usage_error("info", "expected [--json] and exactly one MODEL file");
    const char *path = argv[optind];
    padim_model *m = NULL;
    padim_status st = padim_model_load(path, &m);
    if (st != PADIM_OK) return cli_fail("info", st);
    padim_model_info in;
    padim_model_get_info(m, &in);
    padim_calibration cal;
    padim_model_get_calibration(m, &cal);
    double t[4];
    const char *applied = padim_model_thresholds(m, &t[0], &t[1], &t[2], &t[3]);
    rc = 0;
    if (json) rc = cli_json_print(info_json(path, &in, &cal, applied)) ? 1 : 0;
    else info_text(path, &in, &cal, applied);
    padim_model_free(m);
    return rc;
}
