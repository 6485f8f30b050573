/*
 * backend_cuda.c - the CUDA backend: backend.h's table on one NVIDIA GPU (src/host/cuda/).
 * A slim context composes the per-concern parts:
 *
 *   backbone     cuda_backbone.c: the cuDNN program (fp32, tf32, fp16 or bf16) ->
 *                float32 layer1..3 features.
 *   embedding    padim_k_embed (src/kernels/embed.cu) -> (N, P, D).
 *   fit          cuda_stats.c: streaming float64 sums over batches (memory independent of
 *                the number of images), then the batched Cholesky finalize; float64 by
 *                default, PADIM_CUDA_FACTOR=fp32 selects the float32 factorization.
 *   score        padim_k_mahalanobis (fused, packed factor) -> dist (N, P);
 *                padim_k_upsample_bilinear, padim_k_gaussian_blur, padim_k_map_max.
 *
 * Here: the library handles and the stream, the batch buffers of the embedding and the
 * scoring, the model statistics for scoring, stage timing.
 *
 * Memory: create() allocates everything that scales with the batch; if the device cannot
 * hold max_batch images the internal batch halves until it fits, and fit_batch /
 * score_batch go through their images in internal batches (the caller sees no
 * difference). fit_begin / set_stats allocate the model-sized arrays once (shrinking the
 * internal batch again if needed). The per-batch calls allocate nothing.
 * Environment switches (for tests and benchmarks): PADIM_CUDA_FACTOR=fp32,
 * PADIM_CUDA_UNFUSED=1 (never use the fused cuDNN call), PADIM_CUDA_REPORT=1 (print which
 * convolutions ran fused when the backend is destroyed); see cuda_backbone.h.
 */
#include "backend.h"
#include "common.h"
#include "cpu/ops.h"
#include "cuda_backbone.h"
#include "cuda_check.h"
#include "cuda_stats.h"
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ context */

/* The per-batch device buffers after the backbone (B images). */
typedef struct cuda_batch {
    float *emb;    /* (B, P, D) */
    float *dist;   /* (B, P) */
    float *maps;   /* (B, S, S) */
    float *tmp;    /* (B, S, S) blur scratch */
    float *scores; /* (B) */
} cuda_batch;

typedef struct cuda_ctx {
    backend_setup setup;
    int dev;
    char desc[320];
    backend_dims d; /* sizes; d.max_batch is what the caller may pass */
    int B;         /* internal batch the buffers hold (<= max_batch) */
    int factor_fp64;

    cudaStream_t stream;
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    cudnnHandle_t dnn;

    cuda_backbone bb;
    cuda_batch batch;
    int32_t *idx; /* (D) */
    float *gw;    /* (2 radius + 1) Gaussian weights */
    int radius;

    padim_cuda_fit fit;

    /* score */
    float *mean;   /* (P, D) */
    float *factor; /* (P, T) */
    int has_stats;

    /* stage timing (setup.rt->times) and device memory high-water mark */
    size_t free_at_start; /* cudaMemGetInfo free bytes before the backend allocated */
    double peak_used;     /* max over marks of free_at_start - free now */
} cuda_ctx;

/* Stage boundary: when the caller asked for stage times, wait for the stream and add the
 * seconds since *t to *counter (a sync per stage costs a little throughput; without
 * times nothing is synchronized). Also records the device memory high-water mark. */
static padim_stage_times *stage_times(const cuda_ctx *c) { return c->setup.rt ? c->setup.rt->times : NULL; }
static padim_status stage_mark(cuda_ctx *c, double *t, double *counter) {
    padim_stage_times *tm = stage_times(c);
    if (!tm) return PADIM_OK;
    GPU_CHECK(cudaStreamSynchronize(c->stream));
    const double now = padim_now();
    *counter += now - *t;
    *t = now;
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && c->free_at_start > free_b) {
        const double used = (double)(c->free_at_start - free_b);
        if (used > c->peak_used) c->peak_used = used;
        if (used > tm->device_peak_bytes) tm->device_peak_bytes = used;
    }
    return PADIM_OK;
}

