/*
 * bench_cuda_kernels.c - workbench for the custom CUDA kernels and the batched Cholesky
 * (the .cu files of src/kernels, the statistics of cuda/cuda_stats.c) at the real shapes: grid 64x64
 * (P = 4096), D = 100 (R18) and 550 (WRN50), batches of N images, maps 256x256, sigma 4.
 * Each op is first validated against its CPU twin (ops.h) at a small shape (P = 49, same
 * D and N), then timed with CUDA events (median of --reps after one warm-up). Versions:
 * finalize in float64 (default) vs float32 (cuSOLVER D/S potrfBatched + cuBLAS trsmBatched).
 * Prints a table, optionally writes JSON. Exits 77 without a GPU.
 *
 *   bench_cuda_kernels [--reps 5] [--batch 64] [--positions 4096] [--d 100,550] [--json f]
 */
#include "common.h"
#include "cuda/cuda_stats.h"
#include "kernels.h"
#include "cpu/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char op[64];
    int d;
    double ms;
    const char *valid;
} row;

static row rows[64];
static int n_rows;
static cudaStream_t stream;
static cublasHandle_t blas;
static cusolverDnHandle_t solver;
static int reps = 5;

#define DIE(expr)                                                                          \
    do {                                                                                   \
        const padim_status s_ = (expr);                                                    \
        if (s_ != PADIM_OK) {                                                              \
            fprintf(stderr, "bench_cuda_kernels: %s\n", padim_last_error());             \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static padim_status cu(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return PADIM_OK;
    return padim_fail(PADIM_ERR_DEVICE, "%s: %s", what, cudaGetErrorName(e));
}

static uint64_t st = 99;
static float frand(double lo, double hi) {
    uint64_t z = (st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(lo + (hi - lo) * ((double)(z >> 11) * (1.0 / 9007199254740992.0)));
}

static void *dev_rand(int64_t n, double lo, double hi) {
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1)), *d;
    for (int64_t i = 0; i < n; i++) h[i] = frand(lo, hi);
    DIE(cu(cudaMalloc((void **)&d, sizeof(float) * (size_t)(n ? n : 1)), "cudaMalloc"));
    DIE(cu(cudaMemcpy(d, h, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice), "H2D"));
    free(h);
    return d;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time fn(arg) on the stream: one warm-up, median of reps. */
static double time_ms(padim_status (*fn)(void *), void *arg) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    double t[64];
    const int n = reps < 64 ? reps : 64;
    DIE(fn(arg));
    for (int r = 0; r < n; r++) {
        cudaEventRecord(a, stream);
        DIE(fn(arg));
        cudaEventRecord(b, stream);
        DIE(cu(cudaEventSynchronize(b), "event"));
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        t[r] = ms;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void add_row(const char *op, int d, double ms, const char *valid) {
    row *r = &rows[n_rows++];
    snprintf(r->op, sizeof(r->op), "%s", op);
    r->d = d;
    r->ms = ms;
    r->valid = valid;
}

/* max |a - b| / (max |b|) */
static double rel_err(const float *a, const float *b, int64_t n) {
    double e = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

/* ------------------------------------------------------------------ ops as closures */

typedef struct args {
    int N, P, D, H, S, C1, C2, C3;
    float *l1, *l2, *l3, *emb, *emb0, *mean, *factor, *dist, *maps, *tmp, *scores, *gw, *shift;
    float *gram, *mean_h, *factor_h;
    int32_t *idx;
    double *s1, *s2;
    int gram_np, radius;
    padim_cuda_finalize_ws *ws;
} args;

static padim_status op_embed(void *p) {
    args *a = p;
    return cu(padim_k_embed(a->l1, a->l2, a->l3, a->N, a->C1, a->C2, a->C3, a->H, a->H, a->H / 2,
                            a->H / 2, a->H / 4, a->H / 4, a->idx, a->D, a->emb, stream),
              "embed");
}

static padim_status op_accumulate(void *p) {
    args *a = p;
    /* restore the uncentred batch (the op centres in place); timed with it, a D2D copy */
    PADIM_TRY(cu(cudaMemcpyAsync(a->emb, a->emb0, sizeof(float) * (size_t)a->N * a->P * a->D,
                                 cudaMemcpyDeviceToDevice, stream), "copy"));
    return padim_cuda_stats_accumulate(blas, stream, a->emb, a->N, a->P, a->D, a->shift, a->s1,
                                       a->s2, a->gram, a->gram_np);
}

static padim_status op_finalize(void *p) {
    args *a = p;
    return padim_cuda_stats_finalize(blas, solver, stream, a->ws, (int64_t)3 * a->N, a->P, a->D, a->shift,
                                     a->s1, a->s2, 0.01, a->mean, a->mean_h, a->factor_h);
}

static padim_status op_maha(void *p) {
    args *a = p;
    return cu(padim_k_mahalanobis(a->emb, a->N, a->P, a->D, a->mean, a->factor, a->dist, stream),
              "mahalanobis");
}

static padim_status op_map(void *p) {
    args *a = p;
    PADIM_TRY(cu(padim_k_upsample_bilinear(a->dist, a->N, a->H, a->H, a->S, a->maps, stream), "up"));
    PADIM_TRY(cu(padim_k_gaussian_blur(a->maps, a->tmp, a->N, a->S, a->gw, a->radius, 0, stream), "blur"));
    return cu(padim_k_map_max(a->maps, a->N, a->S, a->scores, stream), "max");
}

/* ------------------------------------------------------------------ validation */

/* Small-shape checks against the CPU twins; returns "ok" or "FAIL". */
static const char *validate_maha(int N, int D) {
    const int P = 49;
    const int64_t T = padim_tri(D);
    float *emb = malloc(sizeof(float) * (size_t)N * P * D), *mean = malloc(sizeof(float) * (size_t)P * D);
    float *fac = malloc(sizeof(float) * (size_t)(P * T)), *ref = malloc(sizeof(float) * (size_t)N * P);
    float *got = malloc(sizeof(float) * (size_t)N * P);
    for (int64_t i = 0; i < (int64_t)N * P * D; i++) emb[i] = frand(-2, 2);
    for (int64_t i = 0; i < (int64_t)P * D; i++) mean[i] = frand(-1, 1);
    for (int64_t i = 0; i < P * T; i++) fac[i] = frand(-0.05, 0.05);
    op_mahalanobis_cpu(emb, N, P, D, mean, fac, ref, 2);
    float *de, *dm, *df, *dd;
    cudaMalloc((void **)&de, sizeof(float) * (size_t)N * P * D);
    cudaMalloc((void **)&dm, sizeof(float) * (size_t)P * D);
    cudaMalloc((void **)&df, sizeof(float) * (size_t)(P * T));
    cudaMalloc((void **)&dd, sizeof(float) * (size_t)N * P);
    cudaMemcpy(de, emb, sizeof(float) * (size_t)N * P * D, cudaMemcpyHostToDevice);
    cudaMemcpy(dm, mean, sizeof(float) * (size_t)P * D, cudaMemcpyHostToDevice);
    cudaMemcpy(df, fac, sizeof(float) * (size_t)(P * T), cudaMemcpyHostToDevice);
    DIE(cu(padim_k_mahalanobis(de, N, P, D, dm, df, dd, stream), "mahalanobis"));
    DIE(cu(cudaStreamSynchronize(stream), "sync"));
    cudaMemcpy(got, dd, sizeof(float) * (size_t)N * P, cudaMemcpyDeviceToHost);
    const double e = rel_err(got, ref, (int64_t)N * P);
    cudaFree(de), cudaFree(dm), cudaFree(df), cudaFree(dd);
    free(emb), free(mean), free(fac), free(ref), free(got);
    return e < 1e-4 ? "ok" : "FAIL";
}

static const char *validate_finalize(int D, int fp64) {
    const int P = 3, N = 40;
    const int64_t T = padim_tri(D);
    float *emb = malloc(sizeof(float) * (size_t)N * P * D), *shift = malloc(sizeof(float) * (size_t)P * D);
    for (int64_t i = 0; i < (int64_t)N * P * D; i++) emb[i] = frand(0, 3);
    memcpy(shift, emb, sizeof(float) * (size_t)P * D);
    double *s1 = calloc((size_t)P * D, sizeof(double)), *s2 = calloc((size_t)(P * T), sizeof(double));
    op_stats_accumulate_cpu(emb, N, P, D, shift, s1, s2, 2);
    float *mc = malloc(sizeof(float) * (size_t)P * D), *fc = malloc(sizeof(float) * (size_t)(P * T));
    float *mg = malloc(sizeof(float) * (size_t)P * D), *fg = malloc(sizeof(float) * (size_t)(P * T));
    DIE(op_stats_finalize_cpu(N, P, D, shift, s1, s2, 0.01, mc, fc, 2));
    float *dshift, *dmean;
    double *ds1, *ds2;
    cudaMalloc((void **)&dshift, sizeof(float) * (size_t)P * D);
    cudaMalloc((void **)&dmean, sizeof(float) * (size_t)P * D);
    cudaMalloc((void **)&ds1, sizeof(double) * (size_t)P * D);
    cudaMalloc((void **)&ds2, sizeof(double) * (size_t)(P * T));
    cudaMemcpy(dshift, shift, sizeof(float) * (size_t)P * D, cudaMemcpyHostToDevice);
    cudaMemcpy(ds1, s1, sizeof(double) * (size_t)P * D, cudaMemcpyHostToDevice);
    cudaMemcpy(ds2, s2, sizeof(double) * (size_t)(P * T), cudaMemcpyHostToDevice);
    padim_cuda_finalize_ws ws;
    DIE(padim_cuda_finalize_ws_alloc(&ws, P, D, fp64, (size_t)1 << 28, stream));
    DIE(padim_cuda_stats_finalize(blas, solver, stream, &ws, N, P, D, dshift, ds1, ds2, 0.01, dmean,
                                  mg, fg));
    const double e = fmax(rel_err(mg, mc, (int64_t)P * D), rel_err(fg, fc, P * T));
    padim_cuda_finalize_ws_free(&ws);
    cudaFree(dshift), cudaFree(dmean), cudaFree(ds1), cudaFree(ds2);
    free(emb), free(shift), free(s1), free(s2), free(mc), free(fc), free(mg), free(fg);
    return e < (fp64 ? 1e-5 : 1e-3) ? "ok" : "FAIL";
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    int N = 64, P = 4096;
    int ds[4] = {100, 550}, n_d = 2;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) N = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--positions") && i + 1 < argc) P = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) {
            n_d = 0;
            for (char *t = strtok(argv[++i], ","); t && n_d < 4; t = strtok(NULL, ",")) ds[n_d++] = atoi(t);
        } else {
            fprintf(stderr, "usage: bench_cuda_kernels [--reps 5] [--batch 64] [--positions 4096] "
                            "[--d 100,550] [--json out.json]\n");
            return 2;
        }
    }
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        fprintf(stderr, "bench_cuda_kernels: no CUDA device\n");
        return 77;
    }
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    cudaStreamCreate(&stream);
    cublasCreate(&blas);
    cublasSetStream(blas, stream);
    cusolverDnCreate(&solver);
    cusolverDnSetStream(solver, stream);
    int H = 1;
    while (H * H < P) H++;
    P = H * H;
    const int S = 4 * H;

    for (int k = 0; k < n_d; k++) {
        const int D = ds[k];
        const int64_t T = padim_tri(D), PD = (int64_t)P * D;
        const int wrn = D > 100;
        args a = {.N = N, .P = P, .D = D, .H = H, .S = S, .C1 = wrn ? 256 : 64,
                  .C2 = wrn ? 512 : 128, .C3 = wrn ? 1024 : 256};
        a.l1 = dev_rand((int64_t)N * a.C1 * H * H, 0, 3);
        a.l2 = dev_rand((int64_t)N * a.C2 * (H / 2) * (H / 2), 0, 3);
        a.l3 = dev_rand((int64_t)N * a.C3 * (H / 4) * (H / 4), 0, 3);
        int32_t *idx = malloc(sizeof(int32_t) * (size_t)D);
        for (int d = 0; d < D; d++) idx[d] = (int32_t)((d * 7919) % (a.C1 + a.C2 + a.C3));
        cudaMalloc((void **)&a.idx, sizeof(int32_t) * (size_t)D);
        cudaMemcpy(a.idx, idx, sizeof(int32_t) * (size_t)D, cudaMemcpyHostToDevice);
        free(idx);
        DIE(cu(cudaMalloc((void **)&a.emb, sizeof(float) * (size_t)N * PD), "emb"));
        add_row("embed", D, time_ms(op_embed, &a), "tests");

        a.emb0 = dev_rand((int64_t)N * PD, 0, 3);
        a.shift = dev_rand(PD, 0, 3);
        DIE(cu(cudaMalloc((void **)&a.s1, sizeof(double) * (size_t)PD), "s1"));
        DIE(cu(cudaMalloc((void **)&a.s2, sizeof(double) * (size_t)(P * T)), "s2 (lower --positions)"));
        cudaMemset(a.s1, 0, sizeof(double) * (size_t)PD);
        cudaMemset(a.s2, 0, sizeof(double) * (size_t)(P * T));
        a.gram_np = (int)(GRAM_BUDGET / ((size_t)D * D * 4));
        if (a.gram_np > P) a.gram_np = P;
        if (a.gram_np < 1) a.gram_np = 1;
        DIE(cu(cudaMalloc((void **)&a.gram, sizeof(float) * (size_t)a.gram_np * D * D), "gram"));
        add_row("stats accumulate (batch)", D, time_ms(op_accumulate, &a), "tests");

        /* finalize on a well-conditioned accumulation: 3 batches of the random data */
        cudaMemset(a.s1, 0, sizeof(double) * (size_t)PD);
        cudaMemset(a.s2, 0, sizeof(double) * (size_t)(P * T));
        for (int r = 0; r < 3; r++) DIE(op_accumulate(&a));
        DIE(cu(cudaMalloc((void **)&a.mean, sizeof(float) * (size_t)PD), "mean"));
        a.mean_h = malloc(sizeof(float) * (size_t)PD);
        a.factor_h = malloc(sizeof(float) * (size_t)(P * T));
        for (int fp64 = 1; fp64 >= 0; fp64--) {
            padim_cuda_finalize_ws ws;
            DIE(padim_cuda_finalize_ws_alloc(&ws, P, D, fp64, FINALIZE_BUDGET, stream));
            a.ws = &ws;
            char name[64];
            snprintf(name, sizeof(name), "finalize %s (chunks of %d)", fp64 ? "fp64" : "fp32", ws.np);
            const int saved = reps;
            reps = reps < 3 ? reps : 3; /* seconds each at D = 550 */
            add_row(name, D, time_ms(op_finalize, &a), validate_finalize(D, fp64));
            reps = saved;
            padim_cuda_finalize_ws_free(&ws);
        }
        cudaFree(a.gram), cudaFree(a.s1), cudaFree(a.s2), cudaFree(a.emb0);

        DIE(cu(cudaMalloc((void **)&a.factor, sizeof(float) * (size_t)(P * T)), "factor"));
        DIE(cu(cudaMemcpy(a.factor, a.factor_h, sizeof(float) * (size_t)(P * T), cudaMemcpyHostToDevice), "H2D"));
        DIE(cu(cudaMalloc((void **)&a.dist, sizeof(float) * (size_t)N * P), "dist"));
        add_row("mahalanobis fused", D, time_ms(op_maha, &a), validate_maha(N < 32 ? N : 32, D));

        a.radius = padim_gaussian_weights(4.0, NULL);
        float *w = malloc(sizeof(float) * (size_t)(2 * a.radius + 1));
        padim_gaussian_weights(4.0, w);
        a.gw = dev_rand(2 * a.radius + 1, 0, 0);
        cudaMemcpy(a.gw, w, sizeof(float) * (size_t)(2 * a.radius + 1), cudaMemcpyHostToDevice);
        free(w);
        DIE(cu(cudaMalloc((void **)&a.maps, sizeof(float) * (size_t)N * S * S), "maps"));
        DIE(cu(cudaMalloc((void **)&a.tmp, sizeof(float) * (size_t)N * S * S), "tmp"));
        DIE(cu(cudaMalloc((void **)&a.scores, sizeof(float) * (size_t)N), "scores"));
        if (k == 0) add_row("map (upsample+blur+max)", 0, time_ms(op_map, &a), "tests");
        cudaFree(a.l1), cudaFree(a.l2), cudaFree(a.l3), cudaFree(a.emb), cudaFree(a.shift);
        cudaFree(a.mean), cudaFree(a.factor), cudaFree(a.dist), cudaFree(a.maps), cudaFree(a.tmp);
        cudaFree(a.scores), cudaFree(a.gw), cudaFree(a.idx);
        free(a.mean_h), free(a.factor_h);
    }

    printf("\n%s, batch N = %d, P = %d (%dx%d), maps %dx%d\n", prop.name, N, P, H, H, S, S);
    printf("| op | D | ms | per image ms | valid |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n_rows; i++)
        printf("| %s | %d | %.3f | %.4f | %s |\n", rows[i].op, rows[i].d, rows[i].ms,
               strncmp(rows[i].op, "finalize", 8) ? rows[i].ms / N : 0.0, rows[i].valid);
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "{\"device\": \"%s\", \"batch\": %d, \"positions\": %d, \"rows\": [", prop.name, N, P);
            for (int i = 0; i < n_rows; i++)
                fprintf(f, "%s{\"op\": \"%s\", \"d\": %d, \"ms\": %.4f, \"valid\": \"%s\"}", i ? ", " : "",
                        rows[i].op, rows[i].d, rows[i].ms, rows[i].valid);
            fprintf(f, "]}\n");
            fclose(f);
        }
    }
    int fails = 0;
    for (int i = 0; i < n_rows; i++) fails += !strcmp(rows[i].valid, "FAIL");
    return fails ? 1 : 0;
}
