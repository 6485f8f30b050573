/*
 * config.c - presets, defaults and YAML configs (configs/<backbone>_<preset>.yaml, read
 * with libyaml). A config fixes everything that defines a model before fitting; the
 * values end up in the model file.
 *
 * Keys (all optional; absent keys keep their current value):
 *   backbone: resnet18 | wide_resnet50_2     preset: anomalib | paper
 *   weights: path (relative to the config file's directory)
 *   resize: int   crop: int (0 = none)   d: int   seed: int   eps: float   sigma: float
 *   batch: int    factor_dtype: f32 | f16
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

const char *padim_preset_name(padim_preset p) { return p == PADIM_PRESET_PAPER ? "paper" : "anomalib"; }

padim_status padim_preset_parse(const char *s, padim_preset *out) {
    if (!strcmp(s, "anomalib")) *out = PADIM_PRESET_ANOMALIB;
    else if (!strcmp(s, "paper")) *out = PADIM_PRESET_PAPER;
    else return padim_fail(PADIM_ERR_ARG, "unknown preset '%s' (expected anomalib or paper)", s);
    return PADIM_OK;
}

void padim_config_default(padim_config *cfg, padim_backbone_kind backbone, padim_preset preset) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->backbone = backbone;
    cfg->preset = preset;
    cfg->resize = 256;
    cfg->crop = preset == PADIM_PRESET_PAPER ? 224 : 0;
    cfg->d = padim_backbone_default_d(backbone);
    cfg->seed = preset == PADIM_PRESET_PAPER ? 1024 : 42;
    cfg->eps = 0.01;
    cfg->sigma = 4.0;
    cfg->batch = PADIM_DEFAULT_BATCH;
    cfg->factor_fp16 = 0;
}

int padim_config_input_size(const padim_config *cfg) { return cfg->crop > 0 ? cfg->crop : cfg->resize; }

static padim_status parse_int(const char *path, const char *key, const char *v, long lo, long hi,
                              long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return padim_fail(PADIM_ERR_ARG, "%s: key '%s': expected an integer in [%ld, %ld], found '%s'",
                          path, key, lo, hi, v);
    *out = x;
    return PADIM_OK;
}

static padim_status parse_double(const char *path, const char *key, const char *v, double lo,
                                 double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        return padim_fail(PADIM_ERR_ARG, "%s: key '%s': expected a number in [%g, %g], found '%s'",
                          path, key, lo, hi, v);
    *out = x;
    return PADIM_OK;
}

/* Apply one key: value pair. */
static padim_status apply_key(const char *path, padim_config *cfg, const char *key, const char *v) {
    long i = 0;
    double x = 0;
    if (!strcmp(key, "backbone")) {
        padim_backbone_kind k = PADIM_BACKBONE_RESNET18;
        if (padim_backbone_parse(v, &k) != PADIM_OK) return padim_fail_context(PADIM_ERR_ARG, "%s", path);
        cfg->backbone = k;
    } else if (!strcmp(key, "preset")) {
        padim_preset p = PADIM_PRESET_ANOMALIB;
        if (padim_preset_parse(v, &p) != PADIM_OK) return padim_fail_context(PADIM_ERR_ARG, "%s", path);
        cfg->preset = p;
    } else if (!strcmp(key, "weights")) {
        if (v[0] == '/' || !strchr(path, '/')) {
            snprintf(cfg->weights, sizeof(cfg->weights), "%s", v);
        } else {
            int dir_len = (int)(strrchr(path, '/') - path);
            if (snprintf(cfg->weights, sizeof(cfg->weights), "%.*s/%s", dir_len, path, v) >= (int)sizeof(cfg->weights))
                return padim_fail(PADIM_ERR_ARG, "%s: key 'weights': path too long", path);
        }
    } else if (!strcmp(key, "resize")) {
        PADIM_TRY(parse_int(path, key, v, 32, 4096, &i));
        cfg->resize = (int)i;
    } else if (!strcmp(key, "crop")) {
        PADIM_TRY(parse_int(path, key, v, 0, 4096, &i));
        cfg->crop = (int)i;
    } else if (!strcmp(key, "d")) {
        PADIM_TRY(parse_int(path, key, v, 1, 4096, &i));
        cfg->d = (int)i;
    } else if (!strcmp(key, "seed")) {
        PADIM_TRY(parse_int(path, key, v, 0, (long)UINT32_MAX, &i));
        cfg->seed = (uint32_t)i;
    } else if (!strcmp(key, "eps")) {
        PADIM_TRY(parse_double(path, key, v, 0.0, 1e6, &x));
        cfg->eps = x;
    } else if (!strcmp(key, "sigma")) {
        PADIM_TRY(parse_double(path, key, v, 0.0, 64.0, &x));
        cfg->sigma = x;
    } else if (!strcmp(key, "batch")) {
        PADIM_TRY(parse_int(path, key, v, 1, 4096, &i));
        cfg->batch = (int)i;
    } else if (!strcmp(key, "factor_dtype")) {
        if (!strcmp(v, "f32")) cfg->factor_fp16 = 0;
        else if (!strcmp(v, "f16")) cfg->factor_fp16 = 1;
        else return padim_fail(PADIM_ERR_ARG, "%s: key 'factor_dtype': expected f32 or f16, found '%s'", path, v);
    } else {
        return padim_fail(PADIM_ERR_ARG,
                          "%s: unknown key '%s' (known: backbone, preset, weights, resize, crop, d, "
                          "seed, eps, sigma, batch, factor_dtype)", path, key);
    }
    return PADIM_OK;
}

