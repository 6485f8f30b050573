/*
 * cmd_bench.c - `padim-gpu bench`: throughput and latency of fit and score, on real images
 * (a folder) or generated ones, with a per-stage breakdown, peak host memory and (CUDA)
 * peak device memory. Prints a table and writes JSON (cJSON). Public API only.
 *
 * Figures:
 *   end-to-end  images/s from files (parallel decode + preprocess + backbone + ...) with
 *               --images, or from decoded images when the images are generated;
 *   tensor      images/s of the stages after preprocessing (backbone onwards), i.e. what a
 *               caller feeding preprocessed batches gets;
 *   latency     batch-1 scoring of one decoded image, p50 / p99 over all images.
 * Warm-up: one batch is scored before any timing; fit has no warm-up (it is one pass).
 * Fit runs at the config's batch (padim_runtime_batch), scoring at each --batches size.
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <limits.h>
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

#define MAX_BATCHES 16

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

typedef struct bench_opts {
    const char *images_dir, *json_path;
    int side, count;
    int batches[MAX_BATCHES], n_batches;
} bench_opts;

enum { OPT_IMAGES = CLI_OPT_OWN, OPT_SIZE, OPT_COUNT, OPT_BATCHES, OPT_JSON };

static const struct option bench_options[] = {
    {"images", required_argument, 0, OPT_IMAGES},
    {"size", required_argument, 0, OPT_SIZE},
    {"count", required_argument, 0, OPT_COUNT},
    {"batches", required_argument, 0, OPT_BATCHES},
    {"json", required_argument, 0, OPT_JSON},
    {"backbone", required_argument, 0, CLI_OPT_BACKBONE},
    {"preset", required_argument, 0, CLI_OPT_PRESET},
    {"config", required_argument, 0, CLI_OPT_CONFIG},
    {"weights", required_argument, 0, CLI_OPT_WEIGHTS},
    {"device", required_argument, 0, CLI_OPT_DEVICE},
    {"gpu", required_argument, 0, CLI_OPT_GPU},
    {"threads", required_argument, 0, CLI_OPT_THREADS},
    {"precision", required_argument, 0, CLI_OPT_PRECISION},
    {"quiet", no_argument, 0, CLI_OPT_QUIET},
    {"help", no_argument, 0, CLI_OPT_HELP},
    {0, 0, 0, 0},
};

static int parse_batches(bench_opts *b, const char *arg) {
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", arg);
    b->n_batches = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (b->n_batches == MAX_BATCHES) {
            fprintf(stderr, "padim-gpu bench: --batches: at most %d sizes\n", MAX_BATCHES);
            return -1;
        }
        if (cli_parse_int("bench", "--batches", tok, 1, 4096, &b->batches[b->n_batches++])) return -1;
    }
    if (!b->n_batches) fprintf(stderr, "padim-gpu bench: --batches: empty list\n");
    return b->n_batches ? 0 : -1;
}

static int bench_option(void *ctx, int code, const char *arg) {
    bench_opts *b = ctx;
    switch (code) {
    case OPT_IMAGES: b->images_dir = arg; return 0;
    case OPT_JSON: b->json_path = arg; return 0;
    case OPT_SIZE: return cli_parse_int("bench", "--size", arg, 16, 16384, &b->side);
    case OPT_COUNT: return cli_parse_int("bench", "--count", arg, 2, 1 << 20, &b->count);
    case OPT_BATCHES: return parse_batches(b, arg);
    }
    return -1;
}

/* ---------------------------------------------------------------- machine and inputs */

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
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !c) continue;
        c += 2;
        c[strcspn(c, "\n")] = '\0';
        snprintf(buf, cap, "%s", c);
        break;
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

/* The images: decoded from --images (paths kept for the end-to-end figure) or generated. */
typedef struct bench_inputs {
    char **paths; /* NULL for generated images */
    int64_t n_files, n;
    padim_image *imgs; /* (n) decoded */
} bench_inputs;

static void inputs_free(bench_inputs *in) {
    for (int64_t i = 0; in->imgs && i < in->n; i++) padim_image_free(&in->imgs[i]);
    free(in->imgs);
    padim_free_paths(in->paths, in->n_files);
}

