#!/usr/bin/python3
"""ref_metrics.py - independent references for src/host/metrics.c and the mask geometry of
src/host/dataset.c; writes the goldens of tests/test_metrics.c and tests/test_dataset.c to
tests/golden/metrics/.

  AUROC      sklearn.metrics.roc_auc_score
  best F1    sklearn.metrics.precision_recall_curve, F1 = 2 P R / (P + R), max; the
             threshold (lowest score reaching the max), precision and recall from a brute
             force count over every distinct score
  AUPRO      a threshold sweep over every distinct map value (exact): predicted = map >= t,
             regions = scipy.ndimage.label with 8-connectivity, FPR over normal pixels, PRO =
             mean per-region overlap; trapezoid to the FPR limit with linear interpolation
  components scipy.ndimage.label (structure ones((3, 3)))
  curves     sklearn.metrics.roc_curve (drop_intermediate=False): every point the report may
             plot; the PRO sweep's (FPR, PRO) points
  SegF1      sklearn.metrics.f1_score of (map >= threshold) over all pixels
  masks      torch F.interpolate(mode="nearest") (anomalib preset) and torchvision
             Resize(NEAREST) + CenterCrop on a PIL image (paper preset, xiahaifeng), on
             random blobs and (defect-pixel counts) on the real MVTec bottle masks

Run: /usr/bin/python3 tests/ref_metrics.py   (numpy, scipy, sklearn, torch, torchvision, PIL)
"""
import os

import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image
from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score, roc_curve

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "metrics")
FPR_LIMITS = [0.3, 0.05, 1.0]


def save(name, a):
    np.save(os.path.join(OUT, name + ".npy"), a)


def best_f1_sklearn(scores, labels):
    p, r, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return float(f1.max())


def best_f1_bruteforce(scores, labels):
    """Lowest threshold among the maxima of F1 = 2TP / (TP + FP + P) over distinct scores."""
    s = scores.astype(np.float64)
    pos = int(labels.sum())
    best = (-1.0, None, None, None)
    for t in np.unique(s):  # increasing, so '>' keeps the lowest threshold of a tie
        pred = s >= t
        tp = int((pred & (labels == 1)).sum())
        fp = int((pred & (labels == 0)).sum())
        f1 = 2.0 * tp / (tp + fp + pos)
        if f1 > best[0]:
            best = (f1, float(t), tp / (tp + fp), tp / pos)
    return best


def classification_case(name, scores, labels):
    scores = scores.astype(np.float32)
    labels = labels.astype(np.uint8)
    auroc = roc_auc_score(labels, scores.astype(np.float64))
    f1_sk = best_f1_sklearn(scores.astype(np.float64), labels)
    f1, thr, prec, rec = best_f1_bruteforce(scores, labels)
    assert abs(f1 - f1_sk) < 1e-12, (name, f1, f1_sk)
    save(name + "_scores", scores)
    save(name + "_labels", labels)
    save(name + "_expected", np.array([auroc, f1, thr, prec, rec], dtype=np.float64))
    print(f"{name}: n={len(scores)} distinct={len(np.unique(scores))} auroc={auroc:.12f} "
          f"f1={f1:.12f} thr={thr:.6g}")


def trapezoid_to(x, y, limit):
    """Area under y(x) (x nondecreasing) for x in [0, limit], y interpolated at the limit."""
    area = 0.0
    for i in range(1, len(x)):
        x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
        if x1 >= limit:
            y_lim = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            return area + (limit - x0) * (y0 + y_lim) / 2
        area += (x1 - x0) * (y0 + y1) / 2
    return area


