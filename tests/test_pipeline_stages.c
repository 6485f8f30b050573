/*
 * test_pipeline_stages.c - the whole PaDiM pipeline of the CPU backend, stage by stage,
 * against the independent PyTorch/NumPy reference (tests/reference_padim.py; goldens in
 * tests/golden/pipeline/<case>/ made by tests/make_pipeline_goldens.py on the synthetic
 * fixture tests/golden/pipeline/fixture/: 6 train + 3 test PNGs of 80x72).
 *
 * Cases: resnet18_anomalib (real weights weights/resnet18_tv_in1k.safetensors, S = 64),
 * resnet18_paper (resize 72 + crop 64, seed 1024, scipy-reflect blur), wrn50_anomalib
 * (Wide-ResNet-50-2 with the reference's counter-based random weights, regenerated here
 * bit for bit, written as safetensors with UNFOLDED BatchNorm and folded by
 * bb_weights_load; S = 32).
 *
 * Each stage is fed the golden output of the previous stage where one exists, so that a
 * failure names one stage; the full C chain (image file -> score) is checked at the end.
 * Tolerances, as |got - ref| <= atol + rtol |ref| with atol relative to max|ref|:
 *   idx          exact (Python random.sample)
 *   input        atol 1e-5 (float resize: summation order; paper: uint8 Lanczos exact)
 *   layer1/2/3   1e-4 max|ref| + 1e-4 |ref| (float32 convolutions, different order)
 *   embedding    exact (a gather of the golden layers)
 *   mean         from golden train embeddings: 1e-6 max + 1e-5 |ref|; from the C chain
 *                (cases without train embeddings): 1e-4 max + 1e-3 |ref|
 *   factor       (L^-1 at 4 positions) 1e-4 max + 1e-3 |ref|; and factor cov factor^T = I
 *                within 1e-3 against the golden covariance
 *   distances    golden embeddings + C statistics: 1e-5 max + 1e-4 |ref|
 *   upsampled    1e-6 max + 1e-6 |ref|;  smoothed  1e-6 max + 1e-5 |ref|;  max  exact
 *   chain scores 1e-3 relative (the bottle integration criterion)
 */
#include "cpu/backbone_cpu.h"
#include "image.h"
#include "cpu/ops.h"
#include "padim.h"
#include "rng.h"
#include "safetensors.h"
#include "st_writer.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 2
#define N_TRAIN 6
#define N_TEST 3
static const char *const TRAIN[N_TRAIN] = {"000.png", "001.png", "002.png",
                                           "003.png", "004.png", "005.png"};
static const char *const TEST[N_TEST] = {"000_good.png", "001_blot.png", "002_scratch.png"};

typedef struct test_case {
    const char *name;
    padim_backbone_kind backbone;
    padim_preset preset;
    int resize, crop, d;
    uint32_t seed;
    int wrn_random_seed; /* >= 0: generated WRN50 weights; < 0: committed R18 weights */
} test_case;

static const test_case CASES[] = {
    {"resnet18_anomalib", PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB, 64, 0, 100, 42, -1},
    {"resnet18_paper", PADIM_BACKBONE_RESNET18, PADIM_PRESET_PAPER, 72, 64, 100, 1024, -1},
    {"wrn50_anomalib", PADIM_BACKBONE_WIDE_RESNET50_2, PADIM_PRESET_ANOMALIB, 32, 0, 550, 42, 7},
};

/* ------------------------------------------------------------ golden helpers */

/* Load tests/golden/pipeline/<case>/<stage>.npy; returns 0 when absent (optional). */
static int golden(const test_case *c, const char *stage, npy_array *a, int required) {
    char rel[256];
    snprintf(rel, sizeof(rel), "pipeline/%s/%s.npy", c->name, stage);
    if (!required && access(golden_path(rel), R_OK) != 0) {
        memset(a, 0, sizeof(*a));
        return 0;
    }
    if (npy_load(golden_path(rel), a) != 0) {
        fprintf(stderr, "%s: missing golden %s (run tests/make_pipeline_goldens.py)\n",
                c->name, rel);
        test_failures++;
        return 0;
    }
    return 1;
}

