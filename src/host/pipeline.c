/*
 * pipeline.c - the pipeline behind padim.h: backend selection, fit over files (decode and
 * preprocess in parallel, batch by batch, into the backend's streaming statistics) and
 * scoring sessions. Talks to backends only through backend.h.
 */
#include "backend.h"
#include "common.h"
#include "image.h"
#include "padim_internal.h"
#include "rng.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- backend choice */

static padim_status backend_open(const backend_setup *setup, const padim_runtime *rt,
                                 const backend_ops **ops, void **ctx) {
    const backend_ops *cuda = padim_backend_cuda();
    if (rt->device == PADIM_DEVICE_CUDA) {
        if (!cuda)
            return padim_fail(PADIM_ERR_DEVICE,
                              "--device cuda: this padim-gpu was built without the CUDA backend "
                              "(configure with -DPADIM_CUDA=ON where nvcc is installed), use --device cpu");
        *ops = cuda;
        return cuda->create(setup, ctx);
    }
    if (rt->device == PADIM_DEVICE_AUTO && cuda) {
        padim_status st = cuda->create(setup, ctx);
        if (st == PADIM_OK) {
            *ops = cuda;
            return PADIM_OK;
        }
        if (st != PADIM_ERR_DEVICE) return st;
        /* Said once per process: fit and scoring both come through here. */
        static _Atomic int said = 0;
        if (rt->verbose && !said++) fprintf(stderr, "padim-gpu: no usable GPU (%s); using the CPU\n", padim_last_error());
    }
    if (rt->precision != PADIM_PRECISION_FP32 && rt->device == PADIM_DEVICE_CPU)
        return padim_fail(PADIM_ERR_ARG, "--precision other than fp32 applies to the CUDA backbone only");
    *ops = &padim_backend_cpu;
    return padim_backend_cpu.create(setup, ctx);
}

static void setup_from_model(const padim_model *m, const padim_runtime *rt, int max_batch,
                             backend_setup *s) {
    memset(s, 0, sizeof(*s));
    s->weights = &m->weights;
    s->S = m->S;
    s->H = m->H;
    s->W = m->W;
    s->D = m->D;
    s->idx = m->idx;
    s->max_batch = max_batch;
    s->sigma = m->cfg.sigma;
    s->pad_mode = m->cfg.preset == PADIM_PRESET_PAPER ? 1 : 0;
    s->rt = rt;
}

/* ---------------------------------------------------------------- parallel preprocessing */

/* The first failure (in image order) of a parallel loop, with its message: the message
 * is thread-local, so it is copied where it happened. */
typedef struct first_error {
    padim_status status;
    int64_t index;
    char message[2048];
} first_error;

static void first_error_record(first_error *e, int64_t i, padim_status st) {
#pragma omp critical(padim_first_error)
    if (e->status == PADIM_OK || i < e->index) {
        e->index = i;
        e->status = st;
        snprintf(e->message, sizeof(e->message), "%s", padim_last_error());
    }
}

padim_status padim_images_load(const char *const *paths, int64_t n, int threads, padim_image *out) {
    first_error err = {PADIM_OK, n, ""};
    memset(out, 0, (size_t)n * sizeof(padim_image));
#pragma omp parallel for schedule(dynamic, 1) num_threads(padim_thread_count(threads))
    for (int64_t i = 0; i < n; i++) {
        padim_status st = padim_image_load(paths[i], &out[i]);
        if (st != PADIM_OK) first_error_record(&err, i, st);
    }
    if (err.status != PADIM_OK) {
        for (int64_t i = 0; i < n; i++) padim_image_free(&out[i]);
        return padim_fail(err.status, "%s", err.message);
    }
    return PADIM_OK;
}

/* Decode (when paths) or take images, preprocess into x (n, 3, S, S), in parallel over
 * images: decoding first (all n), then preprocessing, so each stage can be timed. */
