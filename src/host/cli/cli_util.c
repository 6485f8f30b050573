/*
 * cli_util.c - see cli_util.h.
 */
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PADIM_SOURCE_DIR
#define PADIM_SOURCE_DIR "."
#endif

int cli_mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    return (mkdir(tmp, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

int cli_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int cli_write_text(const char *path, const char *text) {
    if (padim_write_file(path, text, strlen(text)) != PADIM_OK) {
        fprintf(stderr, "padim-gpu: error: %s\n", padim_last_error());
        return -1;
    }
    return 0;
}

void cli_printf(cli_buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        const int need = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (need < 0) return;
        if (b->s && b->n + (size_t)need < b->cap) {
            b->n += (size_t)need;
            return;
        }
        const size_t cap = (b->cap + (size_t)need + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            fprintf(stderr, "padim-gpu: out of memory\n");
            exit(1);
        }
        b->s = s;
        b->cap = cap;
    }
}

char *cli_json_text(cJSON *root) {
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return NULL;
    cli_buf b = {0};
    cli_printf(&b, "%s\n", text);
    cJSON_free(text);
    return b.s;
}

int cli_json_print(cJSON *root) {
    char *text = cli_json_text(root);
    const int rc = text && fputs(text, stdout) >= 0 ? 0 : -1;
    if (!text) fprintf(stderr, "padim-gpu: error: out of memory printing JSON\n");
    free(text);
    return rc;
}

int cli_json_write(const char *path, cJSON *root) {
    char *text = cli_json_text(root);
    const int rc = text ? cli_write_text(path, text) : -1;
    if (!text) fprintf(stderr, "padim-gpu: error: %s: out of memory printing JSON\n", path);
    free(text);
    return rc;
}

void cli_json_number(cJSON *obj, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(obj, key, v);
    else cJSON_AddNullToObject(obj, key);
}

void cli_json_metric(cJSON *obj, const char *key, double v) {
    if (v >= 0 && isfinite(v)) cJSON_AddNumberToObject(obj, key, v);
    else cJSON_AddNullToObject(obj, key);
}

void cli_json_model(cJSON *obj, const padim_model_info *info) {
    const padim_config *c = &info->config;
    cJSON_AddStringToObject(obj, "backbone", padim_backbone_name(c->backbone));
    cJSON_AddStringToObject(obj, "preset", padim_preset_name(c->preset));
    cJSON_AddNumberToObject(obj, "input_size", info->input_size);
    cJSON_AddNumberToObject(obj, "resize", c->resize);
    cJSON_AddNumberToObject(obj, "crop", c->crop);
    cJSON_AddNumberToObject(obj, "d", c->d);
    cJSON_AddNumberToObject(obj, "seed", c->seed);
    cli_json_number(obj, "eps", c->eps);
    cli_json_number(obj, "sigma", c->sigma);
    cJSON_AddNumberToObject(obj, "batch", c->batch);
    cJSON_AddNumberToObject(obj, "n_train", (double)info->n_train);
    cJSON_AddStringToObject(obj, "factor_dtype", info->factor_fp16 ? "F16" : "F32");
    cJSON_AddStringToObject(obj, "weights", c->weights);
}

/* <prefix>/share/padim-gpu of an installed binary <prefix>/bin/padim-gpu, from
 * /proc/self/exe (NULL when that cannot be read). */
static const char *installed_data_dir(void) {
    static char dir[PATH_MAX];
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0'; /* <prefix>/bin */
    snprintf(dir, sizeof(dir), "%s/../share/padim-gpu", exe);
    return dir;
}

const char *cli_data_dir(void) {
    static char buf[PATH_MAX];
    /* The environment first, then the installed prefix of this binary, then the source
     * tree of a build-tree binary, then the usual system prefixes. */
    const char *env = getenv("PADIM_HOME");
    const char *cands[] = {env && *env ? env : NULL, installed_data_dir(), PADIM_SOURCE_DIR,
                           "/usr/local/share/padim-gpu", "/usr/share/padim-gpu"};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (!cands[i]) continue;
        snprintf(buf, sizeof(buf), "%s/configs", cands[i]);
        if (cli_is_dir(buf)) {
            snprintf(buf, sizeof(buf), "%s", cands[i]);
            return buf;
        }
    }
    return ".";
}

int cli_parse_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    const long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "padim-gpu %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out) {
    long x;
    if (cli_parse_long(cmd, opt, v, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    const double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "padim-gpu %s: %s expects a number in [%g, %g], got '%s'\n", cmd, opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_parse_device(const char *cmd, const char *v, padim_device *out) {
    if (!strcmp(v, "cpu")) *out = PADIM_DEVICE_CPU;
    else if (!strcmp(v, "cuda")) *out = PADIM_DEVICE_CUDA;
    else if (!strcmp(v, "auto")) *out = PADIM_DEVICE_AUTO;
    else {
        fprintf(stderr, "padim-gpu %s: --device expects cpu, cuda or auto, got '%s'\n", cmd, v);
        return -1;
    }
    return 0;
}

int cli_parse_precision(const char *cmd, const char *v, padim_precision *out) {
    if (!strcmp(v, "fp32")) *out = PADIM_PRECISION_FP32;
    else if (!strcmp(v, "tf32")) *out = PADIM_PRECISION_TF32;
    else if (!strcmp(v, "fp16")) *out = PADIM_PRECISION_FP16;
    else if (!strcmp(v, "bf16")) *out = PADIM_PRECISION_BF16;
    else {
        fprintf(stderr, "padim-gpu %s: --precision expects fp32, tf32, fp16 or bf16, got '%s'\n", cmd, v);
        return -1;
    }
    return 0;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress(void *user, const char *stage, int64_t done, int64_t total) {
    const int *quiet = user;
    if (quiet && *quiet) return;
    if (isatty(2)) {
        fprintf(stderr, "\r%s: %lld/%lld images", stage, (long long)done, (long long)total);
        if (done == total) fputc('\n', stderr);
        return;
    }
    static int last_decile = -1;
    const int dec = (int)(10 * done / (total ? total : 1));
    if (dec != last_decile || done == total) {
        fprintf(stderr, "%s: %lld/%lld images\n", stage, (long long)done, (long long)total);
        last_decile = dec;
    }
    if (done == total) last_decile = -1;
}
