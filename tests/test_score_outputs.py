#!/usr/bin/python3
"""test_score_outputs.py PADIM_GPU - `score` outputs at the source geometry, end to end.

On a folder of mixed sizes (non-square both ways, odd, square, grayscale) made from the
demo's synthetic images, for both presets:
  - `score --map-size input --maps` gives the (S, S) map; `score --maps --heatmaps --masks`
    (default: source size) gives maps, heatmaps and masks of each image's own size;
  - the source map equals an independent mapping of the input map: torch
    F.interpolate(bilinear, align_corners=False) for anomalib, a NumPy resize+center-crop
    inverse for paper (unscored pixels = -1 exactly where the crop does not reach);
  - the mask is (source map >= the calibrated pixel threshold); the regions of scores.json
    and regions.csv equal scipy.ndimage.label (8-connectivity) of that mask, with bbox, area,
    centroid, max and mean;
  - a grayscale image's heatmap is gray where the map is not scored (paper preset);
  - `calibrate` stores good-only thresholds that score and info report.
Skipped (77) without numpy / scipy / torch / PIL.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import scipy.ndimage as ndi
    import torch
    import torch.nn.functional as F
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_outputs import crop_offset, paper_axis  # noqa: E402  (the same independent reference)

PADIM = sys.argv[1]
SIZES = [(500, 200), (173, 311), (256, 256), (97, 333)]


def run(*args):
    r = subprocess.run([PADIM, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: padim-gpu {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
    return r


def expected_source(m, W, H, preset, resize):
    S = m.shape[0]
    if preset == "anomalib":
        t = torch.from_numpy(m.astype(np.float32))[None, None]
        return F.interpolate(t, size=(H, W), mode="bilinear", align_corners=False)[0, 0].numpy().astype(np.float64)
    if W <= H:
        rw, rh = resize, int(resize * H / W)
    else:
        rh, rw = resize, int(resize * W / H)
    y0, y1, a0, a1, vy = paper_axis(H, rh, crop_offset(rh, S), S)
    x0, x1, b0, b1, vx = paper_axis(W, rw, crop_offset(rw, S), S)
    m = m.astype(np.float64)
    out = (m[y0][:, x0] * b0 + m[y0][:, x1] * b1) * a0[:, None] + (m[y1][:, x0] * b0 + m[y1][:, x1] * b1) * a1[:, None]
    out[~(vy[:, None] & vx[None, :])] = -1.0
    return out


def check_regions(name, mask, smap, regions, rows):
    lab, n = ndi.label(mask, structure=np.ones((3, 3)))
    assert len(regions) == n, f"{name}: {len(regions)} regions, scipy {n}"
    assert len(rows) == n, f"{name}: regions.csv has {len(rows)} rows, scipy {n}"
    idx = np.arange(1, n + 1)
    objs = ndi.find_objects(lab)
    for k, r in enumerate(regions):
        sl = objs[k]
        assert r["bbox"] == [sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1], (name, k, r["bbox"])
        assert r["area"] == int((lab == k + 1).sum()), (name, k)
    if n:
        com = ndi.center_of_mass(np.ones_like(smap), lab, idx)
        mx = ndi.maximum(smap, lab, idx)
        mean = ndi.mean(smap, lab, idx)
        for k, r in enumerate(regions):
            assert abs(r["centroid"][0] - com[k][1]) < 1e-6 and abs(r["centroid"][1] - com[k][0]) < 1e-6, (name, k)
            assert abs(r["max"] - mx[k]) <= 1e-6 * abs(mx[k]) and abs(r["mean"] - mean[k]) <= 1e-5 * abs(mean[k]), (name, k)


def main():
    tmp = tempfile.mkdtemp(prefix="padim-score-outputs-")
    run("demo", "-o", f"{tmp}/demo", "--device", "cpu")
    data = f"{tmp}/demo/data"
    train = f"{data}/train/good"
    goods = sorted(os.listdir(train))
    os.makedirs(f"{tmp}/imgs")
    defects = sorted(os.listdir(f"{data}/test/scratch"))
    sources = [f"{data}/test/scratch/{defects[0]}", f"{data}/test/stain/{sorted(os.listdir(f'{data}/test/stain'))[0]}",
               f"{data}/test/good/{sorted(os.listdir(f'{data}/test/good'))[0]}", f"{data}/test/scratch/{defects[1]}"]
    for k, ((W, H), src) in enumerate(zip(SIZES, sources)):
        im = Image.open(src).convert("RGB").resize((W, H), Image.BILINEAR)
        if k == 3:
            im = im.convert("L")  # grayscale input
        im.save(f"{tmp}/imgs/img{k}.png")
    for preset, resize in (("anomalib", 256), ("paper", 256)):
        model = f"{tmp}/{preset}.padim"
        run("fit", "-q", "--device", "cpu", "--preset", preset, train, "-o", model)
        cal = [f"{train}/{g}" for g in goods[-12:]]
        r = run("calibrate", "-q", "--device", "cpu", model, *cal, "--fpr", "0.05")
        info = json.loads(run("info", "--json", model).stdout)
        assert info["calibration"] and info["calibration"]["images"] == 12 and info["thresholds_applied"] == "calibration"
        thr = info["calibration"]["pixel"]
        out_in, out_src = f"{tmp}/{preset}-in", f"{tmp}/{preset}-src"
        run("score", "-q", "--device", "cpu", model, f"{tmp}/imgs", "-o", out_in, "--maps", "--map-size", "input")
        r = run("score", "--device", "cpu", model, f"{tmp}/imgs", "-o", out_src, "--maps", "--heatmaps", "--masks")
        assert "thresholds from good-image calibration" in r.stderr, r.stderr
        js = json.load(open(f"{out_src}/scores.json"))
        assert js["map_size"] == "source" and js["thresholds"]["source"] == "calibration"
        rows = list(csv.DictReader(open(f"{out_src}/regions.csv")))
        for k, (W, H) in enumerate(SIZES):
            name = f"img{k}"
            m_in = np.array(Image.open(f"{out_in}/maps/{name}.tiff"), dtype=np.float32)
            S = 256 if preset == "anomalib" else 224
            assert m_in.shape == (S, S), (preset, name, m_in.shape)
            smap = np.array(Image.open(f"{out_src}/maps/{name}.tiff"), dtype=np.float32).astype(np.float64)
            assert smap.shape == (H, W), (preset, name, smap.shape)
            ref = expected_source(m_in, W, H, preset, resize)
            assert np.array_equal(smap == -1.0, ref == -1.0), f"{preset} {name}: not-scored pixels differ"
            err = np.abs(smap - ref).max() / max(1.0, np.abs(ref).max())
            assert err < 2e-6, f"{preset} {name}: source map differs from the reference by {err:g}"
            heat = np.array(Image.open(f"{out_src}/heatmaps/{name}.png"))
            mask = np.array(Image.open(f"{out_src}/masks/{name}.png"))
            assert heat.shape == (H, W, 3) and mask.shape == (H, W), (preset, name, heat.shape, mask.shape)
            want = (smap != -1.0) & (smap >= thr)
            assert np.array_equal(mask > 0, want), f"{preset} {name}: mask != (map >= pixel threshold)"
            entry = next(e for e in js["images"] if e["name"] == name)
            assert (entry["map_width"], entry["map_height"]) == (W, H)
            check_regions(f"{preset} {name}", want, smap.astype(np.float32).astype(np.float64), entry["regions"],
                          [rw for rw in rows if rw["name"] == name])
            unscored = smap == -1.0
            if preset == "paper":
                assert unscored.any(), f"paper {name}: the crop should leave pixels unscored"
                if k == 3:
                    g = heat[unscored]
                    assert (g[:, 0] == g[:, 1]).all() and (g[:, 1] == g[:, 2]).all(), "grayscale not shown as gray"
            else:
                assert not unscored.any()
            print(f"{preset} {name} {W}x{H}: source map ok (max rel err {err:.2g}), "
                  f"{int(unscored.sum())} not scored, {len(entry['regions'])} regions")
    print("test_score_outputs: all checks passed")


if __name__ == "__main__":
    main()
