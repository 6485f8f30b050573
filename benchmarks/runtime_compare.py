#!/usr/bin/env python3
"""Inference runtimes side by side: anomalib's PaDiM in PyTorch, ONNX Runtime and OpenVINO vs padim-gpu.

One run on this machine, every side with the same thread count and pinned to the same CPUs,
each side a subprocess of its own (peak RSS from os.wait4). Per backbone (ResNet-18 with the
real torchvision weights; Wide-ResNet-50-2 with real weights when a file is found, else
padim-gpu's seeded random weights, `--weights random`):

  1. padim-gpu fit  : `padim-gpu fit --device cpu` on the training subset (eps 0.01001, the
                      anomalib value); its model file is the one source of the backbone
                      weights (BN folded, "backbone.*") and channel indices ("idx") that the
                      anomalib side is built with, so both sides hold the same numbers;
  2. anomalib fit   : anomalib 2.7's installed PadimModel (timm extractor, BatchNorm replaced
                      by identities and the folded weights put on its convolutions, idx set
                      from the model file), memory bank + PadimModel.fit() on the same
                      training images (read_image + its default PreProcessor); then
                      torch.onnx.export (dynamo exporter, dynamic batch) of the eval-mode
                      PadimModel: input (N, 3, 256, 256) preprocessed tensor, outputs
                      anomaly_map (N, 1, 256, 256) and pred_score (N, 1); and the
                      preprocessed tensors of the timing images;
  3. torch          : the eval-mode PadimModel, eager fp32 = the reference: from tensors at
                      each batch, and from PNG files (read_image + PreProcessor + model,
                      DataLoader, --files-batch);
  4. ort            : ONNX Runtime CPUExecutionProvider, fp32, intra_op threads = T,
                      inter_op 1, sequential, from tensors at each batch;
  5. ov f32/default : OpenVINO CPU, INFERENCE_PRECISION_HINT f32, then OpenVINO's default
                      precision (bf16 on CPUs with AMX / AVX512-BF16, else f32; the
                      precision it resolved to is reported), INFERENCE_NUM_THREADS T, one
                      stream, LATENCY hint, the model reshaped to a static batch; from
                      tensors at each batch, and from files at batch 1 (PIL decode + the same
                      PreProcessor + infer);
  6. padim-gpu bench: `padim-gpu bench --device cpu --images TEST` with each batch repeated
                      --reps times; its per-stage times give the from-tensors figure
                      (backbone + embed + mahalanobis + map, what a caller feeding
                      preprocessed batches gets: the same stages as the ONNX graph);
  7. padim-gpu score: `padim-gpu score --batch FILES_BATCH` on the test PNGs, from files.

Every timed pass follows an untimed warm-up at the same batch; each figure is the best of
--reps passes (all passes are in the JSON). Score errors: max over the images of
|s - s_ref| / |s_ref|, where s_ref is the eager fp32 PyTorch score of the same input
(tensors, or the same PNG for the from-files figures; padim-gpu decodes and resizes with its
own code, so its error includes that). Output: a Markdown table per backbone (printed and in
WORK/runtime_compare.md), WORK/runtime_compare.json, and with --record a dated section
appended to benchmarks/RESULTS.md.

Usage (normally through benchmarks/runtime_compare.sh, which makes the venv and builds):
  python runtime_compare.py --padim-gpu BIN [--backbones resnet18,wide_resnet50_2]
      [--batches 1,16] [--threads 2] [--reps 3] [--record]
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from anomalib_compare import commit, cpu_model, fold_tensors_into_extractor, list_images, run_child  # noqa: E402

EPS_ANOMALIB = 0.01 + 1e-5  # MultiVariateGaussian: 0.01 * I, then + 1e-5 * I
S = 256                     # anomalib preset input size
BACKBONES = {
    # name: (label, D, real weights file name)
    "resnet18": ("ResNet-18", 100, "resnet18_tv_in1k.safetensors"),
    "wide_resnet50_2": ("Wide-ResNet-50-2", 550, "wide_resnet50_2_tv_in1k.safetensors"),
}
# Images per backbone (0 = all): training subset, timing tensors, from-files subset.
# Wide-ResNet-50-2 uses fewer to keep a full run near 15 minutes on 2 cores.
DEFAULT_COUNTS = {
    "train_images": {"resnet18": 0, "wide_resnet50_2": 32},
    "tensor_images": {"resnet18": 32, "wide_resnet50_2": 16},
    "file_images": {"resnet18": 0, "wide_resnet50_2": 16},
}


# ---------------------------------------------------------------- children (one per runtime)

def plan_of(args):
    return json.load(open(os.path.join(args.work, "plan.json")))


def write_side(args, name, res):
    with open(os.path.join(args.work, f"side_{name}.json"), "w") as f:
        json.dump(res, f)


def best_of(runs, n):
    return {"runs_s": runs, "seconds": min(runs), "images_per_s": n / min(runs)}


def time_tensor_passes(run, x, batch, reps):
    """run(x_batch) -> (scores (b,), maps (b, 1, S, S)): an untimed warm-up batch, then reps
    timed passes over x. Returns the figure (with the last pass's scores) and that pass's maps."""
    n = x.shape[0]
    run(x[:batch])
    runs = []
    for _ in range(reps):
        t0, scores, maps = time.perf_counter(), [], []
        for i in range(0, n, batch):
            s_b, m_b = run(x[i:i + batch])
            scores += [float(v) for v in s_b]
            maps.append(m_b)
        runs.append(time.perf_counter() - t0)
    return {"batch": batch, **best_of(runs, n), "scores": scores}, maps


def time_tensors(run, x, plan, res):
    """Every batch of the plan into res["tensors"]; the largest batch's maps are returned."""
    import numpy as np
    res["tensors"], maps = [], None
    for b in plan["batches"]:
        entry, m = time_tensor_passes(run, x, b, plan["reps"])
        res["tensors"].append(entry)
        if b == max(plan["batches"]):
            maps = np.concatenate(m)
    return maps


def map_error(maps, plan):
    """max |map - ref| / max |ref| over all pixels of all images, ref = the eager maps (same batch)."""
    import numpy as np
    ref = np.load(plan["ref_maps_npy"])
    return float(np.abs(maps - ref).max() / np.abs(ref).max())


def time_files(one_pass, n, reps):
    """one_pass() -> scores of the n files; an untimed warm-up is the caller's."""
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        scores = one_pass()
        runs.append(time.perf_counter() - t0)
    return {**best_of(runs, n), "scores": scores}


def build_padim_model(plan):
    """anomalib's PadimModel with padim-gpu's model-file weights (BN folded) and idx."""
    import torch
    from anomalib.models.image.padim.lightning_model import Padim
    from anomalib.models.image.padim.torch_model import PadimModel
    from safetensors import safe_open
    torch.set_num_threads(plan["threads"])
    model = PadimModel(backbone=plan["backbone"], layers=["layer1", "layer2", "layer3"],
                       pre_trained=False, n_features=plan["d"])
    with safe_open(plan["padim_model"], "pt") as f:  # only what is needed: not the factor
        backbone = {k: f.get_tensor(k) for k in f.keys() if k.startswith("backbone.")}
        idx = f.get_tensor("idx")
    fold_tensors_into_extractor(model, backbone, plan["padim_model"])
    if model.idx.shape != idx.shape:
        raise SystemExit(f"anomalib PadimModel idx {tuple(model.idx.shape)}, model file {tuple(idx.shape)}")
    model.idx.copy_(idx.to(model.idx.dtype))
    return model, Padim.configure_pre_processor()  # Resize 256x256 antialias + ImageNet normalize


def file_loader(files, batch, workers):
    import torch
    from anomalib.data.utils import read_image

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            return read_image(files[i], as_tensor=True)

    return torch.utils.data.DataLoader(Files(), batch_size=batch, shuffle=False, num_workers=workers)


def map_and_score(model):
    """The eval-mode PadimModel as a module of tensors only: x -> (anomaly_map, pred_score)."""
    import torch

    class MapAndScore(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            out = self.m(x)
            return out.anomaly_map, out.pred_score

    return MapAndScore(model).eval()


def shared_empty(shape, work):
    """A float32 tensor in a shared file mapping (the forked workers below write into it):
    in /dev/shm when it has room, else in the work folder; the file is unlinked at once."""
    import tempfile
    import torch
    n = 1
    for k in shape:
        n *= k
    st = os.statvfs("/dev/shm") if os.path.isdir("/dev/shm") else None
    folder = "/dev/shm" if st and st.f_bavail * st.f_frsize > 1.5 * 4 * n else work
    fd, path = tempfile.mkstemp(dir=folder, prefix="runtime_compare_")
    os.close(fd)
    t = torch.from_file(path, shared=True, size=n, dtype=torch.float32).view(*shape)
    os.unlink(path)
    return t


def fit_gaussian_by_positions(model, threads, work, chunk=8):
    """PadimModel.fit() (vstack of the memory bank, then anomalib's MultiVariateGaussian.fit)
    on chunks of 8 positions. Each position's mean and inverse covariance depend on that
    position only, so the numbers are anomalib's; its one-shot fit holds 3-4 copies of (P, D, D)
    at once (Wide-ResNet-50-2: 4.96 GB each, over 20 GB in all), a chunk a few MB; and small
    chunks are faster (it writes its (D, D, chunk) covariance one position at a time, with a
    stride of chunk: 33-36 ms per 550x550 position at 1-8, 45 ms at 256).
    The chunks go to `threads` forked processes of one torch thread each, writing into shared
    memory: torch's batched LU (under linalg.inv) runs getrf on several threads at once for
    matrices above ~14x14, and MKL's is not thread-safe there (pytorch/pytorch#142815, fix in
    #181570): with torch 2.15 and 2 threads, batched inverses of 256x256 or larger fail or
    come out wrong, so one process per thread is the way to use the same cores safely."""
    import multiprocessing
    import torch
    from anomalib.models.components import MultiVariateGaussian
    emb = torch.vstack(model.memory_bank)  # (N, D, H, W)
    model.memory_bank = []
    n, d, h, w = emb.shape
    flat = emb.reshape(n, d, 1, h * w)
    mean = shared_empty((d, h * w), work)     # (D, P)
    inv = shared_empty((h * w, d, d), work)   # (P, D, D)

    def worker(k):
        torch.set_num_threads(1)
        for p0 in range(k * chunk, h * w, threads * chunk):
            m_c, i_c = MultiVariateGaussian().fit(flat[..., p0:p0 + chunk].contiguous())
            mean[:, p0:p0 + chunk], inv[p0:p0 + chunk] = m_c, i_c

    procs = [multiprocessing.get_context("fork").Process(target=worker, args=(k,)) for k in range(threads)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"Gaussian fit worker failed (exit {p.exitcode})")
    model.gaussian.mean, model.gaussian.inv_covariance = mean, inv


def side_anomalib_fit(args):
    import numpy as np
    import torch
    plan = plan_of(args)
    model, pre = build_padim_model(plan)
    model.train()
    t0 = time.perf_counter()
    for images in file_loader(plan["train"], plan["fit_batch"], 0):
        model(pre.transform(images))  # training mode: appended to the memory bank
    t_embed = time.perf_counter()
    fit_gaussian_by_positions(model, plan["threads"], plan["work"])  # means, inverse covariances
    t1 = time.perf_counter()
    model.eval()
    torch.save(model.state_dict(), plan["torch_state"])
    t2 = time.perf_counter()
    torch.onnx.export(map_and_score(model), (torch.zeros(2, 3, S, S),), plan["onnx"], input_names=["x"],
                      output_names=["anomaly_map", "pred_score"], dynamo=True, verbose=False,
                      dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}})
    t3 = time.perf_counter()
    with torch.no_grad():  # the timing tensors: what every runtime gets as input
        x = torch.cat([pre.transform(images) for images in file_loader(plan["tensors"], 16, 0)])
    np.save(plan["tensors_npy"], x.numpy().astype(np.float32))
    onnx_bytes = sum(os.path.getsize(os.path.join(os.path.dirname(plan["onnx"]), f))
                     for f in os.listdir(os.path.dirname(plan["onnx"])) if f.startswith("padim.onnx"))
    write_side(args, "anomalib_fit", {
        "images": len(plan["train"]), "fit_s": t1 - t0, "embed_s": t_embed - t0, "gaussian_s": t1 - t_embed,
        "gaussian": "anomalib MultiVariateGaussian per 8 positions, one 1-thread process per thread",
        "export_s": t3 - t2, "onnx_mb": onnx_bytes / 2**20, "exporter": "torch.onnx.export(dynamo=True)",
        "tensors_shape": list(x.shape)})


