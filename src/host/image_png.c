/*
 * image_png.c - PNG decoding for image.c's reader (image_reader.h). libpng reads the
 * header and sets up the channel policy (image.c's header comment); 8-bit gray, RGB and
 * RGBA files without interlacing then take png_decode_direct (chunk CRCs checked,
 * libdeflate inflates, rows unfiltered here), every other file, and every file that path
 * refuses, libpng's own row-by-row decoding. Errors unwind through setjmp/longjmp.
 */
#include "common.h"
#include "image_reader.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <png.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif


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

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A chunk type for a message: its 4 letters, or its bytes in hex when they are not all
 * ASCII letters (as a valid type is), so no control byte reaches the terminal. */
static void png_chunk_name(const uint8_t *t, char out[12]) {
    int letters = 1;
    for (int i = 0; i < 4; i++) letters &= (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z');
    if (letters)
        snprintf(out, 12, "'%c%c%c%c'", t[0], t[1], t[2], t[3]);
    else
        snprintf(out, 12, "0x%02x%02x%02x%02x", t[0], t[1], t[2], t[3]);
}

/* No chunk may claim more bytes than the file has left: libpng allocates what a chunk's
 * length field says before reading it (the fuzzer: a tEXt of 822 MB in a 5 KB file; its
 * png_set_chunk_malloc_max did not stop that allocation). A short last chunk header is
 * left to libpng, which reports the truncation. */
static padim_status png_check_chunk_lengths(const image_reader *r) {
    for (size_t off = 8; r->len - off >= 12;) {
        const uint32_t n = be32(r->buf + off);
        if (n > r->len - off - 12) {
            char name[12];
            png_chunk_name(r->buf + off + 4, name);
            return padim_fail(PADIM_ERR_FORMAT,
                              "%s: cannot decode PNG: chunk %s claims %u bytes, the file has %zu left", r->path, name,
                              n, r->len - off - 12);
        }
        if (!memcmp(r->buf + off + 4, "IEND", 4)) break;
        off += 12 + (size_t)n;
    }
    return PADIM_OK;
}

padim_status img_png_open(image_reader *r) {
    png_state *s = calloc(1, sizeof(*s));
    if (!s) return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for the PNG decoder", r->path);
    r->png = s;
    s->r = r;
    PADIM_TRY(png_check_chunk_lengths(r));
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

padim_status img_png_decode(image_reader *r, uint8_t *data) {
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

void img_png_close(image_reader *r) {
    if (!r->png) return;
    if (r->png->png) png_destroy_read_struct(&r->png->png, r->png->info ? &r->png->info : NULL, NULL);
    free(r->png);
    r->png = NULL;
}
