/*
 * test_dataset.c - src/host/dataset.c on temporary folder layouts under /tmp (tiny PNGs
 * written with stb_image_write): MVTec pairing and order, missing / orphan masks (errors
 * naming the files), no ground_truth/, a category without defective images, the generic
 * layout with and without masks/, empty folders; MVTec AD 2, converted and raw VisA
 * (split CSV), layout detection and the strict checks (stray files and folders, missing
 * masks, CSV errors, each naming the file); and mask_load_eval against torch /
 * torchvision+PIL goldens of tests/ref_metrics.py (tests/golden/metrics/mask_*).
 */
#include "eval/dataset.h"
#include "eval/mask.h"
#include "eval/metrics.h"
#include "test_util.h"

#include <errno.h>
#include <stb_image_write.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

/* Create every folder of root/rel's parent chain and write a w x h gray PNG. */
static void write_png(const char *rel, int w, int h, uint8_t value) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) fprintf(stderr, "mkdir %s failed\n", path);
            *p = '/';
        }
    uint8_t *px = malloc((size_t)w * h);
    memset(px, value, (size_t)w * h);
    if (!stbi_write_png(path, w, h, 1, px, w)) {
        fprintf(stderr, "cannot write %s\n", path);
        test_failures++;
    }
    free(px);
}

static void touch(const char *rel) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

static void rm(const char *rel) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (unlink(path) != 0) fprintf(stderr, "unlink %s failed\n", path);
}

static const char *at(const char *rel) {
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return path;
}

