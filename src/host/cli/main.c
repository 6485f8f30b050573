/*
 * cli.c - the `padim-gpu` command line: a thin client of padim.h. This file has the
 * dispatcher and fit, score, info; eval, bench and demo are in cli_eval.c, cli_bench.c
 * and cli_demo.c, shared helpers in cli_util.c. Everything goes through the public API;
 * user errors print one clear message on stderr and exit 1 (2 for usage errors).
 */
#include "cli_util.h"
#include "padim.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int quiet = 0;

static int fail_status(padim_status st) {
    fprintf(stderr, "padim-gpu: error: %s\n", padim_last_error());
    return st == PADIM_ERR_ARG ? 2 : 1;
}

static int usage_error(const char *cmd, const char *msg) {
    fprintf(stderr, "padim-gpu %s: %s\nTry 'padim-gpu %s --help'.\n", cmd, msg, cmd);
    return 2;
}

/* ---------------------------------------------------------------- shared options */

typedef struct common_opts {
    padim_runtime rt;
    const char *config;
    const char *backbone, *preset, *weights;
    int d, batch, resize, crop, factor_fp16;
    long seed;
    double eps;
} common_opts;

enum {
    OPT_DEVICE = 1000,
    OPT_GPU,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_CONFIG,
    OPT_BACKBONE,
    OPT_PRESET,
    OPT_WEIGHTS,
    OPT_D,
    OPT_SEED,
    OPT_EPS,
    OPT_BATCH,
    OPT_RESIZE,
    OPT_CROP,
    OPT_FACTOR,
    OPT_MAPS,
    OPT_HEATMAPS,
    OPT_CSV,
    OPT_MASKS,
    OPT_QUIET,
};

#define RUNTIME_LONGOPTS                                                                     \
    {"device", required_argument, 0, OPT_DEVICE}, {"gpu", required_argument, 0, OPT_GPU},    \
        {"threads", required_argument, 0, OPT_THREADS},                                      \
        {"precision", required_argument, 0, OPT_PRECISION}, {"quiet", no_argument, 0, 'q'},   \
        {"help", no_argument, 0, 'h'}

#define RUNTIME_HELP                                                                          \
    "  --device cpu|cuda|auto   backend (default auto: CUDA when built and a GPU works)\n"     \
    "  --gpu N                  CUDA device ordinal (default 0)\n"                             \
    "  --threads N              CPU threads (default: all cores)\n"                            \
    "  --precision fp32|tf32|fp16|bf16  backbone precision on CUDA (default fp32, exact)\n"    \
    "  -q, --quiet              no progress on stderr\n"                                       \
    "  -h, --help               this help\n"

static long parse_long(const char *cmd, const char *opt, const char *v, long lo, long hi, int *bad) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "padim-gpu %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, v);
        *bad = 1;
    }
    return x;
}

/* Handle a runtime option; returns 1 when handled, -1 on a bad value, 0 when not ours. */
static int runtime_option(const char *cmd, int c, const char *arg, common_opts *o) {
    int bad = 0;
    switch (c) {
    case OPT_DEVICE: return cli_parse_device(cmd, arg, &o->rt.device) ? -1 : 1;
    case OPT_GPU: o->rt.gpu = (int)parse_long(cmd, "--gpu", arg, 0, 64, &bad); return bad ? -1 : 1;
    case OPT_THREADS: o->rt.threads = (int)parse_long(cmd, "--threads", arg, 1, 1024, &bad); return bad ? -1 : 1;
    case OPT_PRECISION: return cli_parse_precision(cmd, arg, &o->rt.precision) ? -1 : 1;
    case 'q': quiet = 1; return 1;
    }
    return 0;
}

static void common_init(common_opts *o) {
    memset(o, 0, sizeof(*o));
    padim_runtime_default(&o->rt);
    o->rt.progress = cli_progress;
    o->rt.progress_user = &quiet;
    o->seed = -1;
    o->eps = -1;
    o->factor_fp16 = -1;
    o->crop = -1;
}

