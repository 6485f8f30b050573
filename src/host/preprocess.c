/*
 * preprocess.c - the image -> network input stage: antialiased separable resize (float,
 * as torch's _upsample_bilinear2d_aa; uint8, as PIL's fixed-point Resample.c), the two
 * preset pipelines (anomalib squash resize; paper shorter-side resize + center crop) and
 * ImageNet normalization. Called once per image before the backbone; single-threaded and
 * free of global state, so callers may run several images in parallel.
 */
#include "common.h"
#include "image.h"
#include "shared_math.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ filters */

static double filter_support(resize_filter f) { return f == RESIZE_LANCZOS ? 3.0 : 1.0; }

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= 3.14159265358979323846; /* M_PI is not in strict C11 */
    return sin(x) / x;
}

/* PIL's filters (Resample.c): triangle of half-width 1; sinc windowed by sinc(x/3). */
static double filter_eval(resize_filter f, double x) {
    if (f == RESIZE_LANCZOS) return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Per output index o: the first input index bounds[2o], the tap count bounds[2o+1], and
 * ksize weights from w[o * ksize]. */
typedef struct resize_coeffs {
    int ksize;
    int *bounds;   /* (n_out, 2) */
    float *wf;     /* (n_out, ksize) float weights (float path) */
    int32_t *wi;   /* (n_out, ksize) fixed-point weights (uint8 path) */
} resize_coeffs;

static void coeffs_free(resize_coeffs *c) {
    free(c->bounds);
    free(c->wf);
    free(c->wi);
    memset(c, 0, sizeof(*c));
}

/* Float weights exactly as torch 1.13's _compute_indices_weights_aa for float tensors:
 * scale = (float)n_in / n_out; support = filter support * scale when downscaling;
 * center = scale * (o + 0.5) in double; weights are float, normalized by their float sum.
 * Mirroring the float/double mix keeps us within a few ulp of torch. */
static padim_status coeffs_f32(int n_in, int n_out, resize_filter f, resize_coeffs *c) {
    memset(c, 0, sizeof(*c));
    float scale = (float)n_in / (float)n_out;
    float support = (float)(scale >= 1.0f ? filter_support(f) * scale : filter_support(f));
    float invscale = scale >= 1.0f ? (float)(1.0 / scale) : 1.0f;
    c->ksize = (int)ceilf(support) * 2 + 1;
    PADIM_TRY(padim_alloc((void **)&c->bounds, (size_t)n_out * 2 * sizeof(int), "resize bounds"));
    padim_status s = padim_calloc((void **)&c->wf, (size_t)n_out * (size_t)c->ksize * sizeof(float),
                                  "resize weights");
    if (s != PADIM_OK) {
        coeffs_free(c);
        return s;
    }
    for (int o = 0; o < n_out; o++) {
        double center = scale * (o + 0.5);
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > n_in) xmax = n_in;
        int xsize = (int)(xmax - xmin);
        float *w = c->wf + (size_t)o * (size_t)c->ksize;
        float total = 0.0f;
        for (int j = 0; j < xsize; j++) {
            w[j] = (float)filter_eval(f, (float)((j + xmin - center + 0.5) * invscale));
            total += w[j];
        }
        if (total != 0.0f)
            for (int j = 0; j < xsize; j++) w[j] /= total;
        c->bounds[2 * o] = (int)xmin;
        c->bounds[2 * o + 1] = xsize;
    }
    return PADIM_OK;
}

/* PIL 9.x precompute_coeffs (double weights) + normalize_coeffs_8bpc (fixed point with
 * PRECISION_BITS = 32 - 8 - 2 = 22 fractional bits, rounded half away from zero). */
#define PIL_PRECISION_BITS (32 - 8 - 2)

