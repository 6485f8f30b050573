/*
 * bench_cuda_backend.c - end-to-end workbench of the CUDA backend through backend.h (the
 * numbers issue 4 asks for): per backbone (ResNet-18 D = 100, Wide-ResNet-50-2 D = 550)
 * at S = 256 with random weights and random preprocessed images: a fit of --fit images
 * (default 209, bottle's training set) in batches of --batch, score images/s at batch 1
 * and --batch, per backbone precision (fp32, tf32, fp16, bf16), and the device memory in
 * use (cudaMemGetInfo, after fit and after scoring). Host-to-device copies of the batches are included (wall clock,
 * after one warm-up batch). Exits 77 without a GPU.
 *
 *   bench_cuda_backend [--fit 209] [--batch 64] [--reps 5] [--json out.json]
 */
#include "backend.h"
#include "common.h"
#include "cpu/ops.h"
#include "rng.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double used_mib(void) {
    size_t f = 0, t = 0;
    cudaMemGetInfo(&f, &t);
    return (double)(t - f) / 1048576.0;
}

#define DIE(expr)                                                                          \
    do {                                                                                   \
        const padim_status s_ = (expr);                                                    \
        if (s_ != PADIM_OK) {                                                              \
            fprintf(stderr, "bench_cuda_backend: %s: %s\n", #expr, padim_last_error());   \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

int main(int argc, char **argv) {
    int n_fit = 209, B = 64, reps = 5;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fit") && i + 1 < argc) n_fit = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: bench_cuda_backend [--fit 209] [--batch 64] [--reps 5] [--json f]\n");
            return 2;
        }
    }
    const backend_ops *ops = padim_backend_cuda();
    int count = 0;
    if (!ops || cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        fprintf(stderr, "bench_cuda_backend: no CUDA device\n");
        return 77;
    }
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (jf) fprintf(jf, "[");
    printf("| backbone | precision | fit %d img s | fit img/s | score img/s b1 | score img/s b%d | "
           "MiB after fit | MiB after score | device |\n|---|---|---|---|---|---|---|---|---|\n",
           n_fit, B);
    const int S = 256;
    const size_t img = (size_t)3 * S * S;
    float *x = malloc(sizeof(float) * img * (size_t)B);
    for (size_t i = 0; i < img * (size_t)B; i++) x[i] = (float)((double)((i * 2654435761u) % 1000) / 250.0 - 2.0);
    float *scores = malloc(sizeof(float) * (size_t)B);
    int first = 1;
    for (int kind = 0; kind <= 1; kind++) {
        bb_weights w;
        DIE(bb_weights_random((padim_backbone_kind)kind, 7, &w));
        const int D = kind ? 550 : 100;
        int H, h2, h3;
        bb_feature_sizes(S, &H, &h2, &h3);
        const int P = H * H;
        int32_t *idx = malloc(sizeof(int32_t) * (size_t)D);
        DIE(padim_sample_channels(42, bb_channels_total(&w.spec), D, idx));
        float *mean = malloc(sizeof(float) * (size_t)P * D);
        float *factor = malloc(sizeof(float) * (size_t)P * (size_t)padim_tri(D));
        static const padim_precision precs[] = {PADIM_PRECISION_FP32, PADIM_PRECISION_TF32,
                                                PADIM_PRECISION_FP16, PADIM_PRECISION_BF16};
        static const char *const prec_names[] = {"fp32", "tf32", "fp16", "bf16"};
        for (int prec = 0; prec < 4; prec++) {
            padim_runtime rt;
            padim_runtime_default(&rt);
            rt.precision = precs[prec];
            backend_setup setup = {.weights = &w, .S = S, .H = H, .W = H, .D = D, .idx = idx,
                                   .max_batch = B, .sigma = 4.0, .pad_mode = 0, .rt = &rt};
            void *ctx;
            DIE(ops->create(&setup, &ctx));
            /* fit: warm-up pass on one batch, then the timed fit */
            int64_t n = 0;
            DIE(ops->fit_begin(ctx));
            DIE(ops->fit_batch(ctx, x, B < n_fit ? B : n_fit));
            double t0 = padim_now();
            DIE(ops->fit_begin(ctx));
            for (int off = 0; off < n_fit; off += B)
                DIE(ops->fit_batch(ctx, x, n_fit - off < B ? n_fit - off : B));
            DIE(ops->fit_end(ctx, 0.01, &n, mean, factor));
            const double t_fit = padim_now() - t0;
            const double mib_fit = used_mib();
            DIE(ops->set_stats(ctx, mean, factor));
            double ips[2];
            for (int b = 0; b < 2; b++) {
                const int nb = b ? B : 1;
                DIE(ops->score_batch(ctx, x, nb, scores, NULL, NULL));
                t0 = padim_now();
                for (int r = 0; r < reps; r++) DIE(ops->score_batch(ctx, x, nb, scores, NULL, NULL));
                ips[b] = reps * nb / (padim_now() - t0);
            }
            const double mib_score = used_mib();
            const char *name = kind ? "wide_resnet50_2" : "resnet18";
            printf("| %s | %s | %.3f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n", name,
                   prec_names[prec], t_fit, n_fit / t_fit, ips[0], ips[1], mib_fit, mib_score,
                   ops->describe(ctx));
            if (jf)
                fprintf(jf, "%s{\"backbone\": \"%s\", \"precision\": \"%s\", \"fit_s\": %.4f, "
                        "\"fit_images\": %d, \"score_ips_b1\": %.1f, \"score_ips_b%d\": %.1f, "
                        "\"mib_fit\": %.0f, \"mib_score\": %.0f, \"device\": \"%s\"}",
                        first ? "" : ", ", name, prec_names[prec], t_fit, n_fit, ips[0], B,
                        ips[1], mib_fit, mib_score, ops->describe(ctx));
            first = 0;
            ops->destroy(ctx);
        }
        free(idx), free(mean), free(factor);
        bb_weights_free(&w);
    }
    if (jf) {
        fprintf(jf, "]\n");
        fclose(jf);
    }
    free(x), free(scores);
    return 0;
}
