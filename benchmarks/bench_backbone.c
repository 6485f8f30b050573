/*
 * bench_backbone.c - times the CPU backbone forward pass (bb_forward_cpu, conv1 .. layer3)
 * for ResNet-18 and Wide-ResNet-50-2 with seeded random weights, at input side S,
 * batch 1 and 8, 1 and 2 threads. Prints a table (ms per batch, ms per image, GFLOP/s,
 * process CPU ms per image)
 * and writes the same as JSON. The PyTorch twin is bench_backbone_torch.py; numbers go
 * to benchmarks/RESULTS.md. The CPU backbones: im2col + OpenBLAS (bb_forward_cpu, "gemm"),
 * the same with the 3x3 stride-1 convs by Winograd F(2x2, 3x3) (bb_forward_cpu_ex, "wino")
 * and oneDNN (bb_dnnl_forward, "dnnl", when built).
 *
 *   bench_backbone [--size S] [--reps R] [--json FILE] [--only BACKBONE] [--batch N]
 *                  [--threads T] [--impl gemm,wino,dnnl] [--layers] [--wino-min C]
 *                  (defaults 256, 3, none, both, 1 and 8, 1 and 2, all three, off, 0)
 *
 * "wino" uses Winograd for the 3x3 stride-1 convs with at least C input channels (0: all;
 * the CPU backend without oneDNN uses BB_WINOGRAD_MIN_CHANNELS). Its GFLOP/s are those of
 * the direct convolution's flops (effective), so that the rows compare.
 *
 * --layers: after the timed runs, one profiled run per row (bb_cpu_profile) prints each
 * conv's share of the time and its GFLOP/s against the machine's SGEMM peak, measured
 * here first (OpenBLAS cblas_sgemm, 2048^3, best of 3, with T threads).
 */
#include "cpu/backbone_cpu.h"
#include "cpu/backbone_dnnl.h"
#include "common.h"

#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Process CPU seconds (all threads): on a shared machine the wall time of a run depends
 * on the other jobs; the CPU time much less so. Both are reported. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int side(int h, const bb_conv_spec *c) { return (h + 2 * c->pad - c->k) / c->stride + 1; }

/* Input side of every conv of the spec for an image of side S (the net's walk: conv1,
 * max pool, then each block's convs in turn, the downsample on the block input). */
static void conv_in_sides(const bb_spec *sp, int S, int *hin) {
    hin[0] = S;
    int h = side(S, &sp->convs[0]);
    h = (h - 1) / 2 + 1; /* maxpool */
    for (int L = 0; L < 3; L++)
        for (int b = 0; b < sp->n_blocks[L]; b++) {
            const bb_block *bk = &sp->blocks[L][b];
            const int ids[3] = {bk->a, bk->b, bk->c};
            int hc = h;
            for (int j = 0; j < 3; j++)
                if (ids[j] >= 0) {
                    hin[ids[j]] = hc;
                    hc = side(hc, &sp->convs[ids[j]]);
                }
            if (bk->down >= 0) hin[bk->down] = h;
            h = hc;
        }
}

/* Multiply-adds x 2 of conv i for one image whose conv inputs have sides hin. */
static double conv_flops(const bb_spec *sp, const int *hin, int i) {
    const bb_conv_spec *c = &sp->convs[i];
    const int ho = side(hin[i], c);
    return 2.0 * c->cout * c->cin * c->k * c->k * ho * ho;
}

/* Multiply-adds x 2 of every conv for one image of side S. */
static double forward_flops(const bb_spec *sp, int S) {
    int hin[BB_MAX_CONVS] = {0};
    conv_in_sides(sp, S, hin);
    double f = 0;
    for (int i = 0; i < sp->n_convs; i++) f += conv_flops(sp, hin, i);
    return f;
}

/* SGEMM peak of this machine with `threads` OpenBLAS threads, GFLOP/s. */
static double sgemm_peak(int threads) {
    const int N = 2048;
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N), *c = malloc(sizeof(float) * N * N);
    if (!a || !b || !c) return 0;
    for (int i = 0; i < N * N; i++) a[i] = b[i] = (float)(i % 17) * 0.01f;
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        const double t0 = padim_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
        const double t = padim_now() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * N * N * N / best * 1e-9;
}

typedef struct impl_run {
    const bb_weights *w;
    bb_dnnl_net *net;        /* oneDNN, or NULL: bb_forward_cpu_ex */
    const bb_cpu_prep *prep; /* Winograd filters, or NULL */
    int S, threads;
} impl_run;

static padim_status run_once(const impl_run *r, const float *x, int n, float *l1, float *l2, float *l3) {
    return r->net ? bb_dnnl_forward(r->net, x, n, l1, l2, l3)
                  : bb_forward_cpu_ex(r->w, r->prep, x, n, r->S, r->threads, l1, l2, l3);
}

