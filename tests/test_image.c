/*
 * test_image.c - the image stage against independent references (goldens made by
 * tests/ref_image.py with PIL, torch/torchvision and NumPy from synthetic fixtures in
 * tests/golden/image/): decoding of every supported layout, the float antialiased resize
 * (torch interpolate antialias=True), the uint8 resize (PIL LANCZOS / BILINEAR), both
 * preset pipelines, errors on bad files, atomic writers, the heatmap.
 */
#include "common.h"
#include "image.h"
#include "render.h"
#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fixture(const char *name) {
    static char buf[4200], rel[256];
    snprintf(rel, sizeof(rel), "image/%s", name);
    snprintf(buf, sizeof(buf), "%s", golden_path(rel));
    return buf;
}

static int load_golden(const char *name, npy_array *a) {
    if (npy_load(fixture(name), a) != 0) {
        fprintf(stderr, "missing golden %s (run tests/ref_image.py fixtures)\n", name);
        test_failures++;
        return -1;
    }
    return 0;
}

/* Compare bytes with a reference; fails when any differs by more than max_lsb. */
static int compare_u8(const char *what, const uint8_t *got, const double *ref, int64_t n,
                      int max_lsb) {
    int worst = 0;
    int64_t n_diff = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        int e = abs((int)got[i] - (int)ref[i]);
        if (e > worst) worst = e;
        n_diff += e != 0;
        sum += e;
    }
    fprintf(stderr, "%s: %lld values, max |diff| %d LSB, %lld differ, mean %.4f LSB (allowed %d)\n",
            what, (long long)n, worst, (long long)n_diff, sum / (double)n, max_lsb);
    if (worst > max_lsb) test_failures++;
    return worst;
}

/* ------------------------------------------------------------------ decode */

static void test_decode(const char *file, const char *golden, int max_lsb) {
    padim_image img;
    npy_array ref;
    if (load_golden(golden, &ref) != 0) return;
    padim_status s = padim_image_load(fixture(file), &img);
    CHECK_OK(s);
    if (s == PADIM_OK) {
        CHECK(ref.ndim == 3);
        CHECK(img.height == ref.shape[0] && img.width == ref.shape[1] && img.channels == ref.shape[2]);
        if (img.height == ref.shape[0] && img.width == ref.shape[1] && img.channels == ref.shape[2])
            compare_u8(file, img.data, ref.data, ref.count, max_lsb);
        else
            fprintf(stderr, "%s: decoded %dx%dx%d, expected %lldx%lldx%lld\n", file, img.height,
                    img.width, img.channels, (long long)ref.shape[0], (long long)ref.shape[1],
                    (long long)ref.shape[2]);
    }
    padim_image_free(&img);
    npy_free(&ref);
}

/* ------------------------------------------------------------------ resize */

static void test_resize_f32(void) {
    npy_array in;
    if (load_golden("rf_in.npy", &in) != 0) return;
    int C = (int)in.shape[0], H = (int)in.shape[1], W = (int)in.shape[2];
    float *x = malloc(sizeof(float) * (size_t)in.count);
    for (int64_t i = 0; i < in.count; i++) x[i] = (float)in.data[i];
    static const int sizes[][2] = {{16, 90}, {37, 20}, {64, 64}, {5, 7}, {11, 53}};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        int oh = sizes[k][0], ow = sizes[k][1];
        char name[64];
        snprintf(name, sizeof(name), "rf_out_%dx%d.npy", oh, ow);
        npy_array ref;
        if (load_golden(name, &ref) != 0) continue;
        float *y = malloc(sizeof(float) * (size_t)C * oh * ow);
        CHECK_OK(resize_aa_f32(x, C, H, W, oh, ow, RESIZE_BILINEAR, y));
        char what[96];
        snprintf(what, sizeof(what), "resize_aa_f32 %dx%d -> %dx%d vs torch antialias", H, W, oh, ow);
        compare_f32(what, y, ref.data, ref.count, 5e-6, 0);
        free(y);
        npy_free(&ref);
    }
    free(x);
    npy_free(&in);
}

