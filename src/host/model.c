/*
 * model.c - the fitted model object and its file (padim_model_* of padim.h and
 * padim_internal.h).
 *
 * A model file is a safetensors file (safetensors.h). Its __metadata__ holds every
 * config field and the derived sizes as strings (doubles printed with %.17g, so they read
 * back exactly):
 *   format="padim-gpu-model", version="1", backbone, preset, resize, crop, input_size,
 *   layers="layer1,layer2,layer3", d, seed, eps, sigma, batch, n_train, channels_total,
 *   grid_h, grid_w, factor_dtype ("F32"/"F16"), has_thresholds, image_threshold,
 *   pixel_threshold, score_min, score_max, padim_version, weights_source; optional (absent
 *   in files written before good-only calibration): calibration ("none" | "good_quantile"),
 *   calibration_fpr, calibration_images, calibration_image_threshold,
 *   calibration_pixel_threshold, calibration_score_min, calibration_score_max.
 * Tensors:
 *   "idx"    I32 (D)          kept channel indices, in sampling order
 *   "mean"   F32 (P, D)
 *   "factor" F32 or F16 (P, T) packed lower L^-1 (ops.h), T = D*(D+1)/2
 *   "backbone.<conv>.weight" F32 (cout, cin, k, k), "backbone.<conv>.bias" F32 (cout),
 *     BatchNorm folded, so a model file scores without the weights file.
 * Loading checks every field and the consistency of sizes, indices and shapes, so that a
 * file that loads can be scored without further checks. An fp16 factor is widened to
 * float in memory (the backends always see float).
 */
#include "common.h"
#include "shared_math.h"
#include "padim_internal.h"
#include "half.h"
#include "safetensors.h"
#include "st_writer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MODEL_LAYERS "layer1,layer2,layer3"

padim_status padim_model_alloc(const padim_config *cfg, padim_model **out) {
    *out = NULL;
    PADIM_TRY(padim_config_validate(cfg));
    padim_model *m;
    PADIM_TRY(padim_calloc((void **)&m, sizeof(*m), "model"));
    m->cfg = *cfg;
    bb_spec_init(&m->weights.spec, cfg->backbone);
    m->S = padim_config_input_size(cfg);
    int h2, h3;
    bb_feature_sizes(m->S, &m->H, &h2, &h3);
    m->W = m->H;
    m->P = m->H * m->W;
    m->C = bb_channels_total(&m->weights.spec);
    m->D = cfg->d;
    const size_t P = (size_t)m->P, D = (size_t)m->D, T = (size_t)padim_tri(m->D);
    padim_status st = padim_alloc_aligned((void **)&m->idx, D * sizeof(int32_t), "channel indices");
    if (st == PADIM_OK) st = padim_alloc_aligned((void **)&m->mean, P * D * sizeof(float), "mean (P, D)");
    if (st == PADIM_OK)
        st = padim_alloc_aligned((void **)&m->factor, P * T * sizeof(float), "precision factor (P, T)");
    if (st != PADIM_OK) {
        padim_model_free(m);
        return st;
    }
    *out = m;
    return PADIM_OK;
}

void padim_model_free(padim_model *m) {
    if (!m) return;
    bb_weights_free(&m->weights);
    free(m->idx);
    free(m->mean);
    free(m->factor);
    free(m);
}

void padim_model_get_info(const padim_model *m, padim_model_info *info) {
    memset(info, 0, sizeof(*info));
    info->config = m->cfg;
    info->input_size = m->S;
    info->grid_h = m->H;
    info->grid_w = m->W;
    info->channels_total = m->C;
    info->n_train = m->n_train;
    info->idx = m->idx;
    info->has_thresholds = m->has_thresholds;
    info->image_threshold = m->image_threshold;
    info->pixel_threshold = m->pixel_threshold;
    info->score_min = m->score_min;
    info->score_max = m->score_max;
    info->factor_fp16 = m->cfg.factor_fp16;
    info->file_bytes = m->file_bytes;
}

void padim_model_get_calibration(const padim_model *m, padim_calibration *out) { *out = m->calibration; }

const char *padim_model_thresholds(const padim_model *m, double *image_threshold,
                                   double *pixel_threshold, double *score_min, double *score_max) {
    const padim_calibration *c = &m->calibration;
    if (c->calibrated) {
        *image_threshold = c->image_threshold, *pixel_threshold = c->pixel_threshold;
        *score_min = c->score_min, *score_max = c->score_max;
        return "calibration";
    }
    if (m->has_thresholds) {
        *image_threshold = m->image_threshold, *pixel_threshold = m->pixel_threshold;
        *score_min = m->score_min, *score_max = m->score_max;
        return "evaluation";
    }
    return NULL;
}

