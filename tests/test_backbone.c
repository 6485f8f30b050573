/*
 * test_backbone.c - bb_forward_cpu (backbone_cpu.c) against torchvision's own modules
 * (tests/ref_backbone.py), layer by layer.
 *
 *   test_backbone                 ResNet-18, real weights weights/resnet18_tv_in1k.safetensors
 *                                 (BN folded), committed goldens tests/golden/backbone/r18_*.
 *   test_backbone --wrn50 DIR     Wide-ResNet-50-2, seeded random weights with UNFOLDED
 *                                 BatchNorm (DIR/wrn50_random.safetensors, folded by
 *                                 bb_weights_load) and goldens DIR/wrn50_*, both written by
 *                                 ref_backbone.py at test time (tests/backbone.cmake).
 *
 * Fixtures (ref_backbone.py): 2 images of 64x64, 1 of 100x100, 1 of 7x7, 3 of 33x33,
 * each run with 1 and 2 threads, through every CPU backbone: im2col + OpenBLAS
 * (bb_forward_cpu), the same with Winograd F(2x2, 3x3) for the 3x3 stride-1 convs
 * (bb_forward_cpu_ex; odd sizes exercise its partial tiles) and oneDNN (bb_dnnl_forward,
 * when built: run twice on the same net, the second time reusing its plan, and once on the
 * first image alone, a second plan).
 * Tolerance per layer: |got - ref| <= 1e-4 * max|ref| + 1e-4 * |ref|. The C and PyTorch
 * (oneDNN) convolutions both accumulate in float32 but in different orders; the observed
 * errors are ~1e-6 relative to the layer's maximum (printed), the bound leaves margin
 * for other BLAS builds while catching any indexing or padding mistake (those give O(1)
 * relative errors).
 */
#include "cpu/backbone_cpu.h"
#include "cpu/backbone_dnnl.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL_ABS_OF_MAX 1e-4
#define TOL_REL 1e-4

static const char *const fixtures[] = {"s64", "s100", "s7", "s33"};
#define N_FIXTURES 4

static int load_f32(const char *path, npy_array *a, float **f) {
    if (npy_load(path, a) != 0) return -1;
    *f = malloc(sizeof(float) * (size_t)a->count);
    if (!*f) return -1;
    for (int64_t i = 0; i < a->count; i++) (*f)[i] = (float)a->data[i];
    return 0;
}

