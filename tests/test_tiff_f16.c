/*
 * test_tiff_f16.c - padim_write_tiff_f16 (image.c), the float16 TIFF of MVTec AD 2's
 * submission: the tags (BitsPerSample 16, SampleFormat IEEEFP, one sample) and the stored
 * halves read back with libtiff, against padim_f32_to_f16; then an independent reader,
 * tifffile (tests/check_tiff_f16.py), compares the float16 file with NumPy's float16
 * rounding of the same values written as float32. Values cover rounding ties, subnormals,
 * overflow to infinity, signed zero and NaN; the size is odd (37 x 5).
 */
#include "half.h"
#include "padim.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <tiffio.h>
#include <unistd.h>

enum { W = 37, H = 5 };

int main(void) {
    char dir[] = "/tmp/padim_tiff16_XXXXXX";
    if (!mkdtemp(dir)) test_skip("mkdtemp failed");
    float v[W * H];
    for (int i = 0; i < W * H; i++) v[i] = (float)((i - 90) * 37.123) / (float)(1 + i % 7);
    const float special[] = {0.0f, -0.0f, 1.0f, 65504.0f, 65520.0f, 1e6f, -1e6f, 6.1e-5f, 3e-6f, 1e-9f,
                             1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, NAN, INFINITY, -INFINITY};
    memcpy(v, special, sizeof(special));
    char f16[64], f32[64];
    snprintf(f16, sizeof(f16), "%s/map16.tiff", dir);
    snprintf(f32, sizeof(f32), "%s/map32.tiff", dir);
    CHECK_OK(padim_write_tiff_f16(f16, W, H, v));
    CHECK_OK(padim_write_tiff_f32(f32, W, H, v));
    CHECK(padim_write_tiff_f16(f16, 0, H, v) == PADIM_ERR_ARG);

    TIFF *t = TIFFOpen(f16, "r");
    CHECK(t != NULL);
    if (t) {
        uint32_t w = 0, h = 0;
        uint16_t bps = 0, spp = 0, fmt = 0;
        TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
        TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
        TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
        TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
        TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
        CHECK(w == W && h == H && bps == 16 && spp == 1 && fmt == SAMPLEFORMAT_IEEEFP);
        uint16_t row[W];
        int bad = 0;
        for (uint32_t y = 0; y < h && y < H; y++) {
            CHECK(TIFFReadScanline(t, row, y, 0) >= 0);
            for (int x = 0; x < W; x++) bad += row[x] != padim_f32_to_f16(v[y * W + x]);
        }
        CHECK(bad == 0);
        TIFFClose(t);
    }
    /* The independent reader (skipped when tifffile is not installed: exit 77). */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s tests/check_tiff_f16.py %s %s", getenv("PADIM_PYTHON") ? getenv("PADIM_PYTHON")
             : "/usr/bin/python3", f32, f16);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
    if (rc == 77) fprintf(stderr, "tifffile absent: float16 TIFF checked with libtiff only\n");
    else CHECK(rc == 0);
    unlink(f16);
    unlink(f32);
    rmdir(dir);
    return test_finish("test_tiff_f16");
}