void padim_model_set_thresholds(padim_model *m, double image_threshold, double pixel_threshold,
                                double score_min, double score_max) {
    m->has_thresholds = 1;
    m->image_threshold = image_threshold;
    m->pixel_threshold = pixel_threshold;
    m->score_min = score_min;
    m->score_max = score_max;
}

/* ---------------------------------------------------------------- save */

static padim_status meta_ll(st_writer *w, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    return st_writer_meta(w, key, buf);
}

static padim_status meta_double(st_writer *w, const char *key, double v) {
    char buf[40];
    snprintf(buf, sizeof(buf), "%.17g", v);
    return st_writer_meta(w, key, buf);
}

static padim_status save_to(const padim_model *m, st_writer *w, uint16_t **half, const char *path) {
    const padim_config *c = &m->cfg;
    PADIM_TRY(st_writer_meta(w, "format", PADIM_MODEL_FORMAT));
    PADIM_TRY(meta_ll(w, "version", PADIM_MODEL_VERSION));
    PADIM_TRY(st_writer_meta(w, "backbone", padim_backbone_name(c->backbone)));
    PADIM_TRY(st_writer_meta(w, "preset", padim_preset_name(c->preset)));
    PADIM_TRY(meta_ll(w, "resize", c->resize));
    PADIM_TRY(meta_ll(w, "crop", c->crop));
    PADIM_TRY(meta_ll(w, "input_size", m->S));
    PADIM_TRY(st_writer_meta(w, "layers", MODEL_LAYERS));
    PADIM_TRY(meta_ll(w, "d", m->D));
    PADIM_TRY(meta_ll(w, "seed", c->seed));
    PADIM_TRY(meta_double(w, "eps", c->eps));
    PADIM_TRY(meta_double(w, "sigma", c->sigma));
    PADIM_TRY(meta_ll(w, "batch", c->batch));
    PADIM_TRY(meta_ll(w, "n_train", m->n_train));
    PADIM_TRY(meta_ll(w, "channels_total", m->C));
    PADIM_TRY(meta_ll(w, "grid_h", m->H));
    PADIM_TRY(meta_ll(w, "grid_w", m->W));
    PADIM_TRY(st_writer_meta(w, "factor_dtype", c->factor_fp16 ? "F16" : "F32"));
    PADIM_TRY(meta_ll(w, "has_thresholds", m->has_thresholds ? 1 : 0));
    PADIM_TRY(meta_double(w, "image_threshold", m->image_threshold));
    PADIM_TRY(meta_double(w, "pixel_threshold", m->pixel_threshold));
    PADIM_TRY(meta_double(w, "score_min", m->score_min));
    PADIM_TRY(meta_double(w, "score_max", m->score_max));
    const padim_calibration *cal = &m->calibration;
    PADIM_TRY(st_writer_meta(w, "calibration", cal->calibrated ? "good_quantile" : "none"));
    if (cal->calibrated) {
        PADIM_TRY(meta_double(w, "calibration_fpr", cal->fpr));
        PADIM_TRY(meta_ll(w, "calibration_images", cal->n_images));
        PADIM_TRY(meta_double(w, "calibration_image_threshold", cal->image_threshold));
        PADIM_TRY(meta_double(w, "calibration_pixel_threshold", cal->pixel_threshold));
        PADIM_TRY(meta_double(w, "calibration_score_min", cal->score_min));
        PADIM_TRY(meta_double(w, "calibration_score_max", cal->score_max));
    }
    PADIM_TRY(st_writer_meta(w, "padim_version", PADIM_VERSION_STRING));
    PADIM_TRY(st_writer_meta(w, "weights_source", c->weights));

    const int64_t P = m->P, D = m->D, T = padim_tri(m->D);
    const int64_t idx_shape[1] = {D}, mean_shape[2] = {P, D}, factor_shape[2] = {P, T};
    PADIM_TRY(st_writer_add(w, "idx", ST_I32, 1, idx_shape, m->idx));
    PADIM_TRY(st_writer_add(w, "mean", ST_F32, 2, mean_shape, m->mean));
    if (c->factor_fp16) {
        const size_t n = (size_t)P * (size_t)T;
        PADIM_TRY(padim_alloc((void **)half, n * sizeof(uint16_t), "fp16 factor"));
        for (size_t i = 0; i < n; i++) {
            /* Beyond fp16's largest finite value the model would not load: refuse now. */
            if (!(fabsf(m->factor[i]) <= 65504.0f))
                return padim_fail(PADIM_ERR_ARG, "%s: factor value %g does not fit fp16 (|x| <= 65504); save with "
                                  "factor_dtype f32 or a larger eps", path, (double)m->factor[i]);
            (*half)[i] = padim_f32_to_f16(m->factor[i]);
        }
        PADIM_TRY(st_writer_add(w, "factor", ST_F16, 2, factor_shape, *half));
    } else {
        PADIM_TRY(st_writer_add(w, "factor", ST_F32, 2, factor_shape, m->factor));
    }
    PADIM_TRY(bb_weights_to_st(&m->weights, w, "backbone."));
    return st_writer_write(w, path);
}