/* Expect a failure whose message contains both needles (NULL = no check). */
static void expect_error(padim_status s, const char *a, const char *b) {
    if (s == PADIM_OK) {
        fprintf(stderr, "expected an error mentioning '%s', got PADIM_OK\n", a ? a : "");
        test_failures++;
        return;
    }
    const char *msg = padim_last_error();
    fprintf(stderr, "  (expected error) %s\n", msg);
    if ((a && !strstr(msg, a)) || (b && !strstr(msg, b))) {
        fprintf(stderr, "error message lacks '%s' / '%s'\n", a ? a : "", b ? b : "");
        test_failures++;
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static void mvtec_layout(void) {
    write_png("bottle/train/good/000.png", 8, 6, 10);
    write_png("bottle/train/good/001.png", 8, 6, 10);
    write_png("bottle/test/good/000.png", 8, 6, 10);
    write_png("bottle/test/good/001.PNG", 8, 6, 10); /* extension case ignored */
    touch("bottle/test/good/readme.txt");            /* not an image */
    write_png("bottle/test/good/.hidden.png", 8, 6, 10);
    write_png("bottle/test/broken/000.png", 8, 6, 10);
    write_png("bottle/test/broken/001.png", 8, 6, 10);
    write_png("bottle/test/crack/000.png", 8, 6, 10);
    write_png("bottle/ground_truth/broken/000_mask.png", 8, 6, 255);
    write_png("bottle/ground_truth/broken/001_mask.png", 8, 6, 255);
    write_png("bottle/ground_truth/crack/000_mask.png", 8, 6, 255);

    char cat[512];
    snprintf(cat, sizeof(cat), "%s", at("bottle"));
    padim_testset ts;
    CHECK_OK(testset_load(cat, &ts)); /* auto-detects MVTec from test/ */
    CHECK(ts.n == 5 && ts.n_good == 2 && ts.n_defective == 3 && ts.has_masks == 1);
    if (ts.n == 5) {
        /* sub-folders in byte order: broken, crack, good */
        static const char *img[5] = {"test/broken/000.png", "test/broken/001.png",
                                     "test/crack/000.png", "test/good/000.png", "test/good/001.PNG"};
        static const char *msk[5] = {"ground_truth/broken/000_mask.png",
                                     "ground_truth/broken/001_mask.png",
                                     "ground_truth/crack/000_mask.png", NULL, NULL};
        static const char *typ[5] = {"broken", "broken", "crack", "good", "good"};
        for (int i = 0; i < 5; i++) {
            CHECK(ends_with(ts.paths[i], img[i]));
            CHECK(!strncmp(ts.paths[i], cat, strlen(cat)));
            CHECK(ts.labels[i] == (i < 3));
            CHECK(!strcmp(ts.defect_types[i], typ[i]));
            if (msk[i]) CHECK(ts.mask_paths[i] && ends_with(ts.mask_paths[i], msk[i]));
            else CHECK(ts.mask_paths[i] == NULL);
        }
    }
    testset_free(&ts);
    CHECK(ts.n == 0 && ts.paths == NULL);

    char **train;
    int64_t nt;
    CHECK_OK(trainset_list_mvtec(cat, &train, &nt));
    CHECK(nt == 2 && ends_with(train[0], "train/good/000.png"));
    padim_free_paths(train, nt);

    /* A defective image without its mask: both the image and the expected mask named. */
    rm("bottle/ground_truth/crack/000_mask.png");
    expect_error(testset_load_mvtec(cat, &ts), "test/crack/000.png", "ground_truth/crack/000_mask.png");
    CHECK(ts.n == 0 && ts.paths == NULL); /* nothing half-built is left */
    write_png("bottle/ground_truth/crack/000_mask.png", 8, 6, 255);

    /* A mask without its image. */
    write_png("bottle/ground_truth/broken/007_mask.png", 8, 6, 255);
    expect_error(testset_load_mvtec(cat, &ts), "ground_truth/broken/007_mask.png", "test/broken/007");
    rm("bottle/ground_truth/broken/007_mask.png");
    /* Masks of a defect type that has no test folder. */
    write_png("bottle/ground_truth/scratch/000_mask.png", 8, 6, 255);
    expect_error(testset_load_mvtec(cat, &ts), "ground_truth/scratch/000_mask.png", NULL);
    rm("bottle/ground_truth/scratch/000_mask.png");
    CHECK_OK(testset_load_mvtec(cat, &ts));
    testset_free(&ts);

    /* Not a category folder. */
    expect_error(testset_load_mvtec(at("bottle/train"), &ts), "test", "missing");
    expect_error(trainset_list_mvtec(at("bottle/test"), &train, &nt), "train/good", NULL);
}

/* MVTec without ground_truth/: image metrics only. A category with good images only. */
static void mvtec_without_masks(void) {
    write_png("nomask/test/good/000.png", 4, 4, 0);
    write_png("nomask/test/good/001.png", 4, 4, 0);
    write_png("nomask/test/cut/000.png", 4, 4, 0);
    padim_testset ts;
    CHECK_OK(testset_load(at("nomask"), &ts));
    CHECK(ts.n == 3 && ts.has_masks == 0 && ts.n_defective == 1);
    for (int64_t i = 0; i < ts.n; i++) CHECK(ts.mask_paths[i] == NULL);
    testset_free(&ts);

    write_png("goodonly/test/good/000.png", 4, 4, 0);
    write_png("goodonly/test/good/001.png", 4, 4, 0);
    write_png("goodonly/ground_truth/.keep.png", 4, 4, 0);
    CHECK_OK(testset_load(at("goodonly"), &ts));
    CHECK(ts.n == 2 && ts.n_defective == 0 && ts.n_good == 2);
    if (ts.n == 2) {
        const float scores[2] = {1.0f, 2.0f};
        CHECK(metric_auroc(scores, ts.labels, ts.n) == METRIC_UNAVAILABLE);
        CHECK(metric_best_f1(scores, ts.labels, ts.n).f1 == METRIC_UNAVAILABLE);
    }
    testset_free(&ts);
}

static void generic_layout(void) {
    write_png("mine/good/a.png", 5, 5, 0);
    write_png("mine/good/b.jpg.png", 5, 5, 0);
    write_png("mine/defective/c.png", 5, 5, 0);
    write_png("mine/defective/d.png", 5, 5, 0);
    padim_testset ts;
    CHECK_OK(testset_load(at("mine"), &ts)); /* no test/: generic */
    CHECK(ts.n == 4 && ts.n_good == 2 && ts.n_defective == 2 && ts.has_masks == 0);
    for (int64_t i = 0; i < ts.n; i++) CHECK(ts.mask_paths[i] == NULL);
    if (ts.n == 4) {
        CHECK(ends_with(ts.paths[0], "defective/c.png") && ts.labels[0] == 1);
        CHECK(!strcmp(ts.defect_types[0], "defective"));
        CHECK(ends_with(ts.paths[3], "good/b.jpg.png") && ts.labels[3] == 0);
    }
    testset_free(&ts);

    /* masks/ by stem: <stem>.<ext>, <stem>_mask.<ext>, flat or in masks/<defect>/. */
    write_png("mine/masks/c.png", 5, 5, 255);
    write_png("mine/masks/defective/d_mask.png", 5, 5, 255);
    write_png("mine/scratch/e.png", 5, 5, 0);
    write_png("mine/masks/e_mask.bmp.png", 5, 5, 255); /* stem "e_mask.bmp": not e's */
    expect_error(testset_load_folder(at("mine"), &ts), "scratch/e.png", "masks/e_mask.png");
    rm("mine/masks/e_mask.bmp.png");
    write_png("mine/masks/e_mask.png", 5, 5, 255);
    CHECK_OK(testset_load_folder(at("mine"), &ts));
    CHECK(ts.n == 5 && ts.has_masks == 1 && ts.n_defective == 3);
    if (ts.n == 5) {
        CHECK(ts.mask_paths[0] && ends_with(ts.mask_paths[0], "masks/c.png"));
        CHECK(ts.mask_paths[1] && ends_with(ts.mask_paths[1], "masks/defective/d_mask.png"));
        CHECK(ts.mask_paths[4] && ends_with(ts.mask_paths[4], "masks/e_mask.png"));
        CHECK(!strcmp(ts.defect_types[4], "scratch") && ts.labels[4] == 1);
        CHECK(ts.mask_paths[2] == NULL && ts.mask_paths[3] == NULL);
    }
    testset_free(&ts);

    /* Two masks for one image; a mask for nothing. */
    write_png("mine/masks/c_mask.png", 5, 5, 255);
    expect_error(testset_load_folder(at("mine"), &ts), "masks/c.png", "masks/c_mask.png");
    rm("mine/masks/c_mask.png");
    write_png("mine/masks/zz.png", 5, 5, 255);
    expect_error(testset_load_folder(at("mine"), &ts), "masks/zz.png", "no defective image");
    rm("mine/masks/zz.png");
    CHECK_OK(testset_load_folder(at("mine"), &ts));
    testset_free(&ts);
}

static void empty_folders(void) {
    char path[512];
    snprintf(path, sizeof(path), "%s", at("empty"));
    CHECK(mkdir(path, 0755) == 0);
    padim_testset ts;
    expect_error(testset_load(path, &ts), "empty", "no image folders");
    char **p;
    int64_t n;
    expect_error(padim_list_images(path, 0, &p, &n), "no images found", ".png");
    snprintf(path, sizeof(path), "%s", at("empty/good"));
    CHECK(mkdir(path, 0755) == 0);
    expect_error(testset_load(at("empty"), &ts), "no test images", NULL);
    write_png("emptytest/test/good/x.txt.bak", 1, 1, 0);
    expect_error(testset_load(at("emptytest"), &ts), "no test images", NULL);
}

/* mask_load_eval against the torch / torchvision goldens. */
static void mask_case(const char *name, padim_preset preset, int resize, int crop) {
    char file[256];
    npy_array in, out;
    snprintf(file, sizeof(file), "metrics/mask_%s_in.npy", name);
    if (npy_load(golden_path(file), &in)) {
        test_failures++;
        return;
    }
    snprintf(file, sizeof(file), "metrics/mask_%s_out.npy", name);
    if (npy_load(golden_path(file), &out)) {
        test_failures++;
        npy_free(&in);
        return;
    }
    int h = (int)in.shape[0], w = (int)in.shape[1], S = (int)out.shape[0];
    uint8_t *px = malloc((size_t)in.count);
    for (int64_t i = 0; i < in.count; i++) px[i] = (uint8_t)in.data[i];
    snprintf(file, sizeof(file), "mask_%s.png", name);
    const char *path = at(file);
    CHECK(stbi_write_png(path, w, h, 1, px, w));
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, preset);
    cfg.resize = resize;
    cfg.crop = crop;
    CHECK(padim_config_input_size(&cfg) == S);
    uint8_t *got = calloc((size_t)S * S, 1);
    CHECK_OK(mask_load_eval(path, "img.png", w, h, &cfg, 127, got));
    int64_t diff = 0, ones = 0;
    for (int64_t i = 0; i < (int64_t)S * S; i++) {
        diff += got[i] != (uint8_t)out.data[i];
        ones += got[i];
    }
    fprintf(stderr, "mask %s: %dx%d -> %dx%d, %lld ones, %lld differences\n", name, w, h, S, S,
            (long long)ones, (long long)diff);
    CHECK(diff == 0 && ones > 0);
    /* Size mismatch names both files and sizes. */
    char expect[64];
    snprintf(expect, sizeof(expect), "%dx%d", w + 1, h);
    expect_error(mask_load_eval(path, "the_image.png", w + 1, h, &cfg, 127, got), "the_image.png",
                 expect);
    free(got);
    free(px);
    npy_free(&in);
    npy_free(&out);
}

static void masks(void) {
    mask_case("anomalib_down", PADIM_PRESET_ANOMALIB, 64, 0);
    mask_case("anomalib_up", PADIM_PRESET_ANOMALIB, 29, 0);
    mask_case("paper_wide", PADIM_PRESET_PAPER, 32, 24);
    mask_case("paper_tall", PADIM_PRESET_PAPER, 32, 24);
    mask_case("paper_odd", PADIM_PRESET_PAPER, 37, 30);

    /* RGB masks: any colour channel > 127 is defective; 127 is not. */
    uint8_t rgb[2 * 3] = {128, 0, 0, 127, 127, 127};
    const char *path = at("rgb_mask.png");
    CHECK(stbi_write_png(path, 2, 1, 3, rgb, 6));
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    cfg.resize = 2;
    uint8_t got[4] = {9, 9, 9, 9};
    CHECK_OK(mask_load_eval(path, NULL, 2, 1, &cfg, 127, got));
    CHECK(got[0] == 1 && got[1] == 0 && got[2] == 1 && got[3] == 0);
}

static void write_text(const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) test_failures++;
    if (f) fclose(f);
}

