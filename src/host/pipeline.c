/*
 * pipeline.c - the pipeline behind padim.h: backend selection, fit over files (decode and
 * preprocess in parallel, batch by batch, into the backend's streaming statistics) and
 * scoring sessions. Talks to backends only through backend.h.
 */
#include "backend.h"
#include "batch_pipe.h"
#include "common.h"
#include "image.h"
#include "padim_internal.h"
#include "rng.h"

#include <pthread.h>
#include <stdatomic.h>
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
    if (rt->precision != PADIM_PRECISION_FP32 && rt->precision != PADIM_PRECISION_BF16)
        return padim_fail(PADIM_ERR_ARG, "--precision %s applies to the CUDA backbone only; the CPU backbone "
                          "has fp32 (exact, the default) and bf16 (AVX512-BF16 or AMX processors)",
                          rt->precision == PADIM_PRECISION_TF32 ? "tf32" : "fp16");
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

padim_status padim_images_load_ex(const char *const *paths, int64_t n, int threads,
                                  const padim_decode_options *opt_in, padim_image *out) {
    padim_decode_options opt;
    padim_decode_options_resolve(NULL, NULL, &opt);
    if (opt_in && opt_in->max_pixels > 0) opt.max_pixels = opt_in->max_pixels;
    if (opt_in && opt_in->max_batch_bytes > 0) opt.max_batch_bytes = opt_in->max_batch_bytes;
    first_error err = {PADIM_OK, n, ""};
    memset(out, 0, (size_t)n * sizeof(padim_image));
    /* Every output is held until return: the batch's bytes are reserved from the header,
     * before decoding, and a batch that would exceed the budget fails. */
    _Atomic int64_t used = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(padim_thread_count(threads))
    for (int64_t i = 0; i < n; i++) {
        image_reader *r = NULL;
        image_header hdr;
        padim_status st = image_reader_open(paths[i], &opt, &r, &hdr);
        if (st == PADIM_OK) {
            const int64_t bytes = (int64_t)hdr.width * hdr.height * hdr.channels;
            const int64_t total = atomic_fetch_add(&used, bytes) + bytes;
            if (total > opt.max_batch_bytes)
                st = padim_fail(PADIM_ERR_NOMEM, "%s: %dx%d image (%d channels, %lld bytes decoded) takes this "
                                "batch of %lld images above max_batch_bytes = %lld bytes; decode fewer images "
                                "at once (smaller batch) or raise max_batch_bytes", paths[i], hdr.width,
                                hdr.height, hdr.channels, (long long)bytes, (long long)n,
                                (long long)opt.max_batch_bytes);
        }
        if (st == PADIM_OK) st = image_reader_decode(r, &out[i]);
        image_reader_close(r);
        if (st != PADIM_OK) first_error_record(&err, i, st);
    }
    if (err.status != PADIM_OK) {
        for (int64_t i = 0; i < n; i++) padim_image_free(&out[i]);
        return padim_fail(err.status, "%s", err.message);
    }
    return PADIM_OK;
}

padim_status padim_images_load(const char *const *paths, int64_t n, int threads, padim_image *out) {
    return padim_images_load_ex(paths, n, threads, NULL, out);
}

/* Bytes held at once (decoded image + preprocessing memory) by the threads of a decode +
 * preprocess loop. A thread waits while others hold bytes and its image does not fit
 * beside them; an image alone always gets the budget, so the loop never deadlocks (each
 * thread holds at most one reservation, and holders never wait). */
typedef struct decode_budget {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t limit, used;
} decode_budget;

static void budget_acquire(decode_budget *b, int64_t bytes) {
    pthread_mutex_lock(&b->mu);
    while (b->used > 0 && b->used + bytes > b->limit) pthread_cond_wait(&b->cv, &b->mu);
    b->used += bytes;
    pthread_mutex_unlock(&b->mu);
}

