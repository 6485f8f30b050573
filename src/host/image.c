/*
 * image.c - image decoding (first stage of the pipeline) and the image outputs (last
 * stage): PNG / JPEG / BMP through stb_image, TIFF through libtiff, the format chosen by
 * the file's magic bytes, never its extension; atomic PNG and float32 / float16 TIFF
 * writers (the heatmap overlay is render.c's).
 *
 * Decoded channel policy (padim_image: 8-bit, 1, 3 or 4 channels):
 *   gray -> 1, gray+alpha -> 1 (alpha dropped at load: it is never used, and PIL's
 *   convert("RGB") drops it too), RGB -> 3, RGBA -> 4 (alpha kept, ignored by
 *   preprocessing), palette -> RGB(A) expanded.
 *   16-bit samples (PNG or TIFF) -> 8 bits rounded: (v * 255 + 32767) / 65535. PIL takes the
 *   high byte for 16-bit RGB PNGs instead, so such files may differ from PIL by 1 LSB.
 *   JPEG is decoded by stb_image, whose IDCT and chroma upsampling are not libjpeg's: a few
 *   LSB of difference against PIL are expected (tests measure it).
 *   TIFF layouts outside the direct path (palette, YCbCr, tiled, planar, 1/2/4-bit) go
 *   through libtiff's RGBA conversion, which honours the Orientation tag and premultiplies
 *   unassociated alpha into the colours; the direct path does neither, like PIL.
 * Only the first TIFF directory (page) is read.
 */
#include "atomic_file.h"
#include "common.h"
#include "image.h"
#include "half.h" /* padim_f32_to_f16, the one float16 rounding */

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>
#include <tiffio.h>

/* ------------------------------------------------------------------ helpers */