def aupro_sweep(maps, masks, limits, curve=None):
    struct = np.ones((3, 3), dtype=int)
    region_ids = np.zeros(masks.shape, dtype=np.int64)
    nregions = 0
    for i in range(len(masks)):
        lab, k = ndi.label(masks[i] > 0, structure=struct)
        region_ids[i] = np.where(lab > 0, lab + nregions, 0)
        nregions += k
    ids = region_ids.ravel()
    area = np.bincount(ids, minlength=nregions + 1).astype(np.float64)
    normal = ids == 0
    flat = maps.ravel().astype(np.float64)
    fprs, pros = [0.0], [0.0]
    for t in np.unique(flat)[::-1]:
        pred = flat >= t
        fprs.append((pred & normal).sum() / normal.sum())
        overlap = np.bincount(ids[pred], minlength=nregions + 1).astype(np.float64)
        pros.append(float(np.mean(overlap[1:] / area[1:])))
    if curve is not None:
        curve.extend([fprs, pros])
    return [trapezoid_to(fprs, pros, lim) / lim for lim in limits], region_ids


def blob_masks(rng, N, H, W, regions_per_image):
    masks = np.zeros((N, H, W), dtype=np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(N):
        for _ in range(regions_per_image[i]):
            cy, cx = rng.uniform(0, H), rng.uniform(0, W)
            ry, rx = rng.uniform(1.0, H / 5), rng.uniform(1.0, W / 5)
            masks[i][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = 1
    return masks


def aupro_case(rng):
    N, H, W = 7, 40, 48
    masks = blob_masks(rng, N, H, W, [3, 4, 0, 2, 5, 0, 1])
    # Diagonal-only contacts: 8-connected (one region), 4-connected would give two.
    masks[2, 5:8, 5:8] = np.eye(3, dtype=np.uint8)
    masks[2, 20, 30] = 1
    masks[2, 21, 29] = 1
    noise = ndi.gaussian_filter(rng.normal(size=(N, H, W)), sigma=(0, 2, 2))
    maps = noise + 0.6 * ndi.gaussian_filter(masks.astype(np.float64), sigma=(0, 1.5, 1.5))
    maps = np.round(maps, 2).astype(np.float32)  # ties across and within images
    curve = []
    results, region_ids = aupro_sweep(maps, masks, FPR_LIMITS, curve)
    save("aupro_curve", np.array(curve, dtype=np.float64))  # (2, points): FPR, PRO
    save("aupro_maps", maps)
    save("aupro_masks", masks)
    save("aupro_expected", np.array(results, dtype=np.float64))
    # Per-image scipy labels (numbering restarts at 1 per image) for the components test.
    labels = np.stack([ndi.label(m, structure=np.ones((3, 3), dtype=int))[0] for m in masks])
    save("components", labels.astype(np.int32))
    print(f"aupro: maps {maps.shape} regions={int(region_ids.max())} distinct="
          f"{len(np.unique(maps))} aupro@{FPR_LIMITS}={results}")


def curve_and_segf1_cases(rng):
    """ROC points of the 'random' case, and SegF1 at fixed thresholds on random maps."""
    scores = np.load(os.path.join(OUT, "random_scores.npy")).astype(np.float64)
    labels = np.load(os.path.join(OUT, "random_labels.npy"))
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    save("random_roc", np.array([fpr, tpr], dtype=np.float64))
    N, H, W = 5, 33, 29
    masks = blob_masks(rng, N, H, W, [2, 0, 3, 1, 2])
    maps = (rng.normal(size=(N, H, W)) + 1.5 * masks).astype(np.float32)
    maps[0, 0, :5] = -1.0  # PADIM_NOT_SCORED: never predicted
    masks[0, 0, :2] = 1
    thresholds = [0.5, 1.0, float(maps[3, 10, 10])]
    exp = []
    for t in thresholds:
        pred = (maps >= np.float32(t)) & (maps != -1.0)
        exp.append([t, f1_score(masks.ravel(), pred.ravel())])
    save("segf1_maps", maps)
    save("segf1_masks", masks)
    save("segf1_expected", np.array(exp, dtype=np.float64))
    print(f"curves: roc points {len(fpr)}; segf1 {exp}")


def mask_case(rng, name, h, w, preset, resize, crop):
    m = (blob_masks(rng, 1, h, w, [6])[0] * 255).astype(np.uint8)
    if preset == "anomalib":
        t = torch.from_numpy(m)[None, None].float()
        r = F.interpolate(t, size=(resize, resize), mode="nearest")[0, 0].numpy()
        if crop:
            r = T.CenterCrop(crop)(torch.from_numpy(r)[None])[0].numpy()
    else:
        pil = T.Resize(resize, interpolation=T.InterpolationMode.NEAREST)(Image.fromarray(m))
        r = np.asarray(T.CenterCrop(crop)(pil))
    save(f"mask_{name}_in", m)
    save(f"mask_{name}_out", (r > 127).astype(np.uint8))
    print(f"mask {name}: {w}x{h} -> {r.shape} ({preset}, resize {resize}, crop {crop})")


def bottle_masks():
    """Defect-pixel count of every MVTec bottle mask at the evaluation size of both presets
    (skipped when ../shared is absent): (63, 2) int64 in the test set's order."""
    root = os.path.join(os.path.dirname(OUT), "..", "..", "..", "shared", "data", "mvtec_ad",
                        "bottle")
    gt = os.path.join(root, "ground_truth")
    if not os.path.isdir(gt):
        print("bottle masks: ../shared/data/mvtec_ad/bottle absent, skipped")
        return
    counts = []
    for d in sorted(os.listdir(os.path.join(root, "test"))):
        if d == "good":
            continue
        for f in sorted(os.listdir(os.path.join(root, "test", d))):
            m = Image.open(os.path.join(gt, d, os.path.splitext(f)[0] + "_mask.png"))
            t = torch.from_numpy(np.asarray(m).copy())[None, None].float()
            a = F.interpolate(t, size=(256, 256), mode="nearest")[0, 0].numpy()
            p = np.asarray(T.CenterCrop(224)(T.Resize(256, T.InterpolationMode.NEAREST)(m)))
            counts.append([int((a > 127).sum()), int((p > 127).sum())])
    save("bottle_mask_counts", np.array(counts, dtype=np.int64))
    print(f"bottle masks: {len(counts)}, defect pixels anomalib {sum(c[0] for c in counts)}, "
          f"paper {sum(c[1] for c in counts)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240601)

    # Random scores, labels correlated with them; negatives and positives of both signs.
    n = 2000
    labels = (rng.uniform(size=n) < 0.3).astype(np.uint8)
    classification_case("random", rng.normal(size=n) + 0.8 * labels, labels)
    # Heavy ties: one decimal.
    n = 3000
    labels = (rng.uniform(size=n) < 0.4).astype(np.uint8)
    classification_case("tied", np.round(rng.normal(size=n) * 0.6 + 0.5 * labels, 1), labels)
    # All scores equal: AUROC 0.5, the only threshold predicts everything positive.
    labels = (rng.uniform(size=101) < 0.25).astype(np.uint8)
    classification_case("same", np.full(101, 0.75), labels)
    # Image-level sized: 83 images (bottle), few ties.
    labels = np.r_[np.zeros(20), np.ones(63)].astype(np.uint8)
    classification_case("small", np.round(rng.gamma(3.0, size=83) + 1.2 * labels, 3), labels)

    aupro_case(rng)

    mask_case(rng, "anomalib_down", 70, 90, "anomalib", 64, 0)
    mask_case(rng, "anomalib_up", 13, 20, "anomalib", 29, 0)
    mask_case(rng, "paper_wide", 47, 61, "paper", 32, 24)
    mask_case(rng, "paper_tall", 61, 47, "paper", 32, 24)
    mask_case(rng, "paper_odd", 83, 57, "paper", 37, 30)
    bottle_masks()
    curve_and_segf1_cases(np.random.default_rng(20250301))  # own generator: older goldens unchanged


if __name__ == "__main__":
    main()
