#!/usr/bin/python3
"""make_layouts.py OUT - small synthetic, license-clean datasets in every layout that
`padim-gpu eval` reads (README "Datasets"), for tests/test_layouts.py and by hand:

  OUT/mvtec_ad/fabric/          MVTec AD: train/good, test/{good,hole}, ground_truth/hole/<s>_mask.png
  OUT/mvtec_ad2/can/            MVTec AD 2: train/good, validation/good, test_public/{good,bad},
                                test_public/ground_truth/bad/<s>_mask.png, test_private/<s>.png,
                                test_private_mixed/<s>.png (private images 80x64: not square)
  OUT/visa/pcb1/ + split_csv/   VisA raw: Data/Images/{Normal,Anomaly}/*.JPG, Data/Masks/Anomaly/*.png
                                (class ids 1 and 2, not 0/255), split_csv/1cls.csv
  OUT/visa_pytorch/pcb1/        VisA as anomalib converts it: train/good, test/{good,bad},
                                ground_truth/bad/<s>.png (named like the image)
  OUT/roots/odd/                --root with two MVTec categories, one named `a&b "c"`
  OUT/broken/...                one defect each: a missing mask (MVTec AD 2), a stray image
                                not in 1cls.csv (VisA), a mask without image (MVTec AD)

Images are 64x64 RGB (private MVTec AD 2 ones 80x64): a smooth woven texture with noise;
a defect is a bright or dark ellipse whose pixels are the mask. Deterministic (seeded).
Needs NumPy and PIL (Debian's python3-numpy, python3-pil).
"""
import csv
import os
import shutil
import sys

import numpy as np
from PIL import Image

W = H = 64


def texture(rng, w=W, h=H):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.empty((h, w, 3))
    phase = rng.uniform(0, 2 * np.pi, size=2)
    weave = 0.5 + 0.18 * np.sin(xx * 0.9 + phase[0]) * np.sin(yy * 0.9 + phase[1])
    for c, tint in enumerate((0.55, 0.45, 0.35)):
        base[..., c] = weave * tint * 1.6 + rng.normal(0, 0.03, size=(h, w))
    return base