static void test_resize_u8_case(const char *in_name, const char *out_name, resize_filter f) {
    npy_array in, ref;
    if (load_golden(in_name, &in) != 0) return;
    if (load_golden(out_name, &ref) != 0) {
        npy_free(&in);
        return;
    }
    int H = (int)in.shape[0], W = (int)in.shape[1], C = in.ndim == 3 ? (int)in.shape[2] : 1;
    int oh = (int)ref.shape[0], ow = (int)ref.shape[1];
    uint8_t *x = malloc((size_t)in.count), *y = malloc((size_t)ref.count);
    for (int64_t i = 0; i < in.count; i++) x[i] = (uint8_t)in.data[i];
    CHECK_OK(resize_aa_u8(x, C, H, W, oh, ow, f, y));
    char what[128];
    snprintf(what, sizeof(what), "resize_aa_u8 %s %dx%dx%d -> %dx%d vs PIL", f == RESIZE_LANCZOS ? "lanczos" : "bilinear",
             H, W, C, oh, ow);
    compare_u8(what, y, ref.data, ref.count, 0); /* PIL-exact */
    free(x);
    free(y);
    npy_free(&in);
    npy_free(&ref);
}

static void test_resize_u8(void) {
    static const char *outs[] = {"20x71", "64x30", "5x7", "37x26"};
    for (int k = 0; k < 4; k++) {
        char name[96];
        snprintf(name, sizeof(name), "ru_out_rgb_lanczos_%s.npy", outs[k]);
        test_resize_u8_case("ru_in_rgb.npy", name, RESIZE_LANCZOS);
        snprintf(name, sizeof(name), "ru_out_rgb_bilinear_%s.npy", outs[k]);
        test_resize_u8_case("ru_in_rgb.npy", name, RESIZE_BILINEAR);
    }
    test_resize_u8_case("ru_in_gray.npy", "ru_out_gray_lanczos_13x100.npy", RESIZE_LANCZOS);
}

/* ------------------------------------------------------------------ pipelines */

static void test_pipeline(const char *file, padim_preset preset, int resize, int crop,
                          const char *golden, int rgb_only, double atol) {
    padim_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.preset = preset;
    cfg.resize = resize;
    cfg.crop = crop;
    int S = padim_config_input_size(&cfg);
    npy_array ref;
    padim_image img;
    if (load_golden(golden, &ref) != 0) return;
    CHECK(ref.count == 3LL * S * S);
    CHECK_OK(padim_image_load(fixture(file), &img));
    float *out = malloc(sizeof(float) * 3 * (size_t)S * S);
    if (img.data && ref.count == 3LL * S * S) {
        CHECK_OK(rgb_only ? padim_preprocess_rgb(&img, &cfg, out) : padim_preprocess(&img, &cfg, out));
        char what[160];
        snprintf(what, sizeof(what), "%s %s resize %d crop %d%s", file, padim_preset_name(preset),
                 resize, crop, rgb_only ? " (rgb [0,1])" : " (normalized)");
        double e = compare_f32(what, out, ref.data, ref.count, atol, 0);
        /* in 8-bit steps of the [0,1] image: normalized values are divided by std >= 0.224 */
        fprintf(stderr, "    = %.2e of one 8-bit step\n", rgb_only ? e * 255.0 : e * 255.0 * 0.229);
    }
    free(out);
    padim_image_free(&img);
    npy_free(&ref);
}

static void test_pipeline_errors(void) {
    padim_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    padim_image img = {4, 4, 3, NULL};
    uint8_t px[4 * 4 * 3] = {0};
    float out[3 * 4 * 4];
    cfg.preset = PADIM_PRESET_PAPER;
    cfg.resize = 4;
    cfg.crop = 4;
    CHECK(padim_preprocess(&img, &cfg, out) == PADIM_ERR_ARG); /* no data */
    img.data = px;
    CHECK_OK(padim_preprocess(&img, &cfg, out));
    cfg.crop = 5; /* crop larger than the resized image */
    CHECK(padim_preprocess(&img, &cfg, out) == PADIM_ERR_ARG);
    CHECK(strstr(padim_last_error(), "crop 5") != NULL);
    img.channels = 2;
    cfg.crop = 4;
    CHECK(padim_preprocess(&img, &cfg, out) == PADIM_ERR_ARG);
    CHECK(resize_aa_f32(out, 1, 0, 4, 2, 2, RESIZE_BILINEAR, out) == PADIM_ERR_ARG);
}