static padim_dataset_kind detect(const char *rel) {
    padim_dataset_kind k = PADIM_DATASET_AUTO;
    CHECK_OK(padim_dataset_detect(at(rel), &k));
    return k;
}

static void mvtec_ad2_layout(void) {
    write_png("ad2/can/train/good/000_regular.png", 8, 6, 10);
    write_png("ad2/can/train/good/001_regular.png", 8, 6, 10);
    write_png("ad2/can/validation/good/000_regular.png", 8, 6, 10);
    write_png("ad2/can/test_public/good/000_regular.png", 8, 6, 10);
    write_png("ad2/can/test_public/bad/000_regular.png", 8, 6, 10);
    write_png("ad2/can/test_public/bad/001_regular.png", 8, 6, 10);
    write_png("ad2/can/test_public/ground_truth/bad/000_regular_mask.png", 8, 6, 255);
    write_png("ad2/can/test_public/ground_truth/bad/001_regular_mask.png", 8, 6, 255);
    write_png("ad2/can/test_private/000_regular.png", 8, 6, 10);
    write_png("ad2/can/test_private_mixed/000_mixed.png", 8, 6, 10);
    CHECK(detect("ad2/can") == PADIM_DATASET_MVTEC_AD2);
    padim_testset ts;
    CHECK_OK(testset_load_kind(at("ad2/can"), PADIM_DATASET_AUTO, &ts));
    CHECK(ts.n == 3 && ts.n_good == 1 && ts.n_defective == 2 && ts.has_masks && ts.mask_cut == 127 &&
          ts.kind == PADIM_DATASET_MVTEC_AD2);
    CHECK(ts.n == 3 && ends_with(ts.mask_paths[0], "test_public/ground_truth/bad/000_regular_mask.png") &&
          !strcmp(ts.defect_types[0], "bad") && !ts.mask_paths[2]);
    testset_free(&ts);
    char **p;
    int64_t n;
    CHECK_OK(padim_dataset_train_images(at("ad2/can"), PADIM_DATASET_AUTO, &p, &n));
    CHECK(n == 2 && ends_with(p[1], "train/good/001_regular.png"));
    padim_free_paths(p, n);
    /* Strictness: a stray file, a stray folder, a missing mask: each error names it. */
    touch("ad2/can/test_public/good/notes.txt");
    expect_error(testset_load_mvtec_ad2(at("ad2/can"), &ts), "test_public/good/notes.txt", "stray file");
    rm("ad2/can/test_public/good/notes.txt");
    write_png("ad2/can/test_public/scratch/000.png", 8, 6, 10);
    expect_error(testset_load_mvtec_ad2(at("ad2/can"), &ts), "test_public/scratch", "stray folder");
    rm("ad2/can/test_public/scratch/000.png");
    rmdir(at("ad2/can/test_public/scratch"));
    rm("ad2/can/test_public/ground_truth/bad/001_regular_mask.png");
    expect_error(testset_load_mvtec_ad2(at("ad2/can"), &ts), "test_public/bad/001_regular.png",
                 "ground_truth/bad/001_regular_mask.png");
    write_png("ad2/can/test_public/ground_truth/bad/001_regular_mask.png", 8, 6, 255);
    write_png("ad2/can/test_public/ground_truth/bad/007_regular_mask.png", 8, 6, 255);
    expect_error(testset_load_mvtec_ad2(at("ad2/can"), &ts), "007_regular_mask.png", "has no image");
    rm("ad2/can/test_public/ground_truth/bad/007_regular_mask.png");
    CHECK_OK(testset_load_mvtec_ad2(at("ad2/can"), &ts));
    testset_free(&ts);
}