static padim_status load_inputs(const bench_opts *b, bench_inputs *in) {
    in->n = b->count;
    if (b->images_dir) {
        padim_status st = padim_list_images(b->images_dir, 1, &in->paths, &in->n_files);
        if (st != PADIM_OK) return st;
        in->n = in->n_files < b->count ? in->n_files : b->count;
    }
    in->imgs = calloc((size_t)in->n, sizeof(padim_image));
    if (!in->imgs) return PADIM_ERR_NOMEM;
    for (int64_t i = 0; i < in->n; i++) {
        if (!in->paths) gen_image(b->side, (uint32_t)i, &in->imgs[i]);
        else if (padim_image_load(in->paths[i], &in->imgs[i]) != PADIM_OK) return PADIM_ERR_IO;
    }
    return PADIM_OK;
}

/* ---------------------------------------------------------------- measurements */

typedef struct bench_score {
    int batch;
    double e2e, tensor; /* images/s */
    padim_stage_times t;
} bench_score;

/* From files as `padim-gpu score` does it: each batch decoded in parallel on a second
 * thread while the previous one is scored (padim_run_batches; PADIM_OVERLAP=0: in turn). */
typedef struct bench_pass {
    padim_scorer *sc;
    const bench_inputs *in;
    const padim_runtime *rt;
    const padim_decode_options *dopt;
    int batch;
    padim_image *chunk[2];
    float *scores;
    double decode; /* seconds in the decoding thread */
} bench_pass;

static int pass_nb(const bench_pass *p, int64_t k) {
    const int64_t i = k * p->batch;
    return (int)(p->in->n - i < p->batch ? p->in->n - i : p->batch);
}

static padim_status pass_decode(void *u, int64_t k, int slot) {
    bench_pass *p = u;
    const double t0 = cli_now();
    padim_status st = padim_images_load_ex((const char *const *)p->in->paths + k * p->batch, pass_nb(p, k),
                                           p->rt->threads, p->dopt, p->chunk[slot]);
    p->decode += cli_now() - t0;
    return st;
}

static padim_status pass_score(void *u, int64_t k, int slot) {
    bench_pass *p = u;
    const int nb = pass_nb(p, k);
    padim_status st = padim_score_images(p->sc, p->chunk[slot], nb, p->scores + k * p->batch, NULL);
    for (int q = 0; q < nb; q++) padim_image_free(&p->chunk[slot][q]);
    return st;
}

/* Score all n images at one batch size: a warm-up batch, then the timed pass (from files
 * with parallel decode of each batch, what `padim-gpu score` does, or from decoded images). */
