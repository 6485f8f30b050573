"""padim_gpu - Python bindings of padim-gpu (PaDiM anomaly detection), NumPy in and out.

A thin layer over the C library libpadim.so of an installed padim-gpu, through the cffi
extension padim_gpu._padim (API mode, compiled against the installed padim.h: see
_build_ffi.py). Nothing is computed here: fit, score, evaluation and calibration are the
library's, so the numbers are the CLI's.

    model = padim_gpu.fit("good_images/")              # folder, paths or uint8 arrays
    model.save("part.padim")
    scorer = model.scorer(device="auto")
    scores, maps = scorer.score(frame)                  # (N,) and (N, S, S) float32

Images are uint8 arrays (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA (PIL images work
through numpy.asarray; OpenCV frames are BGR: pass frame[:, :, ::-1]), file paths, or
folders (searched recursively, in list_images order).

Errors of the library raise PadimError (.status, .message: the library's message, which
names the file). Objects own their C counterparts (freed when collected, or at once with
close() / a with block); a Scorer keeps its Model alive.

Threads: every C call runs with the GIL released (cffi API mode), so fit, score, evaluate
and calibrate of one thread run in parallel with other Python threads. A C scorer is not
thread-safe: a Scorer serializes its own calls with a lock; use one Scorer per thread to
score in parallel. Progress callbacks (progress=fn(stage, done, total)) are called from the
C code with the GIL taken back; an exception they raise is re-raised when the C call returns
(the C work is not interrupted).
"""
from __future__ import annotations

import enum
import os
import threading
import warnings
import weakref
from dataclasses import dataclass

import numpy as np

try:
    from ._padim import ffi, lib
except ImportError as e:  # e.g. the source folder python/ shadowing the installed package
    raise ImportError(f"padim_gpu: the compiled extension padim_gpu._padim is missing next to {__file__}: "
                      "install with `pip install ./python` (README 'Use as a library') and run from "
                      "outside python/") from e

__version__ = "0.1.0"
__all__ = [
    "PadimError", "Status", "Model", "Scorer", "Region", "fit", "evaluate", "list_images",
    "load_image", "find_regions", "default_weights", "library_version", "cpu_blas", "NOT_SCORED",
]

NOT_SCORED = float(lib.PADIM_NOT_SCORED)  # source-size map pixels outside the model's crop


def _str(p) -> str:
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else ""


def _fs(path) -> bytes:
    return os.fsencode(os.fspath(path))


def library_version() -> str:
    """Version of the linked libpadim.so (PADIM_VERSION_STRING of its build)."""
    return _str(lib.padim_version())


def cpu_blas() -> str:
    """The BLAS build and the kernel set it picked for this processor (padim_cpu_blas)."""
    return _str(lib.padim_cpu_blas())


# Debian 12's OpenBLAS takes processors newer than it knows for a Prescott (SSE3 kernels,
# several times slower fitting); it reads OPENBLAS_CORETYPE only when it is loaded, so a
# running Python cannot change it: say what to set (README "CPU backbone").
_coretype = _str(lib.padim_cpu_blas_coretype_fix())
if _coretype:
    warnings.warn(f"padim_gpu: OpenBLAS picked kernels older than this processor ({cpu_blas()}); "
                  f"start Python with OPENBLAS_CORETYPE={_coretype} for faster fitting",
                  RuntimeWarning, stacklevel=2)


# ---------------------------------------------------------------- errors


class Status(enum.IntEnum):
    """padim_status values (PADIM_<NAME> in padim.h)."""

    OK = lib.PADIM_OK
    ERR_ARG = lib.PADIM_ERR_ARG
    ERR_IO = lib.PADIM_ERR_IO
    ERR_FORMAT = lib.PADIM_ERR_FORMAT
    ERR_MISMATCH = lib.PADIM_ERR_MISMATCH
    ERR_NOMEM = lib.PADIM_ERR_NOMEM
    ERR_DEVICE = lib.PADIM_ERR_DEVICE
    ERR_NUMERIC = lib.PADIM_ERR_NUMERIC


