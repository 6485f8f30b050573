/*
 * cmd_score_out.c - the result documents of `padim-gpu score` (cmd_score.h): scores.json
 * through cJSON, scores.csv and regions.csv (fields quoted as RFC 4180 where needed).
 */
#include "cmd_score.h"
#include "cli_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *region_json(const padim_region *r) {
    cJSON *e = cJSON_CreateObject();
    const int box[4] = {r->x0, r->y0, r->x1, r->y1};
    cJSON_AddItemToObject(e, "bbox", cJSON_CreateIntArray(box, 4));
    cJSON_AddNumberToObject(e, "area", (double)r->area);
    const double c[2] = {r->cx, r->cy};
    cJSON_AddItemToObject(e, "centroid", cJSON_CreateDoubleArray(c, 2));
    cli_json_number(e, "max", r->max_value);
    cli_json_number(e, "mean", r->mean_value);
    return e;
}

static cJSON *thresholds_json(const score_job *j) {
    if (!j->thr_source) return cJSON_CreateNull();
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "source", j->thr_source);
    cli_json_number(t, "image", j->thr_image);
    cli_json_number(t, "pixel", j->thr_pixel);
    cli_json_number(t, "score_min", j->score_min);
    cli_json_number(t, "score_max", j->score_max);
    if (!strcmp(j->thr_source, "calibration")) {
        padim_calibration c;
        padim_model_get_calibration(j->m, &c);
        cli_json_number(t, "fpr", c.fpr);
        cJSON_AddNumberToObject(t, "images", (double)c.n_images);
        cJSON_AddBoolToObject(t, "small_sample", c.small_sample);
    }
    return t;
}

/* scores.json: the model, backend, batch, timing and every image's scores. */
cJSON *score_scores_json(const char *model, const padim_scorer *sc, const score_job *j, double secs,
                          char **paths, char **names, const float *scores, const image_regions *reg,
                          char **errors, int64_t n) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "backend", padim_scorer_backend(sc));
    cJSON_AddNumberToObject(root, "batch", padim_scorer_batch(sc));
    cJSON_AddNumberToObject(root, "input_size", j->S);
    cJSON_AddStringToObject(root, "map_size", j->source ? "source" : "input");
    cJSON_AddItemToObject(root, "thresholds", thresholds_json(j));
    cli_json_number(root, "seconds", secs);
    cJSON *images = cJSON_AddArrayToObject(root, "images");
    for (int64_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", paths[i]);
        cJSON_AddStringToObject(e, "name", names[i]);
        if (errors && errors[i]) {
            cJSON_AddNullToObject(e, "score");
            cJSON_AddStringToObject(e, "error", errors[i]);
            cJSON_AddItemToArray(images, e);
            continue;
        }
        cli_json_number(e, "score", scores[i]);
        if (j->thr_source) {
            cJSON_AddNumberToObject(e, "label", scores[i] >= j->thr_image);
            cli_json_number(e, "normalized", padim_normalize_score(scores[i], j->thr_image, j->score_min, j->score_max));
        }
        if (reg) {
            cJSON_AddNumberToObject(e, "map_width", reg[i].w);
            cJSON_AddNumberToObject(e, "map_height", reg[i].h);
            cJSON *ra = cJSON_AddArrayToObject(e, "regions");
            for (int64_t k = 0; k < reg[i].n; k++) cJSON_AddItemToArray(ra, region_json(&reg[i].r[k]));
        }
        cJSON_AddItemToArray(images, e);
    }
    return root;
}

/* A CSV field: quoted (RFC 4180) when it holds a comma, a quote or a line break. */
static void csv_field(cli_buf *csv, const char *v) {
    if (!strpbrk(v, ",\"\r\n")) {
        cli_printf(csv, "%s", v);
        return;
    }
    cli_printf(csv, "\"");
    for (const char *c = v; *c; c++) cli_printf(csv, *c == '"' ? "\"\"" : "%c", *c);
    cli_printf(csv, "\"");
}

char *score_scores_csv(const score_job *j, char **paths, const float *scores, char **errors, int64_t n) {
    cli_buf csv = {0};
    cli_printf(&csv, "path,score%s%s\n", j->thr_source ? ",label,normalized" : "", errors ? ",error" : "");
    for (int64_t i = 0; i < n; i++) {
        const int failed = errors && errors[i];
        csv_field(&csv, paths[i]);
        if (failed) cli_printf(&csv, ",");
        else cli_printf(&csv, ",%.9g", (double)scores[i]);
        if (j->thr_source && failed) cli_printf(&csv, ",,");
        else if (j->thr_source)
            cli_printf(&csv, ",%d,%.6f", scores[i] >= j->thr_image,
                       padim_normalize_score(scores[i], j->thr_image, j->score_min, j->score_max));
        if (errors) {
            cli_printf(&csv, ",");
            if (failed) csv_field(&csv, errors[i]);
        }
        cli_printf(&csv, "\n");
    }
    return csv.s;
}

/* regions.csv: one row per region of every image (images without regions have none). */
char *score_regions_csv(char **paths, char **names, const image_regions *reg, int64_t n) {
    cli_buf csv = {0};
    cli_printf(&csv, "path,name,region,x0,y0,x1,y1,area,cx,cy,max,mean\n");
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < reg[i].n; k++) {
            const padim_region *r = &reg[i].r[k];
            csv_field(&csv, paths[i]);
            cli_printf(&csv, ",");
            csv_field(&csv, names[i]);
            cli_printf(&csv, ",%lld,%d,%d,%d,%d,%lld,%.3f,%.3f,%.9g,%.9g\n",
                       (long long)k + 1, r->x0, r->y0, r->x1, r->y1, (long long)r->area, r->cx, r->cy,
                       (double)r->max_value, (double)r->mean_value);
        }
    return csv.s;
}

