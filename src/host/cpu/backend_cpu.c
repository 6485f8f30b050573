/*
 * backend_cpu.c - the CPU backend: the reference implementation of backend.h, built from
 * bb_forward_cpu (backbone_cpu.c) and the ops of ops.h (ops_cpu.c, mahalanobis_cpu.c).
 * All buffers are allocated in create() for setup->max_batch images; the per-batch calls
 * allocate nothing but the backbone's bounded scratch.
 */
#include "backend.h"
#include "common.h"
#include "backbone_cpu.h"
#include "backbone_dnnl.h"
#include "ops.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct cpu_ctx {
    backend_setup setup;
    const bb_weights *w;
    int threads;
    bb_dnnl_net *dnnl;  /* the oneDNN backbone, or NULL: im2col + OpenBLAS (bb_forward_cpu_ex) */
    bb_cpu_prep prep;   /* Winograd filters of the im2col path (none: the pure reference) */
    backend_dims d; /* sizes; d.max_batch is what the caller may pass */
    float *l1, *l2, *l3; /* (B, C1, H, W), (B, C2, h2, h2), (B, C3, h3, h3) */
    float *emb;          /* (B, P, D) */
    float *up;           /* (B, S, S) maps */
    /* fit */
    int64_t n_seen;
    float *shift;        /* (P, D) first image's embedding */
    double *s1;          /* (P, D) */
    double *s2;          /* (P, T) */
    /* score: the model's arrays, borrowed (the model outlives the scorer) */
    const float *mean;   /* (P, D) */
    const float *factor; /* (P, T) */
    float *dist;         /* (B, P) */
    char desc[64];
} cpu_ctx;

static void cpu_destroy(void *p) {
    cpu_ctx *c = p;
    if (!c) return;
    bb_dnnl_destroy(c->dnnl);
    bb_cpu_prep_free(&c->prep);
    free(c->l1);
    free(c->l2);
    free(c->l3);
    free(c->emb);
    free(c->up);
    free(c->shift);
    free(c->s1);
    free(c->s2);
    free(c->dist);
    free(c);
}

static padim_status cpu_create(const backend_setup *s, void **out) {
    cpu_ctx *c;
    PADIM_TRY(padim_calloc((void **)&c, sizeof(*c), "CPU backend context"));
    c->setup = *s;
    c->w = s->weights;
    c->threads = padim_thread_count(s->rt ? s->rt->threads : 0);
    c->d = backend_dims_of(s);
    const bb_spec *sp = &c->w->spec;
    const size_t B = (size_t)s->max_batch;
    padim_status st = PADIM_OK;
    /* touched now: the embeddings alone are 144 MB for WRN50 at batch 16 */
#define ALLOC(ptr, count, what)                                                      \
    if (st == PADIM_OK) st = padim_alloc_aligned_touched((void **)&c->ptr, (count) * sizeof(*c->ptr), what)
    ALLOC(l1, B * sp->channels[0] * c->d.P, "layer1 features");
    ALLOC(l2, B * sp->channels[1] * c->d.h2 * c->d.h2, "layer2 features");
    ALLOC(l3, B * sp->channels[2] * c->d.h3 * c->d.h3, "layer3 features");
    ALLOC(emb, B * c->d.P * c->d.D, "embeddings");
    ALLOC(up, B * c->d.S * c->d.S, "anomaly maps");
    ALLOC(dist, B * c->d.P, "distance maps");
#undef ALLOC
    if (st != PADIM_OK) {
        cpu_destroy(c);
        return st;
    }
    /* The backbone (PADIM_CPU_BACKBONE, README "CPU backbone"): dnnl = oneDNN (the default
     * where built); wino = im2col + OpenBLAS with Winograd for the wide 3x3 convs (the default
     * without oneDNN); gemm = im2col + OpenBLAS everywhere (the reference). bf16 only through
     * oneDNN, on processors with bf16 dot products. */
    const int bf16 = s->rt && s->rt->precision == PADIM_PRECISION_BF16;
    const char *pick = getenv("PADIM_CPU_BACKBONE");
    if (pick && !*pick) pick = NULL;
    const int want_dnnl = pick ? !strcmp(pick, "dnnl") : bb_dnnl_available() || bf16;
    if (pick && strcmp(pick, "dnnl") && strcmp(pick, "gemm") && strcmp(pick, "wino"))
        st = padim_fail(PADIM_ERR_ARG, "PADIM_CPU_BACKBONE is '%s': expected dnnl, wino or gemm", pick);
    else if (bf16 && !want_dnnl)
        st = padim_fail(PADIM_ERR_ARG, "--precision bf16 needs the oneDNN backbone (PADIM_CPU_BACKBONE=%s is set)", pick);
    else if (want_dnnl) {
        st = bb_dnnl_create(c->w, c->d.S, c->threads, bf16, &c->dnnl);
        if (st == PADIM_OK) st = bb_dnnl_prepare(c->dnnl, s->max_batch); /* now, not in the first batch */
    } else if (!pick || !strcmp(pick, "wino"))
        st = bb_cpu_prep_make(c->w, BB_WINOGRAD_MIN_CHANNELS, &c->prep);
    if (st != PADIM_OK) {
        cpu_destroy(c);
        return st;
    }
    int n_wino = 0;
    for (int i = 0; i < BB_MAX_CONVS; i++) n_wino += c->prep.U[i] != NULL;
    snprintf(c->desc, sizeof(c->desc), "cpu (%d threads, %s%s)", c->threads,
             c->dnnl ? "oneDNN " : n_wino ? "OpenBLAS + Winograd" : "OpenBLAS", c->dnnl ? bb_dnnl_isa() : "");
    if (bf16) strncat(c->desc, ", bf16", sizeof(c->desc) - strlen(c->desc) - 1);
    *out = c;
    return PADIM_OK;
}

