#!/usr/bin/python3
"""ref_outputs.py - independent references for the outputs at the source geometry
(padim_map_to_source, src/host/preprocess.c) and the defect regions (padim_find_regions,
src/host/eval/regions.c); writes the goldens of tests/test_outputs.c to
tests/golden/outputs/.

  anomalib  torch.nn.functional.interpolate(map, size=(H, W), mode="bilinear",
            align_corners=False) of the (S, S) map (what anomalib does to its maps)
  paper     the definition in padim.h, vectorized in NumPy float64: each source pixel center
            mapped into the torchvision-Resize(shorter side) frame, minus the CenterCrop
            offset (Python round, half to even), sampled bilinearly with torch's clamping;
            centers outside the crop -> -1 (PADIM_NOT_SCORED)
  regions   scipy.ndimage.label (structure ones((3, 3))), find_objects, sum, maximum, mean,
            center_of_mass on map >= threshold (pixels at -1 excluded)

Run: /usr/bin/python3 tests/ref_outputs.py   (numpy, scipy, torch)
"""
import os

import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "outputs")
S = 32
# (width, height): non-square both ways, up and down, odd, square
SIZES = [(50, 125), (125, 50), (17, 9), (32, 32), (97, 101), (40, 40)]
RESIZE_PAPER = 40  # crop S = 32


def crop_offset(size, crop):
    return int(round((size - crop) / 2.0))  # Python round: half to even, as torchvision


def paper_axis(n_src, r, off, S=S):
    """One axis of the paper preset's inverse geometry (see the module docstring)."""
    o = np.arange(n_src, dtype=np.float64)
    u = (o + 0.5) * r / n_src - 0.5 - off
    valid = (u >= -0.5) & (u <= S - 0.5)
    u = np.maximum(u, 0.0)
    i0 = np.minimum(np.floor(u).astype(np.int64), S - 1)
    lam = np.minimum(u - i0, 1.0)
    i1 = np.minimum(i0 + 1, S - 1)
    return i0, i1, 1.0 - lam, lam, valid


def paper_map(m, W, H):
    if W <= H:
        rw, rh = RESIZE_PAPER, int(RESIZE_PAPER * H / W)
    else:
        rh, rw = RESIZE_PAPER, int(RESIZE_PAPER * W / H)
    y0, y1, a0, a1, vy = paper_axis(H, rh, crop_offset(rh, S))
    x0, x1, b0, b1, vx = paper_axis(W, rw, crop_offset(rw, S))
    m = m.astype(np.float64)
    top = m[y0][:, x0] * b0[None, :] + m[y0][:, x1] * b1[None, :]
    bot = m[y1][:, x0] * b0[None, :] + m[y1][:, x1] * b1[None, :]
    out = top * a0[:, None] + bot * a1[:, None]
    out[~(vy[:, None] & vx[None, :])] = -1.0
    return out


def regions(m, thr):
    fg = (m >= thr) & (m != -1.0)
    lab, n = ndi.label(fg, structure=np.ones((3, 3)))
    rows = []
    idx = np.arange(1, n + 1)
    if n:
        objs = ndi.find_objects(lab)
        areas = ndi.sum(np.ones_like(m), lab, idx)
        maxs = ndi.maximum(m, lab, idx)
        means = ndi.mean(m.astype(np.float64), lab, idx)
        com = ndi.center_of_mass(np.ones_like(m), lab, idx)
        for k in range(n):
            sl = objs[k]
            rows.append([sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1, areas[k],
                         com[k][1], com[k][0], maxs[k], means[k]])
    return np.array(rows, dtype=np.float64).reshape(-1, 9)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261201)
    # smooth positive map (what the blur produces), float32
    m = ndi.gaussian_filter(rng.random((S, S)), 2.0).astype(np.float32) * 10 + 1
    np.save(os.path.join(OUT, "map.npy"), m)
    t = torch.from_numpy(m)[None, None]
    for W, H in SIZES:
        a = F.interpolate(t, size=(H, W), mode="bilinear", align_corners=False)[0, 0].numpy()
        np.save(os.path.join(OUT, f"anomalib_{W}x{H}.npy"), a.astype(np.float64))
        np.save(os.path.join(OUT, f"paper_{W}x{H}.npy"), np.ascontiguousarray(paper_map(m, W, H)))
    # regions: blobs on a 61 x 47 map with a band of -1 (not scored) and diagonal touches
    H, W = 47, 61
    r = ndi.gaussian_filter(rng.random((H, W)), 1.5)
    r = (r - r.min()) / (r.max() - r.min())
    r[:, :3] = -1.0
    r[20, 10] = r[21, 11] = 0.99  # 8-connected diagonal pair
    r = r.astype(np.float32)
    np.save(os.path.join(OUT, "regions_map.npy"), r)
    for thr in (0.5, 0.7, 0.9):
        np.save(os.path.join(OUT, f"regions_{thr}.npy"), regions(r.astype(np.float64), thr))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