static float *to_f32(const npy_array *a) {
    float *f = malloc(sizeof(float) * (size_t)a->count);
    if (!f) abort();
    for (int64_t i = 0; i < a->count; i++) f[i] = (float)a->data[i];
    return f;
}

static double max_abs(const npy_array *a) {
    double m = 0;
    for (int64_t i = 0; i < a->count; i++) m = fmax(m, fabs(a->data[i]));
    return m;
}

/* compare_f32 with the absolute part relative to the reference's maximum. */
static void compare_stage(const test_case *c, const char *stage, const float *got,
                          const npy_array *ref, int64_t n, double atol_of_max, double rtol) {
    char what[160];
    snprintf(what, sizeof(what), "%s/%s", c->name, stage);
    if (ref->count != n) {
        fprintf(stderr, "%s: golden has %lld values, C stage %lld\n", what,
                (long long)ref->count, (long long)n);
        test_failures++;
        return;
    }
    compare_f32(what, got, ref->data, n, atol_of_max * max_abs(ref), rtol);
}

/* ------------------------------------------------------------ WRN50 random weights */

/* Twin of reference_padim.det_uniform_pm1: v_i = (2 (z_i >> 40) - 2^24) / 2^24,
 * z_i = splitmix64(fnv1a64(name) ^ seed * golden + i); exact in float32. */
static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ULL;
    return h;
}

static void det_uniform_pm1(const char *name, uint32_t seed, int64_t n, float *out) {
    const uint64_t key = fnv1a64(name) ^ ((uint64_t)seed * 0x9E3779B97F4A7C15ULL);
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = key + (uint64_t)i + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        const int64_t k = (int64_t)(z >> 40);
        out[i] = (float)(2 * k - (1 << 24)) * (1.0f / 16777216.0f);
    }
}

/* Write the unfolded WRN50 state (conv weights + 4 BN tensors per conv) to path. */
static int write_wrn_random(uint32_t seed, const char *path, const npy_array *probe) {
    static const char *const probe_names[4] = {"conv1.weight", "layer1.0.bn1.running_var",
                                               "layer3.5.conv3.weight",
                                               "layer2.0.downsample.1.weight"};
    static const char *const bn_keys[4] = {"weight", "bias", "running_mean", "running_var"};
    bb_spec spec;
    bb_spec_init(&spec, PADIM_BACKBONE_WIDE_RESNET50_2);
    st_writer *w = NULL;
    if (st_writer_create(&w) != PADIM_OK) return -1;
    float *bufs[BB_MAX_CONVS * 5];
    int nb = 0, ok = 1;
    char name[128];
    for (int i = 0; i < spec.n_convs && ok; i++) {
        const bb_conv_spec *cs = &spec.convs[i];
        const int64_t fan_in = (int64_t)cs->cin * cs->k * cs->k;
        const int64_t wshape[4] = {cs->cout, cs->cin, cs->k, cs->k}, n = cs->cout * fan_in;
        float *wt = malloc(sizeof(float) * (size_t)n);
        bufs[nb++] = wt;
        snprintf(name, sizeof(name), "%s.weight", cs->name);
        det_uniform_pm1(name, seed, n, wt);
        const float scale = (float)sqrt(3.0 / (double)fan_in);
        for (int64_t j = 0; j < n; j++) wt[j] = wt[j] * scale;
        ok &= st_writer_add(w, name, ST_F32, 4, wshape, wt) == PADIM_OK;
        for (int b = 0; b < 4 && ok; b++) {
            float *v = malloc(sizeof(float) * (size_t)cs->cout);
            bufs[nb++] = v;
            snprintf(name, sizeof(name), "%s.%s", cs->bn, bn_keys[b]);
            det_uniform_pm1(name, seed, cs->cout, v);
            for (int j = 0; j < cs->cout; j++) {
                const float u = v[j];
                v[j] = b == 0 ? 1.0f + 0.25f * u
                     : b == 3 ? 0.75f + 0.5f * u
                              : 0.1f * u; /* bias, running_mean */
            }
            const int64_t bshape[1] = {cs->cout};
            ok &= st_writer_add(w, name, ST_F32, 1, bshape, v) == PADIM_OK;
        }
    }
    if (ok) ok = st_writer_write(w, path) == PADIM_OK;
    st_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    if (!ok) return -1;
    /* generator check: the first values of a few tensors, read back from the file */
    st_file f;
    if (st_read(path, &f) != PADIM_OK) return -1;
    for (int p = 0; p < 4; p++) {
        const st_tensor *t = st_find(&f, probe_names[p]);
        CHECK(t != NULL);
        if (!t || probe->count != 32) continue;
        const float *v = (const float *)t->data;
        for (int j = 0; j < 8; j++) {
            if (v[j] != (float)probe->data[p * 8 + j]) {
                fprintf(stderr, "wrn generator: %s[%d] = %.9g, reference %.9g\n",
                        probe_names[p], j, v[j], probe->data[p * 8 + j]);
                test_failures++;
                break;
            }
        }
    }
    st_free(&f);
    return 0;
}