static const char *cpu_describe(void *p) { return ((cpu_ctx *)p)->desc; }

const char *padim_cpu_backbone(void) {
    static _Thread_local char desc[96];
    if (bb_dnnl_available())
        snprintf(desc, sizeof(desc), "oneDNN (%s%s)", bb_dnnl_isa(), bb_dnnl_has_bf16() ? ", bf16" : "");
    else
        snprintf(desc, sizeof(desc), "OpenBLAS im2col + Winograd (built without oneDNN)");
    return desc;
}

/* Stage timing: add the seconds since *t to the runtime's counter (when requested). */
static padim_stage_times *times_of(const cpu_ctx *c) { return c->setup.rt ? c->setup.rt->times : NULL; }
static void lap(const cpu_ctx *c, double *t, double *counter) {
    if (!times_of(c)) return;
    double now = padim_now();
    *counter += now - *t;
    *t = now;
}

/* Backbone + embedding of a batch into c->emb (n, P, D). */
static padim_status cpu_embed(cpu_ctx *c, const float *x, int n) {
    PADIM_ASSERT(n >= 1 && n <= c->d.max_batch);
    const bb_spec *sp = &c->w->spec;
    padim_stage_times *tm = times_of(c);
    double t = padim_now();
    if (c->dnnl)
        PADIM_TRY(bb_dnnl_forward(c->dnnl, x, n, c->l1, c->l2, c->l3));
    else
        PADIM_TRY(bb_forward_cpu_ex(c->w, &c->prep, x, n, c->d.S, c->threads, c->l1, c->l2, c->l3));
    if (tm) lap(c, &t, &tm->backbone);
    op_embed_cpu(c->l1, c->l2, c->l3, n, sp->channels[0], sp->channels[1], sp->channels[2], c->d.H,
                 c->d.W, c->d.h2, c->d.h2, c->d.h3, c->d.h3, c->setup.idx, c->d.D, c->emb, c->threads);
    if (tm) lap(c, &t, &tm->embed);
    return PADIM_OK;
}

