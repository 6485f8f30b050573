/*
 * cli_opts.c - see cli_opts.h. The option tables of the shared groups, the one
 * getopt_long loop of every command, the config builder and the fit step that `fit` and
 * `eval` share.
 */
#include "cli_opts.h"
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- option tables */

static const struct option base_options[] = {
    {"help", no_argument, 0, CLI_OPT_HELP},
    {"quiet", no_argument, 0, CLI_OPT_QUIET},
    {0, 0, 0, 0},
};

static const struct option runtime_options[] = {
    {"device", required_argument, 0, CLI_OPT_DEVICE},
    {"gpu", required_argument, 0, CLI_OPT_GPU},
    {"threads", required_argument, 0, CLI_OPT_THREADS},
    {"precision", required_argument, 0, CLI_OPT_PRECISION},
    {"batch", required_argument, 0, CLI_OPT_BATCH},
    {"max-pixels", required_argument, 0, CLI_OPT_MAX_PIXELS},
    {0, 0, 0, 0},
};

static const struct option config_options[] = {
    {"config", required_argument, 0, CLI_OPT_CONFIG},
    {"backbone", required_argument, 0, CLI_OPT_BACKBONE},
    {"preset", required_argument, 0, CLI_OPT_PRESET},
    {"weights", required_argument, 0, CLI_OPT_WEIGHTS},
    {"d", required_argument, 0, CLI_OPT_D},
    {"seed", required_argument, 0, CLI_OPT_SEED},
    {"eps", required_argument, 0, CLI_OPT_EPS},
    {"resize", required_argument, 0, CLI_OPT_RESIZE},
    {"crop", required_argument, 0, CLI_OPT_CROP},
    {"factor-dtype", required_argument, 0, CLI_OPT_FACTOR},
    {0, 0, 0, 0},
};

/* The integer options: code, name, range and the field they set. */
static const struct int_option {
    int code;
    const char *name;
    int lo, hi;
    size_t offset;
} int_options[] = {
    {CLI_OPT_GPU, "--gpu", 0, 64, offsetof(cli_opts, rt.gpu)},
    {CLI_OPT_THREADS, "--threads", 1, 1024, offsetof(cli_opts, rt.threads)},
    {CLI_OPT_BATCH, "--batch", 1, 4096, offsetof(cli_opts, rt.batch)},
    {CLI_OPT_D, "--d", 1, 4096, offsetof(cli_opts, d)},
    {CLI_OPT_RESIZE, "--resize", 16, 4096, offsetof(cli_opts, resize)},
    {CLI_OPT_CROP, "--crop", 0, 4096, offsetof(cli_opts, crop)},
};

/* The string options: code and the field they set. */
static const struct str_option {
    int code;
    size_t offset;
} str_options[] = {
    {CLI_OPT_CONFIG, offsetof(cli_opts, config)},   {CLI_OPT_BACKBONE, offsetof(cli_opts, backbone)},
    {CLI_OPT_PRESET, offsetof(cli_opts, preset)},   {CLI_OPT_WEIGHTS, offsetof(cli_opts, weights)},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_OPTIONS 64

void cli_opts_init(cli_opts *o, const char *cmd) {
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    padim_runtime_default(&o->rt);
    o->rt.progress = cli_progress;
    o->rt.progress_user = &o->quiet;
    o->seed = -1;
    o->eps = -1;
    o->factor_fp16 = -1;
    o->crop = -1;
}

/* ---------------------------------------------------------------- parsing */

static int is_config_code(int code) { return code >= CLI_OPT_CONFIG && code <= CLI_OPT_FACTOR; }

static int parse_factor(const char *cmd, const char *arg, int *out) {
    if (!strcmp(arg, "f32")) *out = 0;
    else if (!strcmp(arg, "f16")) *out = 1;
    else {
        fprintf(stderr, "padim-gpu %s: --factor-dtype expects f32 or f16, got '%s'\n", cmd, arg);
        return -1;
    }
    return 0;
}

/* A shared option: 0 when set, -1 on a bad value (message printed), 1 when not shared. */
static int shared_option(cli_opts *o, int code, const char *arg) {
    if (is_config_code(code)) o->n_config++;
    for (size_t i = 0; i < COUNT(int_options); i++)
        if (int_options[i].code == code)
            return cli_parse_int(o->cmd, int_options[i].name, arg, int_options[i].lo, int_options[i].hi,
                                 (int *)((char *)o + int_options[i].offset));
    for (size_t i = 0; i < COUNT(str_options); i++)
        if (str_options[i].code == code) {
            *(const char **)((char *)o + str_options[i].offset) = arg;
            return 0;
        }
    switch (code) {
    case CLI_OPT_QUIET: o->quiet = 1; return 0;
    case CLI_OPT_DEVICE: return cli_parse_device(o->cmd, arg, &o->rt.device);
    case CLI_OPT_PRECISION: return cli_parse_precision(o->cmd, arg, &o->rt.precision);
    case CLI_OPT_MAX_PIXELS: {
        long v = 0;
        if (cli_parse_long(o->cmd, "--max-pixels", arg, 1, 1L << 40, &v)) return -1;
        o->rt.decode.max_pixels = v;
        return 0;
    }
    case CLI_OPT_SEED: return cli_parse_long(o->cmd, "--seed", arg, 0, 4294967295L, &o->seed);
    case CLI_OPT_EPS: return cli_parse_double(o->cmd, "--eps", arg, 0.0, 1e6, &o->eps);
    case CLI_OPT_FACTOR: return parse_factor(o->cmd, arg, &o->factor_fp16);
    }
    return 1;
}

static void append_table(struct option *all, int *n, const struct option *t) {
    for (; t && t->name && *n < MAX_OPTIONS; t++) all[(*n)++] = *t;
}

/* The long table (own options first, then the groups) and the short options it implies:
 * every code below 128 is a short option, with ':' when it takes a value. */
static void build_tables(const cli_parser *p, struct option *all, char *shortopts) {
    int n = 0;
    append_table(all, &n, p->own);
    if (p->groups & CLI_GROUP_BASE) append_table(all, &n, base_options);
    if (p->groups & CLI_GROUP_RUNTIME) append_table(all, &n, runtime_options);
    if (p->groups & CLI_GROUP_CONFIG) append_table(all, &n, config_options);
    all[n] = (struct option){0, 0, 0, 0};
    char *s = shortopts;
    *s++ = ':'; /* a missing value returns ':' (not '?') */
    *s = '\0';
    for (int i = 0; i < n; i++) {
        if (all[i].val <= 0 || all[i].val >= 128 || strchr(shortopts + 1, all[i].val)) continue;
        *s++ = (char)all[i].val;
        if (all[i].has_arg == required_argument) *s++ = ':';
        *s = '\0';
    }
}

int cli_parse(cli_opts *o, int argc, char **argv, const cli_parser *p) {
    struct option all[MAX_OPTIONS + 1];
    char shortopts[2 * MAX_OPTIONS + 2];
    build_tables(p, all, shortopts);
    opterr = 0;
    optind = 0; /* glibc: a full re-initialization */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, all, NULL)) != -1) {
        if (c == CLI_OPT_HELP) {
            fputs(p->help, stdout);
            return 0;
        }
        if (c == '?') return cli_usage_error(o->cmd, "unknown option '%s'", argv[optind - 1]);
        if (c == ':') return cli_usage_error(o->cmd, "option '%s' needs a value", argv[optind - 1]);
        int r = shared_option(o, c, optarg);
        if (r == 1) r = p->handle ? p->handle(p->ctx, c, optarg) : -1;
        if (r != 0) return 2;
    }
    o->rt.verbose = !o->quiet;
    return CLI_CONTINUE;
}