static void visa_layouts(void) {
    /* Converted by anomalib: masks named like the images, nonzero = defect. */
    write_png("visa_pytorch/pcb1/train/good/0000.png", 8, 6, 10);
    write_png("visa_pytorch/pcb1/test/good/0001.png", 8, 6, 10);
    write_png("visa_pytorch/pcb1/test/bad/000.png", 8, 6, 10);
    write_png("visa_pytorch/pcb1/ground_truth/bad/000.png", 8, 6, 1);
    CHECK(detect("visa_pytorch/pcb1") == PADIM_DATASET_VISA);
    CHECK(detect("bottle") == PADIM_DATASET_MVTEC_AD);
    CHECK(detect("mine") == PADIM_DATASET_FOLDER);
    padim_testset ts;
    CHECK_OK(testset_load_kind(at("visa_pytorch/pcb1"), PADIM_DATASET_AUTO, &ts));
    CHECK(ts.n == 2 && ts.n_defective == 1 && ts.mask_cut == 0 && ts.kind == PADIM_DATASET_VISA &&
          ends_with(ts.mask_paths[0], "ground_truth/bad/000.png"));
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    cfg.resize = 16;
    uint8_t m[256];
    CHECK_OK(mask_load_eval(ts.mask_paths[0], ts.paths[0], 8, 6, &cfg, ts.mask_cut, m));
    CHECK(m[0] == 1 && m[255] == 1); /* value 1: a defect under the VisA rule */
    testset_free(&ts);
    /* The same folder read as MVTec AD wants <stem>_mask names. */
    expect_error(testset_load_kind(at("visa_pytorch/pcb1"), PADIM_DATASET_MVTEC_AD, &ts), "test/bad/000.png",
                 "ground_truth/bad/000_mask.png");

    /* Raw: Data/ folders and split_csv/1cls.csv beside the categories. */
    write_png("visa/pcb1/Data/Images/Normal/0000.JPG", 8, 6, 10);
    write_png("visa/pcb1/Data/Images/Normal/0001.JPG", 8, 6, 10);
    write_png("visa/pcb1/Data/Images/Normal/0002.JPG", 8, 6, 10);
    write_png("visa/pcb1/Data/Images/Anomaly/000.JPG", 8, 6, 10);
    write_png("visa/pcb1/Data/Masks/Anomaly/000.png", 8, 6, 3);
    write_png("visa/pcb2/Data/Images/Normal/0000.JPG", 8, 6, 10);
    write_png("visa/split_csv/.keep.png", 1, 1, 0);
    const char *csv = "object,split,label,image,mask\n"
                      "pcb1,train,normal,pcb1/Data/Images/Normal/0001.JPG,\n"
                      "pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,\n"
                      "pcb2,train,normal,pcb2/Data/Images/Normal/0000.JPG,\n"
                      "pcb1,test,normal,pcb1/Data/Images/Normal/0002.JPG,\n"
                      "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\n";
    write_text("visa/split_csv/1cls.csv", csv);
    CHECK(detect("visa/pcb1") == PADIM_DATASET_VISA);
    CHECK_OK(testset_load_kind(at("visa/pcb1"), PADIM_DATASET_VISA, &ts));
    CHECK(ts.n == 2 && ts.n_good == 1 && ts.n_defective == 1 && ts.mask_cut == 0 &&
          ends_with(ts.paths[0], "visa/pcb1/Data/Images/Anomaly/000.JPG") &&
          ends_with(ts.mask_paths[0], "visa/pcb1/Data/Masks/Anomaly/000.png") && !strcmp(ts.defect_types[1], "good"));
    testset_free(&ts);
    char **p;
    int64_t n;
    CHECK_OK(padim_dataset_train_images(at("visa/pcb1"), PADIM_DATASET_AUTO, &p, &n));
    CHECK(n == 2 && ends_with(p[0], "Normal/0000.JPG") && ends_with(p[1], "Normal/0001.JPG"));
    padim_free_paths(p, n);
    /* A stray image, a missing mask, an anomaly row without a mask, a bad header. */
    write_png("visa/pcb1/Data/Images/Anomaly/001.JPG", 8, 6, 10);
    expect_error(testset_load_kind(at("visa/pcb1"), PADIM_DATASET_AUTO, &ts), "Anomaly/001.JPG", "stray file");
    rm("visa/pcb1/Data/Images/Anomaly/001.JPG");
    rm("visa/pcb1/Data/Masks/Anomaly/000.png");
    expect_error(testset_load_kind(at("visa/pcb1"), PADIM_DATASET_AUTO, &ts), "Masks/Anomaly/000.png", "1cls.csv:6");
    write_png("visa/pcb1/Data/Masks/Anomaly/000.png", 8, 6, 3);
    write_text("visa/split_csv/1cls.csv", "object,split,label,image,mask\n"
                                           "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,\n");
    expect_error(testset_load_kind(at("visa/pcb1"), PADIM_DATASET_AUTO, &ts), "1cls.csv:2", "no mask");
    write_text("visa/split_csv/1cls.csv", "object,split,image\n");
    expect_error(testset_load_kind(at("visa/pcb1"), PADIM_DATASET_AUTO, &ts), "1cls.csv:1", "header");
    write_text("visa/split_csv/1cls.csv", csv);
    CHECK_OK(testset_load_kind(at("visa/pcb1/"), PADIM_DATASET_AUTO, &ts)); /* trailing slash */
    testset_free(&ts);
    padim_dataset_kind k;
    CHECK_OK(padim_dataset_parse("mvtec_ad2", &k));
    CHECK(k == PADIM_DATASET_MVTEC_AD2 && !strcmp(padim_dataset_name(PADIM_DATASET_VISA), "visa"));
    expect_error(padim_dataset_parse("mvtec", &k), "mvtec_ad2", "folder");
}