def side_torch(args):
    import numpy as np
    import torch
    plan = plan_of(args)
    model, pre = build_padim_model(plan)
    model.load_state_dict(torch.load(plan["torch_state"], mmap=True, weights_only=True))
    model.eval()
    torch.set_num_interop_threads(1)
    x = torch.from_numpy(np.load(plan["tensors_npy"]))

    def run(xb):
        with torch.no_grad():
            out = model(xb)
        return out.pred_score.reshape(-1).tolist(), out.anomaly_map.numpy()

    res = {}
    np.save(plan["ref_maps_npy"], time_tensors(run, x, plan, res))  # the reference maps
    # from PNG files: anomalib's read_image in DataLoader workers, its PreProcessor, the model
    files = plan["files"]

    def one_pass():
        with torch.no_grad():
            return [v for images in file_loader(files, plan["files_batch"], plan["workers"])
                    for v in model(pre.transform(images)).pred_score.reshape(-1).tolist()]

    with torch.no_grad():
        model(pre.transform(next(iter(file_loader(files[:1], 1, 0)))))  # warm-up
    res["files"] = {"batch": plan["files_batch"], "workers": plan["workers"],
                    **time_files(one_pass, len(files), plan["reps"])}
    write_side(args, "torch", res)


def side_ort(args):
    import numpy as np
    import onnxruntime as ort
    plan = plan_of(args)
    so = ort.SessionOptions()
    so.intra_op_num_threads = plan["threads"]
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(plan["onnx"], so, providers=["CPUExecutionProvider"])

    def run(xb):
        maps, scores = sess.run(["anomaly_map", "pred_score"], {"x": xb})
        return scores.reshape(-1), maps

    res = {"providers": sess.get_providers()}
    res["map_error"] = map_error(time_tensors(run, np.load(plan["tensors_npy"]), plan, res), plan)
    write_side(args, "ort", res)