/* ------------------------------------------------------------ one case */

static int load_images(const char *sub, const char *const *names, int n,
                       const padim_config *cfg, int S, float *x) {
    char path[1024];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s", golden_path("pipeline/fixture/"));
        strncat(path, sub, sizeof(path) - strlen(path) - 1);
        strncat(path, names[i], sizeof(path) - strlen(path) - 1);
        padim_image img;
        padim_status s = padim_image_load(path, &img);
        CHECK_OK(s);
        if (s != PADIM_OK) return -1;
        s = padim_preprocess(&img, cfg, x + (size_t)i * 3 * S * S);
        CHECK_OK(s);
        padim_image_free(&img);
        if (s != PADIM_OK) return -1;
    }
    return 0;
}

/* Backbone + embedding of n preprocessed images: emb (n, P, D). */
static int embed_images(const bb_weights *w, const float *x, int n, int S, const int32_t *idx,
                        int D, float *emb) {
    int h[3];
    bb_feature_sizes(S, &h[0], &h[1], &h[2]);
    const int *C = w->spec.channels;
    float *l[3];
    for (int L = 0; L < 3; L++) l[L] = malloc(sizeof(float) * (size_t)n * C[L] * h[L] * h[L]);
    padim_status s = bb_forward_cpu(w, x, n, S, THREADS, l[0], l[1], l[2]);
    CHECK_OK(s);
    if (s == PADIM_OK)
        op_embed_cpu(l[0], l[1], l[2], n, C[0], C[1], C[2], h[0], h[0], h[1], h[1], h[2], h[2],
                     idx, D, emb, 2);
    for (int L = 0; L < 3; L++) free(l[L]);
    return s == PADIM_OK ? 0 : -1;
}

/* Streaming statistics over emb (n, P, D) in two calls (batches of 4 and the rest), the
 * shift taken from the first image as the library does. */
static int fit_stats(const float *emb, int n, int P, int D, double eps, float *mean,
                     float *factor) {
    const int64_t T = padim_tri(D);
    double *s1 = calloc((size_t)P * D, sizeof(double));
    double *s2 = calloc((size_t)P * T, sizeof(double));
    const float *shift = emb; /* image 0, (P, D) */
    const int first = n < 4 ? n : 4;
    op_stats_accumulate_cpu(emb, first, P, D, shift, s1, s2, THREADS);
    if (n > first)
        op_stats_accumulate_cpu(emb + (size_t)first * P * D, n - first, P, D, shift, s1, s2,
                                THREADS);
    padim_status s = op_stats_finalize_cpu(n, P, D, shift, s1, s2, eps, mean, factor, THREADS);
    CHECK_OK(s);
    free(s1);
    free(s2);
    return s == PADIM_OK ? 0 : -1;
}

