/*
 * dataset.c - test-set layouts (MVTec AD, MVTec AD 2, converted VisA, generic folder),
 * layout detection, image / mask pairing by file stem, and ground-truth masks on the
 * evaluation grid. Raw VisA (split CSV) is dataset_visa.c. Rules in dataset.h.
 */
#include "dataset.h"
#include "dataset_visa.h"

#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>
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
padim_status testset_push(padim_testset *ts, int64_t *cap, const char *path, int label, const char *type,
                          const char *mask) {
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

/* ---------------------------------------------------------------- strict folders */

static int is_image_name(const char *name) {
    static const char *exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(exts) / sizeof(exts[0]); i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

padim_status list_images_strict(const char *dir, int optional, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    if (!is_dir(dir)) {
        if (optional) return PADIM_OK;
        return padim_fail(PADIM_ERR_ARG, "%s: folder is missing", dir);
    }
    DIR *d = opendir(dir);
    if (!d) return padim_fail(PADIM_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    padim_status s = PADIM_OK;
    struct dirent *e;
    while (s == PADIM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || is_image_name(e->d_name)) continue;
        char *p = NULL;
        s = join(dir, e->d_name, &p);
        struct stat sb;
        if (s == PADIM_OK && stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            s = padim_fail(PADIM_ERR_ARG, "%s: stray file: not an image (this folder holds only images: .png .jpg "
                           ".jpeg .bmp .tif .tiff); move it away", p);
        free(p);
    }
    closedir(d);
    if (s == PADIM_OK) s = list_or_empty(dir, 0, paths, n);
    return s;
}

padim_status dataset_split_images(const char *object_dir, const char *sub, char ***paths, int64_t *n) {
    char *dir = NULL;
    PADIM_TRY(join(object_dir, sub, &dir));
    padim_status s = list_images_strict(dir, 0, paths, n);
    if (s == PADIM_OK && *n == 0) s = padim_fail(PADIM_ERR_ARG, "%s: no images found", dir);
    free(dir);
    return s;
}

/* ---------------------------------------------------------------- MVTec-like layouts */

/* How the MVTec-like layouts differ: where the test and mask folders are, how a mask is
 * named, and how strict the folders are. */
typedef struct mvtec_like {
    padim_dataset_kind kind;
    const char *test_sub, *gt_sub; /* "test", "ground_truth" (AD 2: test_public/...) */
    int same_name;                 /* masks named <stem>.<ext> (converted VisA), else <stem>_mask */
    int strict;                    /* only images in the folders, only good/ and bad/ (AD 2) */
    int mask_cut;
} mvtec_like;

static const mvtec_like LAYOUT_MVTEC_AD = {PADIM_DATASET_MVTEC_AD, "test", "ground_truth", 0, 0, 127};
static const mvtec_like LAYOUT_MVTEC_AD2 = {PADIM_DATASET_MVTEC_AD2, "test_public", "test_public/ground_truth", 0, 1,
                                            127};
static const mvtec_like LAYOUT_VISA = {PADIM_DATASET_VISA, "test", "ground_truth", 1, 0, 0};

/* Is mask_path the mask of an image with stem (s, len): "<s>_mask.<ext>" (or "<s>.<ext>"
 * when same_name)? */
static int is_mvtec_mask_of(const char *mask_path, const char *s, size_t len, int same_name) {
    const char *b = base_name(mask_path);
    size_t bl = stem_len(b);
    if (same_name) return bl == len && !strncmp(b, s, len);
    return bl == len + 5 && !strncmp(b, s, len) && !strncmp(b + len, "_mask", 5);
}

/* Images of test/<type> paired with the masks of ground_truth/<type> (strict). */
static padim_status mvtec_defect_folder(padim_testset *ts, int64_t *cap, const char *test_dir,
                                        const char *gt_dir, int has_gt, const char *type, const mvtec_like *L) {
    char *img_dir = NULL, *mask_dir = NULL, **imgs = NULL, **masks = NULL;
    int64_t ni = 0, nm = 0;
    uint8_t *used = NULL;
    const char *suffix = L->same_name ? "" : "_mask";
    padim_status s = join(test_dir, type, &img_dir);
    if (s == PADIM_OK) s = join(gt_dir, type, &mask_dir);
    if (s == PADIM_OK) s = L->strict ? list_images_strict(img_dir, 1, &imgs, &ni) : list_or_empty(img_dir, 0, &imgs, &ni);
    if (s == PADIM_OK && has_gt)
        s = L->strict ? list_images_strict(mask_dir, 1, &masks, &nm) : list_or_empty(mask_dir, 0, &masks, &nm);
    if (s == PADIM_OK) s = padim_calloc((void **)&used, (size_t)(nm ? nm : 1), "mask flags");
    for (int64_t i = 0; i < ni && s == PADIM_OK; i++) {
        const char *b = base_name(imgs[i]);
        size_t len = stem_len(b);
        const char *mask = NULL;
        for (int64_t j = 0; j < nm && s == PADIM_OK; j++) {
            if (!is_mvtec_mask_of(masks[j], b, len, L->same_name)) continue;
            if (mask)
                s = padim_fail(PADIM_ERR_ARG, "%s: two ground-truth masks match this image: %s and %s",
                               imgs[i], mask, masks[j]);
            mask = masks[j];
            used[j] = 1;
        }
        if (s == PADIM_OK && has_gt && !mask)
            s = padim_fail(PADIM_ERR_ARG,
                           "%s: defective image has no ground-truth mask: expected %s/%.*s%s.png "
                           "(%s layout: %s/<defect>/<stem>%s.<ext>)",
                           imgs[i], mask_dir, (int)len, b, suffix, padim_dataset_name(L->kind), L->gt_sub, suffix);
        if (s == PADIM_OK) s = testset_push(ts, cap, imgs[i], 1, type, mask);
    }
    for (int64_t j = 0; j < nm && s == PADIM_OK; j++)
        if (!used[j]) {
            const char *b = base_name(masks[j]);
            size_t len = stem_len(b);
            int mvtec_name = !L->same_name && len > 5 && !strncmp(b + len - 5, "_mask", 5);
            s = padim_fail(PADIM_ERR_ARG,
                           "%s: ground-truth mask has no image: expected %s/%.*s.<ext>%s", masks[j],
                           img_dir, (int)(mvtec_name ? len - 5 : len), b,
                           mvtec_name || L->same_name ? "" : " (and mask names ending in _mask)");
        }
    free(img_dir);
    free(mask_dir);
    free(used);
    padim_free_paths(imgs, ni);
    padim_free_paths(masks, nm);
    return s;
}

static padim_status load_mvtec_like(const char *category_dir, const mvtec_like *L, padim_testset *out) {
    memset(out, 0, sizeof(*out));
    char *test_dir = NULL, *gt_dir = NULL, **types = NULL, **gt_types = NULL;
    int64_t nt = 0, ngt = 0, cap = 0;
    padim_status s = join(category_dir, L->test_sub, &test_dir);
    if (s == PADIM_OK) s = join(category_dir, L->gt_sub, &gt_dir);
    if (s == PADIM_OK && !is_dir(test_dir))
        s = padim_fail(PADIM_ERR_ARG,
                       "%s: not an %s category folder: %s is missing (expected %s/good/, "
                       "%s/<defect>/ and %s/<defect>/)",
                       category_dir, padim_dataset_name(L->kind), test_dir, L->test_sub, L->test_sub, L->gt_sub);
    int has_gt = s == PADIM_OK && is_dir(gt_dir);
    if (s == PADIM_OK && L->strict && !has_gt)
        s = padim_fail(PADIM_ERR_ARG, "%s: folder is missing (%s keeps the masks of bad/ there)", gt_dir,
                       padim_dataset_name(L->kind));
    if (s == PADIM_OK) s = list_subdirs(test_dir, &types, &nt);
    for (int64_t t = 0; t < nt && s == PADIM_OK; t++) {
        if (L->strict && !strcmp(types[t], "ground_truth")) continue;
        if (L->strict && strcmp(types[t], "good") && strcmp(types[t], "bad")) {
            s = padim_fail(PADIM_ERR_ARG, "%s/%s: stray folder (%s's %s/ holds good/, bad/ and ground_truth/ only)",
                           test_dir, types[t], padim_dataset_name(L->kind), L->test_sub);
        } else if (!strcmp(types[t], "good")) {
            char *dir = NULL, **imgs = NULL;
            int64_t ni = 0;
            s = join(test_dir, "good", &dir);
            if (s == PADIM_OK) s = L->strict ? list_images_strict(dir, 1, &imgs, &ni) : list_or_empty(dir, 0, &imgs, &ni);
            for (int64_t i = 0; i < ni && s == PADIM_OK; i++)
                s = testset_push(out, &cap, imgs[i], 0, "good", NULL);
            free(dir);
            padim_free_paths(imgs, ni);
        } else {
            s = mvtec_defect_folder(out, &cap, test_dir, gt_dir, has_gt, types[t], L);
        }
    }
    /* Masks of a defect type that has no test folder at all. */
    if (s == PADIM_OK && has_gt) s = list_subdirs(gt_dir, &gt_types, &ngt);
    for (int64_t g = 0; g < ngt && s == PADIM_OK; g++) {
        int found = 0;
        for (int64_t t = 0; t < nt; t++) found |= !strcmp(gt_types[g], types[t]);
        if (!found) s = mvtec_defect_folder(out, &cap, test_dir, gt_dir, 1, gt_types[g], L);
    }
    if (s == PADIM_OK && out->n == 0)
        s = padim_fail(PADIM_ERR_ARG, "%s: no test images found (looked in %s/good/ and %s/<defect>/ "
                       "for .png .jpg .jpeg .bmp .tif .tiff)", category_dir, L->test_sub, L->test_sub);
    out->has_masks = has_gt;
    out->kind = L->kind;
    out->mask_cut = L->mask_cut;
    free(test_dir);
    free(gt_dir);
    padim_free_paths(types, nt);
    padim_free_paths(gt_types, ngt);
    if (s != PADIM_OK) testset_free(out);
    return s;
}

padim_status testset_load_mvtec(const char *category_dir, padim_testset *out) {
    return load_mvtec_like(category_dir, &LAYOUT_MVTEC_AD, out);
}

padim_status testset_load_mvtec_ad2(const char *object_dir, padim_testset *out) {
    return load_mvtec_like(object_dir, &LAYOUT_MVTEC_AD2, out);
}

padim_status testset_load_visa_converted(const char *category_dir, padim_testset *out) {
    return load_mvtec_like(category_dir, &LAYOUT_VISA, out);
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
            if (s == PADIM_OK) s = testset_push(out, &cap, imgs[i], label, types[t], mask);
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
    out->kind = PADIM_DATASET_FOLDER;
    out->mask_cut = 127;
    free(masks_dir);
    free(used);
    padim_free_paths(types, nt);
    padim_free_paths(masks, nm);
    if (s != PADIM_OK) testset_free(out);
    return s;
}

/* ---------------------------------------------------------------- kinds and detection */

static const char *const DATASET_NAMES[] = {"auto", "mvtec_ad", "mvtec_ad2", "visa", "folder"};
enum { N_DATASET_NAMES = (int)(sizeof(DATASET_NAMES) / sizeof(DATASET_NAMES[0])) };

const char *padim_dataset_name(padim_dataset_kind k) {
    return (int)k >= 0 && (int)k < N_DATASET_NAMES ? DATASET_NAMES[k] : "unknown";
}

padim_status padim_dataset_parse(const char *s, padim_dataset_kind *out) {
    for (int i = 0; s && i < N_DATASET_NAMES; i++)
        if (!strcmp(s, DATASET_NAMES[i])) {
            *out = (padim_dataset_kind)i;
            return PADIM_OK;
        }
    return padim_fail(PADIM_ERR_ARG, "unknown dataset layout '%s' (expected auto, mvtec_ad, mvtec_ad2, visa or folder)",
                      s ? s : "(null)");
}

static int has_sub(const char *dir, const char *sub) {
    char *p = NULL;
    if (join(dir, sub, &p) != PADIM_OK) return 0;
    int r = is_dir(p);
    free(p);
    return r;
}

/* Converted VisA names a mask like its image; MVTec AD appends "_mask". Decided by the
 * first mask of ground_truth/ (byte order): a layout is one or the other. */
static int masks_named_like_images(const char *dir) {
    char *gt = NULL, **masks = NULL;
    int64_t n = 0;
    int same = 0;
    if (join(dir, "ground_truth", &gt) == PADIM_OK && list_or_empty(gt, 1, &masks, &n) == PADIM_OK && n > 0) {
        const char *b = base_name(masks[0]);
        size_t len = stem_len(b);
        same = !(len > 5 && !strncmp(b + len - 5, "_mask", 5));
    }
    padim_clear_error();
    padim_free_paths(masks, n);
    free(gt);
    return same;
}

padim_status padim_dataset_detect(const char *dir, padim_dataset_kind *out) {
    if (!dir || !is_dir(dir))
        return padim_fail(PADIM_ERR_ARG, "%s: not a folder (expected a dataset category folder)", dir ? dir : "(null)");
    if (has_sub(dir, "test_public")) *out = PADIM_DATASET_MVTEC_AD2;
    else if (has_sub(dir, "Data/Images")) *out = PADIM_DATASET_VISA;
    else if (has_sub(dir, "test")) *out = masks_named_like_images(dir) ? PADIM_DATASET_VISA : PADIM_DATASET_MVTEC_AD;
    else *out = PADIM_DATASET_FOLDER;
    return PADIM_OK;
}

padim_status testset_load_kind(const char *dir, padim_dataset_kind kind, padim_testset *out) {
    memset(out, 0, sizeof(*out));
    if (kind == PADIM_DATASET_AUTO) PADIM_TRY(padim_dataset_detect(dir, &kind));
    switch (kind) {
    case PADIM_DATASET_MVTEC_AD: return testset_load_mvtec(dir, out);
    case PADIM_DATASET_MVTEC_AD2: return testset_load_mvtec_ad2(dir, out);
    case PADIM_DATASET_VISA:
        return has_sub(dir, "Data/Images") ? testset_load_visa_raw(dir, out) : testset_load_visa_converted(dir, out);
    case PADIM_DATASET_FOLDER: return testset_load_folder(dir, out);
    default: return padim_fail(PADIM_ERR_ARG, "%s: unknown dataset layout %d", dir, (int)kind);
    }
}

padim_status testset_load(const char *dir, padim_testset *out) {
    char *test_dir = NULL;
    PADIM_TRY(join(dir, "test", &test_dir));
    int mvtec = is_dir(test_dir);
    free(test_dir);
    return mvtec ? testset_load_mvtec(dir, out) : testset_load_folder(dir, out);
}

padim_status padim_dataset_train_images(const char *dir, padim_dataset_kind kind, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    if (kind == PADIM_DATASET_AUTO) PADIM_TRY(padim_dataset_detect(dir, &kind));
    if (kind == PADIM_DATASET_VISA && has_sub(dir, "Data/Images")) return trainset_list_visa_raw(dir, paths, n);
    if (kind == PADIM_DATASET_MVTEC_AD2) return dataset_split_images(dir, "train/good", paths, n);
    return trainset_list_mvtec(dir, paths, n);
}
