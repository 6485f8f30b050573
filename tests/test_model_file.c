/*
 * test_model_file.c - model files (model.c): save/load round trip of a small model made
 * with padim_model_alloc and seeded random arrays (fp32 factor bit-exact, fp16 factor
 * within fp16 rounding, relative error < 1e-3; doubles in the metadata exact), the
 * metadata and tensor layout read back with the plain safetensors reader, and refusals:
 * truncated file, newer version (PADIM_ERR_MISMATCH), wrong kind of file, missing or
 * unparseable metadata, inconsistent sizes, bad indices, missing backbone tensor; a failed
 * save leaves no file behind.
 */
#include "cpu/ops.h"
#include "padim_internal.h"
#include "safetensors.h"
#include "st_writer.h"

#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* R18 at input 32 (grid 8x8, P = 64), D = 10, random statistics and weights. */
static padim_model *make_model(int fp16) {
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    cfg.resize = 32;
    cfg.crop = 0;
    cfg.d = 10;
    cfg.seed = 4000000000u;
    cfg.eps = 0.01 + 1e-5;
    cfg.sigma = 4.0 / 3.0;
    cfg.batch = 3;
    cfg.factor_fp16 = fp16;
    snprintf(cfg.weights, sizeof(cfg.weights), "weights/some \"odd\" name.safetensors");
    padim_model *m = NULL;
    CHECK_OK(padim_model_alloc(&cfg, &m));
    if (!m) return NULL;
    CHECK(m->S == 32 && m->H == 8 && m->W == 8 && m->P == 64 && m->C == 448 && m->D == 10);
    uint32_t s = 99;
    for (int i = 0; i < m->D; i++) m->idx[i] = (int32_t)((i * 37 + 5) % m->C);
    for (int64_t i = 0; i < (int64_t)m->P * m->D; i++) m->mean[i] = (float)lcg(&s) / 16777216.0f - 0.5f;
    for (int64_t i = 0; i < (int64_t)m->P * padim_tri(m->D); i++) {
        /* Magnitudes 1e-2 .. 10: inside fp16's normal range. */
        float v = 0.01f + 10.0f * (float)lcg(&s) / 16777216.0f;
        m->factor[i] = lcg(&s) & 1 ? v : -v;
    }
    CHECK_OK(bb_weights_random(PADIM_BACKBONE_RESNET18, 5, &m->weights));
    m->n_train = 17;
    return m;
}

static void check_same_config(const padim_config *a, const padim_config *b) {
    CHECK(a->backbone == b->backbone && a->preset == b->preset);
    CHECK(a->resize == b->resize && a->crop == b->crop && a->d == b->d && a->seed == b->seed);
    CHECK(a->eps == b->eps && a->sigma == b->sigma && a->batch == b->batch);
    CHECK(a->factor_fp16 == b->factor_fp16);
    CHECK(!strcmp(a->weights, b->weights));
}

static void check_same_weights(const bb_weights *a, const bb_weights *b) {
    CHECK(a->spec.n_convs == b->spec.n_convs);
    for (int i = 0; i < a->spec.n_convs; i++) {
        const bb_conv_spec *c = &a->spec.convs[i];
        if (!b->w[i] || !b->b[i]) {
            CHECK(0);
            continue;
        }
        CHECK(!memcmp(a->w[i], b->w[i], (size_t)c->cout * c->cin * c->k * c->k * sizeof(float)));
        CHECK(!memcmp(a->b[i], b->b[i], (size_t)c->cout * sizeof(float)));
    }
}