static padim_status score_at(const padim_model *m, const padim_runtime *rt, const bench_inputs *in, int batch,
                             bench_score *out, char *backend, size_t cap) {
    padim_runtime r2 = *rt;
    r2.batch = batch;
    r2.times = NULL;
    padim_scorer *sc = NULL;
    float *scores = malloc((size_t)in->n * sizeof(float));
    padim_status st = scores ? padim_scorer_create(m, &r2, &sc) : PADIM_ERR_NOMEM;
    if (st == PADIM_OK) snprintf(backend, cap, "%s", padim_scorer_backend(sc));
    if (st == PADIM_OK) st = padim_score_images(sc, in->imgs, batch < in->n ? batch : in->n, scores, NULL);
    padim_scorer_free(sc);
    sc = NULL;
    *out = (bench_score){.batch = batch};
    r2.times = &out->t;
    if (st == PADIM_OK) st = padim_scorer_create(m, &r2, &sc);
    out->t = (padim_stage_times){0}; /* the timed pass only, not the scorer's creation */
    const double t0 = cli_now();
    padim_model_info minfo;
    padim_model_get_info(m, &minfo);
    padim_decode_options dopt; /* --max-pixels, else the model's config, else the default */
    padim_decode_options_resolve(rt, &minfo.config, &dopt);
    bench_pass pass = {.sc = sc, .in = in, .rt = rt, .dopt = &dopt, .batch = batch, .scores = scores};
    if (in->paths) {
        pass.chunk[0] = calloc((size_t)batch, sizeof(padim_image));
        pass.chunk[1] = calloc((size_t)batch, sizeof(padim_image));
        if (!pass.chunk[0] || !pass.chunk[1]) st = PADIM_ERR_NOMEM;
        if (st == PADIM_OK) st = padim_run_batches((in->n + batch - 1) / batch, pass_decode, pass_score, &pass, 1);
        out->t.decode += pass.decode;
        for (int sl = 0; sl < 2; sl++) {
            for (int q = 0; pass.chunk[sl] && q < batch; q++) padim_image_free(&pass.chunk[sl][q]);
            free(pass.chunk[sl]);
        }
    }
    if (st == PADIM_OK && !in->paths) st = padim_score_images(sc, in->imgs, in->n, scores, NULL);
    out->e2e = (double)in->n / (cli_now() - t0);
    padim_scorer_free(sc);
    sc = NULL;
    /* From tensors: the backend's stages on the decoded images with nothing else running
     * (no decode thread beside it, PADIM_OVERLAP=0 for this pass); the stage breakdown is
     * this pass's, with the decoding time of the pass from files. */
    const double decode = out->t.decode;
    const char *ov = getenv("PADIM_OVERLAP");
    char *ov_saved = ov ? strdup(ov) : NULL;
    setenv("PADIM_OVERLAP", "0", 1);
    if (st == PADIM_OK) st = padim_scorer_create(m, &r2, &sc);
    out->t = (padim_stage_times){0};
    if (st == PADIM_OK) st = padim_score_images(sc, in->imgs, in->n, scores, NULL);
    if (ov_saved) setenv("PADIM_OVERLAP", ov_saved, 1);
    else unsetenv("PADIM_OVERLAP");
    free(ov_saved);
    if (in->paths) out->t.decode = decode;
    out->tensor = (double)in->n / (out->t.backbone + out->t.embed + out->t.mahalanobis + out->t.map);
    free(scores);
    padim_scorer_free(sc);
    return st;
}

/* Batch-1 latency of one decoded image per call (after a warm-up): p50 and p99. */
static padim_status latency(const padim_model *m, const padim_runtime *rt, const bench_inputs *in, double *p50,
                            double *p99) {
    padim_runtime r1 = *rt;
    r1.batch = 1;
    r1.times = NULL;
    padim_scorer *sc = NULL;
    double *lat = malloc((size_t)in->n * sizeof(double));
    padim_status st = lat ? padim_scorer_create(m, &r1, &sc) : PADIM_ERR_NOMEM;
    float score;
    if (st == PADIM_OK) st = padim_score_images(sc, in->imgs, 1, &score, NULL);
    for (int64_t i = 0; st == PADIM_OK && i < in->n; i++) {
        const double t0 = cli_now();
        st = padim_score_images(sc, in->imgs + i, 1, &score, NULL);
        lat[i] = cli_now() - t0;
    }
    padim_scorer_free(sc);
    if (st == PADIM_OK) {
        qsort(lat, (size_t)in->n, sizeof(double), cmp_double);
        *p50 = lat[(size_t)(0.50 * (double)(in->n - 1) + 0.5)];
        *p99 = lat[(size_t)(0.99 * (double)(in->n - 1) + 0.5)];
    }
    free(lat);
    return st;
}

/* ---------------------------------------------------------------- report */

typedef struct bench_report {
    const bench_opts *b;
    const bench_inputs *in;
    const padim_config *cfg;
    const padim_runtime *rt;
    padim_model_info info;
    char backend[256], cpu[256], host[256], date[64];
    double fit_s, fit_tensor_s, p50, p99, rss;
    padim_stage_times fit_t;
    bench_score score[MAX_BATCHES];
} bench_report;

static void print_stage_row(const char *what, const padim_stage_times *t, double n) {
    printf("  %-10s per image (ms): decode %.2f  preprocess %.2f  backbone %.2f  embed %.2f  stats %.2f  "
           "factor %.2f  mahalanobis %.2f  map %.2f\n",
           what, 1e3 * t->decode / n, 1e3 * t->preprocess / n, 1e3 * t->backbone / n, 1e3 * t->embed / n,
           1e3 * t->stats / n, 1e3 * t->factor / n, 1e3 * t->mahalanobis / n, 1e3 * t->map / n);
}