static void cuda_batch_free(cuda_batch *b) {
    cuda_dev_free(&b->emb);
    cuda_dev_free(&b->dist);
    cuda_dev_free(&b->maps);
    cuda_dev_free(&b->tmp);
    cuda_dev_free(&b->scores);
}

/* For B images of P positions, D channels and S x S maps; the caller frees on failure. */
static padim_status cuda_batch_alloc(cuda_batch *b, int B, int P, int D, int S) {
    const size_t PD = (size_t)P * D, SS = (size_t)S * S;
    PADIM_TRY(cuda_dev_alloc((void **)&b->emb, (size_t)B * PD * sizeof(float), "embeddings"));
    PADIM_TRY(cuda_dev_alloc((void **)&b->dist, (size_t)B * P * sizeof(float), "distances"));
    PADIM_TRY(cuda_dev_alloc((void **)&b->maps, (size_t)B * SS * sizeof(float), "anomaly maps"));
    PADIM_TRY(cuda_dev_alloc((void **)&b->tmp, (size_t)B * SS * sizeof(float), "blur scratch"));
    PADIM_TRY(cuda_dev_alloc((void **)&b->scores, (size_t)B * sizeof(float), "scores"));
    return PADIM_OK;
}

static void free_batch_buffers(cuda_ctx *c) {
    cuda_backbone_free_batch(&c->bb);
    cuda_batch_free(&c->batch);
    c->B = 0;
}

static void cuda_destroy(void *p) {
    cuda_ctx *c = p;
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    free_batch_buffers(c);
    cuda_backbone_free(&c->bb);
    padim_cuda_fit_free(&c->fit);
    cuda_dev_free(&c->mean);
    cuda_dev_free(&c->factor);
    cuda_dev_free(&c->idx);
    cuda_dev_free(&c->gw);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->solver) cusolverDnDestroy(c->solver);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

/* x (n, 3, S, S) host -> embedding c->batch.emb (n, P, D) on the device. */
static padim_status forward_embed(cuda_ctx *c, const float *x, int n) {
    PADIM_ASSERT(n >= 1 && n <= c->B);
    PADIM_TRY(cuda_backbone_upload(&c->bb, x, n));
    padim_stage_times *tm = stage_times(c);
    double t = padim_now();
    const float *feat[3];
    PADIM_TRY(cuda_backbone_forward(&c->bb, n, feat));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->backbone));
    const bb_spec *sp = &c->bb.spec;
    GPU_CHECK(padim_k_embed(feat[0], feat[1], feat[2], n, sp->channels[0], sp->channels[1],
                            sp->channels[2], c->d.H, c->d.W, c->d.h2, c->d.h2, c->d.h3, c->d.h3, c->idx,
                            c->d.D, c->batch.emb, c->stream));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->embed));
    return PADIM_OK;
}

/* ------------------------------------------------------------------ allocation */

static padim_status alloc_batch_buffers(cuda_ctx *c, int B) {
    c->B = B;
    PADIM_TRY(cuda_batch_alloc(&c->batch, B, c->d.P, c->d.D, c->d.S));
    /* The backbone buffers and its cuDNN workspace come last. */
    return cuda_backbone_alloc_batch(&c->bb, B);
}

/* Allocate the batch buffers for the largest batch that fits, halving from `from`. */
static padim_status alloc_batch_adaptive(cuda_ctx *c, int from) {
    for (int B = from;; B = (B + 1) / 2) {
        free_batch_buffers(c);
        const padim_status st = alloc_batch_buffers(c, B);
        if (st == PADIM_OK) {
            if (B < c->d.max_batch && c->setup.rt && c->setup.rt->verbose)
                fprintf(stderr, "padim-gpu: cuda: device memory holds batches of %d images "
                        "(asked %d); batches are split\n", B, c->d.max_batch);
            return PADIM_OK;
        }
        if (st != PADIM_ERR_NOMEM || B == 1) {
            free_batch_buffers(c);
            return st;
        }
    }
}