static padim_status preprocess_batch(const padim_config *cfg, const char *const *paths,
                                     const padim_image *images, int64_t n, int threads,
                                     padim_stage_times *times, float *x) {
    const int S = padim_config_input_size(cfg);
    const size_t plane = (size_t)3 * S * S;
    padim_image *decoded = NULL;
    const double t0 = padim_now();
    if (paths) {
        PADIM_TRY(padim_calloc((void **)&decoded, (size_t)n * sizeof(padim_image), "decoded images"));
        padim_status st = padim_images_load(paths, n, threads, decoded);
        if (st != PADIM_OK) {
            free(decoded);
            return st;
        }
    }
    const double t1 = padim_now();
    const padim_image *src = paths ? decoded : images;
    first_error err = {PADIM_OK, n, ""};
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        padim_status st = padim_preprocess(&src[i], cfg, x + (size_t)i * plane);
        if (st != PADIM_OK) {
            if (paths) padim_fail_context(st, "%s", paths[i]);
            else padim_fail_context(st, "image %lld", (long long)i);
            first_error_record(&err, i, st);
        }
    }
    const double t2 = padim_now();
    if (times) {
        times->decode += t1 - t0;
        times->preprocess += t2 - t1;
    }
    if (decoded) {
        for (int64_t i = 0; i < n; i++) padim_image_free(&decoded[i]);
        free(decoded);
    }
    if (err.status != PADIM_OK) return padim_fail(err.status, "%s", err.message);
    return PADIM_OK;
}

/* ---------------------------------------------------------------- fit */

static padim_status fit_internal(const padim_config *cfg, const padim_runtime *rt_in,
                                 const char *const *paths, const padim_image *images, int64_t n,
                                 padim_model **out) {
    *out = NULL;
    padim_runtime rt_default;
    padim_runtime_default(&rt_default);
    const padim_runtime *rt = rt_in ? rt_in : &rt_default;
    PADIM_TRY(padim_config_validate(cfg));
    if (n < 2)
        return padim_fail(PADIM_ERR_ARG,
                          "fit needs at least 2 training images, got %lld (the covariance is unbiased: "
                          "it divides by N - 1)", (long long)n);
    if (!cfg->weights[0])
        return padim_fail(PADIM_ERR_ARG, "no backbone weights given (config key 'weights' or --weights)");

    /* The batch is the runtime's (else the config's); the model records it as the
     * default batch of its scorers. */
    const int batch = padim_runtime_batch(rt, cfg);
    if (batch > PADIM_MAX_BATCH)
        return padim_fail(PADIM_ERR_ARG, "batch %d is too large (at most %d images)", batch, PADIM_MAX_BATCH);
    padim_model *m = NULL;
    PADIM_TRY(padim_model_alloc(cfg, &m));
    m->cfg.batch = batch;
    /* "random[:SEED]": seeded random weights, for benchmarks and tests without real ones. */
    padim_status st;
    if (!strncmp(cfg->weights, "random", 6) && (cfg->weights[6] == '\0' || cfg->weights[6] == ':'))
        st = bb_weights_random(cfg->backbone, cfg->weights[6] ? (uint32_t)strtoul(cfg->weights + 7, NULL, 10) : 0,
                               &m->weights);
    else
        st = bb_weights_load(cfg->weights, cfg->backbone, &m->weights);
    if (st == PADIM_OK) st = padim_sample_channels(cfg->seed, m->C, m->D, m->idx);
    const int threads = padim_thread_count(rt->threads);
    const int B = (int)(n < batch ? n : batch);
    const backend_ops *ops = NULL;
    void *ctx = NULL;
    float *x = NULL; /* (B, 3, S, S) */
    if (st == PADIM_OK) {
        backend_setup setup;
        setup_from_model(m, rt, B, &setup);
        st = backend_open(&setup, rt, &ops, &ctx);
    }
    if (st == PADIM_OK && rt->verbose) fprintf(stderr, "padim-gpu: fit on %s\n", ops->describe(ctx));
    if (st == PADIM_OK) st = padim_alloc_aligned((void **)&x, (size_t)B * 3 * m->S * m->S * sizeof(float), "input batch");
    if (st == PADIM_OK) st = ops->fit_begin(ctx);
    for (int64_t i = 0; st == PADIM_OK && i < n; i += B) {
        const int nb = (int)(n - i < B ? n - i : B);
        st = preprocess_batch(cfg, paths ? paths + i : NULL, images ? images + i : NULL, nb, threads, rt->times, x);
        if (st == PADIM_OK) st = ops->fit_batch(ctx, x, nb);
        if (st == PADIM_OK && rt->progress) rt->progress(rt->progress_user, "fit", i + nb, n);
    }
    if (st == PADIM_OK) st = ops->fit_end(ctx, cfg->eps, &m->n_train, m->mean, m->factor);
    if (ctx) ops->destroy(ctx);
    free(x);
    if (st != PADIM_OK) {
        padim_model_free(m);
        return st;
    }
    *out = m;
    return PADIM_OK;
}

