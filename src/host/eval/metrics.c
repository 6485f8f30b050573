/*
 * metrics.c - exact evaluation metrics (see metrics.h): AUROC, best F1, AUPRO, and the
 * score normalization. All curves come from one sort of (score, payload) pairs followed by
 * a sweep from the highest score down. The sort is a stable LSD radix sort (linear time) on
 * the 32-bit order-preserving image of the float score, with a 32-bit payload.
 */
#include "metrics.h"

#include "common.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- sorting */

/* Order-preserving map float -> uint32 (a < b as floats <=> key(a) < key(b) unsigned).
 * Negative floats have all bits flipped, positive ones the sign bit set. -0.0 is folded
 * onto +0.0 so that equal floats get equal keys. */
static uint32_t float_key(float f) {
    PADIM_ASSERT(!isnan(f) && "NaN score given to a metric");
    if (f == 0.0f) f = 0.0f;
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float key_float(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* Sort a (n) ascending by the high 32 bits (the key), stable, so the low 32 bits (the
 * payload: a label or a region id) ride along. Three passes of 11 bits; a pass is skipped
 * when every element falls into one bucket. tmp (n) is scratch. Returns the array that
 * holds the result (a or tmp). */
enum { RADIX_BITS = 11, RADIX_SIZE = 1 << RADIX_BITS, RADIX_PASSES = 3 };

static uint64_t *radix_sort_keys(uint64_t *a, uint64_t *tmp, int64_t n) {
    int64_t count[RADIX_PASSES][RADIX_SIZE] = {{0}}; /* 48 KiB */
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(a[i] >> 32);
        for (int p = 0; p < RADIX_PASSES; p++) count[p][(k >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int p = 0; p < RADIX_PASSES; p++) {
        int64_t *c = count[p];
        int trivial = 0;
        for (int b = 0; b < RADIX_SIZE; b++)
            if (c[b] == n) trivial = 1;
        if (trivial) continue;
        int64_t sum = 0;
        for (int b = 0; b < RADIX_SIZE; b++) {
            int64_t t = c[b];
            c[b] = sum;
            sum += t;
        }
        int shift = 32 + p * RADIX_BITS;
        for (int64_t i = 0; i < n; i++) dst[c[(src[i] >> shift) & (RADIX_SIZE - 1)]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

/* Start of the group of equal keys that ends at hi (exclusive) in a sorted array: the
 * sweeps visit one threshold (distinct score) per group, from the top. */
static int64_t tie_start(const uint64_t *s, int64_t hi) {
    const uint32_t k = (uint32_t)(s[hi - 1] >> 32);
    int64_t lo = hi - 1;
    while (lo > 0 && (uint32_t)(s[lo - 1] >> 32) == k) lo--;
    return lo;
}

/* Sorted (key << 32 | label != 0) pairs of scores/labels; *buf (2n) must be freed. */
static uint64_t *sorted_pairs(const float *scores, const uint8_t *labels, int64_t n,
                              uint64_t **buf) {
    if (padim_alloc((void **)buf, (size_t)(2 * (n > 0 ? n : 1)) * sizeof(uint64_t),
                    "metric sort buffer") != PADIM_OK)
        return NULL;
    uint64_t *a = *buf;
    for (int64_t i = 0; i < n; i++)
        a[i] = ((uint64_t)float_key(scores[i]) << 32) | (uint64_t)(labels[i] != 0);
    return radix_sort_keys(a, a + n, n);
}

/* ---------------------------------------------------------------- AUROC, F1 */

double metric_auroc(const float *scores, const uint8_t *labels, int64_t n) {
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += labels[i] != 0;
    int64_t neg = n - pos;
    if (pos == 0 || neg == 0) return METRIC_UNAVAILABLE;
    uint64_t *buf;
    const uint64_t *s = sorted_pairs(scores, labels, n, &buf);
    if (!s) return METRIC_FAILED;
    /* Twice the un-normalized area, in integers: every negative ranks above the positives
     * already passed, plus one half of the positives tied with it. Exact up to n ~ 4e9. */
    int64_t tp = 0, area2 = 0;
    for (int64_t hi = n; hi > 0;) {
        const int64_t lo = tie_start(s, hi);
        int64_t tp_g = 0;
        for (int64_t i = lo; i < hi; i++) tp_g += (int64_t)(s[i] & 1u);
        int64_t fp_g = (hi - lo) - tp_g;
        area2 += fp_g * (2 * tp + tp_g);
        tp += tp_g;
        hi = lo;
    }
    free(buf);
    return (double)area2 / (2.0 * (double)pos * (double)neg);
}

metric_f1 metric_best_f1(const float *scores, const uint8_t *labels, int64_t n) {
    metric_f1 r = {.f1 = METRIC_UNAVAILABLE};
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += labels[i] != 0;
    if (pos == 0) return r;
    uint64_t *buf;
    const uint64_t *s = sorted_pairs(scores, labels, n, &buf);
    if (!s) {
        r.f1 = METRIC_FAILED;
        return r;
    }
    /* F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (TP + FP + P): one correctly rounded division
     * of integers, so thresholds with mathematically equal F1 compare equal and the
     * lowest one wins (>=), as argmax over sklearn's increasing thresholds does. */
    int64_t tp = 0, fp = 0;
    r.f1 = -1.0;
    for (int64_t hi = n; hi > 0;) {
        const int64_t lo = tie_start(s, hi);
        for (int64_t i = lo; i < hi; i++) {
            if (s[i] & 1u) tp++;
            else fp++;
        }
        double f1 = 2.0 * (double)tp / (double)(tp + fp + pos);
        if (f1 >= r.f1) {
            r.f1 = f1;
            r.threshold = (double)key_float((uint32_t)(s[lo] >> 32));
            r.tp = tp;
            r.fp = fp;
            r.fn = pos - tp;
        }
        hi = lo;
    }
    r.precision = (double)r.tp / (double)(r.tp + r.fp);
    r.recall = (double)r.tp / (double)pos;
    free(buf);
    return r;
}

/* ---------------------------------------------------------------- components */

static int32_t uf_find(int32_t *parent, int32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void uf_union(int32_t *parent, int32_t a, int32_t b) {
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
}

/* Two-pass labeling: the first pass gives each foreground pixel the smallest provisional
 * label of its already-visited 8-neighbours (W, NW, N, NE) and records equivalences; the
 * second renumbers roots in raster order. parent: (parent_len(H, W)) scratch. */
static int32_t label_components(const uint8_t *mask, int H, int W, int32_t *labels,
                                int32_t *parent) {
    int32_t next = 1;
    parent[0] = 0;
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            int64_t i = (int64_t)y * W + x;
            if (!mask[i]) {
                labels[i] = 0;
                continue;
            }
            int32_t nb[4], m = 0;
            if (x > 0 && labels[i - 1]) nb[m++] = labels[i - 1];
            if (y > 0) {
                const int32_t *up = labels + i - W;
                if (x > 0 && up[-1]) nb[m++] = up[-1];
                if (up[0]) nb[m++] = up[0];
                if (x + 1 < W && up[1]) nb[m++] = up[1];
            }
            if (m == 0) {
                parent[next] = next;
                labels[i] = next++;
                continue;
            }
            int32_t l = nb[0];
            for (int j = 1; j < m; j++) l = nb[j] < l ? nb[j] : l;
            for (int j = 0; j < m; j++) uf_union(parent, l, nb[j]);
            labels[i] = l;
        }
    }
    /* Name the components in raster order of their first pixel. parent[l] <= l always
     * (unions hang the larger root under the smaller), so in increasing l the parent is
     * already final: a root gets the next name, stored negated; any other label copies
     * its parent's negated name. A component's root is the label of its first pixel. */
    int32_t count = 0;
    for (int32_t l = 1; l < next; l++) {
        int32_t p = parent[l];
        parent[l] = p == l ? -(++count) : parent[p];
    }
    int64_t P = (int64_t)H * W;
    for (int64_t i = 0; i < P; i++)
        if (labels[i]) labels[i] = -parent[labels[i]];
    return count;
}

/* Provisional labels never exceed the pixel count. */
static size_t parent_len(int H, int W) { return (size_t)((int64_t)H * W + 1); }

int32_t metric_label_components(const uint8_t *mask, int H, int W, int32_t *labels) {
    int32_t *parent;
    if (padim_alloc((void **)&parent, parent_len(H, W) * sizeof(int32_t), "component labels") !=
        PADIM_OK)
        return -1;
    int32_t c = label_components(mask, H, W, labels, parent);
    free(parent);
    return c;
}

/* ---------------------------------------------------------------- curves */

void metric_curve_free(metric_curve *c) {
    if (!c) return;
    free(c->x);
    memset(c, 0, sizeof(*c));
}

static int curve_init(metric_curve *c, int max_points) {
    memset(c, 0, sizeof(*c));
    c->cap = 2 * (int64_t)(max_points > 0 ? max_points : 1) + 4;
    if (padim_alloc((void **)&c->x, (size_t)(2 * c->cap) * sizeof(double), "curve points") != PADIM_OK) return -1;
    c->y = c->x + c->cap;
    return 0;
}

/* Append (x, y) when forced or when it moves by >= step from the last kept point. */
static void curve_add(metric_curve *c, double x, double y, double step, int force) {
    if (!c || !c->x) return;
    if (c->n > 0 && !force && fabs(x - c->x[c->n - 1]) < step && fabs(y - c->y[c->n - 1]) < step) return;
    if (c->n == c->cap) { /* not reached for monotone curves; keep the newest point */
        c->n--;
    }
    c->x[c->n] = x;
    c->y[c->n] = y;
    c->n++;
}

double metric_roc_curve(const float *scores, const uint8_t *labels, int64_t n, int max_points,
                        metric_curve *out) {
    memset(out, 0, sizeof(*out));
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += labels[i] != 0;
    const int64_t neg = n - pos;
    if (pos == 0 || neg == 0) return METRIC_UNAVAILABLE;
    uint64_t *buf;
    const uint64_t *s = sorted_pairs(scores, labels, n, &buf);
    if (!s || curve_init(out, max_points)) {
        free(s ? buf : NULL);
        return METRIC_FAILED;
    }
    const double step = 1.0 / (max_points > 0 ? max_points : 1);
    int64_t tp = 0, fp = 0;
    curve_add(out, 0.0, 0.0, step, 1);
    for (int64_t hi = n; hi > 0;) {
        const int64_t lo = tie_start(s, hi);
        for (int64_t i = lo; i < hi; i++) {
            if (s[i] & 1u) tp++;
            else fp++;
        }
        hi = lo;
        curve_add(out, (double)fp / (double)neg, (double)tp / (double)pos, step, hi == 0);
    }
    free(buf);
    return 0;
}

/* ---------------------------------------------------------------- AUPRO */

double metric_aupro(const float *maps, const uint8_t *masks, int N, int H, int W,
                    double fpr_limit) {
    double r = 0;
    double st = metric_aupro_multi(maps, masks, N, H, W, &fpr_limit, 1, &r, 0, NULL);
    return st < 0 ? st : r;
}

double metric_aupro_multi(const float *maps, const uint8_t *masks, int N, int H, int W,
                          const double *limits, int n_limits, double *out, int max_points,
                          metric_curve *curve) {
    double max_limit = 0;
    for (int i = 0; i < n_limits; i++) {
        PADIM_ASSERT(limits[i] > 0.0 && limits[i] <= 1.0);
        if (limits[i] > max_limit) max_limit = limits[i];
        out[i] = METRIC_FAILED;
    }
    if (curve) memset(curve, 0, sizeof(*curve));
    int64_t P = (int64_t)H * W, M = (int64_t)N * P;
    int32_t *gid = NULL, *parent = NULL;
    uint64_t *buf = NULL;
    double *inv_area = NULL, *area = NULL;
    double result = METRIC_FAILED;
    if (padim_alloc((void **)&gid, (size_t)(M > 0 ? M : 1) * sizeof(int32_t), "AUPRO region ids") ||
        padim_alloc((void **)&parent, parent_len(H, W) * sizeof(int32_t), "AUPRO union-find") ||
        padim_alloc((void **)&buf, (size_t)(2 * (M > 0 ? M : 1)) * sizeof(uint64_t),
                    "AUPRO sort buffer") ||
        padim_calloc((void **)&area, (size_t)(n_limits > 0 ? n_limits : 1) * sizeof(double), "AUPRO areas") ||
        (curve && curve_init(curve, max_points)))
        goto done;

    /* Global region ids: image n's components are offset by the regions before it. */
    int64_t regions = 0;
    for (int n = 0; n < N; n++) {
        int32_t *l = gid + n * P;
        int32_t c = label_components(masks + n * P, H, W, l, parent);
        for (int64_t i = 0; i < P; i++)
            if (l[i]) l[i] += (int32_t)regions;
        regions += c;
        PADIM_ASSERT(regions < INT32_MAX);
    }
    int64_t normal = 0;
    for (int64_t i = 0; i < M; i++) normal += gid[i] == 0;
    if (regions == 0 || normal == 0) {
        result = METRIC_UNAVAILABLE;
        for (int i = 0; i < n_limits; i++) out[i] = METRIC_UNAVAILABLE;
        goto done;
    }
    if (padim_calloc((void **)&inv_area, (size_t)(regions + 1) * sizeof(double), "AUPRO areas"))
        goto done;
    for (int64_t i = 0; i < M; i++) inv_area[gid[i]] += 1.0;
    for (int64_t r = 1; r <= regions; r++) inv_area[r] = 1.0 / inv_area[r];

    for (int64_t i = 0; i < M; i++) buf[i] = ((uint64_t)float_key(maps[i]) << 32) | (uint32_t)gid[i];
    const uint64_t *s = radix_sort_keys(buf, buf + M, M);

    /* Sweep thresholds from the top. pro_sum = sum over regions of overlap / area, kept
     * with Kahan compensation (millions of small increments); FPR is an exact count
     * divided once per point. The curve starts at (0, 0); each limit's area stops at its
     * limit, the last segment interpolated linearly there. */
    const double step = 1.0 / (max_points > 0 ? max_points : 1);
    int64_t fp = 0;
    double pro_sum = 0.0, comp = 0.0;
    double x0 = 0.0, y0 = 0.0;
    curve_add(curve, 0.0, 0.0, step, 1);
    for (int64_t hi = M; hi > 0;) {
        const int64_t lo = tie_start(s, hi);
        for (int64_t i = lo; i < hi; i++) {
            uint32_t r = (uint32_t)s[i];
            if (r == 0) {
                fp++;
            } else {
                double yv = inv_area[r] - comp, t = pro_sum + yv;
                comp = (t - pro_sum) - yv;
                pro_sum = t;
            }
        }
        hi = lo;
        double x1 = (double)fp / (double)normal, y1 = pro_sum / (double)regions;
        for (int i = 0; i < n_limits; i++) {
            if (x0 >= limits[i]) continue; /* this limit is done */
            if (x1 >= limits[i]) {
                /* x1 > x0 here since x0 < limit */
                double y_lim = y0 + (y1 - y0) * (limits[i] - x0) / (x1 - x0);
                area[i] += (limits[i] - x0) * (y0 + y_lim) * 0.5;
            } else {
                area[i] += (x1 - x0) * (y0 + y1) * 0.5;
            }
        }
        if (x1 >= max_limit) {
            curve_add(curve, max_limit, y0 + (y1 - y0) * (max_limit - x0) / (x1 - x0), step, 1);
            break;
        }
        curve_add(curve, x1, y1, step, 0);
        x0 = x1;
        y0 = y1;
    }
    for (int i = 0; i < n_limits; i++) out[i] = area[i] / limits[i];
    result = 0;
done:
    if (curve && result < 0) metric_curve_free(curve);
    free(gid);
    free(parent);
    free(buf);
    free(inv_area);
    free(area);
    return result;
}

/* ---------------------------------------------------------------- counts */

void metric_count_at(const float *values, const uint8_t *labels, int64_t n, double threshold,
                     int64_t *tp, int64_t *fp, int64_t *fn) {
    int64_t a = 0, b = 0, c = 0;
    for (int64_t i = 0; i < n; i++) {
        const int pred = values[i] != PADIM_NOT_SCORED && (double)values[i] >= threshold;
        const int pos = labels[i] != 0;
        a += pred && pos;
        b += pred && !pos;
        c += !pred && pos;
    }
    *tp += a;
    *fp += b;
    *fn += c;
}

double metric_f1_counts(int64_t tp, int64_t fp, int64_t fn) {
    if (tp + fp + fn == 0) return METRIC_UNAVAILABLE;
    return 2.0 * (double)tp / (double)(2 * tp + fp + fn);
}

/* ---------------------------------------------------------------- normalization */

double metric_normalize(double x, double threshold, double min, double max) {
    if (!(max > min)) return x > threshold ? 1.0 : (x < threshold ? 0.0 : 0.5);
    double v = (x - threshold) / (max - min) + 0.5;
    return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}
