/*
 * padim.h - the public C API of padim-gpu.
 *
 * PaDiM (Defard et al. 2020): an ImageNet CNN (ResNet-18 or Wide-ResNet-50-2, up to
 * layer3) embeds every patch of an image; fit models each patch position with a Gaussian
 * over good images; score gives each patch its Mahalanobis distance, upsampled and
 * smoothed into an anomaly map whose maximum is the image score.
 *
 * This header is the whole contract: the `padim-gpu` command line uses nothing else.
 * Conventions:
 *   - every function that can fail returns padim_status; PADIM_OK is 0. On failure a
 *     message naming the file / value / hint is available from padim_last_error()
 *     (thread-local, valid until the next failing call on the same thread).
 *   - objects returned through `**out` are owned by the caller and freed with the
 *     matching _free function; _free(NULL) is a no-op.
 *   - shapes are written as (N, C, H, W) row-major, N images, S the preprocessed side.
 */
#ifndef PADIM_H
#define PADIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PADIM_VERSION_STRING "0.1.0"
/* The version of the library actually linked (PADIM_VERSION_STRING of its build). */
const char *padim_version(void);

/* The CPU backbone this library runs by default, e.g. "oneDNN (avx2)" or "OpenBLAS im2col +
 * Winograd (built without oneDNN)"; README "CPU backbone". */
const char *padim_cpu_backbone(void);

/* The BLAS library's build and the kernel set it picked for this processor, e.g.
 * "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64 (kernels: Cooperlake)". */
const char *padim_cpu_blas(void);

/* OpenBLAS picks its kernels once, when it is loaded, from the processor's model; Debian 12's
 * 0.3.21 takes processors newer than it knows (Intel's Emerald Rapids) for a Prescott and
 * runs SSE3 kernels, several times slower. Then this returns the OPENBLAS_CORETYPE value
 * that selects the kernels the processor's features allow ("Cooperlake", "SkylakeX" or
 * "Haswell"), to set before the process starts (padim-gpu re-executes itself with it);
 * NULL when OpenBLAS's pick uses AVX2 or wider, or OPENBLAS_CORETYPE is set. */
const char *padim_cpu_blas_coretype_fix(void);

/* For programs, first thing in main: when padim_cpu_blas_coretype_fix says so, set
 * OPENBLAS_CORETYPE and re-execute this program (/proc/self/exe) with the same argv; returns
 * when nothing needs doing, when PADIM_NO_BLAS_FIX=1 is set, or when the restart failed (the
 * program then goes on with OpenBLAS's pick). Runs at most once: the variable is then set. */
void padim_cpu_blas_restart(char **argv);

/* Images per backbone batch when neither the runtime nor the config says otherwise
 * (padim_config_default's `batch`, the configs' `batch: 32`); see padim_runtime_batch. */
#define PADIM_DEFAULT_BATCH 32
/* The largest batch a model file records (fit refuses more). */
#define PADIM_MAX_BATCH (1 << 20)

typedef enum padim_status {
    PADIM_OK = 0,
    PADIM_ERR_ARG = 1,      /* invalid argument or configuration value */
    PADIM_ERR_IO = 2,       /* cannot open / read / write a file */
    PADIM_ERR_FORMAT = 3,   /* a file is corrupt, truncated or of the wrong kind */
    PADIM_ERR_MISMATCH = 4, /* a file is valid but does not fit (shape, backbone, version) */
    PADIM_ERR_NOMEM = 5,    /* host or device allocation failed */
    PADIM_ERR_DEVICE = 6,   /* no usable GPU, or the CUDA backend is not built */
    PADIM_ERR_NUMERIC = 7,  /* a numerical failure (e.g. covariance not positive definite) */
} padim_status;

/* Message for the last failure on this thread ("" when none). */
const char *padim_last_error(void);
/* Short name of a status ("PADIM_ERR_IO"). */
const char *padim_status_name(padim_status s);

/* ---------------------------------------------------------------- configuration */

