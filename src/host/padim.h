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
    int batch;           /* images per backbone batch (fit and score) */
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
    int batch;                  /* scoring batch size; 0 = the model's */
    padim_decode_options decode; /* image decoding limits; 0 fields = the config's / model's
                                    max_pixels, else the defaults (padim_decode_options_resolve) */
} padim_runtime;

void padim_runtime_default(padim_runtime *rt);

/* ---------------------------------------------------------------- model */

typedef struct padim_model padim_model;

/* Fit a model on n good images (n >= 2) read from paths. Memory does not grow with n:
 * images are decoded, embedded and accumulated batch by batch. */
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

/* Score n decoded images. scores: (n) image scores (max of the smoothed map).
 * maps: NULL or (n, S, S) smoothed anomaly maps at the preprocessed size S. */
padim_status padim_score_images(padim_scorer *s, const padim_image *images, int64_t n,
                                float *scores, float *maps);

/* ---------------------------------------------------------------- evaluation */

/* Metrics of a labeled test set (definitions in README "Metrics"): exact float64 ROC,
 * F1 at the F1-optimal threshold chosen on this test set (as the published tables do),
 * AUPRO to FPR 0.3 normalized by 0.3. A metric that cannot be computed (one class only,
 * no masks) is -1: report it as unavailable, never as 0. */
typedef struct padim_eval_result {
    int64_t n_images, n_good, n_defective;
    int has_masks;
    int64_t n_pixels;            /* pixels in the pixel metrics (n_images * S * S) */
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro;
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
    double fpr_limit;        /* AUPRO integration limit (0.3) */
} padim_eval_options;

/* Score the test set of test_dir (an MVTec category folder with test/ and
 * ground_truth/, or the generic layout good/, <defect>/, optional masks/) and compute the
 * metrics. Free the result with padim_eval_result_free. */
padim_status padim_evaluate(const padim_model *m, const padim_runtime *rt, const char *test_dir,
                            const padim_eval_options *opt, padim_eval_result *out);
void padim_eval_result_free(padim_eval_result *r);

/* ---------------------------------------------------------------- helpers for outputs */

/* The model's preprocessing without normalization: RGB in [0, 1], rgb (3, S, S); what the
 * anomaly map (S, S) is aligned with (for overlays). */
padim_status padim_model_input_rgb(const padim_model *m, const padim_image *img, float *rgb);
/* Heatmap overlay of map (S, S) over rgb (3, S, S): jet colormap from [vmin, vmax],
 * blended with alpha; out (S, S, 3) uint8. */
void padim_render_heatmap(const float *rgb, const float *map, int S, float vmin, float vmax,
                          float alpha, uint8_t *out);
/* Atomic writers (temporary file + rename): 8-bit PNG (h, w, channels) and a
 * single-channel float32 TIFF (h, w). */
padim_status padim_write_png(const char *path, int w, int h, int channels, const uint8_t *data);
padim_status padim_write_tiff_f32(const char *path, int w, int h, const float *data);
/* Any bytes (JSON, CSV, reports), atomically: written to a hidden temporary file beside
 * path (".<name>.padim-tmp.<pid>.<n>"), synced and renamed into place; on failure nothing
 * is left and an existing file at path is untouched. */
padim_status padim_write_file(const char *path, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* PADIM_H */
