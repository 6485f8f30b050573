/*
 * image.c - image decoding (first stage of the pipeline) and the image outputs (last
 * stage). Decoding: the format is chosen by the file's magic bytes, never its extension,
 * and each format goes through a decoder that checks its input (untrusted files: a
 * fuzzer found 260-byte files that stb_image took as 16k x 16k images):
 *   PNG   libpng: CRCs of critical chunks, the zlib stream (Adler-32), IEND all checked;
 *         8-bit gray / RGB / RGBA files without interlacing take a faster path with the
 *         same checks (png_decode_direct: libdeflate inflates) and fall back to libpng
 *         at anything else
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
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <libdeflate.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <png.h>
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


/* ------------------------------------------------------------------ PNG (libpng) */

struct png_state {
    png_structp png;
    png_infop info;
    jmp_buf jb;
    char msg[256];
    size_t off;         /* read position in the file */
    int interlaced;
    int direct;         /* 8-bit gray / RGB / RGBA, not interlaced: the samples as stored */
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
    PADIM_TRY(image_check_size(r->path, "PNG", w, h, &r->opt));
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
    s->direct = !s->interlaced && depth == 8 &&
                (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_RGB || color == PNG_COLOR_TYPE_RGB_ALPHA);
    if (s->interlaced) png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    if (png_get_rowbytes(s->png, s->info) != (size_t)w * (size_t)r->hdr.channels)
        return padim_fail(PADIM_ERR_FORMAT, "%s: PNG rows of %zu bytes, expected %zu", r->path,
                          (size_t)png_get_rowbytes(s->png, s->info), (size_t)w * (size_t)r->hdr.channels);
    r->hdr.width = (int)w;
    r->hdr.height = (int)h;
    return PADIM_OK;
}

/* The fast path of png_decode for the files that need no libpng transform (s->direct):
 * the chunks walked and CRC-checked (libdeflate_crc32), the IDAT data inflated in one call
 * and Adler-32-checked by libdeflate (about 2.5x zlib's inflate here), and the rows
 * unfiltered here. It returns 1 with data filled, or 0 and leaves the file to libpng
 * (which has read nothing past the header yet) at the first thing it does not handle:
 * a critical chunk other than IHDR, IDAT and IEND, IDAT chunks that are not contiguous, a
 * bad CRC anywhere, a stream that does not inflate to exactly the image, an unknown
 * filter type. libpng then decodes the file or reports what is wrong, as it always did.
 * Pixels are the same either way (tests/test_image_real.c compares the two). */
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint8_t paeth(int a, int b, int c) {
    const int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

#ifdef __SSE2__
/* Paeth for 3- and 4-byte pixels, one pixel's bytes at a time in 16-bit lanes, without
 * branches (the scalar loop mispredicts on photographs and cost 3x libdeflate's inflate):
 * pa = |b - c|, pb = |a - c|, pc = |a + b - 2c|; a when pa <= pb and pa <= pc, else b when
 * pb <= pc, else c (the PNG specification's order of ties). */
/* A pixel's bytes into the low lanes, assembled in a register (a 3-byte memcpy through
 * the stack made a store-forwarding stall per pixel, 2x slower than scalar code). */
static inline __attribute__((always_inline)) __m128i px_load(const uint8_t *p, const int bpp) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    if (bpp == 4) v |= (uint32_t)p[3] << 24;
    return _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)v), _mm_setzero_si128());
}

static inline __m128i abs16(__m128i x) { return _mm_max_epi16(x, _mm_sub_epi16(_mm_setzero_si128(), x)); }

static inline __attribute__((always_inline)) void unpaeth(const uint8_t *f, const uint8_t *prev, uint8_t *out,
                                                          size_t n, const int bpp) {
    const __m128i zero = _mm_setzero_si128();
    __m128i a = zero, c = zero;
    for (size_t i = 0; i + (size_t)bpp <= n; i += (size_t)bpp) {
        const __m128i b = prev ? px_load(prev + i, bpp) : zero, x = px_load(f + i, bpp);
        const __m128i sa = _mm_sub_epi16(b, c), sb = _mm_sub_epi16(a, c);
        const __m128i pa = abs16(sa), pb = abs16(sb), pc = abs16(_mm_add_epi16(sa, sb));
        const __m128i not_a = _mm_or_si128(_mm_cmpgt_epi16(pa, pb), _mm_cmpgt_epi16(pa, pc));
        const __m128i use_c = _mm_cmpgt_epi16(pb, pc);
        const __m128i bc = _mm_or_si128(_mm_and_si128(use_c, c), _mm_andnot_si128(use_c, b));
        const __m128i pred = _mm_or_si128(_mm_and_si128(not_a, bc), _mm_andnot_si128(not_a, a));
        const __m128i o = _mm_and_si128(_mm_add_epi16(x, pred), _mm_set1_epi16(0xff));
        const uint32_t v = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(o, zero));
        out[i] = (uint8_t)v, out[i + 1] = (uint8_t)(v >> 8), out[i + 2] = (uint8_t)(v >> 16);
        if (bpp == 4) out[i + 3] = (uint8_t)(v >> 24);
        a = o;
        c = b;
    }
}

