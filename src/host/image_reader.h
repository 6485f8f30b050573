/*
 * image_reader.h - the inside of image.c's reader (image.h's image_reader), shared with
 * the format files that decode into it: image_png.c (libpng, libdeflate), image_jpeg.c
 * (libjpeg-turbo) and image_tiff.c (libtiff); BMP (stb_image) stays in image.c. Every format fills
 * r->hdr from the header first (image_check_size) and only then decodes the pixels.
 */
#ifndef PADIM_IMAGE_READER_H
#define PADIM_IMAGE_READER_H

#include "image.h"

#include <stddef.h>
#include <stdint.h>
#include <tiffio.h>

/* Slack for headers, metadata and decoder tables on top of the pixel-proportional
 * budgets below. */
#define DECODE_SLACK_BYTES ((int64_t)64 << 20)

typedef enum image_kind { KIND_UNKNOWN, KIND_PNG, KIND_JPEG, KIND_BMP, KIND_TIFF } image_kind;

static inline uint8_t u16_to_u8(unsigned v) { return (uint8_t)((v * 255u + 32767u) / 65535u); }


typedef struct jpeg_state jpeg_state;
typedef struct png_state png_state;

struct image_reader {
    char *path;            /* for messages */
    const uint8_t *buf;    /* the whole file */
    size_t len;
    uint8_t *owned;        /* buf when read by image_reader_open, else NULL */
    image_kind kind;
    padim_decode_options opt;
    image_header hdr;
    jpeg_state *jpeg;
    png_state *png;
    TIFF *tiff;
    struct tiff_msg *tiff_msg;
    size_t tiff_off;       /* read position of the TIFF client procedures */
    int tiff_direct;       /* TIFF: sample-exact scanline path (else libtiff RGBA) */
};

/* The one size check of every format, from the header, before any pixel allocation:
 * refuses empty images, sides above PADIM_MAX_IMAGE_SIDE and more than o->max_pixels. */
padim_status image_check_size(const char *path, const char *kind, int64_t w, int64_t h,
                              const padim_decode_options *o);

/* The largest file or single decoder allocation any image within the limit can need: an
 * uncompressed 16-bit RGBA raster (8 bytes per pixel) plus headers and metadata. */
static inline int64_t max_input_bytes(const padim_decode_options *o) {
    return o->max_pixels * 8 + DECODE_SLACK_BYTES;
}

/* PNG (image_png.c): header into r->hdr; pixels (h, w, channels); free the decoder. */
padim_status img_png_open(image_reader *r);
padim_status img_png_decode(image_reader *r, uint8_t *data);
void img_png_close(image_reader *r);
/* JPEG (image_jpeg.c): header into r->hdr; pixels (h, w, channels); free the decoder. */
padim_status img_jpeg_open(image_reader *r);
padim_status img_jpeg_decode(image_reader *r, uint8_t *data);
void img_jpeg_close(image_reader *r);
/* TIFF (image_tiff.c): header into r->hdr (r->tiff open from memory); pixels. */
padim_status img_tiff_open(image_reader *r);
padim_status img_tiff_decode(image_reader *r, uint8_t *data);

#endif
