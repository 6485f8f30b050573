/*
 * fuzz_image.c - libFuzzer target over image decoding (image_reader_open_memory +
 * decode: PNG / libpng, JPEG / libjpeg-turbo, TIFF / libtiff, BMP / our checks + stb) and,
 * when an image decodes, both preprocessing presets at a small size. The pixel limit is
 * lowered to FUZZ_MAX_PIXELS so that every allocation the limit allows stays far below
 * the -malloc_limit_mb of tests/fuzz/run.sh: an allocation above it is a missing check.
 * Seeds: tests/fuzz/make_corpus.py (every layout of tests/make_image_fixtures.py).
 */
#include "image.h"
#include "padim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_PIXELS (1 << 22) /* 4 Mpixel: decoded <= 16 MB, decoder budgets <= ~100 MB */
/* Preprocessing is linear in the pixels, but the coverage instrumentation of its inner
 * loops makes a 2.5 Mpixel image (38 x 65565: tiff_38x65565_slow_preprocess.tif in
 * regressions/fuzz_image) take 5 s, over run.sh's 2 s time-out: images above this are
 * decoded only (the aspect-ratio refusals that larger images reach are tested by
 * test_image_limits). */
#define FUZZ_MAX_PREPROCESS_PIXELS (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const padim_decode_options opt = {FUZZ_MAX_PIXELS, 0};
    image_reader *r = NULL;
    image_header hdr;
    if (image_reader_open_memory("fuzz-input", data, size, &opt, &r, &hdr) != PADIM_OK) return 0;
    if ((int64_t)hdr.width * hdr.height > FUZZ_MAX_PIXELS || hdr.width < 1 || hdr.height < 1) abort();
    padim_image img;
    if (image_reader_decode(r, &img) == PADIM_OK) {
        if (img.width != hdr.width || img.height != hdr.height || img.channels != hdr.channels) abort();
        if (img.channels != 1 && img.channels != 3 && img.channels != 4) abort();
        /* every byte was written (MSan-free check: a sum that ASan sees read) */
        unsigned sum = 0;
        const size_t n = (size_t)img.width * img.height * img.channels;
        for (size_t i = 0; i < n; i += 4093) sum += img.data[i];
        (void)sum;
        static float out[3 * 32 * 32];
        padim_config cfg;
        for (int p = 0; p < 2 && (int64_t)img.width * img.height <= FUZZ_MAX_PREPROCESS_PIXELS; p++) {
            padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, p ? PADIM_PRESET_PAPER : PADIM_PRESET_ANOMALIB);
            cfg.resize = 32;
            cfg.crop = p ? 32 : 0;
            padim_preprocess(&img, &cfg, out); /* may refuse extreme aspect ratios */
        }
        padim_image_free(&img);
    }
    image_reader_close(r);
    return 0;
}
