#!/usr/bin/env python3
"""anomalib side by side: anomalib's own PaDiM code vs padim-gpu on the same images.

Runs, each as its own subprocess on this machine and in this run:
  1. anomalib fit   : anomalib.models.image.padim.torch_model.PadimModel in training mode
                      (its memory bank of all training embeddings), then PadimModel.fit()
                      (anomalib's MultiVariateGaussian), state saved to the work dir;
  2. anomalib score : the same PadimModel in eval mode (anomalib's AnomalyMapGenerator,
                      pred_score = max of the map) on the test images;
  3. padim-gpu fit  : `padim-gpu fit --device cpu`;
  4. padim-gpu score: `padim-gpu score --device cpu -o DIR`.
Both sides get the same ResNet-18 weights (torchvision IMAGENET1K_V1, BatchNorm folded:
anomalib's timm backbone gets its BatchNorm layers replaced by identities and the folded
biases put on its convolutions, checked against torchvision's resnet18 with the same
weights), the same channel indices (Python random.seed(42); random.sample(range(448), 100),
written into PadimModel.idx, which anomalib itself draws with torch.randperm), the same
preprocessing (anomalib's default PreProcessor: Resize 256x256 antialias + ImageNet
normalize, applied to full-resolution batches as its Lightning hooks do), the same thread
count, the same batch size and the same epsilon (anomalib 2.x adds 0.01 + 1e-5 to the
covariance diagonal; padim-gpu is given --eps 0.01001).
Peak memory is each subprocess's ru_maxrss (os.wait4), so one side's memory never mixes
with the other's. Reports score agreement (relative differences, Spearman), image AUROC,
fit time, score throughput, peak memory, and padim-gpu / anomalib ratios, as JSON and a
Markdown section. anomalib is used through its installed package only (no code copied).

Usage (normally through benchmarks/anomalib_compare.sh, which makes the venv):
  python anomalib_compare.py --data ../shared/data/mvtec_ad/bottle --padim-gpu BIN \
      --weights weights/resnet18_tv_in1k.safetensors --work build-anomalib/run
"""
import argparse
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time

T_START = time.perf_counter()  # children: start-up cost = imports + model load until ready
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
N_TOTAL, N_KEEP, SEED = 448, 100, 42
EPS_ANOMALIB = 0.01 + 1e-5  # MultiVariateGaussian: 0.01 * I, then + 1e-5 * I


def list_images(folder):
    out = []
    for dirpath, _, files in os.walk(folder):
        out += [os.path.join(dirpath, f) for f in files if f.lower().endswith(IMAGE_EXT)]
    return sorted(out)


def rss_self_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds():
    """CPU time of this process and of its terminated, waited-for children (loader workers)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


# ---------------------------------------------------------------- anomalib side (children)

def python_idx():
    random.seed(SEED)
    return random.sample(range(N_TOTAL), N_KEEP)


def fold_into_extractor(model, weights_path):
    """Put the BN-folded torchvision weights of a safetensors file into anomalib's extractor."""
    from safetensors.torch import load_file
    return fold_tensors_into_extractor(model, load_file(weights_path), weights_path)


