/*
 * cmd_demo.c - `padim-gpu demo`: the built-in default job. Generates a small synthetic,
 * license-clean dataset (a woven-fabric texture; defects are scratches and stains), fits
 * a ResNet-18 model with the committed ImageNet weights, scores the test images, writes
 * heatmaps and prints a summary. Uses only the public API (padim.h).
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEMO_SIDE 192
#define DEMO_TRAIN 32
#define DEMO_TEST_GOOD 6
#define DEMO_TEST_BAD 6

/* splitmix64: every pixel of every image is a function of (seed, image, pixel). */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static double unit(uint64_t *s) { return (double)((*s = mix(*s)) >> 11) * (1.0 / 9007199254740992.0); }

/* Fabric: a weave of two sinusoids with small random phase/scale jitter per image, a
 * slight colour drift and pixel noise. defect: 0 none, 1 dark scratch, 2 coloured stain. */
static void make_image(uint64_t id, int defect, uint8_t *rgb, uint8_t *mask) {
    const int S = DEMO_SIDE;
    uint64_t s = mix(id * 7919u + 17u);
    const double phx = unit(&s) * 6.283, phy = unit(&s) * 6.283;
    const double period = 9.0 + unit(&s) * 0.6, tint = (unit(&s) - 0.5) * 0.06;
    /* defect geometry */
    const double cx = S * (0.25 + 0.5 * unit(&s)), cy = S * (0.25 + 0.5 * unit(&s));
    const double ang = unit(&s) * 3.14159, len = S * (0.15 + 0.15 * unit(&s)), rad = S * (0.05 + 0.04 * unit(&s));
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            const double wx = sin(6.283 * x / period + phx), wy = sin(6.283 * y / period + phy);
            const double weave = (x / (int)period + y / (int)period) % 2 ? wx : wy;
            double v = 0.55 + 0.18 * weave + 0.05 * (unit(&s) - 0.5);
            double r = v * (0.80 + tint), g = v * 0.70, b = v * (0.55 - tint);
            int bad = 0;
            if (defect == 1) { /* scratch: a thin dark line segment */
                const double dx = x - cx, dy = y - cy;
                const double along = dx * cos(ang) + dy * sin(ang), across = -dx * sin(ang) + dy * cos(ang);
                if (fabs(along) < len && fabs(across) < 1.8) {
                    r *= 0.25, g *= 0.25, b *= 0.3;
                    bad = 1;
                }
            } else if (defect == 2) { /* stain: a soft bluish disc */
                const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                if (d2 < rad * rad) {
                    r = 0.5 * r + 0.1, g = 0.5 * g + 0.2, b = 0.5 * b + 0.45;
                    bad = 1;
                }
            }
            uint8_t *p = rgb + ((size_t)y * S + x) * 3;
            p[0] = (uint8_t)lrint(fmin(fmax(r, 0), 1) * 255);
            p[1] = (uint8_t)lrint(fmin(fmax(g, 0), 1) * 255);
            p[2] = (uint8_t)lrint(fmin(fmax(b, 0), 1) * 255);
            if (mask) mask[(size_t)y * S + x] = bad ? 255 : 0;
        }
    }
}