/* Run the fixture "<dir>/<tag>_<fix>_{x,l1,l2,l3}.npy" with threads 1 and 2. */
static void run_fixture(const bb_weights *w, const bb_cpu_prep *prep, const char *dir, const char *tag,
                        const char *fix) {
    char path[1200];
    npy_array xa, ref[3];
    float *x = NULL;
    snprintf(path, sizeof(path), "%s/%s_%s_x.npy", dir, tag, fix);
    if (load_f32(path, &xa, &x) != 0) {
        CHECK(!"cannot load input");
        return;
    }
    CHECK(xa.ndim == 4 && xa.shape[1] == 3 && xa.shape[2] == xa.shape[3]);
    const int n = (int)xa.shape[0], S = (int)xa.shape[2];
    int hs[3];
    bb_feature_sizes(S, &hs[0], &hs[1], &hs[2]);
    float *out[3];
    for (int L = 0; L < 3; L++) {
        snprintf(path, sizeof(path), "%s/%s_%s_l%d.npy", dir, tag, fix, L + 1);
        if (npy_load(path, &ref[L]) != 0) {
            CHECK(!"cannot load golden");
            return;
        }
        /* spec channels and grid sizes agree with torchvision's */
        CHECK(ref[L].ndim == 4 && ref[L].shape[0] == n);
        CHECK(ref[L].shape[1] == w->spec.channels[L]);
        CHECK(ref[L].shape[2] == hs[L] && ref[L].shape[3] == hs[L]);
        out[L] = malloc(sizeof(float) * (size_t)ref[L].count);
    }
    if (test_failures) return;
    /* runs: 0 = OpenBLAS; 1 = Winograd; 2, 3 = oneDNN (with its default Winograd steps) on
     * all n images (fresh plan, reused plan); 4 = oneDNN on the first image alone (compared
     * with the first image's golden); 5 = oneDNN with Winograd for every 3x3 stride-1 conv
     * (PADIM_WINOGRAD_MIN=8); 6 = oneDNN's direct convs only (PADIM_WINOGRAD_MIN=0); 7, 8 =
     * every 3x3 stride-1 conv by Winograd F(2x2, 3x3), F(4x4, 3x3) (PADIM_WINOGRAD_TILE);
     * 9 = F(4x4, 3x3) in chunks of 4 tiles (PADIM_WINOGRAD_CHUNK), so that both ways of
     * splitting the tiles across threads run at every layer */
    static const char *const run_name[10] = {"openblas",          "winograd",          "onednn",
                                             "onednn again",      "onednn n=1",        "onednn+winograd all",
                                             "onednn direct",     "onednn+F(2x2) all", "onednn+F(4x4) all",
                                             "F(4x4) chunks of 4"};
    const int runs = bb_dnnl_available() ? 10 : 2;
    for (int threads = 1; threads <= 2; threads++) {
        bb_dnnl_net *net = NULL;
        if (runs > 2) CHECK_OK(bb_dnnl_create(w, S, threads, 0, &net));
        for (int run = 0; run < runs && !test_failures; run++) {
            const int nn = run == 4 ? 1 : n;
            for (int L = 0; L < 3; L++)
                for (int64_t i = 0; i < ref[L].count; i++) out[L][i] = NAN; /* every value written */
            if (run >= 5) { /* a net of its own with the Winograd threshold of this run */
                bb_dnnl_destroy(net);
                setenv("PADIM_WINOGRAD_MIN", run == 6 ? "0" : "8", 1);
                if (run >= 7) setenv("PADIM_WINOGRAD_TILE", run == 7 ? "2" : "4", 1);
                if (run == 9) setenv("PADIM_WINOGRAD_CHUNK", "4", 1);
                CHECK_OK(bb_dnnl_create(w, S, threads, 0, &net));
                unsetenv("PADIM_WINOGRAD_MIN");
                unsetenv("PADIM_WINOGRAD_TILE");
                unsetenv("PADIM_WINOGRAD_CHUNK");
            }
            if (run == 0)
                CHECK_OK(bb_forward_cpu(w, x, n, S, threads, out[0], out[1], out[2]));
            else if (run == 1)
                CHECK_OK(bb_forward_cpu_ex(w, prep, x, n, S, threads, out[0], out[1], out[2]));
            else
                CHECK_OK(bb_dnnl_forward(net, x, nn, out[0], out[1], out[2]));
            for (int L = 0; L < 3; L++) {
                const int64_t count = ref[L].count / n * nn;
                double mx = 0;
                for (int64_t i = 0; i < count; i++) mx = fmax(mx, fabs(ref[L].data[i]));
                char what[160];
                snprintf(what, sizeof(what), "%s %s layer%d threads=%d %s", tag, fix, L + 1, threads,
                         run_name[run]);
                const double err = compare_f32(what, out[L], ref[L].data, count, TOL_ABS_OF_MAX * mx, TOL_REL);
                fprintf(stderr, "%s: max|ref| %.4g, max err / max|ref| %.3g\n", what, mx,
                        mx > 0 ? err / mx : err);
            }
        }
        bb_dnnl_destroy(net);
    }
    for (int L = 0; L < 3; L++) {
        free(out[L]);
        npy_free(&ref[L]);
    }
    npy_free(&xa);
    free(x);
}

static void test_args(const bb_weights *w) {
    float x[3 * 32 * 32] = {0}, o[1];
    CHECK(bb_forward_cpu(w, x, 0, 32, 1, o, o, o) == PADIM_ERR_ARG);
    CHECK(bb_forward_cpu(w, x, 1, 0, 1, o, o, o) == PADIM_ERR_ARG);
    CHECK(bb_forward_cpu(w, NULL, 1, 32, 1, o, o, o) == PADIM_ERR_ARG);
}

/* The backbone table against torchvision's architecture facts (channels of layer1..3,
 * number of convolutions to layer3) and REFERENCE.md's default d; names round-trip, an
 * unknown name or kind is refused. */