static void budget_release(decode_budget *b, int64_t bytes) {
    pthread_mutex_lock(&b->mu);
    b->used -= bytes;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Decode file i and preprocess it into x_i (3, S, S), holding its pixels only meanwhile;
 * seconds spent in each step are added to *t_decode, *t_pre. */
static padim_status decode_preprocess_one(const padim_config *cfg, const char *path,
                                          const padim_decode_options *opt, decode_budget *budget,
                                          float *x_i, int *size, double *t_decode, double *t_pre) {
    const double t0 = padim_now();
    image_reader *r = NULL;
    image_header hdr;
    padim_image img = {0};
    PADIM_TRY(image_reader_open(path, opt, &r, &hdr));
    const int64_t bytes = (int64_t)hdr.width * hdr.height * hdr.channels + padim_preprocess_bytes(hdr.width, hdr.height, cfg);
    budget_acquire(budget, bytes);
    padim_status st = image_reader_decode(r, &img);
    image_reader_close(r);
    const double t1 = padim_now();
    if (st == PADIM_OK) {
        st = padim_preprocess(&img, cfg, x_i);
        if (st != PADIM_OK) padim_fail_context(st, "%s", path);
    }
    if (size) {
        size[0] = img.width;
        size[1] = img.height;
    }
    padim_image_free(&img);
    budget_release(budget, bytes);
    *t_decode += t1 - t0;
    *t_pre += padim_now() - t1;
    return st;
}

/* Preprocess n images into x (n, 3, S, S), in parallel over images. From paths, each
 * thread decodes and preprocesses one image at a time, so decoded pixels in memory are
 * bounded by the threads and opt->max_batch_bytes, not by n. The wall time is split
 * between times->decode and times->preprocess in proportion of the threads' seconds in
 * each. sizes: NULL or (n, 2) width, height of each decoded file. */
static padim_status preprocess_batch(const padim_config *cfg, const char *const *paths,
                                     const padim_image *images, int64_t n, int threads,
                                     const padim_decode_options *opt, padim_stage_times *times,
                                     float *x, int *sizes) {
    const int S = padim_config_input_size(cfg);
    const size_t plane = (size_t)3 * S * S;
    const double t0 = padim_now();
    double t_decode = 0, t_pre = 0;
    first_error err = {PADIM_OK, n, ""};
    decode_budget budget;
    budget.limit = opt ? opt->max_batch_bytes : 0;
    budget.used = 0;
    if (pthread_mutex_init(&budget.mu, NULL) != 0 || pthread_cond_init(&budget.cv, NULL) != 0)
        return padim_fail(PADIM_ERR_NOMEM, "cannot create the decoding budget's mutex");
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(+ : t_decode, t_pre)
    for (int64_t i = 0; i < n; i++) {
        padim_status st;
        if (paths) {
            st = decode_preprocess_one(cfg, paths[i], opt, &budget, x + (size_t)i * plane,
                                       sizes ? sizes + 2 * i : NULL, &t_decode, &t_pre);
        } else {
            const double t1 = padim_now();
            st = padim_preprocess(&images[i], cfg, x + (size_t)i * plane);
            if (st != PADIM_OK) padim_fail_context(st, "image %lld", (long long)i);
            t_pre += padim_now() - t1;
        }
        if (st != PADIM_OK) first_error_record(&err, i, st);
    }
    pthread_cond_destroy(&budget.cv);
    pthread_mutex_destroy(&budget.mu);
    if (times) {
        const double wall = padim_now() - t0, busy = t_decode + t_pre;
        const double f = busy > 0 ? t_decode / busy : 0;
        times->decode += wall * f;
        times->preprocess += wall * (1 - f);
    }
    if (err.status != PADIM_OK) return padim_fail(err.status, "%s", err.message);
    return PADIM_OK;
}

/* ---------------------------------------------------------------- fit */

/* ---------------------------------------------------------------- overlapped batches */

/* Decode + preprocess of batch k + 1 on a second thread while the backend runs batch k
 * (batch_pipe.h; batch_pipe_overlap says when, PADIM_OVERLAP=0 turns it off). */

typedef struct batch_job {
    const padim_config *cfg;
    const char *const *paths;   /* or images */
    const padim_image *images;
    int64_t n;
    int B, threads;
    const padim_decode_options *dopt;
    padim_stage_times *times;
    float *x[2];
    int *sizes;                 /* (n, 2) or NULL */
    /* consumer */
    const backend_ops *ops;
    void *ctx;
    float *scores, *maps;       /* score: (n), (n, S*S) or NULL; fit: NULL */
    size_t map_size;
    const padim_runtime *rt;
    const char *stage;          /* progress: "fit" or "score" */
} batch_job;

static int job_nb(const batch_job *j, int64_t k) {
    const int64_t i = k * j->B;
    return (int)(j->n - i < j->B ? j->n - i : j->B);
}

static padim_status job_produce(void *u, int64_t k, int slot) {
    batch_job *j = u;
    const int64_t i = k * j->B;
    return preprocess_batch(j->cfg, j->paths ? j->paths + i : NULL, j->images ? j->images + i : NULL, job_nb(j, k),
                            j->threads, j->dopt, j->times, j->x[slot], j->sizes ? j->sizes + 2 * i : NULL);
}

static padim_status job_consume(void *u, int64_t k, int slot) {
    batch_job *j = u;
    const int64_t i = k * j->B;
    const int nb = job_nb(j, k);
    if (j->scores)
        PADIM_TRY(j->ops->score_batch(j->ctx, j->x[slot], nb, j->scores + i, NULL,
                                      j->maps ? j->maps + (size_t)i * j->map_size : NULL));
    else
        PADIM_TRY(j->ops->fit_batch(j->ctx, j->x[slot], nb));
    if (j->rt->progress) j->rt->progress(j->rt->progress_user, j->stage, i + nb, j->n);
    return PADIM_OK;
}

static padim_status job_run(batch_job *j) {
    const int64_t nbat = (j->n + j->B - 1) / j->B;
    return batch_pipe_run(nbat, job_produce, job_consume, j, batch_pipe_overlap(nbat) && j->x[1] != NULL);
}

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
    padim_decode_options dopt;
    padim_decode_options_resolve(rt, cfg, &dopt);
    const backend_ops *ops = NULL;
    void *ctx = NULL;
    float *x = NULL, *x2 = NULL; /* (B, 3, S, S) each: the batch in the backend, the next one */
    if (st == PADIM_OK) {
        backend_setup setup;
        setup_from_model(m, rt, B, &setup);
        st = backend_open(&setup, rt, &ops, &ctx);
    }
    if (st == PADIM_OK && rt->verbose) fprintf(stderr, "padim-gpu: fit on %s\n", ops->describe(ctx));
    if (st == PADIM_OK) st = padim_alloc_aligned((void **)&x, (size_t)B * 3 * m->S * m->S * sizeof(float), "input batch");
    if (st == PADIM_OK && batch_pipe_overlap((n + B - 1) / B))
        st = padim_alloc_aligned((void **)&x2, (size_t)B * 3 * m->S * m->S * sizeof(float), "next input batch");
    if (st == PADIM_OK) st = ops->fit_begin(ctx);
    if (st == PADIM_OK) {
        batch_job j = {.cfg = cfg, .paths = paths, .images = images, .n = n, .B = B, .threads = threads,
                       .dopt = &dopt, .times = rt->times, .x = {x, x2}, .ops = ops, .ctx = ctx, .rt = rt,
                       .stage = "fit"};
        st = job_run(&j);
    }
    if (st == PADIM_OK) st = ops->fit_end(ctx, cfg->eps, &m->n_train, m->mean, m->factor);
    if (ctx) ops->destroy(ctx);
    free(x);
    free(x2);
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
    float *x;  /* (batch, 3, S, S) */
    float *x2; /* the next batch while x is scored (made on first use) */
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
    free(s->x2);
    free(s);
}