/* ------------------------------------------------------------------ bad files */

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static size_t read_bytes(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void expect_load_error(const char *path, padim_status want, const char *why) {
    padim_image img;
    padim_status s = padim_image_load(path, &img);
    fprintf(stderr, "bad input (%s): %s: %s\n", why, padim_status_name(s), padim_last_error());
    CHECK(s == want);
    CHECK(strstr(padim_last_error(), path) != NULL);
    CHECK(img.data == NULL && img.width == 0);
}

static void test_bad_files(void) {
    static uint8_t buf[1 << 16];
    size_t n = read_bytes(fixture("rgb_97x131.png"), buf, sizeof(buf));
    CHECK(n > 1000);
    test_write_bytes(tmp_path("truncated.png"), buf, n * 6 / 10);
    expect_load_error(tmp_path("truncated.png"), PADIM_ERR_FORMAT, "truncated PNG");
    test_write_bytes(tmp_path("header_only.png"), buf, 40);
    expect_load_error(tmp_path("header_only.png"), PADIM_ERR_FORMAT, "PNG header only");

    /* a PNG under a .jpg name still decodes: the format comes from the content */
    test_write_bytes(tmp_path("really_png.jpg"), buf, n);
    padim_image img;
    CHECK_OK(padim_image_load(tmp_path("really_png.jpg"), &img));
    CHECK(img.width == 97 && img.height == 131 && img.channels == 3);
    padim_image_free(&img);

    uint8_t rnd[256];
    uint32_t st = 12345;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        st = st * 1664525u + 1013904223u;
        rnd[i] = (uint8_t)(st >> 24);
    }
    rnd[0] = 0x00; /* not a magic number */
    test_write_bytes(tmp_path("random.png"), rnd, sizeof(rnd));
    expect_load_error(tmp_path("random.png"), PADIM_ERR_FORMAT, "random bytes");
    CHECK(strstr(padim_last_error(), "unsupported") != NULL);

    test_write_bytes(tmp_path("empty.png"), "", 0);
    expect_load_error(tmp_path("empty.png"), PADIM_ERR_FORMAT, "empty file");
    CHECK(strstr(padim_last_error(), "empty") != NULL);

    expect_load_error(tmp_path("does_not_exist.png"), PADIM_ERR_IO, "nonexistent file");
    CHECK(strstr(padim_last_error(), "No such file") != NULL);

    expect_load_error(tmpdir, PADIM_ERR_IO, "a directory");

    n = read_bytes(fixture("gray16_45x37.tif"), buf, sizeof(buf));
    test_write_bytes(tmp_path("truncated.tif"), buf, n / 2);
    expect_load_error(tmp_path("truncated.tif"), PADIM_ERR_FORMAT, "truncated TIFF");
    test_write_bytes(tmp_path("header_only.tif"), buf, 8);
    expect_load_error(tmp_path("header_only.tif"), PADIM_ERR_FORMAT, "TIFF header only");

    n = read_bytes(fixture("rgb_64x48.jpg"), buf, sizeof(buf));
    test_write_bytes(tmp_path("truncated.jpg"), buf, 200);
    expect_load_error(tmp_path("truncated.jpg"), PADIM_ERR_FORMAT, "truncated JPEG");
}

/* ------------------------------------------------------------------ writers */

