#!/usr/bin/python3
"""make_fixture.py - writes the tiny synthetic image fixture of the stage-by-stage pipeline
test (tests/golden/pipeline/fixture/): 6 good training images and 3 test images (one good, one
with a dark blot, one with a bright scratch), 80x72 RGB PNGs of a woven-like texture with
seeded jitter. Deterministic (numpy RandomState); the PNGs are committed, license-clean.

Usage: make_fixture.py [OUTDIR]   (default: tests/golden/pipeline/fixture next to this script)
"""
import os
import sys

import numpy as np
from PIL import Image

W, H = 80, 72


def texture(rs):
    """A smooth periodic weave with per-image phase jitter and mild pixel noise."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    px, py = rs.uniform(0, 2 * np.pi, 2)
    base = (0.5 + 0.18 * np.sin(2 * np.pi * x / 9.0 + px) * np.cos(2 * np.pi * y / 11.0 + py)
            + 0.08 * np.sin(2 * np.pi * (x + y) / 23.0))
    tint = np.array([0.95, 0.80, 0.55]) + rs.uniform(-0.03, 0.03, 3)
    img = base[..., None] * tint[None, None] + rs.normal(0, 0.02, (H, W, 3))
    return img


def to_png(img, path):
    a = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(a, "RGB").save(path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "golden", "pipeline", "fixture")
    rs = np.random.RandomState(20240601)
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    os.makedirs(os.path.join(out, "test"), exist_ok=True)
    for i in range(6):
        to_png(texture(rs), os.path.join(out, "train", "%03d.png" % i))
    to_png(texture(rs), os.path.join(out, "test", "000_good.png"))
    img = texture(rs)  # dark elliptic blot
    y, x = np.mgrid[0:H, 0:W]
    blot = ((x - 52) / 9.0) ** 2 + ((y - 24) / 6.0) ** 2 <= 1.0
    img[blot] = img[blot] * 0.25 + np.array([0.05, 0.08, 0.15])
    to_png(img, os.path.join(out, "test", "001_blot.png"))
    img = texture(rs)  # bright diagonal scratch, 2 px wide
    scratch = (np.abs((y - 10) - 0.8 * (x - 15)) <= 1.0) & (x >= 15) & (x <= 60)
    img[scratch] = np.array([1.0, 1.0, 0.98])
    to_png(img, os.path.join(out, "test", "002_scratch.png"))
    print("wrote fixture to", out)


if __name__ == "__main__":
    main()