def fold_tensors_into_extractor(model, tensors, weights_path):
    """Put BN-folded torchvision tensors (conv weight + bias; names with or without the
    "backbone." prefix of a padim-gpu model file) into anomalib's timm ResNet extractor
    (ResNet-18 or Wide-ResNet-50-2: the same module names), replacing each BatchNorm by an
    identity. weights_path only names the source in errors."""
    import torch
    net = model.feature_extractor.feature_extractor  # timm FeatureListNet (conv1 .. layer3)
    tensors = {k[len("backbone."):] if k.startswith("backbone.") else k: v
               for k, v in tensors.items()}
    convs = sorted(k[:-len(".weight")] for k in tensors if k.endswith(".weight"))
    for conv_name in convs:
        conv = net.get_submodule(conv_name)
        w, b = tensors[conv_name + ".weight"], tensors[conv_name + ".bias"]
        if tuple(conv.weight.shape) != tuple(w.shape):
            raise SystemExit(f"{weights_path}: {conv_name}.weight shape {tuple(w.shape)}, "
                             f"anomalib's extractor has {tuple(conv.weight.shape)}")
        conv.weight = torch.nn.Parameter(w.clone(), requires_grad=False)
        conv.bias = torch.nn.Parameter(b.clone(), requires_grad=False)
        # the BatchNorm that follows this conv becomes an identity (its effect is folded)
        if conv_name.endswith("downsample.0"):
            parent, bn = conv_name[:-len(".0")], "1"
        else:
            parent, _, leaf = conv_name.rpartition(".")
            bn = leaf.replace("conv", "bn")
        holder = net.get_submodule(parent) if parent else net
        if not isinstance(getattr(holder, bn) if not bn.isdigit() else holder[int(bn)],
                          torch.nn.BatchNorm2d):
            raise SystemExit(f"anomalib extractor: no BatchNorm after {conv_name}")
        if bn.isdigit():
            holder[int(bn)] = torch.nn.Identity()
        else:
            setattr(holder, bn, torch.nn.Identity())
    left = [n for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if left:
        raise SystemExit(f"anomalib extractor: BatchNorm layers left unfolded: {left}")
    return len(convs)


def build_anomalib(args):
    import torch
    from anomalib.models.image.padim.lightning_model import Padim
    from anomalib.models.image.padim.torch_model import PadimModel
    torch.set_num_threads(args.threads)
    model = PadimModel(backbone="resnet18", layers=["layer1", "layer2", "layer3"],
                       pre_trained=False, n_features=N_KEEP)
    n_conv = fold_into_extractor(model, args.weights)
    if model.idx.shape != (N_KEEP,) or model.n_features_original != N_TOTAL:
        raise SystemExit(f"unexpected anomalib PadimModel: idx {tuple(model.idx.shape)}, "
                         f"C={model.n_features_original}")
    model.idx.copy_(torch.tensor(python_idx(), dtype=model.idx.dtype))
    pre = Padim.configure_pre_processor()  # anomalib's default: Resize 256 antialias + normalize
    return model, pre, n_conv


def make_loader(files, args):
    """anomalib reads with anomalib.data.utils.read_image; a DataLoader batches full-size images."""
    import torch
    from anomalib.data.utils import read_image

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            return read_image(files[i], as_tensor=True)

    return torch.utils.data.DataLoader(Files(), batch_size=args.batch, shuffle=False,
                                       num_workers=args.workers)


def side_anomalib_fit(args):
    import torch
    model, pre, n_conv = build_anomalib(args)
    rss_ready = rss_self_mb()
    files = list_images(args.train)
    model.train()
    t0 = time.perf_counter()
    for images in make_loader(files, args):
        images = pre.transform(images)       # what PreProcessor.on_train_batch_start does
        model(images)                        # training mode: appended to model.memory_bank
    t_embed = time.perf_counter()
    bank_bytes = sum(e.numel() * e.element_size() for e in model.memory_bank)
    model.fit()                              # vstack(memory bank) + MultiVariateGaussian.fit
    t1 = time.perf_counter()
    torch.save(model.state_dict(), os.path.join(args.work, "anomalib_padim.pt"))
    json.dump({"images": len(files), "fit_s": t1 - t0, "embed_s": t_embed - t0,
               "gaussian_s": t1 - t_embed, "memory_bank_mb": bank_bytes / 2**20,
               "rss_ready_mb": rss_ready, "rss_peak_self_mb": rss_self_mb(),
               "folded_convs": n_conv, "idx_first": model.idx[:12].tolist()},
              open(os.path.join(args.work, "anomalib_fit.json"), "w"))


def side_anomalib_score(args):
    import torch
    model, pre, _ = build_anomalib(args)
    state = torch.load(os.path.join(args.work, "anomalib_padim.pt"))
    model.load_state_dict(state)
    model.eval()
    if list(model.idx.tolist()) != python_idx():
        raise SystemExit("anomalib model idx differs from Python random.sample after loading")
    rss_ready, ready_s = rss_self_mb(), time.perf_counter() - T_START
    files = list_images(args.test)
    with torch.no_grad():
        model(pre.transform(torch.rand(1, 3, 900, 900)))  # warm-up, not timed
        runs, cpu_runs = [], []
        for _ in range(args.repeat):
            scores = []
            t0, c0 = time.perf_counter(), cpu_seconds()
            for images in make_loader(files, args):
                out = model(pre.transform(images))   # PreProcessor.on_test_batch_start + forward
                scores += out.pred_score.reshape(-1).tolist()
            runs.append(time.perf_counter() - t0)
            cpu_runs.append(cpu_seconds() - c0)      # this process + its (joined) loader workers
    json.dump({"images": len(files), "score_s_runs": runs, "score_s": min(runs),
               "score_cpu_s_runs": cpu_runs, "score_cpu_s": min(cpu_runs), "ready_s": ready_s,
               "scores": dict(zip(files, scores)), "rss_ready_mb": rss_ready,
               "rss_peak_self_mb": rss_self_mb()},
              open(os.path.join(args.work, "anomalib_score.json"), "w"))


def side_check(args):
    """anomalib's extractor with the folded weights == torchvision resnet18 with them."""
    import torch
    rss_torch = rss_self_mb()  # what importing this torch build costs, before anomalib
    import torchvision
    from anomalib.data.utils import read_image
    from safetensors.torch import load_file
    model, pre, _ = build_anomalib(args)
    tv = torchvision.models.resnet18(weights=None).eval()
    tensors = load_file(args.weights)
    for name, mod in list(tv.named_modules()):
        if isinstance(mod, torch.nn.Conv2d) and name + ".weight" in tensors:  # layer4: unused
            mod.weight = torch.nn.Parameter(tensors[name + ".weight"])
            mod.bias = torch.nn.Parameter(tensors[name + ".bias"])
    for name, mod in list(tv.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(mod, child_name, torch.nn.Identity())
    x = pre.transform(torch.stack([read_image(f, as_tensor=True)
                                   for f in list_images(args.test)[:2]]))
    with torch.no_grad():
        feats = model.feature_extractor(x)
        h = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        ref = {}
        for layer in ("layer1", "layer2", "layer3"):
            h = getattr(tv, layer)(h)
            ref[layer] = h
    diff = {k: float((feats[k] - ref[k]).abs().max()) for k in ref}
    scale = {k: float(ref[k].abs().max()) for k in ref}
    json.dump({"rss_import_torch_mb": rss_torch, "rss_after_anomalib_setup_mb": rss_self_mb(),
               "max_abs_diff": diff, "max_abs": scale, "input_shape": list(x.shape)},
              open(os.path.join(args.work, "check.json"), "w"))


# ---------------------------------------------------------------- orchestrator

def run_child(cmd, env, log):
    """Run one side as a subprocess; its own peak RSS and CPU time come from os.wait4."""
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log + ".out", "w") as fo, open(log + ".err", "w") as fe:
        p = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)  # not p.wait(): wait4 returns this child's rusage
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    out, err = open(log + ".out").read(), open(log + ".err").read()
    if p.returncode != 0:
        sys.stderr.write(out + err)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024.0,
            "load1_before": load0, "load1_after": os.getloadavg()[0], "stdout": out, "stderr": err}


