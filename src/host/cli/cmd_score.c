/*
 * cmd_score.c - `padim-gpu score`: score images with a model. Scores as CSV on stdout, or
 * with -o DIR: scores.csv, scores.json and the per-image outputs of a table (flag, folder,
 * writer): float32 maps, heatmaps (padim_render_heatmap, the renderer eval uses too) and
 * predicted masks. Images are decoded and scored in batches of the scorer's batch
 * (--batch, else the model's).
 */
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *score_help =
    "usage: padim-gpu score [options] MODEL IMAGE|DIR...\n"
    "\n"
    "Score images (folders are searched recursively). Prints one CSV line per image\n"
    "(path,score[,label,normalized]) on stdout, or writes files with -o.\n"
    "label and normalized appear when the model holds evaluation thresholds\n"
    "(padim-gpu eval --save-thresholds).\n"
    "\n"
    "  -o, --out-dir DIR        write DIR/scores.csv and DIR/scores.json\n"
    "  --maps                   also DIR/maps/<name>.tiff: float32 anomaly maps (S x S)\n"
    "  --heatmaps               also DIR/heatmaps/<name>.png: map over the image\n"
    "  --masks                  also DIR/masks/<name>.png: predicted defect mask (map >= the\n"
    "                           model's pixel threshold; needs eval --save-thresholds)\n"
    "  --batch N                images per backbone batch: the size the backend is created\n"
    "                           for (default: the model's, i.e. the batch it was fitted with)\n"
    CLI_RUNTIME_HELP CLI_BASE_HELP
    "\n"
    "Output names: the input path relative to the folder given, '/' -> '_', no extension.\n"
    "example: padim-gpu score bottle.padim ../shared/data/mvtec_ad/bottle/test -o out --heatmaps\n";

/* ---------------------------------------------------------------- per-image outputs */

/* What the per-image writers share: the model and scratch buffers of one image. */
typedef struct score_job {
    padim_model *m;
    padim_model_info info;
    int S;
    float *rgb;    /* (3, S, S) heatmaps */
    uint8_t *px;   /* (S, S, 3) heatmap or (S, S) mask */
} score_job;

static padim_status write_map(score_job *j, const padim_image *img, const float *map, const char *path) {
    (void)img;
    return padim_write_tiff_f32(path, j->S, j->S, map);
}

/* Colour range: 0 .. the image threshold x 2 when known, else the map's max; no contour. */
static padim_status write_heatmap(score_job *j, const padim_image *img, const float *map, const char *path) {
    const size_t P = (size_t)j->S * j->S;
    padim_status st = padim_model_input_rgb(j->m, img, j->rgb);
    float vmax = 0;
    for (size_t q = 0; q < P; q++) vmax = map[q] > vmax ? map[q] : vmax;
    if (j->info.has_thresholds) vmax = (float)(2.0 * j->info.image_threshold);
    padim_render_heatmap(j->rgb, map, j->S, 0.0f, vmax > 0 ? vmax : 1.0f, 0.5f, NAN, j->px);
    return st == PADIM_OK ? padim_write_png(path, j->S, j->S, 3, j->px) : st;
}

static padim_status write_mask(score_job *j, const padim_image *img, const float *map, const char *path) {
    (void)img;
    const size_t P = (size_t)j->S * j->S;
    for (size_t q = 0; q < P; q++) j->px[q] = map[q] >= j->info.pixel_threshold ? 255 : 0;
    return padim_write_png(path, j->S, j->S, 1, j->px);
}

enum { OUT_MAPS, OUT_HEATMAPS, OUT_MASKS };
static const struct score_output {
    const char *flag, *folder, *ext;
    padim_status (*write)(score_job *j, const padim_image *img, const float *map, const char *path);
} outputs[] = {
    [OUT_MAPS] = {"maps", "maps", "tiff", write_map},
    [OUT_HEATMAPS] = {"heatmaps", "heatmaps", "png", write_heatmap},
    [OUT_MASKS] = {"masks", "masks", "png", write_mask},
};
#define N_OUTPUTS (int)(sizeof(outputs) / sizeof(outputs[0]))
#define OPT_OUTPUT CLI_OPT_OWN

typedef struct score_opts {
    const char *outdir;
    int want[N_OUTPUTS];
    int any; /* some per-image output wanted */
} score_opts;

