/*
 * dataset.c - test-set layouts (MVTec AD, generic folder), image / mask pairing by file
 * stem, and ground-truth masks on the evaluation grid. Rules in dataset.h.
 */
#include "dataset.h"
#include "shared_math.h"

#include "common.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- small helpers */

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static padim_status join(const char *a, const char *b, char **out) {
    size_t len = strlen(a) + strlen(b) + 2;
    PADIM_TRY(padim_alloc((void **)out, len, "path"));
    snprintf(*out, len, "%s/%s", a, b);
    return PADIM_OK;
}

static padim_status dup_str(const char *s, char **out) {
    PADIM_TRY(padim_alloc((void **)out, strlen(s) + 1, "path"));
    memcpy(*out, s, strlen(s) + 1);
    return PADIM_OK;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Length of the file name's stem (up to the last '.'). */
static size_t stem_len(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

/* Images of dir (not recursive unless asked); a missing or image-less folder is an empty
 * list rather than an error (the callers decide what emptiness means). */
static padim_status list_or_empty(const char *dir, int recursive, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    if (!is_dir(dir)) return PADIM_OK;
    padim_status s = padim_list_images(dir, recursive, paths, n);
    if (s == PADIM_ERR_ARG) { /* "no images found" */
        padim_clear_error();
        *paths = NULL;
        *n = 0;
        return PADIM_OK;
    }
    return s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the visible sub-folders of dir, sorted (byte order). */
static padim_status list_subdirs(const char *dir, char ***names, int64_t *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return padim_fail(PADIM_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    padim_status s = PADIM_OK;
    int64_t cap = 0;
    struct dirent *e;
    while (s == PADIM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *p = NULL;
        s = join(dir, e->d_name, &p);
        if (s != PADIM_OK) break;
        int sub = is_dir(p);
        free(p);
        if (!sub) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **v = realloc(*names, (size_t)cap * sizeof(char *));
            if (!v) {
                s = padim_fail(PADIM_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            *names = v;
        }
        s = dup_str(e->d_name, &(*names)[*n]);
        if (s == PADIM_OK) (*n)++;
    }
    closedir(d);
    if (s != PADIM_OK) {
        padim_free_paths(*names, *n);
        *names = NULL;
        *n = 0;
        return s;
    }
    if (*n) qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return PADIM_OK;
}

/* Append one entry (strings copied). */
static padim_status push_entry(padim_testset *ts, int64_t *cap, const char *path, int label,
                               const char *type, const char *mask) {
    if (ts->n == *cap) {
        int64_t c = *cap ? 2 * *cap : 64;
        char **p = realloc(ts->paths, (size_t)c * sizeof(char *));
        if (p) ts->paths = p;
        char **m = p ? realloc(ts->mask_paths, (size_t)c * sizeof(char *)) : NULL;
        if (m) ts->mask_paths = m;
        char **t = m ? realloc(ts->defect_types, (size_t)c * sizeof(char *)) : NULL;
        if (t) ts->defect_types = t;
        uint8_t *l = t ? realloc(ts->labels, (size_t)c) : NULL;
        if (l) ts->labels = l;
        if (!l) return padim_fail(PADIM_ERR_NOMEM, "out of memory building the test set");
        *cap = c;
    }
    int64_t i = ts->n;
    ts->paths[i] = ts->mask_paths[i] = ts->defect_types[i] = NULL;
    ts->labels[i] = (uint8_t)label;
    ts->n++; /* counted first so that testset_free releases partial entries */
    PADIM_TRY(dup_str(path, &ts->paths[i]));
    PADIM_TRY(dup_str(type, &ts->defect_types[i]));
    if (mask) PADIM_TRY(dup_str(mask, &ts->mask_paths[i]));
    if (label) ts->n_defective++;
    else ts->n_good++;
    return PADIM_OK;
}

void testset_free(padim_testset *ts) {
    if (!ts) return;
    for (int64_t i = 0; i < ts->n; i++) {
        free(ts->paths[i]);
        free(ts->mask_paths[i]);
        free(ts->defect_types[i]);
    }
    free(ts->paths);
    free(ts->mask_paths);
    free(ts->defect_types);
    free(ts->labels);
    memset(ts, 0, sizeof(*ts));
}

/* ---------------------------------------------------------------- MVTec */

/* Is mask_path the MVTec mask of an image with stem (s, len): "<s>_mask.<ext>"? */
static int is_mvtec_mask_of(const char *mask_path, const char *s, size_t len) {
    const char *b = base_name(mask_path);
    size_t bl = stem_len(b);
    return bl == len + 5 && !strncmp(b, s, len) && !strncmp(b + len, "_mask", 5);
}

/* Images of test/<type> paired with the masks of ground_truth/<type> (strict). */
static padim_status mvtec_defect_folder(padim_testset *ts, int64_t *cap, const char *test_dir,
                                        const char *gt_dir, int has_gt, const char *type) {
    char *img_dir = NULL, *mask_dir = NULL, **imgs = NULL, **masks = NULL;
    int64_t ni = 0, nm = 0;
    uint8_t *used = NULL;
    padim_status s = join(test_dir, type, &img_dir);
    if (s == PADIM_OK) s = join(gt_dir, type, &mask_dir);
    if (s == PADIM_OK) s = list_or_empty(img_dir, 0, &imgs, &ni);
    if (s == PADIM_OK && has_gt) s = list_or_empty(mask_dir, 0, &masks, &nm);
    if (s == PADIM_OK) s = padim_calloc((void **)&used, (size_t)(nm ? nm : 1), "mask flags");
    for (int64_t i = 0; i < ni && s == PADIM_OK; i++) {
        const char *b = base_name(imgs[i]);
        size_t len = stem_len(b);
        const char *mask = NULL;
        for (int64_t j = 0; j < nm && s == PADIM_OK; j++) {
            if (!is_mvtec_mask_of(masks[j], b, len)) continue;
            if (mask)
                s = padim_fail(PADIM_ERR_ARG, "%s: two ground-truth masks match this image: %s and %s",
                               imgs[i], mask, masks[j]);
            mask = masks[j];
            used[j] = 1;
        }
        if (s == PADIM_OK && has_gt && !mask)
            s = padim_fail(PADIM_ERR_ARG,
                           "%s: defective image has no ground-truth mask: expected %s/%.*s_mask.png "
                           "(MVTec layout: ground_truth/<defect>/<stem>_mask.<ext>)",
                           imgs[i], mask_dir, (int)len, b);
        if (s == PADIM_OK) s = push_entry(ts, cap, imgs[i], 1, type, mask);
    }
    for (int64_t j = 0; j < nm && s == PADIM_OK; j++)
        if (!used[j]) {
            const char *b = base_name(masks[j]);
            size_t len = stem_len(b);
            int mvtec_name = len > 5 && !strncmp(b + len - 5, "_mask", 5);
            s = padim_fail(PADIM_ERR_ARG,
                           "%s: ground-truth mask has no image: expected %s/%.*s.<ext>%s", masks[j],
                           img_dir, (int)(mvtec_name ? len - 5 : len), b,
                           mvtec_name ? "" : " (and mask names ending in _mask)");
        }
    free(img_dir);
    free(mask_dir);
    free(used);
    padim_free_paths(imgs, ni);
    padim_free_paths(masks, nm);
    return s;
}

padim_status testset_load_mvtec(const char *category_dir, padim_testset *out) {
    memset(out, 0, sizeof(*out));
    char *test_dir = NULL, *gt_dir = NULL, **types = NULL, **gt_types = NULL;
    int64_t nt = 0, ngt = 0, cap = 0;
    padim_status s = join(category_dir, "test", &test_dir);
    if (s == PADIM_OK) s = join(category_dir, "ground_truth", &gt_dir);
    if (s == PADIM_OK && !is_dir(test_dir))
        s = padim_fail(PADIM_ERR_ARG,
                       "%s: not an MVTec AD category folder: %s is missing (expected test/good/, "
                       "test/<defect>/ and ground_truth/<defect>/)",
                       category_dir, test_dir);
    int has_gt = s == PADIM_OK && is_dir(gt_dir);
    if (s == PADIM_OK) s = list_subdirs(test_dir, &types, &nt);
    for (int64_t t = 0; t < nt && s == PADIM_OK; t++) {
        if (!strcmp(types[t], "good")) {
            char *dir = NULL, **imgs = NULL;
            int64_t ni = 0;
            s = join(test_dir, "good", &dir);
            if (s == PADIM_OK) s = list_or_empty(dir, 0, &imgs, &ni);
            for (int64_t i = 0; i < ni && s == PADIM_OK; i++)
                s = push_entry(out, &cap, imgs[i], 0, "good", NULL);
            free(dir);
            padim_free_paths(imgs, ni);
        } else {
            s = mvtec_defect_folder(out, &cap, test_dir, gt_dir, has_gt, types[t]);
        }
    }
    /* Masks of a defect type that has no test folder at all. */
    if (s == PADIM_OK && has_gt) s = list_subdirs(gt_dir, &gt_types, &ngt);
    for (int64_t g = 0; g < ngt && s == PADIM_OK; g++) {
        int found = 0;
        for (int64_t t = 0; t < nt; t++) found |= !strcmp(gt_types[g], types[t]);
        if (!found) s = mvtec_defect_folder(out, &cap, test_dir, gt_dir, 1, gt_types[g]);
    }
    if (s == PADIM_OK && out->n == 0)
        s = padim_fail(PADIM_ERR_ARG, "%s: no test images found (looked in test/good/ and test/<defect>/ "
                       "for .png .jpg .jpeg .bmp .tif .tiff)", category_dir);
    out->has_masks = has_gt;
    free(test_dir);
    free(gt_dir);
    padim_free_paths(types, nt);
    padim_free_paths(gt_types, ngt);
    if (s != PADIM_OK) testset_free(out);
    return s;
}

padim_status trainset_list_mvtec(const char *category_dir, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    char *dir = NULL;
    PADIM_TRY(padim_alloc((void **)&dir, strlen(category_dir) + 16, "path"));
    snprintf(dir, strlen(category_dir) + 16, "%s/train/good", category_dir);
    padim_status s = PADIM_OK;
    if (!is_dir(dir))
        s = padim_fail(PADIM_ERR_ARG,
                       "%s: not an MVTec AD category folder: %s is missing (expected train/good/ "
                       "with the good training images)",
                       category_dir, dir);
    if (s == PADIM_OK) s = padim_list_images(dir, 0, paths, n);
    free(dir);
    return s;
}

/* ---------------------------------------------------------------- generic folder */

/* Does mask m (relative folder rel, "" when flat) belong to image stem (s, len) of type? */
static int is_generic_mask_of(const char *mask_path, const char *masks_dir, const char *type,
                              const char *s, size_t len) {
    const char *rel = mask_path + strlen(masks_dir) + 1, *b = base_name(mask_path);
    size_t rel_len = (size_t)(b - rel); /* "" or "<type>/" */
    if (rel_len && (rel_len != strlen(type) + 1 || strncmp(rel, type, rel_len - 1))) return 0;
    size_t bl = stem_len(b);
    if (bl == len) return !strncmp(b, s, len);
    return bl == len + 5 && !strncmp(b, s, len) && !strncmp(b + len, "_mask", 5);
}

padim_status testset_load_folder(const char *dir, padim_testset *out) {
    memset(out, 0, sizeof(*out));
    char *masks_dir = NULL, **types = NULL, **masks = NULL;
    int64_t nt = 0, nm = 0, cap = 0, folders = 0;
    uint8_t *used = NULL;
    padim_status s = join(dir, "masks", &masks_dir);
    int has_masks = s == PADIM_OK && is_dir(masks_dir);
    if (s == PADIM_OK && has_masks) s = list_or_empty(masks_dir, 1, &masks, &nm);
    if (s == PADIM_OK) s = padim_calloc((void **)&used, (size_t)(nm ? nm : 1), "mask flags");
    if (s == PADIM_OK) s = list_subdirs(dir, &types, &nt);
    for (int64_t t = 0; t < nt && s == PADIM_OK; t++) {
        if (!strcmp(types[t], "masks")) continue;
        folders++;
        int label = strcmp(types[t], "good") != 0;
        char *sub = NULL, **imgs = NULL;
        int64_t ni = 0;
        s = join(dir, types[t], &sub);
        if (s == PADIM_OK) s = list_or_empty(sub, 0, &imgs, &ni);
        for (int64_t i = 0; i < ni && s == PADIM_OK; i++) {
            const char *mask = NULL;
            if (label && has_masks) {
                const char *b = base_name(imgs[i]);
                size_t len = stem_len(b);
                int64_t found = -1;
                for (int64_t j = 0; j < nm && s == PADIM_OK; j++) {
                    if (!is_generic_mask_of(masks[j], masks_dir, types[t], b, len)) continue;
                    if (found >= 0)
                        s = padim_fail(PADIM_ERR_ARG, "%s: two masks match this image: %s and %s",
                                       imgs[i], masks[found], masks[j]);
                    else if (used[j])
                        s = padim_fail(PADIM_ERR_ARG,
                                       "%s: mask %s matches two images (another defect folder has "
                                       "the same file stem); put masks in masks/<defect>/",
                                       imgs[i], masks[j]);
                    found = j;
                }
                if (s == PADIM_OK && found < 0)
                    s = padim_fail(PADIM_ERR_ARG,
                                   "%s: defective image has no mask: expected %s/%.*s.png or "
                                   "%s/%.*s_mask.png (or the same in %s/%s/)",
                                   imgs[i], masks_dir, (int)len, b, masks_dir, (int)len, b,
                                   masks_dir, types[t]);
                if (s == PADIM_OK) {
                    used[found] = 1;
                    mask = masks[found];
                }
            }
            if (s == PADIM_OK) s = push_entry(out, &cap, imgs[i], label, types[t], mask);
        }
        free(sub);
        padim_free_paths(imgs, ni);
    }
    for (int64_t j = 0; j < nm && s == PADIM_OK; j++)
        if (!used[j])
            s = padim_fail(PADIM_ERR_ARG,
                           "%s: mask has no defective image with the same stem (masks match "
                           "<defect>/<stem>.<ext> by <stem> or <stem>_mask; good images need none)",
                           masks[j]);
    if (s == PADIM_OK && folders == 0)
        s = padim_fail(PADIM_ERR_ARG,
                       "%s: no image folders: expected good/ and defect folders such as "
                       "defective/ (optional masks/), or an MVTec category with test/",
                       dir);
    if (s == PADIM_OK && out->n == 0)
        s = padim_fail(PADIM_ERR_ARG, "%s: no test images found in its sub-folders (looked for .png "
                       ".jpg .jpeg .bmp .tif .tiff)", dir);
    out->has_masks = has_masks;
    free(masks_dir);
    free(used);
    padim_free_paths(types, nt);
    padim_free_paths(masks, nm);
    if (s != PADIM_OK) testset_free(out);
    return s;
}

padim_status testset_load(const char *dir, padim_testset *out) {
    char *test_dir = NULL;
    PADIM_TRY(join(dir, "test", &test_dir));
    int mvtec = is_dir(test_dir);
    free(test_dir);
    return mvtec ? testset_load_mvtec(dir, out) : testset_load_folder(dir, out);
}

/* ---------------------------------------------------------------- masks */

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

padim_status mask_load_eval(const char *mask_path, const char *image_path, int image_w,
                            int image_h, const padim_config *cfg, uint8_t *out) {
    padim_image im = {0};
    /* The size is checked from the mask's header, before it is decoded; a mask as large
     * as its image is always within the limit its image passed. */
    padim_decode_options opt;
    padim_decode_options_resolve(NULL, cfg, &opt);
    if (image_w > 0 && (int64_t)image_w * image_h > opt.max_pixels) opt.max_pixels = (int64_t)image_w * image_h;
    image_reader *reader;
    image_header hdr;
    PADIM_TRY(image_reader_open(mask_path, &opt, &reader, &hdr));
    padim_status s = PADIM_OK;
    if (image_w > 0 && (hdr.width != image_w || hdr.height != image_h))
        s = padim_fail(PADIM_ERR_MISMATCH,
                       "%s: mask is %dx%d but its image %s is %dx%d (a mask must have its image's "
                       "size)",
                       mask_path, hdr.width, hdr.height, image_path ? image_path : "(image)", image_w, image_h);
    if (s == PADIM_OK) s = image_reader_decode(reader, &im);
    image_reader_close(reader);
    const int h = im.height, w = im.width, ch = im.channels;
    /* Geometry of the image preprocessing (preprocess.c), applied with nearest. */
    int rh = 0, rw = 0, S = padim_config_input_size(cfg);
    if (s == PADIM_OK) {
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
    }
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
        /* Defective: any colour channel > 127 (alpha, the last of 2 or 4, ignored). */
        const int nc = ch >= 3 ? 3 : 1;
        for (int y = 0; y < S; y++) {
            const uint8_t *row = im.data + (size_t)ys[top + y] * w * ch;
            for (int x = 0; x < S; x++) {
                const uint8_t *px = row + (size_t)xs[left + x] * ch;
                uint8_t v = 0;
                for (int c = 0; c < nc; c++) v |= px[c] > 127;
                out[(size_t)y * S + x] = v;
            }
        }
    }
    free(ys);
    free(xs);
    padim_image_free(&im);
    return s;
}
