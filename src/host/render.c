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

void render_overlay(const float *rgb, const float *map, int S, float vmin, float vmax, float alpha,
                    uint8_t *out) {
    const size_t P = (size_t)S * S;
    const double range = (double)vmax - (double)vmin;
    for (size_t i = 0; i < P; i++) {
        double t = range > 0 ? ((double)map[i] - vmin) / range : 0.0;
        if (!(t > 0)) t = 0; /* also NaN */
        if (t > 1) t = 1;
        double j[3];
        jet(t, j);
        for (int c = 0; c < 3; c++) {
            double v = alpha * j[c] + (1.0 - alpha) * (double)rgb[c * P + i];
            v = v * 255.0 + 0.5;
            out[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
        }
    }
}

void render_contour(const float *map, int S, double threshold, uint8_t *out) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const size_t i = (size_t)y * S + x;
            if (map[i] < threshold) continue;
            const int edge = x == 0 || y == 0 || x == S - 1 || y == S - 1 || map[i - 1] < threshold ||
                             map[i + 1] < threshold || map[i - S] < threshold || map[i + S] < threshold;
            if (edge) memset(out + i * 3, 255, 3);
        }
}

void padim_render_heatmap(const float *rgb, const float *map, int S, float vmin, float vmax, float alpha,
                          double contour_threshold, uint8_t *out) {
    render_overlay(rgb, map, S, vmin, vmax, alpha, out);
    if (!isnan(contour_threshold)) render_contour(map, S, contour_threshold, out);
}
