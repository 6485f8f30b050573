/*
 * mask.c - ground-truth masks: binarized at full resolution, then resampled to the
 * evaluation grid with the preprocessing geometry of the preset (rules in mask.h).
 */
#include "mask.h"
#include "shared_math.h"

#include "common.h"

#include <string.h>

/* torch nearest (F.interpolate mode="nearest", upsample_nearest2d): float32 scale
 * in / out, src = min(floor(dst * scale), in - 1); identical sizes map to themselves. */
static void nearest_torch(int in, int out, int *idx) {
    for (int i = 0; i < out; i++) idx[i] = padim_nearest_src(i, in, out);
}

/* PIL NEAREST resize (ImagingScaleAffine): pixel centers, src = (int)((dst + 0.5) * in /
 * out) in double. PIL accumulates the column position (xo += a) and computes the row
 * position directly; both are reproduced so boundary cases round the same way. */
static void nearest_pil_cols(int in, int out, int *idx) {
    double a = (double)in / out, xo = a * 0.5;
    for (int i = 0; i < out; i++, xo += a) {
        int s = (int)xo;
        idx[i] = s < in - 1 ? s : in - 1;
    }
}

static void nearest_pil_rows(int in, int out, int *idx) {
    double a = (double)in / out;
    for (int i = 0; i < out; i++) {
        int s = (int)((i + 0.5) * a);
        idx[i] = s < in - 1 ? s : in - 1;
    }
}

/* Decode and binarize; *out (h, w) 0/1, *w and *h the mask's size. */
static padim_status load_binary(const char *mask_path, const char *image_path, int image_w, int image_h, int cut,
                                uint8_t **out, int *out_w, int *out_h) {
    *out = NULL;
    padim_image im = {0};
    PADIM_TRY(padim_image_load(mask_path, &im));
    const int h = im.height, w = im.width, ch = im.channels;
    padim_status s = PADIM_OK;
    if (image_w > 0 && (w != image_w || h != image_h))
        s = padim_fail(PADIM_ERR_MISMATCH,
                       "%s: mask is %dx%d but its image %s is %dx%d (a mask must have its image's "
                       "size)",
                       mask_path, w, h, image_path ? image_path : "(image)", image_w, image_h);
    uint8_t *bin = NULL;
    if (s == PADIM_OK) s = padim_alloc((void **)&bin, (size_t)w * h, "mask");
    if (s == PADIM_OK) {
        /* Defective: any colour channel > cut (alpha, the last of 2 or 4, ignored). */
        const int nc = ch >= 3 ? 3 : 1;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            uint8_t v = 0;
            for (int c = 0; c < nc; c++) v |= im.data[i * ch + c] > cut;
            bin[i] = v;
        }
        *out = bin;
        *out_w = w;
        *out_h = h;
    }
    padim_image_free(&im);
    return s;
}

padim_status mask_load_full(const char *mask_path, const char *image_path, int image_w, int image_h, int cut,
                            uint8_t **out) {
    int w, h;
    return load_binary(mask_path, image_path, image_w, image_h, cut, out, &w, &h);
}

padim_status mask_load_eval(const char *mask_path, const char *image_path, int image_w,
                            int image_h, const padim_config *cfg, int cut, uint8_t *out) {
    uint8_t *bin = NULL;
    int w = 0, h = 0;
    PADIM_TRY(load_binary(mask_path, image_path, image_w, image_h, cut, &bin, &w, &h));
    padim_status s = PADIM_OK;
    /* Geometry of the image preprocessing (preprocess.c), applied with nearest. */
    int rh = 0, rw = 0, S = padim_config_input_size(cfg);
    if (cfg->preset == PADIM_PRESET_ANOMALIB) {
        rh = rw = cfg->resize;
    } else if (w <= h) {
        rw = cfg->resize;
        rh = (int)((double)cfg->resize * h / w);
    } else {
        rh = cfg->resize;
        rw = (int)((double)cfg->resize * w / h);
    }
    if (S < 1 || S > rh || S > rw)
        s = padim_fail(PADIM_ERR_ARG, "%s: evaluation size %d does not fit the resized %dx%d mask "
                       "(preset %s, resize %d)", mask_path, S, rw, rh,
                       padim_preset_name(cfg->preset), cfg->resize);
    int *ys = NULL, *xs = NULL;
    if (s == PADIM_OK) s = padim_alloc((void **)&ys, (size_t)rh * sizeof(int), "mask rows");
    if (s == PADIM_OK) s = padim_alloc((void **)&xs, (size_t)rw * sizeof(int), "mask columns");
    if (s == PADIM_OK) {
        if (cfg->preset == PADIM_PRESET_ANOMALIB) {
            nearest_torch(h, rh, ys);
            nearest_torch(w, rw, xs);
        } else {
            nearest_pil_rows(h, rh, ys);
            nearest_pil_cols(w, rw, xs);
        }
        const int top = padim_center_crop_offset(rh, S), left = padim_center_crop_offset(rw, S);
        for (int y = 0; y < S; y++) {
            const uint8_t *row = bin + (size_t)ys[top + y] * w;
            for (int x = 0; x < S; x++) out[(size_t)y * S + x] = row[xs[left + x]];
        }
    }
    free(ys);
    free(xs);
    free(bin);
    return s;
}
