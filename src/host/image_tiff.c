/*
 * image_tiff.c - TIFF through libtiff: decoding for image.c's reader (image_reader.h), from
 * memory with libtiff's single-allocation cap set, and the float32 / float16 TIFF writers
 * (anomaly maps, the MVTec AD 2 submission) through the atomic writer, plus the float32
 * TIFF reader the tests use.
 */
#include "atomic_file.h"
#include "common.h"
#include "half.h"
#include "image_reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

/* ------------------------------------------------------------------ TIFF (libtiff) */

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

static TIFFOpenOptions *tiff_options(tiff_msg *msg, int64_t max_alloc) {
    msg->text[0] = '\0';
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, tiff_error_cb, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(o, tiff_warning_cb, msg);
    if (max_alloc > 0) TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)max_alloc);
    return o;
}

static TIFF *tiff_open(const char *path, const char *mode, tiff_msg *msg) {
    TIFFOpenOptions *o = tiff_options(msg, 0);
    if (!o) return NULL;
    TIFF *t = TIFFOpenExt(path, mode, o);
    TIFFOpenOptionsFree(o);
    return t;
}

/* Client procedures over the file already in memory (one read path for files and the
 * fuzzer; libtiff never maps or writes it). */
static tmsize_t tiff_mem_read(thandle_t h, void *buf, tmsize_t n) {
    image_reader *r = h;
    if (n < 0) return -1;
    size_t left = r->tiff_off < r->len ? r->len - r->tiff_off : 0;
    size_t k = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, r->buf + r->tiff_off, k);
    r->tiff_off += k;
    return (tmsize_t)k;
}

static tmsize_t tiff_mem_write(thandle_t h, void *buf, tmsize_t n) { return -1; }

static toff_t tiff_mem_seek(thandle_t h, toff_t off, int whence) {
    image_reader *r = h;
    uint64_t base = whence == SEEK_CUR ? r->tiff_off : whence == SEEK_END ? r->len : 0;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return (toff_t)-1;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    uint64_t pos = base + off;
    if (pos > SIZE_MAX) return (toff_t)-1;
    r->tiff_off = (size_t)pos;
    return pos;
}

static int tiff_mem_close(thandle_t h) { return 0; }
static toff_t tiff_mem_size(thandle_t h) { return ((image_reader *)h)->len; }
static int tiff_mem_map(thandle_t h, void **base, toff_t *size) { return 0; }
static void tiff_mem_unmap(thandle_t h, void *base, toff_t size) {}

padim_status img_tiff_open(image_reader *r) {
    r->tiff_msg = calloc(1, sizeof(tiff_msg));
    if (!r->tiff_msg) return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for the TIFF decoder", r->path);
    /* No single allocation of libtiff (strip offsets, a strip, a tile) above what an
     * image within the limit can need. */
    TIFFOpenOptions *o = tiff_options(r->tiff_msg, max_input_bytes(&r->opt));
    if (!o) return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for the TIFF decoder", r->path);
    r->tiff = TIFFClientOpenExt(r->path, "rm", r, tiff_mem_read, tiff_mem_write, tiff_mem_seek, tiff_mem_close,
                                tiff_mem_size, tiff_mem_map, tiff_mem_unmap, o);
    TIFFOpenOptionsFree(o);
    const char *why = r->tiff_msg->text[0] ? r->tiff_msg->text : "libtiff failed";
    if (!r->tiff) return padim_fail(PADIM_ERR_FORMAT, "%s: cannot open TIFF: %s", r->path, why);
    TIFF *t = r->tiff;
    uint32_t w = 0, h = 0;
    uint16_t bps = 0, spp = 0, photo = 0, planar = 0, fmt = 0;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h))
        return padim_fail(PADIM_ERR_FORMAT, "%s: TIFF has no ImageWidth/ImageLength", r->path);
    PADIM_TRY(image_check_size(r->path, "TIFF", w, h, &r->opt));
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    if (spp < 1 || spp > 8 || bps < 1 || bps > 16)
        return padim_fail(PADIM_ERR_FORMAT, "%s: TIFF with %u samples of %u bits per pixel is not supported "
                          "(expected 1-8 samples of 1-16 bits)", r->path, spp, bps);
    const int gray = photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE;
    r->tiff_direct = !TIFFIsTiled(t) && planar == PLANARCONFIG_CONTIG && fmt == SAMPLEFORMAT_UINT &&
                     (bps == 8 || bps == 16) &&
                     ((gray && (spp == 1 || spp == 2)) || (photo == PHOTOMETRIC_RGB && (spp == 3 || spp == 4)));
    if (r->tiff_direct) {
        r->hdr.channels = spp == 2 ? 1 : spp;
    } else {
        char emsg[1024] = "";
        if (!TIFFRGBAImageOK(t, emsg))
            return padim_fail(PADIM_ERR_FORMAT,
                              "%s: unsupported TIFF variant (%u bits, %u samples, photometric %u, "
                              "sample format %u): %s", r->path, bps, spp, photo, fmt, emsg);
        uint16_t n_extra = 0, *extra = NULL;
        TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
        r->hdr.channels = n_extra > 0 ? 4 : 3;
    }
    r->hdr.width = (int)w;
    r->hdr.height = (int)h;
    return PADIM_OK;
}

