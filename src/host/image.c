/*
 * image.c - image decoding (first stage of the pipeline) and the image outputs (last
 * stage). Decoding: the format is chosen by the file's magic bytes, never its extension,
 * and each format goes through a decoder that checks its input (untrusted files: a
 * fuzzer found 260-byte files that stb_image took as 16k x 16k images):
 *   PNG   libpng: CRCs of critical chunks, the zlib stream (Adler-32), IEND all checked
 *   JPEG  libjpeg-turbo with PIL's settings (libjpeg defaults: islow IDCT, fancy
 *         upsampling, block smoothing for progressive), so pixels equal PIL's; any
 *         corrupt-data warning is an error; at most JPEG_MAX_SCANS scans; the decoder's
 *         own memory is capped (progressive files buffer all coefficients)
 *   TIFF  libtiff from memory, with its single-allocation cap set
 *   BMP   stb_image, after our own checks of the header, the palette and the length
 * Every decoder reads the header first (image_reader_open) and refuses dimensions above
 * the pixel limit (padim_decode_options.max_pixels) before allocating for the pixels.
 * Writers: atomic PNG and float32 TIFF; the jet heatmap overlay.
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

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <tiffio.h>

/* A progressive JPEG is decoded once per scan over the whole coefficient buffer: libjpeg
 * writes up to 10 scans for colour, a few hundred would only be a way to spend minutes on
 * a small file (the limit libjpeg-turbo's own fuzzers use is 500). */
#define JPEG_MAX_SCANS 100
/* Slack for headers, metadata and decoder tables on top of the pixel-proportional
 * budgets below. */
#define DECODE_SLACK_BYTES ((int64_t)64 << 20)

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

/* The largest file or single decoder allocation any image within the limit can need: an
 * uncompressed 16-bit RGBA raster (8 bytes per pixel) plus headers and metadata. */
