/*
 * report_html.h - the building blocks of the evaluation reports (report_html.c): a growing
 * HTML buffer with proper escaping, and inline-SVG plots (curves, histograms). report.c
 * assembles the pages from them; nothing here knows about PaDiM.
 *
 * Escaping: hb_text escapes & < > " ' so its output is safe both as element text and as
 * a quoted attribute value; hb_url percent-encodes every byte outside [A-Za-z0-9-._~/] for
 * href / src values (a category named `a&b "c"` links as a%26b%20%22c%22).
 */
#ifndef PADIM_REPORT_HTML_H
#define PADIM_REPORT_HTML_H

#include "padim.h"

#include <stddef.h>
#include <stdint.h>

typedef struct html_buf {
    char *s;
    size_t n, cap;
    int oom; /* an allocation failed: hb_write reports it */
} html_buf;

void hb_printf(html_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hb_text(html_buf *b, const char *s);
void hb_url(html_buf *b, const char *s);
/* v with digits decimals, or "n/a" when v < 0 (an unavailable metric). */
void hb_metric(html_buf *b, double v, int digits);
/* Write the buffer atomically (padim_write_file) and free it. */
padim_status hb_write(html_buf *b, const char *path);
void hb_free(html_buf *b);

/* One polyline of a plot: (x[i], y[i]) for i < n. */
typedef struct svg_series {
    const double *x, *y;
    int64_t n;
    const char *color; /* CSS colour */
    const char *label; /* legend text (escaped) */
} svg_series;

/* A curve plot over [0, xmax] x [0, ymax] with ticks, axis labels, a legend, and the
 * dashed diagonal y = x when diagonal (ROC). class_name tags the <svg> (tests find the
 * plots by it). */
void svg_curves(html_buf *b, const char *class_name, const char *title, const char *xlabel, const char *ylabel,
                double xmax, double ymax, const svg_series *s, int ns, int diagonal);

/* Histograms of v (n) split by labels (0: good, else defective) over shared bins, with a
 * vertical dashed line per threshold (thr[i], labelled thr_label[i]). */
void svg_histogram(html_buf *b, const char *class_name, const char *title, const float *v, const uint8_t *labels,
                   int64_t n, const double *thr, const char *const *thr_label, int nthr);

#endif
