/*
 * image.h - image input/output and preprocessing (the first stage of the pipeline).
 *   decode: stb_image (PNG, JPEG, BMP) and libtiff (TIFF 8/16-bit, gray/RGB/alpha).
 *   preprocess (padim_preprocess): to RGB float [0,1], resize (preset), crop, normalize.
 *   outputs: PNG (stb_image_write) and float32 TIFF maps (libtiff), atomic; the heatmap
 *            overlay drawn into a PNG is render.h's.
 *
 * Resize semantics (REFERENCE.md):
 *   anomalib: float32 [0,1] image, squash to resize x resize, bilinear with antialias
 *             exactly as torchvision's resize(antialias=True) on a float tensor (PIL's
 *             separable filter: support scaled by the downscale factor, normalized
 *             weights, center = (i + 0.5) * scale).
 *   paper:    uint8 image, shorter side to `resize` with PIL's LANCZOS (support 3,
 *             PIL fixed-point arithmetic and rounding to uint8), center crop `crop`
 *             (torchvision CenterCrop: top = round((h - crop) / 2)), then to float.
 * Normalization: ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
 */
#ifndef PADIM_IMAGE_H
#define PADIM_IMAGE_H

#include "padim.h"

#include <stdint.h>

/* Preprocess one decoded image into out (3, S, S), S = padim_config_input_size(cfg). */
padim_status padim_preprocess(const padim_image *img, const padim_config *cfg, float *out);
/* Same but stop before normalization: RGB in [0,1], (3, S, S) (for heatmap overlays). */
padim_status padim_preprocess_rgb(const padim_image *img, const padim_config *cfg, float *out);

typedef enum resize_filter { RESIZE_BILINEAR = 0, RESIZE_LANCZOS = 1 } resize_filter;

/* Antialiased separable resize of float planes: in (C, H, W) -> out (C, oh, ow). */
padim_status resize_aa_f32(const float *in, int C, int H, int W, int oh, int ow,
                           resize_filter f, float *out);
/* PIL-exact resize of interleaved uint8: in (H, W, C) -> out (oh, ow, C). */
padim_status resize_aa_u8(const uint8_t *in, int C, int H, int W, int oh, int ow,
                          resize_filter f, uint8_t *out);

/* Writers: atomic (temporary file + rename); errors name the path. */
padim_status image_write_png(const char *path, int w, int h, int channels, const uint8_t *data);
/* Single-channel float32 TIFF (h, w). */
padim_status image_write_tiff_f32(const char *path, int w, int h, const float *data);
/* Single-channel IEEE float16 TIFF (h, w): BitsPerSample 16, SampleFormat IEEEFP. */
padim_status image_write_tiff_f16(const char *path, int w, int h, const float *data);
/* Read a single-channel float32 TIFF written by image_write_tiff_f32 (tests). */
padim_status image_read_tiff_f32(const char *path, int *w, int *h, float **data);

#endif