typedef enum padim_preset {
    PADIM_PRESET_ANOMALIB = 0, /* squash-resize to resize x resize, torch-reflect blur */
    PADIM_PRESET_PAPER = 1,    /* shorter side to resize, center crop, scipy-reflect blur */
} padim_preset;

typedef enum padim_backbone_kind {
    PADIM_BACKBONE_RESNET18 = 0,
    PADIM_BACKBONE_WIDE_RESNET50_2 = 1,
} padim_backbone_kind;

typedef enum padim_device {
    PADIM_DEVICE_AUTO = 0, /* CUDA when built and a GPU works, else CPU */
    PADIM_DEVICE_CPU = 1,
    PADIM_DEVICE_CUDA = 2,
} padim_device;

typedef enum padim_precision {
    PADIM_PRECISION_FP32 = 0, /* exact mode (default) */
    PADIM_PRECISION_TF32 = 1, /* CUDA backbone only */
    PADIM_PRECISION_FP16 = 2, /* CUDA backbone only */
    PADIM_PRECISION_BF16 = 3, /* CUDA backbone only */
} padim_precision;

/* Everything that defines a model before it is fitted. Filled by padim_config_default()
 * and optionally padim_config_load(); every field is stored in the fitted model. */
typedef struct padim_config {
    padim_backbone_kind backbone;
    char weights[1024];  /* safetensors backbone weights (path); "random[:SEED]" = seeded
                            random weights (benchmarks and tests only) */
    padim_preset preset;
    int resize;          /* anomalib: output side of the squash resize; paper: shorter side */
    int crop;            /* paper: center crop side; anomalib: 0 (input side = resize) */
    int d;               /* kept channels (100 R18, 550 WRN50) */
    uint32_t seed;       /* seed of the channel subset (42 anomalib, 1024 paper) */
    double eps;          /* added to the covariance diagonal (0.01) */
    double sigma;        /* Gaussian blur sigma of the anomaly map (4) */
    int batch;           /* the default of padim_runtime.batch (YAML `batch`; default
                            PADIM_DEFAULT_BATCH). A fitted model stores the batch it was
                            fitted with here: the default batch of its scorers. */
    int factor_fp16;     /* store the precision factor as fp16 in the model file */
    int64_t max_pixels;  /* decoding limit (width * height) of every image read with this
                            config or the model fitted from it; 0 = PADIM_DEFAULT_MAX_PIXELS.
                            Stored in the model file (optional key, absent = 0). A
                            runtime's decode.max_pixels, when set, takes precedence. */
} padim_config;

/* Defaults of a backbone and preset (weights path left empty). */
void padim_config_default(padim_config *cfg, padim_backbone_kind backbone, padim_preset preset);
/* Read a YAML config (configs/<name>.yaml); keys not present keep cfg's current values.
 * Relative `weights` paths are resolved against the config file's directory. */
padim_status padim_config_load(const char *path, padim_config *cfg);
/* Input side in pixels after preprocessing (crop when set, else resize). */
int padim_config_input_size(const padim_config *cfg);
/* Check ranges and consistency (input side a multiple of 16, crop <= resize, d <= C). */
padim_status padim_config_validate(const padim_config *cfg);
const char *padim_preset_name(padim_preset p);              /* "anomalib" */
padim_status padim_preset_parse(const char *s, padim_preset *out);

/* The backbones are rows of one table (backbone_spec.c): name, title, embedding channels
 * C = C1 + C2 + C3, default d, block kind, weights file. Every place that needs one of
 * these reads the table; an unknown kind gives NULL / 0. */
const char *padim_backbone_name(padim_backbone_kind k);     /* "resnet18" */
const char *padim_backbone_title(padim_backbone_kind k);    /* "ResNet-18" (tables) */
int padim_backbone_channels(padim_backbone_kind k);         /* 448 (R18), 1792 (WRN50) */
int padim_backbone_default_d(padim_backbone_kind k);        /* 100 (R18), 550 (WRN50) */
/* File name of the converted weights in weights/ ("resnet18_tv_in1k.safetensors"). */
const char *padim_backbone_weights_file(padim_backbone_kind k);
/* Name or alias ("wrn50") to kind; the error lists the known names. */
padim_status padim_backbone_parse(const char *s, padim_backbone_kind *out);

