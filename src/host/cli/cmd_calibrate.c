/*
 * cmd_calibrate.c - `padim-gpu calibrate MODEL GOOD...`: thresholds from good images only
 * (padim_calibrate): scores held-out good images, sets the image and pixel thresholds at
 * the upper (1 - fpr) quantile of their scores / map pixels, stores them in the model with
 * their provenance (rewritten atomically, or written to -o), and prints what it found.
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *calibrate_help =
    "usage: padim-gpu calibrate [options] MODEL GOOD_IMAGE|DIR...\n"
    "\n"
    "Thresholds from good images only, for a line that has no labeled defects yet. Scores\n"
    "the good images (held out from fitting; folders are searched recursively) and sets\n"
    "the image threshold so that a fraction fpr of them would be flagged (the smallest\n"
    "value above the (n - floor(fpr n))-th smallest score; prediction: score >= threshold)\n"
    "and the pixel threshold by the same rule over all their map pixels. Stored in the\n"
    "model beside any evaluation thresholds; score, eval and info then use and show them.\n"
    "With fewer than 1/fpr images the threshold is just above the highest good score and\n"
    "the rate of false alarms to expect is about 1/(n+1): a warning says so.\n"
    "\n"
    "  --fpr X                  false-positive rate on good parts (default 0.01)\n"
    "  -o, --out MODEL          write the calibrated model there (default: rewrite MODEL\n"
    "                           atomically)\n"
    "  --batch N                images per backbone batch (default: the model's)\n"
    CLI_RUNTIME_HELP CLI_BASE_HELP
    "\n"
    "example: padim-gpu calibrate bottle.padim held_out_good/ --fpr 0.01\n";

typedef struct calibrate_opts {
    double fpr;
    const char *out;
} calibrate_opts;

#define OPT_FPR CLI_OPT_OWN

static int calibrate_option(void *ctx, int code, const char *arg) {
    calibrate_opts *c = ctx;
    if (code == 'o') c->out = arg;
    else if (code == OPT_FPR) {
        if (cli_parse_double("calibrate", "--fpr", arg, 1e-9, 1.0 - 1e-9, &c->fpr)) return -1;
    } else return -1;
    return 0;
}

int cmd_calibrate(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "calibrate");
    calibrate_opts c = {.fpr = 0.01};
    static const struct option own[] = {{"fpr", required_argument, 0, OPT_FPR}, {"out", required_argument, 0, 'o'},
                                        {0, 0, 0, 0}};
    const cli_parser p = {own, CLI_GROUP_BASE | CLI_GROUP_RUNTIME, calibrate_help, calibrate_option, &c};
    int rc = cli_parse(&o, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    if (argc - optind < 2) return cli_usage_error("calibrate", "expected MODEL and at least one good IMAGE or DIR");
    const char *model = argv[optind];
    padim_model *m = NULL;
    padim_status st = padim_model_load(model, &m);
    if (st != PADIM_OK) return cli_fail("calibrate", st);
    char **paths = NULL;
    int64_t n = 0;
    rc = cli_collect_inputs("calibrate", argv + optind + 1, argc - optind - 1, &paths, &n);
    padim_calibration cal;
    if (!rc) {
        if (!o.quiet) fprintf(stderr, "calibrate: %lld good images at fpr %g\n", (long long)n, c.fpr);
        st = padim_calibrate(m, &o.rt, (const char *const *)paths, n, c.fpr, &cal);
        const char *dst = c.out ? c.out : model;
        if (st == PADIM_OK) st = padim_model_save(m, dst);
        if (st != PADIM_OK) rc = cli_fail("calibrate", st);
        else {
            if (cal.small_sample)
                fprintf(stderr, "padim-gpu calibrate: warning: only %lld good images for fpr %g (fewer than 1/fpr = "
                        "%.0f): the thresholds are just above the highest good score; expect about 1/(n+1) = %.3g "
                        "false alarms on new good parts, and calibrate on more images to reach fpr %g\n",
                        (long long)n, c.fpr, 1.0 / c.fpr, 1.0 / (double)(n + 1), c.fpr);
            printf("image threshold %.9g, pixel threshold %.9g (fpr %g, %lld good images, scores %.6g .. %.6g)\n",
                   cal.image_threshold, cal.pixel_threshold, cal.fpr, (long long)cal.n_images, cal.score_min,
                   cal.score_max);
            if (!o.quiet) fprintf(stderr, "calibrate: wrote %s\n", dst);
        }
    }
    padim_free_paths(paths, n);
    padim_model_free(m);
    return rc;
}