static padim_status coeffs_u8(int n_in, int n_out, resize_filter f, resize_coeffs *c) {
    memset(c, 0, sizeof(*c));
    double scale = (double)n_in / n_out;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filter_support(f) * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    PADIM_TRY(padim_alloc((void **)&c->bounds, (size_t)n_out * 2 * sizeof(int), "resize bounds"));
    padim_status s = padim_calloc((void **)&c->wi, (size_t)n_out * (size_t)c->ksize * sizeof(int32_t),
                                  "resize weights");
    double *k = NULL;
    if (s == PADIM_OK) s = padim_alloc((void **)&k, (size_t)c->ksize * sizeof(double), "resize weights");
    if (s != PADIM_OK) {
        coeffs_free(c);
        return s;
    }
    double ss = 1.0 / filterscale;
    for (int o = 0; o < n_out; o++) {
        double center = (o + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > n_in) xmax = n_in;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            k[x] = filter_eval(f, (x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        int32_t *wi = c->wi + (size_t)o * (size_t)c->ksize;
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0.0 ? k[x] / ww : k[x];
            wi[x] = (int32_t)(w < 0 ? -0.5 + w * (1 << PIL_PRECISION_BITS)
                                    : 0.5 + w * (1 << PIL_PRECISION_BITS));
        }
        c->bounds[2 * o] = xmin;
        c->bounds[2 * o + 1] = xmax;
    }
    free(k);
    return PADIM_OK;
}

/* PIL's clip8: the accumulator holds value << 22 plus the rounding half; floor-shift and
 * saturate to [0, 255]. */
static inline uint8_t pil_clip8(int32_t acc) {
    int32_t v = acc >> PIL_PRECISION_BITS; /* arithmetic shift: floor for negatives */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static padim_status check_resize_args(const char *what, const void *in, const void *out, int C,
                                      int H, int W, int oh, int ow) {
    if (!in || !out || C < 1 || H < 1 || W < 1 || oh < 1 || ow < 1)
        return padim_fail(PADIM_ERR_ARG,
                          "%s: invalid arguments (C=%d, %dx%d -> %dx%d, in=%p, out=%p); "
                          "expected positive sizes and non-NULL buffers",
                          what, C, H, W, oh, ow, in, out);
    return PADIM_OK;
}

/* ------------------------------------------------------------------ float resize */

/* One row of the width pass: d (ow) from src (W). */
static void resize_row_w(const float *src, const resize_coeffs *cw, int ow, float *d) {
    for (int o = 0; o < ow; o++) {
        const float *w = cw->wf + (size_t)o * (size_t)cw->ksize;
        const float *x = src + cw->bounds[2 * o];
        const int n = cw->bounds[2 * o + 1];
        float acc = x[0] * w[0]; /* float accumulation in tap order, as torch */
        for (int j = 1; j < n; j++) acc += x[j] * w[j];
        d[o] = acc;
    }
}

/* The height pass of one plane: d (oh, ow) from src (H, ow). */
static void resize_plane_h(const float *src, const resize_coeffs *ch, int oh, int ow, float *d) {
    for (int o = 0; o < oh; o++) {
        const float *w = ch->wf + (size_t)o * (size_t)ch->ksize;
        const float *x = src + (size_t)ch->bounds[2 * o] * ow;
        const int n = ch->bounds[2 * o + 1];
        float *drow = d + (size_t)o * ow;
        for (int i = 0; i < ow; i++) drow[i] = x[i] * w[0];
        for (int j = 1; j < n; j++) {
            const float *xr = x + (size_t)j * ow;
            for (int i = 0; i < ow; i++) drow[i] += xr[i] * w[j];
        }
    }
}

/* Width pass first, then height, like torch (interp dims are processed last to first)
 * and PIL. A pass whose size does not change is skipped: for the bilinear filter torch's
 * identity weights are exactly (1, 0), so skipping changes nothing. */
padim_status resize_aa_f32(const float *in, int C, int H, int W, int oh, int ow, resize_filter f,
                           float *out) {
    PADIM_TRY(check_resize_args("resize_aa_f32", in, out, C, H, W, oh, ow));
    resize_coeffs cw = {0}, ch = {0};
    float *tmp = NULL; /* (C, H, ow) */
    padim_status s = PADIM_OK;
    int need_w = ow != W, need_h = oh != H;
    if (need_w) s = coeffs_f32(W, ow, f, &cw);
    if (s == PADIM_OK && need_h) s = coeffs_f32(H, oh, f, &ch);
    if (s == PADIM_OK && need_w && need_h)
        s = padim_alloc((void **)&tmp, (size_t)C * (size_t)H * (size_t)ow * sizeof(float),
                        "resize intermediate");
    if (s != PADIM_OK) goto done;

    /* width pass: in (C, H, W) -> mid (C, H, ow); mid is out when there is no height pass */
    const float *mid = in;
    if (need_w) {
        float *dst = need_h ? tmp : out;
        for (int64_t r = 0; r < (int64_t)C * H; r++) resize_row_w(in + r * W, &cw, ow, dst + r * ow);
        mid = dst;
    }
    if (need_h)
        for (int c = 0; c < C; c++) resize_plane_h(mid + (size_t)c * H * ow, &ch, oh, ow, out + (size_t)c * oh * ow);
    if (!need_w && !need_h) memcpy(out, in, (size_t)C * H * W * sizeof(float));
done:
    coeffs_free(&cw);
    coeffs_free(&ch);
    free(tmp);
    return s;
}

/* ------------------------------------------------------------------ uint8 resize */

/* PIL's two-pass 8bpc resample: horizontal pass to a uint8 intermediate (rounded and
 * clipped), then vertical; a pass whose size does not change is skipped as in PIL. */
padim_status resize_aa_u8(const uint8_t *in, int C, int H, int W, int oh, int ow, resize_filter f,
                          uint8_t *out) {
    PADIM_TRY(check_resize_args("resize_aa_u8", in, out, C, H, W, oh, ow));
    resize_coeffs cw = {0}, ch = {0};
    uint8_t *tmp = NULL; /* (H, ow, C) */
    padim_status s = PADIM_OK;
    int need_w = ow != W, need_h = oh != H;
    if (need_w) s = coeffs_u8(W, ow, f, &cw);
    if (s == PADIM_OK && need_h) s = coeffs_u8(H, oh, f, &ch);
    if (s == PADIM_OK && need_w && need_h)
        s = padim_alloc((void **)&tmp, (size_t)H * (size_t)ow * (size_t)C, "resize intermediate");
    if (s != PADIM_OK) goto done;

    const uint8_t *mid = in;
    if (need_w) {
        uint8_t *dst = need_h ? tmp : out;
        for (int64_t y = 0; y < H; y++) {
            const uint8_t *src = in + y * W * C;
            uint8_t *d = dst + y * ow * C;
            for (int o = 0; o < ow; o++) {
                const int32_t *w = cw.wi + (size_t)o * (size_t)cw.ksize;
                const uint8_t *x = src + (size_t)cw.bounds[2 * o] * C;
                int n = cw.bounds[2 * o + 1];
                for (int c = 0; c < C; c++) {
                    int32_t acc = 1 << (PIL_PRECISION_BITS - 1);
                    for (int j = 0; j < n; j++) acc += (int32_t)x[(size_t)j * C + c] * w[j];
                    d[(size_t)o * C + c] = pil_clip8(acc);
                }
            }
        }
        mid = dst;
    }
    if (need_h) {
        /* row-at-a-time accumulation (integer sums: the order does not change the result) */
        size_t row = (size_t)ow * C;
        int32_t *acc = NULL;
        s = padim_alloc((void **)&acc, row * sizeof(int32_t), "resize accumulator");
        if (s != PADIM_OK) goto done;
        for (int o = 0; o < oh; o++) {
            const int32_t *w = ch.wi + (size_t)o * (size_t)ch.ksize;
            const uint8_t *x = mid + (size_t)ch.bounds[2 * o] * row;
            int n = ch.bounds[2 * o + 1];
            for (size_t i = 0; i < row; i++) acc[i] = 1 << (PIL_PRECISION_BITS - 1);
            for (int j = 0; j < n; j++) {
                const uint8_t *xr = x + (size_t)j * row;
                for (size_t i = 0; i < row; i++) acc[i] += (int32_t)xr[i] * w[j];
            }
            uint8_t *d = out + (size_t)o * row;
            for (size_t i = 0; i < row; i++) d[i] = pil_clip8(acc[i]);
        }
        free(acc);
    }
    if (!need_w && !need_h) memcpy(out, in, (size_t)H * W * C);
done:
    coeffs_free(&cw);
    coeffs_free(&ch);
    free(tmp);
    return s;
}

/* ------------------------------------------------------------------ pipelines */

static padim_status check_image(const padim_image *img) {
    if (!img || !img->data || img->width < 1 || img->height < 1 ||
        (img->channels != 1 && img->channels != 3 && img->channels != 4))
        return padim_fail(PADIM_ERR_ARG,
                          "preprocess: invalid image (%dx%d, %d channels, data %p); expected a "
                          "decoded image with 1, 3 or 4 channels",
                          img ? img->width : 0, img ? img->height : 0, img ? img->channels : 0,
                          img ? (void *)img->data : NULL);
    return PADIM_OK;
}

/* Resizing an extreme aspect ratio can need far more memory than the image holds: the
 * anomalib width pass makes a (3, H, resize) intermediate, the paper preset's shorter
 * side resize a (rh, rw) image. Either may be as large as the image itself or as
 * PREPROCESS_MAX_UPSCALE images of resize x resize (an aspect ratio of 256:1 when
 * upscaling), not more: a 16 x 16777216 file would otherwise ask for tens of GB. */
#define PREPROCESS_MAX_UPSCALE 256.0

static padim_status check_intermediate(int img_w, int img_h, const padim_config *cfg, double rows,
                                       double cols, const char *what) {
    const double bound = fmax((double)img_w * img_h,
                              PREPROCESS_MAX_UPSCALE * cfg->resize * cfg->resize);
    if (rows * cols > bound || rows > PADIM_MAX_IMAGE_SIDE || cols > PADIM_MAX_IMAGE_SIDE)
        return padim_fail(PADIM_ERR_ARG, "preprocess: the %s preset would resize this %d x %d image through a "
                          "%s of %.0f x %.0f pixels; refused (aspect ratio too extreme for resize %d: at most "
                          "the image's own size or %.0f images of %d x %d)", padim_preset_name(cfg->preset),
                          img_w, img_h, what, cols, rows, cfg->resize, PREPROCESS_MAX_UPSCALE,
                          cfg->resize, cfg->resize);
    return PADIM_OK;
}

/* Output (h, w) of the resize step and the side S of the final center crop. anomalib
 * normally has crop 0 (S = resize, no crop); a crop set with it is applied the same way. */
static padim_status preset_geometry_wh(int w, int h, const padim_config *cfg, int *rh, int *rw,
                                       int *S) {
    if (cfg->resize < 1)
        return padim_fail(PADIM_ERR_ARG, "preprocess: resize = %d, expected > 0", cfg->resize);
    if (cfg->preset == PADIM_PRESET_ANOMALIB) {
        *rh = *rw = cfg->resize;
        /* the width pass (skipped when the width does not change) holds (3, h, resize) */
        if (w != cfg->resize && h != cfg->resize)
            PADIM_TRY(check_intermediate(w, h, cfg, h, cfg->resize, "width-pass intermediate"));
    } else if (cfg->preset == PADIM_PRESET_PAPER) {
        /* torchvision Resize(int): shorter side to resize, longer int(resize * long / short) */
        const double lng = w <= h ? (double)cfg->resize * h / w : (double)cfg->resize * w / h;
        PADIM_TRY(check_intermediate(w, h, cfg, w <= h ? lng : cfg->resize, w <= h ? cfg->resize : lng,
                                     "resized image"));
        /* (its width pass holds (h, rw) or (h, resize): never more than the image or this) */
        if (w <= h) {
            *rw = cfg->resize;
            *rh = (int)lng;
        } else {
            *rh = cfg->resize;
            *rw = (int)lng;
        }
    } else {
        return padim_fail(PADIM_ERR_ARG, "preprocess: unknown preset %d", (int)cfg->preset);
    }
    *S = padim_config_input_size(cfg);
    if (*S < 1 || *S > *rh || *S > *rw)
        return padim_fail(PADIM_ERR_ARG,
                          "preprocess: crop %d does not fit the resized %dx%d image (preset %s, "
                          "resize %d); expected 0 < crop <= resize",
                          *S, *rw, *rh, padim_preset_name(cfg->preset), cfg->resize);
    return PADIM_OK;
}

static padim_status preset_geometry(const padim_image *img, const padim_config *cfg, int *rh,
                                    int *rw, int *S) {
    return preset_geometry_wh(img->width, img->height, cfg, rh, rw, S);
}

padim_status padim_preprocess_rgb(const padim_image *img, const padim_config *cfg, float *out) {
    PADIM_TRY(check_image(img));
    int rh = 0, rw = 0, S = 0;
    PADIM_TRY(preset_geometry(img, cfg, &rh, &rw, &S));
    const int H = img->height, W = img->width, ch = img->channels;
    const int64_t HW = (int64_t)H * W;
    const int top = padim_center_crop_offset(rh, S), left = padim_center_crop_offset(rw, S);
    padim_status s = PADIM_OK;

    if (cfg->preset == PADIM_PRESET_ANOMALIB) {
        /* to float [0,1] (x / 255 in float, as torchvision), gray replicated, alpha
         * dropped, then the float antialiased resize, width pass first: a row at a time is
         * converted and resized, so that the float image (3 x H x W, 9.7 MB at 900 x 900) is
         * never made; the same operations in the same order as resize_aa_f32 on it */
        resize_coeffs cw = {0}, chc = {0};
        float *row = NULL, *mid = NULL, *res = NULL; /* (W), (3, H, rw), (3, rh, rw) */
        const int need_w = rw != W, need_h = rh != H;
        s = padim_alloc((void **)&row, (size_t)W * sizeof(float), "image row");
        if (s == PADIM_OK && need_w) s = coeffs_f32(W, rw, RESIZE_BILINEAR, &cw);
        if (s == PADIM_OK && need_h) s = coeffs_f32(H, rh, RESIZE_BILINEAR, &chc);
        if (s == PADIM_OK) s = padim_alloc((void **)&mid, (size_t)3 * H * rw * sizeof(float), "resize intermediate");
        if (s == PADIM_OK && (rh != S || rw != S))
            s = padim_alloc((void **)&res, (size_t)3 * rh * rw * sizeof(float), "resized image");
        if (s == PADIM_OK) {
            for (int c = 0; c < 3; c++) {
                const int sc = ch == 1 ? 0 : c;
                for (int y = 0; y < H; y++) {
                    const uint8_t *px = img->data + (int64_t)y * W * ch + sc;
                    float *m = mid + ((size_t)c * H + y) * rw;
                    float *r = need_w ? row : m;
                    for (int x = 0; x < W; x++) r[x] = (float)px[(int64_t)x * ch] / 255.0f;
                    if (need_w) resize_row_w(row, &cw, rw, m);
                }
            }
            float *dst = res ? res : out;
            for (int c = 0; c < 3; c++) {
                if (need_h)
                    resize_plane_h(mid + (size_t)c * H * rw, &chc, rh, rw, dst + (size_t)c * rh * rw);
                else
                    memcpy(dst + (size_t)c * rh * rw, mid + (size_t)c * H * rw, (size_t)H * rw * sizeof(float));
            }
        }
        if (s == PADIM_OK && res)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < S; y++)
                    memcpy(out + ((size_t)c * S + y) * S,
                           res + ((size_t)c * rh + top + y) * rw + left, (size_t)S * sizeof(float));
        coeffs_free(&cw);
        coeffs_free(&chc);
        free(row);
        free(mid);
        free(res);
        return s;
    }

    /* paper: uint8 RGB (H, W, 3) -> PIL LANCZOS (rh, rw, 3) -> crop -> float x / 255 */
    uint8_t *rgb8 = NULL, *res8 = NULL;
    s = padim_alloc((void **)&rgb8, (size_t)3 * (size_t)HW, "RGB image");
    if (s == PADIM_OK) s = padim_alloc((void **)&res8, (size_t)3 * rh * rw, "resized image");
    if (s == PADIM_OK) {
        for (int64_t i = 0; i < HW; i++)
            for (int c = 0; c < 3; c++) rgb8[i * 3 + c] = img->data[i * ch + (ch == 1 ? 0 : c)];
        s = resize_aa_u8(rgb8, 3, H, W, rh, rw, RESIZE_LANCZOS, res8);
    }
    if (s == PADIM_OK)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    out[((size_t)c * S + y) * S + x] =
                        (float)res8[((size_t)(top + y) * rw + left + x) * 3 + c] / 255.0f;
    free(rgb8);
    free(res8);
    return s;
}

int64_t padim_preprocess_bytes(int w, int h, const padim_config *cfg) {
    const double W = w, H = h, R = cfg->resize;
    if (cfg->preset == PADIM_PRESET_ANOMALIB) /* float RGB planes, width pass, resized */
        return (int64_t)(12.0 * (W * H + H * R + R * R));
    const double lng = w <= h ? R * H / W : R * W / H; /* uint8: RGB, width pass, resized */
    return (int64_t)(3.0 * (W * H + H * (w <= h ? R : lng) + R * lng));
}

padim_status padim_preprocess(const padim_image *img, const padim_config *cfg, float *out) {
    PADIM_TRY(padim_preprocess_rgb(img, cfg, out));
    /* torchvision Normalize: (x - mean) / std with float32 mean and std */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    const size_t S = (size_t)padim_config_input_size(cfg), SS = S * S;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < SS; i++) out[c * SS + i] = (out[c * SS + i] - mean[c]) / stdv[c];
    return PADIM_OK;
}