/* Run alloc (model-sized arrays); on device OOM, halve the internal batch and retry. */
static padim_status alloc_with_shrink(cuda_ctx *c, padim_status (*alloc)(cuda_ctx *)) {
    for (;;) {
        const padim_status st = alloc(c);
        if (st != PADIM_ERR_NOMEM || c->B <= 1) return st;
        PADIM_TRY(alloc_batch_adaptive(c, c->B / 2));
    }
}

static padim_status alloc_fit(cuda_ctx *c) {
    return padim_cuda_fit_alloc(&c->fit, c->d.P, c->d.D, c->factor_fp64, c->stream);
}

static padim_status alloc_score(cuda_ctx *c) {
    padim_status st =
        cuda_dev_alloc((void **)&c->mean, (size_t)c->d.P * c->d.D * sizeof(float), "mean");
    if (st == PADIM_OK)
        st = cuda_dev_alloc((void **)&c->factor, (size_t)c->d.P * (size_t)c->d.T * sizeof(float),
                            "precision factor (P, D(D+1)/2)");
    if (st != PADIM_OK) {
        cuda_dev_free(&c->mean);
        cuda_dev_free(&c->factor);
    }
    return st;
}

/* ------------------------------------------------------------------ create */

static padim_status create_inner(cuda_ctx *c, const backend_setup *s) {
    const padim_precision prec = s->rt ? s->rt->precision : PADIM_PRECISION_FP32;
    const char *prec_name = cuda_backbone_precision_name(prec);
    if (!prec_name)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: unknown precision %d (expected fp32, "
                          "tf32, fp16 or bf16)", (int)prec);
    const char *env = getenv("PADIM_CUDA_FACTOR");
    c->factor_fp64 = !(env && strcmp(env, "fp32") == 0);

    /* Device first: without a working GPU no library handle is created. */
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return padim_fail(PADIM_ERR_DEVICE, "no CUDA device found (cudaGetDeviceCount: %s); use --device cpu or auto",
                          e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
    }
    c->dev = s->rt ? s->rt->gpu : 0;
    if (c->dev < 0 || c->dev >= count)
        return padim_fail(PADIM_ERR_DEVICE, "--gpu %d: this machine has %d CUDA device%s (0..%d)",
                          c->dev, count, count == 1 ? "" : "s", count - 1);
    GPU_CHECK(cudaSetDevice(c->dev));
    size_t total_b = 0;
    GPU_CHECK(cudaMemGetInfo(&c->free_at_start, &total_b));
    struct cudaDeviceProp prop;
    GPU_CHECK(cudaGetDeviceProperties(&prop, c->dev));
    if (prec == PADIM_PRECISION_BF16 && prop.major < 8)
        return padim_fail(PADIM_ERR_ARG, "--precision bf16 needs a GPU of compute capability 8.0 "
                          "or newer; cuda:%d %s is %d.%d (use fp16 or fp32)", c->dev, prop.name,
                          prop.major, prop.minor);
    snprintf(c->desc, sizeof(c->desc), "cuda:%d %s (%s)", c->dev, prop.name, prec_name);

    GPU_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    GPU_CHECK(cublasCreate(&c->blas));
    GPU_CHECK(cublasSetStream(c->blas, c->stream));
    /* Plain float32 GEMMs (no TF32) for the statistics. */
    GPU_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    GPU_CHECK(cusolverDnCreate(&c->solver));
    GPU_CHECK(cusolverDnSetStream(c->solver, c->stream));
    GPU_CHECK(cudnnCreate(&c->dnn));
    GPU_CHECK(cudnnSetStream(c->dnn, c->stream));

    PADIM_TRY(cuda_backbone_create(&c->bb, s->weights, c->d.S, prec,
                                   s->rt ? s->rt->verbose : 0, c->dnn, c->stream));

    PADIM_TRY(cuda_dev_alloc((void **)&c->idx, (size_t)c->d.D * sizeof(int32_t), "channel indices"));
    GPU_CHECK(cudaMemcpy(c->idx, s->idx, (size_t)c->d.D * sizeof(int32_t), cudaMemcpyHostToDevice));
    c->radius = padim_gaussian_weights(s->sigma, NULL);
    const size_t K = (size_t)(2 * c->radius + 1);
    float *gw_host;
    PADIM_TRY(padim_alloc((void **)&gw_host, K * sizeof(float), "Gaussian weights"));
    padim_gaussian_weights(s->sigma, gw_host);
    padim_status st = cuda_dev_alloc((void **)&c->gw, K * sizeof(float), "Gaussian weights");
    if (st == PADIM_OK && cudaMemcpy(c->gw, gw_host, K * sizeof(float), cudaMemcpyHostToDevice) !=
                              cudaSuccess)
        st = padim_fail(PADIM_ERR_DEVICE, "cannot copy the Gaussian weights to the device");
    free(gw_host);
    PADIM_TRY(st);

    PADIM_TRY(alloc_batch_adaptive(c, c->d.max_batch));
    /* The plain cudaMemcpy calls above (idx, Gaussian weights, fp32 backbone parameters) run
     * on the legacy default stream, which c->stream (non-blocking) does not wait for, and a
     * pageable host-to-device cudaMemcpy may return before its DMA has landed: wait for the
     * whole device, not only c->stream. */
    GPU_CHECK(cudaDeviceSynchronize());
    return PADIM_OK;
}

