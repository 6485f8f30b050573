# _build_ffi.py - builds padim_gpu._padim, the cffi extension (API mode, out of line) that
# binds the C library libpadim.so of an installed padim-gpu.
#
# The extension is compiled against the installed padim.h, so every struct layout and enum
# value comes from the header through the C compiler: the declarations below name only the
# functions and struct fields the Python package uses, and end each struct with "...;"
# (cffi then asks the compiler for offsets and sizes). A field the header does not have, or a
# function whose signature changed, stops the build with a compiler error.
#
# Where padim-gpu is found (first that applies):
#   PADIM_PREFIX=/install/prefix      include/padim.h and lib*/libpadim.so under it;
#   pkg-config padim                  (PKG_CONFIG_PATH=/install/prefix/lib/pkgconfig).
# The extension links -lpadim with an rpath to that lib folder, so it runs without
# LD_LIBRARY_PATH; moving or removing the install afterwards needs a rebuild.
import os
import re
import shutil
import subprocess
import sysconfig

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


class PadimNotFound(RuntimeError):
    pass


def _lib_dirs(prefix):
    """Candidate library folders of an install prefix (GNUInstallDirs: lib, lib64, or
    lib/<multiarch> for /usr on Debian)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    names = ["lib", "lib64"] + ([os.path.join("lib", multiarch)] if multiarch else [])
    return [os.path.join(prefix, n) for n in names]


def find_padim():
    """(include_dir, lib_dir) of the installed padim-gpu, or PadimNotFound naming what was tried."""
    prefix = os.environ.get("PADIM_PREFIX")
    if prefix:
        prefix = os.path.realpath(prefix)
        include = os.path.join(prefix, "include")
        libs = [d for d in _lib_dirs(prefix) if os.path.exists(os.path.join(d, "libpadim.so"))]
        if not os.path.exists(os.path.join(include, "padim.h")) or not libs:
            raise PadimNotFound(
                f"PADIM_PREFIX={prefix}: expected include/padim.h and lib/libpadim.so there "
                f"(install padim-gpu with: cmake --install BUILD --prefix {prefix})")
        return include, libs[0]
    if not shutil.which("pkg-config"):
        raise PadimNotFound("padim-gpu not found: set PADIM_PREFIX to its install prefix "
                            "(pkg-config, the other way, is not installed)")

    r = subprocess.run(["pkg-config", "--print-errors", "--exists", "padim"], capture_output=True, text=True)
    if r.returncode != 0:
        raise PadimNotFound(
            f"padim-gpu not found by pkg-config ({' '.join(r.stderr.split())}); set "
            "PKG_CONFIG_PATH=PREFIX/lib/pkgconfig or PADIM_PREFIX=PREFIX (the prefix of cmake --install)")

    def var(name):
        out = subprocess.run(["pkg-config", f"--variable={name}", "padim"], capture_output=True, text=True)
        return os.path.realpath(out.stdout.strip())

    include, lib = var("includedir"), var("libdir")
    for f in (os.path.join(include, "padim.h"), os.path.join(lib, "libpadim.so")):
        if not os.path.exists(f):
            raise PadimNotFound(f"pkg-config padim points to {f}, which does not exist")
    return include, lib


def _struct_body(header, name):
    m = re.search(r"typedef\s+struct\s+%s\s*\{(.*?)\}\s*%s\s*;" % (name, name), header, re.S)
    if not m:
        raise PadimNotFound(f"padim.h has no struct {name}")
    return re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)


def _has_field(header, struct, decl):
    return re.search(r"(^|;)\s*%s\s*;" % decl, _struct_body(header, struct)) is not None


def _c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The binding's view of padim.h. `batch` moves between padim_config and padim_runtime in
# some versions: it is declared in whichever struct the installed header has it (both or
# neither are fine); Python code checks ffi.typeof(...).fields before using it.
CDEF = """
typedef enum padim_status { PADIM_OK, PADIM_ERR_ARG, PADIM_ERR_IO, PADIM_ERR_FORMAT,
    PADIM_ERR_MISMATCH, PADIM_ERR_NOMEM, PADIM_ERR_DEVICE, PADIM_ERR_NUMERIC, ... } padim_status;
