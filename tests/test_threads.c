/*
 * test_threads.c - the C API under threads, as padim.h documents it: one fitted model
 * shared read-only by several threads, each with its own scorer, each decoding the test
 * images itself (PNG, and the same images as JPEG, BMP and TIFF, so every decoder runs
 * concurrently), scoring them several times and comparing scores and maps bit for bit
 * with a single-threaded run. Also padim_images_load_ex from several threads at once,
 * failures on several threads (padim_last_error is per thread), and a fit whose decoding
 * budget (1 byte) makes its threads wait for each other. Built twice: in the normal
 * build (the results) and with ThreadSanitizer by tests/run_tsan.sh (the races), where
 * OpenMP is given one thread (libgomp is not instrumented: TSan would report its
 * internals) and OpenBLAS one thread, so every thread here is one this test starts.
 */
#include "padim.h"
#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_THREADS 4
#define N_IMAGES 3
#define N_ROUNDS 2

static const padim_model *model;
static int S;
static float ref_scores[N_IMAGES];
static float *ref_maps; /* (N_IMAGES, S, S) */
static char image_paths[N_IMAGES][4096];

typedef struct worker {
    int id;
    int failures;
    char message[512];
} worker;

static void fixture(char *out, size_t cap, const char *rel) {
    snprintf(out, cap, "%s/tests/golden/pipeline/fixture/%s", PADIM_SOURCE_DIR, rel);
}

static void runtime_one_thread(padim_runtime *rt) {
    padim_runtime_default(rt);
    rt->device = PADIM_DEVICE_CPU;
    rt->threads = 1;
}

/* Score the test images with a fresh scorer: scores (N_IMAGES), maps (N_IMAGES, S, S). */
static padim_status score_all(float *scores, float *maps) {
    padim_runtime rt;
    runtime_one_thread(&rt);
    padim_scorer *sc = NULL;
    padim_image imgs[N_IMAGES];
    memset(imgs, 0, sizeof(imgs));
    padim_status st = padim_scorer_create(model, &rt, &sc);
    for (int i = 0; st == PADIM_OK && i < N_IMAGES; i++) st = padim_image_load(image_paths[i], &imgs[i]);
    if (st == PADIM_OK) st = padim_score_images(sc, imgs, N_IMAGES, scores, maps);
    for (int i = 0; i < N_IMAGES; i++) padim_image_free(&imgs[i]);
    padim_scorer_free(sc);
    return st;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    float scores[N_IMAGES];
    float *maps = malloc(sizeof(float) * N_IMAGES * (size_t)S * S);
    for (int round = 0; round < N_ROUNDS && maps; round++) {
        if (score_all(scores, maps) != PADIM_OK) {
            snprintf(w->message, sizeof(w->message), "thread %d: %s", w->id, padim_last_error());
            w->failures++;
            break;
        }
        if (memcmp(scores, ref_scores, sizeof(scores)) || memcmp(maps, ref_maps, sizeof(float) * N_IMAGES * S * S)) {
            double worst = 0;
            for (size_t i = 0; i < (size_t)N_IMAGES * S * S; i++) {
                const double e = fabs((double)maps[i] - ref_maps[i]) / (fabs(ref_maps[i]) + 1e-30);
                if (e > worst) worst = e;
            }
            snprintf(w->message, sizeof(w->message), "thread %d round %d: scores %.9g %.9g %.9g or maps (max "
                     "relative difference %.3g) differ from the single-threaded run", w->id, round, scores[0],
                     scores[1], scores[2], worst);
            w->failures++;
        }
        /* the other decoders on the same threads, and a failure whose message is ours */
        static const char *const others[] = {"image/rgb_64x48.jpg", "image/rgb_19x13.bmp", "image/rgb_lzw_33x29.tif",
                                              "image/gray16_12x9.png"};
        for (int k = 0; k < 4; k++) {
            padim_image img;
            char p[4200];
            snprintf(p, sizeof(p), "%s/tests/golden/%s", PADIM_SOURCE_DIR, others[k]);
            if (padim_image_load(p, &img) != PADIM_OK) {
                snprintf(w->message, sizeof(w->message), "thread %d: %s", w->id, padim_last_error());
                w->failures++;
            }
            padim_image_free(&img);
        }
        char missing[64];
        snprintf(missing, sizeof(missing), "/nonexistent/thread-%d.png", w->id);
        padim_image img;
        if (padim_image_load(missing, &img) != PADIM_ERR_IO || !strstr(padim_last_error(), missing)) {
            snprintf(w->message, sizeof(w->message), "thread %d: the error message is not this thread's: %s", w->id,
                     padim_last_error());
            w->failures++;
        }
        const char *batch[N_IMAGES] = {image_paths[0], image_paths[1], image_paths[2]};
        padim_image imgs[N_IMAGES];
        if (padim_images_load_ex(batch, N_IMAGES, 1, NULL, imgs) != PADIM_OK) {
            snprintf(w->message, sizeof(w->message), "thread %d: %s", w->id, padim_last_error());
            w->failures++;
        } else {
            for (int i = 0; i < N_IMAGES; i++) padim_image_free(&imgs[i]);
        }
    }
    free(maps);
    return NULL;
}

