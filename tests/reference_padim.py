#!/usr/bin/python3
"""reference_padim.py - the independent PyTorch/NumPy reference of the whole PaDiM pipeline.

This is the oracle the C library is tested against (tests/golden/ is made with it). It is
written from REFERENCE.md, in the style of the two implementations whose numbers we
reproduce, and shares no code with the C side:
  preset anomalib: torchvision resize(antialias=True) on a float [0,1] tensor, squash to
                   S x S, seed 42, torch conv2d Gaussian blur with F.pad "reflect";
  preset paper:    (xiahaifeng) PIL LANCZOS resize of the shorter side, CenterCrop,
                   seed 1024, scipy.ndimage.gaussian_filter (mode "reflect").
Stages: preprocess -> torchvision backbone (conv1..layer3, eval) -> nearest upsample of
layer2/3, concat, index_select(idx = random.sample(range(C), D)) -> per-position mean and
unbiased covariance (float64, np.cov style) + eps*I -> inverse -> distance
sqrt(max(0, d^T Sinv d)) -> bilinear (align_corners=False) to S -> Gaussian blur -> max.

Usage:
  reference_padim.py --train DIR_OR_GLOB --test DIR... --backbone resnet18 \
      --preset anomalib --weights /work/shared/weights/resnet18_tv_in1k_bnfolded \
      --out OUTDIR [--dump-stages] [--resize 64] [--crop 0] [--rel-root DIR]
  reference_padim.py --eval /work/shared/data/mvtec_ad/bottle --out OUTDIR ...
  reference_padim.py --make-wrn-weights wrn.safetensors [--wrn-seed 7]

Outputs in OUTDIR: scores.csv (path,score); with --dump-stages one .npy per stage, float32,
of the test images: input (N,3,S,S), layer1/2/3 (N,C,h,w) (unless --no-layers), embedding
(N,P,D), idx (D) int32, mean (P,D), distances (N,P), upsampled (N,S,S), smoothed (N,S,S),
scores (N); optional: train_embedding (--dump-train), covariance (P,D,D) (--full-cov,
small cases only), covariance_sub (K,D,D) and factor_sub (K,T) (packed lower L^-1) at
--cov-positions. With --eval: metrics.json (image AUROC, pixel AUROC, image F1).

Wide-ResNet-50-2 random weights: a counter-based generator (splitmix64 of the FNV-1a hash of
the tensor name plus the element index) that the C tests reproduce exactly, written as a
safetensors file with UNFOLDED BatchNorm in torchvision names (see wrn_random_state).
"""
import argparse
import glob
import json
import os
import random
import struct
import sys

import numpy as np
import scipy.ndimage
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# ------------------------------------------------------------------ images


def list_images(spec):
    """A directory (recursive, sorted) or a glob pattern -> sorted list of image paths."""
    if os.path.isdir(spec):
        out = []
        for root, _, files in os.walk(spec):
            out += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTS)]
        return sorted(out)
    return sorted(p for p in glob.glob(spec) if p.lower().endswith(IMAGE_EXTS))


