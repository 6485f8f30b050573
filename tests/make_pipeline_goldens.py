#!/usr/bin/python3
"""make_pipeline_goldens.py - regenerates tests/golden/pipeline/<case>/ (the goldens of
tests/test_pipeline_stages.c) by running tests/reference_padim.py on the synthetic fixture
tests/golden/pipeline/fixture/ (made by tests/make_fixture.py) at reduced input sizes:

  resnet18_anomalib  real folded ImageNet weights, squash 64 -> grid 16x16 (P=256), D=100,
                     seed 42; every stage of the 3 test images, mean, cov/factor at 4
                     positions.
  resnet18_paper     same weights, shorter side 72 + center crop 64, seed 1024, scipy blur;
                     input, mean, distances, maps, scores (the backbone is covered above).
  wrn50_anomalib     Wide-ResNet-50-2 with seeded random weights (reference_padim's
                     counter-based generator, seed 7, UNFOLDED BatchNorm), squash 32 ->
                     grid 8x8 (P=64), D=550; every stage but covariance; wrn_probe.npy holds
                     generator values the C test must reproduce bit for bit.

Usage: make_pipeline_goldens.py [--weights DIR_OF_NPY] [--case NAME]   (takes ~1 minute on 2 cores)
"""
import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_padim as ref  # noqa: E402

GOLDEN = os.path.join(HERE, "golden", "pipeline")
FIXTURE = os.path.join(GOLDEN, "fixture")
PROBE_TENSORS = ["conv1.weight", "layer1.0.bn1.running_var", "layer3.5.conv3.weight",
                 "layer2.0.downsample.1.weight"]


def run_case_(name, argv, drop=()):
    out = os.path.join(GOLDEN, name)
    for f in os.listdir(out) if os.path.isdir(out) else []:
        os.remove(os.path.join(out, f))
    ref.main(["--train", os.path.join(FIXTURE, "train"), "--test", os.path.join(FIXTURE, "test"),
              "--out", out, "--dump-stages", "--rel-root", FIXTURE, "--threads", "2"] + argv)
    for f in drop:
        os.remove(os.path.join(out, f + ".npy"))
    os.remove(os.path.join(out, "scores.csv"))  # scores.npy holds them
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print("%s: %.0f KB" % (name, size / 1024.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.join(
        HERE, "..", "..", "shared", "weights", "resnet18_tv_in1k_bnfolded"))
    ap.add_argument("--case", help="regenerate only this case")
    args = ap.parse_args()
    r18 = ["--backbone", "resnet18", "--weights", args.weights]
    run_case = (lambda name, *a, **k: None if args.case not in (None, name)
                else run_case_(name, *a, **k))
    run_case("resnet18_anomalib", r18 + ["--preset", "anomalib", "--resize", "64",
                                         "--cov-positions", "0,37,136,255", "--dump-train"])
    run_case("resnet18_paper", r18 + ["--preset", "paper", "--resize", "72", "--crop", "64",
                                      "--no-layers"], drop=("embedding",))
    if args.case not in (None, "wrn50_anomalib"):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        st = os.path.join(tmp, "wrn50_seed7.safetensors")
        ref.main(["--make-wrn-weights", st, "--wrn-seed", "7"])
        run_case("wrn50_anomalib", ["--backbone", "wide_resnet50_2", "--weights", st,
                                    "--preset", "anomalib", "--resize", "32"])
        w = ref.safetensors_read(st)
        probe = np.stack([np.asarray(w[n], np.float32).ravel()[:8] for n in PROBE_TENSORS])
        np.save(os.path.join(GOLDEN, "wrn50_anomalib", "wrn_probe.npy"), probe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