padim_status padim_model_save(const padim_model *m, const char *path) {
    for (int i = 0; i < m->weights.spec.n_convs; i++)
        if (!m->weights.w[i] || !m->weights.b[i])
            return padim_fail(PADIM_ERR_ARG, "%s: cannot save a model without backbone weights", path);
    st_writer *w;
    PADIM_TRY(st_writer_create(&w));
    uint16_t *half = NULL;
    padim_status st = save_to(m, w, &half, path);
    st_writer_free(w);
    free(half);
    return st;
}

/* ---------------------------------------------------------------- load */

static padim_status meta_str(const st_file *f, const char *key, const char **out) {
    *out = st_meta(f, key);
    if (!*out)
        return padim_fail(PADIM_ERR_FORMAT, "%s: model metadata '%s' is missing (file damaged?)",
                          f->path, key);
    return PADIM_OK;
}

static padim_status meta_int(const st_file *f, const char *key, long long lo, long long hi,
                             long long *out) {
    const char *s;
    PADIM_TRY(meta_str(f, key, &s));
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return padim_fail(PADIM_ERR_FORMAT,
                          "%s: model metadata '%s' = '%s': expected an integer in [%lld, %lld]",
                          f->path, key, s, lo, hi);
    *out = v;
    return PADIM_OK;
}

static padim_status meta_real(const st_file *f, const char *key, double *out) {
    const char *s;
    PADIM_TRY(meta_str(f, key, &s));
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return padim_fail(PADIM_ERR_FORMAT, "%s: model metadata '%s' = '%s': expected a finite number",
                          f->path, key, s);
    *out = v;
    return PADIM_OK;
}

/* Tensor `name` of dtype dt and shape (d0[, d1]). */
static padim_status check_finite(const char *path, const char *name, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return padim_fail(PADIM_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value (%g) at element %zu: "
                              "the file is corrupt; refit the model", path, name, (double)v[i], i);
    return PADIM_OK;
}

static padim_status want_tensor(const st_file *f, const char *name, st_dtype dt, int ndim,
                                int64_t d0, int64_t d1, const st_tensor **out) {
    const st_tensor *t = st_find(f, name);
    if (!t) return padim_fail(PADIM_ERR_FORMAT, "%s: model tensor '%s' is missing", f->path, name);
    if (t->dtype != dt)
        return padim_fail(PADIM_ERR_FORMAT, "%s: model tensor '%s': expected dtype %s, found %s",
                          f->path, name, st_dtype_name(dt), st_dtype_name(t->dtype));
    const int64_t want[2] = {d0, d1};
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == want[i];
    if (!same) {
        char got[96];
        st_format_shape(got, sizeof(got), t->ndim, t->shape);
        if (ndim == 1)
            return padim_fail(PADIM_ERR_FORMAT,
                              "%s: model tensor '%s': expected shape (%lld) from the metadata, found %s",
                              f->path, name, (long long)d0, got);
        return padim_fail(PADIM_ERR_FORMAT,
                          "%s: model tensor '%s': expected shape (%lld, %lld) from the metadata, found %s",
                          f->path, name, (long long)d0, (long long)d1, got);
    }
    *out = t;
    return PADIM_OK;
}