static padim_status cpu_fit_begin(void *p) {
    cpu_ctx *c = p;
    c->n_seen = 0;
    if (!c->s1) {
        /* The accumulators are the only fit-time memory besides one batch: constant in
         * the number of images. */
        PADIM_TRY(padim_alloc_aligned((void **)&c->shift, (size_t)c->d.P * c->d.D * sizeof(float), "fit shift"));
        PADIM_TRY(padim_alloc_aligned((void **)&c->s1, (size_t)c->d.P * c->d.D * sizeof(double), "fit sums"));
        PADIM_TRY(padim_alloc_aligned((void **)&c->s2, (size_t)c->d.P * (size_t)c->d.T * sizeof(double),
                                      "fit second moments"));
    }
    memset(c->s1, 0, (size_t)c->d.P * c->d.D * sizeof(double));
    memset(c->s2, 0, (size_t)c->d.P * (size_t)c->d.T * sizeof(double));
    return PADIM_OK;
}

static padim_status cpu_fit_batch(void *p, const float *x, int n) {
    cpu_ctx *c = p;
    PADIM_TRY(cpu_embed(c, x, n));
    double t = padim_now();
    if (c->n_seen == 0) /* shift = first image's embedding, (P, D) */
        memcpy(c->shift, c->emb, (size_t)c->d.P * c->d.D * sizeof(float));
    op_stats_accumulate_cpu(c->emb, n, c->d.P, c->d.D, c->shift, c->s1, c->s2, c->threads);
    if (times_of(c)) lap(c, &t, &times_of(c)->stats);
    c->n_seen += n;
    return PADIM_OK;
}

static padim_status cpu_fit_end(void *p, double eps, int64_t *n_total, float *mean, float *factor) {
    cpu_ctx *c = p;
    *n_total = c->n_seen;
    if (c->n_seen < 2)
        return padim_fail(PADIM_ERR_ARG, "fit needs at least 2 training images, got %lld (the covariance is "
                          "unbiased: it divides by N - 1)", (long long)c->n_seen);
    double t = padim_now();
    padim_status st = op_stats_finalize_cpu(c->n_seen, c->d.P, c->d.D, c->shift, c->s1, c->s2, eps, mean,
                                            factor, c->threads);
    if (times_of(c)) lap(c, &t, &times_of(c)->factor);
    if (st != PADIM_OK) return padim_fail_context(st, "grid %dx%d", c->d.H, c->d.W);
    return PADIM_OK;
}

static padim_status cpu_set_stats(void *p, const float *mean, const float *factor) {
    cpu_ctx *c = p;
    c->mean = mean;
    c->factor = factor;
    return PADIM_OK;
}

static padim_status cpu_score_batch(void *p, const float *x, int n, float *scores, float *dist,
                                    float *maps) {
    cpu_ctx *c = p;
    PADIM_ASSERT(c->mean && c->factor);
    PADIM_TRY(cpu_embed(c, x, n));
    padim_stage_times *tm = times_of(c);
    double t = padim_now();
    op_mahalanobis_cpu(c->emb, n, c->d.P, c->d.D, c->mean, c->factor, c->dist, c->threads);
    if (tm) lap(c, &t, &tm->mahalanobis);
    if (dist) memcpy(dist, c->dist, (size_t)n * c->d.P * sizeof(float));
    op_upsample_bilinear_cpu(c->dist, n, c->d.H, c->d.W, c->d.S, c->up);
    op_gaussian_blur_cpu(c->up, n, c->d.S, c->setup.sigma, c->setup.pad_mode, c->threads);
    op_map_max_cpu(c->up, n, c->d.S, scores);
    if (tm) lap(c, &t, &tm->map);
    if (maps) memcpy(maps, c->up, (size_t)n * c->d.S * c->d.S * sizeof(float));
    return PADIM_OK;
}

const backend_ops padim_backend_cpu = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .describe = cpu_describe,
    .fit_begin = cpu_fit_begin,
    .fit_batch = cpu_fit_batch,
    .fit_end = cpu_fit_end,
    .set_stats = cpu_set_stats,
    .score_batch = cpu_score_batch,
};