static void test_round_trip(int fp16) {
    padim_model *m = make_model(fp16);
    if (!m) return;
    padim_model_info info0;
    padim_model_get_info(m, &info0);
    CHECK(!info0.has_thresholds);
    padim_model_set_thresholds(m, 1.0 / 3.0, 2e-7, -0.1, 123.456789012345678);
    const char *path = tmp_path(fp16 ? "model16.padim" : "model32.padim");
    CHECK_OK(padim_model_save(m, path));
    padim_model *l = NULL;
    CHECK_OK(padim_model_load(path, &l));
    if (!l) {
        padim_model_free(m);
        return;
    }
    padim_model_info a, b;
    padim_model_get_info(m, &a);
    padim_model_get_info(l, &b);
    check_same_config(&a.config, &b.config);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && b.file_bytes == (int64_t)sb.st_size && a.file_bytes == 0);
    CHECK(b.input_size == 32 && b.grid_h == 8 && b.grid_w == 8 && b.channels_total == 448);
    CHECK(b.n_train == 17 && b.factor_fp16 == fp16);
    CHECK(b.has_thresholds == 1 && b.image_threshold == 1.0 / 3.0 && b.pixel_threshold == 2e-7 &&
          b.score_min == -0.1 && b.score_max == 123.456789012345678);
    CHECK(!memcmp(a.idx, b.idx, 10 * sizeof(int32_t)));
    CHECK(!memcmp(m->mean, l->mean, (size_t)m->P * m->D * sizeof(float)));
    const int64_t n = (int64_t)m->P * padim_tri(m->D);
    if (!fp16) {
        CHECK(!memcmp(m->factor, l->factor, (size_t)n * sizeof(float)));
    } else {
        double max_rel = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)l->factor[i] - m->factor[i]) / fabs((double)m->factor[i]);
            if (!(e <= max_rel)) max_rel = e; /* NaN-safe */
        }
        fprintf(stderr, "fp16 factor: max relative error %.3g over %lld values\n", max_rel, (long long)n);
        CHECK(max_rel < 1e-3);
        CHECK(max_rel > 0); /* it really went through fp16 */
    }
    check_same_weights(&m->weights, &l->weights);

    /* The layout, read with the plain reader. */
    st_file f;
    CHECK_OK(st_read(path, &f));
    const st_tensor *t = st_find(&f, "factor");
    CHECK(t && t->dtype == (fp16 ? ST_F16 : ST_F32) && t->ndim == 2 && t->shape[0] == 64 && t->shape[1] == 55);
    t = st_find(&f, "idx");
    CHECK(t && t->dtype == ST_I32 && t->ndim == 1 && t->shape[0] == 10);
    t = st_find(&f, "mean");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 64 && t->shape[1] == 10);
    t = st_find(&f, "backbone.layer2.0.downsample.0.weight");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 4 && t->shape[0] == 128 && t->shape[1] == 64);
    CHECK(f.n_tensors == 3 + 2 * 15);
    const char *want[][2] = {{"format", "padim-gpu-model"}, {"version", "1"}, {"backbone", "resnet18"},
                             {"preset", "anomalib"}, {"layers", "layer1,layer2,layer3"},
                             {"input_size", "32"}, {"seed", "4000000000"}, {"has_thresholds", "1"},
                             {"factor_dtype", fp16 ? "F16" : "F32"}, {"channels_total", "448"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *v = st_meta(&f, want[i][0]);
        if (!v || strcmp(v, want[i][1])) {
            fprintf(stderr, "metadata %s = %s, expected %s\n", want[i][0], v ? v : "(none)", want[i][1]);
            test_failures++;
        }
    }
    st_free(&f);
    fprintf(stderr, "round trip (%s factor, %lld bytes) ok\n", fp16 ? "fp16" : "fp32", (long long)b.file_bytes);
    padim_model_free(m);
    padim_model_free(l);
}

/* Copy model file src to dst with one metadata key replaced (value NULL: removed) and/or
 * one tensor replaced (data NULL: removed). */