/* ---------------------------------------------------------------- errors */

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "padim-gpu %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'padim-gpu %s --help'.\n", cmd);
    return 2;
}

int cli_fail(const char *cmd, padim_status st) {
    fprintf(stderr, "padim-gpu %s: error: %s\n", cmd, padim_last_error());
    return st == PADIM_ERR_ARG ? 2 : 1;
}

/* ---------------------------------------------------------------- config, inputs, fit */

padim_status cli_build_config(const cli_opts *o, padim_config *cfg) {
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
    if (o->resize > 0) cfg->resize = o->resize;
    if (o->crop >= 0) cfg->crop = o->crop;
    if (o->factor_fp16 >= 0) cfg->factor_fp16 = o->factor_fp16;
    return padim_config_validate(cfg);
}

/* One argument: a folder's images (recursive) or the file itself. */
static int collect_one(const char *cmd, const char *arg, char ***sub, int64_t *ns) {
    if (cli_is_dir(arg)) return padim_list_images(arg, 1, sub, ns) == PADIM_OK ? 0 : cli_fail(cmd, PADIM_ERR_IO);
    struct stat sb;
    if (stat(arg, &sb) != 0) {
        fprintf(stderr, "padim-gpu %s: error: %s: %s\n", cmd, arg, strerror(errno));
        return 1;
    }
    *sub = malloc(sizeof(char *));
    if (*sub) (*sub)[0] = strdup(arg);
    if (!*sub || !(*sub)[0]) {
        free(*sub);
        fprintf(stderr, "padim-gpu %s: error: out of memory\n", cmd);
        return 1;
    }
    *ns = 1;
    return 0;
}

int cli_collect_inputs(const char *cmd, char **args, int nargs, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    for (int a = 0; a < nargs; a++) {
        char **sub = NULL, **grown = NULL;
        int64_t ns = 0;
        int rc = collect_one(cmd, args[a], &sub, &ns);
        if (!rc) grown = realloc(*paths, (size_t)(*n + ns) * sizeof(char *));
        if (!rc && !grown) rc = 1, fprintf(stderr, "padim-gpu %s: error: out of memory\n", cmd);
        if (rc) {
            padim_free_paths(sub, ns);
            padim_free_paths(*paths, *n);
            *paths = NULL;
            *n = 0;
            return 1;
        }
        *paths = grown;
        memcpy(*paths + *n, sub, (size_t)ns * sizeof(char *));
        *n += ns;
        free(sub);
    }
    return 0;
}

int cli_fit_model(const cli_opts *o, const padim_config *cfg, const char *what, char **paths, int64_t n,
                  padim_model **out, double *seconds) {
    if (!o->quiet)
        fprintf(stderr, "%s: fit on %lld images%s%s, %s, preset %s, input %d, d %d, seed %u, batch %d\n", o->cmd,
                (long long)n, what ? " of " : "", what ? what : "", padim_backbone_name(cfg->backbone),
                padim_preset_name(cfg->preset), padim_config_input_size(cfg), cfg->d, cfg->seed,
                padim_runtime_batch(&o->rt, cfg));
    const double t0 = cli_now();
    padim_status st = padim_fit_files(cfg, &o->rt, (const char *const *)paths, n, out);
    if (st != PADIM_OK) return cli_fail(o->cmd, st);
    if (seconds) *seconds = cli_now() - t0;
    return 0;
}
