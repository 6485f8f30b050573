/*
 * cli_util.h - small helpers of the command-line files (src/host/cli/): folders, atomic
 * text and JSON output (cJSON, through padim_write_file), a growable string for CSV and
 * Markdown, the data folder (configs/, weights/), the one checked number parser and the
 * parsers of --device / --precision, progress and time. Not part of the library; uses only
 * padim.h.
 */
#ifndef PADIM_CLI_UTIL_H
#define PADIM_CLI_UTIL_H

#include "padim.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* mkdir -p; 0 on success, -1 with errno set. */
int cli_mkdir_p(const char *path);
int cli_is_dir(const char *path);
/* Write text to path atomically (padim_write_file); on failure prints
 * "padim-gpu: error: PATH: ..." and returns -1. */
int cli_write_text(const char *path, const char *text);

/* A growable string; free(b.s) when done. */
typedef struct cli_buf {
    char *s;
    size_t n, cap;
} cli_buf;
void cli_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* JSON: every command builds a cJSON tree and prints it here (formatted, one trailing
 * newline). cli_json_text returns the text (free it; NULL when out of memory),
 * cli_json_write writes it atomically to path, cli_json_print to stdout; all three delete
 * the tree; the last two return 0, or -1 with a message on stderr. */
char *cli_json_text(cJSON *root);
int cli_json_write(const char *path, cJSON *root);
int cli_json_print(cJSON *root);
/* Add a number, or null when v is NaN or infinite (JSON has neither). */
void cli_json_number(cJSON *obj, const char *key, double v);
/* Add a metric: null when it is unavailable (padim_eval_result's -1) or not finite. */
void cli_json_metric(cJSON *obj, const char *key, double v);
/* Add a model's settings (backbone, preset, input_size, resize, crop, d, seed, eps, sigma,
 * batch, n_train, factor_dtype, weights): what `info --json` and metrics.json share. */
void cli_json_model(cJSON *obj, const padim_model_info *info);

/* Folder holding configs/ and weights/: $PADIM_HOME, the source tree, installed share dirs. */
const char *cli_data_dir(void);

/* The one number parser of the command line: v must be a whole number (base 10) or, for
 * cli_parse_double, a finite number, within [lo, hi]. On a bad value prints
 * "padim-gpu CMD: OPT expects ... in [lo, hi], got 'v'" and returns -1; 0 on success. */
int cli_parse_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out);
int cli_parse_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out);
int cli_parse_double(const char *cmd, const char *opt, const char *v, double lo, double hi, double *out);
/* Parse "cpu|cuda|auto" / "fp32|tf32|fp16|bf16"; on a bad value print a message naming cmd
 * and return -1. */
int cli_parse_device(const char *cmd, const char *v, padim_device *out);
int cli_parse_precision(const char *cmd, const char *v, padim_precision *out);

/* padim_progress_fn for the CLI: user is a const int *quiet (NULL: not quiet). A single
 * updating line on a terminal, a line per 10% otherwise. */
void cli_progress(void *user, const char *stage, int64_t done, int64_t total);
/* Seconds on CLOCK_MONOTONIC: the difference of two readings is elapsed time. */
double cli_now(void);

#endif