static padim_status read_whole_file(const char *path, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return padim_fail(PADIM_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = NULL;
    padim_status s = padim_alloc((void **)&b, cap, "image file");
    while (s == PADIM_OK) {
        if (n == cap) {
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

typedef enum image_kind { KIND_UNKNOWN, KIND_PNG, KIND_JPEG, KIND_BMP, KIND_TIFF } image_kind;

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

static inline uint8_t u16_to_u8(unsigned v) { return (uint8_t)((v * 255u + 32767u) / 65535u); }

/* libtiff reports through callbacks; keep the first error in a per-call buffer instead of
 * printing on stderr, and silence warnings (unknown tags are common and harmless). */
typedef struct tiff_msg {
    char text[512];
} tiff_msg;

static int tiff_error_cb(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    tiff_msg *m = user;
    if (m && !m->text[0]) vsnprintf(m->text, sizeof(m->text), fmt, ap);
    return 1; /* handled: do not call the global handler */
}

static int tiff_warning_cb(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    return 1;
}

static TIFF *tiff_open(const char *path, const char *mode, tiff_msg *msg) {
    msg->text[0] = '\0';
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, tiff_error_cb, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(o, tiff_warning_cb, msg);
    TIFF *t = TIFFOpenExt(path, mode, o);
    TIFFOpenOptionsFree(o);
    return t;
}

/* The same on an open descriptor (closed by TIFFClose); name is for messages. */
static TIFF *tiff_fdopen(int fd, const char *name, const char *mode, tiff_msg *msg) {
    msg->text[0] = '\0';
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, tiff_error_cb, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(o, tiff_warning_cb, msg);
    TIFF *t = TIFFFdOpenExt(fd, name, mode, o);
    TIFFOpenOptionsFree(o);
    return t;
}

/* ------------------------------------------------------------------ decoders */

static padim_status decode_stb(const char *path, const char *kind, const uint8_t *buf, size_t len,
                               padim_image *out) {
    if (len > (size_t)INT32_MAX)
        return padim_fail(PADIM_ERR_FORMAT, "%s: %s file of %zu bytes is too large (max 2 GiB)",
                          path, kind, len);
    int w = 0, h = 0, comp = 0, n = (int)len;
    int is16 = stbi_is_16_bit_from_memory(buf, n);
    void *pix = is16 ? (void *)stbi_load_16_from_memory(buf, n, &w, &h, &comp, 0)
                     : (void *)stbi_load_from_memory(buf, n, &w, &h, &comp, 0);
    if (!pix)
        return padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode %s image (%zu bytes): %s; the file "
                          "is corrupt, truncated or uses an unsupported variant",
                          path, kind, len, stbi_failure_reason());
    int oc = comp == 2 ? 1 : comp; /* gray+alpha -> gray */
    int64_t np = (int64_t)w * h;
    padim_status s = padim_alloc((void **)&out->data, (size_t)np * (size_t)oc, "decoded image");
    if (s == PADIM_OK) {
        for (int64_t i = 0; i < np; i++)
            for (int c = 0; c < oc; c++) {
                int64_t k = i * comp + c;
                out->data[i * oc + c] = is16 ? u16_to_u8(((const uint16_t *)pix)[k])
                                             : ((const uint8_t *)pix)[k];
            }
        out->width = w;
        out->height = h;
        out->channels = oc;
    }
    stbi_image_free(pix);
    return s;
}

/* Contiguous, strip-organized 8/16-bit unsigned gray / RGB (with optional alpha) is read
 * sample-exactly; anything else (palette, YCbCr, tiles, 1/4-bit, planar) goes through
 * libtiff's RGBA conversion, which yields 8-bit RGBA. */
static padim_status decode_tiff(const char *path, padim_image *out) {
    tiff_msg msg;
    TIFF *t = tiff_open(path, "r", &msg);
    if (!t)
        return padim_fail(PADIM_ERR_FORMAT, "%s: cannot open TIFF: %s", path,
                          msg.text[0] ? msg.text : "libtiff failed");
    uint32_t w = 0, h = 0;
    uint16_t bps = 0, spp = 0, photo = 0, planar = 0, fmt = 0;
    padim_status s = PADIM_OK;
    uint8_t *line = NULL, *data = NULL;
    uint32_t *raster = NULL;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) ||
        w == 0 || h == 0 || w > (1u << 24) || h > (1u << 24)) {
        s = padim_fail(PADIM_ERR_FORMAT, "%s: TIFF has invalid dimensions %ux%u", path, w, h);
        goto done;
    }
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    int gray = photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE;
    int direct = !TIFFIsTiled(t) && planar == PLANARCONFIG_CONTIG && fmt == SAMPLEFORMAT_UINT &&
                 (bps == 8 || bps == 16) &&
                 ((gray && (spp == 1 || spp == 2)) || (photo == PHOTOMETRIC_RGB && (spp == 3 || spp == 4)));
    size_t np = (size_t)w * h;
    if (direct) {
        int oc = spp == 2 ? 1 : spp;
        tmsize_t ls = TIFFScanlineSize(t);
        s = padim_alloc((void **)&line, (size_t)(ls > 0 ? ls : 1), "TIFF scanline");
        if (s == PADIM_OK) s = padim_alloc((void **)&data, np * (size_t)oc, "decoded image");
        for (uint32_t y = 0; s == PADIM_OK && y < h; y++) {
            if (TIFFReadScanline(t, line, y, 0) < 0) {
                s = padim_fail(PADIM_ERR_FORMAT, "%s: cannot read TIFF row %u of %u: %s", path, y, h,
                               msg.text[0] ? msg.text : "libtiff read error (truncated file?)");
                break;
            }
            uint8_t *d = data + (size_t)y * w * oc;
            for (uint32_t x = 0; x < w; x++)
                for (int c = 0; c < oc; c++) {
                    size_t k = (size_t)x * spp + c;
                    uint8_t v;
                    if (bps == 16) {
                        uint16_t v16;
                        memcpy(&v16, line + 2 * k, 2); /* libtiff returns host byte order */
                        v = u16_to_u8(v16);
                    } else {
                        v = line[k];
                    }
                    d[(size_t)x * oc + c] = photo == PHOTOMETRIC_MINISWHITE ? (uint8_t)(255 - v) : v;
                }
        }
        if (s == PADIM_OK) {
            out->channels = oc;
        }
    } else {
        char emsg[1024] = "";
        if (!TIFFRGBAImageOK(t, emsg)) {
            s = padim_fail(PADIM_ERR_FORMAT,
                           "%s: unsupported TIFF variant (%u bits, %u samples, photometric %u, "
                           "sample format %u): %s",
                           path, bps, spp, photo, fmt, emsg);
            goto done;
        }
        uint16_t n_extra = 0, *extra = NULL;
        TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
        int oc = n_extra > 0 ? 4 : 3;
        s = padim_alloc((void **)&raster, np * sizeof(uint32_t), "TIFF RGBA raster");
        if (s == PADIM_OK) s = padim_alloc((void **)&data, np * (size_t)oc, "decoded image");
        if (s == PADIM_OK && !TIFFReadRGBAImageOriented(t, w, h, raster, ORIENTATION_TOPLEFT, 0))
            s = padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode TIFF: %s", path,
                           msg.text[0] ? msg.text : "libtiff RGBA conversion failed");
        if (s == PADIM_OK) {
            for (size_t i = 0; i < np; i++) {
                uint32_t p = raster[i];
                data[i * oc + 0] = (uint8_t)TIFFGetR(p);
                data[i * oc + 1] = (uint8_t)TIFFGetG(p);
                data[i * oc + 2] = (uint8_t)TIFFGetB(p);
                if (oc == 4) data[i * oc + 3] = (uint8_t)TIFFGetA(p);
            }
            out->channels = oc;
        }
    }
    if (s == PADIM_OK) {
        out->width = (int)w;
        out->height = (int)h;
        out->data = data;
        data = NULL;
    }
done:
    free(line);
    free(data);
    free(raster);
    TIFFClose(t);
    return s;
}

