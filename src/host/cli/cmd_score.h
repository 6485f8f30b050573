/*
 * cmd_score.h - what the two files of `padim-gpu score` share: cmd_score.c (options,
 * inputs, scoring, per-image outputs) and cmd_score_out.c (the scores.csv, scores.json and
 * regions.csv documents).
 */
#ifndef PADIM_CLI_CMD_SCORE_H
#define PADIM_CLI_CMD_SCORE_H

#include "padim.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* What the per-image writers and the result documents share. */
typedef struct score_job {
    padim_model *m;
    padim_model_info info;
    int S;
    int source;              /* 1: outputs at each image's own size (--map-size source) */
    const char *thr_source;  /* "calibration", "evaluation" or NULL (no thresholds) */
    double thr_image, thr_pixel, score_min, score_max;
    float *rgb;              /* (3, S, S) heatmaps at the input size */
    float *src;              /* (h, w) the current image's map at its own size */
    uint8_t *px;             /* (h, w, 3) heatmap or (h, w) mask */
    size_t cap;              /* pixels src and px hold */
} score_job;

/* Defect regions of every image (with thresholds and -o). */
typedef struct image_regions {
    padim_region *r;
    int64_t n;
    int w, h; /* size of the map they are in */
} image_regions;

/* scores.json: the model, backend, batch, geometry, thresholds, timing and every image's
 * score, label, normalized score, regions or (--keep-going) error. reg, errors: NULL or (n). */
cJSON *score_scores_json(const char *model, const padim_scorer *sc, const score_job *j, double secs, char **paths,
                         char **names, const float *scores, const image_regions *reg, char **errors, int64_t n);
/* scores.csv: path,score[,label,normalized][,error] (error column with --keep-going). */
char *score_scores_csv(const score_job *j, char **paths, const float *scores, char **errors, int64_t n);
/* regions.csv: path,name,region,x0,y0,x1,y1,area,cx,cy,max,mean. */
char *score_regions_csv(char **paths, char **names, const image_regions *reg, int64_t n);

#endif