class PadimError(RuntimeError):
    """A failure reported by libpadim: .status (Status), .status_name ("PADIM_ERR_IO") and
    .message (padim_last_error(): names the file / value and a hint)."""

    def __init__(self, status: int, message: str):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.status_name = _str(lib.padim_status_name(status))
        self.message = message
        super().__init__(f"{self.status_name}: {message}")


def _check(st: int) -> None:
    # padim_last_error is thread-local: read on the thread that made the failing call.
    if st != lib.PADIM_OK:
        raise PadimError(st, _str(lib.padim_last_error()))


# ---------------------------------------------------------------- runtime and progress


class _Progress:
    """A Python progress callback handed to C through progress_user."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"progress must be callable(stage, done, total), got {fn!r}")
        self.fn = fn
        self.error = None
        self.offset, self.total = 0, None  # a call made of several C calls (Scorer chunks)
        self.handle = ffi.new_handle(self)  # kept alive as long as this object

    def reraise(self):
        if self.error is not None:
            err, self.error = self.error, None
            raise err


@ffi.def_extern()
def padim_py_progress(user, stage, done, total):
    p = ffi.from_handle(user)
    if p.error is not None:
        return
    try:
        p.fn(_str(stage), p.offset + int(done), int(total) if p.total is None else p.total)
    except BaseException as e:  # re-raised by the caller once the C call returns
        p.error = e


_DEVICES = {"auto": lib.PADIM_DEVICE_AUTO, "cpu": lib.PADIM_DEVICE_CPU, "cuda": lib.PADIM_DEVICE_CUDA}
_PRECISIONS = {"fp32": lib.PADIM_PRECISION_FP32, "tf32": lib.PADIM_PRECISION_TF32,
               "fp16": lib.PADIM_PRECISION_FP16, "bf16": lib.PADIM_PRECISION_BF16}


def _fields(ctype: str) -> set:
    return {name for name, _ in ffi.typeof(ctype).fields}


def _runtime(device="auto", threads=0, gpu=None, precision="fp32", progress=None, batch=None):
    """A padim_runtime. device: "auto", "cpu", "cuda" or "cuda:N"; threads: CPU threads
    (0 = all cores); batch: scoring batch (only where padim_runtime has the field)."""
    rt = ffi.new("padim_runtime *")
    lib.padim_runtime_default(rt)
    name, _, ordinal = str(device).partition(":")
    if name not in _DEVICES or (ordinal and not ordinal.isdigit()):
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    rt.device = _DEVICES[name]
    if ordinal:
        rt.gpu = int(ordinal)
    if gpu is not None:
        rt.gpu = int(gpu)
    if int(threads) < 0:
        raise ValueError(f"threads: expected >= 0 (0 = all cores), got {threads}")
    rt.threads = int(threads)
    if precision not in _PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(_PRECISIONS)}, got {precision!r}")
    rt.precision = _PRECISIONS[precision]
    if progress is not None:
        rt.progress = lib.padim_py_progress
        rt.progress_user = progress.handle
    if batch is not None:
        if "batch" not in _fields("padim_runtime"):
            raise TypeError("batch: this padim-gpu's runtime has no scoring batch (set it at fit time)")
        rt.batch = int(batch)
    return rt


# ---------------------------------------------------------------- configuration and weights


def _backbone(name) -> int:
    out = ffi.new("padim_backbone_kind *")
    _check(lib.padim_backbone_parse(str(name).encode(), out))
    return out[0]


def _preset(name) -> int:
    out = ffi.new("padim_preset *")
    _check(lib.padim_preset_parse(str(name).encode(), out))
    return out[0]


def _weights_dirs() -> list:
    """Where default weights are looked for: $PADIM_HOME/weights, the share/padim-gpu/weights
    of the prefix libpadim.so was loaded from, the source tree this package was built from,
    then the system prefixes."""
    dirs = []
    if os.environ.get("PADIM_HOME"):
        dirs.append(os.path.join(os.environ["PADIM_HOME"], "weights"))
    libdir = os.path.dirname(_str(lib.padim_py_library_path()))
    if libdir:  # PREFIX/lib or PREFIX/lib/<multiarch>
        for prefix in (os.path.dirname(libdir), os.path.dirname(os.path.dirname(libdir))):
            dirs.append(os.path.join(prefix, "share", "padim-gpu", "weights"))
    if _str(lib.padim_py_source_dir()):
        dirs.append(os.path.join(_str(lib.padim_py_source_dir()), "weights"))
    dirs += ["/usr/local/share/padim-gpu/weights", "/usr/share/padim-gpu/weights"]
    return list(dict.fromkeys(os.path.normpath(d) for d in dirs))


def default_weights(backbone="resnet18") -> str:
    """Path of the backbone's converted ImageNet weights (padim_backbone_weights_file) in
    the first of _weights_dirs() that has it."""
    name = _str(lib.padim_backbone_weights_file(_backbone(backbone)))
    dirs = _weights_dirs()
    for d in dirs:
        if os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
    raise PadimError(Status.ERR_IO, f"no backbone weights {name} in {', '.join(dirs)}; pass weights=PATH "
                                    "or set PADIM_HOME to a folder with weights/")


def _config(config=None, backbone=None, preset=None, overrides=None):
    """A padim_config as the CLI builds it: padim_config_default(backbone, preset), then the
    YAML file `config` (keys it lacks keep their values), an explicit backbone/preset winning
    over the file's, then keyword overrides (any field the binding knows: weights, resize,
    crop, d, seed, eps, sigma, and batch where padim_config has it)."""
    cfg = ffi.new("padim_config *")
    kind = _backbone(backbone or "resnet18")
    pr = _preset(preset or "anomalib")
    lib.padim_config_default(cfg, kind, pr)
    if config is not None:
        _check(lib.padim_config_load(_fs(config), cfg))
        if backbone is not None and cfg.backbone != kind:
            lib.padim_config_default(cfg, kind, cfg.preset)
        if preset is not None:
            cfg.preset = pr
    known = _fields("padim_config") - {"backbone", "preset"}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise TypeError(f"unknown config key {key!r}; known: {', '.join(sorted(known))}")
        if value is None:
            continue
        if key == "weights":
            w = _fs(value)
            if len(w) >= len(cfg.weights):
                raise ValueError(f"weights path longer than {len(cfg.weights) - 1} bytes: {value}")
            cfg.weights = w
        else:
            setattr(cfg, key, value)
    if not ffi.string(cfg.weights):
        cfg.weights = _fs(default_weights(_str(lib.padim_backbone_name(cfg.backbone))))
    _check(lib.padim_config_validate(cfg))
    return cfg


def _config_dict(cfg) -> dict:
    out = {}
    for name in (n for n, _ in ffi.typeof("padim_config").fields):
        v = getattr(cfg, name)
        if name == "backbone":
            v = _str(lib.padim_backbone_name(v))
        elif name == "preset":
            v = _str(lib.padim_preset_name(v))
        elif name == "weights":
            v = os.fsdecode(ffi.string(v))
        out[name] = v
    return out


# ---------------------------------------------------------------- images


def _is_path(x) -> bool:
    return isinstance(x, (str, bytes, os.PathLike))


def list_images(folder, recursive=True) -> list:
    """Image files of folder (.png .jpg .jpeg .bmp .tif .tiff), sorted by path; an empty
    folder is an error naming it (padim_list_images)."""
    paths, n = ffi.new("char ***"), ffi.new("int64_t *")
    _check(lib.padim_list_images(_fs(folder), int(bool(recursive)), paths, n))
    try:
        return [os.fsdecode(ffi.string(paths[0][i])) for i in range(n[0])]
    finally:
        lib.padim_free_paths(paths[0], n[0])


def load_image(path) -> np.ndarray:
    """Decode a file as the library does (stb_image / libtiff): uint8 (H, W, C), C = 3 or 4,
    or (H, W) for gray."""
    img = ffi.new("padim_image *")
    _check(lib.padim_image_load(_fs(path), img))
    try:
        shape = (img.height, img.width) + ((img.channels,) if img.channels > 1 else ())
        size = img.height * img.width * img.channels
        return np.frombuffer(ffi.buffer(img.data, size), dtype=np.uint8).reshape(shape).copy()
    finally:
        lib.padim_image_free(img)


def _expand(images) -> list:
    """A folder, a path, an array (one image, or (N, H, W[, C]) images) or a list of paths,
    folders and arrays -> a flat list of paths (str) and arrays."""
    if _is_path(images) or isinstance(images, np.ndarray) or hasattr(images, "__array_interface__"):
        images = [images]
    items = []
    for x in images:
        if _is_path(x):
            p = os.fsdecode(os.fspath(x))
            items.extend(list_images(p) if os.path.isdir(p) else [p])
        else:
            a = np.asarray(x)
            items.extend(list(a) if a.ndim == 4 else [a])
    if not items:
        raise ValueError("no images given")
    return items


def _c_paths(paths):
    """A const char *[] over paths, and the buffers it points into (keep both alive)."""
    bufs = [ffi.new("char[]", _fs(p)) for p in paths]
    return ffi.new("const char *[]", bufs), bufs


def _c_floats(a: np.ndarray):
    return ffi.from_buffer("float[]", a, require_writable=a.flags.writeable)


class _Images:
    """padim_image[n] over a list of paths and arrays. Arrays are used in place (copied only
    when not C-contiguous); paths are decoded by the library in parallel and freed on close."""

    def __init__(self, items, threads=0):
        n = len(items)
        self.c = ffi.new("padim_image[]", n)
        self._keep = []
        self._decoded = None
        for i, x in enumerate(items):
            if not _is_path(x):
                self._wrap(i, x)
        where = [i for i, x in enumerate(items) if _is_path(x)]
        if where:
            paths, bufs = _c_paths([items[i] for i in where])
            dec = ffi.new("padim_image[]", len(where))
            _check(lib.padim_images_load(paths, len(where), int(threads), dec))
            self._decoded = dec
            for k, i in enumerate(where):
                self.c[i] = dec[k]

    def _wrap(self, i, x):
        a = np.asarray(x)
        if a.dtype != np.uint8:
            raise TypeError(f"image {i}: expected a uint8 array, got dtype {a.dtype} "
                            "(scale to 0..255 and use .astype(numpy.uint8))")
        if a.ndim == 3 and a.shape[2] in (1, 3, 4):
            channels = a.shape[2]
        elif a.ndim == 2:
            channels = 1
        else:
            raise ValueError(f"image {i}: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {a.shape}")
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"image {i}: empty image of shape {a.shape}")
        a = np.ascontiguousarray(a)
        buf = ffi.from_buffer(a)
        self._keep.append((a, buf))
        img = self.c[i]
        img.height, img.width, img.channels = a.shape[0], a.shape[1], channels
        img.data = ffi.cast("uint8_t *", buf)

    def close(self):
        if self._decoded is not None:
            for k in range(len(self._decoded)):
                lib.padim_image_free(ffi.addressof(self._decoded, k))
            self._decoded = None
        self._keep = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- model


def fit(images, config=None, device="auto", threads=0, *, backbone=None, preset=None, gpu=None,
        precision="fp32", progress=None, **overrides) -> "Model":
    """Fit a model on good images (at least 2).

    images: a folder (searched recursively), a list of paths (padim_fit_files: decoded batch
    by batch, memory independent of their number), or uint8 arrays (padim_fit_images; a
    list mixing both is decoded at once). config: a YAML config path (configs/*.yaml) or None
    for the defaults of backbone ("resnet18", "wide_resnet50_2") and preset ("anomalib",
    "paper"). overrides: weights, resize, crop, d, seed, eps, sigma (and batch where the
    installed padim_config has it). Default weights: default_weights(backbone)."""
    cfg = _config(config, backbone, preset, overrides)
    prog = _Progress(progress) if progress is not None else None
    rt = _runtime(device, threads, gpu, precision, prog)
    items = _expand(images)
    out = ffi.new("padim_model **")
    if all(_is_path(x) for x in items):
        paths, bufs = _c_paths(items)
        st = lib.padim_fit_files(cfg, rt, paths, len(items), out)
    else:
        with _Images(items, threads) as imgs:
            st = lib.padim_fit_images(cfg, rt, imgs.c, len(items), out)
    _check(st)
    model = Model._wrap(out[0])
    if prog is not None:
        prog.reraise()
    return model


class _CHandle:
    """A C object owned through self._ptr (a cffi pointer with a destructor, released by
    close()); usable as a context manager. Subclasses name it in _WHAT."""
    _WHAT = "object"
    _ptr = None

    def _handle(self):
        if self._ptr is None:
            raise ValueError(f"the {self._WHAT} is closed")
        return self._ptr

    def _release(self) -> None:
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None

    def close(self) -> None:
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_CHandle):
    """A fitted PaDiM model (padim_model). Create with fit() or Model.load()."""

    def __init__(self):
        raise TypeError("create a Model with padim_gpu.fit() or padim_gpu.Model.load()")

    @classmethod
    def _wrap(cls, ptr) -> "Model":
        self = cls.__new__(cls)
        self._ptr = ffi.gc(ptr, lib.padim_model_free)
        self._scorers = weakref.WeakSet()
        return self

    @classmethod
    def load(cls, path) -> "Model":
        """Load a model file with full validation (padim_model_load)."""
        out = ffi.new("padim_model **")
        _check(lib.padim_model_load(_fs(path), out))
        return cls._wrap(out[0])

    def save(self, path) -> None:
        """Write the model atomically (temporary file + rename)."""
        _check(lib.padim_model_save(self._handle(), _fs(path)))

    _WHAT = "model"

    def close(self) -> None:
        """Free the C model now (and close the scorers made from it)."""
        for s in list(self._scorers):
            s.close()
        self._release()

    @property
    def info(self) -> dict:
        """padim_model_info as a dict: config (a dict), input_size (S), grid_h, grid_w,
        channels_total, n_train, idx (int32 array (D)), thresholds, factor_fp16, file_bytes."""
        info = ffi.new("padim_model_info *")
        lib.padim_model_get_info(self._handle(), info)
        out = {}
        for name in (n for n, _ in ffi.typeof("padim_model_info").fields):
            if name == "config":
                out[name] = _config_dict(info.config)
            elif name == "idx":
                d = info.config.d
                out[name] = np.frombuffer(ffi.buffer(info.idx, 4 * d), dtype=np.int32).copy()
            else:
                out[name] = getattr(info, name)
        out["has_thresholds"] = bool(out["has_thresholds"])
        return out

    @property
    def config(self) -> dict:
        return self.info["config"]

    @property
    def input_size(self) -> int:
        return self.info["input_size"]

    @property
    def thresholds(self):
        """The thresholds scoring applies (padim_model_thresholds): a dict with source
        ("calibration" or "evaluation"), image_threshold, pixel_threshold, score_min,
        score_max in raw score units; None when the model has neither."""
        v = [ffi.new("double *") for _ in range(4)]
        src = lib.padim_model_thresholds(self._handle(), *v)
        if src == ffi.NULL:
            return None
        keys = ("image_threshold", "pixel_threshold", "score_min", "score_max")
        return {"source": _str(src), **{k: p[0] for k, p in zip(keys, v)}}

    @property
    def calibration(self):
        """The good-only calibration stored in the model (padim_calibration), or None."""
        c = ffi.new("padim_calibration *")
        lib.padim_model_get_calibration(self._handle(), c)
        return _calibration_dict(c) if c.calibrated else None

    def calibrate(self, good, fpr=0.01, device="auto", threads=0, *, gpu=None, precision="fp32",
                  progress=None) -> dict:
        """Thresholds from good images only (padim_calibrate): the image threshold flags at
        most fpr of them; stored in the model (save() to keep them). good: a folder or paths."""
        items = _expand(good)
        if not all(_is_path(x) for x in items):
            raise TypeError("calibrate takes image files or a folder, not arrays")
        prog = _Progress(progress) if progress is not None else None
        rt = _runtime(device, threads, gpu, precision, prog)
        paths, bufs = _c_paths(items)
        c = ffi.new("padim_calibration *")
        _check(lib.padim_calibrate(self._handle(), rt, paths, len(items), float(fpr), c))
        if prog is not None:
            prog.reraise()
        return _calibration_dict(c)

    def scorer(self, device="auto", threads=0, **kwargs) -> "Scorer":
        """A Scorer for this model (see Scorer)."""
        return Scorer(self, device, threads, **kwargs)

    def evaluate(self, test_dir, **kwargs) -> dict:
        """evaluate(self, test_dir, ...)."""
        return evaluate(self, test_dir, **kwargs)

    def __repr__(self):
        if self._ptr is None:
            return "<padim_gpu.Model (closed)>"
        i = self.info
        c = i["config"]
        return (f"<padim_gpu.Model {c['backbone']} {c['preset']} S={i['input_size']} d={c['d']} "
                f"n_train={i['n_train']}>")


def _calibration_dict(c) -> dict:
    out = {name: getattr(c, name) for name in (n for n, _ in ffi.typeof("padim_calibration").fields)}
    out["calibrated"], out["small_sample"] = bool(out["calibrated"]), bool(out["small_sample"])
    return out


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Region:
    """A connected region of map >= threshold (padim_region), in map pixels: bounding box
    (x0, y0)-(x1, y1) inclusive, area in pixels, centroid (cx, cy), max and mean map value."""

    x0: int
    y0: int
    x1: int
    y1: int
    area: int
    cx: float
    cy: float
    max_value: float
    mean_value: float


def find_regions(map, threshold) -> list:
    """Regions of a 2-D map >= threshold: 8-connected, in raster order of their first pixel
    (padim_find_regions); NOT_SCORED pixels never belong to one."""
    m = np.ascontiguousarray(map, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"find_regions: expected a 2-D map, got shape {m.shape}")
    regions, n = ffi.new("padim_region **"), ffi.new("int64_t *")
    _check(lib.padim_find_regions(_c_floats(m), m.shape[1], m.shape[0], float(threshold), regions, n))
    try:
        names = [f for f in Region.__dataclass_fields__]
        return [Region(*(getattr(regions[0][i], f) for f in names)) for i in range(n[0])]
    finally:
        if regions[0] != ffi.NULL:
            lib.free(regions[0])


class Scorer(_CHandle):
    """A scoring session (padim_scorer): the backend and, on CUDA, the device copy of the
    model. device: "auto" | "cpu" | "cuda" | "cuda:N"; threads: CPU threads (0 = all cores);
    precision: backbone precision (fp32: exact; tf32/fp16/bf16 on CUDA, bf16 also on CPUs
    with AVX512-BF16 or AMX); batch: images per batch (where the installed padim_runtime has
    it; default the model's); progress: fn(stage, done, total)."""

    def __init__(self, model: Model, device="auto", threads=0, *, gpu=None, precision="fp32",
                 batch=None, progress=None):
        self._ptr = None
        self._model = model  # the C scorer reads the model's arrays in place
        self._progress = _Progress(progress) if progress is not None else None
        self._threads = int(threads)
        rt = _runtime(device, threads, gpu, precision, self._progress, batch)
        out = ffi.new("padim_scorer **")
        _check(lib.padim_scorer_create(model._handle(), rt, out))
        # The destructor holds the model's cdata: the C model outlives the C scorer even when
        # both are collected together.
        self._ptr = ffi.gc(out[0], lambda p, _model=model._ptr: lib.padim_scorer_free(p))
        self._lock = threading.Lock()
        self.input_size = model.input_size
        model._scorers.add(self)

    @property
    def model(self) -> Model:
        return self._model

    @property
    def backend(self) -> str:
        """The backend in use ("cpu (2 threads)", "cuda:0 NVIDIA ...")."""
        return _str(lib.padim_scorer_backend(self._handle()))

    _WHAT = "scorer"

    def close(self) -> None:
        """Free the C scorer now (device memory on CUDA)."""
        self._release()

    def score(self, images, source_size=False, chunk=64):
        """Score images: one uint8 array, (N, H, W[, C]) arrays, a path, a folder, or a list
        of them. Returns (scores, maps): scores float32 (N,) (max of each smoothed map) and
        maps float32 (N, S, S) at the preprocessed size S; with source_size=True, maps is a
        list of float32 (H_i, W_i) maps at each image's own size (padim_map_to_source;
        NOT_SCORED outside the paper preset's crop). Files are decoded chunk images at a
        time (in parallel)."""
        if int(chunk) < 1:
            raise ValueError(f"chunk: expected >= 1 images, got {chunk}")
        items = _expand(images)
        n, S = len(items), self.input_size
        scores = np.empty(n, dtype=np.float32)
        maps = np.empty((n, S, S), dtype=np.float32)
        sp, mp = _c_floats(scores), _c_floats(maps)
        source = []
        prog = self._progress
        with self._lock:
            h = self._handle()
            try:
                for i in range(0, n, chunk):
                    part = items[i:i + chunk]
                    if prog is not None:
                        prog.offset, prog.total = i, n
                    with _Images(part, self._threads) as imgs:
                        _check(lib.padim_score_images(h, imgs.c, len(part), sp + i, mp + i * S * S))
                        for k in range(len(part) if source_size else 0):
                            img = imgs.c[k]
                            out = np.empty((img.height, img.width), dtype=np.float32)
                            _check(lib.padim_map_to_source(self._model._handle(), mp + (i + k) * S * S,
                                                           img.width, img.height, _c_floats(out)))
                            source.append(out)
                    if prog is not None:
                        prog.reraise()
            finally:
                if prog is not None:
                    prog.offset, prog.total = 0, None
        return scores, (source if source_size else maps)

    def regions(self, map, threshold=None) -> list:
        """Defect regions of one map (S, S) or source-size map: find_regions(map, threshold),
        threshold defaulting to the model's pixel threshold (Model.thresholds)."""
        if threshold is None:
            t = self._model.thresholds
            if t is None:
                raise ValueError("the model has no pixel threshold: pass threshold=, or run "
                                 "Model.calibrate() / padim-gpu eval --save-thresholds first")
            threshold = t["pixel_threshold"]
        return find_regions(map, threshold)


# ---------------------------------------------------------------- evaluation

# Metrics the library reports as -1 when they cannot be computed (one class, no masks).
_OPTIONAL = ("image_auroc", "pixel_auroc", "image_f1", "pixel_f1", "aupro", "image_threshold",
             "pixel_threshold", "image_precision", "image_recall")


def evaluate(model: Model, test_dir, device="auto", threads=0, *, gpu=None, precision="fp32",
             heatmap_dir=None, fpr_limit=0.3, progress=None) -> dict:
    """Score a labeled test set (an MVTec category folder with test/ and ground_truth/, or
    good/, <defect>/, masks/) and compute its metrics (padim_evaluate): a dict with the
    padim_eval_result fields; a metric that cannot be computed is None (never 0); per image
    (sorted by path): paths, defect_types, labels (uint8), scores (float32)."""
    prog = _Progress(progress) if progress is not None else None
    rt = _runtime(device, threads, gpu, precision, prog)
    opt = ffi.new("padim_eval_options *")
    opt.fpr_limit = float(fpr_limit)
    hd = ffi.new("char[]", _fs(heatmap_dir)) if heatmap_dir is not None else ffi.NULL
    opt.heatmap_dir = hd
    r = ffi.new("padim_eval_result *")
    _check(lib.padim_evaluate(model._handle(), rt, _fs(test_dir), opt, r))
    try:
        n = r.n_images
        out = {}
        for name in (f for f, _ in ffi.typeof("padim_eval_result").fields):
            if name in ("paths", "defect_types"):
                out[name] = [os.fsdecode(ffi.string(getattr(r, name)[i])) for i in range(n)]
            elif name == "labels":
                out[name] = np.frombuffer(ffi.buffer(r.labels, n), dtype=np.uint8).copy()
            elif name == "scores":
                out[name] = np.frombuffer(ffi.buffer(r.scores, 4 * n), dtype=np.float32).copy()
            elif name == "backend":
                out[name] = _str(r.backend)
            else:
                v = getattr(r, name)
                out[name] = None if name in _OPTIONAL and v == -1 else v
        out["has_masks"] = bool(out["has_masks"])
    finally:
        lib.padim_eval_result_free(r)
    if prog is not None:
        prog.reraise()
    return out