/* ------------------------------------------------------------------ back to the source */

/* One axis of the inverse geometry: source pixel o of n_src, resized frame of r pixels,
 * crop offset off, map side S. anomalib (no crop, r = S) is exactly torch's bilinear
 * resize of the map to the source size (align_corners=False, float arithmetic). paper:
 * the source pixel's center in the resized frame, u = (o + 0.5) r / n_src - 0.5 (the same
 * convention, in double), minus the crop offset; scored when the center falls inside the
 * crop's pixel extent [-0.5, S - 0.5], then sampled with torch's clamping. */
static int source_axis(int o, int n_src, int r, int off, int S, int crop, int *i0, int *i1, float *w0,
                       float *w1) {
    if (!crop) {
        padim_linear_src(o, S, n_src, i0, i1, w0, w1);
        return 1;
    }
    double u = ((double)o + 0.5) * (double)r / (double)n_src - 0.5 - (double)off;
    if (u < -0.5 || u > (double)S - 0.5) return 0;
    if (u < 0.0) u = 0.0;
    int lo = (int)u;
    if (lo > S - 1) lo = S - 1;
    double lambda = u - lo;
    if (lambda > 1.0) lambda = 1.0;
    *i0 = lo;
    *i1 = lo < S - 1 ? lo + 1 : lo;
    *w0 = (float)(1.0 - lambda);
    *w1 = (float)lambda;
    return 1;
}