/* The real MVTec bottle category (skipped without ../shared): layout counts and the
 * defect-pixel count of every mask at both presets' evaluation sizes. */
static void bottle(void) {
    const char *cat = shared_path("data/mvtec_ad/bottle");
    padim_testset ts;
    char probe[1024];
    snprintf(probe, sizeof(probe), "%s/test", cat);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        fprintf(stderr, "bottle: %s absent, real-data checks skipped\n", cat);
        return;
    }
    npy_array ref;
    if (npy_load(golden_path("metrics/bottle_mask_counts.npy"), &ref)) {
        test_failures++;
        return;
    }
    CHECK_OK(testset_load(cat, &ts));
    CHECK(ts.n == 83 && ts.n_good == 20 && ts.n_defective == 63 && ts.has_masks);
    char **train;
    int64_t nt;
    CHECK_OK(trainset_list_mvtec(cat, &train, &nt));
    CHECK(nt == 209);
    padim_free_paths(train, nt);
    padim_config cfg[2];
    padim_config_default(&cfg[0], PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    padim_config_default(&cfg[1], PADIM_BACKBONE_RESNET18, PADIM_PRESET_PAPER);
    uint8_t *m = malloc(256 * 256);
    int64_t k = 0, bad = 0, total[2] = {0, 0};
    for (int64_t i = 0; i < ts.n && k < ref.shape[0]; i++) {
        if (!ts.labels[i]) continue;
        for (int p = 0; p < 2; p++) {
            int S = padim_config_input_size(&cfg[p]);
            CHECK_OK(mask_load_eval(ts.mask_paths[i], ts.paths[i], 900, 900, &cfg[p], 127, m));
            int64_t ones = 0;
            for (int64_t j = 0; j < (int64_t)S * S; j++) ones += m[j];
            total[p] += ones;
            bad += ones != (int64_t)ref.data[k * 2 + p];
        }
        k++;
    }
    fprintf(stderr, "bottle: %lld test images, %lld masks, defect pixels anomalib %lld paper %lld, "
            "%lld mismatching masks\n", (long long)ts.n, (long long)k, (long long)total[0],
            (long long)total[1], (long long)bad);
    CHECK(k == ref.shape[0] && bad == 0);
    free(m);
    npy_free(&ref);
    testset_free(&ts);
}

int main(void) {
    snprintf(root, sizeof(root), "/tmp/padim_dataset_XXXXXX");
    if (!mkdtemp(root)) test_skip("mkdtemp failed");
    mvtec_layout();
    mvtec_without_masks();
    generic_layout();
    empty_folders();
    masks();
    mvtec_ad2_layout();
    visa_layouts();
    bottle();
    int rc = test_finish("test_dataset");
    if (rc == 0) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    } else {
        fprintf(stderr, "test files kept in %s\n", root);
    }
    return rc;
}
