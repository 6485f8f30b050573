/*
 * dataset.h - labeled test sets and ground-truth masks for `padim-gpu eval` (the input
 * side of evaluation; metrics.h is the output side). Image listing itself is
 * padim_list_images (padim.h).
 *
 * Layouts (the README states the same rules; padim_dataset_kind in padim.h names them):
 *
 *   MVTec AD, given a category folder C:
 *     C/train/good/<img>        training images (trainset_list_mvtec)
 *     C/test/good/<img>         label 0, no mask
 *     C/test/<defect>/<s>.<ext> label 1, mask C/ground_truth/<defect>/<s>_mask.<ext>
 *   When C/ground_truth/ exists, pairing is strict: a defective image without its mask,
 *   or a mask without its image, is an error naming the file(s). When it does not exist
 *   the set has no masks (image metrics only).
 *
 *   MVTec AD 2, given an object folder C:
 *     C/train/good, C/validation/good (good-only calibration), C/test_public/good (label
 *     0), C/test_public/bad (label 1, mask C/test_public/ground_truth/bad/<s>_mask.png),
 *     C/test_private/<img>, C/test_private_mixed/<img> (no labels: scored for the
 *     submission). Strict: any other folder in test_public/, a non-image file in these
 *     folders, a missing or an orphan mask is an error naming the file.
 *
 *   VisA raw, given C = R/<object>: C/Data/Images/{Normal,Anomaly}, C/Data/Masks/Anomaly,
 *     the split R/split_csv/1cls.csv (object,split,label,image,mask; paths relative to R;
 *     dataset_visa.c). Converted by anomalib: C/train/good, C/test/{good,bad},
 *     C/ground_truth/bad/<s>.png (mask named like its image). Masks: nonzero = defect.
 *
 *   Generic folder F (your own data):
 *     F/good/<img>              label 0
 *     F/<other name>/<img>      label 1, defect type = the folder name (e.g. F/defective/)
 *     F/masks/ (optional)       masks matched by file stem: the mask of <type>/<s>.<ext> is
 *                               masks/<type>/<s>.* or masks/<type>/<s>_mask.* or, flat,
 *                               masks/<s>.* or masks/<s>_mask.* (any image extension).
 *   With masks/ present pairing is strict as above (exactly one mask per defective image,
 *   every mask used once); without it the set has no masks.
 *
 * Detection (PADIM_DATASET_AUTO, padim_dataset_detect): C/test_public/ -> MVTec AD 2;
 * C/Data/Images/ -> VisA raw; C/test/ -> MVTec AD, or converted VisA when the masks of
 * C/ground_truth/ are named like their images (no "_mask"); otherwise the generic layout.
 *
 * Image files: extensions .png .jpg .jpeg .bmp .tif .tiff (any case), hidden files
 * skipped, sorted by path in byte order. Sub-folders are taken in byte order too.
 *
 * Masks (mask.h): a pixel is defective when any colour channel is > mask_cut: 127 for MVTec AD,
 * MVTec AD 2 and the generic layout (0/255 masks), 0 for VisA (its raw masks hold small
 * class ids: nonzero = defect).
 */
#ifndef PADIM_DATASET_H
#define PADIM_DATASET_H

#include "padim.h"

#include <stdint.h>

typedef struct padim_testset {
    int64_t n;
    char **paths;        /* (n) image paths */
    uint8_t *labels;     /* (n) 0 good, 1 defective */
    char **mask_paths;   /* (n) mask path of a defective image; NULL for good images and
                            when the set has no masks */
    char **defect_types; /* (n) "good" or the name of the image's folder */
    int has_masks;       /* 1: masks were found (MVTec ground_truth/ or generic masks/) and
                            every defective image has one: pixel metrics are available
                            (good images have all-zero masks). 0: image metrics only. */
    int64_t n_good, n_defective;
    padim_dataset_kind kind; /* the layout it was read as (never AUTO) */
    int mask_cut;            /* a mask pixel is defective when a channel is > mask_cut */
} padim_testset;

/* MVTec layout of a category folder (see above). Errors: no test/ folder, no images,
 * pairing mismatches (naming the image and the expected mask path, or the orphan mask). */
padim_status testset_load_mvtec(const char *category_dir, padim_testset *out);
/* Generic layout (see above). Errors: no good/ and no defect folders, no images, pairing
 * mismatches. */
padim_status testset_load_folder(const char *dir, padim_testset *out);
/* MVTec when dir/test/ exists, else the generic layout. */
padim_status testset_load(const char *dir, padim_testset *out);
/* The test set of dir read as kind (PADIM_DATASET_AUTO: padim_dataset_detect). */
padim_status testset_load_kind(const char *dir, padim_dataset_kind kind, padim_testset *out);
/* MVTec AD 2 object folder: test_public (labels and masks). */
padim_status testset_load_mvtec_ad2(const char *object_dir, padim_testset *out);
/* Converted VisA (anomalib): the MVTec layout with masks named like their images. */
padim_status testset_load_visa_converted(const char *category_dir, padim_testset *out);
/* Append one entry to ts (strings copied); *cap is the capacity of its arrays. For the
 * layout readers (dataset_visa.c). */
padim_status testset_push(padim_testset *ts, int64_t *cap, const char *path, int label, const char *type,
                          const char *mask);

/* The images of one folder that must hold only images (MVTec AD 2, VisA): sorted; a
 * visible regular file that is not an image is an error naming it ("stray file"). A
 * missing folder is an empty list when optional, else an error. */
padim_status list_images_strict(const char *dir, int optional, char ***paths, int64_t *n);
/* Good images of a split folder (MVTec AD 2: "validation", "test_private", ...): the
 * images of object_dir/<sub>, strictly (list_images_strict, required). */
padim_status dataset_split_images(const char *object_dir, const char *sub, char ***paths, int64_t *n);
void testset_free(padim_testset *ts); /* frees the arrays and zeroes *ts; NULL-safe */

/* Training images of an MVTec category: category_dir/train/good, sorted. Free with
 * padim_free_paths. */
padim_status trainset_list_mvtec(const char *category_dir, char ***paths, int64_t *n);

#endif