padim_status padim_map_to_source(const padim_model *m, const float *map, int width, int height,
                                 float *out) {
    if (!m || !map || !out || width < 1 || height < 1)
        return padim_fail(PADIM_ERR_ARG, "map to source: invalid arguments (%dx%d, map %p, out %p)",
                          width, height, (const void *)map, (void *)out);
    padim_model_info info;
    padim_model_get_info(m, &info);
    int rh = 0, rw = 0, S = 0;
    PADIM_TRY(preset_geometry_wh(width, height, &info.config, &rh, &rw, &S));
    const int crop = info.config.preset == PADIM_PRESET_PAPER || S != rh || S != rw;
    const int top = padim_center_crop_offset(rh, S), left = padim_center_crop_offset(rw, S);
    int *xi = NULL;
    float *xw = NULL;
    PADIM_TRY(padim_alloc((void **)&xi, sizeof(int) * 3 * (size_t)width, "source map columns"));
    padim_status st = padim_alloc((void **)&xw, sizeof(float) * 2 * (size_t)width, "source map weights");
    if (st != PADIM_OK) {
        free(xi);
        return st;
    }
    int *x0 = xi, *x1 = xi + width, *xv = xi + 2 * width;
    float *b0 = xw, *b1 = xw + width;
    for (int x = 0; x < width; x++) xv[x] = source_axis(x, width, rw, left, S, crop, &x0[x], &x1[x], &b0[x], &b1[x]);
    for (int y = 0; y < height; y++) {
        int y0, y1;
        float a0, a1;
        float *row = out + (size_t)y * (size_t)width;
        if (!source_axis(y, height, rh, top, S, crop, &y0, &y1, &a0, &a1)) {
            for (int x = 0; x < width; x++) row[x] = PADIM_NOT_SCORED;
            continue;
        }
        const float *r0 = map + (size_t)y0 * S, *r1 = map + (size_t)y1 * S;
        for (int x = 0; x < width; x++) {
            if (!xv[x]) {
                row[x] = PADIM_NOT_SCORED;
                continue;
            }
            const float t = r0[x0[x]] * b0[x] + r0[x1[x]] * b1[x];
            const float b = r1[x0[x]] * b0[x] + r1[x1[x]] * b1[x];
            row[x] = t * a0 + b * a1;
        }
    }
    free(xi);
    free(xw);
    return PADIM_OK;
}
