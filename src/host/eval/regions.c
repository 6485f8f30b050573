/*
 * regions.c - padim_find_regions: the defect regions of a thresholded anomaly map (what a
 * line controller acts on): 8-connected components of map >= threshold (the connectivity
 * of AUPRO, metric_label_components), with bounding box, area, centroid and the map's
 * maximum and mean over each region. Runs on maps at any size (source geometry included).
 */
#include "common.h"
#include "metrics.h"

#include <string.h>

padim_status padim_find_regions(const float *map, int width, int height, double threshold,
                                padim_region **regions, int64_t *n) {
    *regions = NULL;
    *n = 0;
    if (!map || width < 1 || height < 1)
        return padim_fail(PADIM_ERR_ARG, "regions: invalid map (%dx%d, %p)", width, height, (const void *)map);
    const size_t np = (size_t)width * (size_t)height;
    uint8_t *mask = NULL;
    int32_t *labels = NULL;
    PADIM_TRY(padim_alloc((void **)&mask, np, "region mask"));
    padim_status st = padim_alloc((void **)&labels, np * sizeof(int32_t), "region labels");
    /* PADIM_NOT_SCORED (-1) is below every threshold a map can produce (maps are >= 0), but
     * a threshold at or below -1 must not pull unscored pixels in either. */
    for (size_t i = 0; st == PADIM_OK && i < np; i++)
        mask[i] = map[i] != PADIM_NOT_SCORED && (double)map[i] >= threshold;
    const int32_t count = st == PADIM_OK ? metric_label_components(mask, height, width, labels) : 0;
    if (st == PADIM_OK && count < 0) st = PADIM_ERR_NOMEM; /* message set by the labeler */
    padim_region *r = NULL;
    double *sum = NULL, *sx = NULL, *sy = NULL;
    if (st == PADIM_OK && count > 0) {
        st = padim_calloc((void **)&r, (size_t)count * sizeof(padim_region), "regions");
        if (st == PADIM_OK) st = padim_calloc((void **)&sum, (size_t)count * 3 * sizeof(double), "region sums");
        if (st == PADIM_OK) {
            sx = sum + count;
            sy = sum + 2 * (size_t)count;
            for (int32_t k = 0; k < count; k++) {
                r[k].x0 = width, r[k].y0 = height, r[k].x1 = -1, r[k].y1 = -1;
                r[k].max_value = -1.0f;
            }
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++) {
                    const size_t i = (size_t)y * width + x;
                    if (!labels[i]) continue;
                    padim_region *g = &r[labels[i] - 1];
                    const float v = map[i];
                    if (x < g->x0) g->x0 = x;
                    if (x > g->x1) g->x1 = x;
                    if (y < g->y0) g->y0 = y;
                    if (y > g->y1) g->y1 = y;
                    if (v > g->max_value) g->max_value = v;
                    g->area++;
                    sum[labels[i] - 1] += v;
                    sx[labels[i] - 1] += x;
                    sy[labels[i] - 1] += y;
                }
            for (int32_t k = 0; k < count; k++) {
                r[k].mean_value = (float)(sum[k] / (double)r[k].area);
                r[k].cx = sx[k] / (double)r[k].area;
                r[k].cy = sy[k] / (double)r[k].area;
            }
        }
    }
    free(sum);
    free(mask);
    free(labels);
    if (st != PADIM_OK) {
        free(r);
        return st;
    }
    *regions = r;
    *n = count;
    return PADIM_OK;
}
