/*
 * image.c - image decoding (first stage of the pipeline) and the image outputs (last
 * stage). Decoding: the format is chosen by the file's magic bytes, never its extension,
 * and each format goes through a decoder that checks its input (untrusted files: a
 * fuzzer found 260-byte files that stb_image took as 16k x 16k images):
 *   PNG   libpng: CRCs of critical chunks, the zlib stream (Adler-32), IEND all checked;
 *         8-bit gray / RGB / RGBA files without interlacing take a faster path with the
 *         same checks (image_png.c: libdeflate inflates) and fall back to libpng at
 *         anything else
 *   JPEG  libjpeg-turbo with PIL's settings (libjpeg defaults: islow IDCT, fancy
 *         upsampling, block smoothing for progressive), so pixels equal PIL's; any
 *         corrupt-data warning is an error; at most JPEG_MAX_SCANS scans; the decoder's
 *         own memory is capped (progressive files buffer all coefficients)
 *   TIFF  libtiff from memory, with its single-allocation cap set
 *   BMP   stb_image, after our own checks of the header, the palette and the length
 * Every decoder reads the header first (image_reader_open) and refuses dimensions above
 * the pixel limit (padim_decode_options.max_pixels) before allocating for the pixels.
 * Writers: atomic PNG and float32 / float16 TIFF (the heatmap overlay is render.c's).
 *
 * Decoded channel policy (padim_image: 8-bit, 1, 3 or 4 channels):
 *   gray -> 1, gray+alpha -> 1 (alpha dropped at load: it is never used, and PIL's
 *   convert("RGB") drops it too), RGB -> 3, RGBA -> 4 (alpha kept, ignored by
 *   preprocessing), palette -> RGB(A) expanded (PNG: RGBA when it has a tRNS chunk).
 *   A tRNS chunk of a gray or RGB PNG is ignored (1 or 3 channels), as convert("RGB") does.
 *   Gray PNGs of 1, 2 or 4 bits are scaled to 0..255 (as PIL does).
 *   16-bit samples (PNG or TIFF) -> 8 bits rounded: (v * 255 + 32767) / 65535 (libpng's
 *   png_set_scale_16 computes exactly this). PIL takes the high byte for 16-bit RGB PNGs
 *   instead, so such files may differ from PIL by 1 LSB.
 *   BMP: palette and 24-bit files decode as PIL does; 16-bit (5-5-5 / 5-6-5) BMPs may
 *   differ by 1 LSB (stb_image replicates the high bits, PIL computes v * 255 / 31).
 *   JPEG: gray -> 1, YCbCr/RGB -> 3 (libjpeg's colour conversion, as PIL); CMYK and YCCK
 *   are refused with a hint. EXIF orientation is not applied (PIL's open does not either).
 *   TIFF layouts outside the direct path (palette, YCbCr, tiled, planar, 1/2/4-bit) go
 *   through libtiff's RGBA conversion, which honours the Orientation tag and premultiplies
 *   unassociated alpha into the colours; the direct path does neither, like PIL.
 * Only the first TIFF directory (page) is read.
 */
#include "atomic_file.h"
#include "common.h"
#include "image.h"
#include "image_reader.h"
#include "half.h" /* padim_f32_to_f16, the one float16 rounding */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>
#include <tiffio.h>


/* ------------------------------------------------------------------ options */

void padim_decode_options_default(padim_decode_options *opt) {
    opt->max_pixels = PADIM_DEFAULT_MAX_PIXELS;
    opt->max_batch_bytes = PADIM_DEFAULT_MAX_BATCH_BYTES;
}

void padim_decode_options_resolve(const padim_runtime *rt, const padim_config *cfg,
                                  padim_decode_options *out) {
    padim_decode_options_default(out);
    if (cfg && cfg->max_pixels > 0) out->max_pixels = cfg->max_pixels;
    if (rt && rt->decode.max_pixels > 0) out->max_pixels = rt->decode.max_pixels;
    if (rt && rt->decode.max_batch_bytes > 0) out->max_batch_bytes = rt->decode.max_batch_bytes;
}

/* Defaults for fields <= 0; max_pixels never above what the side limit allows, so the
 * byte budgets below cannot overflow. */
static padim_decode_options options_or_default(const padim_decode_options *opt) {
    padim_decode_options o;
    padim_decode_options_default(&o);
    if (opt && opt->max_pixels > 0) o.max_pixels = opt->max_pixels;
    if (opt && opt->max_batch_bytes > 0) o.max_batch_bytes = opt->max_batch_bytes;
    const int64_t side = PADIM_MAX_IMAGE_SIDE;
    if (o.max_pixels > side * side) o.max_pixels = side * side;
    return o;
}