const char *padim_scorer_backend(const padim_scorer *s) { return s->ops->describe(s->ctx); }

int padim_scorer_batch(const padim_scorer *s) { return s->batch; }

/* Scoring of n images or files, batch by batch, overlapped (job_run). */
static padim_status score_run(padim_scorer *s, const char *const *paths, const padim_image *images, int64_t n,
                              int *sizes, float *scores, float *maps) {
    padim_decode_options dopt;
    padim_decode_options_resolve(&s->rt, &s->m->cfg, &dopt);
    if (!s->x2 && batch_pipe_overlap((n + s->batch - 1) / s->batch))
        PADIM_TRY(padim_alloc_aligned((void **)&s->x2, (size_t)s->batch * 3 * s->m->S * s->m->S * sizeof(float),
                                      "next input batch"));
    batch_job j = {.cfg = &s->m->cfg, .paths = paths, .images = images, .n = n, .B = s->batch,
                   .threads = s->threads, .dopt = paths ? &dopt : NULL, .times = s->rt.times, .x = {s->x, s->x2},
                   .sizes = sizes, .ops = s->ops, .ctx = s->ctx, .scores = scores, .maps = maps,
                   .map_size = (size_t)s->m->S * s->m->S, .rt = &s->rt, .stage = "score"};
    return job_run(&j);
}

padim_status padim_score_images(padim_scorer *s, const padim_image *images, int64_t n, float *scores,
                                float *maps) {
    return score_run(s, NULL, images, n, NULL, scores, maps);
}

padim_status pipeline_score_files(padim_scorer *s, const char *const *paths, int64_t n, int *sizes,
                                  float *scores, float *maps) {
    return score_run(s, paths, NULL, n, sizes, scores, maps);
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
