/*
 * render.c - see render.h. Also the public padim_render_heatmap (padim.h), the one
 * entry point that both `score --heatmaps` and padim_evaluate render through.
 */
#include "render.h"
#include "padim.h"

#include <math.h>
#include <string.h>

/* matplotlib's "jet" as its piecewise-linear segment data (continuous, not the 256-entry
 * lookup table), evaluated at t in [0, 1]. */
static double piecewise(const double *x, const double *y, int n, double t) {
    for (int i = 1; i < n; i++)
        if (t <= x[i]) return y[i - 1] + (y[i] - y[i - 1]) * (t - x[i - 1]) / (x[i] - x[i - 1]);
    return y[n - 1];
}

static void jet(double t, double rgb[3]) {
    static const double rx[] = {0, 0.35, 0.66, 0.89, 1}, ry[] = {0, 0, 1, 1, 0.5};
    static const double gx[] = {0, 0.125, 0.375, 0.64, 0.91, 1}, gy[] = {0, 0, 1, 1, 0, 0};
    static const double bx[] = {0, 0.11, 0.34, 0.65, 1}, by[] = {0.5, 1, 1, 0, 0};
    rgb[0] = piecewise(rx, ry, 5, t);
    rgb[1] = piecewise(gx, gy, 6, t);
    rgb[2] = piecewise(bx, by, 5, t);
}

/* One output pixel: base (r, g, b) in [0, 1] blended with jet(t); unscored pixels
 * (PADIM_NOT_SCORED) are the base dimmed to 40 %, with every 8th diagonal darker (hatched),
 * so that "not looked at" never reads as "good". */
static void overlay_px(const float *map_v, double r, double g, double b, float vmin, double range, float alpha,
                       int x, int y, uint8_t *o) {
    const double base[3] = {r, g, b};
    if (*map_v == PADIM_NOT_SCORED) {
        const double f = (x + y) % 8 == 0 ? 0.15 : 0.4;
        for (int c = 0; c < 3; c++) o[c] = (uint8_t)(base[c] * f * 255.0 + 0.5);
        return;
    }
    double t = range > 0 ? ((double)*map_v - vmin) / range : 0.0;
    if (!(t > 0)) t = 0; /* also NaN */
    if (t > 1) t = 1;
    double j[3];
    jet(t, j);
    for (int c = 0; c < 3; c++) {
        double v = alpha * j[c] + (1.0 - alpha) * base[c];
        v = v * 255.0 + 0.5;
        o[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
    }
}

void render_overlay(const float *rgb, const float *map, int S, float vmin, float vmax, float alpha,
                    uint8_t *out) {
    const size_t P = (size_t)S * S;
    const double range = (double)vmax - (double)vmin;
    for (size_t i = 0; i < P; i++)
        overlay_px(&map[i], rgb[i], rgb[P + i], rgb[2 * P + i], vmin, range, alpha, (int)(i % S), (int)(i / S),
                   out + i * 3);
}

void render_overlay_u8(const uint8_t *img, int channels, const float *map, int W, int H, float vmin, float vmax,
                       float alpha, uint8_t *out) {
    const double range = (double)vmax - (double)vmin;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const size_t i = (size_t)y * W + x;
            const uint8_t *p = img + i * (size_t)channels;
            const double r = p[0] / 255.0, g = channels >= 3 ? p[1] / 255.0 : r, b = channels >= 3 ? p[2] / 255.0 : r;
            overlay_px(&map[i], r, g, b, vmin, range, alpha, x, y, out + i * 3);
        }
}

/* A pixel belongs to the mask when scored and >= threshold. */
static int in_mask(const float *map, size_t i, double threshold) {
    return map[i] != PADIM_NOT_SCORED && map[i] >= threshold;
}

void render_contour(const float *map, int W, int H, double threshold, uint8_t *out) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const size_t i = (size_t)y * W + x;
            if (!in_mask(map, i, threshold)) continue;
            const int edge = x == 0 || y == 0 || x == W - 1 || y == H - 1 || !in_mask(map, i - 1, threshold) ||
                             !in_mask(map, i + 1, threshold) || !in_mask(map, i - W, threshold) ||
                             !in_mask(map, i + W, threshold);
            if (edge) memset(out + i * 3, 255, 3);
        }
}

void padim_render_heatmap(const float *rgb, const float *map, int S, float vmin, float vmax, float alpha,
                          double contour_threshold, uint8_t *out) {
    render_overlay(rgb, map, S, vmin, vmax, alpha, out);
    if (!isnan(contour_threshold)) render_contour(map, S, S, contour_threshold, out);
}

padim_status padim_render_heatmap_image(const padim_image *img, const float *map, float vmin, float vmax,
                                        float alpha, double contour_threshold, uint8_t *out) {
    if (!img || !img->data || !map || !out || img->width < 1 || img->height < 1 || img->channels < 1)
        return PADIM_ERR_ARG;
    render_overlay_u8(img->data, img->channels, map, img->width, img->height, vmin, vmax, alpha, out);
    if (!isnan(contour_threshold)) render_contour(map, img->width, img->height, contour_threshold, out);
    return PADIM_OK;
}
