/*
 * test_image_real.c - the image stage at the real sizes against goldens computed at test
 * time by tests/ref_image.py (ctest test image_ref_runtime, into $PADIM_IMAGE_REF_DIR):
 * a synthetic 60x60 image upscaled to 256 (anomalib) and 256/224 (paper), and the MVTec
 * bottle image train/good/000.png (900x900, read from ../shared, never committed):
 * anomalib 256 squash vs torchvision antialias=True, paper 256 LANCZOS vs PIL (uint8),
 * center crop 224, normalized outputs. Skips (77) when the goldens are absent.
 */
#include "image.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char ref_dir[4096];

static const char *ref_file(const char *name) {
    static char buf[4400];
    snprintf(buf, sizeof(buf), "%s/%s", ref_dir, name);
    return buf;
}

static void check_pipeline(const padim_image *img, const char *what, padim_preset preset, int resize,
                           int crop, const char *golden, int rgb_only, double atol) {
    npy_array ref;
    if (npy_load(ref_file(golden), &ref) != 0) {
        test_failures++;
        return;
    }
    padim_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.preset = preset;
    cfg.resize = resize;
    cfg.crop = crop;
    int S = padim_config_input_size(&cfg);
    CHECK(ref.count == 3LL * S * S);
    float *out = malloc(sizeof(float) * 3 * (size_t)S * S);
    if (ref.count == 3LL * S * S) {
        CHECK_OK(rgb_only ? padim_preprocess_rgb(img, &cfg, out) : padim_preprocess(img, &cfg, out));
        char name[200];
        snprintf(name, sizeof(name), "%s %s resize %d crop %d%s", what, padim_preset_name(preset), resize,
                 crop, rgb_only ? " (rgb [0,1])" : " (normalized)");
        double e = compare_f32(name, out, ref.data, ref.count, atol, 0);
        fprintf(stderr, "    = %.2e of one 8-bit step\n", rgb_only ? e * 255.0 : e * 255.0 * 0.229);
    }
    free(out);
    npy_free(&ref);
}

int main(void) {
    const char *env = getenv("PADIM_IMAGE_REF_DIR");
    if (!env) {
        test_skip("PADIM_IMAGE_REF_DIR not set (run through ctest: image_ref_runtime makes the goldens)");
        return 77;
    }
    snprintf(ref_dir, sizeof(ref_dir), "%s", env);
    if (access(ref_file("up_60x60.png"), R_OK) != 0)
        test_skip("runtime goldens absent: image_ref_runtime was skipped (no torch/torchvision/PIL)");

    padim_image img;
    CHECK_OK(padim_image_load(ref_file("up_60x60.png"), &img));
    if (img.data) {
        check_pipeline(&img, "60x60", PADIM_PRESET_ANOMALIB, 256, 0, "up_anomalib256.npy", 0, 2e-5);
        check_pipeline(&img, "60x60", PADIM_PRESET_PAPER, 256, 224, "up_paper256_crop224.npy", 0, 1e-5);
    }
    padim_image_free(&img);

    const char *bottle = shared_path("data/mvtec_ad/bottle/train/good/000.png");
    if (access(bottle, R_OK) != 0 || access(ref_file("real_anomalib256.npy"), R_OK) != 0) {
        fprintf(stderr, "NOTE: %s or its goldens absent: real-image checks not run\n", bottle);
        return test_finish("test_image_real");
    }
    char bottle_path[4096];
    snprintf(bottle_path, sizeof(bottle_path), "%s", bottle);
    CHECK_OK(padim_image_load(bottle_path, &img));
    if (img.data) {
        fprintf(stderr, "bottle 000.png: %dx%d, %d channels\n", img.width, img.height, img.channels);
        check_pipeline(&img, "bottle", PADIM_PRESET_ANOMALIB, 256, 0, "real_anomalib256_rgb.npy", 1, 5e-6);
        check_pipeline(&img, "bottle", PADIM_PRESET_ANOMALIB, 256, 0, "real_anomalib256.npy", 0, 2e-5);
        check_pipeline(&img, "bottle", PADIM_PRESET_PAPER, 256, 224, "real_paper256_crop224.npy", 0, 1e-5);

        /* the paper resize alone, uint8 vs PIL LANCZOS */
        npy_array ref;
        if (npy_load(ref_file("real_paper256_u8.npy"), &ref) == 0 && img.channels == 3) {
            int oh = (int)ref.shape[0], ow = (int)ref.shape[1];
            uint8_t *y = malloc((size_t)ref.count);
            CHECK_OK(resize_aa_u8(img.data, 3, img.height, img.width, oh, ow, RESIZE_LANCZOS, y));
            int worst = 0;
            int64_t n_diff = 0;
            for (int64_t i = 0; i < ref.count; i++) {
                int e = abs((int)y[i] - (int)ref.data[i]);
                if (e > worst) worst = e;
                n_diff += e != 0;
            }
            fprintf(stderr, "bottle LANCZOS %dx%d -> %dx%d vs PIL: max |diff| %d LSB, %lld of %lld differ\n",
                    img.height, img.width, oh, ow, worst, (long long)n_diff, (long long)ref.count);
            CHECK(worst == 0);
            free(y);
            npy_free(&ref);
        }
    }
    padim_image_free(&img);
    return test_finish("test_image_real");
}