static int count_temp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_tiff_f32(void) {
    const int w = 37, h = 23;
    float *m = malloc(sizeof(float) * w * h);
    for (int i = 0; i < w * h; i++) m[i] = (float)sin(i * 0.37) * 1000.0f / (float)(1 + i % 13);
    m[0] = -0.0f;
    m[1] = 1e-40f; /* subnormal */
    m[2] = 3.4e38f;
    m[3] = INFINITY;
    m[4] = -INFINITY;
    m[5] = NAN;
    const char *p = tmp_path("map.tif");
    CHECK_OK(image_write_tiff_f32(p, w, h, m));
    CHECK_OK(image_write_tiff_f32(p, w, h, m)); /* overwriting an existing file */
    int rw = 0, rh = 0;
    float *r = NULL;
    CHECK_OK(image_read_tiff_f32(p, &rw, &rh, &r));
    CHECK(rw == w && rh == h);
    if (r && rw == w && rh == h) {
        CHECK(memcmp(r, m, sizeof(float) * w * h) == 0); /* bit-exact */
        fprintf(stderr, "tiff f32 round trip %dx%d: %s\n", w, h,
                memcmp(r, m, sizeof(float) * w * h) == 0 ? "bit-exact" : "DIFFERS");
    }
    free(r);
    CHECK(count_temp_files() == 0);

    char bad[600];
    snprintf(bad, sizeof(bad), "%s/no_such_dir/map.tif", tmpdir);
    CHECK(image_write_tiff_f32(bad, w, h, m) == PADIM_ERR_IO);
    CHECK(strstr(padim_last_error(), bad) != NULL);
    fprintf(stderr, "write to missing dir: %s\n", padim_last_error());
    CHECK(image_read_tiff_f32(tmp_path("nope.tif"), &rw, &rh, &r) == PADIM_ERR_IO);
    CHECK(image_read_tiff_f32(fixture("gray16_45x37.tif"), &rw, &rh, &r) == PADIM_ERR_MISMATCH);
    CHECK(strstr(padim_last_error(), "float32") != NULL);
    free(m);
}

static void test_png_write(void) {
    const int w = 29, h = 17;
    for (int ch = 1; ch <= 4; ch++) {
        if (ch == 2) continue;
        uint8_t *d = malloc((size_t)w * h * ch);
        for (int i = 0; i < w * h * ch; i++) d[i] = (uint8_t)(i * 7 + ch);
        const char *p = tmp_path("out.png");
        CHECK_OK(image_write_png(p, w, h, ch, d));
        padim_image img;
        CHECK_OK(padim_image_load(p, &img));
        CHECK(img.width == w && img.height == h && img.channels == ch);
        if (img.data && img.channels == ch) CHECK(memcmp(img.data, d, (size_t)w * h * ch) == 0);
        padim_image_free(&img);
        free(d);
    }
    CHECK(count_temp_files() == 0);
    uint8_t px[3] = {1, 2, 3};
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/no_such_dir/x.png", tmpdir);
    CHECK(image_write_png(bad, 1, 1, 3, px) == PADIM_ERR_IO);
    CHECK(strstr(padim_last_error(), bad) != NULL);
    CHECK(image_write_png(tmp_path("x.png"), 0, 1, 3, px) == PADIM_ERR_ARG);
}

static void test_heatmap(void) {
    npy_array rgb, map, ref;
    if (load_golden("heat_rgb.npy", &rgb) || load_golden("heat_map.npy", &map) ||
        load_golden("heat_out.npy", &ref))
        return;
    int S = (int)map.shape[0];
    float *fr = malloc(sizeof(float) * (size_t)rgb.count), *fm = malloc(sizeof(float) * (size_t)map.count);
    for (int64_t i = 0; i < rgb.count; i++) fr[i] = (float)rgb.data[i];
    for (int64_t i = 0; i < map.count; i++) fm[i] = (float)map.data[i];
    uint8_t *out = malloc((size_t)S * S * 3);
    render_overlay(fr, fm, S, 0.2f, 0.8f, 0.4f, out);
    compare_u8("heatmap (jet, alpha 0.4) vs numpy", out, ref.data, ref.count, 0);
    free(fr);
    free(fm);
    free(out);
    npy_free(&rgb);
    npy_free(&map);
    npy_free(&ref);
}

/* The contour of padim_render_heatmap against a hand-drawn outline: a 3x3 block of a 7x7
 * map (outline = its 8 outer pixels, the centre stays the overlay) and a block on the image
 * border (its border pixels are outline); a NaN threshold draws no contour. */
