/*
 * report_html.c - HTML buffer, escaping and inline-SVG plots for the reports (see
 * report_html.h). Plots are plain SVG 1.1 (polyline, rect, line, text), sized in CSS
 * pixels, so any browser renders them without scripts.
 */
#include "report_html.h"

#include "common.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

static void hb_reserve(html_buf *b, size_t extra) {
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 8192;
    while (cap < b->n + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return;
    }
    b->s = s;
    b->cap = cap;
}

void hb_printf(html_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) return;
    hb_reserve(b, (size_t)len);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)len;
}

void hb_text(html_buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': hb_printf(b, "&amp;"); break;
        case '<': hb_printf(b, "&lt;"); break;
        case '>': hb_printf(b, "&gt;"); break;
        case '"': hb_printf(b, "&quot;"); break;
        case '\'': hb_printf(b, "&#39;"); break;
        default: hb_printf(b, "%c", *s);
        }
    }
}

void hb_url(html_buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
            hb_printf(b, "%c", *p);
        else
            hb_printf(b, "%%%02X", *p);
    }
}

void hb_metric(html_buf *b, double v, int digits) {
    if (v < 0) hb_printf(b, "n/a");
    else hb_printf(b, "%.*f", digits, v);
}

void hb_free(html_buf *b) {
    free(b->s);
    memset(b, 0, sizeof(*b));
}

padim_status hb_write(html_buf *b, const char *path) {
    padim_status st = b->oom ? padim_fail(PADIM_ERR_NOMEM, "%s: out of memory building the page", path)
                             : padim_write_file(path, b->s ? b->s : "", b->n);
    hb_free(b);
    return st;
}

/* ---------------------------------------------------------------- plots */

/* Plot geometry: the drawing area inside the margins, in SVG pixels. */
enum { PW = 380, PH = 300, ML = 52, MR = 14, MT = 30, MB = 44 };

static double px(double x, double xmax) { return ML + (PW - ML - MR) * (xmax > 0 ? x / xmax : 0); }
static double py(double y, double ymax) { return PH - MB - (PH - MT - MB) * (ymax > 0 ? y / ymax : 0); }

/* Frame, title, ticks at 0, 1/4, ..., 1 of each axis (x ticks labelled xoff + x), axis
 * labels. */
static void svg_frame(html_buf *b, const char *class_name, const char *title, const char *xlabel, const char *ylabel,
                      double xoff, double xmax, double ymax, int yint) {
    hb_printf(b, "<svg class=\"plot %s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\">\n<title>", class_name, PW, PH, PW, PH);
    hb_text(b, title);
    hb_printf(b, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", PW, PH);
    hb_printf(b, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\">", PW / 2);
    hb_text(b, title);
    hb_printf(b, "</text>\n");
    for (int i = 0; i <= 4; i++) {
        const double fx = xmax * i / 4, fy = ymax * i / 4;
        hb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>", px(fx, xmax), MT,
                  px(fx, xmax), PH - MB);
        hb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", ML, py(fy, ymax),
                  PW - MR, py(fy, ymax));
        hb_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.*g</text>", px(fx, xmax),
                  PH - MB + 14, 3, xoff + fx);
        if (!yint || fy == floor(fy)) /* counts: integer ticks only */
            hb_printf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.*g</text>\n", ML - 4,
                      py(fy, ymax) + 4, 3, fy);
    }
    hb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444444\"/>\n", ML, MT,
              PW - ML - MR, PH - MT - MB);
    hb_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", (ML + PW - MR) / 2.0, PH - 8);
    hb_text(b, xlabel);
    hb_printf(b, "</text>\n<text x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                 "transform=\"rotate(-90 14 %.1f)\">", (MT + PH - MB) / 2.0, (MT + PH - MB) / 2.0);
    hb_text(b, ylabel);
    hb_printf(b, "</text>\n");
}

static void svg_legend(html_buf *b, int i, const char *color, const char *label) {
    const int y = MT + 14 + 16 * i;
    hb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>", PW - MR - 150, y - 4, color);
    hb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", PW - MR - 134, y);
    hb_text(b, label);
    hb_printf(b, "</text>\n");
}

void svg_curves(html_buf *b, const char *class_name, const char *title, const char *xlabel, const char *ylabel,
                double xmax, double ymax, const svg_series *s, int ns, int diagonal) {
    svg_frame(b, class_name, title, xlabel, ylabel, 0, xmax, ymax, 0);
    if (diagonal)
        hb_printf(b, "<line class=\"chance\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\" "
                     "stroke-dasharray=\"4 3\"/>\n", px(0, xmax), py(0, ymax), px(xmax, xmax), py(ymax, ymax));
    for (int k = 0; k < ns; k++) {
        hb_printf(b, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", s[k].color);
        for (int64_t i = 0; i < s[k].n; i++)
            hb_printf(b, "%.2f,%.2f ", px(fmin(s[k].x[i], xmax), xmax), py(fmin(s[k].y[i], ymax), ymax));
        hb_printf(b, "\"/>\n");
        svg_legend(b, k, s[k].color, s[k].label);
    }
    hb_printf(b, "</svg>\n");
}

void svg_histogram(html_buf *b, const char *class_name, const char *title, const float *v, const uint8_t *labels,
                   int64_t n, const double *thr, const char *const *thr_label, int nthr) {
    enum { BINS = 30 };
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    for (int i = 0; i < nthr; i++)
        if (isfinite(thr[i])) {
            lo = fmin(lo, thr[i]);
            hi = fmax(hi, thr[i]);
        }
    if (!(hi > lo)) { /* one value (or none): a unit-wide range around it */
        lo = n ? lo - 0.5 : 0;
        hi = lo + 1;
    }
    const double pad = (hi - lo) * 0.02;
    lo -= pad;
    hi += pad;
    int64_t count[2][BINS] = {{0}}, cmax = 1;
    for (int64_t i = 0; i < n; i++) {
        int k = (int)((v[i] - lo) / (hi - lo) * BINS);
        k = k < 0 ? 0 : (k >= BINS ? BINS - 1 : k);
        int64_t c = ++count[labels[i] != 0][k];
        if (c > cmax) cmax = c;
    }
    /* The x axis runs over [0, hi - lo], labelled in score units. */
    const double span = hi - lo;
    svg_frame(b, class_name, title, "image score", "images", lo, span, (double)cmax, 1);
    static const char *colors[2] = {"#1f77b4", "#d62728"};
    for (int c = 0; c < 2; c++) {
        for (int k = 0; k < BINS; k++) {
            if (!count[c][k]) continue;
            const double x0 = px(span * k / BINS, span), x1 = px(span * (k + 1) / BINS, span);
            const double y1 = py((double)count[c][k], (double)cmax);
            hb_printf(b, "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                         "fill-opacity=\"0.55\"/>\n", x0, y1, x1 - x0, py(0, 1) - y1, colors[c]);
        }
        svg_legend(b, c, colors[c], c ? "defective" : "good");
    }
    static const char *thr_colors[3] = {"#000000", "#2ca02c", "#9467bd"};
    for (int i = 0; i < nthr; i++) {
        if (!isfinite(thr[i])) continue;
        const double x = px(thr[i] - lo, span);
        hb_printf(b, "<line class=\"threshold\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"%s\" "
                     "stroke-width=\"2\" stroke-dasharray=\"5 3\"/>\n", x, MT, x, PH - MB, thr_colors[i % 3]);
        svg_legend(b, 2 + i, thr_colors[i % 3], thr_label[i]);
    }
    hb_printf(b, "</svg>\n");
}
