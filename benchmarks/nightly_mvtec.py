#!/usr/bin/python3
"""nightly_mvtec.py - the nightly benchmark of padim-gpu on MVTec AD, MVTec AD 2 or VisA.

For every backbone x category of --dataset it runs `padim-gpu eval CATEGORY_DIR -o RUN_DIR
--dataset D` (fit on the category's training images, evaluate its labeled test set),
collects RUN_DIR/metrics.json, and writes

  OUT/results.json   every run: metrics, timings, peak host memory, status, settings, machine
  OUT/tables.md      one table per metric of the dataset (MVTec AD: image AUROC, pixel AUROC,
                     image F1, the published tables; MVTec AD 2: image AUROC, pixel AUROC,
                     AU-PRO at 0.05, SegF1; VisA: image AUROC, pixel AUROC, image F1, AU-PRO
                     at 0.3) with rows "ours", "published" and "diff" per backbone, then AU-PRO,
                     pixel F1, SegF1, fit / score times and peak memory per run
  OUT/runs/<backbone>/<category>/eval.log   the run's stdout and stderr

Published values come from configs/published_padim.json (the one home of those numbers,
shared with eval's report.html): anomalib's MVTec AD tables. MVTec AD 2 and VisA have no
published PaDiM value; their tables say so and only failed runs can fail the night.

Categories missing under --root and backbones whose weights file is missing are reported
as "not run: no data" / "not run: no weights", not as errors.

Exit status: 0 when no metric of a run is more than --tolerance below its published value
(and every attempted run succeeded), 1 otherwise (the regressions are listed on stderr),
2 on usage errors. Standard library only: it runs in the Docker runtime image as well.

  /usr/bin/python3 benchmarks/nightly_mvtec.py --root ../shared/data/mvtec_ad --out nightly
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

# ------------------------------------------------------------------ reference data
HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL_DIR = "/usr/local/share/padim-gpu"
DATASETS = ("mvtec_ad", "mvtec_ad2", "visa")
METRIC_TITLES = {
    "image_auroc": "Image-level AUROC",
    "pixel_auroc": "Pixel-level AUROC",
    "image_f1": "Image-level F1 (at the F1-optimal threshold)",
    "aupro_0.05": "AU-PRO (FPR limit 0.05)",
    "aupro_0.3": "AU-PRO (FPR limit 0.3)",
    "seg_f1": "SegF1 (good-only threshold from validation/good)",
}


def published_path():
    for d in (os.path.join(HERE, "..", "configs"), os.path.join(HERE, "configs"), os.path.join(INSTALL_DIR, "configs")):
        p = os.path.join(d, "published_padim.json")
        if os.path.isfile(p):
            return os.path.normpath(p)
    return None


# The dataset of this run (use_dataset): its categories in the column order of the
# published tables, (folder name, column title); its metrics (METRICS: key, title);
# PUBLISHED[metric][backbone][category] and PUBLISHED_AVG[metric][backbone] where an
# official source gave them; SOURCE or NOTE ("no published PaDiM value").
CATEGORIES, CATEGORY_TITLE, METRICS, PUBLISHED, PUBLISHED_AVG = [], {}, [], {}, {}
DATASET_TITLE, SOURCE, NOTE = "", None, None


def use_dataset(name):
    global CATEGORIES, CATEGORY_TITLE, METRICS, PUBLISHED, PUBLISHED_AVG, DATASET_TITLE, SOURCE, NOTE
    path = published_path()
    if path is None:
        raise UsageError("configs/published_padim.json not found beside this script, in its parent or in %s"
                         % INSTALL_DIR)
    with open(path) as f:
        d = json.load(f)["datasets"][name]
    CATEGORIES = [tuple(c) for c in d["categories"]]
    CATEGORY_TITLE = dict(CATEGORIES)
    METRICS = [(k, METRIC_TITLES[k]) for k in d["metrics"]]
    values = d.get("values") or {}
    PUBLISHED = {m: {b: {c: v for c, v in cats.items() if c != "average"} for b, cats in rows.items()}
                 for m, rows in values.items()}
    PUBLISHED_AVG = {m: {b: cats.get("average") for b, cats in rows.items()} for m, rows in values.items()}
    DATASET_TITLE, SOURCE, NOTE = d["title"], d.get("source"), d.get("note")


def published(key, bk, cat=None):
    """The published value (None: none); cat None: the published average."""
    if cat is None:
        return PUBLISHED_AVG.get(key, {}).get(bk)
    return PUBLISHED.get(key, {}).get(bk, {}).get(cat)


# backbone -> (row title in the published tables, weights file name)
BACKBONES = {
    "resnet18": ("ResNet-18", "resnet18_tv_in1k.safetensors"),
    "wide_resnet50_2": ("Wide ResNet-50", "wide_resnet50_2_tv_in1k.safetensors"),
}

class UsageError(Exception):
    pass


# ------------------------------------------------------------------ arguments
def default_weights_dir():
    for d in (os.path.join(HERE, "..", "weights"), os.path.join(HERE, "weights"),
              os.path.join(INSTALL_DIR, "weights")):
        if os.path.isdir(d):
            return os.path.normpath(d)
    return os.path.join(INSTALL_DIR, "weights")


def default_padim():
    local = os.path.normpath(os.path.join(HERE, "..", "build", "padim-gpu"))
    if os.path.isfile(local) and os.access(local, os.X_OK):
        return local
    return shutil.which("padim-gpu")


def parse_list(text, known, what):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError("--%s: empty list" % what)
    out = []
    for t in items:
        key = t.lower().replace("-", "_").replace(" ", "_")
        if key not in known:
            raise UsageError("--%s: unknown %s '%s' (expected one of: %s)"
                             % (what, what.rstrip("s"), t, ", ".join(known)))
        if key not in out:
            out.append(key)
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="nightly_mvtec.py",
        description="Nightly benchmark: padim-gpu eval per backbone x category of MVTec AD, MVTec AD 2 "
                    "or VisA, tables side by side with the published PaDiM values, regression exit code.")
    p.add_argument("--root", required=True, help="dataset root (holds bottle/, cable/, ... or can/, ... "
                                                 "or candle/, ..., split_csv/)")
    p.add_argument("--dataset", default="mvtec_ad", choices=DATASETS,
                   help="dataset of the root (default mvtec_ad); VisA raw or converted by anomalib")
    p.add_argument("--categories", default=None,
                   help="comma-separated category folders (default: all of the dataset; missing ones are "
                        "reported as 'not run: no data')")
    p.add_argument("--backbones", default="resnet18,wide_resnet50_2",
                   help="comma-separated backbones (default: resnet18,wide_resnet50_2)")
    p.add_argument("--preset", default="anomalib", choices=["anomalib", "paper"],
                   help="preprocessing preset (the published tables are 'anomalib')")
    p.add_argument("--weights-dir", default=None,
                   help="folder with resnet18_tv_in1k.safetensors / wide_resnet50_2_tv_in1k.safetensors "
                        "(default: the repo's weights/, or %s/weights)" % INSTALL_DIR)
    p.add_argument("--padim", default=None,
                   help="padim-gpu binary (default: build/padim-gpu of this repo, else padim-gpu on PATH)")
    p.add_argument("--device", default=None, choices=["cpu", "cuda", "auto"],
                   help="passed to padim-gpu eval (default: its own default, auto)")
    p.add_argument("--eval-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for padim-gpu eval, repeatable (e.g. --eval-arg=--threads=8)")
    p.add_argument("--out", required=True, help="output folder (results.json, tables.md, runs/)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="a metric more than this below its published value is a regression (default 0.01)")
    p.add_argument("--timeout", type=float, default=0,
                   help="seconds per run before it is killed (default 0: none)")
    a = p.parse_args(argv)
    use_dataset(a.dataset)
    known_cats = [c for c, _ in CATEGORIES]
    if a.categories is None:
        a.categories = ",".join(known_cats)
    a.categories = parse_list(a.categories, known_cats, "categories")
    a.categories = [c for c in known_cats if c in a.categories]  # table order
    a.backbones = parse_list(a.backbones, list(BACKBONES), "backbones")
    if not os.path.isdir(a.root):
        raise UsageError("--root %s: not a folder (expected the %s root holding %s/, ...)"
                         % (a.root, DATASET_TITLE, CATEGORIES[0][0]))
    if not (a.tolerance >= 0):
        raise UsageError("--tolerance %r: must be >= 0" % a.tolerance)
    if a.weights_dir is None:
        a.weights_dir = default_weights_dir()
    if a.padim is None:
        a.padim = default_padim()
        if a.padim is None:
            raise UsageError("padim-gpu not found: no build/padim-gpu beside this script and none on "
                             "PATH; build it (tools/setup.sh build) or pass --padim PATH")
    elif os.sep not in a.padim:
        found = shutil.which(a.padim)
        if not found:
            raise UsageError("--padim %s: not found on PATH" % a.padim)
        a.padim = found
    if not (os.path.isfile(a.padim) and os.access(a.padim, os.X_OK)):
        raise UsageError("--padim %s: not an executable file" % a.padim)
    return a


# ------------------------------------------------------------------ running
# Folders a category must have, per dataset (VisA: raw or converted by anomalib).
CATEGORY_FOLDERS = {"mvtec_ad": [("train/good", "test")], "mvtec_ad2": [("train/good", "test_public")],
                    "visa": [("Data/Images",), ("train/good", "test")]}


def category_missing(root, cat, dataset="mvtec_ad"):
    """None when ROOT/CAT looks like a category of the dataset, else the reason."""
    d = os.path.join(root, cat)
    if not os.path.isdir(d):
        return "no folder %s" % d
    why = None
    for subs in CATEGORY_FOLDERS[dataset]:
        missing = [s for s in subs if not os.path.isdir(os.path.join(d, s))]
        if not missing:
            return None
        why = why or "no %s/%s" % (d, missing[0])
    return why


def run_child(cmd, log_path, timeout):
    """Runs CMD with stdout+stderr to LOG_PATH. Returns (exit code, wall s, peak RSS bytes).
    The peak resident memory is the child's own (os.wait4's rusage), not a running maximum
    over all children as RUSAGE_CHILDREN would give."""
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        timer = None
        timed_out = []
        if timeout and timeout > 0:
            def kill():
                timed_out.append(True)
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.start()
        while True:
            try:
                _, status, ru = os.wait4(proc.pid, 0)
                break
            except InterruptedError:
                continue
        if timer:
            timer.cancel()
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        if timed_out:
            log.write(("\nnightly_mvtec: killed after %.0f s (--timeout)\n" % timeout).encode())
    return proc.returncode, wall, ru.ru_maxrss * 1024, bool(timed_out)


def get_num(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None


def run_one(a, bk, cat, out_dir):
    rec = {"backbone": bk, "category": cat, "status": "ok", "reason": None, "metrics": {},
           "fit_s": None, "score_s": None, "score_images_per_s": None, "peak_host_bytes": None,
           "peak_device_bytes": None, "wall_s": None, "run_dir": None, "log": None, "command": None}
    wfile = os.path.join(a.weights_dir, BACKBONES[bk][1])
    if not os.path.isfile(wfile):
        rec.update(status="not run", reason="no weights")
        rec["detail"] = "missing %s" % wfile
        return rec
    why = category_missing(a.root, cat, a.dataset)
    if why:
        rec.update(status="not run", reason="no data")
        rec["detail"] = why
        return rec
    run_dir = os.path.join(out_dir, "runs", bk, cat)
    os.makedirs(run_dir, exist_ok=True)
    mj = os.path.join(run_dir, "metrics.json")
    if os.path.exists(mj):
        os.remove(mj)  # never report a stale result
    cmd = [a.padim, "eval", os.path.join(a.root, cat), "-o", run_dir, "--backbone", bk,
           "--preset", a.preset, "--weights", wfile, "--dataset", a.dataset]
    if a.device:
        cmd += ["--device", a.device]
    cmd += a.eval_arg
    log = os.path.join(run_dir, "eval.log")
    rec.update(run_dir=run_dir, log=log, command=cmd)
    print("nightly: %s / %s ..." % (bk, cat), file=sys.stderr, flush=True)
    rc, wall, peak, timed_out = run_child(cmd, log, a.timeout)
    rec["wall_s"] = round(wall, 3)
    rec["peak_host_bytes"] = peak
    if rc != 0 or not os.path.isfile(mj):
        rec.update(status="failed",
                   reason="timed out" if timed_out else
                   ("exit %d" % rc if rc != 0 else "no metrics.json written"))
        rec["detail"] = "see %s" % log
        print("nightly: %s / %s failed (%s), log: %s" % (bk, cat, rec["reason"], log), file=sys.stderr)
        return rec
    try:
        with open(mj) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        rec.update(status="failed", reason="unreadable metrics.json")
        rec["detail"] = "%s: %s" % (mj, e)
        return rec
    rec["metrics"] = {
        "image_auroc": get_num(m, "metrics", "image_auroc"),
        "pixel_auroc": get_num(m, "metrics", "pixel_auroc"),
        "image_f1": get_num(m, "metrics", "image_f1"),
        "pixel_f1": get_num(m, "metrics", "pixel_f1"),
        "aupro_0.3": get_num(m, "metrics", "aupro_0.3"),
        "aupro_0.05": get_num(m, "metrics", "aupro_0.05"),
        "seg_f1": get_num(m, "metrics", "seg_f1"),
    }
    rec["fit_s"] = get_num(m, "timings_s", "fit")
    rec["score_s"] = get_num(m, "timings_s", "score")
    n = get_num(m, "counts", "images")
    if rec["score_s"] and n:
        rec["score_images_per_s"] = n / rec["score_s"]
    # Optional, when a padim-gpu version reports it.
    rec["peak_device_bytes"] = get_num(m, "memory", "peak_device_bytes")
    rec["eval"] = {k: m.get(k) for k in ("counts", "model", "thresholds", "backend", "padim_version")}
    print("nightly: %s / %s: image AUROC %s, pixel AUROC %s, image F1 %s (%.0f s)"
          % (bk, cat, fmt(rec["metrics"]["image_auroc"]), fmt(rec["metrics"]["pixel_auroc"]),
             fmt(rec["metrics"]["image_f1"]), wall), file=sys.stderr)
    return rec


# ------------------------------------------------------------------ checking and tables
def find_regressions(runs, tol):
    """Every attempted run that failed, and every published metric of a successful run that
    is more than TOL below its published value (or missing)."""
    regs = []
    for r in runs:
        bk, cat = r["backbone"], r["category"]
        who = "%s / %s" % (BACKBONES[bk][0], CATEGORY_TITLE[cat])
        if r["status"] == "failed":
            regs.append("%s: run failed (%s; %s)" % (who, r["reason"], r.get("detail", "")))
            continue
        if r["status"] != "ok":
            continue
        for key, title in METRICS:
            pub = published(key, bk, cat)
            if pub is None:
                continue  # nothing published: no regression possible
            ours = r["metrics"].get(key)
            name = title.split(" (")[0]
            if ours is None:
                regs.append("%s: %s unavailable (published %.3f)" % (who, name, pub))
            elif ours < pub - tol - 1e-12:
                regs.append("%s: %s %.4f is %.4f below published %.3f (tolerance %g)"
                            % (who, name, ours, pub - ours, pub, tol))
    return regs


def fmt(v, digits=3):
    return "n/a" if v is None else "%.*f" % (digits, v)


def fmt_diff(v):
    if v is None:
        return ""
    s = "%+.3f" % v
    return "+0.000" if s == "-0.000" else s


def mean(vals):
    return sum(vals) / len(vals) if vals else None


def metric_table(key, title, runs_by, backbones, categories_run):
    cols = ["Avg"] + [t for _, t in CATEGORIES]
    lines = ["### " + title, "",
             "| backbone | row | " + " | ".join(cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    notes = []
    for bk in backbones:
        name = BACKBONES[bk][0]
        ours_row, pub_row, diff_row = [], [], []
        ours_vals, pub_vals, diffs = [], [], []
        for cat, _ in CATEGORIES:
            pub = published(key, bk, cat)
            r = runs_by.get((bk, cat))
            pub_row.append(fmt(pub) if pub is not None else "")
            if r is None:
                ours_row.append("not run: not selected")
                diff_row.append("")
            elif r["status"] == "not run":
                ours_row.append("not run: " + r["reason"])
                diff_row.append("")
            elif r["status"] == "failed":
                ours_row.append("failed: " + r["reason"])
                diff_row.append("")
            else:
                v = r["metrics"].get(key)
                ours_row.append(fmt(v))
                if v is None:
                    diff_row.append("")
                else:
                    ours_vals.append(v)
                    if pub is not None:
                        pub_vals.append(pub)
                        diffs.append(v - pub)
                    diff_row.append(fmt_diff(v - pub) if pub is not None else "")
        no_pub = NOTE or "no published PaDiM value"
        if ours_vals:
            avg_o = mean(ours_vals)
            avg_p = mean(pub_vals) if len(pub_vals) == len(ours_vals) else None
            ours_row.insert(0, fmt(avg_o))
            pub_row.insert(0, fmt(avg_p) if avg_p is not None else no_pub)
            diff_row.insert(0, fmt_diff(avg_o - avg_p) if avg_p is not None else "")
            notes.append("%s: Avg over the %d categor%s run (%s)" % (
                name, len(ours_vals), "y" if len(ours_vals) == 1 else "ies",
                ", ".join(CATEGORY_TITLE[c] for c in categories_run.get(bk, []))))
        else:
            ours_row.insert(0, "not run")
            avg_p = published(key, bk)
            pub_row.insert(0, fmt(avg_p) if avg_p is not None else no_pub)
            diff_row.insert(0, "")
            notes.append("%s: no category run; published Avg is the %d-category average" % (name, len(CATEGORIES)))
        for label, row in (("ours", ours_row), ("published", pub_row), ("diff", diff_row)):
            lines.append("| %s | %s | %s |" % (name, label, " | ".join(row)))
    lines.append("")
    lines.append("Avg: " + "; ".join(notes) + ".")
    lines.append("")
    return lines


def mb(v):
    return "n/a" if v is None else "%.0f" % (v / 1e6)


def secs(v):
    return "n/a" if v is None else "%.1f" % v


def write_tables(path, info, runs, backbones, regs, tol):
    runs_by = {(r["backbone"], r["category"]): r for r in runs}
    categories_run = {}
    for r in runs:
        if r["status"] == "ok":
            categories_run.setdefault(r["backbone"], []).append(r["category"])
    L = ["## %s: padim-gpu vs published PaDiM" % DATASET_TITLE, "",
         "- date: %s; machine: %s (%s, %d CPUs); device: %s" % (
             info["date"], info["machine"]["hostname"], info["machine"]["platform"],
             info["machine"]["cpus"], info["device_used"] or info["settings"]["device"] or "auto"),
         "- padim-gpu: %s (%s); preset: %s; seed and d: the config defaults (seed 42)" % (
             info["padim_version"] or "?", info["settings"]["padim"], info["settings"]["preset"]),
         "- published: %s; diff = ours - published" % (SOURCE or NOTE or "none"),
         "- result: %s (tolerance %g below published)" % (
             "PASS" if not regs else "FAIL, %d regression%s" % (len(regs), "" if len(regs) == 1 else "s"), tol),
         ""]
    for key, title in METRICS:
        L += metric_table(key, title, runs_by, backbones, categories_run)
    L += ["### AUPRO, pixel F1, time and memory per run", "",
          "| backbone | category | AUPRO@0.3 | pixel F1 | fit s | score s | score img/s | run wall s "
          "| peak host MB | peak device MB | AUPRO@0.05 | SegF1 |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    any_run = False
    for r in runs:
        if r["status"] == "not run":
            continue
        any_run = True
        name, cat = BACKBONES[r["backbone"]][0], CATEGORY_TITLE[r["category"]]
        if r["status"] == "failed":
            L.append("| %s | %s | failed: %s | | | | | %s | %s | | | |" % (
                name, cat, r["reason"], secs(r["wall_s"]), mb(r["peak_host_bytes"])))
            continue
        m = r["metrics"]
        ips = r["score_images_per_s"]
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, cat, fmt(m.get("aupro_0.3")), fmt(m.get("pixel_f1")), secs(r["fit_s"]), secs(r["score_s"]),
            "n/a" if ips is None else "%.1f" % ips, secs(r["wall_s"]), mb(r["peak_host_bytes"]),
            mb(r["peak_device_bytes"]), fmt(m.get("aupro_0.05")), fmt(m.get("seg_f1"))))
    if not any_run:
        L.append("| (no run) | | | | | | | | | | | |")
    L.append("")
    L.append("Peak host MB: the eval process's maximum resident set (fit + evaluation). Peak device MB: "
             "n/a unless padim-gpu reports it (CPU runs, or no device figure in metrics.json).")
    L.append("")
    not_run = {}
    for r in runs:
        if r["status"] == "not run":
            not_run.setdefault((r["backbone"], r["reason"]), []).append(CATEGORY_TITLE[r["category"]])
    if not_run:
        L.append("Not run:")
        for (bk, reason), cats in not_run.items():
            L.append("- %s: %s (%s)" % (BACKBONES[bk][0],
                                        "all selected categories" if len(cats) == len(info["settings"]["categories"])
                                        else ", ".join(cats), reason))
        L.append("")
    if regs:
        L.append("Regressions:")
        L += ["- " + g for g in regs]
        L.append("")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(L) + "\n")
    os.replace(tmp, path)


def machine_info():
    return {"hostname": socket.gethostname(), "platform": platform.platform(),
            "cpus": os.cpu_count() or 0, "python": platform.python_version()}


def git_commit():
    try:
        out = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv):
    try:
        a = parse_args(argv)
    except UsageError as e:
        print("nightly_mvtec.py: error: %s" % e, file=sys.stderr)
        return 2
    try:
        os.makedirs(a.out, exist_ok=True)
    except OSError as e:
        print("nightly_mvtec.py: error: --out %s: cannot create: %s" % (a.out, e), file=sys.stderr)
        return 2
    t0 = time.time()
    runs = [run_one(a, bk, cat, a.out) for bk in a.backbones for cat in a.categories]
    regs = find_regressions(runs, a.tolerance)
    versions = [r["eval"]["padim_version"] for r in runs if r.get("eval") and r["eval"].get("padim_version")]
    devices = sorted({r["eval"]["backend"] for r in runs if r.get("eval") and r["eval"].get("backend")})
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "padim_version": versions[0] if versions else None,
        "commit": git_commit(),
        "device_used": ",".join(devices) or None,
        "settings": {"root": os.path.abspath(a.root), "dataset": a.dataset, "categories": a.categories,
                     "backbones": a.backbones,
                     "preset": a.preset, "weights_dir": os.path.abspath(a.weights_dir), "padim": a.padim,
                     "device": a.device, "eval_args": a.eval_arg, "tolerance": a.tolerance},
    }
    result = dict(info)
    result.update({
        "total_s": round(time.time() - t0, 3),
        "passed": not regs,
        "regressions": regs,
        "published": {"dataset": a.dataset, "source": SOURCE, "note": NOTE, "file": published_path(),
                      "values": PUBLISHED, "average": PUBLISHED_AVG},
        "runs": runs,
    })
    rj = os.path.join(a.out, "results.json")
    with open(rj + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(rj + ".tmp", rj)
    write_tables(os.path.join(a.out, "tables.md"), info, runs, a.backbones, regs, a.tolerance)
    n_ok = sum(r["status"] == "ok" for r in runs)
    n_not = sum(r["status"] == "not run" for r in runs)
    print("nightly: %d run, %d not run, %d failed; wrote %s and %s"
          % (n_ok, n_not, len(runs) - n_ok - n_not, rj, os.path.join(a.out, "tables.md")), file=sys.stderr)
    if regs:
        print("nightly: REGRESSIONS (tolerance %g):" % a.tolerance, file=sys.stderr)
        for g in regs:
            print("  " + g, file=sys.stderr)
        return 1
    print("nightly: PASS (no metric more than %g below published)" % a.tolerance, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