static int64_t max_input_bytes(const padim_decode_options *o) {
    return o->max_pixels * 8 + DECODE_SLACK_BYTES;
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

static const char *kind_name(image_kind k) {
    return k == KIND_PNG ? "PNG" : k == KIND_JPEG ? "JPEG" : k == KIND_BMP ? "BMP" : k == KIND_TIFF ? "TIFF" : "?";
}

static inline uint8_t u16_to_u8(unsigned v) { return (uint8_t)((v * 255u + 32767u) / 65535u); }

/* The one size check of every format, from the header, before any pixel allocation. */
static padim_status check_size(const char *path, const char *kind, int64_t w, int64_t h,
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

/* ------------------------------------------------------------------ reader */

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

/* ------------------------------------------------------------------ JPEG (libjpeg-turbo) */

struct jpeg_state {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 64];
    int created;
};

/* libjpeg's fatal errors, its warnings (corrupt data: a bad Huffman code, a premature
 * end of data, extraneous bytes; libjpeg would substitute gray and carry on) and too many
 * scans all end the decode here with the message (never exit(), never stderr). The
 * longjmp from emit_message is what turbojpeg's TJFLAG_STOPONWARNING does too. */
static void jpeg_fail_jump(j_common_ptr c, const char *prefix) {
    jpeg_state *s = c->client_data;
    char text[JMSG_LENGTH_MAX] = "";
    (*c->err->format_message)(c, text);
    snprintf(s->msg, sizeof(s->msg), "%s%s", prefix, text);
    longjmp(s->jb, 1);
}

static void jpeg_error_exit_cb(j_common_ptr c) { jpeg_fail_jump(c, ""); }

static void jpeg_emit_message_cb(j_common_ptr c, int level) {
    if (level >= 0) return;                       /* trace messages */
    if (c->err->msg_code == JWRN_JFIF_MAJOR) return; /* an unknown JFIF revision: metadata only */
    jpeg_fail_jump(c, "corrupt data: ");
}

static void jpeg_progress_cb(j_common_ptr c) {
    if (!c->is_decompressor) return;
    const int scans = ((j_decompress_ptr)c)->input_scan_number;
    if (scans > JPEG_MAX_SCANS) {
        jpeg_state *s = c->client_data;
        snprintf(s->msg, sizeof(s->msg), "more than %d progressive scans (a legitimate encoder writes "
                 "about 10); refused rather than decoded for minutes", JPEG_MAX_SCANS);
        longjmp(s->jb, 1);
    }
}

static padim_status jpeg_open(image_reader *r) {
    jpeg_state *s = calloc(1, sizeof(*s));
    if (!s) return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for the JPEG decoder", r->path);
    r->jpeg = s;
    s->cinfo.err = jpeg_std_error(&s->jerr);
    s->jerr.error_exit = jpeg_error_exit_cb;
    s->jerr.emit_message = jpeg_emit_message_cb;
    s->cinfo.client_data = s;
    if (setjmp(s->jb))
        return padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode JPEG: %s", r->path, s->msg);
    jpeg_create_decompress(&s->cinfo);
    s->created = 1;
    s->progress.progress_monitor = jpeg_progress_cb;
    s->cinfo.progress = &s->progress;
    /* Everything libjpeg allocates (the whole-image coefficient buffer of a progressive or
     * multi-scan file: 2 bytes per coefficient, more with odd sampling factors) stays
     * within the budget; above it libjpeg fails with "backing store not supported". */
    s->cinfo.mem->max_memory_to_use = (long)(r->opt.max_pixels * 6 + DECODE_SLACK_BYTES);
    jpeg_mem_src(&s->cinfo, r->buf, (unsigned long)r->len);
    if (jpeg_read_header(&s->cinfo, TRUE) != JPEG_HEADER_OK)
        return padim_fail(PADIM_ERR_FORMAT, "%s: JPEG holds tables only, no image", r->path);
    const struct jpeg_decompress_struct *c = &s->cinfo;
    PADIM_TRY(check_size(r->path, "JPEG", c->image_width, c->image_height, &r->opt));
    switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE:
        s->cinfo.out_color_space = JCS_GRAYSCALE;
        r->hdr.channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        s->cinfo.out_color_space = JCS_RGB;
        r->hdr.channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        return padim_fail(PADIM_ERR_FORMAT, "%s: CMYK/YCCK JPEG (4 components, a print-workflow file) is "
                          "not supported; convert it to RGB", r->path);
    default:
        return padim_fail(PADIM_ERR_FORMAT, "%s: JPEG with %d components in an unknown colour space is not "
                          "supported; expected gray or YCbCr/RGB", r->path, c->num_components);
    }
    /* PIL's decoder keeps libjpeg's defaults (JDCT_ISLOW, do_fancy_upsampling = TRUE,
     * do_block_smoothing = TRUE) unless draft mode is asked for; so do we. */
    r->hdr.width = (int)c->image_width;
    r->hdr.height = (int)c->image_height;
    return PADIM_OK;
}

static padim_status jpeg_decode(image_reader *r, uint8_t *data) {
    jpeg_state *s = r->jpeg;
    if (setjmp(s->jb))
        return padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode JPEG: %s", r->path, s->msg);
    jpeg_start_decompress(&s->cinfo);
    const struct jpeg_decompress_struct *c = &s->cinfo;
    if ((int)c->output_width != r->hdr.width || (int)c->output_height != r->hdr.height ||
        c->output_components != r->hdr.channels)
        return padim_fail(PADIM_ERR_FORMAT, "%s: JPEG decoder output %ux%u with %d components differs from "
                          "the header (%dx%d, %d)", r->path, c->output_width, c->output_height,
                          c->output_components, r->hdr.width, r->hdr.height, r->hdr.channels);
    const size_t stride = (size_t)r->hdr.width * (size_t)r->hdr.channels;
    while (c->output_scanline < c->output_height) {
        JSAMPROW rows[8];
        const JDIMENSION y = c->output_scanline;
        int nr = 0;
        for (; nr < 8 && y + (JDIMENSION)nr < c->output_height; nr++) rows[nr] = data + (size_t)(y + nr) * stride;
        jpeg_read_scanlines(&s->cinfo, rows, (JDIMENSION)nr);
    }
    /* Reads up to EOI: a file cut after its last scan is refused (warning -> error). */
    jpeg_finish_decompress(&s->cinfo);
    return PADIM_OK;
}