/* Dataset in the MVTec AD layout under root. */
static padim_status write_dataset(const char *root) {
    const int S = DEMO_SIDE;
    uint8_t *rgb = malloc((size_t)S * S * 3), *mask = malloc((size_t)S * S);
    char p[PATH_MAX];
    const char *dirs[] = {"train/good", "test/good", "test/scratch", "test/stain", "ground_truth/scratch",
                          "ground_truth/stain"};
    padim_status st = PADIM_OK;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
        if (cli_mkdir_p(p) != 0) {
            free(rgb);
            free(mask);
            fprintf(stderr, "padim-gpu demo: error: %s: cannot create folder: %s\n", p, strerror(errno));
            return PADIM_ERR_IO;
        }
    }
    for (int i = 0; st == PADIM_OK && i < DEMO_TRAIN; i++) {
        make_image((uint64_t)i, 0, rgb, NULL);
        snprintf(p, sizeof(p), "%s/train/good/%03d.png", root, i);
        st = padim_write_png(p, S, S, 3, rgb);
    }
    for (int i = 0; st == PADIM_OK && i < DEMO_TEST_GOOD + DEMO_TEST_BAD; i++) {
        const int defect = i < DEMO_TEST_GOOD ? 0 : 1 + (i - DEMO_TEST_GOOD) % 2;
        const char *kind = defect == 0 ? "good" : defect == 1 ? "scratch" : "stain";
        const int k = defect == 0 ? i : (i - DEMO_TEST_GOOD) / 2;
        make_image(1000u + (uint64_t)i, defect, rgb, mask);
        snprintf(p, sizeof(p), "%s/test/%s/%03d.png", root, kind, k);
        st = padim_write_png(p, S, S, 3, rgb);
        if (st == PADIM_OK && defect) {
            snprintf(p, sizeof(p), "%s/ground_truth/%s/%03d_mask.png", root, kind, k);
            st = padim_write_png(p, S, S, 1, mask);
        }
    }
    free(rgb);
    free(mask);
    return st;
}

static void demo_progress(void *user, const char *stage, int64_t done, int64_t total) {
    (void)user;
    if (done == total) fprintf(stderr, "  %s: %lld/%lld images\n", stage, (long long)done, (long long)total);
}

static const char *demo_help =
    "usage: padim-gpu demo [-o DIR] [--device cpu|cuda|auto] [--threads N]\n\n"
    "Generate a synthetic fabric dataset (MVTec AD layout) in DIR/data, fit a ResNet-18\n"
    "model (anomalib preset, committed ImageNet weights) on its 32 good images, score\n"
    "its 12 test images, write DIR/model.padim, DIR/scores.csv and DIR/heatmaps/*.png\n"
    "and print a summary. DIR defaults to ./padim-demo.\n";

static int demo_option(void *ctx, int code, const char *arg) {
    if (code != 'o') return -1;
    *(const char **)ctx = arg;
    return 0;
}

/* Fit on the dataset's good images with the built-in config; saves DIR/model.padim. */
static int demo_fit(const cli_opts *o, const padim_runtime *rt, const char *root, const char *out, padim_model **m,
                    int64_t *n_train) {
    /* Built-in config: configs/resnet18_anomalib.yaml next to the sources or installed. */
    padim_config cfg;
    padim_status st = cli_build_config(o, &cfg);
    if (st != PADIM_OK) {
        fprintf(stderr, "padim-gpu demo: error: %s\n(set PADIM_HOME to the folder holding configs/ and weights/)\n",
                padim_last_error());
        return 1;
    }
    char **train = NULL, p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/train/good", root);
    st = padim_list_images(p, 0, &train, n_train);
    if (st != PADIM_OK) return cli_fail("demo", st);
    fprintf(stderr, "demo: fit %s (%s preset, input %d, d %d) on %lld good images\n", padim_backbone_name(cfg.backbone),
            padim_preset_name(cfg.preset), padim_config_input_size(&cfg), cfg.d, (long long)*n_train);
    st = padim_fit_files(&cfg, rt, (const char *const *)train, *n_train, m);
    padim_free_paths(train, *n_train);
    snprintf(p, sizeof(p), "%s/model.padim", out);
    if (st == PADIM_OK) st = padim_model_save(*m, p);
    return st == PADIM_OK ? 0 : cli_fail("demo", st);
}

/* Scoring and metrics: the test set is in the MVTec layout, so padim_evaluate does it all
 * (scores, maps, masks, metrics, heatmaps with the predicted-mask contour). */
