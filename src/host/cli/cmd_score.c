/*
 * cmd_score.c - `padim-gpu score`: score images with a model. Scores as CSV on stdout, or
 * with -o DIR: scores.csv, scores.json, regions.csv and the per-image outputs of a table
 * (flag, folder, writer): float32 maps, heatmaps (padim_render_heatmap[_image], the
 * renderer eval uses too) and predicted masks, at each image's own size by default
 * (padim_map_to_source) or at the preprocessed size (--map-size input). With thresholds
 * in the model (good-only calibration first, else evaluation) every image's defect regions
 * (padim_find_regions) go into scores.json and regions.csv. Images are decoded and scored
 * in batches of the scorer's batch (--batch, else the model's).
 */
#include "cli_opts.h"
#include "cmd_score.h"
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
    "label and normalized appear when the model holds thresholds: from good images\n"
    "(padim-gpu calibrate), else from evaluation (padim-gpu eval --save-thresholds);\n"
    "stderr says which.\n"
    "\n"
    "  -o, --out-dir DIR        write DIR/scores.csv and DIR/scores.json (with thresholds:\n"
    "                           also every image's defect regions, and DIR/regions.csv)\n"
    "  --maps                   also DIR/maps/<name>.tiff: float32 anomaly maps\n"
    "  --heatmaps               also DIR/heatmaps/<name>.png: map over the image\n"
    "  --masks                  also DIR/masks/<name>.png: predicted defect mask (map >= the\n"
    "                           model's pixel threshold; needs thresholds in the model)\n"
    "  --keep-going             an unreadable or refused image gets a row with its error\n"
    "                           (scores.csv column 'error', scores.json \"error\") and the\n"
    "                           others are scored; exit status 3 when any image failed\n"
    "  --map-size source|input  maps, heatmaps, masks and regions at each image's own size\n"
    "                           (default source) or at the preprocessed size S x S (input)\n"
    "  --batch N                images per backbone batch: the size the backend is created\n"
    "                           for (default: the model's, i.e. the batch it was fitted with)\n"
    CLI_RUNTIME_HELP CLI_BASE_HELP
    "\n"
    "Output names: the input path relative to the folder given, '/' -> '_', no extension.\n"
    "example: padim-gpu score bottle.padim ../shared/data/mvtec_ad/bottle/test -o out --heatmaps\n";

/* ---------------------------------------------------------------- per-image outputs */

/* What the per-image writers share: the model and scratch buffers of one image. */
/* The map of one image as the outputs see it: at the source size or the input size. */
typedef struct map_view {
    const float *v; /* (h, w) */
    int w, h;
} map_view;

static padim_status write_map(score_job *j, const padim_image *img, const map_view *mv, const char *path) {
    (void)j, (void)img;
    return padim_write_tiff_f32(path, mv->w, mv->h, mv->v);
}

/* Colour range: 0 .. the image threshold x 2 when known, else the map's max; the outline
 * of the predicted mask when a pixel threshold is known. */
static padim_status write_heatmap(score_job *j, const padim_image *img, const map_view *mv, const char *path) {
    const size_t n = (size_t)mv->w * mv->h;
    float vmax = 0;
    for (size_t q = 0; q < n; q++) vmax = mv->v[q] > vmax ? mv->v[q] : vmax;
    if (j->thr_source) vmax = (float)(2.0 * j->thr_image);
    const double contour = j->thr_source ? j->thr_pixel : NAN;
    padim_status st = PADIM_OK;
    if (j->source) {
        st = padim_render_heatmap_image(img, mv->v, 0.0f, vmax > 0 ? vmax : 1.0f, 0.5f, contour, j->px);
    } else {
        st = padim_model_input_rgb(j->m, img, j->rgb);
        padim_render_heatmap(j->rgb, mv->v, j->S, 0.0f, vmax > 0 ? vmax : 1.0f, 0.5f, contour, j->px);
    }
    return st == PADIM_OK ? padim_write_png(path, mv->w, mv->h, 3, j->px) : st;
}

