#!/usr/bin/python3
"""test_nightly_mvtec.py - benchmarks/nightly_mvtec.py with a fake padim-gpu.

The real `padim-gpu eval` takes minutes per category on a small machine, so this test puts
a small Python script in a temporary folder that plays `padim-gpu eval`: it records its
arguments and writes the metrics.json given to it (per category) through an environment
variable. It checks against values written here and against docs/MISSION.md itself (parsed
independently of the runner's copy):
  - the three tables: column order and names, "ours"/"published"/"diff" rows, Avg over the
    categories run, "not run: no data" / "not run: no weights" cells, failed runs;
  - the published rows equal MISSION.md's reference tables (when ../shared/docs is there);
  - the arguments passed to padim-gpu eval (backbone, preset, weights, device, -o);
  - results.json; the exit code: 0 within tolerance, 1 on a regression (listed on stderr)
    or a failed run, 2 on usage errors;
  - --dataset mvtec_ad2 / visa: their categories and metric tables, "no published PaDiM
    value" in the published rows (never a number), --dataset passed to eval, no regression
    without a published value but a failed run still fails.

  /usr/bin/python3 tests/test_nightly_mvtec.py            # the ctest (fake padim-gpu)
  /usr/bin/python3 tests/test_nightly_mvtec.py --real OUT [--root R] [--padim P]
      runs the real benchmark on the bottle data (minutes), checks it and prints tables.md
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "benchmarks", "nightly_mvtec.py")
SHARED = os.environ.get("PADIM_SHARED", os.path.join(ROOT, "..", "shared"))
PY = sys.executable or "/usr/bin/python3"

COLUMNS = ["Avg", "Carpet", "Grid", "Leather", "Tile", "Wood", "Bottle", "Cable", "Capsule", "Hazelnut",
           "Metal Nut", "Pill", "Screw", "Toothbrush", "Transistor", "Zipper"]
TITLES = ["Image-level AUROC", "Pixel-level AUROC", "Image-level F1"]

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAILED:", what, file=sys.stderr)
    return cond


FAKE = r'''#!/usr/bin/python3
# Fake `padim-gpu eval CATEGORY_DIR -o OUT ...` for test_nightly_mvtec.py.
import json, os, sys
args = sys.argv[1:]
assert args[0] == "eval", args
cat_dir, out = args[1], args[args.index("-o") + 1]
cat = os.path.basename(cat_dir.rstrip("/"))
with open(os.environ["FAKE_ARGLOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
spec = json.loads(os.environ["FAKE_METRICS"]).get(cat)
sys.stderr.write("fake eval of %s\n" % cat)
if spec is None or spec == "fail":
    sys.stderr.write("fake failure\n")
    sys.exit(3)
x = bytearray(int(spec.get("alloc_mb", 0)) * 1000000)  # resident memory to measure
for i in range(0, len(x), 4096):
    x[i] = 1
m = {"category": cat, "model": {"backbone": args[args.index("--backbone") + 1]},
     "counts": {"images": 83, "good": 20, "defective": 63, "pixels": 1, "has_masks": True},
     "metrics": {"image_auroc": spec["ia"], "pixel_auroc": spec["pa"], "image_f1": spec["f1"],
                 "pixel_f1": 0.7, "aupro_0.3": 0.95, "aupro_0.05": spec.get("a05", 0.8),
                 "seg_f1": spec.get("seg", 0.4)},
     "timings_s": {"fit": 12.5, "score": 8.3, "metrics": 1.0}, "backend": "cpu (2 threads)", "padim_version": "9.9.9"}
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump(m, f)
'''


def make_category(root, cat):
    for sub in ("train/good", "test/good", "test/broken", "ground_truth/broken"):
        os.makedirs(os.path.join(root, cat, sub), exist_ok=True)


def run(args, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    p = subprocess.run([PY, RUNNER] + args, capture_output=True, text=True, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


def parse_tables(text):
    """{table title prefix: {(backbone, row): [cells]}, ...} and the header cells per table."""
    tables, headers, cur = {}, {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            cur = line[4:]
            tables[cur] = {}
            continue
        if cur is None or not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "backbone":
            headers[cur] = cells
        else:
            tables[cur][(cells[0], cells[1])] = cells[2:]
    return tables, headers


def table(tables, prefix):
    for k, v in tables.items():
        if k.startswith(prefix):
            return v
    return None


def mission_tables():
    """MISSION.md's three reference tables: {title: {backbone: [Avg, categories...]}}."""
    path = os.path.join(SHARED, "docs", "MISSION.md")
    if not os.path.isfile(path):
        return None
    out, cur = {}, None
    for line in open(path):
        s = line.strip()
        for t in TITLES:
            if s.startswith(t):
                cur = t
                out[cur] = {"header": None}
        if cur and s.startswith("|") and not s.startswith("|---"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if cells[0] == "backbone":
                out[cur]["header"] = cells[1:]
            else:
                out[cur][cells[0]] = cells[1:]
    return out


def test_fake():
    tmp = tempfile.mkdtemp(prefix="nightly_test_")
    try:
        mv = os.path.join(tmp, "mvtec")
        make_category(mv, "bottle")
        make_category(mv, "zipper")
        os.makedirs(os.path.join(mv, "cable"))  # no train/good: "no data"
        wdir = os.path.join(tmp, "weights")
        os.makedirs(wdir)
        open(os.path.join(wdir, "resnet18_tv_in1k.safetensors"), "wb").close()
        fake = os.path.join(tmp, "bin", "padim-gpu")
        os.makedirs(os.path.dirname(fake))
        with open(fake, "w") as f:
            f.write(FAKE)
        os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        arglog = os.path.join(tmp, "args.jsonl")
        # Published R18: bottle 0.994 / 0.983 / 0.976, zipper 0.780 / 0.979 / 0.915.
        metrics = {"bottle": {"ia": 0.990, "pa": 0.9846, "f1": 0.976, "alloc_mb": 150},
                   "zipper": {"ia": 0.800, "pa": 0.975, "f1": 0.900}}
        env = {"FAKE_METRICS": json.dumps(metrics), "FAKE_ARGLOG": arglog}
        out = os.path.join(tmp, "out")
        base = ["--root", mv, "--weights-dir", wdir, "--padim", fake, "--out", out]

        # 1. Loose tolerance: pass, both backbones, all 15 categories by default.
        rc, _, err = run(base + ["--tolerance", "0.02", "--device", "cpu"], env)
        check(rc == 0, "tolerance 0.02: exit %d, expected 0; stderr:\n%s" % (rc, err))
        calls = [json.loads(l) for l in open(arglog)]
        check(len(calls) == 2, "padim-gpu eval called %d times, expected 2 (bottle, zipper; R18 only)" % len(calls))
        for c in calls:
            cat = os.path.basename(c[1])
            check(c[1] == os.path.join(mv, cat), "eval category dir %s" % c[1])
            check(c[c.index("-o") + 1] == os.path.join(out, "runs", "resnet18", cat), "eval -o %s" % c)
            check(c[c.index("--backbone") + 1] == "resnet18", "eval --backbone %s" % c)
            check(c[c.index("--preset") + 1] == "anomalib", "eval --preset %s" % c)
            check(c[c.index("--weights") + 1] == os.path.join(wdir, "resnet18_tv_in1k.safetensors"),
                  "eval --weights %s" % c)
            check(c[c.index("--device") + 1] == "cpu", "eval --device %s" % c)
        check(os.path.isfile(os.path.join(out, "runs", "resnet18", "bottle", "eval.log")) and
              "fake eval of bottle" in open(os.path.join(out, "runs", "resnet18", "bottle", "eval.log")).read(),
              "eval.log holds the run's stderr")

        md = open(os.path.join(out, "tables.md")).read()
        tables, headers = parse_tables(md)
        for t in TITLES:
            tb = table(tables, t)
            if not check(tb is not None, "table %s in tables.md" % t):
                continue
            hdr = [h for k, h in headers.items() if k.startswith(t)][0]
            check(hdr == ["backbone", "row"] + COLUMNS, "%s header %s" % (t, hdr))
            for bk in ("ResNet-18", "Wide ResNet-50"):
                for row in ("ours", "published", "diff"):
                    check((bk, row) in tb and len(tb[(bk, row)]) == 16, "%s row %s/%s" % (t, bk, row))
            r18 = tb[("ResNet-18", "ours")]
            check(r18[COLUMNS.index("Carpet")] == "not run: no data", "%s carpet cell %r" % (t, r18[1]))
            check(r18[COLUMNS.index("Cable")] == "not run: no data", "%s cable (no train/good) cell" % t)
            wrn = tb[("Wide ResNet-50", "ours")]
            check(all(c == "not run: no weights" for c in wrn[1:]), "%s WRN50 ours row %s" % (t, wrn))
            check(wrn[0] == "not run", "%s WRN50 Avg %r" % (t, wrn[0]))
        ia = table(tables, "Image-level AUROC")
        b, z, avg = COLUMNS.index("Bottle"), COLUMNS.index("Zipper"), 0
        check(ia[("ResNet-18", "ours")][b] == "0.990", "image AUROC bottle ours %r" % ia[("ResNet-18", "ours")][b])
        check(ia[("ResNet-18", "diff")][b] == "-0.004", "image AUROC bottle diff %r" % ia[("ResNet-18", "diff")][b])
        check(ia[("ResNet-18", "diff")][z] == "+0.020", "image AUROC zipper diff %r" % ia[("ResNet-18", "diff")][z])
        # Avg over the categories run: (0.990 + 0.800) / 2 = 0.895 vs (0.994 + 0.780) / 2 = 0.887.
        check(ia[("ResNet-18", "ours")][avg] == "0.895", "R18 Avg ours %r" % ia[("ResNet-18", "ours")][avg])
        check(ia[("ResNet-18", "published")][avg] == "0.887", "R18 Avg published %r" % ia[("ResNet-18", "published")][avg])
        check(ia[("ResNet-18", "diff")][avg] == "+0.008", "R18 Avg diff %r" % ia[("ResNet-18", "diff")][avg])
        check(ia[("Wide ResNet-50", "published")][avg] == "0.950", "WRN50 published 15-category Avg")
        pa = table(tables, "Pixel-level AUROC")
        check(pa[("ResNet-18", "ours")][b] == "0.985", "pixel AUROC bottle ours %r" % pa[("ResNet-18", "ours")][b])
        check(pa[("ResNet-18", "diff")][b] == "+0.002", "pixel AUROC bottle diff %r" % pa[("ResNet-18", "diff")][b])
        f1 = table(tables, "Image-level F1")
        check(f1[("ResNet-18", "diff")][b] == "+0.000", "F1 bottle diff %r" % f1[("ResNet-18", "diff")][b])
        check(f1[("ResNet-18", "diff")][z] == "-0.015", "F1 zipper diff %r" % f1[("ResNet-18", "diff")][z])

        # The published rows are MISSION.md's reference tables, cell for cell.
        mt = mission_tables()
        if mt is None:
            print("note: %s/docs/MISSION.md absent, published values not cross-checked" % SHARED)
        else:
            for t in TITLES:
                check(mt[t]["header"] == COLUMNS, "MISSION %s header %s" % (t, mt[t]["header"]))
                for bk in ("ResNet-18", "Wide ResNet-50"):
                    ref = [float(v) for v in mt[t][bk]]
                    pub = table(tables, t)[(bk, "published")]
                    # Avg: the runner shows the mean over the categories run for R18 and the
                    # 15-category average for WRN50 (nothing run); category cells are copies.
                    for i in range(1, 16):
                        check(abs(float(pub[i]) - ref[i]) < 1e-9, "%s %s %s published %s != MISSION %s"
                              % (t, bk, COLUMNS[i], pub[i], ref[i]))
                    if bk == "Wide ResNet-50":
                        check(abs(float(pub[0]) - ref[0]) < 1e-9, "%s WRN50 Avg %s != %s" % (t, pub[0], ref[0]))
                    else:
                        want = (ref[COLUMNS.index("Bottle")] + ref[COLUMNS.index("Zipper")]) / 2
                        check(abs(float(pub[0]) - want) < 0.0006, "%s R18 Avg over run %s != %.4f" % (t, pub[0], want))

        # Fourth table and results.json.
        check("| ResNet-18 | Bottle | 0.950 | 0.700 | 12.5 | 8.3 | 10.0 |" in md,
              "AUPRO/time row for bottle in tables.md")
        res = json.load(open(os.path.join(out, "results.json")))
        check(res["passed"] is True and res["regressions"] == [], "results.json passed")
        runs = {(r["backbone"], r["category"]): r for r in res["runs"]}
        check(len(runs) == 30, "results.json has %d runs, expected 30" % len(runs))
        rb = runs[("resnet18", "bottle")]
        check(rb["status"] == "ok" and abs(rb["metrics"]["image_auroc"] - 0.990) < 1e-12, "bottle run record")
        check(rb["peak_host_bytes"] is not None and rb["peak_host_bytes"] > 150e6,
              "bottle peak host memory %s, expected > 150 MB (the fake allocates 150 MB)" % rb["peak_host_bytes"])
        rz = runs[("resnet18", "zipper")]
        check(rz["peak_host_bytes"] < 100e6, "zipper peak host %s: per child, not a max over children"
              % rz["peak_host_bytes"])
        check(runs[("resnet18", "carpet")]["status"] == "not run" and runs[("resnet18", "carpet")]["reason"] == "no data",
              "carpet not run: no data")
        check(runs[("wide_resnet50_2", "bottle")]["reason"] == "no weights", "WRN50 not run: no weights")
        check(res["padim_version"] == "9.9.9", "padim version from metrics.json")

        # 2. Tight tolerance: bottle image AUROC 0.990 is 0.004 below 0.994; zipper pixel
        # AUROC 0.975 is 0.004 below 0.979; zipper F1 0.900 is 0.015 below 0.915.
        rc, _, err = run(base + ["--tolerance", "0.001", "--backbones", "resnet18"], env)
        check(rc == 1, "tolerance 0.001: exit %d, expected 1" % rc)
        check("Bottle: Image-level AUROC 0.9900" in err and "Zipper: Pixel-level AUROC 0.9750" in err
              and "Zipper: Image-level F1 0.9000" in err, "regressions listed on stderr:\n%s" % err)
        check("Bottle: Image-level F1" not in err, "bottle F1 equal to published is no regression")
        md = open(os.path.join(out, "tables.md")).read()
        check("FAIL, 3 regressions" in md and "Regressions:" in md, "tables.md says FAIL with 3 regressions")
        check("Wide ResNet-50" not in md, "only the selected backbone in the tables")
        # The default tolerance 0.01 fails only on zipper F1 (0.015 below).
        rc, _, err = run(base + ["--backbones", "resnet18"], env)
        check(rc == 1 and err.count("below published") == 1, "default tolerance: exit %d, stderr:\n%s" % (rc, err))
        # Selecting categories: bottle only passes at 0.01.
        rc, _, err = run(base + ["--categories", "bottle", "--backbones", "resnet18"], env)
        check(rc == 0, "bottle only at tolerance 0.01: exit %d\n%s" % (rc, err))
        tables, _ = parse_tables(open(os.path.join(out, "tables.md")).read())
        cell = table(tables, "Image-level AUROC")[("ResNet-18", "ours")][COLUMNS.index("Zipper")]
        check(cell == "not run: not selected", "unselected category cell %r" % cell)

        # 3. A failed run is reported and fails the night.
        env_fail = dict(env, FAKE_METRICS=json.dumps(dict(metrics, zipper="fail")))
        rc, _, err = run(base + ["--tolerance", "0.5", "--backbones", "resnet18"], env_fail)
        check(rc == 1 and "run failed (exit 3" in err, "failed run: exit %d\n%s" % (rc, err))
        tables, _ = parse_tables(open(os.path.join(out, "tables.md")).read())
        cell = table(tables, "Image-level AUROC")[("ResNet-18", "ours")][COLUMNS.index("Zipper")]
        check(cell == "failed: exit 3", "failed cell %r" % cell)
        # A missing (null) metric of an MVTec category is a regression too.
        env_null = dict(env, FAKE_METRICS=json.dumps({"bottle": {"ia": 0.999, "pa": None, "f1": 0.99}}))
        rc, _, err = run(base + ["--categories", "bottle", "--backbones", "resnet18"], env_null)
        check(rc == 1 and "Pixel-level AUROC unavailable" in err, "null metric: exit %d\n%s" % (rc, err))

        # 4. Usage errors: exit 2.
        for bad, why in ((["--root", os.path.join(tmp, "nope")], "missing root"),
                         (["--categories", "bottle,nosuch"], "unknown category"),
                         (["--backbones", "vgg16"], "unknown backbone"),
                         (["--padim", os.path.join(tmp, "nope", "padim-gpu")], "missing binary"),
                         (["--tolerance", "-1"], "negative tolerance"),
                         (["--frobnicate"], "unknown option")):
            args = base + bad
            rc, _, err = run(args, env)
            check(rc == 2, "%s: exit %d, expected 2\n%s" % (why, rc, err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_other_datasets():
    tmp = tempfile.mkdtemp(prefix="nightly_test2_")
    try:
        wdir = os.path.join(tmp, "weights")
        os.makedirs(wdir)
        open(os.path.join(wdir, "resnet18_tv_in1k.safetensors"), "wb").close()
        fake = os.path.join(tmp, "padim-gpu")
        with open(fake, "w") as f:
            f.write(FAKE)
        os.chmod(fake, 0o755)
        arglog = os.path.join(tmp, "args.jsonl")
        cases = {
            "mvtec_ad2": (["train/good", "test_public/good"], ["can", "vial"], "walnuts",
                          ["Image-level AUROC", "Pixel-level AUROC", "AU-PRO (FPR limit 0.05)", "SegF1"],
                          ["Can", "Fabric", "Fruit Jelly", "Rice", "Sheet Metal", "Vial", "Wallplugs", "Walnuts"]),
            "visa": (["Data/Images/Normal"], ["candle", "pcb1"], "pcb4",
                     ["Image-level AUROC", "Pixel-level AUROC", "Image-level F1", "AU-PRO (FPR limit 0.3)"],
                     ["Candle", "Capsules", "Cashew", "Chewing Gum", "Fryum", "Macaroni 1", "Macaroni 2", "PCB 1",
                      "PCB 2", "PCB 3", "PCB 4", "Pipe Fryum"]),
        }
        for ds, (subs, cats, failing, titles, columns) in cases.items():
            root = os.path.join(tmp, ds)
            for c in cats + [failing]:
                for sub in subs:
                    os.makedirs(os.path.join(root, c, sub), exist_ok=True)
            metrics = {c: {"ia": 0.5, "pa": 0.6, "f1": 0.3, "a05": 0.25, "seg": 0.125} for c in cats}
            env = {"FAKE_METRICS": json.dumps(metrics), "FAKE_ARGLOG": arglog}
            out = os.path.join(tmp, "out_" + ds)
            base = ["--root", root, "--dataset", ds, "--weights-dir", wdir, "--padim", fake, "--out", out,
                    "--backbones", "resnet18", "--tolerance", "0"]
            if os.path.exists(arglog):
                os.remove(arglog)
            rc, _, err = run(base + ["--categories", ",".join(cats)], env)
            check(rc == 0, "%s: exit %d without published values, expected 0\n%s" % (ds, rc, err))
            calls = [json.loads(l) for l in open(arglog)]
            check(len(calls) == 2 and all(c[c.index("--dataset") + 1] == ds for c in calls),
                  "%s: eval called with --dataset: %s" % (ds, calls))
            md = open(os.path.join(out, "tables.md")).read()
            tables, headers = parse_tables(md)
            for t in titles:
                tb = table(tables, t)
                if not check(tb is not None, "%s: table %s" % (ds, t)):
                    continue
                hdr = [h for k, h in headers.items() if k.startswith(t)][0]
                check(hdr == ["backbone", "row", "Avg"] + columns, "%s %s header %s" % (ds, t, hdr))
                pub = tb[("ResNet-18", "published")]
                check(pub[0] == "no published PaDiM value" and all(c == "" for c in pub[1:]),
                      "%s %s published row %s" % (ds, t, pub))
                check(all(c == "" for c in tb[("ResNet-18", "diff")]), "%s %s diff row empty" % (ds, t))
            first = table(tables, titles[0])[("ResNet-18", "ours")]
            check(first[columns.index(cats[0].title() if ds == "mvtec_ad2" else "Candle") + 1] == "0.500",
                  "%s ours cell %s" % (ds, first))
            if ds == "mvtec_ad2":
                sf = table(tables, "SegF1")[("ResNet-18", "ours")]
                check(sf[0] == "0.125", "SegF1 Avg %s" % sf)
            check("Image-level F1" not in md or ds == "visa", "%s: no image F1 table" % ds)
            res = json.load(open(os.path.join(out, "results.json")))
            check(res["published"]["note"] == "no published PaDiM value" and res["published"]["values"] == {},
                  "%s results.json published %s" % (ds, res["published"]))
            # A failing run fails the night even without published values.
            rc, _, err = run(base + ["--categories", ",".join(cats + [failing])], env)
            check(rc == 1 and "run failed" in err, "%s: failed run exit %d\n%s" % (ds, rc, err))
            rc, _, err = run(base + ["--categories", "bottle"], env)
            check(rc == 2, "%s: an MVTec AD category is unknown here: exit %d" % (ds, rc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_real(out, root, padim):
    """The real benchmark on the bottle category (minutes): README's nightly command."""
    args = ["--root", root, "--out", out]
    if padim:
        args += ["--padim", padim]
    print("running:", PY, RUNNER, " ".join(args), file=sys.stderr)
    p = subprocess.run([PY, RUNNER] + args)
    md = open(os.path.join(out, "tables.md")).read()
    print(md)
    tables, _ = parse_tables(md)
    ia = table(tables, "Image-level AUROC")
    ours = ia[("ResNet-18", "ours")][COLUMNS.index("Bottle")]
    check(ours.replace(".", "", 1).isdigit(), "R18 bottle image AUROC %r" % ours)
    wrn_weights = os.path.isfile(os.path.join(ROOT, "weights", "wide_resnet50_2_tv_in1k.safetensors"))
    if not wrn_weights:
        check(ia[("Wide ResNet-50", "ours")][COLUMNS.index("Bottle")] == "not run: no weights",
              "WRN50 not run: no weights")
    check(p.returncode == 0, "runner exit %d (regression?)" % p.returncode)


def main(argv):
    if argv and argv[0] == "--real":
        if len(argv) < 2:
            print("usage: test_nightly_mvtec.py --real OUT [--root R] [--padim P]", file=sys.stderr)
            return 2
        out = argv[1]
        root = os.path.join(SHARED, "data", "mvtec_ad")
        padim = None
        rest = argv[2:]
        while rest:
            if rest[0] == "--root" and len(rest) > 1:
                root, rest = rest[1], rest[2:]
            elif rest[0] == "--padim" and len(rest) > 1:
                padim, rest = rest[1], rest[2:]
            else:
                print("unknown argument %s" % rest[0], file=sys.stderr)
                return 2
        if not os.path.isdir(os.path.join(root, "bottle")):
            print("SKIP: no MVTec AD bottle data under %s" % root)
            return 77
        test_real(out, root, padim)
    else:
        test_fake()
        test_other_datasets()
    if failures:
        print("%d check(s) failed" % failures, file=sys.stderr)
        return 1
    print("test_nightly_mvtec: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