static padim_status cuda_create(const backend_setup *s, void **out) {
    *out = NULL;
    if (s->max_batch < 1 || s->D < 1 || s->S < 1)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: max_batch %d, D %d, S %d must be >= 1",
                          s->max_batch, s->D, s->S);
    cuda_ctx *c;
    PADIM_TRY(padim_calloc((void **)&c, sizeof(*c), "CUDA backend context"));
    c->setup = *s;
    c->d = backend_dims_of(s);
    const padim_status st = create_inner(c, s);
    if (st != PADIM_OK) {
        cuda_destroy(c);
        return st;
    }
    *out = c;
    return PADIM_OK;
}

static const char *cuda_describe(void *p) { return ((cuda_ctx *)p)->desc; }

/* ------------------------------------------------------------------ fit */

static padim_status cuda_fit_begin(void *p) {
    cuda_ctx *c = p;
    if (!c->fit.s2) PADIM_TRY(alloc_with_shrink(c, alloc_fit));
    return padim_cuda_fit_reset(&c->fit, c->stream);
}

static padim_status fit_sub_batch(cuda_ctx *c, const float *x, int n) {
    PADIM_TRY(forward_embed(c, x, n));
    double t = padim_now();
    PADIM_TRY(padim_cuda_fit_add(&c->fit, c->blas, c->stream, c->batch.emb, n));
    if (stage_times(c)) PADIM_TRY(stage_mark(c, &t, &stage_times(c)->stats));
    return PADIM_OK;
}

static padim_status cuda_fit_batch(void *p, const float *x, int n) {
    cuda_ctx *c = p;
    if (!c->fit.s2) return padim_fail(PADIM_ERR_ARG, "cuda backend: fit_batch before fit_begin");
    if (n < 1 || n > c->d.max_batch)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: batch of %d images, expected 1..%d", n,
                          c->d.max_batch);
    const size_t img = (size_t)3 * c->d.S * c->d.S;
    for (int off = 0; off < n; off += c->B)
        PADIM_TRY(fit_sub_batch(c, x + (size_t)off * img, n - off < c->B ? n - off : c->B));
    return PADIM_OK;
}

static padim_status cuda_fit_end(void *p, double eps, int64_t *n_total, float *mean,
                                 float *factor) {
    cuda_ctx *c = p;
    *n_total = c->fit.n_seen;
    if (c->fit.n_seen < 2)
        return padim_fail(PADIM_ERR_ARG, "fit needs at least 2 training images, got %lld (the "
                          "covariance is unbiased: it divides by N - 1)", (long long)c->fit.n_seen);
    /* c->batch.emb (>= P*D floats) serves as the device scratch of the mean. */
    double t = padim_now();
    const padim_status st = padim_cuda_fit_finalize(&c->fit, c->blas, c->solver, c->stream, eps,
                                                    c->batch.emb, mean, factor);
    if (st != PADIM_OK) return padim_fail_context(st, "grid %dx%d", c->d.H, c->d.W);
    if (stage_times(c)) PADIM_TRY(stage_mark(c, &t, &stage_times(c)->factor));
    return PADIM_OK;
}