typedef enum padim_preset { PADIM_PRESET_ANOMALIB, PADIM_PRESET_PAPER, ... } padim_preset;
typedef enum padim_backbone_kind { PADIM_BACKBONE_RESNET18, PADIM_BACKBONE_WIDE_RESNET50_2, ... }
    padim_backbone_kind;
typedef enum padim_device { PADIM_DEVICE_AUTO, PADIM_DEVICE_CPU, PADIM_DEVICE_CUDA, ... } padim_device;
typedef enum padim_precision { PADIM_PRECISION_FP32, PADIM_PRECISION_TF32, PADIM_PRECISION_FP16,
    PADIM_PRECISION_BF16, ... } padim_precision;
static const float PADIM_NOT_SCORED;

const char *padim_version(void);
const char *padim_cpu_blas(void);
const char *padim_cpu_blas_coretype_fix(void);
const char *padim_last_error(void);
const char *padim_status_name(padim_status s);

typedef struct padim_config {
    padim_backbone_kind backbone;
    char weights[...];
    padim_preset preset;
    int resize;
    int crop;
    int d;
    uint32_t seed;
    double eps;
    double sigma;
    %(config_batch)s
    ...;
} padim_config;
void padim_config_default(padim_config *cfg, padim_backbone_kind backbone, padim_preset preset);
padim_status padim_config_load(const char *path, padim_config *cfg);
int padim_config_input_size(const padim_config *cfg);
padim_status padim_config_validate(const padim_config *cfg);
const char *padim_preset_name(padim_preset p);
padim_status padim_preset_parse(const char *s, padim_preset *out);
const char *padim_backbone_name(padim_backbone_kind k);
const char *padim_backbone_weights_file(padim_backbone_kind k);
padim_status padim_backbone_parse(const char *s, padim_backbone_kind *out);

typedef struct padim_image {
    int width, height, channels;
    uint8_t *data;
    ...;
} padim_image;
padim_status padim_list_images(const char *dir, int recursive, char ***paths, int64_t *n);
void padim_free_paths(char **paths, int64_t n);
padim_status padim_image_load(const char *path, padim_image *out);
void padim_image_free(padim_image *img);
padim_status padim_images_load(const char *const *paths, int64_t n, int threads, padim_image *out);

typedef void (*padim_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);
typedef struct padim_runtime {
    padim_device device;
    int gpu;
    int threads;
    padim_precision precision;
    padim_progress_fn progress;
    void *progress_user;
    int verbose;
    %(runtime_batch)s
    ...;
} padim_runtime;
void padim_runtime_default(padim_runtime *rt);

typedef struct padim_model padim_model;
padim_status padim_fit_files(const padim_config *cfg, const padim_runtime *rt,
                             const char *const *paths, int64_t n, padim_model **out);
padim_status padim_fit_images(const padim_config *cfg, const padim_runtime *rt,
                              const padim_image *images, int64_t n, padim_model **out);
padim_status padim_model_save(const padim_model *m, const char *path);
padim_status padim_model_load(const char *path, padim_model **out);
void padim_model_free(padim_model *m);

typedef struct padim_model_info {
    padim_config config;
    int input_size;
    int grid_h, grid_w;
    int channels_total;
    int64_t n_train;
    const int32_t *idx;
    int has_thresholds;
    double image_threshold, pixel_threshold;
    double score_min, score_max;
    int factor_fp16;
    int64_t file_bytes;
    ...;
} padim_model_info;
void padim_model_get_info(const padim_model *m, padim_model_info *info);