/* Build the config: defaults of backbone/preset, then the config file (explicit or the
 * built-in configs/<backbone>_<preset>.yaml), then command-line overrides. */
static padim_status build_config(const common_opts *o, padim_config *cfg) {
    padim_backbone_kind bk = PADIM_BACKBONE_RESNET18;
    padim_preset pr = PADIM_PRESET_ANOMALIB;
    if (o->backbone && padim_backbone_parse(o->backbone, &bk) != PADIM_OK) return PADIM_ERR_ARG;
    if (o->preset && padim_preset_parse(o->preset, &pr) != PADIM_OK) return PADIM_ERR_ARG;
    padim_config_default(cfg, bk, pr);
    char path[PATH_MAX + 128];
    if (o->config) snprintf(path, sizeof(path), "%s", o->config);
    else snprintf(path, sizeof(path), "%s/configs/%s_%s.yaml", cli_data_dir(), padim_backbone_name(bk), padim_preset_name(pr));
    padim_status st = padim_config_load(path, cfg);
    if (st != PADIM_OK) return st;
    /* An explicit --backbone/--preset wins over the file's. */
    if (o->backbone && cfg->backbone != bk) padim_config_default(cfg, bk, cfg->preset);
    if (o->preset) cfg->preset = pr;
    if (o->weights) snprintf(cfg->weights, sizeof(cfg->weights), "%s", o->weights);
    if (o->d > 0) cfg->d = o->d;
    if (o->seed >= 0) cfg->seed = (uint32_t)o->seed;
    if (o->eps >= 0) cfg->eps = o->eps;
    if (o->batch > 0) cfg->batch = o->batch;
    if (o->resize > 0) cfg->resize = o->resize;
    if (o->crop >= 0) cfg->crop = o->crop;
    if (o->factor_fp16 >= 0) cfg->factor_fp16 = o->factor_fp16;
    return padim_config_validate(cfg);
}

/* ---------------------------------------------------------------- fit */

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
    "  --batch N                images per batch\n"
    "  --factor-dtype f32|f16   precision factor storage (f16: half the model size)\n" RUNTIME_HELP
    "\n"
    "example: padim-gpu fit ../shared/data/mvtec_ad/bottle/train/good -o bottle.padim\n";

