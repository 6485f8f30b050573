#!/usr/bin/python3
"""convert_weights.py - turn backbone weights into the safetensors file padim-gpu reads.

Inputs (tensor names are kept as they are: torchvision names such as
"layer2.0.downsample.0.weight"):
  - a folder of .npy files, one per tensor, named <tensor name>.npy
    (e.g. ../shared/weights/resnet18_tv_in1k_bnfolded/);
  - a PyTorch .pth/.pt state_dict (needs torch), e.g. the one written by
    torch.save(torchvision.models.wide_resnet50_2(weights="IMAGENET1K_V1").state_dict(), p).
    A checkpoint that wraps the state_dict under "state_dict" or "model" is unwrapped.

Output: safetensors (8-byte little-endian header length, JSON header padded with spaces
to 8 bytes, raw little-endian data; tensors ordered by element size then name, as the
Python safetensors library writes them), written atomically (temporary file + rename),
read back and compared before returning. __metadata__: source, license, folded
("true" when no BatchNorm tensors are present: every conv already has its bias).
BatchNorm's num_batches_tracked counters are dropped; --exclude drops name prefixes
(e.g. layer4, fc: PaDiM stops at layer3).

Needs only NumPy (torch just for .pth inputs); not the safetensors package.

Example (the committed weights/resnet18_tv_in1k.safetensors):
  /usr/bin/python3 tools/convert_weights.py ../shared/weights/resnet18_tv_in1k_bnfolded \\
      weights/resnet18_tv_in1k.safetensors \\
      --source "torchvision resnet18 IMAGENET1K_V1, conv1..layer3, BatchNorm folded" \\
      --license BSD-3-Clause
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {  # numpy dtype -> safetensors name
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<f8"): "F64",
    np.dtype("<i4"): "I32",
    np.dtype("<i8"): "I64",
    np.dtype("u1"): "U8",
}
NAMES = {v: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> numpy array; metadata: dict str -> str. Atomic write."""
    arrays = {}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if a.dtype not in DTYPES:
            raise ValueError(f"tensor {name!r}: unsupported dtype {a.dtype}")
        arrays[name] = a
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for name in order:
                f.write(arrays[name].tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_safetensors(path):
    """Returns (dict name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dtype=NAMES[t["dtype"]]).reshape(t["shape"])
    return out, metadata


def load_npy_dir(folder):
    tensors = {}
    for fn in sorted(os.listdir(folder)):
        if fn.endswith(".npy"):
            tensors[fn[:-4]] = np.load(os.path.join(folder, fn))
    if not tensors:
        raise SystemExit(f"{folder}: no .npy files")
    return tensors


def load_pth(path):
    import torch  # only needed for this input kind

    sd = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    tensors = {}
    for name, t in sd.items():
        if not torch.is_tensor(t):
            continue
        if t.dtype == torch.bfloat16:
            t = t.float()
        tensors[name] = t.detach().cpu().contiguous().numpy()
    return tensors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input", help="folder of <name>.npy files, or a .pth/.pt state_dict")
    ap.add_argument("output", help="output .safetensors path")
    ap.add_argument("--source", help="provenance text stored in the metadata (default: input path)")
    ap.add_argument("--license", default="unknown", help="license stored in the metadata")
    ap.add_argument("--exclude", action="append", default=[], metavar="PREFIX",
                    help="drop tensors whose name starts with PREFIX (repeatable), e.g. layer4 fc")
    args = ap.parse_args(argv)

    tensors = load_npy_dir(args.input) if os.path.isdir(args.input) else load_pth(args.input)
    excl = tuple(p if p.endswith(".") else p + "." for p in args.exclude)
    tensors = {n: a for n, a in tensors.items()
               if not n.endswith("num_batches_tracked") and not (excl and n.startswith(excl))}
    folded = not any(n.endswith(".running_mean") for n in tensors)
    meta = {"source": args.source or os.path.abspath(args.input), "license": args.license,
            "folded": "true" if folded else "false"}
    write_safetensors(args.output, tensors, meta)

    back, back_meta = read_safetensors(args.output)
    assert back_meta == meta and set(back) == set(tensors), "read-back mismatch"
    for n, a in tensors.items():
        b = back[n]
        assert b.shape == a.shape and b.dtype == a.dtype.newbyteorder("<") and np.array_equal(a, b), n
    n_params = sum(int(a.size) for a in tensors.values())
    print(f"{args.output}: {len(tensors)} tensors, {n_params} values, folded={meta['folded']}, "
          f"{os.path.getsize(args.output)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