def auroc(scores, labels):
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(labels, scores))


def versions():
    import importlib.metadata as md
    v = {}
    for pkg in ("anomalib", "torch", "torchvision", "timm", "lightning", "numpy"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    return v


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None


def orchestrate(args):
    os.makedirs(args.work, exist_ok=True)
    train, test = os.path.join(args.data, "train", "good"), os.path.join(args.data, "test")
    for d in (train, test):
        if not os.path.isdir(d):
            raise SystemExit(f"{d}: not found (expected an MVTec AD category folder)")
    if not os.access(args.padim_gpu, os.X_OK):
        raise SystemExit(f"{args.padim_gpu}: padim-gpu binary not found or not executable")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS="1")
    me = [sys.executable, os.path.abspath(__file__), "--weights", args.weights, "--work", args.work,
          "--train", train, "--test", test, "--threads", str(args.threads),
          "--batch", str(args.batch), "--workers", str(args.workers), "--repeat", str(args.repeat)]
    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpu": cpu_model(), "cores": os.cpu_count(),
           "commit": commit(), "versions": versions(), "python": platform.python_version(),
           "settings": {"threads": args.threads, "batch": args.batch, "anomalib_workers": args.workers,
                        "repeat": args.repeat, "eps": EPS_ANOMALIB, "d": N_KEEP, "seed": SEED,
                        "data": os.path.abspath(args.data), "weights": os.path.abspath(args.weights)}}
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))

    say("check: anomalib extractor with folded weights vs torchvision resnet18 ...")
    run_child(me + ["--side", "check"], env, os.path.join(args.work, "check"))
    res["check"] = json.load(open(os.path.join(args.work, "check.json")))
    say(f"  max |diff| per layer: {res['check']['max_abs_diff']}")

    say("anomalib fit ...")
    c = run_child(me + ["--side", "anomalib-fit"], env, os.path.join(args.work, "anomalib_fit"))
    res["anomalib_fit"] = {**json.load(open(os.path.join(args.work, "anomalib_fit.json"))),
                           **{k: c[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "load1_before", "load1_after")}}
    say(f"  {res['anomalib_fit']['fit_s']:.1f} s, peak RSS {c['peak_rss_mb']:.0f} MB")

    say("anomalib score ...")
    c = run_child(me + ["--side", "anomalib-score"], env, os.path.join(args.work, "anomalib_score"))
    a_score = json.load(open(os.path.join(args.work, "anomalib_score.json")))
    res["anomalib_score"] = {**{k: v for k, v in a_score.items() if k != "scores"},
                             **{k: c[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "load1_before", "load1_after")}}
    say(f"  {a_score['score_s']:.1f} s, peak RSS {c['peak_rss_mb']:.0f} MB")

    model = os.path.join(args.work, "padim_gpu.padim")
    common = ["--device", "cpu", "--threads", str(args.threads)]
    say("padim-gpu fit ...")
    c = run_child([args.padim_gpu, "fit", train, "-o", model, "--weights", args.weights,
                   "--eps", repr(EPS_ANOMALIB), "--batch", str(args.batch)] + common, env,
                  os.path.join(args.work, "padim_gpu_fit"))
    m = re.search(r"fitted (\d+) images in ([0-9.]+) s", c["stdout"] + c["stderr"])
    if not m:
        raise SystemExit(f"padim-gpu fit: no 'fitted N images in T s' line in its output: {c['stdout']}")
    res["padim_gpu_fit"] = {"images": int(m.group(1)),
                            "fit_s": float(m.group(2)),
                            **{k: c[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "load1_before", "load1_after")}}
    say(f"  {res['padim_gpu_fit']['fit_s']:.1f} s, peak RSS {c['peak_rss_mb']:.0f} MB")

    say("padim-gpu score ...")
    runs, cpu_runs, p_scores, c = [], [], None, None
    for r in range(args.repeat):
        out_dir = os.path.join(args.work, f"padim_gpu_scores{r}")
        c = run_child([args.padim_gpu, "score", model, test, "-o", out_dir, "-q",
                       "--batch", str(args.batch)] + common, env, out_dir)
        sj = json.load(open(os.path.join(out_dir, "scores.json")))
        runs.append(sj["seconds"])
        cpu_runs.append(c["cpu_s"])
        p_scores = {img["path"]: img["score"] for img in sj["images"]}
    res["padim_gpu_score"] = {"images": len(p_scores), "score_s_runs": runs, "score_s": min(runs),
                              "score_cpu_s_runs": cpu_runs, "score_cpu_s": min(cpu_runs),
                              "ready_s": c["wall_s"] - runs[-1],
                              **{k: c[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "load1_before", "load1_after")}}
    say(f"  {min(runs):.1f} s, peak RSS {c['peak_rss_mb']:.0f} MB")

    # ---- agreement and metrics
    a = a_score["scores"]
    keys = sorted(a)
    if sorted(os.path.abspath(k) for k in p_scores) != sorted(os.path.abspath(k) for k in keys):
        raise SystemExit("the two sides scored different image lists")
    p = {os.path.abspath(k): v for k, v in p_scores.items()}
    av = [a[k] for k in keys]
    pv = [p[os.path.abspath(k)] for k in keys]
    rel = sorted(abs(x - y) / abs(x) for x, y in zip(av, pv))
    from scipy.stats import spearmanr
    labels = [0 if os.sep + "good" + os.sep in k else 1 for k in keys]
    res["agreement"] = {"images": len(keys), "max_rel_diff": rel[-1], "median_rel_diff": rel[len(rel) // 2],
                        "max_abs_diff": max(abs(x - y) for x, y in zip(av, pv)),
                        "spearman": float(spearmanr(av, pv).statistic)}
    res["auroc"] = {"anomalib": auroc(av, labels), "padim_gpu": auroc(pv, labels)}
    af, pf, asc, psc = res["anomalib_fit"], res["padim_gpu_fit"], res["anomalib_score"], res["padim_gpu_score"]
    n = len(keys)
    res["ratios"] = {
        "fit_time": pf["fit_s"] / af["fit_s"],
        "fit_cpu": pf["cpu_s"] / af["cpu_s"],
        "score_throughput": (n / psc["score_s"]) / (n / asc["score_s"]),
        "fit_peak_rss": pf["peak_rss_mb"] / af["peak_rss_mb"],
        "score_peak_rss": psc["peak_rss_mb"] / asc["peak_rss_mb"],
    }
    res["targets"] = {"score_throughput_ge_2x": res["ratios"]["score_throughput"] >= 2.0,
                      "fit_peak_rss_le_one_third": res["ratios"]["fit_peak_rss"] <= 1.0 / 3.0}
    with open(os.path.join(args.work, "anomalib_compare.json"), "w") as f:
        json.dump(res, f, indent=2)
    md = markdown(res)
    with open(os.path.join(args.work, "anomalib_compare.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


def markdown(r):
    af, pf, asc, psc, ag, ra = (r["anomalib_fit"], r["padim_gpu_fit"], r["anomalib_score"],
                                r["padim_gpu_score"], r["agreement"], r["ratios"])
    n = ag["images"]
    v = r["versions"]
    met = lambda ok: "**met**" if ok else "**not met**"
    lines = [
        f"- date {r['date']}, commit {r['commit']}, CPU {r['cpu']} ({r['cores']} cores), "
        f"{r['settings']['threads']} threads both sides, batch {r['settings']['batch']}, "
        f"anomalib DataLoader workers {r['settings']['anomalib_workers']}",
        f"- anomalib {v['anomalib']}, torch {v['torch']}, torchvision {v['torchvision']}, timm {v['timm']}, "
        f"Python {r['python']}",
        "- backbone check (anomalib's extractor with the folded weights vs torchvision resnet18): max |diff| "
        + ", ".join(f"{k} {d:.2e}" for k, d in r["check"]["max_abs_diff"].items()),
        "- load average (1 min) during the runs: "
        + ", ".join(f"{name} {x['load1_before']:.1f}->{x['load1_after']:.1f}"
                    for name, x in (("anomalib fit", af), ("anomalib score", asc),
                                    ("padim-gpu fit", pf), ("padim-gpu score", psc))),
        "",
        "| | anomalib PaDiM | padim-gpu (cpu) | padim-gpu / anomalib |",
        "|---|---|---|---|",
        f"| fit wall time, {af['images']} train images (s) | {af['fit_s']:.1f} | {pf['fit_s']:.1f} | {ra['fit_time']:.2f} |",
        f"| fit CPU time, whole process (s) | {af['cpu_s']:.1f} | {pf['cpu_s']:.1f} | {ra['fit_cpu']:.2f} |",
        f"| fit peak RSS (MB) | {af['peak_rss_mb']:.0f} | {pf['peak_rss_mb']:.0f} | {ra['fit_peak_rss']:.2f} |",
        f"| score time, {n} test images from files, best of {r['settings']['repeat']} passes (s) | {asc['score_s']:.2f} | {psc['score_s']:.2f} | |",
        f"| score throughput (images/s) | {n / asc['score_s']:.2f} | {n / psc['score_s']:.2f} | {ra['score_throughput']:.2f} |",
        f"| score start-up: imports + model load, before the first image (s) | {asc['ready_s']:.1f} | {psc['ready_s']:.1f} | |",
        f"| score CPU time per image, best pass (ms; anomalib: process + loader workers, padim-gpu: "
        f"whole process incl. model load) | {1e3 * asc['score_cpu_s'] / n:.0f} | {1e3 * psc['score_cpu_s'] / n:.0f} | "
        f"{psc['score_cpu_s'] / asc['score_cpu_s']:.2f} |",
        f"| score peak RSS (MB) | {asc['peak_rss_mb']:.0f} | {psc['peak_rss_mb']:.0f} | {ra['score_peak_rss']:.2f} |",
        f"| image AUROC | {r['auroc']['anomalib']:.4f} | {r['auroc']['padim_gpu']:.4f} | |",
        "",
        f"Score agreement over the {n} test images: max relative difference {ag['max_rel_diff']:.2e}, "
        f"median {ag['median_rel_diff']:.2e} (max absolute {ag['max_abs_diff']:.2e}), Spearman rank "
        f"correlation {ag['spearman']:.6f}. anomalib's memory bank of training embeddings: "
        f"{af['memory_bank_mb']:.0f} MB; its process RSS after imports and model set-up, before fitting: "
        f"{af['rss_ready_mb']:.0f} MB (of which `import torch` alone: {r['check']['rss_import_torch_mb']:.0f} MB "
        f"with this CUDA-enabled PyPI wheel).",
        "",
        f"Targets (issue 5, CPU): score throughput >= 2x anomalib's: {met(r['targets']['score_throughput_ge_2x'])} "
        f"({ra['score_throughput']:.2f}x); fit peak memory <= 1/3 of anomalib's: "
        f"{met(r['targets']['fit_peak_rss_le_one_third'])} ({ra['fit_peak_rss']:.2f}).",
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "mvtec_ad", "bottle"),
                    help="MVTec AD category folder (train/good, test/)")
    ap.add_argument("--padim-gpu", default=os.path.join(ROOT, "build-anomalib", "padim", "padim-gpu"))
    ap.add_argument("--weights", default=os.path.join(ROOT, "weights", "resnet18_tv_in1k.safetensors"),
                    help="BN-folded ResNet-18 safetensors (torchvision names)")
    ap.add_argument("--work", default=os.path.join(ROOT, "build-anomalib", "run"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="anomalib DataLoader workers (decoding)")
    ap.add_argument("--repeat", type=int, default=1, help="score passes per side (best is reported)")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--side", choices=["check", "anomalib-fit", "anomalib-score"], help=argparse.SUPPRESS)
    ap.add_argument("--train", help=argparse.SUPPRESS)
    ap.add_argument("--test", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return {"check": side_check, "anomalib-fit": side_anomalib_fit,
                "anomalib-score": side_anomalib_score}[args.side](args) or 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