static int score_option(void *ctx, int code, const char *arg) {
    score_opts *s = ctx;
    if (code == 'o') s->outdir = arg;
    else if (code >= OPT_OUTPUT && code < OPT_OUTPUT + N_OUTPUTS) s->want[code - OPT_OUTPUT] = s->any = 1;
    else return -1;
    return 0;
}

/* ---------------------------------------------------------------- inputs and names */

/* Output name of an input: relative to its root argument, '/' -> '_', extension dropped. */
static char *output_name(const char *path, size_t rootlen) {
    const char *rel = path + rootlen;
    while (*rel == '/') rel++;
    if (!rootlen) {
        const char *sl = strrchr(path, '/');
        rel = sl ? sl + 1 : path;
    }
    char *out = strdup(rel);
    if (!out) return NULL;
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '_';
    return out;
}

/* Output names must not collide (a/x.png and b/x.png given as files are both "x"): the
 * second and later of equal names get "_2", "_3", ... in input order. */
static char **sort_names;
static int cmp_name_index(const void *a, const void *b) {
    const int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const int c = strcmp(sort_names[i], sort_names[j]);
    return c ? c : (i > j) - (i < j);
}

static void disambiguate_names(char **names, int64_t n) {
    int64_t *order = malloc((size_t)n * sizeof(int64_t));
    char **renamed = calloc((size_t)n, sizeof(char *));
    for (int64_t i = 0; order && i < n; i++) order[i] = i;
    sort_names = names;
    if (order) qsort(order, (size_t)n, sizeof(int64_t), cmp_name_index);
    for (int64_t a = 0; a < n && order && renamed;) {
        int64_t b = a + 1;
        while (b < n && !strcmp(names[order[a]], names[order[b]])) b++;
        for (int64_t k = a + 1; k < b; k++) {
            const size_t len = strlen(names[order[k]]) + 24;
            renamed[order[k]] = malloc(len);
            if (renamed[order[k]]) snprintf(renamed[order[k]], len, "%s_%lld", names[order[k]], (long long)(k - a + 1));
        }
        a = b;
    }
    for (int64_t i = 0; renamed && i < n; i++)
        if (renamed[i]) {
            free(names[i]);
            names[i] = renamed[i];
        }
    free(renamed);
    free(order);
}

/* Every input argument's images, with their output names. Returns 0 or 1 (printed). */
static int score_inputs(char **args, int nargs, char ***paths, char ***names, int64_t *n) {
    *paths = *names = NULL;
    *n = 0;
    for (int a = 0; a < nargs; a++) {
        char **sub;
        int64_t ns;
        if (cli_collect_inputs("score", args + a, 1, &sub, &ns)) return 1;
        char **p = realloc(*paths, (size_t)(*n + ns) * sizeof(char *));
        if (p) *paths = p;
        char **q = p ? realloc(*names, (size_t)(*n + ns) * sizeof(char *)) : NULL;
        if (q) *names = q;
        const size_t rootlen = cli_is_dir(args[a]) ? strlen(args[a]) : 0;
        for (int64_t i = 0; i < ns; i++) {
            if (q) (*paths)[*n] = sub[i], (*names)[(*n)++] = output_name(sub[i], rootlen);
            else free(sub[i]);
        }
        free(sub);
        if (!q) {
            fprintf(stderr, "padim-gpu score: error: out of memory\n");
            return 1;
        }
    }
    for (int64_t i = 0; i < *n; i++)
        if (!(*names)[i]) return fprintf(stderr, "padim-gpu score: error: out of memory\n"), 1;
    disambiguate_names(*names, *n);
    return 0;
}

static int make_output_dirs(const score_opts *s) {
    int bad = cli_mkdir_p(s->outdir) != 0;
    for (int k = 0; k < N_OUTPUTS && !bad; k++) {
        char d[PATH_MAX + 16];
        snprintf(d, sizeof(d), "%s/%s", s->outdir, outputs[k].folder);
        bad = s->want[k] && cli_mkdir_p(d) != 0;
    }
    if (bad) fprintf(stderr, "padim-gpu score: error: %s: cannot create output folder: %s\n", s->outdir, strerror(errno));
    return bad;
}

/* ---------------------------------------------------------------- scoring */

