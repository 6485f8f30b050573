"""test_padim_gpu.py - the padim_gpu Python package against the padim-gpu CLI.

Run by tests/test_python.sh (ctest `python_bindings`) against an installed padim-gpu:
    PADIM_GPU_CLI=PREFIX/bin/padim-gpu pytest python/tests
The CLI is the reference: the same model must give the CLI's scores (`score` CSV), the
CLI's evaluation metrics (`eval` metrics.json) and its channel indices (`info --json`).
Data: the CLI's synthetic demo set (`padim-gpu demo`), and MVTec AD bottle when present
($PADIM_SHARED or the source tree's ../shared; those tests skip without it). Everything
runs on the CPU backend; the CUDA test skips without a GPU.
"""
import csv
import io
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import padim_gpu as pg

PIL = pytest.importorskip("PIL.Image")

THREADS = 2
REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PADIM_SHARED", REPO.parent / "shared"))
BOTTLE = SHARED / "data" / "mvtec_ad" / "bottle"


# ---------------------------------------------------------------- helpers and fixtures


def run_cli(cli, *args):
    r = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"padim-gpu {' '.join(map(str, args))} failed:\n{r.stderr}"
    return r.stdout


def cli_scores(cli, model, paths):
    """padim-gpu score CSV -> {path: score} (columns by header name)."""
    out = run_cli(cli, "score", "-q", "--device", "cpu", "--threads", THREADS, model, *paths)
    return {row["path"]: float(row["score"]) for row in csv.DictReader(io.StringIO(out))}


def assert_rel(a, b, tol=1e-6, what="scores"):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rel = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))
    assert rel <= tol, f"{what} differ by {rel:.3g} relative (> {tol}):\n{a}\n{b}"


def pil_rgb(path):
    with PIL.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("PADIM_GPU_CLI") or shutil.which("padim-gpu")
    if not path:
        pytest.skip("no padim-gpu CLI (set PADIM_GPU_CLI)")
    return Path(path)


@pytest.fixture(scope="session")
def demo(cli, tmp_path_factory):
    """padim-gpu demo -o DIR: DIR/model.padim and the synthetic set DIR/data."""
    d = tmp_path_factory.mktemp("demo")
    run_cli(cli, "demo", "-o", d, "--device", "cpu", "--threads", THREADS)
    return d


@pytest.fixture(scope="session")
def demo_model(demo):
    return pg.Model.load(demo / "model.padim")


@pytest.fixture(scope="session")
def demo_test(demo):
    return pg.list_images(demo / "data" / "test")


@pytest.fixture(scope="session")
def demo_scorer(demo_model):
    return demo_model.scorer(device="cpu", threads=THREADS)


@pytest.fixture(scope="session")
def bottle():
    if not (BOTTLE / "train" / "good").is_dir():
        pytest.skip(f"no MVTec AD bottle at {BOTTLE}")
    return BOTTLE


# ---------------------------------------------------------------- demo data: same numbers as the CLI


def test_score_matches_cli(cli, demo, demo_scorer, demo_test):
    scores, maps = demo_scorer.score(demo_test)
    ref = cli_scores(cli, demo / "model.padim", demo_test)
    assert_rel(scores, [ref[p] for p in demo_test])
    S = demo_scorer.input_size
    assert scores.dtype == np.float32 and scores.shape == (len(demo_test),)
    assert maps.dtype == np.float32 and maps.shape == (len(demo_test), S, S)
    # the image score is the maximum of its map
    assert_rel(scores, maps.reshape(len(demo_test), -1).max(axis=1), what="score vs map max")