def side_openvino(args):
    """OpenVINO at one precision, one static-batch compiled model at a time (Wide-ResNet-50-2:
    each holds its own 5 GB of constants); from files too with f32, the precision of the other rows."""
    import numpy as np
    import openvino as ov
    plan = plan_of(args)
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": plan["threads"], "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if args.precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    x = np.load(plan["tensors_npy"])
    res = {"precision_asked": args.precision, "tensors": []}
    for b in plan["batches"]:
        net = core.read_model(plan["onnx"])
        net.reshape({"x": [b, 3, S, S]})
        compiled = core.compile_model(net, "CPU", config)
        res["precision"] = str(compiled.get_property("INFERENCE_PRECISION_HINT")).replace(
            "<Type: '", "").replace("'>", "")
        req = compiled.create_infer_request()

        def run(xb):
            out = req.infer({"x": xb})
            return out["pred_score"].reshape(-1).copy(), out["anomaly_map"].copy()

        entry, maps = time_tensor_passes(run, x, b, plan["reps"])
        res["tensors"].append(entry)
        if b == max(plan["batches"]):
            res["map_error"] = map_error(np.concatenate(maps), plan)
        if b == 1 and args.precision == "f32":
            res["files"] = openvino_files(plan, req)
        del req, compiled, net
    if args.precision == "f32" and "files" not in res:  # no batch 1 among --batches
        net = core.read_model(plan["onnx"])
        net.reshape({"x": [1, 3, S, S]})
        res["files"] = openvino_files(plan, core.compile_model(net, "CPU", config).create_infer_request())
    write_side(args, f"openvino_{args.precision}", res)