static void test_table(void) {
    static const struct {
        padim_backbone_kind kind;
        const char *name;
        int c[3], n_convs, d;
    } want[] = {{PADIM_BACKBONE_RESNET18, "resnet18", {64, 128, 256}, 15, 100},
                {PADIM_BACKBONE_WIDE_RESNET50_2, "wide_resnet50_2", {256, 512, 1024}, 43, 550}};
    for (int i = 0; i < 2; i++) {
        bb_spec s;
        bb_spec_init(&s, want[i].kind);
        CHECK(!strcmp(padim_backbone_name(want[i].kind), want[i].name));
        padim_backbone_kind k = (padim_backbone_kind)99;
        CHECK_OK(padim_backbone_parse(want[i].name, &k));
        CHECK(k == want[i].kind);
        CHECK(s.n_convs == want[i].n_convs);
        for (int l = 0; l < 3; l++) CHECK(s.channels[l] == want[i].c[l]);
        CHECK(padim_backbone_channels(want[i].kind) == want[i].c[0] + want[i].c[1] + want[i].c[2]);
        CHECK(bb_channels_total(&s) == padim_backbone_channels(want[i].kind));
        CHECK(padim_backbone_default_d(want[i].kind) == want[i].d);
        padim_config cfg;
        padim_config_default(&cfg, want[i].kind, PADIM_PRESET_ANOMALIB);
        CHECK(cfg.d == want[i].d);
        cfg.d = padim_backbone_channels(want[i].kind);
        CHECK_OK(padim_config_validate(&cfg));
        cfg.d++;
        CHECK(padim_config_validate(&cfg) == PADIM_ERR_ARG);
    }
    padim_backbone_kind k;
    CHECK_OK(padim_backbone_parse("wrn50", &k));
    CHECK(k == PADIM_BACKBONE_WIDE_RESNET50_2);
    CHECK(padim_backbone_parse("resnet50", &k) == PADIM_ERR_ARG);
    CHECK(strstr(padim_last_error(), "resnet18") && strstr(padim_last_error(), "wide_resnet50_2"));
    const padim_backbone_kind bad = (padim_backbone_kind)7;
    CHECK(padim_backbone_name(bad) == NULL && padim_backbone_channels(bad) == 0);
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    cfg.backbone = bad;
    CHECK(padim_config_validate(&cfg) == PADIM_ERR_ARG);
}

int main(int argc, char **argv) {
    bb_weights w;
    if (argc == 1) test_table();
    if (argc == 3 && !strcmp(argv[1], "--wrn50")) {
        char path[1100];
        snprintf(path, sizeof(path), "%s/wrn50_random.safetensors", argv[2]);
        CHECK_OK(bb_weights_load(path, PADIM_BACKBONE_WIDE_RESNET50_2, &w));
        if (test_failures) return test_finish("test_backbone --wrn50");
        bb_cpu_prep prep;
        CHECK_OK(bb_cpu_prep_make(&w, 0, &prep));
        for (int i = 0; i < N_FIXTURES; i++) run_fixture(&w, &prep, argv[2], "wrn50", fixtures[i]);
        bb_cpu_prep_free(&prep);
        bb_weights_free(&w);
        return test_finish("test_backbone --wrn50");
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_backbone [--wrn50 DIR]\n");
        return 2;
    }
    const char *wpath = PADIM_SOURCE_DIR "/weights/resnet18_tv_in1k.safetensors";
    FILE *f = fopen(wpath, "rb");
    if (!f) test_skip("weights/resnet18_tv_in1k.safetensors is missing (converted from "
                      "../shared/weights/resnet18_tv_in1k_bnfolded by the weights tooling)");
    fclose(f);
    CHECK_OK(bb_weights_load(wpath, PADIM_BACKBONE_RESNET18, &w));
    if (test_failures) return test_finish("test_backbone");
    test_args(&w);
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s", golden_path("backbone"));
    bb_cpu_prep prep;
    CHECK_OK(bb_cpu_prep_make(&w, 0, &prep));
    for (int i = 0; i < N_FIXTURES; i++) run_fixture(&w, &prep, dir, "r18", fixtures[i]);
    bb_cpu_prep_free(&prep);
    bb_weights_free(&w);
    return test_finish("test_backbone");
}