static void print_table(const bench_report *r) {
    const bench_inputs *in = r->in;
    const double n = (double)in->n;
    printf("padim-gpu bench  %s  commit %s  %s\n", r->date, PADIM_GIT_COMMIT, r->backend);
    printf("  machine: %s, %ld CPUs, %s\n", r->cpu, sysconf(_SC_NPROCESSORS_ONLN), r->host);
    printf("  BLAS: %s\n", padim_cpu_blas());
    printf("  %s, preset %s, input %d, d %d, %lld %s images %dx%d\n", padim_backbone_name(r->cfg->backbone),
           padim_preset_name(r->cfg->preset), r->info.input_size, r->cfg->d, (long long)in->n,
           in->paths ? "real" : "generated", in->imgs[0].width, in->imgs[0].height);
    printf("  %-24s %12s %14s   (end-to-end: %s)\n", "", "end-to-end", "tensor",
           in->paths ? "from files, decode included" : "from decoded images");
    printf("  %-24s %10.1f/s %12.1f/s\n", "fit (images/s)", n / r->fit_s, n / r->fit_tensor_s);
    for (int b = 0; b < r->b->n_batches; b++) {
        char label[64];
        snprintf(label, sizeof(label), "score batch %d (images/s)", r->score[b].batch);
        printf("  %-24s %10.1f/s %12.1f/s\n", label, r->score[b].e2e, r->score[b].tensor);
    }
    printf("  latency batch 1: p50 %.2f ms, p99 %.2f ms (decoded image to score)\n", 1e3 * r->p50, 1e3 * r->p99);
    printf("  peak host memory %.0f MB", r->rss);
    if (r->fit_t.device_peak_bytes > 0) printf(", peak device memory %.0f MB", r->fit_t.device_peak_bytes / 1e6);
    printf("\n");
    print_stage_row("fit", &r->fit_t, n);
    print_stage_row("score", &r->score[r->b->n_batches - 1].t, n);
}

static cJSON *times_json(const padim_stage_times *t) {
    cJSON *o = cJSON_CreateObject();
    const struct {
        const char *name;
        double v;
    } f[] = {{"decode", t->decode}, {"preprocess", t->preprocess}, {"backbone", t->backbone},
             {"embed", t->embed},   {"stats", t->stats},           {"factor", t->factor},
             {"mahalanobis", t->mahalanobis}, {"map", t->map},     {"device_peak_bytes", t->device_peak_bytes}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) cli_json_number(o, f[i].name, f[i].v);
    return o;
}

static cJSON *settings_json(const bench_report *r) {
    const bench_inputs *in = r->in;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "backbone", padim_backbone_name(r->cfg->backbone));
    cJSON_AddStringToObject(s, "preset", padim_preset_name(r->cfg->preset));
    cJSON_AddNumberToObject(s, "input_size", r->info.input_size);
    cJSON_AddNumberToObject(s, "d", r->cfg->d);
    cJSON_AddNumberToObject(s, "images", (double)in->n);
    cJSON_AddStringToObject(s, "source", in->paths ? r->b->images_dir : "generated");
    cJSON_AddNumberToObject(s, "image_width", in->imgs[0].width);
    cJSON_AddNumberToObject(s, "image_height", in->imgs[0].height);
    cJSON_AddNumberToObject(s, "fit_batch", r->info.config.batch);
    cJSON_AddNumberToObject(s, "threads", r->rt->threads);
    cJSON_AddNumberToObject(s, "precision", (int)r->rt->precision);
    return s;
}

