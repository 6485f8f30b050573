/*
 * image_jpeg.c - JPEG decoding through libjpeg-turbo for image.c's reader (image_reader.h),
 * set up as PIL decodes (libjpeg defaults: islow IDCT, fancy upsampling, block smoothing for
 * progressive files) so that pixels equal PIL's; every corrupt-data warning is an error,
 * errors unwind through setjmp/longjmp (never exit()), at most JPEG_MAX_SCANS scans, and
 * the decoder's own memory is capped.
 */
#include "common.h"
#include "image_reader.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* A progressive JPEG is decoded once per scan over the whole coefficient buffer: libjpeg
 * writes up to 10 scans for colour, a few hundred would only be a way to spend minutes on
 * a small file (the limit libjpeg-turbo's own fuzzers use is 500). */
#define JPEG_MAX_SCANS 100

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

padim_status img_jpeg_open(image_reader *r) {
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
    PADIM_TRY(image_check_size(r->path, "JPEG", c->image_width, c->image_height, &r->opt));
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

padim_status img_jpeg_decode(image_reader *r, uint8_t *data) {
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

void img_jpeg_close(image_reader *r) {
    if (!r->jpeg) return;
    if (r->jpeg->created) jpeg_destroy_decompress(&r->jpeg->cinfo);
    free(r->jpeg);
    r->jpeg = NULL;
}