static void jpeg_close(image_reader *r) {
    if (!r->jpeg) return;
    if (r->jpeg->created) jpeg_destroy_decompress(&r->jpeg->cinfo);
    free(r->jpeg);
    r->jpeg = NULL;
}

/* ------------------------------------------------------------------ PNG (libpng) */

struct png_state {
    png_structp png;
    png_infop info;
    jmp_buf jb;
    char msg[256];
    size_t off;         /* read position in the file */
    int interlaced;
    const image_reader *r;
};

static void png_error_cb(png_structp png, png_const_charp text) {
    png_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof(s->msg), "%s", text ? text : "libpng error");
    longjmp(s->jb, 1);
}

/* Warnings are about ancillary data libpng has already dropped (a bad CRC of a text
 * chunk, the well-known "known incorrect sRGB profile"): the pixels are intact. */
static void png_warning_cb(png_structp png, png_const_charp text) {}

static void png_read_cb(png_structp png, png_bytep out, png_size_t n) {
    png_state *s = png_get_io_ptr(png);
    if (n > s->r->len - s->off) png_error(png, "file truncated (read past its end)");
    memcpy(out, s->r->buf + s->off, n);
    s->off += n;
}

static padim_status png_open(image_reader *r) {
    png_state *s = calloc(1, sizeof(*s));
    if (!s) return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for the PNG decoder", r->path);
    r->png = s;
    s->r = r;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_error_cb, png_warning_cb);
    if (s->png) s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info) return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for the PNG decoder", r->path);
    if (setjmp(s->jb)) return padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode PNG: %s", r->path, s->msg);
    png_set_read_fn(s->png, s, png_read_cb);
    png_set_user_limits(s->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* our check_size reports sizes */
    png_read_info(s->png, s->info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(s->png, s->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    PADIM_TRY(check_size(r->path, "PNG", w, h, &r->opt));
    switch (color) {
    case PNG_COLOR_TYPE_PALETTE:
        png_set_palette_to_rgb(s->png);
        r->hdr.channels = 3;
        if (png_get_valid(s->png, s->info, PNG_INFO_tRNS)) {
            png_set_tRNS_to_alpha(s->png);
            r->hdr.channels = 4;
        }
        break;
    case PNG_COLOR_TYPE_GRAY:
        if (depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
        r->hdr.channels = 1;
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        png_set_strip_alpha(s->png);
        r->hdr.channels = 1;
        break;
    case PNG_COLOR_TYPE_RGB: r->hdr.channels = 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: r->hdr.channels = 4; break;
    default:
        return padim_fail(PADIM_ERR_FORMAT, "%s: PNG colour type %d is invalid", r->path, color);
    }
    if (depth == 16) png_set_scale_16(s->png); /* (v * 255 + 32767) / 65535, exactly */
    s->interlaced = interlace != PNG_INTERLACE_NONE;
    if (s->interlaced) png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    if (png_get_rowbytes(s->png, s->info) != (size_t)w * (size_t)r->hdr.channels)
        return padim_fail(PADIM_ERR_FORMAT, "%s: PNG rows of %zu bytes, expected %zu", r->path,
                          (size_t)png_get_rowbytes(s->png, s->info), (size_t)w * (size_t)r->hdr.channels);
    r->hdr.width = (int)w;
    r->hdr.height = (int)h;
    return PADIM_OK;
}

static padim_status png_decode(image_reader *r, uint8_t *data) {
    png_state *s = r->png;
    const size_t stride = (size_t)r->hdr.width * (size_t)r->hdr.channels;
    png_bytep *rows = NULL;
    if (s->interlaced) /* Adam7 passes fill the whole image: libpng wants every row */
        PADIM_TRY(padim_alloc((void **)&rows, (size_t)r->hdr.height * sizeof(png_bytep), "PNG rows"));
    if (setjmp(s->jb)) { /* rows is not modified after setjmp: its value is defined here */
        free(rows);
        return padim_fail(PADIM_ERR_FORMAT, "%s: cannot decode PNG: %s", r->path, s->msg);
    }
    if (rows) {
        for (int y = 0; y < r->hdr.height; y++) rows[y] = data + (size_t)y * stride;
        png_read_image(s->png, rows);
    } else {
        for (int y = 0; y < r->hdr.height; y++) png_read_row(s->png, data + (size_t)y * stride, NULL);
    }
    /* The chunks after the image data up to IEND: their CRCs and the end of the file. */
    png_read_end(s->png, NULL);
    free(rows);
    return PADIM_OK;
}

static void png_close(image_reader *r) {
    if (!r->png) return;
    if (r->png->png) png_destroy_read_struct(&r->png->png, r->png->info ? &r->png->info : NULL, NULL);
    free(r->png);
    r->png = NULL;
}

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

static padim_status tiff_open_reader(image_reader *r) {
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
    PADIM_TRY(check_size(r->path, "TIFF", w, h, &r->opt));
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
static padim_status tiff_decode(image_reader *r, uint8_t *data) {
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
    PADIM_TRY(check_size(r->path, "BMP", w, ah, &r->opt));
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
    jpeg_close(r);
    png_close(r);
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
    case KIND_PNG: s = png_open(r); break;
    case KIND_JPEG: s = jpeg_open(r); break;
    case KIND_TIFF: s = tiff_open_reader(r); break;
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
    case KIND_PNG: s = png_decode(r, data); break;
    case KIND_JPEG: s = jpeg_decode(r, data); break;
    case KIND_TIFF: s = tiff_decode(r, data); break;
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

padim_status image_write_tiff_f32(const char *path, int w, int h, const float *data) {
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
    float *row = NULL;
    padim_status s = padim_alloc((void **)&row, (size_t)w * sizeof(float), "TIFF row");
    if (s == PADIM_OK) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 32);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
        for (int y = 0; y < h && s == PADIM_OK; y++) {
            memcpy(row, data + (size_t)y * w, (size_t)w * sizeof(float)); /* libtiff may swab in place */
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

/* ------------------------------------------------------------------ heatmap */

/* matplotlib's "jet" as its piecewise-linear segment data (continuous, not the 256-entry
 * lookup table), evaluated at t in [0, 1]. */
static double piecewise(const double *x, const double *y, int n, double t) {
    for (int i = 1; i < n; i++)
        if (t <= x[i]) return y[i - 1] + (y[i] - y[i - 1]) * (t - x[i - 1]) / (x[i] - x[i - 1]);
    return y[n - 1];
}

static void jet(double t, double rgb[3]) {
    static const double rx[] = {0, 0.35, 0.66, 0.89, 1}, ry[] = {0, 0, 1, 1, 0.5};
    static const double gx[] = {0, 0.125, 0.375, 0.64, 0.91, 1}, gy[] = {0, 0, 1, 1, 0, 0};
    static const double bx[] = {0, 0.11, 0.34, 0.65, 1}, by[] = {0.5, 1, 1, 0, 0};
    rgb[0] = piecewise(rx, ry, 5, t);
    rgb[1] = piecewise(gx, gy, 6, t);
    rgb[2] = piecewise(bx, by, 5, t);
}

/* t = clamp((map - vmin) / (vmax - vmin), 0, 1) (NaN and an empty range give 0);
 * out = round(255 * (alpha * jet(t) + (1 - alpha) * rgb)), clamped to [0, 255]. */
void image_render_heatmap(const float *rgb, const float *map, int S, float vmin, float vmax,
                          float alpha, uint8_t *out) {
    const size_t P = (size_t)S * S;
    const double range = (double)vmax - (double)vmin;
    for (size_t i = 0; i < P; i++) {
        double t = range > 0 ? ((double)map[i] - vmin) / range : 0.0;
        if (!(t > 0)) t = 0; /* also NaN */
        if (t > 1) t = 1;
        double j[3];
        jet(t, j);
        for (int c = 0; c < 3; c++) {
            double v = alpha * j[c] + (1.0 - alpha) * (double)rgb[c * P + i];
            v = v * 255.0 + 0.5;
            out[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
        }
    }
}