static int parse_config_option(const char *cmd, int c, const char *arg, common_opts *o) {
    int bad = 0;
    switch (c) {
    case OPT_CONFIG: o->config = arg; return 1;
    case OPT_BACKBONE: o->backbone = arg; return 1;
    case OPT_PRESET: o->preset = arg; return 1;
    case OPT_WEIGHTS: o->weights = arg; return 1;
    case OPT_D: o->d = (int)parse_long(cmd, "--d", arg, 1, 4096, &bad); return bad ? -1 : 1;
    case OPT_SEED: o->seed = parse_long(cmd, "--seed", arg, 0, 4294967295L, &bad); return bad ? -1 : 1;
    case OPT_BATCH: o->batch = (int)parse_long(cmd, "--batch", arg, 1, 4096, &bad); return bad ? -1 : 1;
    case OPT_RESIZE: o->resize = (int)parse_long(cmd, "--resize", arg, 16, 4096, &bad); return bad ? -1 : 1;
    case OPT_CROP: o->crop = (int)parse_long(cmd, "--crop", arg, 0, 4096, &bad); return bad ? -1 : 1;
    case OPT_EPS: {
        char *end;
        o->eps = strtod(arg, &end);
        if (end == arg || *end || !(o->eps >= 0)) {
            fprintf(stderr, "padim-gpu %s: --eps expects a non-negative number, got '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    }
    case OPT_FACTOR:
        if (!strcmp(arg, "f32")) o->factor_fp16 = 0;
        else if (!strcmp(arg, "f16")) o->factor_fp16 = 1;
        else {
            fprintf(stderr, "padim-gpu %s: --factor-dtype expects f32 or f16, got '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    }
    return 0;
}

#define CONFIG_LONGOPTS                                                                          \
    {"config", required_argument, 0, OPT_CONFIG}, {"backbone", required_argument, 0, OPT_BACKBONE}, \
        {"preset", required_argument, 0, OPT_PRESET}, {"weights", required_argument, 0, OPT_WEIGHTS}, \
        {"d", required_argument, 0, OPT_D}, {"seed", required_argument, 0, OPT_SEED},                \
        {"eps", required_argument, 0, OPT_EPS}, {"batch", required_argument, 0, OPT_BATCH},          \
        {"resize", required_argument, 0, OPT_RESIZE}, {"crop", required_argument, 0, OPT_CROP},      \
        {"factor-dtype", required_argument, 0, OPT_FACTOR}

/* Expand folders (recursively) and files into one list. */
static padim_status collect_inputs(char **args, int nargs, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    int64_t cap = 0;
    for (int a = 0; a < nargs; a++) {
        char **sub = NULL;
        int64_t ns = 0;
        if (cli_is_dir(args[a])) {
            padim_status st = padim_list_images(args[a], 1, &sub, &ns);
            if (st != PADIM_OK) {
                fprintf(stderr, "padim-gpu: error: %s\n", padim_last_error());
                padim_free_paths(*paths, *n);
                *paths = NULL;
                *n = 0;
                return st;
            }
        } else {
            struct stat sb;
            if (stat(args[a], &sb) != 0) {
                padim_free_paths(*paths, *n);
                *paths = NULL;
                *n = 0;
                fprintf(stderr, "padim-gpu: error: %s: %s\n", args[a], strerror(errno));
                return PADIM_ERR_IO;
            }
            sub = malloc(sizeof(char *));
            sub[0] = strdup(args[a]);
            ns = 1;
        }
        if (*n + ns > cap) {
            cap = (*n + ns) * 2;
            *paths = realloc(*paths, (size_t)cap * sizeof(char *));
        }
        for (int64_t i = 0; i < ns; i++) (*paths)[(*n)++] = sub[i];
        free(sub);
    }
    return PADIM_OK;
}

static int cmd_fit(int argc, char **argv) {
    common_opts o;
    common_init(&o);
    const char *output = "model.padim";
    static struct option longopts[] = {{"output", required_argument, 0, 'o'}, CONFIG_LONGOPTS,
                                       RUNTIME_LONGOPTS, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(fit_help, stdout);
            return 0;
        }
        if (c == 'o') {
            output = optarg;
            continue;
        }
        int r = runtime_option("fit", c, optarg, &o);
        if (r == 0) r = parse_config_option("fit", c, optarg, &o);
        if (r < 0) return 2;
        if (r == 0) return usage_error("fit", "unknown option");
    }
    if (optind >= argc) return usage_error("fit", "missing TRAIN_DIR (a folder of good images)");
    padim_config cfg;
    padim_status st = build_config(&o, &cfg);
    if (st != PADIM_OK) return fail_status(st);
    char **paths;
    int64_t n;
    if (collect_inputs(argv + optind, argc - optind, &paths, &n) != PADIM_OK) return 1;
    if (!quiet)
        fprintf(stderr, "fit: %lld images, %s, preset %s, input %d, d %d, seed %u\n", (long long)n,
                padim_backbone_name(cfg.backbone), padim_preset_name(cfg.preset), padim_config_input_size(&cfg),
                cfg.d, cfg.seed);
    o.rt.verbose = !quiet;
    padim_model *m = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = padim_fit_files(&cfg, &o.rt, (const char *const *)paths, n, &m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    padim_free_paths(paths, n);
    if (st != PADIM_OK) return fail_status(st);
    st = padim_model_save(m, output);
    if (st != PADIM_OK) {
        padim_model_free(m);
        return fail_status(st);
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    struct stat sb;
    long long bytes = stat(output, &sb) == 0 ? (long long)sb.st_size : -1;
    printf("fitted %lld images in %.2f s (%.1f images/s); model written to %s (%.1f MB)\n", (long long)n, secs,
           (double)n / secs, output, (double)bytes / 1e6);
    padim_model_free(m);
    return 0;
}

/* For `eval`: parse config + runtime options in argv (no positionals), fill *rt; when out
 * is not NULL, fit on the images of train_dir. Returns 0 or the exit code. */
int cli_fit_model(int argc, char **argv, const char *cmd, const char *train_dir, padim_model **out,
                  padim_runtime *rt, int *quiet_out, double *fit_seconds) {
    common_opts o;
    common_init(&o);
    static struct option longopts[] = {CONFIG_LONGOPTS, RUNTIME_LONGOPTS, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        int r = runtime_option(cmd, c, optarg, &o);
        if (r == 0) r = parse_config_option(cmd, c, optarg, &o);
        if (r < 0) return 2;
        if (r == 0) return usage_error(cmd, "unknown option");
    }
    if (optind < argc) return usage_error(cmd, "unexpected argument");
    o.rt.verbose = !quiet;
    *rt = o.rt;
    *quiet_out = quiet;
    if (!out) return 0;
    padim_config cfg;
    padim_status st = build_config(&o, &cfg);
    if (st != PADIM_OK) return fail_status(st);
    char **paths;
    int64_t n;
    st = padim_list_images(train_dir, 1, &paths, &n);
    if (st != PADIM_OK) return fail_status(st);
    if (!quiet)
        fprintf(stderr, "%s: fit on %lld images of %s (%s, preset %s, input %d, d %d, seed %u)\n", cmd, (long long)n,
                train_dir, padim_backbone_name(cfg.backbone), padim_preset_name(cfg.preset),
                padim_config_input_size(&cfg), cfg.d, cfg.seed);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = padim_fit_files(&cfg, &o.rt, (const char *const *)paths, n, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    padim_free_paths(paths, n);
    if (st != PADIM_OK) return fail_status(st);
    if (fit_seconds) *fit_seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return 0;
}

/* ---------------------------------------------------------------- score */

static const char *score_help =
    "usage: padim-gpu score [options] MODEL IMAGE|DIR...\n"
    "\n"
    "Score images (folders are searched recursively). Prints one CSV line per image\n"
    "(path,score[,label,normalized]) on stdout, or writes files with -o.\n"
    "label and normalized appear when the model holds evaluation thresholds\n"
    "(padim-gpu eval --save-thresholds).\n"
    "\n"
    "  -o, --out-dir DIR        write DIR/scores.csv and DIR/scores.json\n"
    "  --maps                   also DIR/maps/<name>.tiff: float32 anomaly maps (S x S)\n"
    "  --heatmaps               also DIR/heatmaps/<name>.png: map over the image\n"
    "  --masks                  also DIR/masks/<name>.png: predicted defect mask (map >= the\n"
    "                           model's pixel threshold; needs eval --save-thresholds)\n"
    "  --batch N                images per batch (default: the model's)\n" RUNTIME_HELP
    "\n"
    "Output names: the input path relative to the folder given, '/' -> '_', no extension.\n"
    "example: padim-gpu score bottle.padim ../shared/data/mvtec_ad/bottle/test -o out --heatmaps\n";

/* Output name of an input: relative to its root argument, '/' -> '_', extension dropped. */
static void output_name(const char *path, char *out, size_t cap) {
    const char *base = path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    char *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
}

/* Output names must not collide (a/x.png and b/x.png given as files are both "x"): the
 * second and later of equal names get "_2", "_3", ... in input order. */
static char **sort_names;
static int cmp_name_index(const void *a, const void *b) {
    const int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const int c = strcmp(sort_names[i], sort_names[j]);
    return c ? c : (i > j) - (i < j);
}

static void disambiguate_names(char **names, int64_t n) {
    int64_t *order = malloc((size_t)n * sizeof(int64_t));
    if (!order) return;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    sort_names = names;
    qsort(order, (size_t)n, sizeof(int64_t), cmp_name_index);
    char **renamed = calloc((size_t)n, sizeof(char *));
    for (int64_t a = 0; a < n && renamed;) {
        int64_t b = a + 1;
        while (b < n && !strcmp(names[order[a]], names[order[b]])) b++;
        for (int64_t k = a + 1; k < b; k++) {
            const size_t len = strlen(names[order[k]]) + 24;
            renamed[order[k]] = malloc(len);
            if (renamed[order[k]]) snprintf(renamed[order[k]], len, "%s_%lld", names[order[k]], (long long)(k - a + 1));
        }
        a = b;
    }
    for (int64_t i = 0; renamed && i < n; i++)
        if (renamed[i]) {
            free(names[i]);
            names[i] = renamed[i];
        }
    free(renamed);
    free(order);
}

static int cmd_score(int argc, char **argv) {
    common_opts o;
    common_init(&o);
    const char *outdir = NULL;
    int want_maps = 0, want_heat = 0, want_masks = 0;
    static struct option longopts[] = {{"out-dir", required_argument, 0, 'o'},
                                       {"maps", no_argument, 0, OPT_MAPS},
                                       {"heatmaps", no_argument, 0, OPT_HEATMAPS},
                                       {"masks", no_argument, 0, OPT_MASKS},
                                       {"batch", required_argument, 0, OPT_BATCH},
                                       RUNTIME_LONGOPTS,
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(score_help, stdout);
            return 0;
        }
        if (c == 'o') outdir = optarg;
        else if (c == OPT_MAPS) want_maps = 1;
        else if (c == OPT_HEATMAPS) want_heat = 1;
        else if (c == OPT_MASKS) want_masks = 1;
        else {
            int r = runtime_option("score", c, optarg, &o);
            if (r == 0) r = parse_config_option("score", c, optarg, &o);
            if (r < 0) return 2;
            if (r == 0) return usage_error("score", "unknown option");
        }
    }
    if (argc - optind < 2) return usage_error("score", "expected MODEL and at least one IMAGE or DIR");
    if ((want_maps || want_heat || want_masks) && !outdir)
        return usage_error("score", "--maps, --heatmaps and --masks need -o DIR");
    padim_model *m = NULL;
    padim_status st = padim_model_load(argv[optind], &m);
    if (st != PADIM_OK) return fail_status(st);
    padim_model_info info;
    padim_model_get_info(m, &info);
    if (want_masks && !info.has_thresholds) {
        fprintf(stderr, "padim-gpu score: error: %s has no pixel threshold for --masks; run 'padim-gpu eval -m %s "
                        "--save-thresholds DATA' first\n", argv[optind], argv[optind]);
        padim_model_free(m);
        return 2;
    }

    /* Inputs, with their display names relative to the argument they came from. */
    char **paths = NULL, **names = NULL;
    int64_t n = 0;
    for (int a = optind + 1; a < argc; a++) {
        char **sub;
        int64_t ns;
        if (collect_inputs(argv + a, 1, &sub, &ns) != PADIM_OK) {
            padim_free_paths(paths, n);
            padim_free_paths(names, n);
            padim_model_free(m);
            return 1;
        }
        paths = realloc(paths, (size_t)(n + ns) * sizeof(char *));
        names = realloc(names, (size_t)(n + ns) * sizeof(char *));
        size_t rootlen = cli_is_dir(argv[a]) ? strlen(argv[a]) : 0;
        for (int64_t i = 0; i < ns; i++) {
            const char *rel = sub[i] + rootlen;
            while (*rel == '/') rel++;
            if (!rootlen) {
                const char *sl = strrchr(sub[i], '/');
                rel = sl ? sl + 1 : sub[i];
            }
            char nm[PATH_MAX];
            output_name(rel, nm, sizeof(nm));
            for (char *p = nm; *p; p++)
                if (*p == '/') *p = '_';
            paths[n + i] = sub[i];
            names[n + i] = strdup(nm);
        }
        free(sub);
        n += ns;
    }
    disambiguate_names(names, n);
    if (outdir) {
        char d[PATH_MAX + 16];
        int bad = cli_mkdir_p(outdir) != 0;
        if (want_maps) snprintf(d, sizeof(d), "%s/maps", outdir), bad |= cli_mkdir_p(d) != 0;
        if (want_heat) snprintf(d, sizeof(d), "%s/heatmaps", outdir), bad |= cli_mkdir_p(d) != 0;
        if (want_masks) snprintf(d, sizeof(d), "%s/masks", outdir), bad |= cli_mkdir_p(d) != 0;
        if (bad) {
            fprintf(stderr, "padim-gpu: error: %s: cannot create output folder: %s\n", outdir, strerror(errno));
            padim_free_paths(paths, n);
            padim_free_paths(names, n);
            padim_model_free(m);
            return 1;
        }
    }
    o.rt.verbose = !quiet;
    o.rt.batch = o.batch; /* --batch sizes the backend (0: the model's batch) */
    o.rt.progress = NULL; /* the loop below reports progress over all inputs */
    padim_scorer *sc = NULL;
    st = padim_scorer_create(m, &o.rt, &sc);
    if (st != PADIM_OK) {
        padim_free_paths(paths, n);
        padim_free_paths(names, n);
        padim_model_free(m);
        return fail_status(st);
    }
    if (!quiet)
        fprintf(stderr, "score: %lld images on %s, batch %d\n", (long long)n, padim_scorer_backend(sc),
                padim_scorer_batch(sc));
    const int S = info.input_size;
    const int B = padim_scorer_batch(sc);
    float *scores = malloc((size_t)n * sizeof(float));
    float *maps = (want_maps || want_heat || want_masks) ? malloc((size_t)B * S * S * sizeof(float)) : NULL;
    uint8_t *pred = want_masks ? malloc((size_t)S * S) : NULL;
    float *rgb = want_heat ? malloc((size_t)3 * S * S * sizeof(float)) : NULL;
    uint8_t *heat = want_heat ? malloc((size_t)3 * S * S) : NULL;
    padim_image *imgs = calloc((size_t)B, sizeof(padim_image));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t i = 0; st == PADIM_OK && i < n; i += B) {
        int nb = (int)(n - i < B ? n - i : B);
        st = padim_images_load((const char *const *)paths + i, nb, o.rt.threads, imgs);
        if (st == PADIM_OK) st = padim_score_images(sc, imgs, nb, scores + i, maps);
        if (st == PADIM_OK) cli_progress(&quiet, "score", i + nb, n);
        for (int k = 0; st == PADIM_OK && k < nb && maps; k++) {
            char p[PATH_MAX * 2];
            const float *mp = maps + (size_t)k * S * S;
            if (want_maps) {
                snprintf(p, sizeof(p), "%s/maps/%s.tiff", outdir, names[i + k]);
                st = padim_write_tiff_f32(p, S, S, mp);
            }
            if (st == PADIM_OK && want_heat) {
                st = padim_model_input_rgb(m, &imgs[k], rgb);
                /* Colour range: 0 .. the image threshold x 2 when known, else the map's max. */
                float vmax = 0;
                for (size_t q = 0; q < (size_t)S * S; q++) vmax = mp[q] > vmax ? mp[q] : vmax;
                if (info.has_thresholds) vmax = (float)(2.0 * info.image_threshold);
                padim_render_heatmap(rgb, mp, S, 0.0f, vmax > 0 ? vmax : 1.0f, 0.5f, NAN, heat);
                snprintf(p, sizeof(p), "%s/heatmaps/%s.png", outdir, names[i + k]);
                if (st == PADIM_OK) st = padim_write_png(p, S, S, 3, heat);
            }
            if (st == PADIM_OK && want_masks) {
                for (size_t q = 0; q < (size_t)S * S; q++) pred[q] = mp[q] >= info.pixel_threshold ? 255 : 0;
                snprintf(p, sizeof(p), "%s/masks/%s.png", outdir, names[i + k]);
                st = padim_write_png(p, S, S, 1, pred);
            }
        }
        for (int k = 0; k < nb; k++) padim_image_free(&imgs[k]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int rc = 0;
    if (st != PADIM_OK) {
        rc = fail_status(st);
    } else {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        cli_buf csv = {0}, js = {0};
        cli_printf(&csv, "path,score%s\n", info.has_thresholds ? ",label,normalized" : "");
        cli_printf(&js, "{\n  \"model\": ");
        cli_json_str(&js, argv[optind]);
        cli_printf(&js, ",\n  \"backend\": ");
        cli_json_str(&js, padim_scorer_backend(sc));
        cli_printf(&js, ",\n  \"input_size\": %d,\n  \"seconds\": %.6f,\n  \"images\": [\n", S, secs);
        for (int64_t i = 0; i < n; i++) {
            cli_printf(&csv, "%s,%.9g", paths[i], (double)scores[i]);
            cli_printf(&js, "    {\"path\": ");
            cli_json_str(&js, paths[i]);
            cli_printf(&js, ", \"name\": ");
            cli_json_str(&js, names[i]);
            cli_printf(&js, ", \"score\": %.9g", (double)scores[i]);
            if (info.has_thresholds) {
                int label = scores[i] >= info.image_threshold;
                const double norm = padim_normalize_score(scores[i], info.image_threshold, info.score_min,
                                                          info.score_max);
                cli_printf(&csv, ",%d,%.6f", label, norm);
                cli_printf(&js, ", \"label\": %d, \"normalized\": %.6f", label, norm);
            }
            cli_printf(&csv, "\n");
            cli_printf(&js, "}%s\n", i + 1 < n ? "," : "");
        }
        cli_printf(&js, "  ]\n}\n");
        if (outdir) {
            char p[PATH_MAX + 16];
            snprintf(p, sizeof(p), "%s/scores.csv", outdir);
            if (cli_write_text(p, csv.s)) rc = 1;
            snprintf(p, sizeof(p), "%s/scores.json", outdir);
            if (!rc && cli_write_text(p, js.s)) rc = 1;
            if (!rc && !quiet)
                fprintf(stderr, "scored %lld images in %.2f s (%.1f images/s); wrote %s/scores.csv, scores.json%s%s\n",
                        (long long)n, secs, (double)n / secs, outdir, want_maps ? ", maps/" : "",
                        want_heat ? ", heatmaps/" : want_masks ? ", masks/" : "");
        } else {
            fputs(csv.s, stdout);
            if (!quiet) fprintf(stderr, "scored %lld images in %.2f s (%.1f images/s)\n", (long long)n, secs, (double)n / secs);
        }
        free(csv.s);
        free(js.s);
    }
    free(imgs);
    free(scores);
    free(maps);
    free(rgb);
    free(heat);
    free(pred);
    padim_scorer_free(sc);
    padim_free_paths(paths, n);
    padim_free_paths(names, n);
    padim_model_free(m);
    return rc;
}

/* ---------------------------------------------------------------- info */

static int cmd_info(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        puts("usage: padim-gpu info [--json] MODEL\n\nPrint a model file's metadata (backbone, preset, sizes, seed, "
             "channel indices, thresholds);\n--json: the same as one JSON object on stdout (all channel indices).");
        return 0;
    }
    int json = argc == 3 && !strcmp(argv[1], "--json");
    if (argc != 2 + json) return usage_error("info", "expected [--json] and exactly one MODEL file");
    const char *path = argv[1 + json];
    padim_model *m = NULL;
    padim_status st = padim_model_load(path, &m);
    if (st != PADIM_OK) return fail_status(st);
    padim_model_info in;
    padim_model_get_info(m, &in);
    const padim_config *c = &in.config;
    if (json) {
        cli_buf b = {0};
        cli_printf(&b, "{\"model\": ");
        cli_json_str(&b, path);
        cli_printf(&b, ", \"file_bytes\": %lld, \"backbone\": \"%s\", \"preset\": \"%s\", \"resize\": %d, \"crop\": %d, "
                       "\"input_size\": %d, \"grid\": [%d, %d], \"channels_total\": %d, \"d\": %d, \"seed\": %u, "
                       "\"eps\": %.17g, \"sigma\": %.17g, \"n_train\": %lld, \"factor_dtype\": \"%s\", \"weights\": ",
                   (long long)in.file_bytes, padim_backbone_name(c->backbone), padim_preset_name(c->preset), c->resize,
                   c->crop, in.input_size, in.grid_h, in.grid_w, in.channels_total, c->d, c->seed, c->eps, c->sigma,
                   (long long)in.n_train, in.factor_fp16 ? "F16" : "F32");
        cli_json_str(&b, c->weights);
        cli_printf(&b, ", \"idx\": [");
        for (int i = 0; i < c->d; i++) cli_printf(&b, "%s%d", i ? ", " : "", in.idx[i]);
        cli_printf(&b, "], \"thresholds\": ");
        if (in.has_thresholds)
            cli_printf(&b, "{\"image\": %.17g, \"pixel\": %.17g, \"score_min\": %.17g, \"score_max\": %.17g}}\n",
                       in.image_threshold, in.pixel_threshold, in.score_min, in.score_max);
        else
            cli_printf(&b, "null}\n");
        fputs(b.s, stdout);
        free(b.s);
        padim_model_free(m);
        return 0;
    }
    printf("model:          %s (%.1f MB)\n", path, (double)in.file_bytes / 1e6);
    printf("backbone:       %s (layers layer1, layer2, layer3; %d channels)\n", padim_backbone_name(c->backbone),
           in.channels_total);
    printf("preset:         %s (resize %d, crop %d, input %dx%d)\n", padim_preset_name(c->preset), c->resize, c->crop,
           in.input_size, in.input_size);
    printf("grid:           %dx%d = %d positions\n", in.grid_h, in.grid_w, in.grid_h * in.grid_w);
    printf("d:              %d (seed %u)\n", c->d, c->seed);
    printf("idx:           ");
    for (int i = 0; i < c->d && i < 12; i++) printf(" %d", in.idx[i]);
    printf("%s\n", c->d > 12 ? " ..." : "");
    printf("eps:            %g\n", c->eps);
    printf("sigma:          %g\n", c->sigma);
    printf("trained on:     %lld images\n", (long long)in.n_train);
    printf("factor:         packed lower-triangular L^-1, %s\n", in.factor_fp16 ? "fp16" : "fp32");
    printf("weights from:   %s\n", c->weights);
    if (in.has_thresholds)
        printf("thresholds:     image %.6g, pixel %.6g (score range %.6g .. %.6g)\n", in.image_threshold,
               in.pixel_threshold, in.score_min, in.score_max);
    else
        printf("thresholds:     none (run padim-gpu eval --save-thresholds)\n");
    padim_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- main */

int cmd_demo(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

static const char *main_help =
    "usage: padim-gpu COMMAND [options]\n"
    "\n"
    "PaDiM anomaly detection (Defard et al. 2020), exact on the CPU, fast on NVIDIA GPUs.\n"
    "\n"
    "commands:\n"
    "  demo     generate a small synthetic dataset, fit, score, write heatmaps\n"
    "  fit      fit a model on a folder of good images\n"
    "  score    score images with a model: scores, anomaly maps, heatmaps\n"
    "  eval     evaluate on a labeled test set (MVTec AD layout): AUROC, F1, AUPRO\n"
    "  bench    measure fit / score throughput, latency, per-stage times, memory\n"
    "  info     print a model file's metadata\n"
    "\n"
    "'padim-gpu COMMAND --help' describes each command. padim-gpu " PADIM_VERSION_STRING "\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(main_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("padim-gpu " PADIM_VERSION_STRING);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "fit")) return cmd_fit(argc - 1, argv + 1);
    if (!strcmp(cmd, "score")) return cmd_score(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo")) return cmd_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    fprintf(stderr, "padim-gpu: unknown command '%s'\n\n%s", cmd, main_help);
    return 2;
}