/* Decode, score and write the per-image outputs, batch by batch. */
static padim_status score_all(const score_opts *s, score_job *j, padim_scorer *sc, cli_opts *o,
                              char **paths, char **names, int64_t n, float *scores) {
    const int B = padim_scorer_batch(sc);
    const size_t P = (size_t)j->S * j->S;
    float *maps = s->any ? malloc((size_t)B * P * sizeof(float)) : NULL;
    padim_image *imgs = calloc((size_t)B, sizeof(padim_image));
    padim_status st = imgs && (maps || !s->any) ? PADIM_OK : PADIM_ERR_NOMEM;
    for (int64_t i = 0; st == PADIM_OK && i < n; i += B) {
        const int nb = (int)(n - i < B ? n - i : B);
        st = padim_images_load((const char *const *)paths + i, nb, o->rt.threads, imgs);
        if (st == PADIM_OK) st = padim_score_images(sc, imgs, nb, scores + i, maps);
        if (st == PADIM_OK) cli_progress(&o->quiet, "score", i + nb, n);
        for (int k = 0; s->any && st == PADIM_OK && k < nb; k++)
            for (int q = 0; st == PADIM_OK && q < N_OUTPUTS; q++) {
                if (!s->want[q]) continue;
                char p[PATH_MAX * 2];
                snprintf(p, sizeof(p), "%s/%s/%s.%s", s->outdir, outputs[q].folder, names[i + k], outputs[q].ext);
                st = outputs[q].write(j, &imgs[k], maps + (size_t)k * P, p);
            }
        for (int k = 0; k < nb; k++) padim_image_free(&imgs[k]);
    }
    if (!imgs || (s->any && !maps)) fprintf(stderr, "padim-gpu score: error: out of memory\n");
    free(imgs);
    free(maps);
    return st;
}

/* scores.json: the model, backend, batch, timing and every image's scores. */
static cJSON *scores_json(const char *model, const padim_scorer *sc, const score_job *j, double secs,
                          char **paths, char **names, const float *scores, int64_t n) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "backend", padim_scorer_backend(sc));
    cJSON_AddNumberToObject(root, "batch", padim_scorer_batch(sc));
    cJSON_AddNumberToObject(root, "input_size", j->S);
    cli_json_number(root, "seconds", secs);
    cJSON *images = cJSON_AddArrayToObject(root, "images");
    for (int64_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", paths[i]);
        cJSON_AddStringToObject(e, "name", names[i]);
        cli_json_number(e, "score", scores[i]);
        if (j->info.has_thresholds) {
            const padim_model_info *in = &j->info;
            cJSON_AddNumberToObject(e, "label", scores[i] >= in->image_threshold);
            cli_json_number(e, "normalized", padim_normalize_score(scores[i], in->image_threshold, in->score_min,
                                                                   in->score_max));
        }
        cJSON_AddItemToArray(images, e);
    }
    return root;
}

static char *scores_csv(const score_job *j, char **paths, const float *scores, int64_t n) {
    const padim_model_info *in = &j->info;
    cli_buf csv = {0};
    cli_printf(&csv, "path,score%s\n", in->has_thresholds ? ",label,normalized" : "");
    for (int64_t i = 0; i < n; i++) {
        cli_printf(&csv, "%s,%.9g", paths[i], (double)scores[i]);
        if (in->has_thresholds)
            cli_printf(&csv, ",%d,%.6f", scores[i] >= in->image_threshold,
                       padim_normalize_score(scores[i], in->image_threshold, in->score_min, in->score_max));
        cli_printf(&csv, "\n");
    }
    return csv.s;
}