/* ---------------------------------------------------------------- images */

/* A decoded image: 8-bit interleaved, channels 1 (gray), 3 (RGB) or 4 (RGBA);
 * 16-bit PNGs and TIFFs are reduced to 8 bits with rounding at load time. */
typedef struct padim_image {
    int width, height, channels;
    uint8_t *data; /* (height, width, channels), owned */
} padim_image;

/* Image files in dir, sorted by path (byte order): extensions .png .jpg .jpeg .bmp .tif
 * .tiff (any case); recursive: also in subfolders (hidden entries skipped). An empty
 * result is an error naming the folder. *paths is freed with padim_free_paths. */
padim_status padim_list_images(const char *dir, int recursive, char ***paths, int64_t *n);
void padim_free_paths(char **paths, int64_t n);

/* Limits on what decoding may cost, checked from each file's header before anything is
 * allocated for its pixels. A field <= 0 means its default. */
#define PADIM_DEFAULT_MAX_PIXELS ((int64_t)1 << 28)      /* 268,435,456 = 16384 x 16384 */
#define PADIM_DEFAULT_MAX_BATCH_BYTES ((int64_t)4 << 30) /* 4 GiB of decoded pixels */
#define PADIM_MAX_IMAGE_SIDE (1 << 24)                   /* width and height, fixed */
typedef struct padim_decode_options {
    int64_t max_pixels;      /* width * height above this is refused (PADIM_ERR_FORMAT, the
                                message names the file, width, height and the limit); the
                                default admits 150-megapixel industrial cameras */
    int64_t max_batch_bytes; /* bytes held at once by a parallel batch: padim_images_load_ex
                                refuses a batch whose decoded bytes (width * height *
                                channels, summed) exceed it; fit and evaluation, which decode
                                and preprocess image by image, count each image's decoded
                                bytes plus its preprocessing memory and make a thread wait
                                for room instead (an image alone always gets it) */
} padim_decode_options;

typedef struct padim_runtime padim_runtime; /* below */

/* Both fields set to their defaults. */
void padim_decode_options_default(padim_decode_options *opt);
/* The options in force for a runtime and a config (either may be NULL): max_pixels is
 * rt->decode.max_pixels when > 0, else cfg->max_pixels when > 0, else the default;
 * max_batch_bytes is rt->decode.max_batch_bytes when > 0, else the default. Fit and
 * evaluation use exactly this (cfg = the fit config, or the model's config). */
void padim_decode_options_resolve(const padim_runtime *rt, const padim_config *cfg,
                                  padim_decode_options *out);

/* Decode one image file, the format chosen by its content (never its extension):
 *   PNG  libpng (CRC and stream checks on; 16-bit rounded to 8 bits, see image.c)
 *   JPEG libjpeg-turbo, set up as PIL decodes (islow IDCT, fancy upsampling): pixels
 *        equal PIL's; a corrupt-data warning is an error; CMYK/YCCK JPEGs are refused
 *   TIFF libtiff (first page)
 *   BMP  stb_image, after header, palette and length checks of our own
 * opt NULL = defaults. On failure *out is zeroed and the message names the file and what
 * is wrong with it. padim_image_load(path, out) = padim_image_load_ex(path, NULL, out). */
padim_status padim_image_load_ex(const char *path, const padim_decode_options *opt,
                                 padim_image *out);
padim_status padim_image_load(const char *path, padim_image *out);
void padim_image_free(padim_image *img);
/* Decode n files in parallel (threads, 0 = all cores) into out[0..n), every image within
 * opt (NULL = defaults), and all of them together within opt->max_batch_bytes (the
 * outputs are all held at once). On failure every image is freed and the error names the
 * first failing file (in list order). padim_images_load = the same with opt NULL. */
padim_status padim_images_load_ex(const char *const *paths, int64_t n, int threads,
                                  const padim_decode_options *opt, padim_image *out);
padim_status padim_images_load(const char *const *paths, int64_t n, int threads, padim_image *out);