def preprocess(path, preset, resize, crop):
    """One image -> normalized float32 tensor (3, S, S)."""
    img = Image.open(path).convert("RGB")  # gray replicated, alpha dropped
    if preset == "anomalib":
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)
        x = x.to(torch.float32) / 255.0
        x = TF.resize(x, [resize, resize], interpolation=T.InterpolationMode.BILINEAR,
                      antialias=True)
        return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)
    tf = T.Compose([T.Resize(resize, interpolation=T.InterpolationMode.LANCZOS),
                    T.CenterCrop(crop), T.ToTensor(),
                    T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return tf(img)


def load_mask(path, preset, resize, crop, S):
    """Ground-truth mask -> uint8 {0,1} (S, S); None path -> zeros."""
    if path is None or not os.path.exists(path):
        return np.zeros((S, S), np.uint8)
    m = Image.open(path).convert("L")
    if preset == "anomalib":
        t = torch.from_numpy(np.asarray(m).copy())[None, None].float()
        t = F.interpolate(t, size=(S, S), mode="nearest")  # floor(dst * in / out)
        return (t[0, 0].numpy() > 127).astype(np.uint8)
    tf = T.Compose([T.Resize(resize, interpolation=T.InterpolationMode.NEAREST),
                    T.CenterCrop(crop)])
    return (np.asarray(tf(m)) > 127).astype(np.uint8)

# ------------------------------------------------------------------ safetensors


ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32,
             "I64": np.int64, "U8": np.uint8}


def safetensors_write(path, tensors, metadata=None):
    """tensors: ordered dict name -> np.ndarray. Format: u64 LE header length, JSON header,
    raw little-endian data."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    rev = {v: k for k, v in ST_DTYPES.items()}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": rev[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def safetensors_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = np.dtype(ST_DTYPES[info["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(info["shape"])
    return out

# ------------------------------------------------------------------ WRN50 random weights


M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


def det_uniform_pm1(name, seed, n):
    """n float32 values in [-1, 1): v_i = (2 * (z_i >> 40) - 2^24) / 2^24 with
    z_i = splitmix64(key + i), key = fnv1a64(name) ^ (seed * 0x9E3779B97F4A7C15).
    Exactly representable; the C tests compute the same numbers."""
    key = fnv1a64(name) ^ ((seed * 0x9E3779B97F4A7C15) & M64)
    with np.errstate(over="ignore"):
        z = np.uint64(key) + np.arange(n, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.int64)
    return ((2 * k - (1 << 24)).astype(np.float32) * np.float32(1.0 / 16777216.0))


def wrn_random_state(seed):
    """Unfolded torchvision state dict (conv1 .. layer3) of wide_resnet50_2:
    conv weight = v * float32(sqrt(3 / fan_in)) (variance 1 / fan_in, so activations stay
    O(1) through the 13 blocks); BN weight = 1 + 0.25 v, bias = 0.1 v, running_mean = 0.1 v,
    running_var = 0.75 + 0.5 v (all float32 arithmetic)."""
    model = torchvision.models.wide_resnet50_2()
    out = {}
    for name, t in model.state_dict().items():
        if not name.startswith(("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")):
            continue
        if name.endswith("num_batches_tracked"):
            continue
        n = t.numel()
        v = det_uniform_pm1(name, seed, n).reshape(tuple(t.shape))
        if t.dim() == 4:
            fan_in = t.shape[1] * t.shape[2] * t.shape[3]
            a = v * np.float32(np.sqrt(3.0 / fan_in))
        elif name.endswith(".weight"):
            a = np.float32(1.0) + np.float32(0.25) * v
        elif name.endswith(".bias"):
            a = np.float32(0.1) * v
        elif name.endswith(".running_mean"):
            a = np.float32(0.1) * v
        elif name.endswith(".running_var"):
            a = np.float32(0.75) + np.float32(0.5) * v
        else:
            raise RuntimeError("unexpected tensor " + name)
        out[name] = a.astype(np.float32)
    return out

# ------------------------------------------------------------------ backbone


def load_weights(path):
    """A folder of .npy (torchvision names) or a safetensors file -> dict name -> array."""
    if os.path.isdir(path):
        return {os.path.basename(p)[:-4]: np.load(p)
                for p in sorted(glob.glob(os.path.join(path, "*.npy")))}
    return dict(safetensors_read(path))


def build_backbone(kind, weights):
    """torchvision model in eval mode with the given tensors. Convs that come with a bias
    are BN-folded: their BatchNorm becomes Identity."""
    model = (torchvision.models.resnet18() if kind == "resnet18"
             else torchvision.models.wide_resnet50_2())
    model.eval()
    modules = dict(model.named_modules())
    used = set()
    for name, mod in modules.items():
        if not isinstance(mod, nn.Conv2d) or name.startswith("layer4"):
            continue
        w = weights[name + ".weight"]
        assert tuple(w.shape) == tuple(mod.weight.shape), (name, w.shape, mod.weight.shape)
        mod.weight.data = torch.from_numpy(np.array(w, np.float32))
        used.add(name + ".weight")
        if name + ".bias" in weights:  # folded: conv gets the bias, BN -> Identity
            mod.bias = nn.Parameter(torch.from_numpy(np.array(weights[name + ".bias"],
                                                              np.float32)))
            used.add(name + ".bias")
            bn = name.replace("conv", "bn") if "downsample" not in name else \
                name[:-1] + "1"
            parent, _, leaf = bn.rpartition(".")
            setattr(modules[parent] if parent else model, leaf, nn.Identity())
    for name, mod in list(model.named_modules()):
        if isinstance(mod, nn.BatchNorm2d) and not name.startswith("layer4"):
            for k in ("weight", "bias", "running_mean", "running_var"):
                a = torch.from_numpy(np.array(weights[name + "." + k], np.float32))
                getattr(mod, k).data = a
                used.add(name + "." + k)
    model.eval()
    return model


def bf16_round(t):
    """float32 -> nearest bfloat16 (round to nearest even) -> float32."""
    return t.to(torch.bfloat16).to(torch.float32)


def emulate_bf16(model):
    """The arithmetic of padim-gpu's --precision bf16 CPU backbone (oneDNN on AVX512-BF16 or
    AMX), emulated on any CPU: the input and every conv weight rounded to bfloat16, products
    of bf16 values accumulated in float32 (exact products, as the dot-product instructions
    do), bias / shortcut sum / ReLU in float32, and each stored activation rounded to bf16:
    conv outputs (but the last conv of a block, whose bias, sum and ReLU come first), the
    downsample outputs and the block outputs. Returns the input rounding function."""
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            mod.weight.data = bf16_round(mod.weight.data)
    last = {"conv2"} if isinstance(model.layer1[0], torchvision.models.resnet.BasicBlock) else {"conv3"}
    for name, mod in model.named_modules():
        leaf = name.rpartition(".")[2]
        if isinstance(mod, nn.Conv2d) and leaf not in last:
            mod.register_forward_hook(lambda m, i, o: bf16_round(o))
        if isinstance(mod, (torchvision.models.resnet.BasicBlock, torchvision.models.resnet.Bottleneck)):
            mod.register_forward_hook(lambda m, i, o: bf16_round(o))
    return bf16_round


@torch.no_grad()
def backbone_forward(model, x):
    if getattr(model, "bf16_input", None):
        x = model.bf16_input(x)
    x = model.relu(model.bn1(model.conv1(x)))
    x = model.maxpool(x)
    l1 = model.layer1(x)
    l2 = model.layer2(l1)
    l3 = model.layer3(l2)
    return l1, l2, l3


def embed(l1, l2, l3, idx):
    """anomalib generate_embedding: nearest to layer1 size, concat, index_select.
    Returns (N, D, H, W)."""
    e = torch.cat([l1, F.interpolate(l2, size=l1.shape[-2:], mode="nearest"),
                   F.interpolate(l3, size=l1.shape[-2:], mode="nearest")], 1)
    return torch.index_select(e, 1, torch.as_tensor(idx, dtype=torch.long))


def sample_idx(seed, C, D):
    random.seed(seed)
    return random.sample(range(C), D)

# ------------------------------------------------------------------ maps


def gaussian_kernel1d(sigma):
    r = int(4.0 * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def blur(maps, preset, sigma):
    """maps (N, S, S) float64 -> smoothed (N, S, S) float64."""
    if preset == "paper":
        return np.stack([scipy.ndimage.gaussian_filter(m, sigma=sigma, mode="reflect")
                         for m in maps])
    g = gaussian_kernel1d(sigma)
    r = len(g) // 2
    k2 = torch.from_numpy(np.outer(g, g))[None, None]  # 33 x 33, as anomalib's blur
    out = []
    for m in maps:  # one image at a time: float64 conv2d unfolds the whole kernel
        t = F.pad(torch.from_numpy(m)[None, None], (r, r, r, r), mode="reflect")
        out.append(F.conv2d(t, k2)[0, 0].numpy())  # torch reflect: edge not repeated
    return np.stack(out)

# ------------------------------------------------------------------ pipeline


def run_images(model, paths, args, idx, batch):
    """Preprocess + backbone + embedding in batches. Returns inputs, layers (only when
    keep), embedding (N, P, D) float32."""
    inputs, ls, embs = [], [[], [], []], []
    for i in range(0, len(paths), batch):
        x = torch.stack([preprocess(p, args.preset, args.resize, args.crop)
                         for p in paths[i:i + batch]])
        l1, l2, l3 = backbone_forward(model, x)
        e = embed(l1, l2, l3, idx)
        N, D = e.shape[:2]
        embs.append(e.reshape(N, D, -1).transpose(1, 2).contiguous().numpy())
        if args.dump_stages:
            inputs.append(x.numpy())
            for j, l in enumerate((l1, l2, l3)):
                ls[j].append(l.numpy())
        print("  %d/%d images" % (min(i + batch, len(paths)), len(paths)), file=sys.stderr)
    cat = (lambda a: np.concatenate(a) if a else None)
    return cat(inputs), [cat(a) for a in ls], np.concatenate(embs)


def fit(emb, eps):
    """emb (N, P, D) float32 -> mean (P, D), cov (P, D, D) float64 (unbiased + eps I)."""
    x = emb.astype(np.float64)
    N = x.shape[0]
    mean = x.mean(0)
    xc = (x - mean).transpose(1, 2, 0)  # (P, D, N)
    cov = np.matmul(xc, xc.transpose(0, 2, 1)) / (N - 1)
    cov += eps * np.eye(x.shape[2])[None]
    return mean, cov


def distances(emb, mean, inv):
    """(N, P) = sqrt(max(0, d^T Sinv d)), d = x - mean, float64."""
    d = (emb.astype(np.float64) - mean).transpose(1, 0, 2)  # (P, N, D)
    q = np.einsum("pnd,pnd->pn", np.matmul(d, inv), d)
    return np.sqrt(np.maximum(q, 0.0)).T


def score_maps(dist, H, W, S, preset, sigma):
    t = torch.from_numpy(dist.reshape(-1, 1, H, W))
    up = F.interpolate(t, size=(S, S), mode="bilinear", align_corners=False)[:, 0].numpy()
    sm = blur(up, preset, sigma)
    return up, sm, sm.reshape(sm.shape[0], -1).max(1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", help="folder or glob of good training images")
    ap.add_argument("--test", nargs="*", default=[], help="folders/globs of test images")
    ap.add_argument("--eval", help="MVTec category folder: train/good, test/*, ground_truth")
    ap.add_argument("--backbone", default="resnet18", choices=["resnet18", "wide_resnet50_2"])
    ap.add_argument("--preset", default="anomalib", choices=["anomalib", "paper"])
    ap.add_argument("--weights", help="folder of .npy or a safetensors file")
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--resize", type=int)
    ap.add_argument("--crop", type=int)
    ap.add_argument("--d", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--eps", type=float, default=0.01)
    ap.add_argument("--sigma", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--dump-stages", action="store_true")
    ap.add_argument("--dump-train", action="store_true", help="also dump train_embedding")
    ap.add_argument("--no-layers", action="store_true", help="do not dump layer1/2/3")
    ap.add_argument("--full-cov", action="store_true", help="dump covariance (P,D,D)")
    ap.add_argument("--cov-positions", default="", help="comma list: dump cov/factor there")
    ap.add_argument("--rel-root", help="paths in scores.csv relative to this folder")
    ap.add_argument("--make-wrn-weights", help="write seeded random WRN50 safetensors")
    ap.add_argument("--wrn-seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--bf16-backbone", action="store_true",
                    help="emulate the bf16 CPU backbone (bf16 inputs/weights/activations, f32 sums)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.make_wrn_weights:
        safetensors_write(args.make_wrn_weights, wrn_random_state(args.wrn_seed),
                          {"generator": "reference_padim.det_uniform_pm1",
                           "seed": args.wrn_seed})
        print("wrote", args.make_wrn_weights)
        return 0

    paper = args.preset == "paper"
    if args.resize is None:
        args.resize = 256
    if args.crop is None:
        args.crop = 224 if paper else 0
    S = args.crop if paper else args.resize
    if args.d is None:
        args.d = 100 if args.backbone == "resnet18" else 550
    if args.seed is None:
        args.seed = 1024 if paper else 42

    masks_paths, labels = None, None
    if args.eval:
        train = list_images(os.path.join(args.eval, "train", "good"))
        test = list_images(os.path.join(args.eval, "test"))
        labels = np.array([0 if os.sep + "good" + os.sep in p else 1 for p in test])
        masks_paths = []
        for p in test:
            rel = os.path.relpath(p, os.path.join(args.eval, "test"))
            d, f = os.path.split(rel)
            masks_paths.append(None if d == "good" else os.path.join(
                args.eval, "ground_truth", d, os.path.splitext(f)[0] + "_mask.png"))
        if args.rel_root is None:
            args.rel_root = args.eval
    else:
        train = list_images(args.train)
        test = [p for t in args.test for p in list_images(t)]
    if len(train) < 2:
        sys.exit("reference_padim: need >= 2 training images, got %d" % len(train))

    weights = load_weights(args.weights)
    model = build_backbone(args.backbone, weights)
    if args.bf16_backbone:
        model.bf16_input = emulate_bf16(model)
    C = {"resnet18": 448, "wide_resnet50_2": 1792}[args.backbone]
    idx = sample_idx(args.seed, C, args.d)
    os.makedirs(args.out, exist_ok=True)

    print("train: %d images" % len(train), file=sys.stderr)
    tr_in, tr_l, tr_emb = run_images(model, train, args, idx, args.batch)
    mean, cov = fit(tr_emb, args.eps)
    inv = np.linalg.inv(cov)
    print("test: %d images" % len(test), file=sys.stderr)
    te_in, te_l, te_emb = run_images(model, test, args, idx, args.batch)
    H = W = int(round(np.sqrt(te_emb.shape[1])))
    dist = distances(te_emb, mean, inv)
    up, sm, scores = score_maps(dist, H, W, S, args.preset, args.sigma)

    with open(os.path.join(args.out, "scores.csv"), "w") as f:
        f.write("path,score\n")
        for p, s in zip(test, scores):
            rp = os.path.relpath(p, args.rel_root) if args.rel_root else p
            f.write("%s,%.9g\n" % (rp, s))

    if args.dump_stages:
        f32 = (lambda a: np.ascontiguousarray(a, dtype=np.float32))
        save = (lambda n, a: np.save(os.path.join(args.out, n + ".npy"), a))
        save("idx", np.array(idx, np.int32))
        save("input", f32(te_in))
        if not args.no_layers:
            for j in range(3):
                save("layer%d" % (j + 1), f32(te_l[j]))
        save("embedding", f32(te_emb))
        if args.dump_train:
            save("train_embedding", f32(tr_emb))
        save("mean", f32(mean))
        P, D = mean.shape
        if args.full_cov:
            save("covariance", f32(cov))
        if args.cov_positions:
            pos = np.array([int(v) for v in args.cov_positions.split(",")], np.int32)
            save("cov_positions", pos)
            save("covariance_sub", f32(cov[pos]))
            # factor = L^-1 (lower) of cov = L L^T, packed row-major lower (i, j <= i)
            tri = np.tril_indices(D)
            fac = [np.linalg.inv(np.linalg.cholesky(cov[p]))[tri] for p in pos]
            save("factor_sub", f32(np.stack(fac)))
        save("distances", f32(dist))
        save("upsampled", f32(up))
        save("smoothed", f32(sm))
        save("scores", f32(scores))
        with open(os.path.join(args.out, "case.json"), "w") as f:
            json.dump({"backbone": args.backbone, "preset": args.preset,
                       "resize": args.resize, "crop": args.crop, "S": S, "d": args.d,
                       "seed": args.seed, "eps": args.eps, "sigma": args.sigma,
                       "grid": H, "n_train": len(train), "n_test": len(test),
                       "train": [os.path.relpath(p, args.rel_root) if args.rel_root else p
                                 for p in train],
                       "test": [os.path.relpath(p, args.rel_root) if args.rel_root else p
                                for p in test]}, f, indent=1)

    if args.eval:
        from sklearn.metrics import precision_recall_curve, roc_auc_score
        gt = np.stack([load_mask(m, args.preset, args.resize, args.crop, S)
                       for m in masks_paths])
        img_auroc = roc_auc_score(labels, scores)
        pix_auroc = roc_auc_score(gt.ravel(), sm.astype(np.float32).ravel())
        pr, rc, _ = precision_recall_curve(labels, scores)
        f1 = np.nan_to_num(2 * pr * rc / np.maximum(pr + rc, 1e-300))
        res = {"image_auroc": img_auroc, "pixel_auroc": pix_auroc,
               "image_f1": float(f1.max()), "n_train": len(train), "n_test": len(test),
               "backbone": args.backbone, "preset": args.preset, "seed": args.seed}
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(res, f, indent=1)
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
