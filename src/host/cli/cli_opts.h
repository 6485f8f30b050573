/*
 * cli_opts.h - what the commands share: the option tables and their parser (getopt_long
 * everywhere), the runtime options (--device, --gpu, --threads, --precision, --batch),
 * the config options and build_config, -q/--quiet with progress, usage errors, input
 * collection and fitting a model from options. Every cmd_*.c builds on this and
 * cli_util.h, and on nothing else of the CLI.
 */
#ifndef PADIM_CLI_OPTS_H
#define PADIM_CLI_OPTS_H

#include "padim.h"

#include <getopt.h>
#include <stdint.h>

/* Option codes of the shared options. A code below 128 is also the short option (-q,
 * -h, -o, -m); commands number their own long-only options from CLI_OPT_OWN. */
enum cli_option_code {
    CLI_OPT_HELP = 'h',
    CLI_OPT_QUIET = 'q',
    CLI_OPT_DEVICE = 1000,
    CLI_OPT_GPU,
    CLI_OPT_THREADS,
    CLI_OPT_PRECISION,
    CLI_OPT_BATCH,
    CLI_OPT_MAX_PIXELS,
    CLI_OPT_CONFIG,
    CLI_OPT_BACKBONE,
    CLI_OPT_PRESET,
    CLI_OPT_WEIGHTS,
    CLI_OPT_D,
    CLI_OPT_SEED,
    CLI_OPT_EPS,
    CLI_OPT_RESIZE,
    CLI_OPT_CROP,
    CLI_OPT_FACTOR,
    CLI_OPT_OWN = 1100,
};

/* Groups of shared options a command takes besides its own table. */
enum cli_option_group {
    CLI_GROUP_BASE = 1,    /* -h/--help, -q/--quiet */
    CLI_GROUP_RUNTIME = 2, /* --device, --gpu, --threads, --precision, --batch */
    CLI_GROUP_CONFIG = 4,  /* --config, --backbone, --preset, --weights, --d, --seed, --eps,
                              --resize, --crop, --factor-dtype */
};

/* Help lines of the groups, for the commands' help texts. */
#define CLI_RUNTIME_HELP                                                                      \
    "  --device cpu|cuda|auto   backend (default auto: CUDA when built and a GPU works)\n"     \
    "  --gpu N                  CUDA device ordinal (default 0)\n"                             \
    "  --threads N              CPU threads (default: all cores)\n"                            \
    "  --precision fp32|tf32|fp16|bf16  backbone precision (default fp32, exact); on the CPU\n" \
    "                           bf16 only, on processors with AVX512-BF16 or AMX\n"          \
    "  --max-pixels N           refuse images above N pixels, from the file's header, before\n" \
    "                           decoding (default: the config's max_pixels, else 256 M)\n"
#define CLI_BASE_HELP                                                                         \
    "  -q, --quiet              no progress on stderr\n"                                       \
    "  -h, --help               this help\n"

/* Everything the shared options set. Not copyable once initialized: rt.progress_user
 * points at quiet. */
typedef struct cli_opts {
    const char *cmd;          /* "fit", ... for messages */
    padim_runtime rt;         /* runtime options, rt.batch = --batch (0: the config's) */
    int quiet;
    const char *config, *backbone, *preset, *weights;
    int d, resize, crop, factor_fp16; /* 0 / -1: not given */
    long seed;                /* -1: not given */
    double eps;               /* -1: not given */
    int n_config;             /* config options given (they matter only when fitting) */
} cli_opts;

/* A command's own options: its table (ended by a zero entry), the shared groups it takes,
 * its help text and the handler of its own codes (0 on success, -1 after printing why a
 * value is bad). */
typedef struct cli_parser {
    const struct option *own;
    unsigned groups;
    const char *help;
    int (*handle)(void *ctx, int code, const char *arg);
    void *ctx;
} cli_parser;

#define CLI_CONTINUE (-1)

void cli_opts_init(cli_opts *o, const char *cmd);
/* Parse argv[1..argc) (argv[0] is the command's name). Returns CLI_CONTINUE with optind
 * at the first positional argument, or the exit code: 0 after printing the help, 2 after
 * a usage error (message printed). */
int cli_parse(cli_opts *o, int argc, char **argv, const cli_parser *p);

/* "padim-gpu CMD: MESSAGE" + a hint to --help on stderr; returns 2 (the usage exit code). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "padim-gpu CMD: error: padim_last_error()" on stderr; returns the exit code of st
 * (2 for PADIM_ERR_ARG, else 1). */
int cli_fail(const char *cmd, padim_status st);

/* The config: defaults of --backbone/--preset, then the config file (--config or the
 * built-in configs/<backbone>_<preset>.yaml), then the other config options. Validated. */
padim_status cli_build_config(const cli_opts *o, padim_config *cfg);
/* Expand folders (recursively) and files into one list (free with padim_free_paths).
 * Returns 0, or 1 after printing the error. */
int cli_collect_inputs(const char *cmd, char **args, int nargs, char ***paths, int64_t *n);
/* Fit on paths[0..n) with the config cfg and o's runtime; unless quiet, says so on stderr
 * ("CMD: fit on N images[ of WHAT], backbone, preset, input, d, seed, batch"). Returns 0
 * (*out set, *seconds the fit's wall time when not NULL) or the exit code. */
int cli_fit_model(const cli_opts *o, const padim_config *cfg, const char *what, char **paths, int64_t n,
                  padim_model **out, double *seconds);

#endif