static int demo_evaluate(const padim_model *m, const padim_runtime *rt, const char *root, const char *out,
                         padim_eval_result *r) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/heatmaps", out);
    if (cli_mkdir_p(p) != 0) {
        fprintf(stderr, "padim-gpu demo: error: %s: cannot create folder\n", p);
        return 1;
    }
    padim_runtime quiet_rt = *rt;
    quiet_rt.progress = NULL;
    padim_eval_options opt = {.heatmap_dir = p, .fpr_limit = 0.3};
    padim_status st = padim_evaluate(m, &quiet_rt, root, &opt, r);
    return st == PADIM_OK ? 0 : cli_fail("demo", st);
}

/* DIR/scores.csv and the summary on stdout. */
static int demo_report(const padim_eval_result *r, const char *root, const char *out, int64_t n_train, double fit_s,
                       double score_s) {
    cli_buf csv = {0};
    cli_printf(&csv, "path,label,score\n");
    double good_max = 0, bad_min = INFINITY;
    for (int64_t i = 0; i < r->n_images; i++) {
        cli_printf(&csv, "%s,%d,%.6f\n", r->paths[i] + strlen(root) + 1, r->labels[i], (double)r->scores[i]);
        if (r->labels[i]) bad_min = fmin(bad_min, r->scores[i]);
        else good_max = fmax(good_max, r->scores[i]);
    }
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/scores.csv", out);
    const int rc = cli_write_text(p, csv.s) ? 1 : 0;
    free(csv.s);
    if (rc) return rc;
    printf("\npadim-gpu demo (%s)\n", r->backend);
    printf("  %-28s %s\n", "image", "score");
    for (int64_t i = 0; i < r->n_images; i++)
        printf("  %-28s %8.3f%s\n", r->paths[i] + strlen(root) + 1, (double)r->scores[i],
               r->labels[i] ? "  (defect)" : "");
    printf("  fit (data + %lld images): %.2f s, score + metrics %lld images: %.2f s\n", (long long)n_train, fit_s,
           (long long)r->n_images, score_s);
    printf("  image AUROC %.3f; highest good score %.3f, lowest defect score %.3f\n", r->image_auroc, good_max, bad_min);
    printf("  pixel AUROC %.3f, AUPRO@0.3 %.3f; heatmap contours at the F1-optimal pixel threshold\n", r->pixel_auroc,
           r->aupro);
    printf("  wrote %s/model.padim, %s/scores.csv, %s/heatmaps/*.png\n", out, out, out);
    return 0;
}

int cmd_demo(int argc, char **argv) {
    const char *out = "padim-demo";
    cli_opts o;
    cli_opts_init(&o, "demo");
    static const struct option own[] = {{"out-dir", required_argument, 0, 'o'},
                                        {"device", required_argument, 0, CLI_OPT_DEVICE},
                                        {"threads", required_argument, 0, CLI_OPT_THREADS},
                                        {"help", no_argument, 0, CLI_OPT_HELP},
                                        {0, 0, 0, 0}};
    const cli_parser parser = {own, 0, demo_help, demo_option, &out};
    int rc = cli_parse(&o, argc, argv, &parser);
    if (rc != CLI_CONTINUE) return rc;
    if (optind < argc) return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    padim_runtime rt = o.rt;
    rt.batch = 16;
    rt.progress = demo_progress;
    rt.verbose = 1;
    const double t0 = cli_now();
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s/data", out);
    fprintf(stderr, "demo: writing a synthetic dataset to %s\n", root);
    padim_status st = write_dataset(root);
    if (st != PADIM_OK) return cli_fail("demo", st);
    padim_model *m = NULL;
    int64_t n_train = 0;
    rc = demo_fit(&o, &rt, root, out, &m, &n_train);
    const double t1 = cli_now();
    padim_eval_result r = {0};
    if (!rc) rc = demo_evaluate(m, &rt, root, out, &r);
    padim_model_free(m);
    if (!rc) rc = demo_report(&r, root, out, n_train, t1 - t0, cli_now() - t1);
    padim_eval_result_free(&r);
    return rc;
}