/* The optional good-only calibration (files before it have no "calibration" key). */
static padim_status read_calibration(const st_file *f, padim_calibration *cal) {
    memset(cal, 0, sizeof(*cal));
    const char *method = st_meta(f, "calibration");
    if (!method || !strcmp(method, "none")) return PADIM_OK;
    if (strcmp(method, "good_quantile") != 0)
        return padim_fail(PADIM_ERR_FORMAT, "%s: model metadata 'calibration' is '%s'; expected "
                          "'none' or 'good_quantile'", f->path, method);
    long long n = 0;
    PADIM_TRY(meta_real(f, "calibration_fpr", &cal->fpr));
    PADIM_TRY(meta_int(f, "calibration_images", 1, (long long)1 << 40, &n));
    PADIM_TRY(meta_real(f, "calibration_image_threshold", &cal->image_threshold));
    PADIM_TRY(meta_real(f, "calibration_pixel_threshold", &cal->pixel_threshold));
    PADIM_TRY(meta_real(f, "calibration_score_min", &cal->score_min));
    PADIM_TRY(meta_real(f, "calibration_score_max", &cal->score_max));
    if (!(cal->fpr > 0 && cal->fpr < 1))
        return padim_fail(PADIM_ERR_FORMAT, "%s: model metadata 'calibration_fpr' = %g; expected 0 < fpr < 1",
                          f->path, cal->fpr);
    cal->calibrated = 1;
    cal->n_images = n;
    cal->small_sample = (double)n * cal->fpr < 1.0;
    return PADIM_OK;
}

/* The config and sizes from the metadata, checked against each other. */
static padim_status read_config(const st_file *f, padim_config *cfg, long long *n_train) {
    const char *path = f->path, *s;
    long long v;
    memset(cfg, 0, sizeof(*cfg));
    PADIM_TRY(meta_str(f, "backbone", &s));
    if (padim_backbone_parse(s, &cfg->backbone) != PADIM_OK)
        return padim_fail_context(PADIM_ERR_FORMAT, "%s: model metadata 'backbone'", path);
    PADIM_TRY(meta_str(f, "preset", &s));
    if (padim_preset_parse(s, &cfg->preset) != PADIM_OK)
        return padim_fail_context(PADIM_ERR_FORMAT, "%s: model metadata 'preset'", path);
    PADIM_TRY(meta_int(f, "resize", 1, 1 << 16, &v));
    cfg->resize = (int)v;
    PADIM_TRY(meta_int(f, "crop", 0, 1 << 16, &v));
    cfg->crop = (int)v;
    PADIM_TRY(meta_int(f, "d", 1, 1 << 16, &v));
    cfg->d = (int)v;
    PADIM_TRY(meta_int(f, "seed", 0, UINT32_MAX, &v));
    cfg->seed = (uint32_t)v;
    PADIM_TRY(meta_real(f, "eps", &cfg->eps));
    PADIM_TRY(meta_real(f, "sigma", &cfg->sigma));
    PADIM_TRY(meta_int(f, "batch", 1, PADIM_MAX_BATCH, &v));
    cfg->batch = (int)v;
    PADIM_TRY(meta_str(f, "factor_dtype", &s));
    if (strcmp(s, "F32") && strcmp(s, "F16"))
        return padim_fail(PADIM_ERR_FORMAT, "%s: model metadata 'factor_dtype' = '%s': expected F32 or F16",
                          path, s);
    cfg->factor_fp16 = !strcmp(s, "F16");
    PADIM_TRY(meta_str(f, "weights_source", &s));
    snprintf(cfg->weights, sizeof(cfg->weights), "%s", s); /* informative; may truncate */
    if (padim_config_validate(cfg) != PADIM_OK)
        return padim_fail_context(PADIM_ERR_FORMAT, "%s: model configuration", path);

    /* Derived sizes must agree with what this build computes from the config. */
    bb_spec spec;
    bb_spec_init(&spec, cfg->backbone);
    const int S = padim_config_input_size(cfg);
    int h1, h2, h3;
    bb_feature_sizes(S, &h1, &h2, &h3);
    const struct {
        const char *key;
        long long expect;
    } derived[] = {{"input_size", S}, {"grid_h", h1}, {"grid_w", h1},
                   {"channels_total", bb_channels_total(&spec)}};
    for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++) {
        PADIM_TRY(meta_int(f, derived[i].key, 0, 1 << 30, &v));
        if (v != derived[i].expect)
            return padim_fail(PADIM_ERR_FORMAT,
                              "%s: model metadata '%s' = %lld, but %s at input size %d gives %lld",
                              path, derived[i].key, v, padim_backbone_name(cfg->backbone), S,
                              derived[i].expect);
    }
    PADIM_TRY(meta_str(f, "layers", &s));
    if (strcmp(s, MODEL_LAYERS))
        return padim_fail(PADIM_ERR_MISMATCH,
                          "%s: model metadata 'layers' = '%s': this build supports only '%s'",
                          path, s, MODEL_LAYERS);
    PADIM_TRY(meta_int(f, "n_train", 1, INT64_MAX, n_train));
    PADIM_TRY(meta_str(f, "padim_version", &s));
    return PADIM_OK;
}