padim_status padim_image_load(const char *path, padim_image *out) {
    if (!path || !out) return padim_fail(PADIM_ERR_ARG, "padim_image_load: NULL path or output");
    memset(out, 0, sizeof(*out));
    uint8_t *buf = NULL;
    size_t len = 0;
    PADIM_TRY(read_whole_file(path, &buf, &len));
    padim_status s;
    image_kind k = detect_kind(buf, len);
    if (len == 0) {
        s = padim_fail(PADIM_ERR_FORMAT, "%s: empty file (0 bytes); expected a PNG, JPEG, BMP or "
                       "TIFF image", path);
    } else if (k == KIND_TIFF) {
        s = decode_tiff(path, out);
    } else if (k != KIND_UNKNOWN) {
        const char *name = k == KIND_PNG ? "PNG" : k == KIND_JPEG ? "JPEG" : "BMP";
        s = decode_stb(path, name, buf, len, out);
    } else {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0; i < len && i < 8; i++)
            snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", buf[i]);
        s = padim_fail(PADIM_ERR_FORMAT, "%s: unsupported image format (first bytes: %s); "
                       "supported: PNG, JPEG, BMP, TIFF (detected by content, not extension)",
                       path, hex);
    }
    free(buf);
    if (s != PADIM_OK) padim_image_free(out);
    return s;
}

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

/* Single-channel IEEE float TIFF of 32 or 16 bits per sample; float16 samples are
 * converted row by row (padim_f32_to_f16: round to nearest even). */
