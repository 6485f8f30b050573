/*
 * bench_ops_cpu.c - workbench for the CPU PaDiM operations (src/host/ops_cpu.c) at the
 * real shapes: grid 64x64 (P = 4096), D = 100 (R18) and 550 (WRN50), a batch of N = 32
 * images, anomaly maps 256x256 with sigma 4. Prints a table (median of --reps runs after
 * one warm-up; wall and CPU time) and optionally writes JSON. Correctness lives in tests/test_ops.c; here a
 * quick sanity check only (finite outputs).
 *
 *   bench_ops_cpu [--threads 2] [--reps 3] [--positions 4096] [--batch 32] [--d 100,550]
 *                 [--json out.json]
 *
 * Memory: the float64 second-moment sums are P * D(D+1)/2 * 8 bytes (5.0 GB for D = 550
 * at P = 4096); lower --positions on a small machine (times scale linearly in P).
 */
#include "common.h"
#include "cpu/ops.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct row {
    char op[48];
    int d;
    double ms, cpu_ms; /* wall and process CPU time (all threads) of one batch call */
    double per_image_ms;
} row;

static row rows[32];
static int n_rows = 0;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double last_cpu_ms; /* set by TIME_MS */

static void add_row(const char *op, int d, double ms, int per) {
    row *r = &rows[n_rows++];
    snprintf(r->op, sizeof(r->op), "%s", op);
    r->d = d;
    r->ms = ms;
    r->cpu_ms = last_cpu_ms;
    r->per_image_ms = per > 0 ? ms / per : 0.0;
    if (per > 0) printf("| %-32s | %4d | %10.1f | %10.1f | %9.2f |\n", op, d, ms, last_cpu_ms, ms / per);
    else printf("| %-32s | %4d | %10.1f | %10.1f | %9s |\n", op, d, ms, last_cpu_ms, "-");
    fflush(stdout);
}

static void *xmalloc(size_t bytes) {
    void *p = NULL;
    if (padim_alloc_aligned(&p, bytes, "benchmark buffer") != PADIM_OK) {
        fprintf(stderr, "%s (lower --positions)\n", padim_last_error());
        exit(1);
    }
    return p;
}

static void fill(float *x, int64_t n, uint64_t seed, float scale, float offset) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = offset + scale * ((float)(seed >> 40) / 16777216.0f - 0.5f);
    }
}

static int all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Median wall and CPU ms of `reps` runs after `warm` warm-up runs (page faults, BLAS
 * buffers). CPU time is reported because the dev machine is shared: under contention,
 * cpu / threads estimates the uncontended wall time of the parallel ops. */
#define TIME_MS(warm, reps, stmt, out_ms)                                                 \
    do {                                                                                  \
        double t_[64] = {0}, c_[64] = {0};                                                \
        for (int w_ = 0; w_ < (warm); w_++) stmt;                                         \
        for (int r_ = 0; r_ < (reps); r_++) {                                             \
            double t0_ = padim_now(), c0_ = cpu_now();                                    \
            stmt;                                                                         \
            t_[r_] = (padim_now() - t0_) * 1e3;                                           \
            c_[r_] = (cpu_now() - c0_) * 1e3;                                             \
        }                                                                                 \
        out_ms = median(t_, (reps));                                                      \
        last_cpu_ms = median(c_, (reps));                                                 \
    } while (0)

