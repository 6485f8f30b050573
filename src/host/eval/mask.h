/*
 * mask.h - ground-truth masks for evaluation (mask.c): decoded, binarized by the layout's
 * rule (a colour channel > cut: 127 for MVTec's 0/255 masks, 0 for VisA's class-id masks;
 * dataset.h), checked against their image's size, and brought to the evaluation grid with
 * the image preprocessing's geometry (nearest) or kept at full resolution (MVTec AD 2's
 * SegF1 and the submission are at the image's own size).
 */
#ifndef PADIM_MASK_H
#define PADIM_MASK_H

#include "padim.h"

#include <stdint.h>

/* Load a ground-truth mask and bring it to the evaluation grid out (S, S), S =
 * padim_config_input_size(cfg), values 0/1, with the same geometry as the image:
 *   anomalib: squash to resize x resize with torch nearest (src = floor(dst * (float)in /
 *             out) in float32, as F.interpolate(mode="nearest")); then crop if cfg->crop.
 *   paper:    shorter side to resize (long side int(resize * long / short), torchvision)
 *             with PIL NEAREST (src = floor((dst + 0.5) * in / out), what torchvision's
 *             Resize does on the PIL masks of the reference), center crop cfg->crop
 *             (top = round-half-even((h - crop) / 2), torchvision CenterCrop).
 * Binarized at full resolution first (a channel > cut: 127 for MVTec, 0 for VisA). The
 * mask must have the image's size: image_w, image_h (> 0) are checked, the error names
 * both files and sizes (image_path is only used in that message and may be NULL). */
padim_status mask_load_eval(const char *mask_path, const char *image_path, int image_w,
                            int image_h, const padim_config *cfg, int cut, uint8_t *out);
/* The same mask binarized at its full resolution: *out (image_h, image_w) 0/1, malloc'd. */
padim_status mask_load_full(const char *mask_path, const char *image_path, int image_w, int image_h, int cut,
                            uint8_t **out);

#endif