static void rewrite(const char *src, const char *dst, const char *key, const char *value,
                    const char *tname, st_dtype dt, int ndim, const int64_t *shape, const void *data) {
    st_file f;
    CHECK_OK(st_read(src, &f));
    st_writer *w;
    CHECK_OK(st_writer_create(&w));
    for (int i = 0; i < f.n_meta; i++) {
        if (key && !strcmp(f.meta_keys[i], key)) {
            if (value) CHECK_OK(st_writer_meta(w, key, value));
        } else {
            CHECK_OK(st_writer_meta(w, f.meta_keys[i], f.meta_values[i]));
        }
    }
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        if (tname && !strcmp(t->name, tname)) {
            if (data) CHECK_OK(st_writer_add(w, tname, dt, ndim, shape, data));
        } else {
            CHECK_OK(st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data));
        }
    }
    CHECK_OK(st_writer_write(w, dst));
    st_writer_free(w);
    st_free(&f);
}

static void expect_load_error(const char *what, const char *path, padim_status want,
                              const char *needle) {
    padim_model *m = (padim_model *)&m; /* must be reset to NULL */
    padim_status s = padim_model_load(path, &m);
    const char *msg = padim_last_error();
    fprintf(stderr, "  %-22s -> %s: %s\n", what, padim_status_name(s), msg);
    if (s != want || !strstr(msg, path) || (needle && !strstr(msg, needle))) {
        fprintf(stderr, "  ^ expected %s with the path and '%s'\n", padim_status_name(want),
                needle ? needle : "");
        test_failures++;
    }
    CHECK(m == NULL);
    if (s == PADIM_OK) padim_model_free(m);
}