/* ---------------------------------------------------------------- runtime options */

/* Progress of long work: stage ("fit", "score"), done and total images. */
typedef void (*padim_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

/* Seconds spent per stage, accumulated over calls when padim_runtime.times is set (the
 * CUDA backend then synchronizes after each stage, which costs a little throughput). */
typedef struct padim_stage_times {
    double decode, preprocess;       /* host: image decoding, resize + normalize */
    double backbone, embed;          /* backbone to layer3; upsample + concat + gather */
    double stats, factor;            /* fit: accumulation; covariance + Cholesky + inverse */
    double mahalanobis, map;         /* score: distances; upsample + blur + max */
    double device_peak_bytes;        /* CUDA: peak device memory used by the backend */
} padim_stage_times;

typedef struct padim_runtime {
    padim_device device;
    int gpu;                    /* CUDA device ordinal */
    int threads;                /* CPU threads; 0 = all cores */
    padim_precision precision;  /* backbone precision (CUDA) */
    padim_progress_fn progress; /* may be NULL */
    void *progress_user;
    int verbose;                /* 1: backend choice and timings on stderr */
    padim_stage_times *times;   /* NULL, or accumulate per-stage seconds here */
    int batch;                  /* images per backbone batch of fit and scoring (the size
                                   the backend is created for); 0 = the config's, see
                                   padim_runtime_batch */
    padim_decode_options decode; /* image decoding limits; 0 fields = the config's / model's
                                    max_pixels, else the defaults (padim_decode_options_resolve) */
} padim_runtime;

/* Defaults: device auto, fp32, all threads, batch 0 (the config's), no progress. */
void padim_runtime_default(padim_runtime *rt);
/* The one batch rule, used by fit, scorers and evaluation: rt->batch when rt is not NULL
 * and rt->batch > 0, else cfg->batch (for a scorer: the model's config, i.e. the batch the
 * model was fitted with), else PADIM_DEFAULT_BATCH. */
int padim_runtime_batch(const padim_runtime *rt, const padim_config *cfg);

/* ---------------------------------------------------------------- model */

typedef struct padim_model padim_model;

/* Fit a model on n good images (n >= 2) read from paths. Memory does not grow with n:
 * images are decoded, embedded and accumulated batch by batch, in batches of
 * padim_runtime_batch(rt, cfg) images (recorded in the model's config.batch). */
padim_status padim_fit_files(const padim_config *cfg, const padim_runtime *rt,
                             const char *const *paths, int64_t n, padim_model **out);

/* The same from decoded images (n >= 2). */
padim_status padim_fit_images(const padim_config *cfg, const padim_runtime *rt,
                              const padim_image *images, int64_t n, padim_model **out);

/* Save atomically (temporary file + rename); load with full validation. */
padim_status padim_model_save(const padim_model *m, const char *path);
padim_status padim_model_load(const char *path, padim_model **out);
void padim_model_free(padim_model *m);

/* Read-only view of a model's metadata. */
typedef struct padim_model_info {
    padim_config config;     /* as fitted (weights = path it was fitted with, informative) */
    int input_size;          /* S */
    int grid_h, grid_w;      /* layer1 grid: H = W = S/4 */
    int channels_total;      /* C = C1 + C2 + C3 */
    int64_t n_train;         /* images the statistics were fitted on */
    const int32_t *idx;      /* (D) kept channel indices, in sampling order */
    int has_thresholds;      /* set by evaluation */
    double image_threshold, pixel_threshold; /* F1-optimal, raw score units */
    double score_min, score_max;             /* raw score range seen at evaluation */
    int factor_fp16;
    int64_t file_bytes;      /* size on disk when loaded, 0 otherwise */
} padim_model_info;

void padim_model_get_info(const padim_model *m, padim_model_info *info);
/* Store evaluation thresholds (raw units) in the model. */
void padim_model_set_thresholds(padim_model *m, double image_threshold, double pixel_threshold,
                                double score_min, double score_max);

/* ---------------------------------------------------------------- scoring */

/* A scoring session holds the backend (and, on CUDA, the device copy of the model). The
 * model must outlive the scorer (the CPU backend reads its arrays in place).
 *
 * Threads (tests/test_threads.c checks this, also under ThreadSanitizer):
 *   - a model is read-only once fitted or loaded: any number of scorers on any threads
 *     may share it (padim_model_set_thresholds writes to it: not while others read);
 *   - a scorer is NOT thread-safe: it owns the input batch and the backend's workspace.
 *     Use one scorer per thread; one scorer may move between threads if the caller
 *     serializes its calls. Results do not depend on other threads: scores and maps
 *     are bit-identical to a single-threaded run;
 *   - image decoding (padim_image_load*, padim_images_load*), padim_config_*, fitting
 *     and padim_model_load/save are safe to call from several threads at once on
 *     different objects; padim_last_error() is per thread;
 *   - rt->threads sets each call's own OpenMP threads: several scorers each with
 *     threads = 0 (all cores) oversubscribe the machine; give each threads / n;
 *   - the CPU backend runs OpenBLAS single-threaded inside its loops by switching
 *     OpenBLAS's process-wide thread count to 1 while any such loop runs (restored after
 *     the last one): BLAS calls the application makes meanwhile run on one thread too. */
typedef struct padim_scorer padim_scorer;

padim_status padim_scorer_create(const padim_model *m, const padim_runtime *rt,
                                 padim_scorer **out);
void padim_scorer_free(padim_scorer *s);
/* Name of the backend in use ("cpu", "cuda:0 NVIDIA H100 ..."). */
const char *padim_scorer_backend(const padim_scorer *s);
/* Images per backend batch: the backend is created for batches of this size and
 * padim_score_images goes through its images in such batches (padim_runtime_batch of the
 * scorer's runtime and the model's config; the CUDA backend may split a batch further
 * when the device is short of memory). */
int padim_scorer_batch(const padim_scorer *s);

/* Score n decoded images. scores: (n) image scores (max of the smoothed map).
 * maps: NULL or (n, S, S) smoothed anomaly maps at the preprocessed size S. */
padim_status padim_score_images(padim_scorer *s, const padim_image *images, int64_t n,
                                float *scores, float *maps);

/* Two-slot batch pipeline for callers that decode while they score (fit, score and eval
 * over files already do this inside): produce(user, k, slot) fills slot 0 or 1 with batch
 * k on a second thread while consume(user, k, slot) uses the previous batch on the calling
 * thread; a slot is produced again only after it was consumed, batches are consumed in
 * order, and the first error of either side stops both and is returned, its message in
 * padim_last_error() of the calling thread. overlap = 0, a single batch, or PADIM_OVERLAP=0
 * in the environment: both on the calling thread, always in slot 0. */
typedef padim_status (*padim_batch_fn)(void *user, int64_t k, int slot);
padim_status padim_run_batches(int64_t n_batches, padim_batch_fn produce, padim_batch_fn consume, void *user,
                               int overlap);

/* ---------------------------------------------------------------- source geometry, regions */

/* Value of a source-size map pixel that the model did not see (outside the paper preset's
 * center crop). Anomaly maps are distances >= 0, so it is never a score; heatmaps show such
 * pixels dimmed, masks and regions never include them. */
#define PADIM_NOT_SCORED (-1.0f)

/* Map an anomaly map (S, S) at the preprocessed size back to the source image's geometry,
 * out (height, width):
 *   anomalib (squash): bilinear resize of the map to (height, width), align_corners=False,
 *     exactly torch.nn.functional.interpolate(mode="bilinear") in float;
 *   paper (shorter side to resize, center crop S): each source pixel's center is mapped
 *     into the resized frame (align_corners=False convention), shifted by the crop offset
 *     and sampled bilinearly; pixels whose center falls outside the crop are
 *     PADIM_NOT_SCORED. */
padim_status padim_map_to_source(const padim_model *m, const float *map, int width, int height,
                                 float *out);

/* A connected defect region of a map thresholded at a pixel threshold, in map pixels. */
typedef struct padim_region {
    int x0, y0, x1, y1;            /* bounding box, inclusive */
    int64_t area;                  /* pixels */
    double cx, cy;                 /* centroid: mean x and mean y of its pixels */
    float max_value, mean_value;   /* of the map over the region */
} padim_region;

/* Regions of map >= threshold (height, width): 8-connected components (the connectivity of
 * AUPRO), numbered in raster order of their first pixel as scipy.ndimage.label does.
 * PADIM_NOT_SCORED pixels are never part of a region. *regions is malloc'd (free()), NULL
 * when *n = 0. */
padim_status padim_find_regions(const float *map, int width, int height, double threshold,
                                padim_region **regions, int64_t *n);

/* ---------------------------------------------------------------- calibration */

/* Thresholds from good images only (no defects needed). For n good images with image
 * scores s_i and fpr in (0, 1): m = floor(fpr n) images may be flagged; the image threshold
 * is the smallest float above the (n - m)-th smallest score, so that exactly the m highest
 * good scores reach it (prediction: score >= threshold) and the calibration FPR is m/n <= fpr
 * (fewer with ties). The pixel threshold is the same rule over all pixels of their maps at the
 * preprocessed size. When n < 1/fpr (m = 0) the threshold is just above the highest good
 * score: small_sample is set, and the false-positive rate to expect on new good parts is
 * about 1/(n + 1), not fpr. */
typedef struct padim_calibration {
    int calibrated;                   /* 0: the model has no good-only calibration */
    double fpr;                       /* requested false-positive rate */
    int64_t n_images;                 /* good images scored */
    double image_threshold, pixel_threshold; /* raw score units */
    double score_min, score_max;      /* image scores of the calibration images */
    int small_sample;                 /* n_images < 1 / fpr */
} padim_calibration;

/* Score the n good images of paths with m, compute the thresholds above and store them in
 * m (kept beside any evaluation thresholds; saved with the model). out may be NULL. Memory:
 * one float per map pixel of every image (S * S * 4 bytes each). */
padim_status padim_calibrate(padim_model *m, const padim_runtime *rt, const char *const *paths,
                             int64_t n, double fpr, padim_calibration *out);
void padim_model_get_calibration(const padim_model *m, padim_calibration *out);
/* The thresholds scoring applies: the good-only calibration when the model has one, else the
 * evaluation's F1-optimal ones. Returns the source ("calibration", "evaluation") or NULL
 * when the model has neither. */
const char *padim_model_thresholds(const padim_model *m, double *image_threshold,
                                   double *pixel_threshold, double *score_min, double *score_max);

/* ---------------------------------------------------------------- datasets */

/* Dataset layouts of a category folder (README "Datasets" and eval/dataset.h have the
 * exact rules). */
typedef enum padim_dataset_kind {
    PADIM_DATASET_AUTO = 0,      /* detect: padim_dataset_detect */
    PADIM_DATASET_MVTEC_AD = 1,  /* train/good, test/<type>, ground_truth/<type>/<stem>_mask.* */
    PADIM_DATASET_MVTEC_AD2 = 2, /* train/good, validation/good, test_public/{good,bad},
                                    test_public/ground_truth/bad/<stem>_mask.png, unlabeled
                                    test_private/ and test_private_mixed/ */
    PADIM_DATASET_VISA = 3,      /* raw (Data/Images/{Normal,Anomaly}, Data/Masks/Anomaly and
                                    ../split_csv/1cls.csv) or converted by anomalib (train/good,
                                    test/{good,bad}, ground_truth/bad/<stem>.png); masks nonzero
                                    = defect */
    PADIM_DATASET_FOLDER = 4,    /* generic: good/, <defect>/, optional masks/ */
} padim_dataset_kind;

const char *padim_dataset_name(padim_dataset_kind k);  /* "mvtec_ad2" */
/* "auto", "mvtec_ad", "mvtec_ad2", "visa", "folder"; the error lists them. */
padim_status padim_dataset_parse(const char *s, padim_dataset_kind *out);
/* Layout of dir: test_public/ -> MVTec AD 2; Data/Images/ -> VisA (raw); test/ -> MVTec AD,
 * or VisA (converted) when its ground_truth/ masks are named like their images; else the
 * generic folder. Fails only when dir is not a folder. */
padim_status padim_dataset_detect(const char *dir, padim_dataset_kind *out);
/* Training (good) images of a category: train/good (MVTec AD, AD 2, converted VisA, and a
 * generic folder that has one), or the train rows of split_csv/1cls.csv (raw VisA), sorted.
 * Free with padim_free_paths. */
padim_status padim_dataset_train_images(const char *dir, padim_dataset_kind kind, char ***paths, int64_t *n);

/* ---------------------------------------------------------------- evaluation */

/* Metrics of a labeled test set (definitions in README "Metrics"): exact float64 ROC,
 * F1 at the F1-optimal threshold chosen on this test set (as the published tables do),
 * AUPRO to FPR fpr_limit normalized by it, and at the two standard limits. A metric that
 * cannot be computed (one class only, no masks, no calibration) is -1: report it as
 * unavailable, never as 0. */
typedef struct padim_eval_result {
    padim_dataset_kind dataset;  /* the layout evaluated (never AUTO) */
    int64_t n_images, n_good, n_defective;
    int has_masks;
    int64_t n_pixels;            /* pixels in the pixel metrics (n_images * S * S) */
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro;
    double fpr_limit;            /* the integration limit of aupro */
    double aupro_005, aupro_03;  /* AUPRO at FPR 0.05 (MVTec AD 2's protocol) and 0.3 */
    /* SegF1 (MVTec AD 2): F1 of the maps binarized at calibration.pixel_threshold against
     * the masks, over all pixels of all test images at each image's own size (maps through
     * padim_map_to_source). Computed when a good-only calibration exists: MVTec AD 2's
     * validation/good (always), else the model's own (padim_calibrate). */
    double seg_f1, seg_precision, seg_recall;
    padim_calibration calibration; /* the thresholds SegF1 and the submission used */
    int64_t n_submission;          /* images written under submission_dir */
    double image_threshold, pixel_threshold; /* F1-optimal, raw score units */
    double image_precision, image_recall;
    double score_min, score_max;             /* image scores of the test set */
    double seconds_score, seconds_metrics;   /* decode+preprocess+score, metrics */
    char backend[128];                       /* backend that scored ("cpu (2 threads)") */
    /* per image, sorted by path */
    char **paths;
    char **defect_types;
    uint8_t *labels;
    float *scores;
} padim_eval_result;

typedef struct padim_eval_options {
    const char *heatmap_dir; /* NULL: none; else <dir>/<defect>_<stem>.png with the
                                predicted-mask contour at the pixel threshold */
    double fpr_limit;        /* AUPRO integration limit, 0 < limit <= 1 (0: 0.3) */
    int heatmap_input_size;  /* 0: heatmaps at each image's own size (padim_map_to_source);
                                1: at the preprocessed size S x S */
    padim_dataset_kind dataset; /* layout of test_dir (AUTO: detected) */
    double calibration_fpr;  /* MVTec AD 2: FPR of the good-only thresholds computed on
                                validation/good (padim_calibrate's rule; 0: 0.01) */
    const char *submission_dir; /* MVTec AD 2: score test_private/ and test_private_mixed/
                                and write MVTec's submission layout there:
                                anomaly_images/<category>/<split>/<stem>.tiff (float16 map at
                                the image's size) and anomaly_images_thresholded/<category>/
                                <split>/<stem>.png (0/255 at the calibrated pixel threshold).
                                NULL: none */
    const char *report_dir;  /* write <dir>/report.html and its images in <dir>/report_files/
                                (ROC and PRO curves, score histograms, worst cases). NULL: none */
    const char *published_file; /* JSON of published values for the report
                                (configs/published_padim.json); NULL: none */
    const char *category;    /* name in the report and the submission (NULL: base name of
                                test_dir) */
} padim_eval_options;

/* Score the test set of test_dir (a category folder in one of the padim_dataset_kind
 * layouts) and compute the metrics. Images are decoded and scored in batches of
 * padim_runtime_batch(rt, model config). Heatmaps (opt->heatmap_dir) are
 * padim_render_heatmap's: colour range 0 .. the test set's highest image score, alpha 0.5,
 * contour at the pixel threshold (the image threshold without masks). Free the result
 * with padim_eval_result_free. */
padim_status padim_evaluate(const padim_model *m, const padim_runtime *rt, const char *test_dir,
                            const padim_eval_options *opt, padim_eval_result *out);
void padim_eval_result_free(padim_eval_result *r);

/* anomalib's min-max normalization of a raw score around a threshold (the model's
 * thresholds and score range from padim_model_get_info):
 *   clamp((score - threshold) / (score_max - score_min) + 0.5, 0, 1);
 * when score_max <= score_min (an empty or inverted range): 1 above the threshold, 0
 * below, 0.5 at it. */
double padim_normalize_score(double score, double threshold, double score_min, double score_max);

/* ---------------------------------------------------------------- helpers for outputs */

/* The model's preprocessing without normalization: RGB in [0, 1], rgb (3, S, S); what the
 * anomaly map (S, S) is aligned with (for overlays). */
padim_status padim_model_input_rgb(const padim_model *m, const padim_image *img, float *rgb);
/* The heatmap renderer (the one behind `score --heatmaps` and padim_evaluate): a jet
 * overlay of map (S, S) over rgb (3, S, S) in [0, 1] (from padim_model_input_rgb), the
 * colour t = clamp((map - vmin) / (vmax - vmin), 0, 1) (NaN and an empty range give 0),
 * blended as alpha * jet(t) + (1 - alpha) * rgb; then, unless contour_threshold is NaN,
 * the outline of (map >= contour_threshold) in white (mask pixels on the border or with a
 * 4-neighbour outside the mask). out (S, S, 3) uint8, owned by the caller. */
void padim_render_heatmap(const float *rgb, const float *map, int S, float vmin, float vmax,
                          float alpha, double contour_threshold, uint8_t *out);
/* The same renderer at the source geometry: map (height, width) from padim_map_to_source
 * over the decoded image itself at full resolution (grayscale shown as gray, alpha channel
 * ignored); PADIM_NOT_SCORED pixels are shown dimmed with a diagonal hatch. out (height,
 * width, 3). */
padim_status padim_render_heatmap_image(const padim_image *img, const float *map, float vmin, float vmax,
                                        float alpha, double contour_threshold, uint8_t *out);
/* Atomic writers (temporary file + rename): 8-bit PNG (h, w, channels) and a
 * single-channel float32 TIFF (h, w). */
padim_status padim_write_png(const char *path, int w, int h, int channels, const uint8_t *data);
padim_status padim_write_tiff_f32(const char *path, int w, int h, const float *data);
/* Single-channel IEEE float16 TIFF (h, w) (BitsPerSample 16, SampleFormat IEEEFP, what
 * MVTec AD 2's submission asks for): values rounded to nearest even, beyond the float16
 * range to +-inf, NaN kept NaN. */
padim_status padim_write_tiff_f16(const char *path, int w, int h, const float *data);

/* One category of an `eval --root` summary page (padim_write_summary_report). */
typedef struct padim_summary_row {
    const char *category;
    const char *report;   /* its report.html relative to the summary page, NULL: none */
    int ok;               /* 0: failed or missing (the metrics are ignored) */
    const char *dataset;  /* layout name ("mvtec_ad") */
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro, seg_f1; /* -1: unavailable */
} padim_summary_row;

/* A self-contained HTML page at path (atomically): one row per category linking its
 * report, and the mean of each metric over the categories that have it. pro_limit names
 * the AUPRO column. */
padim_status padim_write_summary_report(const char *path, const padim_summary_row *rows, int n, double pro_limit);
/* Any bytes (JSON, CSV, reports), atomically: written to a hidden temporary file beside
 * path (".<name>.padim-tmp.<pid>.<n>"), synced and renamed into place; on failure nothing
 * is left and an existing file at path is untouched. */
padim_status padim_write_file(const char *path, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* PADIM_H */