/* CSV on stdout, or scores.csv + scores.json in the output folder. */
static int write_results(const score_opts *s, const cli_opts *o, const char *model, const padim_scorer *sc,
                         const score_job *j, double secs, char **paths, char **names, const float *scores,
                         int64_t n) {
    char *csv = scores_csv(j, paths, scores, n);
    int rc = 0;
    if (!s->outdir) {
        fputs(csv, stdout);
        if (!o->quiet) fprintf(stderr, "scored %lld images in %.2f s (%.1f images/s)\n", (long long)n, secs, (double)n / secs);
        free(csv);
        return 0;
    }
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/scores.csv", s->outdir);
    rc = cli_write_text(p, csv) ? 1 : 0;
    free(csv);
    snprintf(p, sizeof(p), "%s/scores.json", s->outdir);
    if (!rc) rc = cli_json_write(p, scores_json(model, sc, j, secs, paths, names, scores, n)) ? 1 : 0;
    if (rc || o->quiet) return rc;
    fprintf(stderr, "scored %lld images in %.2f s (%.1f images/s); wrote %s/scores.csv, scores.json", (long long)n,
            secs, (double)n / secs, s->outdir);
    for (int k = 0; k < N_OUTPUTS; k++)
        if (s->want[k]) fprintf(stderr, ", %s/", outputs[k].folder);
    fputc('\n', stderr);
    return 0;
}

/* Load the model, check that the outputs asked for are possible. Returns 0 or the exit code. */
static int load_model(const score_opts *s, const char *path, score_job *j) {
    padim_model *m = NULL;
    padim_status st = padim_model_load(path, &m);
    if (st != PADIM_OK) return cli_fail("score", st);
    j->m = m;
    padim_model_get_info(m, &j->info);
    j->S = j->info.input_size;
    if (s->want[OUT_MASKS] && !j->info.has_thresholds) {
        fprintf(stderr, "padim-gpu score: error: %s has no pixel threshold for --masks; run 'padim-gpu eval -m %s "
                        "--save-thresholds DATA' first\n", path, path);
        return 2;
    }
    const size_t P = (size_t)j->S * j->S;
    j->rgb = malloc(3 * P * sizeof(float));
    j->px = malloc(3 * P);
    if (j->rgb && j->px) return 0;
    fprintf(stderr, "padim-gpu score: error: out of memory\n");
    return 1;
}

static int score_with(const score_opts *s, cli_opts *o, const char *model, score_job *j, char **paths,
                      char **names, int64_t n) {
    if (s->outdir && make_output_dirs(s)) return 1;
    o->rt.progress = NULL; /* score_all reports progress over all inputs */
    padim_scorer *sc = NULL;
    padim_status st = padim_scorer_create(j->m, &o->rt, &sc);
    if (st != PADIM_OK) return cli_fail("score", st);
    if (!o->quiet)
        fprintf(stderr, "score: %lld images on %s, batch %d\n", (long long)n, padim_scorer_backend(sc),
                padim_scorer_batch(sc));
    float *scores = malloc((size_t)n * sizeof(float));
    const double t0 = cli_now();
    st = scores ? score_all(s, j, sc, o, paths, names, n, scores) : PADIM_ERR_NOMEM;
    const double secs = cli_now() - t0;
    int rc = st != PADIM_OK ? cli_fail("score", st) : write_results(s, o, model, sc, j, secs, paths, names, scores, n);
    free(scores);
    padim_scorer_free(sc);
    return rc;
}

int cmd_score(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "score");
    score_opts s = {0};
    struct option own[N_OUTPUTS + 2] = {{"out-dir", required_argument, 0, 'o'}};
    for (int k = 0; k < N_OUTPUTS; k++) own[k + 1] = (struct option){outputs[k].flag, no_argument, 0, OPT_OUTPUT + k};
    own[N_OUTPUTS + 1] = (struct option){0, 0, 0, 0};
    const cli_parser p = {own, CLI_GROUP_BASE | CLI_GROUP_RUNTIME, score_help, score_option, &s};
    int rc = cli_parse(&o, argc, argv, &p);
    if (rc != CLI_CONTINUE) return rc;
    if (argc - optind < 2) return cli_usage_error("score", "expected MODEL and at least one IMAGE or DIR");
    if (s.any && !s.outdir) return cli_usage_error("score", "--maps, --heatmaps and --masks need -o DIR");
    const char *model = argv[optind];
    score_job j = {0};
    char **paths = NULL, **names = NULL;
    int64_t n = 0;
    rc = load_model(&s, model, &j);
    if (!rc) rc = score_inputs(argv + optind + 1, argc - optind - 1, &paths, &names, &n);
    if (!rc) rc = score_with(&s, &o, model, &j, paths, names, n);
    padim_free_paths(paths, n);
    padim_free_paths(names, n);
    padim_model_free(j.m);
    free(j.rgb);
    free(j.px);
    return rc;
}