static cJSON *bench_json(const bench_report *r) {
    const double n = (double)r->in->n;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "date", r->date);
    cJSON_AddStringToObject(root, "commit", PADIM_GIT_COMMIT);
    cJSON *mach = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(mach, "cpu", r->cpu);
    cJSON_AddNumberToObject(mach, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(mach, "os", r->host);
    cJSON_AddStringToObject(mach, "blas", padim_cpu_blas());
    cJSON_AddStringToObject(root, "backend", r->backend);
    cJSON_AddItemToObject(root, "settings", settings_json(r));
    cJSON *fit = cJSON_AddObjectToObject(root, "fit");
    cli_json_number(fit, "seconds", r->fit_s);
    cli_json_number(fit, "images_per_s", n / r->fit_s);
    cli_json_number(fit, "tensor_images_per_s", n / r->fit_tensor_s);
    cJSON_AddItemToObject(fit, "stages_s", times_json(&r->fit_t));
    cJSON *score = cJSON_AddArrayToObject(root, "score");
    for (int b = 0; b < r->b->n_batches; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "batch", r->score[b].batch);
        cli_json_number(e, "images_per_s", r->score[b].e2e);
        cli_json_number(e, "tensor_images_per_s", r->score[b].tensor);
        cJSON_AddItemToObject(e, "stages_s", times_json(&r->score[b].t));
        cJSON_AddItemToArray(score, e);
    }
    cJSON *lat = cJSON_AddObjectToObject(root, "latency_ms");
    cli_json_number(lat, "p50", 1e3 * r->p50);
    cli_json_number(lat, "p99", 1e3 * r->p99);
    cli_json_number(root, "peak_host_mb", r->rss);
    cli_json_number(root, "peak_device_mb", r->fit_t.device_peak_bytes / 1e6);
    return root;
}

static void describe_machine(bench_report *r) {
    cpu_model(r->cpu, sizeof(r->cpu));
    struct utsname un;
    if (uname(&un) == 0) snprintf(r->host, sizeof(r->host), "%s %s %s", un.sysname, un.release, un.machine);
    const time_t now = time(NULL);
    strftime(r->date, sizeof(r->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

/* ---------------------------------------------------------------- command */

static padim_status run_bench(const cli_opts *o, const bench_inputs *in, bench_report *r, padim_model **m) {
    padim_runtime rt = o->rt;
    rt.times = &r->fit_t;
    const double t0 = cli_now();
    padim_status st = in->paths ? padim_fit_files(r->cfg, &rt, (const char *const *)in->paths, in->n, m)
                                : padim_fit_images(r->cfg, &rt, in->imgs, in->n, m);
    r->fit_s = cli_now() - t0;
    if (st != PADIM_OK) return st;
    r->fit_tensor_s = r->fit_t.backbone + r->fit_t.embed + r->fit_t.stats + r->fit_t.factor;
    padim_model_get_info(*m, &r->info);
    for (int b = 0; st == PADIM_OK && b < r->b->n_batches; b++) {
        st = score_at(*m, &o->rt, in, r->b->batches[b], &r->score[b], r->backend, sizeof(r->backend));
        if (st == PADIM_OK && !o->quiet)
            fprintf(stderr, "bench: score batch %d: %.1f images/s\n", r->b->batches[b], r->score[b].e2e);
    }
    if (st == PADIM_OK) st = latency(*m, &o->rt, in, &r->p50, &r->p99);
    r->rss = peak_rss_mb();
    return st;
}

int cmd_bench(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "bench");
    o.rt.progress = NULL;
    bench_opts b = {.json_path = "bench.json", .side = 900, .count = 64, .batches = {1, 8, 32}, .n_batches = 3};
    const cli_parser p = {bench_options, 0, bench_help, bench_option, &b};
    int rc = cli_parse(&o, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    if (optind < argc) return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    o.rt.verbose = 0;
    padim_config cfg;
    padim_status st = cli_build_config(&o, &cfg);
    if (st != PADIM_OK) return cli_fail("bench", st);
    bench_inputs in = {0};
    bench_report r = {.b = &b, .in = &in, .cfg = &cfg, .rt = &o.rt};
    padim_model *m = NULL;
    st = load_inputs(&b, &in);
    if (st == PADIM_OK && !o.quiet)
        fprintf(stderr, "bench: %lld %s images (%dx%d), %s, preset %s\n", (long long)in.n,
                in.paths ? "real" : "generated", in.imgs[0].width, in.imgs[0].height,
                padim_backbone_name(cfg.backbone), padim_preset_name(cfg.preset));
    if (st == PADIM_OK) st = run_bench(&o, &in, &r, &m);
    rc = st != PADIM_OK ? cli_fail("bench", st) : 0;
    if (!rc) {
        describe_machine(&r);
        print_table(&r);
        rc = cli_json_write(b.json_path, bench_json(&r)) ? 1 : 0;
        if (!rc && !o.quiet) fprintf(stderr, "bench: wrote %s\n", b.json_path);
    }
    inputs_free(&in);
    padim_model_free(m);
    return rc;
}
