/*
 * segment.c - SegF1 counts and the MVTec AD 2 submission: anomaly maps brought to each
 * image's own size and binarized at a pixel threshold (rules in segment.h).
 */
#include "segment.h"

#include "common.h"
#include "image.h"
#include "mask.h"
#include "metrics.h"
#include "padim_internal.h"

#include <string.h>

padim_status seg_counts(const padim_model *m, const padim_testset *ts, const float *maps, const int *widths,
                        const int *heights, double threshold, int64_t counts[3]) {
    const size_t plane = (size_t)m->S * (size_t)m->S;
    counts[0] = counts[1] = counts[2] = 0;
    padim_status st = PADIM_OK;
    for (int64_t i = 0; i < ts->n && st == PADIM_OK; i++) {
        const int w = widths[i], h = heights[i];
        float *src = NULL;
        uint8_t *mask = NULL;
        st = padim_alloc((void **)&src, (size_t)w * h * sizeof(float), "source-size map");
        if (st == PADIM_OK) st = padim_map_to_source(m, maps + (size_t)i * plane, w, h, src);
        if (st == PADIM_OK && ts->mask_paths[i])
            st = mask_load_full(ts->mask_paths[i], ts->paths[i], w, h, ts->mask_cut, &mask);
        else if (st == PADIM_OK)
            st = padim_calloc((void **)&mask, (size_t)w * h, "normal mask");
        if (st == PADIM_OK) metric_count_at(src, mask, (int64_t)w * h, threshold, &counts[0], &counts[1], &counts[2]);
        free(src);
        free(mask);
    }
    return st;
}

/* "<dir>/<kind>/<object>/<split>/<stem><ext>"; the folder is created. */
static padim_status out_path(const char *dir, const char *kind, const char *object, const char *split,
                             const char *image, const char *ext, char *out, size_t cap) {
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    const char *dot = strrchr(base, '.');
    const int stem = dot ? (int)(dot - base) : (int)strlen(base);
    int len = snprintf(out, cap, "%s/%s/%s/%s", dir, kind, object, split);
    if (len < 0 || (size_t)len >= cap) return padim_fail(PADIM_ERR_ARG, "%s/%s: path too long", dir, kind);
    PADIM_TRY(padim_make_dirs(out));
    len = snprintf(out, cap, "%s/%s/%s/%s/%.*s%s", dir, kind, object, split, stem, base, ext);
    if (len < 0 || (size_t)len >= cap) return padim_fail(PADIM_ERR_ARG, "%s/%s: path too long", dir, kind);
    return PADIM_OK;
}

/* The two files of one scored image. */
static padim_status write_one(const padim_model *m, const float *map, const padim_image *img, const char *image_path,
                              const char *dir, const char *object, const char *split, double thr) {
    const int w = img->width, h = img->height;
    const size_t np = (size_t)w * h;
    float *src = NULL;
    uint8_t *bin = NULL;
    char path[4096];
    padim_status st = padim_alloc((void **)&src, np * sizeof(float), "source-size map");
    if (st == PADIM_OK) st = padim_alloc((void **)&bin, np, "thresholded map");
    if (st == PADIM_OK) st = padim_map_to_source(m, map, w, h, src);
    if (st == PADIM_OK) {
        for (size_t k = 0; k < np; k++) {
            const int unseen = src[k] == PADIM_NOT_SCORED;
            bin[k] = !unseen && (double)src[k] >= thr ? 255 : 0;
            if (unseen) src[k] = 0.0f;
        }
        st = out_path(dir, "anomaly_images", object, split, image_path, ".tiff", path, sizeof(path));
    }
    if (st == PADIM_OK) st = image_write_tiff_f16(path, w, h, src);
    if (st == PADIM_OK)
        st = out_path(dir, "anomaly_images_thresholded", object, split, image_path, ".png", path, sizeof(path));
    if (st == PADIM_OK) st = image_write_png(path, w, h, 1, bin);
    free(src);
    free(bin);
    return st;
}

padim_status submission_write(const padim_model *m, padim_scorer *sc, int threads, const char *object_dir,
                              const char *object, double pixel_threshold, const char *dir, int64_t *n) {
    static const char *splits[2] = {"test_private", "test_private_mixed"};
    const size_t plane = (size_t)m->S * (size_t)m->S;
    const int B = padim_scorer_batch(sc);
    *n = 0;
    int found = 0;
    padim_image *imgs = NULL;
    float *maps = NULL, *scores = NULL;
    padim_status st = padim_calloc((void **)&imgs, (size_t)B * sizeof(padim_image), "image batch");
    if (st == PADIM_OK) st = padim_alloc((void **)&maps, (size_t)B * plane * sizeof(float), "submission maps");
    if (st == PADIM_OK) st = padim_alloc((void **)&scores, (size_t)B * sizeof(float), "submission scores");
    for (int sp = 0; sp < 2 && st == PADIM_OK; sp++) {
        char sub[4096], **paths = NULL;
        int64_t np = 0;
        snprintf(sub, sizeof(sub), "%s/%s", object_dir, splits[sp]);
        st = list_images_strict(sub, 1, &paths, &np);
        found += np > 0;
        for (int64_t i = 0; i < np && st == PADIM_OK; i += B) {
            const int nb = (int)(np - i < B ? np - i : B);
            st = padim_images_load((const char *const *)paths + i, nb, threads, imgs);
            if (st == PADIM_OK) st = padim_score_images(sc, imgs, nb, scores, maps);
            for (int k = 0; k < nb && st == PADIM_OK; k++)
                st = write_one(m, maps + (size_t)k * plane, &imgs[k], paths[i + k], dir, object, splits[sp],
                               pixel_threshold);
            for (int k = 0; k < nb; k++) padim_image_free(&imgs[k]);
            if (st == PADIM_OK) *n += nb;
        }
        padim_free_paths(paths, np);
    }
    if (st == PADIM_OK && !found)
        st = padim_fail(PADIM_ERR_ARG, "%s: no images in test_private/ or test_private_mixed/ to write a "
                        "submission from (MVTec AD 2 object folder expected)", object_dir);
    free(imgs);
    free(maps);
    free(scores);
    return st;
}