/* Contiguous, strip-organized 8/16-bit unsigned gray / RGB (with optional alpha) is read
 * sample-exactly; anything else (palette, YCbCr, tiles, 1/4-bit, planar) goes through
 * libtiff's RGBA conversion, which yields 8-bit RGBA. */
padim_status img_tiff_decode(image_reader *r, uint8_t *data) {
    TIFF *t = r->tiff;
    const tiff_msg *msg = r->tiff_msg;
    const uint32_t w = (uint32_t)r->hdr.width, h = (uint32_t)r->hdr.height;
    const int oc = r->hdr.channels;
    const size_t np = (size_t)w * h;
    padim_status s = PADIM_OK;
    r->tiff_msg->text[0] = '\0'; /* any error from here on fails the decode */
    if (r->tiff_direct) {
        uint16_t bps = 0, spp = 0, photo = 0;
        TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
        TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
        if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
        const tmsize_t ls = TIFFScanlineSize(t);
        if (ls < (tmsize_t)((size_t)w * spp * (bps / 8)))
            return padim_fail(PADIM_ERR_FORMAT, "%s: TIFF scanline of %lld bytes is shorter than %u pixels of "
                              "%u x %u bits", r->path, (long long)ls, w, spp, bps);
        uint8_t *line = NULL;
        PADIM_TRY(padim_alloc((void **)&line, (size_t)ls, "TIFF scanline"));
        for (uint32_t y = 0; s == PADIM_OK && y < h; y++) {
            if (TIFFReadScanline(t, line, y, 0) < 0) {
                s = padim_fail(PADIM_ERR_FORMAT, "%s: cannot read TIFF row %u of %u: %s", r->path, y, h,
                               msg->text[0] ? msg->text : "libtiff read error (truncated file?)");
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
        free(line);
        return s;
    }
    uint32_t *raster = NULL;
    PADIM_TRY(padim_alloc((void **)&raster, np * sizeof(uint32_t), "TIFF RGBA raster"));
    if (!TIFFReadRGBAImageOriented(t, w, h, raster, ORIENTATION_TOPLEFT, 1) || msg->text[0])
        s = padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode TIFF: %s", r->path,
                       msg->text[0] ? msg->text : "libtiff RGBA conversion failed");
    if (s == PADIM_OK) {
        for (size_t i = 0; i < np; i++) {
            uint32_t p = raster[i];
            data[i * oc + 0] = (uint8_t)TIFFGetR(p);
            data[i * oc + 1] = (uint8_t)TIFFGetG(p);
            data[i * oc + 2] = (uint8_t)TIFFGetB(p);
            if (oc == 4) data[i * oc + 3] = (uint8_t)TIFFGetA(p);
        }
    }
    free(raster);
    return s;
}

/* libtiff writes the float TIFF through these procedures on the atomic file's descriptor
 * (the FILE above it stays empty, so nothing is buffered twice); a failing write keeps
 * its errno, which libtiff's own messages ("Write error at scanline 32") leave out. */
typedef struct tiff_out {
    int fd;
    int err; /* first errno of a failed write or seek */
} tiff_out;

static tmsize_t tiff_out_write(thandle_t h, void *buf, tmsize_t n) {
    tiff_out *o = h;
    for (tmsize_t done = 0; done < n;) {
        const ssize_t k = write(o->fd, (const char *)buf + done, (size_t)(n - done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (!o->err) o->err = k < 0 ? errno : EIO;
            return -1;
        }
        done += k;
    }
    return n;
}

static tmsize_t tiff_out_read(thandle_t h, void *buf, tmsize_t n) {
    const ssize_t k = read(((tiff_out *)h)->fd, buf, (size_t)n);
    return k < 0 ? -1 : (tmsize_t)k;
}

static toff_t tiff_out_seek(thandle_t h, toff_t off, int whence) {
    tiff_out *o = h;
    const off_t r = lseek(o->fd, (off_t)off, whence);
    if (r < 0 && !o->err) o->err = errno;
    return r < 0 ? (toff_t)-1 : (toff_t)r;
}

static int tiff_out_close(thandle_t h) { return 0; } /* the atomic file closes it */

static toff_t tiff_out_size(thandle_t h) {
    struct stat sb;
    return fstat(((tiff_out *)h)->fd, &sb) == 0 ? (toff_t)sb.st_size : 0;
}

static const char *tiff_out_why(const tiff_out *o, const tiff_msg *msg, char *buf, size_t cap) {
    if (o->err) snprintf(buf, cap, "%s%s (%s)", strerror(o->err), o->err == ENOSPC ? ", disk full" : "",
                         msg->text[0] ? msg->text : "libtiff");
    else snprintf(buf, cap, "%s", msg->text[0] ? msg->text : "libtiff failed");
    return buf;
}

/* Single-channel IEEE float TIFF of 32 or 16 bits per sample; float16 samples are
 * converted row by row (padim_f32_to_f16: round to nearest even). */
static padim_status write_tiff_float(const char *path, int w, int h, const float *data, int bits) {
    if (!path || !data || w < 1 || h < 1)
        return padim_fail(PADIM_ERR_ARG, "%s: cannot write float TIFF of %dx%d (data %p); expected "
                          "positive sizes and data", path ? path : "(null)", w, h, (const void *)data);
    padim_afile a;
    PADIM_TRY(padim_afile_open(&a, path));
    tiff_msg msg;
    tiff_out out = {fileno(a.f), 0};
    char why[768];
    TIFFOpenOptions *o = tiff_options(&msg, 0);
    TIFF *t = o ? TIFFClientOpenExt(a.tmp, "w", &out, tiff_out_read, tiff_out_write, tiff_out_seek, tiff_out_close,
                                    tiff_out_size, tiff_mem_map, tiff_mem_unmap, o)
                : NULL;
    if (o) TIFFOpenOptionsFree(o);
    if (!t) {
        padim_afile_abort(&a);
        return padim_fail(PADIM_ERR_IO, "%s: cannot create TIFF: %s", path,
                          o ? tiff_out_why(&out, &msg, why, sizeof(why)) : "out of memory");
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
                s = padim_fail(PADIM_ERR_IO, "%s: cannot write TIFF row %d: %s", path, y,
                               tiff_out_why(&out, &msg, why, sizeof(why)));
        }
        if (s == PADIM_OK && (!TIFFFlush(t) || out.err))
            s = padim_fail(PADIM_ERR_IO, "%s: cannot write TIFF: %s", path, tiff_out_why(&out, &msg, why, sizeof(why)));
    }
    TIFFClose(t);
    free(row);
    if (s == PADIM_OK && out.err) /* a write of TIFFClose's own flush */
        s = padim_fail(PADIM_ERR_IO, "%s: cannot write TIFF: %s", path, tiff_out_why(&out, &msg, why, sizeof(why)));
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
