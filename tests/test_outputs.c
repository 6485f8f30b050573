/*
 * test_outputs.c - the outputs at the source geometry and the defect regions against
 * independent references (tests/ref_outputs.py): padim_map_to_source vs torch's bilinear
 * interpolate (anomalib preset) and a NumPy float64 implementation of the resize + center
 * crop inverse (paper preset), on non-square, odd, up- and down-scaled sizes;
 * padim_find_regions vs scipy.ndimage.label / find_objects / center_of_mass / maximum / mean.
 */
#include "padim_internal.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int SIZES[][2] = {{50, 125}, {125, 50}, {17, 9}, {32, 32}, {97, 101}, {40, 40}};

static padim_model *model_for(padim_preset preset) {
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, preset);
    cfg.resize = preset == PADIM_PRESET_PAPER ? 40 : 32;
    cfg.crop = preset == PADIM_PRESET_PAPER ? 32 : 0;
    cfg.d = 8;
    padim_model *m = NULL;
    CHECK_OK(padim_model_alloc(&cfg, &m));
    return m;
}

static void test_source_maps(void) {
    npy_array map;
    char path[1200];
    if (npy_load(golden_path("outputs/map.npy"), &map) != 0) {
        test_failures++;
        return;
    }
    CHECK(map.ndim == 2 && map.shape[0] == 32 && map.shape[1] == 32);
    float m32[32 * 32];
    for (int i = 0; i < 32 * 32; i++) m32[i] = (float)map.data[i];
    for (int pr = 0; pr < 2; pr++) {
        const padim_preset preset = pr ? PADIM_PRESET_PAPER : PADIM_PRESET_ANOMALIB;
        padim_model *m = model_for(preset);
        if (!m) break;
        for (size_t k = 0; k < sizeof(SIZES) / sizeof(SIZES[0]); k++) {
            const int W = SIZES[k][0], H = SIZES[k][1];
            snprintf(path, sizeof(path), "outputs/%s_%dx%d.npy", pr ? "paper" : "anomalib", W, H);
            npy_array ref;
            if (npy_load(golden_path(path), &ref) != 0) {
                test_failures++;
                continue;
            }
            CHECK(ref.count == (int64_t)W * H);
            float *out = malloc(sizeof(float) * (size_t)W * H);
            CHECK_OK(padim_map_to_source(m, m32, W, H, out));
            int64_t not_scored = 0, mismatched_mask = 0;
            for (int64_t i = 0; i < ref.count; i++) {
                const int ref_ns = ref.data[i] == -1.0, got_ns = out[i] == PADIM_NOT_SCORED;
                not_scored += ref_ns;
                mismatched_mask += ref_ns != got_ns;
            }
            CHECK(mismatched_mask == 0);
            if (!pr) CHECK(not_scored == 0); /* anomalib squashes: every pixel is scored */
            char what[96];
            snprintf(what, sizeof(what), "%s %dx%d", pr ? "paper" : "anomalib", W, H);
            /* anomalib: float arithmetic as torch's kernel (bit-level agreement expected,
             * 1e-6 allowed); paper: float against the float64 reference. */
            compare_f32(what, out, ref.data, ref.count, 1e-6, pr ? 2e-6 : 1e-6);
            fprintf(stderr, "%s: ok (%lld not scored)\n", what, (long long)not_scored);
            npy_free(&ref);
            free(out);
        }
        padim_model_free(m);
    }
    /* paper, source already at the resized size (40x40): the map is placed exactly at the
     * crop offset 4, the 4-pixel border is not scored (an exact property, no interpolation). */
    padim_model *m = model_for(PADIM_PRESET_PAPER);
    float out[40 * 40];
    CHECK_OK(padim_map_to_source(m, m32, 40, 40, out));
    int bad = 0;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 40; x++) {
            const int in = y >= 4 && y < 36 && x >= 4 && x < 36;
            const float want = in ? m32[(y - 4) * 32 + (x - 4)] : PADIM_NOT_SCORED;
            bad += out[y * 40 + x] != want;
        }
    CHECK(bad == 0);
    CHECK(padim_map_to_source(m, m32, 0, 40, out) == PADIM_ERR_ARG);
    padim_model_free(m);
    npy_free(&map);
}

static void test_regions(void) {
    npy_array map;
    if (npy_load(golden_path("outputs/regions_map.npy"), &map) != 0) {
        test_failures++;
        return;
    }
    const int H = (int)map.shape[0], W = (int)map.shape[1];
    float *m = malloc(sizeof(float) * (size_t)W * H);
    for (int64_t i = 0; i < map.count; i++) m[i] = (float)map.data[i];
    const char *thr_names[] = {"0.5", "0.7", "0.9"};
    for (int t = 0; t < 3; t++) {
        char path[64];
        snprintf(path, sizeof(path), "outputs/regions_%s.npy", thr_names[t]);
        npy_array ref;
        if (npy_load(golden_path(path), &ref) != 0) {
            test_failures++;
            continue;
        }
        const int64_t n_ref = ref.ndim == 2 ? ref.shape[0] : 0;
        padim_region *r = NULL;
        int64_t n = -1;
        CHECK_OK(padim_find_regions(m, W, H, atof(thr_names[t]), &r, &n));
        CHECK(n == n_ref);
        int bad = 0;
        for (int64_t k = 0; k < n && k < n_ref; k++) {
            const double *e = ref.data + k * 9;
            bad += r[k].x0 != (int)e[0] || r[k].y0 != (int)e[1] || r[k].x1 != (int)e[2] ||
                   r[k].y1 != (int)e[3] || r[k].area != (int64_t)e[4];
            bad += fabs(r[k].cx - e[5]) > 1e-9 || fabs(r[k].cy - e[6]) > 1e-9;
            bad += r[k].max_value != (float)e[7] || fabs(r[k].mean_value - e[8]) > 1e-6 * fabs(e[8]);
        }
        CHECK(bad == 0);
        fprintf(stderr, "regions >= %s: %lld regions (scipy %lld), %d mismatches\n", thr_names[t],
                (long long)n, (long long)n_ref, bad);
        free(r);
        npy_free(&ref);
    }
    /* nothing above the threshold: no regions, NULL array */
    padim_region *r = (padim_region *)&r;
    int64_t n = -1;
    CHECK_OK(padim_find_regions(m, W, H, 2.0, &r, &n));
    CHECK(n == 0 && r == NULL);
    free(m);
    npy_free(&map);
}

int main(void) {
    test_source_maps();
    test_regions();
    return test_finish("test_outputs");
}