/* Per-conv profile of one run: time share, GFLOP/s, share of the SGEMM peak. */
static void print_layers(const impl_run *r, const float *x, int n, float *l1, float *l2, float *l3, double peak) {
    const bb_spec *sp = &r->w->spec;
    double sec[BB_MAX_CONVS + 1] = {0}, flops[BB_MAX_CONVS] = {0};
    int hin[BB_MAX_CONVS] = {0};
    conv_in_sides(sp, r->S, hin);
    for (int i = 0; i < sp->n_convs; i++) flops[i] = conv_flops(sp, hin, i) * n;
    bb_cpu_profile(sec);
    const double t0 = padim_now();
    if (run_once(r, x, n, l1, l2, l3) != PADIM_OK) {
        bb_cpu_profile(NULL);
        fprintf(stderr, "bench_backbone: %s\n", padim_last_error());
        return;
    }
    const double wall = padim_now() - t0;
    bb_cpu_profile(NULL);
    double tot = 0;
    for (int i = 0; i <= BB_MAX_CONVS; i++) tot += sec[i];
    printf("    %-22s %-18s %8s %8s %6s %8s %6s\n", "conv", "shape", "in", "MFLOP/im", "time%", "GFLOP/s",
           "%peak");
    for (int i = 0; i < sp->n_convs; i++) {
        const bb_conv_spec *c = &sp->convs[i];
        const double w_sec = tot > 0 ? sec[i] / tot * wall : 0; /* wall seconds of this conv */
        char shape[32], in[16];
        snprintf(shape, sizeof(shape), "%d>%d %dx%d/%d", c->cin, c->cout, c->k, c->k, c->stride);
        snprintf(in, sizeof(in), "%dx%d", hin[i], hin[i]);
        const double gf = w_sec > 0 ? flops[i] / w_sec * 1e-9 : 0;
        printf("    %-22s %-18s %8s %8.1f %6.1f %8.1f %6.1f\n", c->name, shape, in, flops[i] / n * 1e-6,
               tot > 0 ? 100.0 * sec[i] / tot : 0, gf, peak > 0 ? 100.0 * gf / peak : 0);
    }
    printf("    %-22s %-18s %8s %8s %6.1f\n", "(pool, reorders, copies)", "", "", "",
           tot > 0 ? 100.0 * sec[BB_MAX_CONVS] / tot : 0);
}

