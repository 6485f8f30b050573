/*
 * render.h - the heatmap renderer (last stage of the pipeline's outputs): a matplotlib
 * "jet" overlay of an anomaly map over the preprocessed image, and the outline of a
 * thresholded map. One renderer for every caller: padim_render_heatmap (padim.h, used by
 * `padim-gpu score --heatmaps`) and padim_evaluate's heatmaps are both built from these.
 */
#ifndef PADIM_RENDER_H
#define PADIM_RENDER_H

#include <stdint.h>

/* Overlay of map (S, S) over rgb (3, S, S) in [0, 1]: t = clamp((map - vmin) / (vmax -
 * vmin), 0, 1) (NaN and an empty range give 0), out (S, S, 3) =
 * round(255 * (alpha * jet(t) + (1 - alpha) * rgb)), clamped to [0, 255]. */
void render_overlay(const float *rgb, const float *map, int S, float vmin, float vmax, float alpha,
                    uint8_t *out);
/* The same over an 8-bit image (H, W, channels) at its own size (gray shown as gray, alpha
 * ignored), map (H, W); out (H, W, 3). PADIM_NOT_SCORED pixels are dimmed and hatched. */
void render_overlay_u8(const uint8_t *img, int channels, const float *map, int W, int H, float vmin, float vmax,
                       float alpha, uint8_t *out);
/* Outline of the mask (map >= threshold, scored pixels only) drawn in white into out
 * (H, W, 3): a mask pixel is on the outline when it touches the border or has a
 * 4-neighbour outside the mask. */
void render_contour(const float *map, int W, int H, double threshold, uint8_t *out);

#endif