/* ------------------------------------------------------------------ score */

static padim_status cuda_set_stats(void *p, const float *mean, const float *factor) {
    cuda_ctx *c = p;
    if (!c->factor) PADIM_TRY(alloc_with_shrink(c, alloc_score));
    /* On c->stream: a plain cudaMemcpy would go to the legacy default stream, which the
     * non-blocking c->stream does not wait for (the scoring kernels could read a factor whose
     * last pageable chunk is still in flight). */
    GPU_CHECK(cudaMemcpyAsync(c->mean, mean, (size_t)c->d.P * c->d.D * sizeof(float),
                              cudaMemcpyHostToDevice, c->stream));
    GPU_CHECK(cudaMemcpyAsync(c->factor, factor, (size_t)c->d.P * (size_t)c->d.T * sizeof(float),
                              cudaMemcpyHostToDevice, c->stream));
    GPU_CHECK(cudaStreamSynchronize(c->stream));
    c->has_stats = 1;
    return PADIM_OK;
}

static padim_status score_sub_batch(cuda_ctx *c, const float *x, int n, float *scores,
                                    float *dist, float *maps) {
    PADIM_TRY(forward_embed(c, x, n));
    const cuda_batch *b = &c->batch;
    padim_stage_times *tm = stage_times(c);
    double t = padim_now();
    GPU_CHECK(padim_k_mahalanobis(b->emb, n, c->d.P, c->d.D, c->mean, c->factor, b->dist, c->stream));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->mahalanobis));
    GPU_CHECK(padim_k_upsample_bilinear(b->dist, n, c->d.H, c->d.W, c->d.S, b->maps, c->stream));
    GPU_CHECK(padim_k_gaussian_blur(b->maps, b->tmp, n, c->d.S, c->gw, c->radius,
                                    c->setup.pad_mode, c->stream));
    GPU_CHECK(padim_k_map_max(b->maps, n, c->d.S, b->scores, c->stream));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->map));
    GPU_CHECK(cudaMemcpyAsync(scores, b->scores, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost,
                              c->stream));
    if (dist)
        GPU_CHECK(cudaMemcpyAsync(dist, b->dist, (size_t)n * c->d.P * sizeof(float),
                                  cudaMemcpyDeviceToHost, c->stream));
    if (maps)
        GPU_CHECK(cudaMemcpyAsync(maps, b->maps, (size_t)n * c->d.S * c->d.S * sizeof(float),
                                  cudaMemcpyDeviceToHost, c->stream));
    GPU_CHECK(cudaStreamSynchronize(c->stream));
    return PADIM_OK;
}

static padim_status cuda_score_batch(void *p, const float *x, int n, float *scores, float *dist,
                                     float *maps) {
    cuda_ctx *c = p;
    if (!c->has_stats) return padim_fail(PADIM_ERR_ARG, "cuda backend: score_batch before set_stats");
    if (n < 1 || n > c->d.max_batch)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: batch of %d images, expected 1..%d", n,
                          c->d.max_batch);
    const size_t img = (size_t)3 * c->d.S * c->d.S, SS = (size_t)c->d.S * c->d.S;
    for (int off = 0; off < n; off += c->B) {
        const int nb = n - off < c->B ? n - off : c->B;
        PADIM_TRY(score_sub_batch(c, x + (size_t)off * img, nb, scores + off,
                                  dist ? dist + (size_t)off * c->d.P : NULL,
                                  maps ? maps + (size_t)off * SS : NULL));
    }
    return PADIM_OK;
}

static const backend_ops cuda_ops = {
    .name = "cuda",
    .create = cuda_create,
    .destroy = cuda_destroy,
    .describe = cuda_describe,
    .fit_begin = cuda_fit_begin,
    .fit_batch = cuda_fit_batch,
    .fit_end = cuda_fit_end,
    .set_stats = cuda_set_stats,
    .score_batch = cuda_score_batch,
};

const backend_ops *padim_backend_cuda(void) { return &cuda_ops; }