typedef struct padim_scorer padim_scorer;
padim_status padim_scorer_create(const padim_model *m, const padim_runtime *rt, padim_scorer **out);
void padim_scorer_free(padim_scorer *s);
const char *padim_scorer_backend(const padim_scorer *s);
padim_status padim_score_images(padim_scorer *s, const padim_image *images, int64_t n,
                                float *scores, float *maps);

padim_status padim_map_to_source(const padim_model *m, const float *map, int width, int height,
                                 float *out);
typedef struct padim_region {
    int x0, y0, x1, y1;
    int64_t area;
    double cx, cy;
    float max_value, mean_value;
    ...;
} padim_region;
padim_status padim_find_regions(const float *map, int width, int height, double threshold,
                                padim_region **regions, int64_t *n);

typedef struct padim_calibration {
    int calibrated;
    double fpr;
    int64_t n_images;
    double image_threshold, pixel_threshold;
    double score_min, score_max;
    int small_sample;
    ...;
} padim_calibration;
padim_status padim_calibrate(padim_model *m, const padim_runtime *rt, const char *const *paths,
                             int64_t n, double fpr, padim_calibration *out);
void padim_model_get_calibration(const padim_model *m, padim_calibration *out);
const char *padim_model_thresholds(const padim_model *m, double *image_threshold,
                                   double *pixel_threshold, double *score_min, double *score_max);

typedef struct padim_eval_result {
    int64_t n_images, n_good, n_defective;
    int has_masks;
    int64_t n_pixels;
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro;
    double image_threshold, pixel_threshold;
    double image_precision, image_recall;
    double score_min, score_max;
    double seconds_score, seconds_metrics;
    char backend[...];
    char **paths;
    char **defect_types;
    uint8_t *labels;
    float *scores;
    ...;
} padim_eval_result;
typedef struct padim_eval_options {
    const char *heatmap_dir;
    double fpr_limit;
    ...;
} padim_eval_options;
padim_status padim_evaluate(const padim_model *m, const padim_runtime *rt, const char *test_dir,
                            const padim_eval_options *opt, padim_eval_result *out);
void padim_eval_result_free(padim_eval_result *r);

void free(void *p);

/* The binding's own helpers (set_source below). */
const char *padim_py_library_path(void);
const char *padim_py_source_dir(void);
extern "Python" void padim_py_progress(void *user, const char *stage, int64_t done, int64_t total);
"""

SOURCE = r"""
/* padim_gpu._padim: the cffi extension over libpadim.so (generated from _build_ffi.py). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include "padim.h"

/* The file libpadim.so was loaded from: its prefix holds share/padim-gpu/weights. */
static const char *padim_py_library_path(void) {
    Dl_info info;
    if (dladdr((void *)&padim_version, &info) && info.dli_fname) return info.dli_fname;
    return "";
}
/* The padim-gpu source tree this package was built from ("" when built from a copy). */
static const char *padim_py_source_dir(void) { return %(source_dir)s; }
"""


def make_builder():
    include, lib = find_padim()
    with open(os.path.join(include, "padim.h"), encoding="utf-8") as f:
        header = f.read()
    batch = "int batch;"
    cdef = CDEF % {
        "config_batch": batch if _has_field(header, "padim_config", r"int\s+batch") else "",
        "runtime_batch": batch if _has_field(header, "padim_runtime", r"int\s+batch") else "",
    }
    source_dir = os.path.dirname(os.path.dirname(HERE))  # python/padim_gpu -> the source tree
    if not os.path.isdir(os.path.join(source_dir, "weights")):
        source_dir = ""
    ffibuilder = FFI()
    ffibuilder.cdef(cdef)
    ffibuilder.set_source(
        "padim_gpu._padim",
        SOURCE % {"source_dir": _c_string(source_dir)},
        include_dirs=[include],
        library_dirs=[lib],
        libraries=["padim"],
        extra_link_args=[f"-Wl,-rpath,{lib}"],
    )
    return ffibuilder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
