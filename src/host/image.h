/*
 * image.h - image input/output and preprocessing (the first stage of the pipeline).
 *   decode: libpng (PNG), libjpeg-turbo (JPEG), libtiff (TIFF), stb_image (BMP), each
 *           after a header check against padim_decode_options (image.c).
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

#include <stddef.h>
#include <stdint.h>

/* Decoding in two steps (image.c), so that a caller can budget memory between them:
 * open reads the file (or takes a buffer) and its header, checks the limits and fills
 * *hdr; decode allocates width * height * channels bytes and decodes. Errors name the
 * path (or name). padim_image_load_ex is open + decode + close. */
typedef struct image_reader image_reader;
typedef struct image_header {
    int width, height, channels; /* of the decoded padim_image */
    const char *format;          /* "PNG", "JPEG", "TIFF", "BMP" */
} image_header;
padim_status image_reader_open(const char *path, const padim_decode_options *opt,
                               image_reader **out, image_header *hdr);
/* The same over a file already in memory (borrowed until close; the fuzzers use it). */
padim_status image_reader_open_memory(const char *name, const uint8_t *buf, size_t len,
                                      const padim_decode_options *opt, image_reader **out,
                                      image_header *hdr);
padim_status image_reader_decode(image_reader *r, padim_image *out);
void image_reader_close(image_reader *r); /* NULL-safe */

/* Preprocess one decoded image into out (3, S, S), S = padim_config_input_size(cfg). */
padim_status padim_preprocess(const padim_image *img, const padim_config *cfg, float *out);
/* Same but stop before normalization: RGB in [0,1], (3, S, S) (for heatmap overlays). */
padim_status padim_preprocess_rgb(const padim_image *img, const padim_config *cfg, float *out);
/* Bytes of working memory padim_preprocess needs for a w x h image (its float or uint8
 * RGB copy and resize intermediates, within a few percent): what a decoding budget adds to
 * the decoded image. Preprocessing refuses (PADIM_ERR_ARG) aspect ratios whose resize
 * intermediates would exceed both the image's size and 256 x resize^2 pixels. */
int64_t padim_preprocess_bytes(int w, int h, const padim_config *cfg);

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
