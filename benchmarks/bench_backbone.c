/*
 * bench_backbone.c - times the CPU backbone forward pass (bb_forward_cpu, conv1 .. layer3)
 * for ResNet-18 and Wide-ResNet-50-2 with seeded random weights, at input side S,
 * batch 1 and 8, 1 and 2 threads. Prints a table (ms per batch, ms per image, GFLOP/s,
 * process CPU ms per image)
 * and writes the same as JSON. The PyTorch twin is bench_backbone_torch.py; numbers go
 * to benchmarks/RESULTS.md.
 *
 *   bench_backbone [--size S] [--reps R] [--json FILE] [--only BACKBONE] [--batch N]
 *                  [--threads T]      (defaults 256, 3, none, both, 1 and 8, 1 and 2)
 */
#include "cpu/backbone_cpu.h"
#include "common.h"

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

/* Multiply-adds x 2 of every conv for one image of side S. */
static double forward_flops(const bb_spec *sp, int S) {
    double f = 0;
    int h = side(S, &sp->convs[0]);
    f += 2.0 * sp->convs[0].cout * sp->convs[0].cin * 49 * h * h;
    h = (h - 1) / 2 + 1; /* maxpool */
    for (int L = 0; L < 3; L++)
        for (int b = 0; b < sp->n_blocks[L]; b++) {
            const bb_block *bk = &sp->blocks[L][b];
            const int ids[4] = {bk->a, bk->b, bk->c, bk->down};
            int hin[4], hcur = h;
            for (int j = 0; j < 3; j++) {
                if (ids[j] < 0) continue;
                hin[j] = hcur;
                hcur = side(hcur, &sp->convs[ids[j]]);
            }
            hin[3] = h;
            for (int j = 0; j < 4; j++) {
                if (ids[j] < 0) continue;
                const bb_conv_spec *c = &sp->convs[ids[j]];
                const int ho = side(hin[j], c);
                f += 2.0 * c->cout * c->cin * c->k * c->k * ho * ho;
            }
            h = hcur;
        }
    return f;
}

int main(int argc, char **argv) {
    int S = 256, reps = 3, only_batch = 0, only_threads = 0;
    const char *json = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) S = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) only_batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) only_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--size S] [--reps R] [--json FILE] [--only resnet18|"
                            "wide_resnet50_2] [--batch N] [--threads T]\n", argv[0]);
            return 2;
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
    printf("CPU backbone forward (bb_forward_cpu), conv1..layer3, %dx%d, best of %d\n", S, S, reps);
    printf("%-16s %5s %7s %10s %10s %8s %12s\n", "backbone", "batch", "threads", "ms/batch",
           "ms/image", "GFLOP/s", "cpu ms/image");
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
            for (int ti = 0; ti < n_threads; ti++) {
                const int threads = threads_list[ti];
                double best = 1e30, best_cpu = 1e30;
                for (int rep = 0; rep <= reps; rep++) { /* rep 0: warm-up */
                    const double t0 = padim_now(), c0 = cpu_now();
                    if (bb_forward_cpu(&w, x, n, S, threads, l1, l2, l3) != PADIM_OK) {
                        fprintf(stderr, "bench_backbone: %s\n", padim_last_error());
                        return 1;
                    }
                    const double t = padim_now() - t0, c = cpu_now() - c0;
                    if (rep > 0 && t < best) best = t;
                    if (rep > 0 && c < best_cpu) best_cpu = c;
                }
                const char *name = padim_backbone_name(kinds[k]);
                printf("%-16s %5d %7d %10.1f %10.1f %8.1f %12.1f\n", name, n, threads, best * 1e3,
                       best * 1e3 / n, gflop * n / best, best_cpu * 1e3 / n);
                fflush(stdout);
                if (jf)
                    fprintf(jf, "%s\n  {\"backbone\": \"%s\", \"batch\": %d, \"threads\": %d, "
                                "\"ms_per_batch\": %.3f, \"ms_per_image\": %.3f, \"gflops\": %.2f, "
                                "\"cpu_ms_per_image\": %.3f}",
                            first ? "" : ",", name, n, threads, best * 1e3, best * 1e3 / n,
                            gflop * n / best, best_cpu * 1e3 / n);
                first = 0;
            }
            free(x);
            free(l1);
            free(l2);
            free(l3);
        }
        bb_weights_free(&w);
    }
    if (jf) {
        fprintf(jf, "\n]}\n");
        fclose(jf);
    }
    return 0;
}