static void run_case(const test_case *c) {
    fprintf(stderr, "case %s\n", c->name);
    padim_config cfg;
    padim_config_default(&cfg, c->backbone, c->preset);
    cfg.resize = c->resize;
    cfg.crop = c->crop;
    cfg.d = c->d;
    cfg.seed = c->seed;
    const int S = padim_config_input_size(&cfg), D = c->d;
    CHECK(S == (c->crop ? c->crop : c->resize));

    /* weights */
    bb_weights w;
    memset(&w, 0, sizeof(w));
    if (c->wrn_random_seed >= 0) {
        npy_array probe;
        golden(c, "wrn_probe", &probe, 1);
        char path[256];
        snprintf(path, sizeof(path), "/tmp/padim_test_pipeline_wrn_%d.safetensors",
                 (int)getpid());
        CHECK(write_wrn_random((uint32_t)c->wrn_random_seed, path, &probe) == 0);
        CHECK_OK(bb_weights_load(path, c->backbone, &w));
        unlink(path);
        npy_free(&probe);
    } else {
        CHECK_OK(bb_weights_load(PADIM_SOURCE_DIR "/weights/resnet18_tv_in1k.safetensors",
                                 c->backbone, &w));
    }
    if (test_failures) return;
    const int C = bb_channels_total(&w.spec);
    int h[3];
    bb_feature_sizes(S, &h[0], &h[1], &h[2]);
    const int P = h[0] * h[0];
    const int64_t T = padim_tri(D);

    /* idx: exact */
    npy_array g_idx;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)D);
    CHECK_OK(padim_sample_channels(c->seed, C, D, idx));
    if (golden(c, "idx", &g_idx, 1)) {
        CHECK(g_idx.count == D);
        for (int i = 0; i < D && i < g_idx.count; i++)
            if (idx[i] != (int32_t)g_idx.data[i]) {
                fprintf(stderr, "%s/idx[%d] = %d, Python %d\n", c->name, i, idx[i],
                        (int)g_idx.data[i]);
                test_failures++;
                break;
            }
        npy_free(&g_idx);
    }

    /* preprocessing of every image (C chain) */
    float *x_train = malloc(sizeof(float) * (size_t)N_TRAIN * 3 * S * S);
    float *x_test = malloc(sizeof(float) * (size_t)N_TEST * 3 * S * S);
    if (load_images("train/", TRAIN, N_TRAIN, &cfg, S, x_train) != 0 ||
        load_images("test/", TEST, N_TEST, &cfg, S, x_test) != 0) {
        free(x_train), free(x_test), free(idx);
        bb_weights_free(&w);
        return;
    }
    npy_array g_in;
    golden(c, "input", &g_in, 1);
    /* absolute 1e-5 on normalized values (about 2.3e-6 in [0,1] units) */
    compare_stage(c, "input", x_test, &g_in, (int64_t)N_TEST * 3 * S * S, 1e-5 / max_abs(&g_in),
                  0);

    /* backbone, isolated: golden input -> layers */
    npy_array g_l[3];
    int have_layers = 1;
    for (int L = 0; L < 3; L++) {
        char st[16];
        snprintf(st, sizeof(st), "layer%d", L + 1);
        have_layers &= golden(c, st, &g_l[L], 0);
    }
    const int *Cl = w.spec.channels;
    if (have_layers && g_in.count == (int64_t)N_TEST * 3 * S * S) {
        float *xin = to_f32(&g_in), *l[3];
        for (int L = 0; L < 3; L++)
            l[L] = malloc(sizeof(float) * (size_t)N_TEST * Cl[L] * h[L] * h[L]);
        CHECK_OK(bb_forward_cpu(&w, xin, N_TEST, S, THREADS, l[0], l[1], l[2]));
        for (int L = 0; L < 3; L++) {
            char st[16];
            snprintf(st, sizeof(st), "layer%d", L + 1);
            compare_stage(c, st, l[L], &g_l[L], (int64_t)N_TEST * Cl[L] * h[L] * h[L], 1e-4,
                          1e-4);
        }
        /* embedding, isolated: golden layers -> embedding (a gather: exact) */
        npy_array g_emb;
        if (golden(c, "embedding", &g_emb, 1)) {
            float *gl[3], *emb = malloc(sizeof(float) * (size_t)N_TEST * P * D);
            for (int L = 0; L < 3; L++) gl[L] = to_f32(&g_l[L]);
            op_embed_cpu(gl[0], gl[1], gl[2], N_TEST, Cl[0], Cl[1], Cl[2], h[0], h[0], h[1],
                         h[1], h[2], h[2], idx, D, emb, 2);
            compare_stage(c, "embedding", emb, &g_emb, (int64_t)N_TEST * P * D, 0, 0);
            for (int L = 0; L < 3; L++) free(gl[L]);
            free(emb);
            npy_free(&g_emb);
        }
        free(xin);
        for (int L = 0; L < 3; L++) free(l[L]);
    }
    for (int L = 0; L < 3; L++) npy_free(&g_l[L]);
    npy_free(&g_in);

    /* C chain: backbone + embedding of every image */
    float *emb_train = malloc(sizeof(float) * (size_t)N_TRAIN * P * D);
    float *emb_test = malloc(sizeof(float) * (size_t)N_TEST * P * D);
    CHECK(embed_images(&w, x_train, N_TRAIN, S, idx, D, emb_train) == 0);
    CHECK(embed_images(&w, x_test, N_TEST, S, idx, D, emb_test) == 0);

    /* statistics: from the golden train embeddings when present (isolated), else from
     * the C chain */
    npy_array g_tr, g_mean;
    const int isolated = golden(c, "train_embedding", &g_tr, 0);
    float *mean = malloc(sizeof(float) * (size_t)P * D);
    float *factor = malloc(sizeof(float) * (size_t)P * T);
    {
        float *tr = isolated ? to_f32(&g_tr) : emb_train;
        CHECK(!isolated || g_tr.count == (int64_t)N_TRAIN * P * D);
        CHECK(fit_stats(tr, N_TRAIN, P, D, cfg.eps, mean, factor) == 0);
        if (isolated) free(tr);
    }
    if (golden(c, "mean", &g_mean, 1))
        compare_stage(c, isolated ? "mean" : "mean(chain)", mean, &g_mean, (int64_t)P * D,
                      isolated ? 1e-6 : 1e-4, isolated ? 1e-5 : 1e-3);
    npy_array g_pos, g_cov, g_fac;
    if (golden(c, "cov_positions", &g_pos, 0)) {
        golden(c, "covariance_sub", &g_cov, 1);
        golden(c, "factor_sub", &g_fac, 1);
        const int K = (int)g_pos.count;
        float *fsub = malloc(sizeof(float) * (size_t)K * T);
        double worst_id = 0;
        for (int k = 0; k < K; k++) {
            const int p = (int)g_pos.data[k];
            memcpy(fsub + (size_t)k * T, factor + (size_t)p * T, sizeof(float) * (size_t)T);
            /* F cov F^T = I with F = L^-1 packed lower, cov the golden covariance */
            const double *cv = g_cov.data + (size_t)k * D * D;
            const float *F_ = factor + (size_t)p * T;
            double *fc = malloc(sizeof(double) * (size_t)D * D); /* F cov */
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) {
                    double acc = 0;
                    for (int m = 0; m <= i; m++)
                        acc += (double)F_[(int64_t)i * (i + 1) / 2 + m] * cv[(size_t)m * D + j];
                    fc[(size_t)i * D + j] = acc;
                }
            for (int i = 0; i < D; i++)
                for (int j = 0; j <= i; j++) {
                    double acc = 0; /* (F cov F^T)_ij = sum_m fc[i][m] F[j][m] */
                    for (int m = 0; m <= j; m++)
                        acc += fc[(size_t)i * D + m] * (double)F_[(int64_t)j * (j + 1) / 2 + m];
                    worst_id = fmax(worst_id, fabs(acc - (i == j ? 1.0 : 0.0)));
                }
            free(fc);
        }
        fprintf(stderr, "  %-28s max |F cov F^T - I| %.3g\n", "factor identity", worst_id);
        CHECK(worst_id < 1e-3);
        compare_stage(c, isolated ? "factor" : "factor(chain)", fsub, &g_fac,
                      (int64_t)K * T, 1e-4, 1e-3);
        free(fsub);
        npy_free(&g_pos), npy_free(&g_cov), npy_free(&g_fac);
    }
    npy_free(&g_mean);
    if (isolated) npy_free(&g_tr);

    /* distances: golden test embeddings (else the C chain's) with the C statistics */
    npy_array g_emb, g_dist;
    const int have_emb = golden(c, "embedding", &g_emb, 0);
    float *dist = malloc(sizeof(float) * (size_t)N_TEST * P);
    {
        float *te = have_emb ? to_f32(&g_emb) : emb_test;
        op_mahalanobis_cpu(te, N_TEST, P, D, mean, factor, dist, THREADS);
        if (have_emb) free(te);
    }
    if (golden(c, "distances", &g_dist, 1))
        compare_stage(c, have_emb && isolated ? "distances" : "distances(chain)", dist, &g_dist,
                      (int64_t)N_TEST * P, have_emb && isolated ? 1e-5 : 1e-4,
                      have_emb && isolated ? 1e-4 : 1e-3);
    if (have_emb) npy_free(&g_emb);

    /* map stages, each from the golden previous stage */
    const int64_t NM = (int64_t)N_TEST * S * S;
    npy_array g_up, g_sm, g_sc;
    float *maps = malloc(sizeof(float) * (size_t)NM), scores[N_TEST];
    if (g_dist.count == (int64_t)N_TEST * P && golden(c, "upsampled", &g_up, 1)) {
        float *gd = to_f32(&g_dist);
        op_upsample_bilinear_cpu(gd, N_TEST, h[0], h[0], S, maps);
        compare_stage(c, "upsampled", maps, &g_up, NM, 1e-6, 1e-6);
        free(gd);
        if (g_up.count == NM && golden(c, "smoothed", &g_sm, 1)) {
            float *gu = to_f32(&g_up);
            op_gaussian_blur_cpu(gu, N_TEST, S, cfg.sigma,
                                 c->preset == PADIM_PRESET_PAPER ? 1 : 0, THREADS);
            compare_stage(c, "smoothed", gu, &g_sm, NM, 1e-6, 1e-5);
            free(gu);
            if (g_sm.count == NM && golden(c, "scores", &g_sc, 1)) {
                float *gs = to_f32(&g_sm);
                op_map_max_cpu(gs, N_TEST, S, scores);
                compare_stage(c, "max", scores, &g_sc, N_TEST, 0, 0);
                free(gs);

                /* the full C chain: C embeddings and C statistics (from C train
                 * embeddings) -> score */
                CHECK(fit_stats(emb_train, N_TRAIN, P, D, cfg.eps, mean, factor) == 0);
                op_mahalanobis_cpu(emb_test, N_TEST, P, D, mean, factor, dist, THREADS);
                op_upsample_bilinear_cpu(dist, N_TEST, h[0], h[0], S, maps);
                op_gaussian_blur_cpu(maps, N_TEST, S, cfg.sigma,
                                     c->preset == PADIM_PRESET_PAPER ? 1 : 0, THREADS);
                op_map_max_cpu(maps, N_TEST, S, scores);
                compare_stage(c, "scores(chain)", scores, &g_sc, N_TEST, 0, 1e-3);
                for (int i = 0; i < N_TEST; i++)
                    fprintf(stderr, "    %-16s C %.6f  reference %.6f\n", TEST[i], scores[i],
                            g_sc.data[i]);
                /* the defects must stand out: good < both defective */
                CHECK(g_sc.data[0] < g_sc.data[1] && g_sc.data[0] < g_sc.data[2]);
                npy_free(&g_sc);
            }
            npy_free(&g_sm);
        }
        npy_free(&g_up);
    }
    npy_free(&g_dist);
    free(maps), free(dist), free(mean), free(factor), free(emb_train), free(emb_test);
    free(x_train), free(x_test), free(idx);
    bb_weights_free(&w);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; /* optional: run one case by name */
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
        if (!only || strcmp(only, CASES[i].name) == 0) run_case(&CASES[i]);
    return test_finish("test_pipeline_stages");
}
