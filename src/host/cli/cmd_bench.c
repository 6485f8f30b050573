/*
 * cli_bench.c - `padim-gpu bench`: throughput and latency of fit and score, on real images
 * (a folder) or generated ones, with a per-stage breakdown, peak host memory and (CUDA)
 * peak device memory. Prints a table and writes JSON. Public API only.
 *
 * Figures:
 *   end-to-end  images/s from files (parallel decode + preprocess + backbone + ...) with
 *               --images, or from decoded images when the images are generated;
 *   tensor      images/s of the stages after preprocessing (backbone onwards), i.e. what a
 *               caller feeding preprocessed batches gets;
 *   latency     batch-1 scoring of one decoded image, p50 / p99 over all images.
 * Warm-up: one batch is scored before any timing; fit has no warm-up (it is one pass).
 */
#include "cli_util.h"
#include "padim.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef PADIM_GIT_COMMIT
#define PADIM_GIT_COMMIT "unknown"
#endif

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* kB on Linux */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void cpu_model(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c += 2;
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

/* A generated image: smooth colour gradients plus seeded noise, side x side RGB. */
static void gen_image(int side, uint32_t seed, padim_image *img) {
    img->width = img->height = side;
    img->channels = 3;
    img->data = malloc((size_t)side * side * 3);
    uint32_t s = seed * 2654435761u + 1;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                int v = (x * (c + 1) + y * (3 - c)) * 255 / (4 * side) + (int)(s >> 28);
                img->data[((size_t)y * side + x) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
            }
}

static void jp_times(cli_buf *b, const padim_stage_times *t) {
    cli_printf(b, "{\"decode\": %.6f, \"preprocess\": %.6f, \"backbone\": %.6f, \"embed\": %.6f, \"stats\": %.6f, "
          "\"factor\": %.6f, \"mahalanobis\": %.6f, \"map\": %.6f, \"device_peak_bytes\": %.0f}",
       t->decode, t->preprocess, t->backbone, t->embed, t->stats, t->factor, t->mahalanobis, t->map,
       t->device_peak_bytes);
}

static void print_stage_row(const char *what, const padim_stage_times *t, double n) {
    printf("  %-10s per image (ms): decode %.2f  preprocess %.2f  backbone %.2f  embed %.2f  stats %.2f  "
           "factor %.2f  mahalanobis %.2f  map %.2f\n",
           what, 1e3 * t->decode / n, 1e3 * t->preprocess / n, 1e3 * t->backbone / n, 1e3 * t->embed / n,
           1e3 * t->stats / n, 1e3 * t->factor / n, 1e3 * t->mahalanobis / n, 1e3 * t->map / n);
}

static const char *bench_help =
    "usage: padim-gpu bench [options]\n"
    "\n"
    "Measure fit and score throughput, batch-1 latency, a per-stage breakdown and peak\n"
    "memory. Prints a table and writes JSON (machine, commit, settings, numbers).\n"
    "\n"
    "  --images DIR             real images (recursive; default: generated ones)\n"
    "  --size N                 side of generated images (default 900, like MVTec bottle)\n"
    "  --count N                number of images (default 64; with --images: all, capped by N)\n"
    "  --batches LIST           scoring batch sizes, comma-separated (default 1,8,32)\n"
    "  --backbone NAME, --preset NAME, --config FILE\n"
    "  --weights FILE|random    weights (default: the config's; 'random' = seeded random weights,\n"
    "                           for timing a backbone whose weights are not at hand)\n"
    "  --device cpu|cuda|auto, --gpu N, --threads N, --precision P\n"
    "  --json FILE              write the JSON here (default bench.json)\n"
    "  -q                       no progress\n";

int cmd_bench(int argc, char **argv) {
    const char *images_dir = NULL, *json_path = "bench.json", *config = NULL, *weights = NULL;
    const char *backbone = "resnet18", *preset = "anomalib";
    int side = 900, count = 64, quiet = 0;
    int batches[16] = {1, 8, 32}, n_batches = 3;
    padim_runtime rt;
    padim_runtime_default(&rt);
    static struct option longopts[] = {
        {"images", required_argument, 0, 'i'}, {"size", required_argument, 0, 's'},
        {"count", required_argument, 0, 'n'},  {"batches", required_argument, 0, 'b'},
        {"backbone", required_argument, 0, 'B'}, {"preset", required_argument, 0, 'P'},
        {"config", required_argument, 0, 'c'}, {"weights", required_argument, 0, 'w'},
        {"device", required_argument, 0, 'd'}, {"gpu", required_argument, 0, 'g'},
        {"threads", required_argument, 0, 't'}, {"precision", required_argument, 0, 'p'},
        {"json", required_argument, 0, 'j'},   {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(bench_help, stdout); return 0;
        case 'i': images_dir = optarg; break;
        case 's': side = atoi(optarg); break;
        case 'n': count = atoi(optarg); break;
        case 'b': {
            n_batches = 0;
            char *save, *tok, buf[256];
            snprintf(buf, sizeof(buf), "%s", optarg);
            for (tok = strtok_r(buf, ",", &save); tok && n_batches < 16; tok = strtok_r(NULL, ",", &save)) {
                int v = atoi(tok);
                if (v < 1 || v > 4096) {
                    fprintf(stderr, "padim-gpu bench: --batches: '%s' is not a batch size in [1, 4096]\n", tok);
                    return 2;
                }
                batches[n_batches++] = v;
            }
            if (!n_batches) {
                fprintf(stderr, "padim-gpu bench: --batches: empty list\n");
                return 2;
            }
            break;
        }
        case 'B': backbone = optarg; break;
        case 'P': preset = optarg; break;
        case 'c': config = optarg; break;
        case 'w': weights = optarg; break;
        case 'd':
            if (cli_parse_device("bench", optarg, &rt.device)) return 2;
            break;
        case 'g': rt.gpu = atoi(optarg); break;
        case 't': rt.threads = atoi(optarg); break;
        case 'p':
            if (cli_parse_precision("bench", optarg, &rt.precision)) return 2;
            break;
        case 'j': json_path = optarg; break;
        case 'q': quiet = 1; break;
        default: fprintf(stderr, "Try 'padim-gpu bench --help'.\n"); return 2;
        }
    }
    if (count < 2 || side < 16) {
        fprintf(stderr, "padim-gpu bench: --count must be >= 2 and --size >= 16\n");
        return 2;
    }
    /* Config: defaults, then the config file (explicit or built-in), then --weights. */
    padim_config cfg;
    padim_backbone_kind bk;
    padim_preset pr;
    if (padim_backbone_parse(backbone, &bk) != PADIM_OK || padim_preset_parse(preset, &pr) != PADIM_OK) {
        fprintf(stderr, "padim-gpu bench: %s\n", padim_last_error());
        return 2;
    }
    padim_config_default(&cfg, bk, pr);
    char cfg_path[PATH_MAX];
    snprintf(cfg_path, sizeof(cfg_path), "%s/configs/%s_%s.yaml", cli_data_dir(), padim_backbone_name(bk),
             padim_preset_name(pr));
    if (padim_config_load(config ? config : cfg_path, &cfg) != PADIM_OK) {
        fprintf(stderr, "padim-gpu bench: error: %s\n", padim_last_error());
        return 1;
    }
    if (weights) snprintf(cfg.weights, sizeof(cfg.weights), "%s", weights);

    /* Inputs: paths (end-to-end from files) and decoded images. */
    char **paths = NULL;
    int64_t n = count, nf = 0;
    if (images_dir) {
        if (padim_list_images(images_dir, 1, &paths, &nf) != PADIM_OK) {
            fprintf(stderr, "padim-gpu bench: error: %s\n", padim_last_error());
            return 1;
        }
        n = nf < count ? nf : count;
    }
    padim_image *imgs = calloc((size_t)n, sizeof(padim_image));
    for (int64_t i = 0; i < n; i++) {
        if (paths) {
            if (padim_image_load(paths[i], &imgs[i]) != PADIM_OK) {
                fprintf(stderr, "padim-gpu bench: error: %s\n", padim_last_error());
                return 1;
            }
        } else {
            gen_image(side, (uint32_t)i, &imgs[i]);
        }
    }
    if (!quiet)
        fprintf(stderr, "bench: %lld %s images (%dx%d), %s, preset %s\n", (long long)n, paths ? "real" : "generated",
                imgs[0].width, imgs[0].height, padim_backbone_name(cfg.backbone), padim_preset_name(cfg.preset));

    /* Fit. */
    padim_stage_times fit_t = {0};
    rt.times = &fit_t;
    padim_model *m = NULL;
    double t0 = cli_now();
    padim_status st = paths ? padim_fit_files(&cfg, &rt, (const char *const *)paths, n, &m)
                            : padim_fit_images(&cfg, &rt, imgs, n, &m);
    const double fit_s = cli_now() - t0;
    if (st != PADIM_OK) {
        fprintf(stderr, "padim-gpu bench: error: %s\n", padim_last_error());
        return 1;
    }
    const double fit_tensor_s = fit_t.backbone + fit_t.embed + fit_t.stats + fit_t.factor;

    /* Score at each batch size: warm-up batch, then all n images. */
    double score_e2e[16], score_tensor[16];
    padim_stage_times score_t[16];
    char backend[256] = "";
    for (int b = 0; b < n_batches; b++) {
        padim_runtime r2 = rt;
        r2.batch = batches[b];
        r2.times = NULL;
        padim_scorer *sc = NULL;
        if ((st = padim_scorer_create(m, &r2, &sc)) != PADIM_OK) break;
        snprintf(backend, sizeof(backend), "%s", padim_scorer_backend(sc));
        float *scores = malloc((size_t)n * sizeof(float));
        int warm = (int)(batches[b] < n ? batches[b] : n);
        st = padim_score_images(sc, imgs, warm, scores, NULL);
        padim_scorer_free(sc);
        memset(&score_t[b], 0, sizeof(score_t[b]));
        r2.times = &score_t[b];
        if (st == PADIM_OK) st = padim_scorer_create(m, &r2, &sc);
        if (st == PADIM_OK) {
            score_t[b] = (padim_stage_times){0};
            t0 = cli_now();
            if (paths) {
                /* From files: parallel decode of each batch, then scoring (what
                 * `padim-gpu score` does). */
                padim_image *chunk = calloc((size_t)batches[b], sizeof(padim_image));
                for (int64_t i = 0; st == PADIM_OK && i < n; i += batches[b]) {
                    const int nb = (int)(n - i < batches[b] ? n - i : batches[b]);
                    const double td = cli_now();
                    st = padim_images_load((const char *const *)paths + i, nb, rt.threads, chunk);
                    score_t[b].decode += cli_now() - td;
                    if (st == PADIM_OK) st = padim_score_images(sc, chunk, nb, scores + i, NULL);
                    for (int k = 0; k < nb; k++) padim_image_free(&chunk[k]);
                }
                free(chunk);
            } else {
                st = padim_score_images(sc, imgs, n, scores, NULL);
            }
            score_e2e[b] = (double)n / (cli_now() - t0);
            const padim_stage_times *t = &score_t[b];
            score_tensor[b] = (double)n / (t->backbone + t->embed + t->mahalanobis + t->map);
            padim_scorer_free(sc);
        }
        free(scores);
        if (st != PADIM_OK) break;
        if (!quiet) fprintf(stderr, "bench: score batch %d: %.1f images/s\n", batches[b], score_e2e[b]);
    }
    if (st != PADIM_OK) {
        fprintf(stderr, "padim-gpu bench: error: %s\n", padim_last_error());
        return 1;
    }
    /* Latency: batch 1, one decoded image per call. */
    double *lat = malloc((size_t)n * sizeof(double));
    {
        padim_runtime r1 = rt;
        r1.batch = 1;
        r1.times = NULL;
        padim_scorer *sc = NULL;
        st = padim_scorer_create(m, &r1, &sc);
        float score;
        if (st == PADIM_OK) st = padim_score_images(sc, imgs, 1, &score, NULL); /* warm-up */
        for (int64_t i = 0; st == PADIM_OK && i < n; i++) {
            t0 = cli_now();
            st = padim_score_images(sc, imgs + i, 1, &score, NULL);
            lat[i] = cli_now() - t0;
        }
        padim_scorer_free(sc);
    }
    if (st != PADIM_OK) {
        fprintf(stderr, "padim-gpu bench: error: %s\n", padim_last_error());
        return 1;
    }
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    const double p50 = lat[(size_t)(0.50 * (double)(n - 1) + 0.5)], p99 = lat[(size_t)(0.99 * (double)(n - 1) + 0.5)];
    const double rss = peak_rss_mb();

    char cpu[256], host[256] = "";
    cpu_model(cpu, sizeof(cpu));
    struct utsname un;
    if (uname(&un) == 0) snprintf(host, sizeof(host), "%s %s %s", un.sysname, un.release, un.machine);
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    padim_model_info info;
    padim_model_get_info(m, &info);

    printf("padim-gpu bench  %s  commit %s  %s\n", date, PADIM_GIT_COMMIT, backend);
    printf("  machine: %s, %ld CPUs, %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN), host);
    printf("  %s, preset %s, input %d, d %d, %lld %s images %dx%d\n", padim_backbone_name(cfg.backbone),
           padim_preset_name(cfg.preset), info.input_size, cfg.d, (long long)n, paths ? "real" : "generated",
           imgs[0].width, imgs[0].height);
    printf("  %-24s %12s %14s   (end-to-end: %s)\n", "", "end-to-end", "tensor",
           paths ? "from files, decode included" : "from decoded images");
    printf("  %-24s %10.1f/s %12.1f/s\n", "fit (images/s)", (double)n / fit_s, (double)n / fit_tensor_s);
    for (int b = 0; b < n_batches; b++) {
        char label[64];
        snprintf(label, sizeof(label), "score batch %d (images/s)", batches[b]);
        printf("  %-24s %10.1f/s %12.1f/s\n", label, score_e2e[b], score_tensor[b]);
    }
    printf("  latency batch 1: p50 %.2f ms, p99 %.2f ms (decoded image to score)\n", 1e3 * p50, 1e3 * p99);
    printf("  peak host memory %.0f MB", rss);
    if (fit_t.device_peak_bytes > 0) printf(", peak device memory %.0f MB", fit_t.device_peak_bytes / 1e6);
    printf("\n");
    print_stage_row("fit", &fit_t, (double)n);
    print_stage_row("score", &score_t[n_batches - 1], (double)n);

    cli_buf j = {0};
    cli_printf(&j, "{\n  \"date\": \"%s\",\n  \"commit\": \"%s\",\n  \"machine\": {\"cpu\": \"%s\", \"cpus\": %ld, \"os\": \"%s\"},\n",
       date, PADIM_GIT_COMMIT, cpu, sysconf(_SC_NPROCESSORS_ONLN), host);
    cli_printf(&j, "  \"backend\": \"%s\",\n  \"settings\": {\"backbone\": \"%s\", \"preset\": \"%s\", \"input_size\": %d, \"d\": %d, "
           "\"images\": %lld, \"source\": \"%s\", \"image_width\": %d, \"image_height\": %d, \"fit_batch\": %d, \"threads\": %d, "
           "\"precision\": %d},\n",
       backend, padim_backbone_name(cfg.backbone), padim_preset_name(cfg.preset), info.input_size, cfg.d, (long long)n,
       paths ? images_dir : "generated", imgs[0].width, imgs[0].height, cfg.batch, rt.threads, (int)rt.precision);
    cli_printf(&j, "  \"fit\": {\"seconds\": %.6f, \"images_per_s\": %.3f, \"tensor_images_per_s\": %.3f, \"stages_s\": ", fit_s,
       (double)n / fit_s, (double)n / fit_tensor_s);
    jp_times(&j, &fit_t);
    cli_printf(&j, "},\n  \"score\": [\n");
    for (int b = 0; b < n_batches; b++) {
        cli_printf(&j, "    {\"batch\": %d, \"images_per_s\": %.3f, \"tensor_images_per_s\": %.3f, \"stages_s\": ", batches[b],
           score_e2e[b], score_tensor[b]);
        jp_times(&j, &score_t[b]);
        cli_printf(&j, "}%s\n", b + 1 < n_batches ? "," : "");
    }
    cli_printf(&j, "  ],\n  \"latency_ms\": {\"p50\": %.4f, \"p99\": %.4f},\n  \"peak_host_mb\": %.1f,\n  \"peak_device_mb\": %.1f\n}\n",
       1e3 * p50, 1e3 * p99, rss, fit_t.device_peak_bytes / 1e6);
    int rc = 0;
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", json_path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f || fputs(j.s, f) < 0 || fclose(f) != 0 || rename(tmp, json_path) != 0) {
        fprintf(stderr, "padim-gpu bench: error: %s: cannot write: %s\n", json_path, strerror(errno));
        remove(tmp);
        rc = 1;
    } else if (!quiet) {
        fprintf(stderr, "bench: wrote %s\n", json_path);
    }
    free(j.s);
    free(lat);
    for (int64_t i = 0; i < n; i++) padim_image_free(&imgs[i]);
    free(imgs);
    padim_free_paths(paths, nf);
    padim_model_free(m);
    return rc;
}
