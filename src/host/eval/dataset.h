/*
 * dataset.h - labeled test sets and ground-truth masks for `padim-gpu eval` (the input
 * side of evaluation; metrics.h is the output side). Image listing itself is
 * padim_list_images (padim.h).
 *
 * Layouts (the README states the same rules):
 *
 *   MVTec AD, given a category folder C:
 *     C/train/good/<img>        training images (trainset_list_mvtec)
 *     C/test/good/<img>         label 0, no mask
 *     C/test/<defect>/<s>.<ext> label 1, mask C/ground_truth/<defect>/<s>_mask.<ext>
 *   When C/ground_truth/ exists, pairing is strict: a defective image without its mask,
 *   or a mask without its image, is an error naming the file(s). When it does not exist
 *   the set has no masks (image metrics only).
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
 * Image files: extensions .png .jpg .jpeg .bmp .tif .tiff (any case), hidden files
 * skipped, sorted by path in byte order. Sub-folders are taken in byte order too.
 *
 * Masks: a pixel is defective when any colour channel is > 127 (MVTec masks are 0/255).
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
} padim_testset;

/* MVTec layout of a category folder (see above). Errors: no test/ folder, no images,
 * pairing mismatches (naming the image and the expected mask path, or the orphan mask). */
padim_status testset_load_mvtec(const char *category_dir, padim_testset *out);
/* Generic layout (see above). Errors: no good/ and no defect folders, no images, pairing
 * mismatches. */
padim_status testset_load_folder(const char *dir, padim_testset *out);
/* MVTec when dir/test/ exists, else the generic layout. */
padim_status testset_load(const char *dir, padim_testset *out);
void testset_free(padim_testset *ts); /* frees the arrays and zeroes *ts; NULL-safe */

/* Training images of an MVTec category: category_dir/train/good, sorted. Free with
 * padim_free_paths. */
padim_status trainset_list_mvtec(const char *category_dir, char ***paths, int64_t *n);

/* Load a ground-truth mask and bring it to the evaluation grid out (S, S), S =
 * padim_config_input_size(cfg), values 0/1, with the same geometry as the image:
 *   anomalib: squash to resize x resize with torch nearest (src = floor(dst * (float)in /
 *             out) in float32, as F.interpolate(mode="nearest")); then crop if cfg->crop.
 *   paper:    shorter side to resize (long side int(resize * long / short), torchvision)
 *             with PIL NEAREST (src = floor((dst + 0.5) * in / out), what torchvision's
 *             Resize does on the PIL masks of the reference), center crop cfg->crop
 *             (top = round-half-even((h - crop) / 2), torchvision CenterCrop).
 * Binarized at full resolution first (> 127). The mask must have the image's size:
 * image_w, image_h (> 0) are checked, the error names both files and sizes (image_path is
 * only used in that message and may be NULL). */
padim_status mask_load_eval(const char *mask_path, const char *image_path, int image_w,
                            int image_h, const padim_config *cfg, uint8_t *out);

#endif