padim_status padim_config_validate(const padim_config *cfg) {
    int S = padim_config_input_size(cfg);
    if (cfg->crop > cfg->resize)
        return padim_fail(PADIM_ERR_ARG, "crop %d is larger than resize %d", cfg->crop, cfg->resize);
    if (S % 16 != 0)
        return padim_fail(PADIM_ERR_ARG, "input size %d (resize %d, crop %d) must be a multiple of 16 (the layer3 stride)", S, cfg->resize, cfg->crop);
    const int C = padim_backbone_channels(cfg->backbone);
    if (C == 0) return padim_fail(PADIM_ERR_ARG, "unknown backbone kind %d", (int)cfg->backbone);
    if (cfg->d < 1 || cfg->d > C)
        return padim_fail(PADIM_ERR_ARG, "d = %d out of range: %s has %d embedding channels",
                          cfg->d, padim_backbone_name(cfg->backbone), C);
    if (cfg->batch < 1) return padim_fail(PADIM_ERR_ARG, "batch must be >= 1, got %d", cfg->batch);
    return PADIM_OK;
}

padim_status padim_config_load(const char *path, padim_config *cfg) {
    FILE *f = fopen(path, "rb");
    if (!f) return padim_fail(PADIM_ERR_IO, "%s: cannot open config: %s", path, strerror(errno));
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return padim_fail(PADIM_ERR_NOMEM, "cannot initialize the YAML parser");
    }
    yaml_parser_set_input_file(&parser, f);
    /* A flat mapping of scalars: walk the events, alternating key / value. */
    padim_config tmp = *cfg;
    padim_status st = PADIM_OK;
    char key[128] = "";
    int depth = 0, have_key = 0, done = 0;
    while (!done && st == PADIM_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = padim_fail(PADIM_ERR_FORMAT, "%s:%zu:%zu: YAML error: %s", path,
                            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "unknown");
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (++depth > 1)
                st = padim_fail(PADIM_ERR_FORMAT, "%s:%zu: nested mappings are not supported (flat key: value only)",
                                path, ev.start_mark.line + 1);
            break;
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_SEQUENCE_START_EVENT:
            st = padim_fail(PADIM_ERR_FORMAT, "%s:%zu: lists are not supported (flat key: value only)", path,
                            ev.start_mark.line + 1);
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth != 1) {
                st = padim_fail(PADIM_ERR_FORMAT, "%s: expected a mapping of key: value", path);
            } else if (!have_key) {
                snprintf(key, sizeof(key), "%s", v);
                have_key = 1;
            } else {
                st = apply_key(path, &tmp, key, v);
                have_key = 0;
            }
            break;
        }
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    if (st == PADIM_OK) {
        st = padim_config_validate(&tmp);
        if (st != PADIM_OK) padim_fail_context(st, "%s", path);
    }
    if (st == PADIM_OK) *cfg = tmp;
    return st;
}

void padim_runtime_default(padim_runtime *rt) {
    memset(rt, 0, sizeof(*rt));
    rt->device = PADIM_DEVICE_AUTO;
    rt->precision = PADIM_PRECISION_FP32;
}

int padim_runtime_batch(const padim_runtime *rt, const padim_config *cfg) {
    if (rt && rt->batch > 0) return rt->batch;
    return cfg->batch > 0 ? cfg->batch : PADIM_DEFAULT_BATCH;
}