def openvino_files(plan, req):
    """From files, batch 1: PIL decode, anomalib's PreProcessor (the eager side's resize and
    normalization, so the score error is OpenVINO's alone), infer."""
    import numpy as np
    import torch
    from anomalib.models.image.padim.lightning_model import Padim
    from PIL import Image
    torch.set_num_threads(plan["threads"])
    pre = Padim.configure_pre_processor()

    def one(path):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        t = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div(255.0)
        with torch.no_grad():
            xb = pre.transform(t).numpy()
        return float(req.infer({"x": xb})["pred_score"].reshape(-1)[0])

    one(plan["files"][0])  # warm-up
    return {"batch": 1, **time_files(lambda: [one(p) for p in plan["files"]], len(plan["files"]), plan["reps"])}


SIDES = {"anomalib-fit": side_anomalib_fit, "torch": side_torch, "ort": side_ort, "openvino": side_openvino}


# ---------------------------------------------------------------- orchestrator

def parse_counts(text, name):
    """'N' (every backbone) or 'resnet18=N,wide_resnet50_2=M' over the defaults; 0 = all."""
    out = dict(DEFAULT_COUNTS[name])
    if text is None:
        return out
    for item in text.split(","):
        key, _, val = item.rpartition("=")
        keys = [key] if key else list(out)
        for k in keys:
            if k not in out:
                raise SystemExit(f"--{name.replace('_', '-')}: unknown backbone '{k}'")
            out[k] = int(val)
    return out