static void test_contour(void) {
    enum { S = 7 };
    float map[S * S], rgb[3 * S * S];
    for (int i = 0; i < S * S; i++) map[i] = 0.1f * (float)(i % 5);
    for (int i = 0; i < 3 * S * S; i++) rgb[i] = 0.5f;
    for (int y = 2; y <= 4; y++)
        for (int x = 2; x <= 4; x++) map[y * S + x] = 5.0f;
    map[0] = map[1] = 5.0f; /* a 2-pixel block on the top border */
    static const char want[S][S + 1] = {"11.....", ".......", "..111..", "..1.1..", "..111..", ".......", "......."};
    uint8_t overlay[S * S * 3], plain[S * S * 3], out[S * S * 3];
    render_overlay(rgb, map, S, 0.0f, 2.0f, 0.5f, overlay);
    padim_render_heatmap(rgb, map, S, 0.0f, 2.0f, 0.5f, NAN, plain);
    CHECK(memcmp(plain, overlay, sizeof(plain)) == 0);
    padim_render_heatmap(rgb, map, S, 0.0f, 2.0f, 0.5f, 1.0, out);
    int bad = 0;
    for (int i = 0; i < S * S; i++) {
        const uint8_t *p = out + i * 3, *o = overlay + i * 3;
        const int white = p[0] == 255 && p[1] == 255 && p[2] == 255;
        if (want[i / S][i % S] == '1' ? !white : memcmp(p, o, 3) != 0) bad++;
    }
    if (bad) fprintf(stderr, "FAIL contour: %d pixels differ from the expected outline\n", bad);
    CHECK(bad == 0);
}

int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/padim_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }

    test_decode("rgb_97x131.png", "decode_rgb_97x131.npy", 0);
    test_decode("gray_29x23.png", "decode_gray_29x23.npy", 0);
    test_decode("rgba_40x33.png", "decode_rgba_40x33.npy", 0);
    test_decode("la_21x17.png", "decode_la_21x17.npy", 0);
    test_decode("pal_25x19.png", "decode_pal_25x19.npy", 0);
    test_decode("rgb_19x13.bmp", "decode_rgb_19x13.npy", 0);
    test_decode("gray16_45x37.tif", "decode_gray16_45x37.npy", 0);
    test_decode("rgb16be_31x27.tif", "decode_rgb16be_31x27.npy", 0);
    test_decode("rgba8_23x19.tif", "decode_rgba8_23x19.npy", 0);
    test_decode("rgb_lzw_33x29.tif", "decode_rgb_lzw_33x29.npy", 0);
    test_decode("miniswhite_14x11.tif", "decode_miniswhite_14x11.npy", 0);
    test_decode("pal_18x15.tif", "decode_pal_18x15_tif.npy", 0);
    test_decode("gray16_12x9.png", "decode_gray16_12x9_png.npy", 0);
    /* stb_image's JPEG decoder is not libjpeg(-turbo): measured differences are small */
    test_decode("rgb_64x48.jpg", "decode_rgb_64x48_jpg.npy", 4);

    test_resize_f32();
    test_resize_u8();

    test_pipeline("rgb_97x131.png", PADIM_PRESET_ANOMALIB, 48, 0, "pre_rgb_anomalib48_rgb.npy", 1, 5e-6);
    test_pipeline("rgb_97x131.png", PADIM_PRESET_ANOMALIB, 48, 0, "pre_rgb_anomalib48.npy", 0, 2e-5);
    test_pipeline("gray_29x23.png", PADIM_PRESET_ANOMALIB, 80, 0, "pre_gray_anomalib80.npy", 0, 2e-5);
    test_pipeline("rgba_40x33.png", PADIM_PRESET_ANOMALIB, 32, 0, "pre_rgba_anomalib32.npy", 0, 2e-5);
    test_pipeline("rgb_97x131.png", PADIM_PRESET_PAPER, 72, 64, "pre_rgb_paper72_crop64.npy", 0, 1e-5);
    test_pipeline("rgb_97x131.png", PADIM_PRESET_PAPER, 72, 61, "pre_rgb_paper72_crop61.npy", 0, 1e-5);
    test_pipeline("gray_29x23.png", PADIM_PRESET_PAPER, 40, 37, "pre_gray_paper40_crop37.npy", 0, 1e-5);
    test_pipeline_errors();

    test_bad_files();
    test_tiff_f32();
    test_png_write();
    test_heatmap();
    test_contour();

    /* clean the temporary directory (only files this test wrote) */
    DIR *d = opendir(tmpdir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') remove(tmp_path(e->d_name));
        closedir(d);
    }
    rmdir(tmpdir);
    return test_finish("test_image");
}