static padim_status write_mask(score_job *j, const padim_image *img, const map_view *mv, const char *path) {
    (void)img;
    const size_t n = (size_t)mv->w * mv->h;
    for (size_t q = 0; q < n; q++) j->px[q] = mv->v[q] != PADIM_NOT_SCORED && mv->v[q] >= j->thr_pixel ? 255 : 0;
    return padim_write_png(path, mv->w, mv->h, 1, j->px);
}

enum { OUT_MAPS, OUT_HEATMAPS, OUT_MASKS };
static const struct score_output {
    const char *flag, *folder, *ext;
    padim_status (*write)(score_job *j, const padim_image *img, const map_view *mv, const char *path);
} outputs[] = {
    [OUT_MAPS] = {"maps", "maps", "tiff", write_map},
    [OUT_HEATMAPS] = {"heatmaps", "heatmaps", "png", write_heatmap},
    [OUT_MASKS] = {"masks", "masks", "png", write_mask},
};
#define N_OUTPUTS (int)(sizeof(outputs) / sizeof(outputs[0]))
#define OPT_OUTPUT CLI_OPT_OWN
#define OPT_MAP_SIZE (CLI_OPT_OWN + N_OUTPUTS)
#define OPT_KEEP_GOING (CLI_OPT_OWN + N_OUTPUTS + 1)
/* Exit status when --keep-going scored some images and others failed. */
#define EXIT_SOME_FAILED 3

typedef struct score_opts {
    const char *outdir;
    int want[N_OUTPUTS];
    int any;        /* some per-image output wanted */
    int input_size; /* --map-size input */
    int keep_going; /* --keep-going */
} score_opts;