def subset(files, n):
    """n files spread evenly over the sorted list (every defect type appears); 0 = all."""
    if n <= 0 or n >= len(files):
        return list(files)
    return [files[(i * len(files)) // n] for i in range(n)]


def all_versions():
    import importlib.metadata as md
    return dict(sorted((d.metadata["Name"].lower(), d.version) for d in md.distributions()))


def lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return {}
    field = lambda k: (re.search(rf"^{k}:\s*(.+)$", out, re.M) or [None, None])[1]
    flags = (field("Flags") or "").split()
    return {"model": field("Model name"), "cpus": field(r"CPU\(s\)"),
            "threads_per_core": field(r"Thread\(s\) per core"),
            "isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]}


def find_weights(backbone, explicit):
    if explicit:
        return explicit
    name = BACKBONES[backbone][2]
    for d in (os.path.join(ROOT, "weights"), os.path.join(ROOT, "..", "shared", "weights")):
        if os.path.isfile(os.path.join(d, name)):
            return os.path.abspath(os.path.join(d, name))
    return None


def rel_error(scores, ref):
    if scores is None or ref is None:
        return None
    if len(scores) != len(ref):
        raise SystemExit(f"score lists of different lengths: {len(scores)} vs {len(ref)}")
    return max(abs(a - b) / abs(b) for a, b in zip(scores, ref))


def padim_gpu_fit(args, plan, env, say):
    """The fitted model also holds the weights and idx that anomalib is built with."""
    cmd = [args.padim_gpu, "fit", "--device", "cpu", "--threads", str(args.threads),
           "--backbone", plan["backbone"], "--weights", plan["weights"], "--eps", repr(EPS_ANOMALIB),
           "--batch", str(plan["fit_batch"]), "-o", plan["padim_model"]] + plan["train"]
    c = run_child(cmd, env, os.path.join(plan["work"], "padim_gpu_fit"))
    m = re.search(r"fitted (\d+) images in ([0-9.]+) s", c["stdout"] + c["stderr"])
    if not m:
        raise SystemExit(f"padim-gpu fit: no 'fitted N images in T s' line in its output: {c['stdout']}")
    say(f"  padim-gpu fit: {m.group(2)} s, peak RSS {c['peak_rss_mb']:.0f} MB")
    return {"images": int(m.group(1)), "fit_s": float(m.group(2)), "peak_rss_mb": c["peak_rss_mb"]}


def padim_gpu_bench(args, plan, env, say):
    """From tensors: bench's per-stage times at each batch, each batch run --reps times."""
    out = os.path.join(plan["work"], "padim_gpu_bench.json")
    batches = [b for _ in range(args.reps) for b in plan["batches"]]
    cmd = [args.padim_gpu, "bench", "--device", "cpu", "--threads", str(args.threads), "-q",
           "--backbone", plan["backbone"], "--weights", plan["weights"], "--images", args.test_dir,
           "--count", str(len(plan["tensors"])), "--batches", ",".join(map(str, batches)), "--json", out]
    c = run_child(cmd, env, os.path.join(plan["work"], "padim_gpu_bench"))
    j = json.load(open(out))
    res = {"commit": j.get("commit"), "backend": j.get("backend"), "peak_rss_mb": c["peak_rss_mb"],
           "images": j["settings"]["images"], "tensors": [], "files": []}
    for b in plan["batches"]:
        rows = [e for e in j["score"] if e["batch"] == b]
        res["tensors"].append({"batch": b, "images_per_s": max(e["tensor_images_per_s"] for e in rows),
                               "runs_images_per_s": [e["tensor_images_per_s"] for e in rows],
                               "stages_s": max(rows, key=lambda e: e["tensor_images_per_s"])["stages_s"]})
        res["files"].append({"batch": b, "images_per_s": max(e["images_per_s"] for e in rows)})
    say("  padim-gpu bench (tensors): " + ", ".join(f"b{t['batch']} {t['images_per_s']:.2f}/s"
                                                     for t in res["tensors"]))
    return res


def padim_gpu_score(args, plan, env, say):
    runs, scores = [], None
    for r in range(args.reps):
        out_dir = os.path.join(plan["work"], f"padim_gpu_score{r}")
        c = run_child([args.padim_gpu, "score", "--device", "cpu", "--threads", str(args.threads), "-q",
                       "--batch", str(args.files_batch), plan["padim_model"], "-o", out_dir] + plan["files"],
                      env, out_dir)
        sj = json.load(open(os.path.join(out_dir, "scores.json")))
        runs.append(sj["seconds"])
        by_path = {os.path.abspath(i["path"]): i["score"] for i in sj["images"]}
        scores = [by_path[os.path.abspath(p)] for p in plan["files"]]
    say(f"  padim-gpu score (files, b{args.files_batch}): {len(scores) / min(runs):.2f}/s")
    return {"batch": args.files_batch, **best_of(runs, len(scores)), "scores": scores,
            "peak_rss_mb": c["peak_rss_mb"]}


def run_side(args, plan, env, name, extra=()):
    me = [sys.executable, os.path.abspath(__file__), "--work", plan["work"], "--side", name, *extra]
    tag = name + ("_" + extra[-1] if extra else "")
    c = run_child(me, env, os.path.join(plan["work"], tag))
    res = json.load(open(os.path.join(plan["work"], f"side_{tag.replace('-', '_')}.json")))
    res["peak_rss_mb"], res["wall_s"] = c["peak_rss_mb"], c["wall_s"]
    return res


def run_backbone(args, backbone, env, counts, say):
    label, d, _ = BACKBONES[backbone]
    work = os.path.join(args.work, backbone)
    os.makedirs(work, exist_ok=True)
    real = find_weights(backbone, args.wrn50_weights if backbone == "wide_resnet50_2" else args.r18_weights)
    if backbone == "resnet18" and not real:
        raise SystemExit("resnet18: weights/resnet18_tv_in1k.safetensors not found (give --r18-weights)")
    test = list_images(args.test_dir)
    plan = {
        "backbone": backbone, "label": label, "d": d, "work": work, "threads": args.threads,
        "reps": args.reps, "batches": args.batches, "files_batch": args.files_batch, "workers": args.workers,
        "fit_batch": 16, "weights": real or "random",
        "train": subset(list_images(args.train_dir), counts["train_images"][backbone]),
        "tensors": subset(test, counts["tensor_images"][backbone]),
        "files": subset(test, counts["file_images"][backbone]),
        "padim_model": os.path.join(work, "padim_gpu.padim"), "torch_state": os.path.join(work, "anomalib_padim.pt"),
        "onnx": os.path.join(work, "onnx", "padim.onnx"), "tensors_npy": os.path.join(work, "tensors.npy"),
        "ref_maps_npy": os.path.join(work, "ref_maps.npy"),
    }
    for b in args.batches:
        if len(plan["tensors"]) % b:
            raise SystemExit(f"{backbone}: {len(plan['tensors'])} tensor images is not a multiple of batch {b} "
                             "(--tensor-images)")
    os.makedirs(os.path.dirname(plan["onnx"]), exist_ok=True)
    json.dump(plan, open(os.path.join(work, "plan.json"), "w"), indent=1)
    say(f"{label}: weights {plan['weights']}, {len(plan['train'])} train / {len(plan['tensors'])} tensor / "
        f"{len(plan['files'])} file images")
    res = {"label": label, "d": d, "weights": plan["weights"],
           "images": {k: len(plan[k]) for k in ("train", "tensors", "files")}}
    res["padim_gpu_fit"] = padim_gpu_fit(args, plan, env, say)
    res["anomalib_fit"] = run_side(args, plan, env, "anomalib-fit")
    say(f"  anomalib fit {res['anomalib_fit']['fit_s']:.1f} s + ONNX export {res['anomalib_fit']['export_s']:.1f} s "
        f"({res['anomalib_fit']['onnx_mb']:.0f} MB), peak RSS {res['anomalib_fit']['peak_rss_mb']:.0f} MB")
    for name, extra in (("torch", ()), ("ort", ()), ("openvino", ("--precision", "f32")),
                        ("openvino", ("--precision", "default"))):
        key = name + ("_" + extra[-1] if extra else "")
        r = run_side(args, plan, env, name, extra)
        res[key] = r
        say(f"  {key}: " + ", ".join(f"b{t['batch']} {t['images_per_s']:.2f}/s" for t in r["tensors"])
            + (f", files {r['files']['images_per_s']:.2f}/s" if "files" in r else "")
            + (f" (precision {r['precision']})" if "precision" in r else "")
            + f", peak RSS {r['peak_rss_mb']:.0f} MB")
    res["padim_gpu_bench"] = padim_gpu_bench(args, plan, env, say)
    res["padim_gpu_score"] = padim_gpu_score(args, plan, env, say)
    if not args.keep:
        for p in (plan["torch_state"], plan["padim_model"], plan["tensors_npy"], plan["ref_maps_npy"]):
            if os.path.exists(p):
                os.remove(p)
        for f in os.listdir(os.path.dirname(plan["onnx"])):
            os.remove(os.path.join(os.path.dirname(plan["onnx"]), f))
    summarize(res)
    return res


def summarize(r):
    """Score errors against the eager fp32 reference, and the ratios."""
    ref_t = {t["batch"]: t["scores"] for t in r["torch"]["tensors"]}  # the reference at each batch
    ref_f = r["torch"]["files"]["scores"]
    err = {}
    for key in ("torch", "ort", "openvino_f32", "openvino_default"):
        side = r[key]
        t_err = max(rel_error(t["scores"], ref_t[t["batch"]]) for t in side["tensors"])
        f_err = rel_error(side["files"]["scores"], ref_f) if "files" in side else None
        err[key] = {"tensors": t_err, "files": f_err, "map": side.get("map_error", 0.0 if key == "torch" else None)}
    err["padim_gpu"] = {"tensors": None, "files": rel_error(r["padim_gpu_score"]["scores"], ref_f), "map": None}
    first = next(iter(ref_t.values()))
    err["torch_batch_consistency"] = max(rel_error(s, first) for s in ref_t.values())
    r["score_error"] = err
    pg = {t["batch"]: t["images_per_s"] for t in r["padim_gpu_bench"]["tensors"]}
    ort = {t["batch"]: t["images_per_s"] for t in r["ort"]["tensors"]}
    r["ratios"] = {f"padim_gpu_over_ort_b{b}": pg[b] / ort[b] for b in pg if b in ort}
    r["ratios"]["padim_gpu_files_over_anomalib_eager_files"] = (r["padim_gpu_score"]["images_per_s"]
                                                                / r["torch"]["files"]["images_per_s"])


def fmt_rate(x):
    return "-" if x is None else f"{x:.2f}"


def fmt_err(x):
    return "-" if x is None else ("0" if x == 0 else f"{x:.1e}")


def markdown_backbone(r, batches, versions):
    tb = lambda side: {t["batch"]: t["images_per_s"] for t in side["tensors"]}
    files = lambda side, key="files": side.get(key, {}).get("images_per_s") if key in side else None
    v = lambda p: versions.get(p, "?")
    rows = [
        (f"anomalib {v('anomalib')} eager PyTorch {v('torch')} fp32 (reference)", tb(r["torch"]),
         files(r["torch"]), f"b{r['torch']['files']['batch']}, DataLoader workers {r['torch']['files']['workers']}",
         "torch"),
        (f"ONNX Runtime {v('onnxruntime')} fp32 (CPUExecutionProvider)", tb(r["ort"]), None, "", "ort"),
        (f"OpenVINO {v('openvino')} f32 (INFERENCE_PRECISION_HINT f32)", tb(r["openvino_f32"]),
         files(r["openvino_f32"]), "b1, PIL decode", "openvino_f32"),
        (f"OpenVINO {v('openvino')} default precision (resolved: {r['openvino_default']['precision']})",
         tb(r["openvino_default"]), files(r["openvino_default"]), "b1, PIL decode", "openvino_default"),
        ("padim-gpu cpu fp32", tb(r["padim_gpu_bench"]), r["padim_gpu_score"]["images_per_s"],
         f"b{r['padim_gpu_score']['batch']}, `padim-gpu score`", "padim_gpu"),
    ]
    n = r["images"]
    head = (f"### {r['label']} (D {r['d']}, weights: "
            f"{'seeded random (`--weights random`)' if r['weights'] == 'random' else os.path.basename(r['weights'])})\n\n"
            f"Fit on {n['train']} bottle train images (anomalib {r['anomalib_fit']['fit_s']:.1f} s, "
            f"padim-gpu {r['padim_gpu_fit']['fit_s']:.1f} s; ONNX export {r['anomalib_fit']['export_s']:.1f} s, "
            f"{r['anomalib_fit']['onnx_mb']:.0f} MB); from tensors: {n['tensors']} preprocessed bottle test "
            f"images (1x3x{S}x{S} each); from files: {n['files']} bottle test PNGs (900x900).\n")
    cols = " | ".join(f"b{b} tensors (img/s)" for b in batches)
    lines = [head, f"| runtime / precision | {cols} | from files (img/s) | score error, tensors | score error, files |",
             "|---|" + "---|" * len(batches) + "---|---|---|"]
    for name, t, f, how, key in rows:
        e = r["score_error"][key]
        ferr = "0 (reference)" if key == "torch" else fmt_err(e["files"])
        terr = "0 (reference)" if key == "torch" else fmt_err(e["tensors"])
        lines.append(f"| {name} | " + " | ".join(fmt_rate(t.get(b)) for b in batches)
                     + f" | {fmt_rate(f)}{' (' + how + ')' if f is not None and how else ''} | {terr} | {ferr} |")
    ra = r["ratios"]
    lines += ["", "Ratios: " + ", ".join(f"padim-gpu / ORT fp32 at b{b}: **{ra[f'padim_gpu_over_ort_b{b}']:.2f}x**"
                                         for b in batches if f"padim_gpu_over_ort_b{b}" in ra)
              + f"; padim-gpu from files / anomalib eager from files: "
                f"**{ra['padim_gpu_files_over_anomalib_eager_files']:.2f}x**.",
              "", "Anomaly-map error vs the eager maps (max |diff| / max map, tensors): "
              + ", ".join(f"{k} {fmt_err(r['score_error'][k]['map'])}" for k in ("ort", "openvino_f32", "openvino_default"))
              + f". Eager scores at b1 vs b16: {fmt_err(r['score_error']['torch_batch_consistency'])}. Peak RSS (MB): "
              + ", ".join(f"{k} {r[k]['peak_rss_mb']:.0f}" for k in ("anomalib_fit", "torch", "ort", "openvino_f32",
                                                                     "openvino_default", "padim_gpu_bench",
                                                                     "padim_gpu_score")) + ".", ""]
    return "\n".join(lines)


def markdown(res):
    s, m = res["settings"], res["machine"]
    v = res["versions"]
    lines = [f"- date {res['date']}, commit {res['commit']} (padim-gpu binary: {res['padim_gpu_commit']}), "
             f"CPU {m['cpu']} ({m['cores']} CPUs; ISA {', '.join(m['isa']) or '?'}), {s['threads']} threads for "
             f"every runtime, all pinned to CPUs {s['cpus']}, best of {s['reps']} passes",
             f"- anomalib {v.get('anomalib')}, torch {v.get('torch')}, torchvision {v.get('torchvision')}, "
             f"timm {v.get('timm')}, onnxruntime {v.get('onnxruntime')}, openvino {v.get('openvino')}, "
             f"onnx {v.get('onnx')}, onnxscript {v.get('onnxscript')}, numpy {v.get('numpy')}, "
             f"pillow {v.get('pillow')}, Python {res['python']}",
             f"- load average (1 min) before / after: {res['load1'][0]:.2f} / {res['load1'][1]:.2f}; "
             f"total wall time {res['wall_s'] / 60:.1f} min", ""]
    for bb in s["backbones"]:
        lines.append(markdown_backbone(res["backbones"][bb], s["batches"], v))
    lines.append("Score error: max over the images of |s - s_ref| / |s_ref|, s_ref = anomalib eager fp32 on the "
                 "same input (padim-gpu: its own PNG decoding and resize, vs the eager from-files scores). "
                 "padim-gpu from tensors = its backbone + embed + Mahalanobis + map stage times in "
                 "`padim-gpu bench` (the stages of the ONNX graph). padim-gpu accumulates the covariances in "
                 "float64, anomalib in float32 and inverts them in float32: where they are ill-conditioned "
                 "(Wide-ResNet-50-2 with random weights: features up to ~1e3 against eps 0.01) the padim-gpu "
                 "vs eager difference comes from the fit, not from inference (ONNX Runtime and OpenVINO run "
                 "the eager model's own numbers).\n")
    return "\n".join(lines)


def record(res, md):
    path = os.path.join(HERE, "RESULTS.md")
    pkgs = ", ".join(f"{k} {v}" for k, v in res["versions"].items())
    section = (f"\n## Runtimes side by side: anomalib eager, ONNX Runtime, OpenVINO, padim-gpu "
               f"({res['date'][:10]}, commit {res['commit']})\n\n"
               f"`benchmarks/runtime_compare.sh`, arguments of runtime_compare.py: `{' '.join(res['argv'])}`"
               f"\n\n{md}\n"
               f"Every package of the venv: {pkgs}.\n")
    with open(path, "a") as f:
        f.write(section)
    return path


def orchestrate(args):
    t_start = time.perf_counter()
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)
    args.train_dir = os.path.join(args.data, "train", "good")
    args.test_dir = os.path.join(args.data, "test")
    for dpath in (args.train_dir, args.test_dir):
        if not os.path.isdir(dpath):
            raise SystemExit(f"{dpath}: not found (expected an MVTec AD category folder)")
    if not os.access(args.padim_gpu, os.X_OK):
        raise SystemExit(f"{args.padim_gpu}: padim-gpu binary not found or not executable")
    for bb in args.backbones:
        if bb not in BACKBONES:
            raise SystemExit(f"--backbones: unknown backbone '{bb}' ({', '.join(BACKBONES)})")
    counts = {k: parse_counts(getattr(args, k), k) for k in DEFAULT_COUNTS}
    if args.reps * len(args.batches) > 16:  # padim-gpu bench runs every batch --reps times
        raise SystemExit(f"--reps {args.reps} x {len(args.batches)} batches: padim-gpu bench takes at most 16")
    # The same CPUs for everyone: the children inherit this affinity.
    cpus = sorted(os.sched_getaffinity(0))
    if args.threads > len(cpus):
        raise SystemExit(f"--threads {args.threads}: only {len(cpus)} CPUs available")
    cpus = cpus[:args.threads]
    if not args.no_pin:
        os.sched_setaffinity(0, cpus)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    info = lscpu()
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "argv": sys.argv[1:], "commit": commit(), "python": platform.python_version(),
           "machine": {"cpu": info.get("model") or cpu_model(), "cores": os.cpu_count(), "isa": info.get("isa", []),
                       "threads_per_core": info.get("threads_per_core"), "os": platform.platform()},
           "versions": all_versions(), "load1": [os.getloadavg()[0]],
           "settings": {"threads": args.threads, "cpus": "all" if args.no_pin else ",".join(map(str, cpus)),
                        "reps": args.reps, "batches": args.batches, "backbones": args.backbones,
                        "files_batch": args.files_batch, "anomalib_workers": args.workers, "counts": counts,
                        "eps": EPS_ANOMALIB, "data": os.path.abspath(args.data), "padim_gpu": args.padim_gpu},
           "backbones": {}}
    for bb in args.backbones:
        res["backbones"][bb] = run_backbone(args, bb, env, counts, say)
        res["padim_gpu_commit"] = res["backbones"][bb]["padim_gpu_bench"]["commit"]
    res["load1"].append(os.getloadavg()[0])
    res["wall_s"] = time.perf_counter() - t_start
    with open(os.path.join(args.work, "runtime_compare.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = markdown(res)
    with open(os.path.join(args.work, "runtime_compare.md"), "w") as f:
        f.write(md)
    print(md)
    if args.record:
        say(f"appended to {record(res, md)}")
    return 0


def int_list(text):
    return [int(x) for x in text.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "mvtec_ad", "bottle"),
                    help="MVTec AD category folder (train/good, test/)")
    ap.add_argument("--padim-gpu", default=os.path.join(ROOT, "build-runtime", "padim", "padim-gpu"),
                    help="padim-gpu binary (CPU backend used)")
    ap.add_argument("--work", default=os.path.join(ROOT, "build-runtime", "run"))
    ap.add_argument("--backbones", type=lambda s: s.split(","), default=["resnet18", "wide_resnet50_2"])
    ap.add_argument("--batches", type=int_list, default=[1, 16], help="from-tensors batch sizes")
    ap.add_argument("--files-batch", type=int, default=16, help="batch of the from-files figures "
                    "(anomalib eager, padim-gpu score); OpenVINO from files is batch 1")
    ap.add_argument("--threads", type=int, default=2, help="threads of every runtime (CPUs pinned to as many)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin every side to the same --threads CPUs")
    ap.add_argument("--reps", type=int, default=3, help="timed passes per figure (best reported)")
    ap.add_argument("--workers", type=int, default=2, help="anomalib eager from files: DataLoader workers")
    ap.add_argument("--train-images", help="training images: N or resnet18=N,wide_resnet50_2=M (0 = all; "
                    "default resnet18=0,wide_resnet50_2=32)")
    ap.add_argument("--tensor-images", help="from-tensors images, a multiple of every batch "
                    "(default resnet18=32,wide_resnet50_2=16)")
    ap.add_argument("--file-images", help="from-files images (default resnet18=0,wide_resnet50_2=16)")
    ap.add_argument("--r18-weights", help="BN-folded ResNet-18 safetensors (default weights/resnet18_tv_in1k.safetensors)")
    ap.add_argument("--wrn50-weights", help="Wide-ResNet-50-2 safetensors (default: weights/ or ../shared/weights/"
                    "wide_resnet50_2_tv_in1k.safetensors, else padim-gpu's seeded random weights)")
    ap.add_argument("--keep", action="store_true", help="keep the models, ONNX files and tensors in WORK")
    ap.add_argument("--record", action="store_true", help="append a dated section to benchmarks/RESULTS.md")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    ap.add_argument("--precision", choices=["f32", "default"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return SIDES[args.side](args) or 0
    if args.reps < 1:
        raise SystemExit("--reps: at least 1")
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
