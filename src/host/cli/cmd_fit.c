/*
 * cmd_fit.c - `padim-gpu fit`: fit a model on good images (folders, searched recursively,
 * or files) with the shared config and runtime options, and save it atomically.
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <stdio.h>
#include <sys/stat.h>

static const char *fit_help =
    "usage: padim-gpu fit [options] TRAIN_DIR|IMAGE... -o MODEL\n"
    "\n"
    "Fit a PaDiM model on good images (a folder, searched recursively, or files).\n"
    "Memory does not grow with the number of images (streaming statistics).\n"
    "\n"
    "  -o, --output MODEL       model file to write (default model.padim)\n"
    "  --config FILE            YAML config (default configs/<backbone>_<preset>.yaml)\n"
    "  --backbone NAME          resnet18 (default) | wide_resnet50_2\n"
    "  --preset NAME            anomalib (default) | paper\n"
    "  --weights FILE           backbone weights (.safetensors)\n"
    "  --d N                    kept embedding channels (100 / 550)\n"
    "  --seed N                 seed of the channel choice (42 anomalib, 1024 paper)\n"
    "  --eps X                  covariance regularization (0.01)\n"
    "  --resize N, --crop N     preprocessing sizes (see README)\n"
    "  --batch N                images per backbone batch (default: the config's batch, 32\n"
    "                           resnet18, 8 wide_resnet50_2); stored as score's default\n"
    "  --factor-dtype f32|f16   precision factor storage (f16: half the model size)\n" CLI_RUNTIME_HELP CLI_BASE_HELP
    "\n"
    "example: padim-gpu fit ../shared/data/mvtec_ad/bottle/train/good -o bottle.padim\n";

static int fit_option(void *ctx, int code, const char *arg) {
    if (code != 'o') return -1;
    *(const char **)ctx = arg;
    return 0;
}

int cmd_fit(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "fit");
    const char *output = "model.padim";
    static const struct option own[] = {{"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    const cli_parser p = {own, CLI_GROUP_BASE | CLI_GROUP_RUNTIME | CLI_GROUP_CONFIG, fit_help, fit_option, &output};
    int rc = cli_parse(&o, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    if (optind >= argc) return cli_usage_error("fit", "missing TRAIN_DIR (a folder of good images)");
    padim_config cfg;
    padim_status st = cli_build_config(&o, &cfg);
    if (st != PADIM_OK) return cli_fail("fit", st);
    char **paths;
    int64_t n;
    if (cli_collect_inputs("fit", argv + optind, argc - optind, &paths, &n)) return 1;
    padim_model *m = NULL;
    double secs = 0;
    rc = cli_fit_model(&o, &cfg, NULL, paths, n, &m, &secs);
    padim_free_paths(paths, n);
    if (rc) return rc;
    st = padim_model_save(m, output);
    padim_model_free(m);
    if (st != PADIM_OK) return cli_fail("fit", st);
    struct stat sb;
    const long long bytes = stat(output, &sb) == 0 ? (long long)sb.st_size : -1;
    printf("fitted %lld images in %.2f s (%.1f images/s); model written to %s (%.1f MB)\n", (long long)n, secs,
           (double)n / secs, output, (double)bytes / 1e6);
    return 0;
}