/* ------------------------------------------------------------------ helpers */

static padim_status read_whole_file(const char *path, int64_t max_bytes, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return padim_fail(PADIM_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((int64_t)sb.st_size > max_bytes) {
            fclose(f);
            return padim_fail(PADIM_ERR_FORMAT, "%s: file of %lld bytes is larger than any image within the "
                              "pixel limit can be (%lld bytes); not read", path, (long long)sb.st_size,
                              (long long)max_bytes);
        }
        cap = (size_t)sb.st_size + 1; /* +1: end of file is seen without a reallocation */
    }
    uint8_t *b = NULL;
    padim_status s = padim_alloc((void **)&b, cap, "image file");
    while (s == PADIM_OK) {
        if (n == cap) {
            if ((int64_t)cap > max_bytes) {
                s = padim_fail(PADIM_ERR_FORMAT, "%s: more than %lld bytes, larger than any image within "
                               "the pixel limit can be", path, (long long)max_bytes);
                break;
            }
            uint8_t *nb = realloc(b, cap * 2);
            if (!nb) {
                s = padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap * 2);
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) s = padim_fail(PADIM_ERR_IO, "%s: cannot read image: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (s != PADIM_OK) {
        free(b);
        return s;
    }
    *buf = b;
    *len = n;
    return PADIM_OK;
}


static image_kind detect_kind(const uint8_t *b, size_t n) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(b, png, 8) == 0) return KIND_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return KIND_JPEG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return KIND_BMP;
    /* classic TIFF (42) and BigTIFF (43), both byte orders */
    if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                   (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43))))
        return KIND_TIFF;
    return KIND_UNKNOWN;
}

static const char *kind_name(image_kind k) {
    return k == KIND_PNG ? "PNG" : k == KIND_JPEG ? "JPEG" : k == KIND_BMP ? "BMP" : k == KIND_TIFF ? "TIFF" : "?";
}


/* The one size check of every format, from the header, before any pixel allocation. */
padim_status image_check_size(const char *path, const char *kind, int64_t w, int64_t h,
                               const padim_decode_options *o) {
    if (w < 1 || h < 1)
        return padim_fail(PADIM_ERR_FORMAT, "%s: %s header gives an empty image (%lld x %lld)", path, kind,
                          (long long)w, (long long)h);
    if (w > PADIM_MAX_IMAGE_SIDE || h > PADIM_MAX_IMAGE_SIDE)
        return padim_fail(PADIM_ERR_FORMAT, "%s: %s image is %lld x %lld pixels: a side above %d is not "
                          "supported (not decoded)", path, kind, (long long)w, (long long)h, PADIM_MAX_IMAGE_SIDE);
    if (w * h > o->max_pixels)
        return padim_fail(PADIM_ERR_FORMAT, "%s: %s image is %lld x %lld = %lld pixels, above the limit of "
                          "%lld pixels (max_pixels): not decoded; raise max_pixels (config key or "
                          "padim_decode_options) if the file is genuine", path, kind, (long long)w,
                          (long long)h, (long long)(w * h), (long long)o->max_pixels);
    return PADIM_OK;
}


/* ------------------------------------------------------------------ BMP (stb_image) */

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

/* stb_image trusts a BMP's header: it reads a short file as zeros, a palette from
 * wherever the header points and pixel indices beyond the palette from uninitialized
 * memory. PIL refuses such files; so do we, from the header, before stb sees them. */