def defect(rng, img, kind=1):
    """Paints an ellipse (bright for kind 1, dark for kind 2) and returns its mask (bool)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(14, h - 14), rng.uniform(14, w - 14)
    ry, rx = rng.uniform(4, 9), rng.uniform(4, 9)
    m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    img[m] = (0.95, 0.9, 0.2) if kind == 1 else (0.05, 0.05, 0.1)
    return m


def save_rgb(path, img, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path, format=fmt)


def save_mask(path, m, value=255):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray((m.astype(np.uint8) * value).astype(np.uint8), mode="L").save(path)


def mvtec_ad(root, cat, rng, n_train=10, n_good=4, n_bad=4):
    d = os.path.join(root, cat)
    for i in range(n_train):
        save_rgb(os.path.join(d, "train", "good", "%03d.png" % i), texture(rng))
    for i in range(n_good):
        save_rgb(os.path.join(d, "test", "good", "%03d.png" % i), texture(rng))
    for i in range(n_bad):
        img = texture(rng)
        m = defect(rng, img)
        save_rgb(os.path.join(d, "test", "hole", "%03d.png" % i), img)
        save_mask(os.path.join(d, "ground_truth", "hole", "%03d_mask.png" % i), m)
    return d


def mvtec_ad2(root, obj, rng):
    d = os.path.join(root, obj)
    for i in range(10):
        save_rgb(os.path.join(d, "train", "good", "%03d_regular.png" % i), texture(rng))
    for i in range(6):
        save_rgb(os.path.join(d, "validation", "good", "%03d_regular.png" % i), texture(rng))
    # test_public: stems unique across good/ and bad/ (tests score them side by side).
    for i in range(4):
        save_rgb(os.path.join(d, "test_public", "good", "%03d_regular.png" % i), texture(rng))
    for i in range(4, 8):
        img = texture(rng)
        m = defect(rng, img, 1 + i % 2)
        save_rgb(os.path.join(d, "test_public", "bad", "%03d_regular.png" % i), img)
        save_mask(os.path.join(d, "test_public", "ground_truth", "bad", "%03d_regular_mask.png" % i), m)
    for split, suffix in (("test_private", "regular"), ("test_private_mixed", "mixed")):
        for i in range(3):
            img = texture(rng, 80, 64)
            if i == 1:
                defect(rng, img)
            save_rgb(os.path.join(d, split, "%03d_%s.png" % (i, suffix)), img)
    return d


def visa_raw(root, cat, rng):
    d = os.path.join(root, cat)
    rows = []
    for i in range(14):
        rel = "%s/Data/Images/Normal/%04d.JPG" % (cat, i)
        save_rgb(os.path.join(root, rel), texture(rng), "JPEG")
        rows.append([cat, "train" if i < 10 else "test", "normal", rel, ""])
    for i in range(4):
        img = texture(rng)
        m = defect(rng, img, 1 + i % 2)
        rel, mrel = "%s/Data/Images/Anomaly/%03d.JPG" % (cat, i), "%s/Data/Masks/Anomaly/%03d.png" % (cat, i)
        save_rgb(os.path.join(root, rel), img, "JPEG")
        save_mask(os.path.join(root, mrel), m, value=1 + i % 2)  # class ids, as VisA's masks
        rows.append([cat, "test", "anomaly", rel, mrel])
    os.makedirs(os.path.join(root, "split_csv"), exist_ok=True)
    with open(os.path.join(root, "split_csv", "1cls.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["object", "split", "label", "image", "mask"])
        w.writerows(rows)
    return d


def visa_converted(root, cat, rng):
    d = os.path.join(root, cat)
    for i in range(10):
        save_rgb(os.path.join(d, "train", "good", "%04d.JPG" % i), texture(rng), "JPEG")
    for i in range(10, 14):
        save_rgb(os.path.join(d, "test", "good", "%04d.JPG" % i), texture(rng), "JPEG")
    for i in range(4):
        img = texture(rng)
        m = defect(rng, img)
        save_rgb(os.path.join(d, "test", "bad", "%03d.JPG" % i), img, "JPEG")
        save_mask(os.path.join(d, "ground_truth", "bad", "%03d.png" % i), m)
    return d


def broken(out, rng):
    b = os.path.join(out, "broken")
    d = mvtec_ad2(os.path.join(b, "ad2_missing_mask"), "can", rng)
    os.remove(os.path.join(d, "test_public", "ground_truth", "bad", "005_regular_mask.png"))
    d = visa_raw(os.path.join(b, "visa_stray"), "pcb1", rng)
    save_rgb(os.path.join(d, "Data", "Images", "Anomaly", "099.JPG"), texture(rng), "JPEG")
    d = mvtec_ad(os.path.join(b, "mvtec_orphan_mask"), "fabric", rng)
    save_mask(os.path.join(d, "ground_truth", "hole", "042_mask.png"), np.ones((H, W), bool))


def main(out):
    if os.path.exists(out):
        shutil.rmtree(out)
    rng = np.random.default_rng(20250301)
    mvtec_ad(os.path.join(out, "mvtec_ad"), "fabric", rng)
    mvtec_ad2(os.path.join(out, "mvtec_ad2"), "can", rng)
    visa_raw(os.path.join(out, "visa"), "pcb1", rng)
    visa_converted(os.path.join(out, "visa_pytorch"), "pcb1", rng)
    for cat in ("plain", 'a&b "c"'):
        mvtec_ad(os.path.join(out, "roots", "odd"), cat, rng, n_train=6, n_good=3, n_bad=3)
    broken(out, rng)
    print("make_layouts: wrote %s" % out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_layouts.py OUT")
    main(sys.argv[1])