static padim_status write_tiff_float(const char *path, int w, int h, const float *data, int bits) {
    if (!path || !data || w < 1 || h < 1)
        return padim_fail(PADIM_ERR_ARG, "%s: cannot write float TIFF of %dx%d (data %p); expected "
                          "positive sizes and data", path ? path : "(null)", w, h, (const void *)data);
    padim_afile a;
    PADIM_TRY(padim_afile_open(&a, path));
    /* libtiff writes through its own descriptor (a duplicate, closed by TIFFClose); the
     * atomic file then syncs and renames the same open file. */
    tiff_msg msg;
    const int fd = dup(fileno(a.f));
    TIFF *t = fd >= 0 ? tiff_fdopen(fd, a.tmp, "w", &msg) : NULL;
    if (!t) {
        if (fd >= 0) close(fd);
        padim_afile_abort(&a);
        return padim_fail(PADIM_ERR_IO, "%s: cannot create TIFF: %s", path,
                          fd >= 0 ? msg.text : strerror(errno));
    }
    void *row = NULL;
    padim_status s = padim_alloc(&row, (size_t)w * (size_t)(bits / 8), "TIFF row");
    if (s == PADIM_OK) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bits);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
        for (int y = 0; y < h && s == PADIM_OK; y++) {
            const float *src = data + (size_t)y * w;
            if (bits == 32) {
                memcpy(row, src, (size_t)w * sizeof(float)); /* libtiff may swab in place */
            } else {
                uint16_t *r16 = row;
                for (int x = 0; x < w; x++) r16[x] = padim_f32_to_f16(src[x]);
            }
            if (TIFFWriteScanline(t, row, (uint32_t)y, 0) < 0)
                s = padim_fail(PADIM_ERR_IO, "%s: cannot write TIFF row %d: %s", path, y, msg.text);
        }
        if (s == PADIM_OK && !TIFFFlush(t))
            s = padim_fail(PADIM_ERR_IO, "%s: cannot write TIFF: %s", path,
                           msg.text[0] ? msg.text : "flush failed (disk full?)");
    }
    TIFFClose(t);
    free(row);
    if (s != PADIM_OK) {
        padim_afile_abort(&a);
        return s;
    }
    return padim_afile_commit(&a);
}

padim_status image_write_tiff_f32(const char *path, int w, int h, const float *data) {
    return write_tiff_float(path, w, h, data, 32);
}

padim_status image_write_tiff_f16(const char *path, int w, int h, const float *data) {
    return write_tiff_float(path, w, h, data, 16);
}

padim_status image_read_tiff_f32(const char *path, int *w, int *h, float **data) {
    *data = NULL;
    *w = *h = 0;
    FILE *f = fopen(path, "rb"); /* for a clear errno-based message */
    if (!f) return padim_fail(PADIM_ERR_IO, "%s: cannot open TIFF: %s", path, strerror(errno));
    fclose(f);
    tiff_msg msg;
    TIFF *t = tiff_open(path, "r", &msg);
    if (!t) return padim_fail(PADIM_ERR_FORMAT, "%s: not a readable TIFF: %s", path, msg.text);
    uint32_t tw = 0, th = 0;
    uint16_t bps = 0, spp = 0, fmt = 0, planar = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &th);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    padim_status s = PADIM_OK;
    float *d = NULL;
    if (tw == 0 || th == 0 || tw > (1u << 24) || th > (1u << 24) || bps != 32 || spp != 1 ||
        fmt != SAMPLEFORMAT_IEEEFP || TIFFIsTiled(t)) {
        s = padim_fail(PADIM_ERR_MISMATCH, "%s: expected a single-channel float32 stripped TIFF, got "
                       "%ux%u, %u bits, %u samples, sample format %u%s", path, tw, th, bps, spp, fmt,
                       TIFFIsTiled(t) ? ", tiled" : "");
    } else {
        s = padim_alloc((void **)&d, (size_t)tw * th * sizeof(float), "float TIFF");
        for (uint32_t y = 0; s == PADIM_OK && y < th; y++)
            if (TIFFReadScanline(t, d + (size_t)y * tw, y, 0) < 0)
                s = padim_fail(PADIM_ERR_FORMAT, "%s: cannot read TIFF row %u: %s", path, y, msg.text);
    }
    TIFFClose(t);
    if (s != PADIM_OK) {
        free(d);
        return s;
    }
    *w = (int)tw;
    *h = (int)th;
    *data = d;
    return PADIM_OK;
}