padim_status padim_fit_files(const padim_config *cfg, const padim_runtime *rt, const char *const *paths,
                             int64_t n, padim_model **out) {
    return fit_internal(cfg, rt, paths, NULL, n, out);
}

padim_status padim_fit_images(const padim_config *cfg, const padim_runtime *rt, const padim_image *images,
                              int64_t n, padim_model **out) {
    return fit_internal(cfg, rt, NULL, images, n, out);
}

/* ---------------------------------------------------------------- scoring */

struct padim_scorer {
    const padim_model *m;
    padim_runtime rt;
    const backend_ops *ops;
    void *ctx;
    int batch;
    int threads;
    float *x; /* (batch, 3, S, S) */
};

padim_status padim_scorer_create(const padim_model *m, const padim_runtime *rt_in, padim_scorer **out) {
    *out = NULL;
    padim_scorer *s;
    PADIM_TRY(padim_calloc((void **)&s, sizeof(*s), "scorer"));
    if (rt_in) s->rt = *rt_in;
    else padim_runtime_default(&s->rt);
    s->m = m;
    s->batch = padim_runtime_batch(&s->rt, &m->cfg);
    s->threads = padim_thread_count(s->rt.threads);
    backend_setup setup;
    setup_from_model(m, &s->rt, s->batch, &setup);
    padim_status st = backend_open(&setup, &s->rt, &s->ops, &s->ctx);
    if (st == PADIM_OK) st = s->ops->set_stats(s->ctx, m->mean, m->factor);
    if (st == PADIM_OK)
        st = padim_alloc_aligned((void **)&s->x, (size_t)s->batch * 3 * m->S * m->S * sizeof(float), "input batch");
    if (st != PADIM_OK) {
        padim_scorer_free(s);
        return st;
    }
    *out = s;
    return PADIM_OK;
}

void padim_scorer_free(padim_scorer *s) {
    if (!s) return;
    if (s->ctx) s->ops->destroy(s->ctx);
    free(s->x);
    free(s);
}

const char *padim_scorer_backend(const padim_scorer *s) { return s->ops->describe(s->ctx); }

int padim_scorer_batch(const padim_scorer *s) { return s->batch; }

padim_status padim_score_images(padim_scorer *s, const padim_image *images, int64_t n, float *scores,
                                float *maps) {
    const size_t map_size = (size_t)s->m->S * s->m->S;
    for (int64_t i = 0; i < n; i += s->batch) {
        const int nb = (int)(n - i < s->batch ? n - i : s->batch);
        PADIM_TRY(preprocess_batch(&s->m->cfg, NULL, images + i, nb, s->threads, s->rt.times, s->x));
        PADIM_TRY(s->ops->score_batch(s->ctx, s->x, nb, scores + i, NULL, maps ? maps + (size_t)i * map_size : NULL));
        if (s->rt.progress) s->rt.progress(s->rt.progress_user, "score", i + nb, n);
    }
    return PADIM_OK;
}

/* ---------------------------------------------------------------- output helpers */

padim_status padim_model_input_rgb(const padim_model *m, const padim_image *img, float *rgb) {
    return padim_preprocess_rgb(img, &m->cfg, rgb);
}

padim_status padim_write_png(const char *path, int w, int h, int channels, const uint8_t *data) {
    return image_write_png(path, w, h, channels, data);
}

padim_status padim_write_tiff_f32(const char *path, int w, int h, const float *data) {
    return image_write_tiff_f32(path, w, h, data);
}

padim_status padim_write_tiff_f16(const char *path, int w, int h, const float *data) {
    return image_write_tiff_f16(path, w, h, data);
}