def test_score_arrays_equal_paths(demo_scorer, demo_test):
    ref, ref_maps = demo_scorer.score(demo_test)
    frames = [pil_rgb(p) for p in demo_test]
    scores, maps = demo_scorer.score(frames)
    assert_rel(scores, ref)
    assert_rel(maps, ref_maps, what="maps")
    # one frame as a camera loop gives it; a stacked (N, H, W, 3) array; a folder
    s1, m1 = demo_scorer.score(frames[-1])
    assert s1.shape == (1,) and m1.shape == (1,) + ref_maps.shape[1:]
    assert_rel(s1, ref[-1:])
    s4, _ = demo_scorer.score(np.stack(frames[:4]))
    assert_rel(s4, ref[:4])
    sf, _ = demo_scorer.score(os.path.dirname(demo_test[0]))
    assert sf.shape == (len(pg.list_images(os.path.dirname(demo_test[0]))),)
    # non-contiguous views and RGBA / gray arrays are accepted
    h, w, _ = frames[0].shape
    padded = np.zeros((h, w + 8, 3), np.uint8)
    padded[:, 4:w + 4] = frames[0]
    view = padded[:, 4:w + 4]
    assert not view.flags.c_contiguous
    assert_rel(demo_scorer.score([view])[0], ref[:1])
    rgba = np.concatenate([frames[0], np.full(frames[0].shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert_rel(demo_scorer.score(rgba)[0], ref[:1])
    gray, gmaps = demo_scorer.score(frames[0][:, :, 1])
    assert gray.shape == (1,) and np.isfinite(gmaps).all()


def test_source_size_maps(demo_scorer, demo_test):
    frames = [pil_rgb(p) for p in demo_test[:2]]
    wide = np.ascontiguousarray(np.concatenate([frames[0], frames[1]], axis=1))  # 192 x 384
    scores, maps = demo_scorer.score([frames[0], wide], source_size=True)
    assert isinstance(maps, list) and [m.shape for m in maps] == [(192, 192), (192, 384)]
    assert all(m.dtype == np.float32 and (m >= 0).all() for m in maps)  # squash: every pixel scored
    s_ref, m_ref = demo_scorer.score(frames[0])
    assert_rel(scores[:1], s_ref)
    assert abs(float(maps[0].max()) - float(m_ref.max())) <= 0.05 * float(m_ref.max())


@pytest.fixture(scope="session")
def demo_train8(demo, tmp_path_factory):
    """A folder with the first 8 demo training images (symbolic links): fits stay short."""
    d = tmp_path_factory.mktemp("train8")
    for p in pg.list_images(demo / "data" / "train" / "good")[:8]:
        (d / os.path.basename(p)).symlink_to(p)
    return d


def test_fit_matches_cli(cli, demo_train8, demo_test, tmp_path):
    """Fit from a folder (padim_fit_files) and from PIL-decoded arrays (padim_fit_images):
    both give the scores of the model `padim-gpu fit` writes."""
    run_cli(cli, "fit", "-q", "--device", "cpu", "--threads", THREADS, demo_train8, "-o", tmp_path / "cli.padim")
    test = demo_test[::3]  # 2 good, 1 scratch, 1 stain
    ref = cli_scores(cli, tmp_path / "cli.padim", test)
    calls = []
    model = pg.fit(str(demo_train8), device="cpu", threads=THREADS, progress=lambda *a: calls.append(a))
    assert calls and calls[-1] == ("fit", 8, 8), calls
    assert model.info["n_train"] == 8
    scores, _ = model.scorer(device="cpu", threads=THREADS).score(test)
    assert_rel(scores, [ref[p] for p in test])
    arrays = [pil_rgb(p) for p in pg.list_images(demo_train8)]
    scores_arr, _ = pg.fit(arrays, device="cpu", threads=THREADS).scorer(device="cpu", threads=THREADS).score(test)
    assert_rel(scores_arr, scores)
    # the saved model is the CLI's model: `padim-gpu score` reads it and gives these scores
    model.save(tmp_path / "py.padim")
    assert_rel([cli_scores(cli, tmp_path / "py.padim", test)[p] for p in test], scores)


def test_info_matches_cli(cli, demo, demo_model):
    ref = json.loads(run_cli(cli, "info", "--json", demo / "model.padim"))
    info = demo_model.info
    assert info["idx"].dtype == np.int32 and info["idx"].tolist() == ref["idx"]
    assert info["n_train"] == ref["n_train"] and info["input_size"] == ref["input_size"]
    assert info["channels_total"] == ref["channels_total"] and [info["grid_h"], info["grid_w"]] == ref["grid"]
    assert info["file_bytes"] == ref["file_bytes"]
    c = info["config"]
    assert (c["backbone"], c["preset"], c["d"], c["seed"]) == (ref["backbone"], ref["preset"], ref["d"], ref["seed"])
    assert c["eps"] == ref["eps"] and c["sigma"] == ref["sigma"]


def test_cpu_blas_matches_cli(cli):
    # the CLI restarts itself when OpenBLAS misreads the processor; without that restart it
    # runs the kernels this Python process got
    env = dict(os.environ, PADIM_NO_BLAS_FIX="1")
    out = subprocess.run([str(cli), "--version"], env=env, check=True, capture_output=True, text=True).stdout
    blas = [line[len("BLAS: "):] for line in out.splitlines() if line.startswith("BLAS: ")]
    assert blas == [pg.cpu_blas()] and "(kernels: " in blas[0]


def test_save_load_roundtrip(demo_model, demo_scorer, demo_test, tmp_path):
    demo_model.save(tmp_path / "copy.padim")
    with pg.Model.load(tmp_path / "copy.padim") as m, m.scorer(device="cpu", threads=THREADS) as s:
        assert_rel(s.score(demo_test[:3])[0], demo_scorer.score(demo_test[:3])[0])
        assert m.info["idx"].tolist() == demo_model.info["idx"].tolist()
    with pytest.raises(ValueError, match="closed"):
        s.score(demo_test[0])
    with pytest.raises(ValueError, match="closed"):
        m.info


def test_evaluate_matches_cli(cli, demo, demo_model, demo_scorer, tmp_path):
    r = pg.evaluate(demo_model, demo / "data", device="cpu", threads=THREADS)
    run_cli(cli, "eval", "-q", "--device", "cpu", "--threads", THREADS, "-m", demo / "model.padim",
            demo / "data", "-o", tmp_path)
    ref = json.loads((tmp_path / "metrics.json").read_text())
    m = ref["metrics"]
    for key, ref_key in [("image_auroc", "image_auroc"), ("pixel_auroc", "pixel_auroc"),
                         ("image_f1", "image_f1"), ("pixel_f1", "pixel_f1"), ("aupro", "aupro_0.3")]:
        assert abs(r[key] - m[ref_key]) <= 1e-6, (key, r[key], m[ref_key])
    assert (r["n_images"], r["n_good"], r["n_defective"]) == (12, 6, 6) and r["has_masks"] is True
    assert_rel(r["image_threshold"], ref["thresholds"]["image"], what="image threshold")
    assert r["labels"].tolist() == [0] * 6 + [1] * 6 and r["defect_types"][-1] == "stain"
    assert_rel(r["scores"], demo_scorer.score(r["paths"])[0], what="eval vs Scorer scores")


def test_calibrate_and_regions(demo, demo_test):
    model = pg.Model.load(demo / "model.padim")
    assert model.thresholds is None and model.calibration is None
    good = pg.list_images(demo / "data" / "train" / "good")[:8]
    c = model.calibrate(good, fpr=0.25, device="cpu", threads=THREADS)
    assert c["calibrated"] and c["n_images"] == 8 and not c["small_sample"]
    t = model.thresholds
    assert t["source"] == "calibration" and t["image_threshold"] == c["image_threshold"]
    scorer = model.scorer(device="cpu", threads=THREADS)
    scores, maps = scorer.score(good)
    assert int((scores >= t["image_threshold"]).sum()) == 2  # floor(0.25 * 8) good images flagged
    defect = demo_test.index(next(p for p in demo_test if "/scratch/" in p))
    s, m = scorer.score(demo_test[defect])
    regions = scorer.regions(m[0])  # the calibrated pixel threshold
    assert regions and all(isinstance(r, pg.Region) for r in regions)
    big = max(regions, key=lambda r: r.area)
    assert big.max_value == pytest.approx(float(s[0]), rel=1e-6)
    assert big.x0 <= big.cx <= big.x1 and big.y0 <= big.cy <= big.y1


def test_regions_match_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(7)
    m = ndimage.gaussian_filter(rng.random((37, 53)), 1.5).astype(np.float32)
    thr = float(np.quantile(m, 0.8))
    labels, n = ndimage.label(m >= thr, structure=np.ones((3, 3)))
    regions = pg.find_regions(m, thr)
    assert len(regions) == n > 1
    for k, r in enumerate(regions, start=1):
        ys, xs = np.nonzero(labels == k)
        assert (r.area, r.x0, r.x1, r.y0, r.y1) == (len(xs), xs.min(), xs.max(), ys.min(), ys.max())
        assert r.cx == pytest.approx(xs.mean()) and r.max_value == pytest.approx(m[labels == k].max())
    assert pg.find_regions(m, 1e9) == []


# ---------------------------------------------------------------- errors


def test_errors_name_the_file(demo, demo_scorer, demo_test, tmp_path):
    missing = str(tmp_path / "missing.png")
    with pytest.raises(pg.PadimError) as e:
        demo_scorer.score([demo_test[0], missing])
    assert e.value.status == pg.Status.ERR_IO and "missing.png" in e.value.message
    assert e.value.status_name == "PADIM_ERR_IO" and "missing.png" in str(e.value)
    with pytest.raises(pg.PadimError) as e:
        pg.fit([demo_test[0], missing], device="cpu")
    assert "missing.png" in e.value.message
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(pg.PadimError, match="bad.png"):
        demo_scorer.score(str(tmp_path / "bad.png"))
    with pytest.raises(pg.PadimError) as e:
        pg.Model.load(demo / "scores.csv")
    assert e.value.status == pg.Status.ERR_FORMAT and "scores.csv" in e.value.message
    with pytest.raises(pg.PadimError, match="nope.yaml"):
        pg.fit(demo_test, config=tmp_path / "nope.yaml")
    with pytest.raises(pg.PadimError, match="nope.safetensors"):
        pg.fit(demo_test[:2], weights=tmp_path / "nope.safetensors", device="cpu")
    with pytest.raises(pg.PadimError) as e:
        pg.fit(demo_test[:1], device="cpu")
    assert e.value.status == pg.Status.ERR_ARG and "at least 2" in e.value.message
    with pytest.raises(pg.PadimError) as e:
        pg.fit(demo_test, d=10000, device="cpu")
    assert e.value.status == pg.Status.ERR_ARG
    with pytest.raises(pg.PadimError, match="empty_dir"):
        pg.list_images(tmp_path.joinpath("empty_dir").mkdir() or tmp_path / "empty_dir")
    with pytest.raises(TypeError, match="unknown config key"):
        pg.fit(demo_test, dd=3)
    with pytest.raises(TypeError, match="uint8"):
        demo_scorer.score(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        demo_scorer.score(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(ValueError, match="device"):
        demo_scorer.model.scorer(device="tpu")
    with pytest.raises(ValueError, match="no pixel threshold"):
        demo_scorer.regions(np.zeros((4, 4), np.float32))


def test_progress_exception_is_reraised(demo_scorer, demo_test):
    def boom(stage, done, total):
        raise KeyboardInterrupt("stop")

    scorer = pg.Scorer(demo_scorer.model, device="cpu", threads=1, progress=boom)
    with pytest.raises(KeyboardInterrupt, match="stop"):
        scorer.score(demo_test[:2])
    calls = []
    scorer = pg.Scorer(demo_scorer.model, device="cpu", threads=1, progress=lambda *a: calls.append(a))
    scorer.score(demo_test[:3], chunk=2)
    assert calls[-1] == ("score", 3, 3), calls  # counted over the whole call, not per chunk


def test_no_leaks(demo, demo_test, tmp_path):
    """C objects are freed: a model file is ~95 MB, so one leaked model per cycle would show."""
    import gc

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    missing = str(tmp_path / "missing.png")

    def cycle(k):
        if k % 2:
            with pg.Model.load(demo / "model.padim") as m, m.scorer(device="cpu", threads=1) as s:
                _, maps = s.score(demo_test[-1], source_size=True)
        else:  # no close(): freed when collected
            s = pg.Model.load(demo / "model.padim").scorer(device="cpu", threads=1)
            _, maps = s.score(demo_test[-1], source_size=True)
            with pytest.raises(pg.PadimError):
                s.score([demo_test[0], missing])
            del s
        for _ in range(20):
            pg.find_regions(maps[0], float(maps[0].mean()))
            pg.list_images(demo / "data" / "test")
            pg.load_image(demo_test[0])

    cycle(0)
    cycle(1)
    gc.collect()
    before = rss()
    for k in range(6):
        cycle(k)
    gc.collect()
    grown = rss() - before
    assert grown < 60e6, f"resident memory grew by {grown / 1e6:.0f} MB over 6 load/score cycles"


# ---------------------------------------------------------------- the GIL


def test_threads_score_in_parallel(demo_model, demo_test):
    """Two Python threads, each with its own Scorer, are inside the C scorer at the same
    time: the GIL is released during C calls. While they run, the main thread keeps
    executing Python code, and progress callbacks arrive from C."""
    frames = [pil_rgb(p) for p in demo_test[:6]]
    scorers = [demo_model.scorer(device="cpu", threads=1) for _ in range(2)]
    ref = scorers[0].score(frames)[0]
    spans, results, ticks = [None, None], [None, None], []
    barrier = threading.Barrier(3)

    def work(k):
        barrier.wait()
        t0 = time.perf_counter()
        results[k] = scorers[k].score(frames)[0]
        spans[k] = (t0, time.perf_counter())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    barrier.wait()
    while any(t.is_alive() for t in threads):
        ticks.append(time.perf_counter())
        time.sleep(0.005)
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, f"score calls did not overlap: {spans} (the GIL was held)"
    both = (max(a0, b0), min(a1, b1))
    assert sum(both[0] < t < both[1] for t in ticks) >= 3, "the main thread did not run during the C calls"
    for r in results:
        assert_rel(r, ref)


# ---------------------------------------------------------------- MVTec AD bottle (when present)


@pytest.fixture(scope="session")
def bottle_subset(bottle, cli, tmp_path_factory):
    """10 training images, a CLI model fitted on them, and 4 test images (2 good, 2 broken)."""
    train = sorted(str(p) for p in (bottle / "train" / "good").glob("*.png"))[:10]
    test = (sorted(str(p) for p in (bottle / "test" / "good").glob("*.png"))[:2]
            + sorted(str(p) for p in (bottle / "test" / "broken_large").glob("*.png"))[:2])
    d = tmp_path_factory.mktemp("bottle")
    run_cli(cli, "fit", "-q", "--device", "cpu", "--threads", THREADS, *train, "-o", d / "cli.padim")
    return train, test, d / "cli.padim"


def test_bottle_fit_paths_and_arrays_match_cli(cli, bottle_subset):
    train, test, cli_model = bottle_subset
    ref = cli_scores(cli, cli_model, test)
    m_paths = pg.fit(train, device="cpu", threads=THREADS)
    m_arrays = pg.fit([pil_rgb(p) for p in train], device="cpu", threads=THREADS)
    s_paths, maps = m_paths.scorer(device="cpu", threads=THREADS).score(test)
    scorer = m_arrays.scorer(device="cpu", threads=THREADS)
    s_arrays, src = scorer.score([pil_rgb(p) for p in test], source_size=True)
    assert_rel(s_paths, [ref[p] for p in test])
    assert_rel(s_arrays, s_paths)
    assert maps.shape == (4, 256, 256) and [m.shape for m in src] == [(900, 900)] * 4
    assert s_paths[2:].min() > s_paths[:2].max()  # broken bottles above good ones


def test_bottle_evaluate_matches_cli(cli, bottle, bottle_subset, tmp_path):
    """evaluate() on a small MVTec-layout copy of bottle (3 good, 3 broken_large with masks)
    gives the AUROCs of `padim-gpu eval`."""
    _, _, cli_model = bottle_subset
    cat = tmp_path / "bottle_mini"
    for sub, n in [("test/good", 3), ("test/broken_large", 3)]:
        (cat / sub).mkdir(parents=True)
        for p in sorted((bottle / sub).glob("*.png"))[:n]:
            (cat / sub / p.name).symlink_to(p)
            if "broken" in sub:
                mask = bottle / "ground_truth" / "broken_large" / f"{p.stem}_mask.png"
                (cat / "ground_truth" / "broken_large").mkdir(parents=True, exist_ok=True)
                (cat / "ground_truth" / "broken_large" / mask.name).symlink_to(mask)
    (cat / "train").mkdir()
    r = pg.evaluate(pg.Model.load(cli_model), cat, device="cpu", threads=THREADS)
    run_cli(cli, "eval", "-q", "--device", "cpu", "--threads", THREADS, "-m", cli_model, cat, "-o", tmp_path / "out")
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics"]
    assert (r["n_good"], r["n_defective"]) == (3, 3)
    assert abs(r["image_auroc"] - m["image_auroc"]) <= 1e-6
    assert abs(r["pixel_auroc"] - m["pixel_auroc"]) <= 1e-6


# ---------------------------------------------------------------- CUDA (when a GPU works)


def test_cuda_matches_cpu(demo_model, demo_scorer, demo_test):
    try:
        gpu = demo_model.scorer(device="cuda")
    except pg.PadimError as e:
        if e.status == pg.Status.ERR_DEVICE:
            pytest.skip(f"no CUDA backend: {e.message}")
        raise
    assert gpu.backend.startswith("cuda")
    assert_rel(gpu.score(demo_test)[0], demo_scorer.score(demo_test)[0], tol=1e-4)