static padim_status bmp_open(image_reader *r) {
    const uint8_t *b = r->buf;
    const size_t n = r->len;
    if (n < 26) return padim_fail(PADIM_ERR_FORMAT, "%s: BMP of %zu bytes is truncated (no header)", r->path, n);
    const uint32_t offset = le32(b + 10), hsz = le32(b + 14);
    int64_t w, h;
    uint32_t bpp, compression = 0, colors = 0;
    if (hsz == 12) { /* OS/2 BITMAPCOREHEADER */
        w = le16(b + 18);
        h = le16(b + 20);
        bpp = le16(b + 24);
    } else if (hsz >= 40 && hsz <= 124 && n >= 54) {
        w = (int32_t)le32(b + 18);
        h = (int32_t)le32(b + 22);
        bpp = le16(b + 28);
        compression = le32(b + 30);
        colors = le32(b + 46);
    } else {
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP header of %u bytes is not a known version (12, 40-124) "
                          "or the file is truncated", r->path, hsz);
    }
    const int64_t ah = h < 0 ? -h : h;
    PADIM_TRY(image_check_size(r->path, "BMP", w, ah, &r->opt));
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP with %u bits per pixel is not valid", r->path, bpp);
    if (compression != 0 && !(compression == 3 && (bpp == 16 || bpp == 32)))
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP compression %u (RLE, embedded JPEG/PNG) is not "
                          "supported; expected uncompressed or bit fields", r->path, compression);
    const size_t header_end = 14 + (size_t)hsz + (compression == 3 && hsz == 40 ? 12 : 0);
    if (header_end > n || offset < header_end || offset > n)
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP pixel data offset %u is outside the file (%zu bytes, "
                          "header ends at %zu)", r->path, offset, n, header_end);
    int64_t ncolors = 0;
    const size_t entry = hsz == 12 ? 3 : 4;
    if (bpp <= 8) {
        const int64_t max_colors = (int64_t)1 << bpp;
        ncolors = colors ? (int64_t)colors : max_colors;
        if (ncolors > max_colors)
            return padim_fail(PADIM_ERR_FORMAT, "%s: impossible BMP palette: %lld colours for %u-bit pixels "
                              "(at most %lld)", r->path, (long long)ncolors, bpp, (long long)max_colors);
        if (header_end + (size_t)ncolors * entry > offset)
            return padim_fail(PADIM_ERR_FORMAT, "%s: BMP palette of %lld colours does not fit between the "
                              "header and the pixel data (offset %u)", r->path, (long long)ncolors, offset);
    }
    const size_t stride = (((size_t)w * bpp + 31) / 32) * 4;
    if ((size_t)ah > (n - offset) / stride)
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP is truncated: %lld x %lld at %u bits needs %zu bytes of "
                          "pixel data, the file has %zu", r->path, (long long)w, (long long)ah, bpp,
                          stride * (size_t)ah, n - offset);
    if (bpp <= 8 && ncolors < ((int64_t)1 << bpp)) { /* every index inside the palette */
        for (int64_t y = 0; y < ah; y++) {
            const uint8_t *row = b + offset + (size_t)y * stride;
            for (int64_t x = 0; x < w; x++) {
                const size_t bit = (size_t)x * bpp;
                const unsigned v = (row[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
                if (v >= ncolors)
                    return padim_fail(PADIM_ERR_FORMAT, "%s: BMP pixel (%lld, %lld) uses colour %u of a "
                                      "%lld-colour palette", r->path, (long long)x,
                                      (long long)(h < 0 ? y : ah - 1 - y), v, (long long)ncolors);
            }
        }
    }
    if (n > (size_t)INT32_MAX)
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP file of %zu bytes is too large (max 2 GiB)", r->path, n);
    int sw = 0, sh = 0, comp = 0;
    if (!stbi_info_from_memory(r->buf, (int)n, &sw, &sh, &comp) || sw != w || sh != ah)
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP header not understood by the decoder (%s)", r->path,
                          stbi_failure_reason() ? stbi_failure_reason() : "size mismatch");
    r->hdr.width = (int)w;
    r->hdr.height = (int)ah;
    r->hdr.channels = comp == 4 ? 4 : 3; /* stb expands palettes to RGB */
    return PADIM_OK;
}

static padim_status bmp_decode(image_reader *r, uint8_t *data) {
    int w = 0, h = 0, comp = 0;
    uint8_t *pix = stbi_load_from_memory(r->buf, (int)r->len, &w, &h, &comp, r->hdr.channels);
    if (!pix)
        return padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode BMP image (%zu bytes): %s", r->path, r->len,
                          stbi_failure_reason());
    if (w != r->hdr.width || h != r->hdr.height) {
        stbi_image_free(pix);
        return padim_fail(PADIM_ERR_FORMAT, "%s: BMP decoded to %dx%d, header said %dx%d", r->path, w, h,
                          r->hdr.width, r->hdr.height);
    }
    memcpy(data, pix, (size_t)w * (size_t)h * (size_t)r->hdr.channels);
    stbi_image_free(pix);
    return PADIM_OK;
}

/* ------------------------------------------------------------------ reader API */

void image_reader_close(image_reader *r) {
    if (!r) return;
    img_jpeg_close(r);
    img_png_close(r);
    if (r->tiff) TIFFClose(r->tiff);
    free(r->tiff_msg);
    free(r->owned);
    free(r->path);
    free(r);
}