static int score_option(void *ctx, int code, const char *arg) {
    score_opts *s = ctx;
    if (code == 'o') s->outdir = arg;
    else if (code >= OPT_OUTPUT && code < OPT_OUTPUT + N_OUTPUTS) s->want[code - OPT_OUTPUT] = s->any = 1;
    else if (code == OPT_MAP_SIZE && (!strcmp(arg, "source") || !strcmp(arg, "input"))) s->input_size = !strcmp(arg, "input");
    else if (code == OPT_KEEP_GOING) s->keep_going = 1;
    else if (code == OPT_MAP_SIZE) {
        fprintf(stderr, "padim-gpu score: error: --map-size expects source or input, got '%s'\n", arg);
        return -1;
    } else return -1;
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

/* The map of image img as the outputs see it (source size: mapped back into j->src). */
static padim_status view_of(score_job *j, const padim_image *img, const float *map, map_view *mv) {
    mv->v = map, mv->w = mv->h = j->S;
    const size_t need = j->source ? (size_t)img->width * img->height : (size_t)j->S * j->S;
    if (need > j->cap) {
        float *src = realloc(j->src, need * sizeof(float));
        if (src) j->src = src;
        uint8_t *px = src ? realloc(j->px, need * 3) : NULL;
        if (px) j->px = px, j->cap = need;
        if (!px) return PADIM_ERR_NOMEM;
    }
    if (!j->source) return PADIM_OK;
    mv->v = j->src, mv->w = img->width, mv->h = img->height;
    return padim_map_to_source(j->m, map, img->width, img->height, j->src);
}

/* One image's per-image outputs and regions. */
static padim_status image_outputs(const score_opts *s, score_job *j, const padim_image *img, const float *map,
                                  const char *name, image_regions *reg) {
    map_view mv;
    padim_status st = view_of(j, img, map, &mv);
    for (int q = 0; st == PADIM_OK && q < N_OUTPUTS; q++) {
        if (!s->want[q]) continue;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s/%s.%s", s->outdir, outputs[q].folder, name, outputs[q].ext);
        st = outputs[q].write(j, img, &mv, p);
    }
    if (st == PADIM_OK && reg) {
        reg->w = mv.w, reg->h = mv.h;
        st = padim_find_regions(mv.v, mv.w, mv.h, j->thr_pixel, &reg->r, &reg->n);
    }
    return st;
}

/* --keep-going: the error of image i, remembered (the first line of padim_last_error). */
static void remember_error(char **errors, int64_t i) {
    free(errors[i]);
    errors[i] = strdup(padim_last_error());
}

/* Decode a batch. Without errors (NULL) the first failure stops everything; with it every
 * image is tried on its own after a failed parallel decode, failures are recorded and their
 * slots left empty (data NULL). */
static padim_status load_batch(char **paths, int nb, int threads, const padim_decode_options *dopt,
                               padim_image *imgs, char **errors) {
    padim_status st = padim_images_load_ex((const char *const *)paths, nb, threads, dopt, imgs);
    if (st == PADIM_OK || !errors) return st;
    for (int k = 0; k < nb; k++) {
        memset(&imgs[k], 0, sizeof(imgs[k]));
        if (padim_image_load_ex(paths[k], dopt, &imgs[k]) != PADIM_OK) remember_error(errors, k);
    }
    return PADIM_OK;
}

/* Score the decoded images of a batch (slots with data). With errors, a failing batch is
 * retried image by image so that one refused image (e.g. by preprocessing) does not take
 * the others with it. scores/maps indexed like imgs. */
static padim_status score_batch(padim_scorer *sc, padim_image *imgs, int nb, float *scores, float *maps, size_t P,
                                char **errors) {
    int complete = 1;
    for (int k = 0; k < nb; k++) complete &= imgs[k].data != NULL;
    if (complete || !errors) {
        padim_status st = padim_score_images(sc, imgs, nb, scores, maps);
        if (st == PADIM_OK || !errors) return st;
    }
    for (int k = 0; k < nb; k++) {
        if (!imgs[k].data) continue;
        if (padim_score_images(sc, &imgs[k], 1, &scores[k], maps ? maps + (size_t)k * P : NULL) != PADIM_OK) {
            remember_error(errors, k);
            padim_image_free(&imgs[k]);
        }
    }
    return PADIM_OK;
}

/* The batches of score_all: slot s of imgs holds batch k while it is decoded (producer
 * thread) and then scored and written (calling thread); see padim_run_batches. */
typedef struct score_pass {
    const score_opts *s;
    score_job *j;
    padim_scorer *sc;
    cli_opts *o;
    char **paths, **names, **errors;
    int64_t n;
    int B, need_maps;
    size_t P;
    float *scores, *maps;
    image_regions *regions;
    padim_decode_options dopt;
    padim_image *imgs[2];
} score_pass;

static padim_status pass_decode(void *u, int64_t k, int slot) {
    score_pass *p = u;
    const int64_t i = k * p->B;
    const int nb = (int)(p->n - i < p->B ? p->n - i : p->B);
    return load_batch(p->paths + i, nb, p->o->rt.threads, &p->dopt, p->imgs[slot], p->errors ? p->errors + i : NULL);
}

static padim_status pass_score(void *u, int64_t k, int slot) {
    score_pass *p = u;
    const int64_t i = k * p->B;
    const int nb = (int)(p->n - i < p->B ? p->n - i : p->B);
    padim_image *imgs = p->imgs[slot];
    padim_status st = score_batch(p->sc, imgs, nb, p->scores + i, p->maps, p->P, p->errors ? p->errors + i : NULL);
    if (st == PADIM_OK) cli_progress(&p->o->quiet, "score", i + nb, p->n);
    for (int q = 0; p->need_maps && st == PADIM_OK && q < nb; q++) {
        if (!imgs[q].data) continue; /* --keep-going: failed, error recorded */
        st = image_outputs(p->s, p->j, &imgs[q], p->maps + (size_t)q * p->P, p->names[i + q],
                           p->regions ? &p->regions[i + q] : NULL);
        if (st != PADIM_OK && p->errors && st != PADIM_ERR_NOMEM) remember_error(p->errors, i + q), st = PADIM_OK;
    }
    for (int q = 0; q < nb; q++) padim_image_free(&imgs[q]);
    return st;
}

/* Decode, score and write the per-image outputs, batch by batch: the next batch is decoded
 * while this one is scored and written (PADIM_OVERLAP=0: one after the other). regions: (n)
 * or NULL; errors: (n) with --keep-going (an image's error, else NULL), or NULL. */
static padim_status score_all(const score_opts *s, score_job *j, padim_scorer *sc, cli_opts *o,
                              char **paths, char **names, int64_t n, float *scores, image_regions *regions,
                              char **errors) {
    score_pass p = {.s = s, .j = j, .sc = sc, .o = o, .paths = paths, .names = names, .errors = errors, .n = n,
                    .B = padim_scorer_batch(sc), .need_maps = s->any || regions, .P = (size_t)j->S * j->S,
                    .scores = scores, .regions = regions};
    padim_decode_options_resolve(&o->rt, &j->info.config, &p.dopt); /* --max-pixels, else the model's, else default */
    p.maps = p.need_maps ? malloc((size_t)p.B * p.P * sizeof(float)) : NULL;
    p.imgs[0] = calloc((size_t)p.B, sizeof(padim_image));
    p.imgs[1] = calloc((size_t)p.B, sizeof(padim_image));
    padim_status st = p.imgs[0] && p.imgs[1] && (p.maps || !p.need_maps) ? PADIM_OK : PADIM_ERR_NOMEM;
    const int64_t nbat = (n + p.B - 1) / p.B;
    if (st == PADIM_OK) st = padim_run_batches(nbat, pass_decode, pass_score, &p, 1);
    if (st == PADIM_ERR_NOMEM && !(p.imgs[0] && p.imgs[1] && (p.maps || !p.need_maps)))
        fprintf(stderr, "padim-gpu score: error: out of memory\n");
    for (int sl = 0; sl < 2; sl++) {
        for (int q = 0; p.imgs[sl] && q < p.B; q++) padim_image_free(&p.imgs[sl][q]); /* a batch left by an error */
        free(p.imgs[sl]);
    }
    free(p.maps);
    return st;
}

/* CSV on stdout, or scores.csv + scores.json in the output folder. */
static int write_results(const score_opts *s, const cli_opts *o, const char *model, const padim_scorer *sc,
                         const score_job *j, double secs, char **paths, char **names, const float *scores,
                         const image_regions *reg, char **errors, int64_t n) {
    char *csv = score_scores_csv(j, paths, scores, errors, n);
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
    if (!rc) rc = cli_json_write(p, score_scores_json(model, sc, j, secs, paths, names, scores, reg, errors, n)) ? 1 : 0;
    if (!rc && reg) {
        char *rcsv = score_regions_csv(paths, names, reg, n);
        snprintf(p, sizeof(p), "%s/regions.csv", s->outdir);
        rc = rcsv && !cli_write_text(p, rcsv) ? 0 : 1;
        free(rcsv);
    }
    if (rc || o->quiet) return rc;
    fprintf(stderr, "scored %lld images in %.2f s (%.1f images/s); wrote %s/scores.csv, scores.json%s", (long long)n,
            secs, (double)n / secs, s->outdir, reg ? ", regions.csv" : "");
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
    j->source = !s->input_size;
    j->thr_source = padim_model_thresholds(m, &j->thr_image, &j->thr_pixel, &j->score_min, &j->score_max);
    if (s->want[OUT_MASKS] && !j->thr_source) {
        fprintf(stderr, "padim-gpu score: error: %s has no pixel threshold for --masks; run 'padim-gpu calibrate %s "
                        "GOOD_DIR' or 'padim-gpu eval -m %s --save-thresholds DATA' first\n", path, path, path);
        return 2;
    }
    const size_t P = (size_t)j->S * j->S;
    j->rgb = malloc(3 * P * sizeof(float));
    if (j->rgb) return 0;
    fprintf(stderr, "padim-gpu score: error: out of memory\n");
    return 1;
}

/* Which thresholds scoring applies, on stderr. */
static void print_thresholds(const score_job *j) {
    if (!j->thr_source) return;
    if (!strcmp(j->thr_source, "calibration")) {
        padim_calibration c;
        padim_model_get_calibration(j->m, &c);
        fprintf(stderr, "score: thresholds from good-image calibration (fpr %g, %lld images%s): image %.6g, pixel %.6g\n",
                c.fpr, (long long)c.n_images, c.small_sample ? ", small sample" : "", j->thr_image, j->thr_pixel);
    } else {
        fprintf(stderr, "score: thresholds from evaluation (F1-optimal on a test set): image %.6g, pixel %.6g\n",
                j->thr_image, j->thr_pixel);
    }
}

static int score_with(const score_opts *s, cli_opts *o, const char *model, score_job *j, char **paths,
                      char **names, int64_t n) {
    if (s->outdir && make_output_dirs(s)) return 1;
    o->rt.progress = NULL; /* score_all reports progress over all inputs */
    padim_model_info mi;
    padim_model_get_info(j->m, &mi);
    if (n < padim_runtime_batch(&o->rt, &mi.config)) o->rt.batch = (int)n; /* no backend for unused slots */
    padim_scorer *sc = NULL;
    padim_status st = padim_scorer_create(j->m, &o->rt, &sc);
    if (st != PADIM_OK) return cli_fail("score", st);
    if (!o->quiet) {
        fprintf(stderr, "score: %lld images on %s, batch %d\n", (long long)n, padim_scorer_backend(sc),
                padim_scorer_batch(sc));
        print_thresholds(j);
    }
    float *scores = malloc((size_t)n * sizeof(float));
    image_regions *reg = s->outdir && j->thr_source ? calloc((size_t)n, sizeof(image_regions)) : NULL;
    char **errors = s->keep_going ? calloc((size_t)n, sizeof(char *)) : NULL;
    const double t0 = cli_now();
    st = scores && (reg || !(s->outdir && j->thr_source)) && (errors || !s->keep_going)
             ? score_all(s, j, sc, o, paths, names, n, scores, reg, errors)
             : PADIM_ERR_NOMEM;
    const double secs = cli_now() - t0;
    int rc = st != PADIM_OK ? cli_fail("score", st)
                            : write_results(s, o, model, sc, j, secs, paths, names, scores, reg, errors, n);
    int64_t failed = 0;
    for (int64_t i = 0; errors && i < n; i++)
        if (errors[i]) {
            if (failed++ < 20) fprintf(stderr, "padim-gpu score: %s\n", errors[i]);
            free(errors[i]);
        }
    if (failed) {
        fprintf(stderr, "padim-gpu score: %lld of %lld images failed (--keep-going: listed in scores.csv%s; "
                        "exit status %d)\n", (long long)failed, (long long)n, s->outdir ? "/scores.json" : " on stdout",
                EXIT_SOME_FAILED);
        if (!rc) rc = EXIT_SOME_FAILED;
    }
    free(errors);
    for (int64_t i = 0; reg && i < n; i++) free(reg[i].r);
    free(reg);
    free(scores);
    padim_scorer_free(sc);
    return rc;
}

int cmd_score(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "score");
    score_opts s = {0};
    struct option own[N_OUTPUTS + 4] = {{"out-dir", required_argument, 0, 'o'}};
    for (int k = 0; k < N_OUTPUTS; k++) own[k + 1] = (struct option){outputs[k].flag, no_argument, 0, OPT_OUTPUT + k};
    own[N_OUTPUTS + 1] = (struct option){"map-size", required_argument, 0, OPT_MAP_SIZE};
    own[N_OUTPUTS + 2] = (struct option){"keep-going", no_argument, 0, OPT_KEEP_GOING};
    own[N_OUTPUTS + 3] = (struct option){0, 0, 0, 0};
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
    free(j.src);
    free(j.px);
    return rc;
}
