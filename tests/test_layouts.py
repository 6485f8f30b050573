#!/usr/bin/python3
"""test_layouts.py PADIM_GPU - `padim-gpu eval` end to end on the synthetic datasets of
tests/make_layouts.py (every layout, 64x64 images, ResNet-18 at --resize 64; about a
minute on two cores), checked by independent means:

  - every layout is detected (metrics.json "dataset"), evaluated, and gets report.html;
    AU-PRO is named by its limit (--pro-limit 0.1 adds aupro_0.1 beside aupro_0.05/0.3);
  - MVTec AD 2: the submission layout (anomaly_images/<obj>/<split>/<stem>.tiff read with
    tifffile: float16, one channel, the image's own 80x64 size; anomaly_images_thresholded
    PNGs single-channel {0, 255}, the TIFF thresholded at the calibrated pixel threshold)
    and SegF1 recomputed with scikit-learn from `padim-gpu score --maps` of the same model
    and the masks (> 127);
  - the broken layouts fail with exit 2 and a message naming the file, and so do bad
    --pro-limit / --calibration-fpr / --dataset values and --submission outside MVTec AD 2;
  - the nightly runner on the synthetic MVTec AD 2 root (real padim-gpu);
  - `eval --root` with a category named `a&b "c"`: the summary page links it escaped;
  - a real browser: headless Chromium renders report.html and the summary page to PNGs
    that are not blank (many distinct colours), and --dump-dom shows the plots (the SVG
    classes roc-image, roc-pixel, pro, histogram, with polylines and bars) and the
    escaped name. Skipped (77) only when chromium is absent and everything else passed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_layouts  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAILED:", what, file=sys.stderr)
    return cond


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    return p.returncode, p.stdout, p.stderr


def eval_layout(padim, data, out, extra=()):
    rc, so, se = run([padim, "eval", data, "-o", out, "--resize", "64", "-q"] + list(extra))
    check(rc == 0, "eval %s: exit %d\n%s%s" % (data, rc, so, se))
    m = json.load(open(os.path.join(out, "metrics.json"))) if rc == 0 else {}
    check(os.path.isfile(os.path.join(out, "report.html")), "report.html in %s" % out)
    return m


def check_submission(sub, obj, thr):
    for split, suffix in (("test_private", "regular"), ("test_private_mixed", "mixed")):
        for i in range(3):
            stem = "%03d_%s" % (i, suffix)
            tif = os.path.join(sub, "anomaly_images", obj, split, stem + ".tiff")
            png = os.path.join(sub, "anomaly_images_thresholded", obj, split, stem + ".png")
            if not check(os.path.isfile(tif) and os.path.isfile(png), "submission files %s, %s" % (tif, png)):
                continue
            try:
                import tifffile
                a = tifffile.imread(tif)
                check(a.dtype == np.float16 and a.ndim == 2 and a.shape == (64, 80),
                      "%s: %s %s, expected float16 (64, 80)" % (tif, a.dtype, a.shape))
            except ImportError:
                a = None
                print("note: tifffile absent, float16 TIFFs not read back here", file=sys.stderr)
            b = np.asarray(Image.open(png))
            check(b.ndim == 2 and b.shape == (64, 80) and set(np.unique(b)) <= {0, 255},
                  "%s: %s values %s" % (png, b.shape, np.unique(b)))
            if a is not None:
                # The PNG thresholds the float32 map; far from the threshold float16 agrees.
                a32 = a.astype(np.float32)
                sure = np.abs(a32 - thr) > 1e-2 * max(1.0, abs(thr))
                check(np.array_equal((a32 >= thr)[sure], (b == 255)[sure]), "%s is %s thresholded" % (png, tif))


def check_segf1(padim, data, model, m, tmp):
    """SegF1 again with sklearn: score --maps on test_public (64x64 = the evaluation size,
    so the source-size map is the map itself), threshold, all pixels of all images."""
    try:
        import tifffile
        from sklearn.metrics import f1_score
    except ImportError as e:
        print("note: %s: SegF1 not recomputed" % e, file=sys.stderr)
        return
    out = os.path.join(tmp, "score_public")
    tp = os.path.join(data, "test_public")
    rc, so, se = run([padim, "score", model, os.path.join(tp, "good"), os.path.join(tp, "bad"), "-o", out,
                      "--maps", "-q"])
    if not check(rc == 0, "score --maps: exit %d\n%s" % (rc, se)):
        return
    thr = m["calibration"]["pixel"]
    ys, ps = [], []
    for sub in ("good", "bad"):
        for f in sorted(os.listdir(os.path.join(tp, sub))):
            stem = os.path.splitext(f)[0]
            mp = tifffile.imread(os.path.join(out, "maps", stem + ".tiff"))
            mask_path = os.path.join(tp, "ground_truth", "bad", stem + "_mask.png")
            gt = np.asarray(Image.open(mask_path)) > 127 if sub == "bad" else np.zeros(mp.shape, bool)
            ys.append(gt.ravel())
            ps.append((mp >= np.float32(thr)).ravel())
    want = f1_score(np.concatenate(ys), np.concatenate(ps))
    got = m["metrics"]["seg_f1"]
    check(got is not None and abs(got - want) < 1e-9, "SegF1 %s, sklearn %s" % (got, want))
    print("SegF1 %.6f (sklearn %.6f) at the good-only pixel threshold %.6g" % (got, want, thr))


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def browser_checks(browser, page, shot, needles):
    url = "file://" + os.path.abspath(page)
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    rc, so, se = run(base + ["--screenshot=" + shot, "--window-size=1200,2000", url])
    if not check(rc == 0 and os.path.isfile(shot), "chromium screenshot of %s: exit %d\n%s" % (page, rc, se[-2000:])):
        return
    img = np.asarray(Image.open(shot).convert("RGB"))
    colours = len(np.unique(img.reshape(-1, 3), axis=0))
    check(colours > 200, "%s rendered with %d distinct colours (blank page?)" % (shot, colours))
    rc, dom, se = run(base + ["--dump-dom", url])
    check(rc == 0, "chromium --dump-dom %s: exit %d" % (page, rc))
    for n in needles:
        check(n in dom, "%s: the rendered DOM lacks %r" % (page, n))
    print("chromium: %s -> %s (%d colours)" % (page, shot, colours))


def main(argv):
    if len(argv) != 1:
        print("usage: test_layouts.py PADIM_GPU", file=sys.stderr)
        return 2
    padim = os.path.abspath(argv[0])
    tmp = tempfile.mkdtemp(prefix="padim_layouts_")
    data = os.path.join(tmp, "data")
    out = os.path.join(tmp, "out")
    make_layouts.main(data)
    try:
        expect = {"mvtec_ad/fabric": "mvtec_ad", "mvtec_ad2/can": "mvtec_ad2", "visa/pcb1": "visa",
                  "visa_pytorch/pcb1": "visa"}
        res = {}
        for rel, ds in expect.items():
            extra = ["--save-model", os.path.join(tmp, "ad2.padim")] if ds == "mvtec_ad2" else []
            if rel == "visa/pcb1":
                extra = ["--pro-limit", "0.1"]
            m = res[rel] = eval_layout(padim, os.path.join(data, rel), os.path.join(out, rel.replace("/", "_")), extra)
            if not m:
                continue
            mt = m["metrics"]
            check(m["dataset"] == ds, "%s detected as %s, expected %s" % (rel, m["dataset"], ds))
            check(m["counts"]["images"] == 8 and m["counts"]["has_masks"], "%s counts %s" % (rel, m["counts"]))
            for k in ("image_auroc", "pixel_auroc", "aupro_0.3", "aupro_0.05"):
                check(mt.get(k) is not None and 0 <= mt[k] <= 1, "%s %s = %s" % (rel, k, mt.get(k)))
            check(mt["image_auroc"] > 0.9, "%s: the synthetic defects are found (image AUROC %s)" % (rel, mt["image_auroc"]))
        v = res.get("visa/pcb1", {}).get("metrics", {})
        check(v.get("pro_limit") == 0.1 and v.get("aupro_0.1") is not None, "--pro-limit 0.1 in metrics.json %s" % v)
        m = res.get("mvtec_ad2/can")
        if m:
            check(m["calibration"]["on"] == "validation/good" and m["calibration"]["images"] == 6 and
                  m["calibration"]["fpr"] == 0.01, "MVTec AD 2 calibration %s" % m["calibration"])
            check(m["submission"]["images"] == 6, "submission images %s" % m["submission"])
            check_submission(m["submission"]["dir"], "can", m["calibration"]["pixel"])
            check_segf1(padim, os.path.join(data, "mvtec_ad2", "can"), os.path.join(tmp, "ad2.padim"), m, tmp)
        check(res.get("mvtec_ad/fabric", {}).get("metrics", {}).get("seg_f1", 0) is None,
              "no SegF1 without a good-only calibration")

        # Broken layouts: exit 2, the message names the file.
        broken = {"ad2_missing_mask/can": "005_regular_mask.png", "visa_stray/pcb1": "Anomaly/099.JPG",
                  "mvtec_orphan_mask/fabric": "ground_truth/hole/042_mask.png"}
        for rel, needle in broken.items():
            rc, so, se = run([padim, "eval", os.path.join(data, "broken", rel), "--resize", "64", "-q"])
            check(rc == 2 and needle in se, "broken %s: exit %d, stderr %r" % (rel, rc, se))

        # Bad option values and combinations: exit 2, the option named.
        fabric = os.path.join(data, "mvtec_ad", "fabric")
        for bad, needle in ((["--pro-limit", "0"], "--pro-limit"), (["--pro-limit", "1.5"], "--pro-limit"),
                            (["--calibration-fpr", "1"], "--calibration-fpr"), (["--dataset", "nope"], "mvtec_ad2"),
                            (["--submission", os.path.join(tmp, "sub")], "MVTec AD 2 only")):
            rc, so, se = run([padim, "eval", fabric, "--resize", "64", "-q"] + bad)
            check(rc == 2 and needle in se, "eval %s: exit %d, stderr %r" % (bad, rc, se))
        check(not os.path.exists(os.path.join(tmp, "sub")), "no submission folder for a refused --submission")

        # The nightly runner, real padim-gpu, on the synthetic MVTec AD 2 root.
        nout = os.path.join(tmp, "nightly")
        rc, so, se = run([sys.executable, os.path.join(ROOT, "benchmarks", "nightly_mvtec.py"), "--root",
                          os.path.join(data, "mvtec_ad2"), "--dataset", "mvtec_ad2", "--categories", "can",
                          "--backbones", "resnet18", "--padim", padim, "--out", nout, "--eval-arg=--resize=64"])
        check(rc == 0, "nightly on mvtec_ad2: exit %d\n%s" % (rc, se[-3000:]))
        if rc == 0:
            md = open(os.path.join(nout, "tables.md")).read()
            check("no published PaDiM value" in md and "SegF1" in md, "nightly tables.md:\n%s" % md)
            r = json.load(open(os.path.join(nout, "results.json")))["runs"][0]
            check(r["status"] == "ok" and r["metrics"]["seg_f1"] is not None, "nightly run %s" % r)

        # --root with an awkward category name; its summary page.
        rout = os.path.join(out, "root")
        rc, so, se = run([padim, "eval", "--root", os.path.join(data, "roots", "odd"), "-o", rout, "--resize", "64",
                          "-q"])
        check(rc == 0 and os.path.isfile(os.path.join(rout, "report.html")), "eval --root: exit %d\n%s" % (rc, se))

        browser = chromium()
        if browser is None:
            print("SKIP: chromium not installed: reports not rendered (tools/setup.sh test installs it)")
            return 1 if failures else 77
        browser_checks(browser, os.path.join(out, "mvtec_ad2_can", "report.html"), os.path.join(tmp, "report.png"),
                       ["roc-image", "roc-pixel", "plot pro", "histogram", "<polyline", 'class="bar"',
                        "no published PaDiM value", "SegF1", "report_files/fp1_heatmap.png"])
        browser_checks(browser, os.path.join(rout, "report.html"), os.path.join(tmp, "summary.png"),
                       ['href="a%26b%20%22c%22/report.html"', "a&amp;b \"c\"", "plain/report.html"])
    finally:
        if failures:
            print("outputs kept in %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % failures, file=sys.stderr)
        return 1
    print("test_layouts: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