padim_status image_reader_open_memory(const char *name, const uint8_t *buf, size_t len,
                                      const padim_decode_options *opt, image_reader **out,
                                      image_header *hdr) {
    *out = NULL;
    memset(hdr, 0, sizeof(*hdr));
    image_reader *r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(name))) {
        free(r);
        return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory opening the image", name);
    }
    r->buf = buf;
    r->len = len;
    r->opt = options_or_default(opt);
    r->kind = detect_kind(buf, len);
    padim_status s;
    switch (r->kind) {
    case KIND_PNG: s = img_png_open(r); break;
    case KIND_JPEG: s = img_jpeg_open(r); break;
    case KIND_TIFF: s = img_tiff_open(r); break;
    case KIND_BMP: s = bmp_open(r); break;
    default:
        if (len == 0) {
            s = padim_fail(PADIM_ERR_FORMAT, "%s: empty file (0 bytes); expected a PNG, JPEG, BMP or TIFF "
                           "image", name);
        } else {
            char hex[3 * 8 + 1] = "";
            for (size_t i = 0; i < len && i < 8; i++) snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", buf[i]);
            s = padim_fail(PADIM_ERR_FORMAT, "%s: unsupported image format (first bytes: %s); supported: PNG, "
                           "JPEG, BMP, TIFF (detected by content, not extension)", name, hex);
        }
    }
    if (s != PADIM_OK) {
        image_reader_close(r);
        return s;
    }
    r->hdr.format = kind_name(r->kind);
    *hdr = r->hdr;
    *out = r;
    return PADIM_OK;
}

padim_status image_reader_open(const char *path, const padim_decode_options *opt, image_reader **out,
                               image_header *hdr) {
    *out = NULL;
    memset(hdr, 0, sizeof(*hdr));
    const padim_decode_options o = options_or_default(opt);
    uint8_t *buf = NULL;
    size_t len = 0;
    PADIM_TRY(read_whole_file(path, max_input_bytes(&o), &buf, &len));
    padim_status s = image_reader_open_memory(path, buf, len, &o, out, hdr);
    if (s != PADIM_OK) {
        free(buf);
        return s;
    }
    (*out)->owned = buf;
    return PADIM_OK;
}

padim_status image_reader_decode(image_reader *r, padim_image *out) {
    memset(out, 0, sizeof(*out));
    const size_t bytes = (size_t)r->hdr.width * (size_t)r->hdr.height * (size_t)r->hdr.channels;
    uint8_t *data = NULL;
    if (padim_alloc((void **)&data, bytes, "decoded image") != PADIM_OK)
        return padim_fail_context(PADIM_ERR_NOMEM, "%s (%dx%d, %d channels)", r->path, r->hdr.width, r->hdr.height,
                                  r->hdr.channels);
    padim_status s;
    switch (r->kind) {
    case KIND_PNG: s = img_png_decode(r, data); break;
    case KIND_JPEG: s = img_jpeg_decode(r, data); break;
    case KIND_TIFF: s = img_tiff_decode(r, data); break;
    default: s = bmp_decode(r, data); break;
    }
    if (s != PADIM_OK) {
        free(data);
        return s;
    }
    out->width = r->hdr.width;
    out->height = r->hdr.height;
    out->channels = r->hdr.channels;
    out->data = data;
    return PADIM_OK;
}

padim_status padim_image_load_ex(const char *path, const padim_decode_options *opt, padim_image *out) {
    if (!path || !out) return padim_fail(PADIM_ERR_ARG, "padim_image_load: NULL path or output");
    memset(out, 0, sizeof(*out));
    image_reader *r;
    image_header hdr;
    PADIM_TRY(image_reader_open(path, opt, &r, &hdr));
    padim_status s = image_reader_decode(r, out);
    image_reader_close(r);
    return s;
}

padim_status padim_image_load(const char *path, padim_image *out) { return padim_image_load_ex(path, NULL, out); }

void padim_image_free(padim_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof(*img));
}

/* ------------------------------------------------------------------ atomic writers */

static void png_write_cb(void *ctx, void *data, int size) {
    padim_afile *a = ctx;
    padim_afile_write(a, data, (size_t)size); /* a failure is remembered, reported by commit */
}

padim_status image_write_png(const char *path, int w, int h, int channels, const uint8_t *data) {
    if (!path || !data || w < 1 || h < 1 || channels < 1 || channels > 4 ||
        (int64_t)w * channels > INT32_MAX)
        return padim_fail(PADIM_ERR_ARG, "%s: cannot write PNG of %dx%d with %d channels; expected "
                          "positive sizes, 1-4 channels and data", path ? path : "(null)", w, h, channels);
    padim_afile a;
    PADIM_TRY(padim_afile_open(&a, path));
    if (!stbi_write_png_to_func(png_write_cb, &a, w, h, channels, data, w * channels)) {
        padim_afile_abort(&a);
        return padim_fail(PADIM_ERR_NOMEM, "%s: cannot write PNG: encoder failed (out of memory?)", path);
    }
    return padim_afile_commit(&a);
}