int main(void) {
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    cfg.resize = 64;
    cfg.batch = 2;
    snprintf(cfg.weights, sizeof(cfg.weights), "%s/weights/resnet18_tv_in1k.safetensors", PADIM_SOURCE_DIR);
    padim_runtime rt;
    runtime_one_thread(&rt);
    char train[6][4096];
    const char *train_paths[6];
    for (int i = 0; i < 6; i++) {
        char rel[32];
        snprintf(rel, sizeof(rel), "train/%03d.png", i);
        fixture(train[i], sizeof(train[i]), rel);
        train_paths[i] = train[i];
    }
    static const char *const tests[N_IMAGES] = {"test/000_good.png", "test/001_blot.png", "test/002_scratch.png"};
    for (int i = 0; i < N_IMAGES; i++) fixture(image_paths[i], sizeof(image_paths[i]), tests[i]);
    padim_model *m = NULL;
    CHECK_OK(padim_fit_files(&cfg, &rt, train_paths, 6, &m));
    if (!m) return test_finish("test_threads");
    model = m;
    padim_model_info info;
    padim_model_get_info(m, &info);
    S = info.input_size;
    ref_maps = malloc(sizeof(float) * N_IMAGES * (size_t)S * S);
    CHECK_OK(score_all(ref_scores, ref_maps));
    fprintf(stderr, "single thread: scores %.6f %.6f %.6f\n", ref_scores[0], ref_scores[1], ref_scores[2]);

    /* The decoding budget: 1 byte makes every image wait for the others to finish (an
     * image alone always gets the budget); the model must come out the same. */
    padim_runtime tight;
    runtime_one_thread(&tight);
    /* two OpenMP threads wait on each other here, except under run_tsan.sh, which asks for
     * one (OMP_NUM_THREADS=1): TSan takes libgomp's reduction for a race */
    const char *omp = getenv("OMP_NUM_THREADS");
    tight.threads = omp && atoi(omp) == 1 ? 1 : 2;
    tight.decode.max_batch_bytes = 1;
    padim_model *m2 = NULL;
    CHECK_OK(padim_fit_files(&cfg, &tight, train_paths, 6, &m2));
    if (m2) {
        float s2[N_IMAGES];
        float *maps2 = malloc(sizeof(float) * N_IMAGES * (size_t)S * S);
        model = m2;
        CHECK_OK(score_all(s2, maps2));
        model = m;
        CHECK(memcmp(s2, ref_scores, sizeof(s2)) == 0);
        fprintf(stderr, "fit with max_batch_bytes = 1 on %d thread(s): %s\n", tight.threads,
                memcmp(s2, ref_scores, sizeof(s2)) ? "DIFFERENT model" : "same scores");
        free(maps2);
        padim_model_free(m2);
    }

    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].id = t;
        CHECK(pthread_create(&th[t], NULL, worker_main, &w[t]) == 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        if (w[t].failures) {
            fprintf(stderr, "FAIL %s\n", w[t].message);
            test_failures += w[t].failures;
        }
    }
    fprintf(stderr, "%d threads x %d rounds, one scorer each on one shared model: %s\n", N_THREADS, N_ROUNDS,
            test_failures ? "MISMATCH" : "bit-identical to the single-threaded run");
    free(ref_maps);
    padim_model_free(m);
    return test_finish("test_threads");
}
