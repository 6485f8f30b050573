#!/usr/bin/python3
"""ref_backbone.py - PyTorch oracle for the CPU backbone forward pass (backbone_cpu.c).

Runs torchvision's own ResNet-18 / Wide-ResNet-50-2 modules (eval mode, truncated after
layer3) on seeded inputs and dumps the inputs and the layer1/2/3 activations as float32
.npy goldens, which tests/test_backbone.c compares bb_forward_cpu against.

  --r18 OUTDIR    ResNet-18 with the real BN-folded ImageNet weights from
                  ../shared/weights/resnet18_tv_in1k_bnfolded/*.npy (BN layers replaced by
                  identity, conv biases set). Goldens are committed (tests/golden/backbone).
  --wrn50 OUTDIR  Wide-ResNet-50-2 with seeded random weights and UNFOLDED BatchNorm with
                  non-trivial running statistics, so that the C loader's BN folding is
                  tested too. Also writes OUTDIR/wrn50_random.safetensors (conv1..layer3,
                  torchvision names, float32; ~36 MB, generated at test time, not committed).

Fixtures: 2 images of 64x64, 1 of 100x100 (odd grids 25/13/7 exercise the
padding arithmetic), 1 of 7x7 (grids 2/1/1: windows wider than the image) and 3 of
33x33; inputs ~ N(0, 1) seeded.
Needs /usr/bin/python3 with torch 1.13 / torchvision 0.14 / numpy.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
R18_NPY = os.path.join(HERE, "..", "..", "shared", "weights", "resnet18_tv_in1k_bnfolded")
FIXTURES = [("s64", 2, 64), ("s100", 1, 100), ("s7", 1, 7), ("s33", 3, 33)]


def trunk(model, x):
    """conv1 .. layer3 exactly as torchvision's ResNet._forward_impl does it."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    l1 = model.layer1(x)
    l2 = model.layer2(l1)
    l3 = model.layer3(l2)
    return l1, l2, l3


def r18_folded():
    model = torchvision.models.resnet18(weights=None)
    npy = {f[:-4]: np.load(os.path.join(R18_NPY, f)) for f in os.listdir(R18_NPY) if f.endswith(".npy")}
    convs = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    used = 0
    for name, conv in convs.items():
        if not name.startswith(("conv1", "layer1", "layer2", "layer3")):
            continue
        w, b = npy[name + ".weight"], npy[name + ".bias"]
        assert tuple(w.shape) == tuple(conv.weight.shape), (name, w.shape, conv.weight.shape)
        conv.weight = torch.nn.Parameter(torch.from_numpy(w.astype(np.float32)))
        conv.bias = torch.nn.Parameter(torch.from_numpy(b.astype(np.float32)))
        used += 2
    assert used == len(npy), f"{len(npy)} tensors in {R18_NPY}, used {used}"
    # BatchNorm is folded into the convs: replace every BN by the identity
    for name, m in list(model.named_modules()):
        for cname, child in list(m.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(m, cname, torch.nn.Identity())
    return model.eval()


def wrn50_random(seed=1234):
    torch.manual_seed(seed)
    model = torchvision.models.wide_resnet50_2(weights=None)  # kaiming init, BN (1, 0)
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=g)
            m.bias.data = 0.2 * torch.randn(c, generator=g)
            m.running_mean.data = 0.2 * torch.randn(c, generator=g)
            m.running_var.data = 0.5 + 1.5 * torch.rand(c, generator=g)
    return model.eval()


def write_safetensors(path, tensors):
    """Minimal safetensors writer: 8-byte LE header length, JSON header, raw LE data."""
    header, blobs, off = {}, [], 0
    dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    header["__metadata__"] = {"format": "pt", "source": "tests/ref_backbone.py wrn50_random"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def dump(model, tag, outdir):
    for fname, n, s in FIXTURES:
        x = torch.randn(n, 3, s, s, generator=torch.Generator().manual_seed(s * 10 + n))
        with torch.no_grad():
            outs = trunk(model, x)
        np.save(os.path.join(outdir, f"{tag}_{fname}_x.npy"), x.numpy().astype(np.float32))
        for i, o in enumerate(outs):
            np.save(os.path.join(outdir, f"{tag}_{fname}_l{i + 1}.npy"), o.numpy().astype(np.float32))
            print(f"{tag} {fname} layer{i + 1} {tuple(o.shape)} max|.| {o.abs().max().item():.4g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r18", metavar="OUTDIR")
    ap.add_argument("--wrn50", metavar="OUTDIR")
    a = ap.parse_args()
    if not a.r18 and not a.wrn50:
        ap.error("give --r18 OUTDIR and/or --wrn50 OUTDIR")
    torch.set_num_threads(1)
    if a.r18:
        os.makedirs(a.r18, exist_ok=True)
        dump(r18_folded(), "r18", a.r18)
    if a.wrn50:
        os.makedirs(a.wrn50, exist_ok=True)
        model = wrn50_random()
        sd = {k: v.numpy() for k, v in model.state_dict().items()
              if k.split(".")[0] in ("conv1", "bn1", "layer1", "layer2", "layer3")}
        write_safetensors(os.path.join(a.wrn50, "wrn50_random.safetensors"), sd)
        dump(model, "wrn50", a.wrn50)
    return 0


if __name__ == "__main__":
    sys.exit(main())