static void bench_d(int D, int N, int P, int H, int W, int threads, int reps) {
    const int64_t T = padim_tri(D), PD = (int64_t)P * D;
    /* Embedding: real layer sizes (R18 64/128/256, WRN50 256/512/1024 channels). */
    const int wide = D > 100;
    const int C1 = wide ? 256 : 64, C2 = 2 * C1, C3 = 4 * C1, C = C1 + C2 + C3;
    float *l1 = xmalloc(sizeof(float) * (size_t)N * C1 * P);
    float *l2 = xmalloc(sizeof(float) * (size_t)N * C2 * (P / 4));
    float *l3 = xmalloc(sizeof(float) * (size_t)N * C3 * (P / 16));
    fill(l1, (int64_t)N * C1 * P, 1, 2.0f, 0.5f);
    fill(l2, (int64_t)N * C2 * (P / 4), 2, 2.0f, 0.5f);
    fill(l3, (int64_t)N * C3 * (P / 16), 3, 2.0f, 0.5f);
    int32_t *idx = xmalloc(sizeof(int32_t) * (size_t)D);
    padim_status s = padim_sample_channels(42, C, D, idx);
    if (s != PADIM_OK) {
        fprintf(stderr, "%s\n", padim_last_error());
        exit(1);
    }
    float *emb = xmalloc(sizeof(float) * (size_t)(N * PD)); // (N, P, D)
    double ms;
    TIME_MS(1, reps, op_embed_cpu(l1, l2, l3, N, C1, C2, C3, H, W, H / 2, W / 2, H / 4, W / 4, idx, D, emb, threads), ms);
    add_row("embed (gather)", D, ms, N);
    free(l1), free(l2), free(l3), free(idx);

    float *shift = xmalloc(sizeof(float) * (size_t)PD);
    memcpy(shift, emb, sizeof(float) * (size_t)PD);
    double *s1 = xmalloc(sizeof(double) * (size_t)PD);
    double *s2 = xmalloc(sizeof(double) * (size_t)(P * T));
    memset(s1, 0, sizeof(double) * (size_t)PD);
    memset(s2, 0, sizeof(double) * (size_t)(P * T));
    TIME_MS(1, reps, op_stats_accumulate_cpu(emb, N, P, D, shift, s1, s2, threads), ms);
    add_row("stats_accumulate (DGEMM rows f64)", D, ms, N);

    float *mean = xmalloc(sizeof(float) * (size_t)PD);
    float *factor = xmalloc(sizeof(float) * (size_t)(P * T));
    const int64_t n_acc = (int64_t)N * (reps + 1);
    /* Finalize: once per fit and seconds long at D = 550: one run, no warm-up. */
    TIME_MS(0, 1, s = op_stats_finalize_cpu(n_acc, P, D, shift, s1, s2, 0.01, mean, factor, threads), ms);
    if (s != PADIM_OK) fprintf(stderr, "finalize: %s\n", padim_last_error());
    add_row("stats_finalize (potrf+trtri f64)", D, ms, 0); /* once per fit */
    free(s2), free(s1), free(shift);

    float *dist = xmalloc(sizeof(float) * (size_t)N * P);
    TIME_MS(1, reps, op_mahalanobis_cpu(emb, N, P, D, mean, factor, dist, threads), ms);
    add_row("mahalanobis (packed L^-1, f32)", D, ms, N);
    if (!all_finite(dist, (int64_t)N * P)) fprintf(stderr, "WARNING: non-finite distances\n");

    static int maps_done = 0;
    if (!maps_done++) { /* the map stage does not depend on D: time it once */
        const int S = 4 * H;
        float *maps = xmalloc(sizeof(float) * (size_t)N * S * S);
        TIME_MS(1, reps, op_upsample_bilinear_cpu(dist, N, H, W, S, maps), ms);
        add_row("upsample bilinear (1 thread)", 0, ms, N);
        TIME_MS(1, reps, op_gaussian_blur_cpu(maps, N, S, 4.0, 0, threads), ms);
        add_row("gaussian blur s4 33 taps", 0, ms, N);
        float *scores = xmalloc(sizeof(float) * (size_t)N);
        TIME_MS(1, reps, op_map_max_cpu(maps, N, S, scores), ms);
        add_row("map max", 0, ms, N);
        free(scores), free(maps);
    }
    free(dist), free(factor), free(mean), free(emb);
}

int main(int argc, char **argv) {
    padim_cpu_blas_restart(argv); /* OpenBLAS's right kernels for DSYRK / POTRF */
    int threads = 2, reps = 3, P = 4096, N = 32;
    int ds[8] = {100, 550}, n_d = 2;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: %s [--threads T] [--reps R] [--positions P] [--batch N] "
                            "[--d 100,550] [--json FILE]\n", argv[0]);
            return 2;
        }
        if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--positions")) P = atoi(v);
        else if (!strcmp(a, "--batch")) N = atoi(v);
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--d")) {
            n_d = 0;
            for (char *t = strtok(argv[i + 1], ","); t && n_d < 8; t = strtok(NULL, ",")) ds[n_d++] = atoi(t);
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (reps < 1 || reps > 64 || N < 1 || threads < 1) {
        fprintf(stderr, "--reps must be 1..64, --batch and --threads >= 1\n");
        return 2;
    }
    /* A square grid, 64x64 at P = 4096; P must be a multiple of 16 (layers at /2, /4). */
    int H = (int)lround(sqrt((double)P));
    if (H * H != P || H % 4) {
        fprintf(stderr, "--positions must be a square of a multiple of 4 (4096 = 64^2)\n");
        return 2;
    }
    printf("CPU ops: P = %d (%dx%d), N = %d images per batch, %d threads, median of %d\n", P, H,
           H, N, threads, reps);
    printf("BLAS: %s\n\n", padim_cpu_blas());
    printf("| %-32s | %4s | %10s | %10s | %9s |\n", "operation", "D", "wall ms", "cpu ms", "ms/image");
    printf("|----------------------------------|------|------------|------------|-----------|\n");
    for (int i = 0; i < n_d; i++) bench_d(ds[i], N, P, H, H, threads, reps);
    printf("\n(finalize runs once per fit over all P positions: no per-image figure)\n");
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            perror(json);
            return 1;
        }
        fprintf(f, "{\"positions\": %d, \"batch\": %d, \"threads\": %d, \"reps\": %d, \"rows\": [", P, N,
                threads, reps);
        for (int i = 0; i < n_rows; i++)
            fprintf(f, "%s\n  {\"op\": \"%s\", \"d\": %d, \"ms\": %.3f, \"cpu_ms\": %.3f, \"ms_per_image\": %.4f}",
                    i ? "," : "", rows[i].op, rows[i].d, rows[i].ms, rows[i].cpu_ms, rows[i].per_image_ms);
        fprintf(f, "\n]}\n");
        fclose(f);
    }
    return 0;
}