int main(int argc, char **argv) {
    padim_cpu_blas_restart(argv);
    int S = 256, reps = 3, only_batch = 0, only_threads = 0, layers = 0, wino_min = 0;
    const char *json = NULL, *only = NULL, *impl = "gemm,wino,dnnl";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) S = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) only_batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) only_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--impl") && i + 1 < argc) impl = argv[++i];
        else if (!strcmp(argv[i], "--layers")) layers = 1;
        else if (!strcmp(argv[i], "--wino-min") && i + 1 < argc) wino_min = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--size S] [--reps R] [--json FILE] [--only resnet18|"
                            "wide_resnet50_2] [--batch N] [--threads T] [--impl gemm,wino,dnnl] [--layers] [--wino-min C]\n", argv[0]);
            return 2;
        }
    }
    static const char *const impl_names[3] = {"gemm", "wino", "dnnl"};
    int use[3] = {0, 0, 0};
    {
        char list[128];
        snprintf(list, sizeof(list), "%s", impl);
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
            int found = 0;
            for (int q = 0; q < 3; q++)
                if (!strcmp(tok, impl_names[q])) use[q] = found = 1;
            if (!found) {
                fprintf(stderr, "bench_backbone: --impl takes gemm, wino and dnnl (comma-separated), not '%s'\n", tok);
                return 2;
            }
        }
        if (use[2] && !bb_dnnl_available()) {
            fprintf(stderr, "bench_backbone: this build has no oneDNN backbone: dnnl skipped\n");
            use[2] = 0;
        }
    }
    if (S < 32 || reps < 1) {
        fprintf(stderr, "bench_backbone: need --size >= 32 and --reps >= 1\n");
        return 2;
    }
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) {
        perror(json);
        return 1;
    }
    if (jf) fprintf(jf, "{\"bench\": \"backbone_cpu\", \"size\": %d, \"reps\": %d, \"runs\": [", S, reps);
    printf("CPU backbone forward, conv1..layer3, %dx%d, best of %d; oneDNN ISA %s\n", S, S, reps, bb_dnnl_isa());
    printf("BLAS: %s\n", padim_cpu_blas());
    const int threads_all[2] = {only_threads ? only_threads : 1, 2};
    double peak[2] = {0, 0};
    for (int ti = 0; ti < (only_threads ? 1 : 2); ti++) {
        peak[ti] = sgemm_peak(threads_all[ti]);
        printf("SGEMM peak (OpenBLAS, 2048^3) with %d thread%s: %.1f GFLOP/s\n", threads_all[ti],
               threads_all[ti] > 1 ? "s" : "", peak[ti]);
    }
    printf("%-16s %-5s %5s %7s %10s %10s %8s %6s %12s\n", "backbone", "impl", "batch", "threads", "ms/batch",
           "ms/image", "GFLOP/s", "%peak", "cpu ms/image");
    const padim_backbone_kind kinds[2] = {PADIM_BACKBONE_RESNET18, PADIM_BACKBONE_WIDE_RESNET50_2};
    const int batches[2] = {only_batch ? only_batch : 1, 8};
    const int threads_list[2] = {only_threads ? only_threads : 1, 2};
    const int n_batches = only_batch ? 1 : 2, n_threads = only_threads ? 1 : 2;
    int first = 1;
    for (int k = 0; k < 2; k++) {
        if (only && strcmp(only, padim_backbone_name(kinds[k])) != 0) continue;
        bb_weights w;
        if (bb_weights_random(kinds[k], 1, &w) != PADIM_OK) {
            fprintf(stderr, "bench_backbone: %s\n", padim_last_error());
            return 1;
        }
        bb_cpu_prep prep;
        if (bb_cpu_prep_make(&w, wino_min, &prep) != PADIM_OK) {
            fprintf(stderr, "bench_backbone: %s\n", padim_last_error());
            return 1;
        }
        int h1, h2, h3;
        bb_feature_sizes(S, &h1, &h2, &h3);
        const double gflop = forward_flops(&w.spec, S) * 1e-9;
        for (int bi = 0; bi < n_batches; bi++) {
            const int n = batches[bi];
            const size_t nx = (size_t)n * 3 * S * S;
            const size_t n1 = (size_t)n * w.spec.channels[0] * h1 * h1;
            const size_t n2 = (size_t)n * w.spec.channels[1] * h2 * h2;
            const size_t n3 = (size_t)n * w.spec.channels[2] * h3 * h3;
            float *x = malloc(nx * sizeof(float)), *l1 = malloc(n1 * sizeof(float)),
                  *l2 = malloc(n2 * sizeof(float)), *l3 = malloc(n3 * sizeof(float));
            if (!x || !l1 || !l2 || !l3) {
                fprintf(stderr, "bench_backbone: out of memory\n");
                return 1;
            }
            uint32_t r = 12345;
            for (size_t i = 0; i < nx; i++) {
                r = r * 1664525u + 1013904223u;
                x[i] = (float)(r >> 8) * (2.0f / 16777216.0f) - 1.0f;
            }
            for (int ti = 0; ti < n_threads; ti++)
                for (int im = 0; im < 3; im++) {
                if (!use[im]) continue;
                const int threads = threads_list[ti];
                impl_run run = {&w, NULL, im == 1 ? &prep : NULL, S, threads};
                if (im == 2 && bb_dnnl_create(&w, S, threads, 0, &run.net) != PADIM_OK) {
                    fprintf(stderr, "bench_backbone: %s\n", padim_last_error());
                    return 1;
                }
                double best = 1e30, best_cpu = 1e30;
                for (int rep = 0; rep <= reps; rep++) { /* rep 0: warm-up (and oneDNN's plan) */
                    const double t0 = padim_now(), c0 = cpu_now();
                    if (run_once(&run, x, n, l1, l2, l3) != PADIM_OK) {
                        fprintf(stderr, "bench_backbone: %s\n", padim_last_error());
                        return 1;
                    }
                    const double t = padim_now() - t0, c = cpu_now() - c0;
                    if (rep > 0 && t < best) best = t;
                    if (rep > 0 && c < best_cpu) best_cpu = c;
                }
                const char *name = padim_backbone_name(kinds[k]), *iname = impl_names[im];
                printf("%-16s %-5s %5d %7d %10.1f %10.1f %8.1f %6.1f %12.1f\n", name, iname, n, threads, best * 1e3,
                       best * 1e3 / n, gflop * n / best, peak[ti] > 0 ? 100.0 * gflop * n / best / peak[ti] : 0,
                       best_cpu * 1e3 / n);
                fflush(stdout);
                if (layers) print_layers(&run, x, n, l1, l2, l3, peak[ti]);
                if (jf)
                    fprintf(jf, "%s\n  {\"backbone\": \"%s\", \"impl\": \"%s\", \"batch\": %d, \"threads\": %d, "
                                "\"ms_per_batch\": %.3f, \"ms_per_image\": %.3f, \"gflops\": %.2f, "
                                "\"sgemm_peak_gflops\": %.2f, \"cpu_ms_per_image\": %.3f}",
                            first ? "" : ",", name, iname, n, threads, best * 1e3, best * 1e3 / n,
                            gflop * n / best, peak[ti], best_cpu * 1e3 / n);
                first = 0;
                bb_dnnl_destroy(run.net);
            }
            free(x);
            free(l1);
            free(l2);
            free(l3);
        }
        bb_cpu_prep_free(&prep);
        bb_weights_free(&w);
    }
    if (jf) {
        fprintf(jf, "\n]}\n");
        fclose(jf);
    }
    return 0;
}
