/*
 * cli_util.h - small helpers shared by the command-line files (cli*.c): folders, atomic
 * text output, a growable string for CSV/JSON, the data folder (configs/, weights/) and
 * parsing of --device / --precision. Not part of the library.
 */
#ifndef PADIM_CLI_UTIL_H
#define PADIM_CLI_UTIL_H

#include "padim.h"

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
/* Append s as a JSON string literal (quotes and escapes). */
void cli_json_str(cli_buf *b, const char *s);

/* Folder holding configs/ and weights/: $PADIM_HOME, the source tree, installed share dirs. */
const char *cli_data_dir(void);
/* Parse "cpu|cuda|auto" / "fp32|tf32|fp16|bf16"; on a bad value print a message naming cmd
 * and return -1. */
int cli_parse_device(const char *cmd, const char *v, padim_device *out);
int cli_parse_precision(const char *cmd, const char *v, padim_precision *out);
/* padim_progress_fn for the CLI: user is a const int *quiet (NULL: not quiet). A single
 * updating line on a terminal, a line per 10% otherwise. */
void cli_progress(void *user, const char *stage, int64_t done, int64_t total);
/* Seconds between two CLOCK_MONOTONIC readings taken with cli_now(). */
double cli_now(void);

#endif