static padim_status load_from(const st_file *f, padim_model **out) {
    const char *path = f->path;
    long long v;
    const char *format = st_meta(f, "format");
    if (!format || strcmp(format, PADIM_MODEL_FORMAT))
        return padim_fail(PADIM_ERR_FORMAT,
                          "%s: not a padim-gpu model file (metadata format = '%s', expected '%s'); "
                          "a model file is what fitting writes; backbone weights belong in the config's "
                          "'weights'",
                          path, format ? format : "(none)", PADIM_MODEL_FORMAT);
    PADIM_TRY(meta_int(f, "version", 1, INT32_MAX, &v));
    if (v > PADIM_MODEL_VERSION)
        return padim_fail(PADIM_ERR_MISMATCH,
                          "%s: model file version %lld is newer than this padim-gpu %s reads "
                          "(version %d): upgrade padim-gpu, or refit the model with this version",
                          path, v, PADIM_VERSION_STRING, PADIM_MODEL_VERSION);

    padim_config cfg;
    long long n_train;
    PADIM_TRY(read_config(f, &cfg, &n_train));
    padim_model *m;
    PADIM_TRY(padim_model_alloc(&cfg, &m));
    m->n_train = n_train;
    padim_status st = PADIM_OK;
    const st_tensor *t;
    const int64_t P = m->P, D = m->D, T = padim_tri(m->D);

    /* idx: (D), distinct, in [0, C). */
    uint8_t *seen = NULL;
    st = want_tensor(f, "idx", ST_I32, 1, D, 0, &t);
    if (st == PADIM_OK) {
        memcpy(m->idx, t->data, (size_t)D * sizeof(int32_t));
        st = padim_calloc((void **)&seen, (size_t)m->C, "index check");
    }
    for (int64_t i = 0; st == PADIM_OK && i < D; i++) {
        const int32_t c = m->idx[i];
        if (c < 0 || c >= m->C)
            st = padim_fail(PADIM_ERR_FORMAT, "%s: idx[%lld] = %d is outside [0, %d)", path,
                            (long long)i, c, m->C);
        else if (seen[c]++)
            st = padim_fail(PADIM_ERR_FORMAT, "%s: idx[%lld] = %d appears twice", path,
                            (long long)i, c);
    }
    free(seen);

    if (st == PADIM_OK) st = want_tensor(f, "mean", ST_F32, 2, P, D, &t);
    if (st == PADIM_OK) memcpy(m->mean, t->data, (size_t)P * (size_t)D * sizeof(float));

    if (st == PADIM_OK) st = want_tensor(f, "factor", cfg.factor_fp16 ? ST_F16 : ST_F32, 2, P, T, &t);
    if (st == PADIM_OK) {
        const size_t n = (size_t)P * (size_t)T;
        if (cfg.factor_fp16) {
            const unsigned char *src = t->data;
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, src + 2 * i, 2);
                m->factor[i] = padim_f16_to_f32(h);
            }
        } else {
            memcpy(m->factor, t->data, n * sizeof(float));
        }
    }
    /* A model never yields NaN: a corrupted mean or factor (a flipped exponent, an fp16
     * overflow) is refused here rather than scored. */
    if (st == PADIM_OK) st = check_finite(path, "mean", m->mean, (size_t)P * (size_t)D);
    if (st == PADIM_OK) st = check_finite(path, "factor", m->factor, (size_t)P * (size_t)T);

    if (st == PADIM_OK) {
        bb_weights_free(&m->weights);
        st = bb_weights_from_st(f, "backbone.", cfg.backbone, &m->weights);
    }

    if (st == PADIM_OK) st = meta_int(f, "has_thresholds", 0, 1, &v);
    if (st == PADIM_OK) {
        m->has_thresholds = (int)v;
        st = meta_real(f, "image_threshold", &m->image_threshold);
    }
    if (st == PADIM_OK) st = meta_real(f, "pixel_threshold", &m->pixel_threshold);
    if (st == PADIM_OK) st = meta_real(f, "score_min", &m->score_min);
    if (st == PADIM_OK) st = meta_real(f, "score_max", &m->score_max);
    if (st == PADIM_OK) st = read_calibration(f, &m->calibration);
    if (st != PADIM_OK) {
        padim_model_free(m);
        return st;
    }
    *out = m;
    return PADIM_OK;
}

padim_status padim_model_load(const char *path, padim_model **out) {
    *out = NULL;
    st_file f;
    PADIM_TRY(st_read(path, &f));
    padim_status st = load_from(&f, out);
    st_free(&f);
    if (st == PADIM_OK) {
        struct stat sb;
        (*out)->file_bytes = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    }
    return st;
}