static void test_refusals(void) {
    const char *good = tmp_path("model32.padim"); /* from test_round_trip(0) */
    const char *bad = tmp_path("bad.padim");

    /* Truncated: the last 100 bytes missing. */
    FILE *in = fopen(good, "rb");
    CHECK(in != NULL);
    if (in) {
        fseek(in, 0, SEEK_END);
        long len = ftell(in);
        fseek(in, 0, SEEK_SET);
        char *buf = malloc((size_t)len);
        CHECK(fread(buf, 1, (size_t)len, in) == (size_t)len);
        fclose(in);
        FILE *out = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)len - 100, out);
        fclose(out);
        free(buf);
        char needle[96];
        snprintf(needle, sizeof(needle), "truncated: expected %ld bytes, file has %ld", len, len - 100);
        expect_load_error("truncated", bad, PADIM_ERR_FORMAT, needle);
    }

    rewrite(good, bad, "version", "2", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("newer version", bad, PADIM_ERR_MISMATCH, "version 2 is newer");
    rewrite(good, bad, "version", "zero", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("bad version", bad, PADIM_ERR_FORMAT, "'version'");
    rewrite(good, bad, "format", "something-else", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("wrong format", bad, PADIM_ERR_FORMAT, "not a padim-gpu model");
    char weights[4096];
    snprintf(weights, sizeof(weights), "%s/weights/resnet18_tv_in1k.safetensors", PADIM_SOURCE_DIR);
    expect_load_error("weights as a model", weights, PADIM_ERR_FORMAT, "not a padim-gpu model");

    rewrite(good, bad, "eps", NULL, NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("missing eps", bad, PADIM_ERR_FORMAT, "'eps' is missing");
    rewrite(good, bad, "sigma", "4.0x", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("unparseable sigma", bad, PADIM_ERR_FORMAT, "'sigma'");
    rewrite(good, bad, "image_threshold", NULL, NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("missing threshold", bad, PADIM_ERR_FORMAT, "'image_threshold'");
    rewrite(good, bad, "backbone", "vgg16", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("unknown backbone", bad, PADIM_ERR_FORMAT, "vgg16");
    rewrite(good, bad, "grid_h", "9", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("grid vs input size", bad, PADIM_ERR_FORMAT, "'grid_h' = 9");
    rewrite(good, bad, "d", "11", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("d vs len(idx)", bad, PADIM_ERR_FORMAT, "'idx'");
    rewrite(good, bad, "factor_dtype", "F16", NULL, ST_F32, 0, NULL, NULL);
    expect_load_error("factor dtype", bad, PADIM_ERR_FORMAT, "'factor'");

    const int64_t d10[1] = {10};
    int32_t idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    idx[7] = 3;
    rewrite(good, bad, NULL, NULL, "idx", ST_I32, 1, d10, idx);
    expect_load_error("duplicate idx", bad, PADIM_ERR_FORMAT, "appears twice");
    idx[7] = 448;
    rewrite(good, bad, NULL, NULL, "idx", ST_I32, 1, d10, idx);
    expect_load_error("idx out of range", bad, PADIM_ERR_FORMAT, "outside [0, 448)");
    const int64_t mean_shape[2] = {63, 10};
    static float mean[630];
    rewrite(good, bad, NULL, NULL, "mean", ST_F32, 2, mean_shape, mean);
    expect_load_error("mean shape", bad, PADIM_ERR_FORMAT, "expected shape (64, 10) from the metadata, found (63, 10)");
    rewrite(good, bad, NULL, NULL, "backbone.layer3.1.conv2.bias", ST_F32, 0, NULL, NULL);
    expect_load_error("missing backbone", bad, PADIM_ERR_MISMATCH, "'backbone.layer3.1.conv2.bias'");
    remove(bad);
}

/* A non-finite mean or factor (file corruption, an fp16 overflow) is refused at load. */
static void test_non_finite(void) {
    const char *bad = tmp_path("nan.padim");
    for (int which = 0; which < 2; which++) {
        padim_model *m = make_model(0);
        if (!m) return;
        if (which == 0) m->mean[7] = NAN;
        else m->factor[123] = INFINITY;
        CHECK_OK(padim_model_save(m, bad));
        padim_model_free(m);
        expect_load_error(which == 0 ? "NaN in mean" : "inf in factor", bad, PADIM_ERR_FORMAT,
                          which == 0 ? "tensor 'mean' holds a non-finite value" : "tensor 'factor' holds a non-finite value");
        remove(bad);
    }
    /* An fp16 factor that would overflow is refused at save time, nothing written. */
    padim_model *m = make_model(1);
    if (m) {
        m->factor[5] = 1e6f;
        CHECK(padim_model_save(m, bad) == PADIM_ERR_ARG && strstr(padim_last_error(), "does not fit fp16"));
        CHECK(access(bad, F_OK) != 0);
        padim_model_free(m);
    }
}

static void test_failed_save(void) {
    padim_model *m = make_model(1);
    if (!m) return;
    int before = test_count_entries(tmpdir);
    char path[600];
    snprintf(path, sizeof(path), "%s/no_such_dir/model.padim", tmpdir);
    padim_status s = padim_model_save(m, path);
    fprintf(stderr, "  save into missing dir  -> %s: %s\n", padim_status_name(s), padim_last_error());
    CHECK(s == PADIM_ERR_IO && strstr(padim_last_error(), path));
    CHECK(test_count_entries(tmpdir) == before);

    /* No backbone weights: refused before anything is written. */
    bb_weights_free(&m->weights);
    snprintf(path, sizeof(path), "%s/noweights.padim", tmpdir);
    CHECK(padim_model_save(m, path) == PADIM_ERR_ARG);
    CHECK(access(path, F_OK) != 0);
    CHECK(test_count_entries(tmpdir) == before);
    padim_model_free(m);

    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    cfg.d = 449;
    padim_model *bad = NULL;
    CHECK(padim_model_alloc(&cfg, &bad) == PADIM_ERR_ARG && bad == NULL);
    padim_model_free(NULL);
}

int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/padim_test_model_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip(0);
    test_round_trip(1);
    test_refusals();
    test_non_finite();
    test_failed_save();
    remove(tmp_path("model32.padim"));
    remove(tmp_path("model16.padim"));
    CHECK(test_count_entries(tmpdir) == 0);
    rmdir(tmpdir);
    return test_finish("test_model_file");
}