/* bpp a constant in each, so that the 3- and 4-byte copies are single moves */
static void png_unpaeth_sse2(const uint8_t *f, const uint8_t *prev, uint8_t *out, size_t n, int bpp) {
    if (bpp == 3)
        unpaeth(f, prev, out, n, 3);
    else
        unpaeth(f, prev, out, n, 4);
}
#endif

/* Row y of raw (filter byte + n bytes) into out, with prev the row above (NULL: zeros). */
static int png_unfilter(const uint8_t *raw, const uint8_t *prev, uint8_t *out, size_t n, int bpp) {
    const uint8_t *f = raw + 1;
    switch (raw[0]) {
    case 0: memcpy(out, f, n); break;
    case 1:
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(f[i] + (i >= (size_t)bpp ? out[i - bpp] : 0));
        break;
    case 2:
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(f[i] + (prev ? prev[i] : 0));
        break;
    case 3:
        for (size_t i = 0; i < n; i++) {
            const int a = i >= (size_t)bpp ? out[i - bpp] : 0, b = prev ? prev[i] : 0;
            out[i] = (uint8_t)(f[i] + ((a + b) >> 1));
        }
        break;
    case 4:
#ifdef __SSE2__
        if (bpp == 3 || bpp == 4) {
            png_unpaeth_sse2(f, prev, out, n, bpp);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++) {
            const int a = i >= (size_t)bpp ? out[i - bpp] : 0, b = prev ? prev[i] : 0;
            const int c = i >= (size_t)bpp && prev ? prev[i - bpp] : 0;
            out[i] = (uint8_t)(f[i] + paeth(a, b, c));
        }
        break;
    default: return 0;
    }
    return 1;
}

/* Above this, the fast path's whole-image buffers (the filtered rows, about the decoded
 * size, and the compressed data) would double the memory a decode holds beyond what the
 * batch budget (max_batch_bytes) reserves; such files go to libpng. 64 MiB: 21 megapixels
 * of RGB. */
#define PNG_DIRECT_MAX_BYTES ((size_t)64 << 20)

static int png_decode_direct(const image_reader *r, uint8_t *data) {
    if (getenv("PADIM_PNG_LIBPNG_ONLY")) return 0; /* tests: the libpng path on every file */
    const uint8_t *b = r->buf;
    const size_t len = r->len;
    size_t off = 8, idat_bytes = 0, first_idat = 0;
    int idat_runs = 0, in_idat = 0, ended = 0;
    while (!ended) { /* pass 1: chunk structure, CRCs, the IDAT bytes */
        if (len - off < 12) return 0;
        const uint32_t n = be32(b + off);
        if (n > 0x7fffffffu || n > len - off - 12) return 0;
        const uint8_t *type = b + off + 4;
        if (libdeflate_crc32(0, type, 4 + (size_t)n) != be32(b + off + 8 + n)) return 0;
        const int idat = !memcmp(type, "IDAT", 4);
        if (idat && !in_idat) {
            if (idat_runs++) return 0;
            first_idat = off;
        }
        in_idat = idat;
        if (idat) idat_bytes += n;
        else if (!memcmp(type, "IEND", 4)) ended = 1;
        else if (!(type[0] & 0x20) && memcmp(type, "IHDR", 4)) return 0; /* a critical chunk */
        off += 12 + (size_t)n;
    }
    if (!idat_runs) return 0;
    const int w = r->hdr.width, h = r->hdr.height, bpp = r->hdr.channels;
    const size_t n = (size_t)w * (size_t)bpp, raw_bytes = (size_t)h * (n + 1);
    if (raw_bytes > PNG_DIRECT_MAX_BYTES) return 0; /* libpng decodes it row by row */
    uint8_t *z = malloc(idat_bytes ? idat_bytes : 1), *raw = malloc(raw_bytes);
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    int ok = z && raw && d;
    if (ok) {
        size_t at = 0;
        for (off = first_idat; at < idat_bytes; off += 12 + (size_t)be32(b + off)) {
            const uint32_t cn = be32(b + off);
            memcpy(z + at, b + off + 8, cn);
            at += cn;
        }
        ok = libdeflate_zlib_decompress(d, z, idat_bytes, raw, raw_bytes, NULL) == LIBDEFLATE_SUCCESS;
    }
    for (int y = 0; ok && y < h; y++)
        ok = png_unfilter(raw + (size_t)y * (n + 1), y ? data + (size_t)(y - 1) * n : NULL, data + (size_t)y * n, n,
                          bpp);
    if (d) libdeflate_free_decompressor(d);
    free(z);
    free(raw);
    return ok;
}

static padim_status png_decode(image_reader *r, uint8_t *data) {
    png_state *s = r->png;
    if (s->direct && png_decode_direct(r, data)) return PADIM_OK;
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
    case KIND_PNG: s = png_decode(r, data); break;
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

