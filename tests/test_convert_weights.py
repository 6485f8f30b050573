#!/usr/bin/python3
"""test_convert_weights.py - tools/convert_weights.py on small inputs: a folder of .npy
files and (when torch is importable) a torch.save'd state_dict. The output is parsed here
byte by byte per the safetensors format (not with the converter's own reader): header
length, 8-byte padding, offsets contiguous and aligned, values, metadata, dropped tensors.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "convert_weights.py")
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAILED:", what, file=sys.stderr)


def parse(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    check(n % 8 == 0, "header length multiple of 8")
    text = raw[8:8 + n].decode("utf-8")
    check(text.rstrip(" ") == text.strip() and text.startswith("{"), "header padded with spaces")
    header = json.loads(text)
    meta = header.pop("__metadata__")
    spans = sorted((t["data_offsets"][0], t["data_offsets"][1], k) for k, t in header.items())
    pos = 0
    sizes = {"F32": 4, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1}
    types = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}
    out = {}
    for b, e, k in spans:
        t = header[k]
        check(b == pos, f"{k}: contiguous")
        check(b % sizes[t["dtype"]] == 0, f"{k}: aligned")
        check(e - b == sizes[t["dtype"]] * int(np.prod(t["shape"], dtype=np.int64)), f"{k}: size")
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=types[t["dtype"]]).reshape(t["shape"])
        pos = e
    check(8 + n + pos == len(raw), "file length")
    return out, meta


def run(args):
    subprocess.run([sys.executable, TOOL] + args, check=True)


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "npy")
        os.mkdir(src)
        arrays = {
            "conv1.weight": rng.standard_normal((4, 3, 7, 7)).astype(np.float32),
            "conv1.bias": rng.standard_normal(4).astype(np.float32),
            "layer1.0.conv1.weight": rng.standard_normal((4, 4, 3, 3)).astype(np.float16),
            "odd.u8": np.arange(3, dtype=np.uint8),
            "layer4.0.conv1.weight": np.zeros((2, 2), np.float32),
            "fc.weight": np.zeros((2, 2), np.float32),
        }
        for k, a in arrays.items():
            np.save(os.path.join(src, k + ".npy"), a)
        out = os.path.join(d, "w.safetensors")
        run([src, out, "--source", "unit test", "--license", "BSD-3-Clause", "--exclude", "layer4", "--exclude", "fc"])
        got, meta = parse(out)
        check(meta == {"source": "unit test", "license": "BSD-3-Clause", "folded": "true"}, f"metadata {meta}")
        check(set(got) == {"conv1.weight", "conv1.bias", "layer1.0.conv1.weight", "odd.u8"}, f"names {set(got)}")
        for k in got:
            check(got[k].dtype == arrays[k].dtype.newbyteorder("<") and np.array_equal(got[k], arrays[k]), k)
        check(not [f for f in os.listdir(d) if ".tmp." in f], "no temporary file left")

        try:
            import torch
        except ImportError:
            print("SKIP part: torch not importable, .pth input not tested", file=sys.stderr)
            torch = None
        if torch is not None:
            sd = {"conv1.weight": torch.randn(4, 3, 7, 7), "bn1.weight": torch.rand(4),
                  "bn1.running_mean": torch.randn(4), "bn1.num_batches_tracked": torch.tensor(5),
                  "x.bf16": torch.randn(3).bfloat16(), "x.i64": torch.arange(5)}
            pth = os.path.join(d, "sd.pth")
            torch.save({"state_dict": sd}, pth)
            out2 = os.path.join(d, "w2.safetensors")
            run([pth, out2])
            got, meta = parse(out2)
            check(meta["folded"] == "false", "unfolded BN detected")
            check(set(got) == {"conv1.weight", "bn1.weight", "bn1.running_mean", "x.bf16", "x.i64"}, f"names {set(got)}")
            check(np.array_equal(got["conv1.weight"], sd["conv1.weight"].numpy()), "conv1.weight")
            check(got["x.bf16"].dtype == np.float32 and np.array_equal(got["x.bf16"], sd["x.bf16"].float().numpy()), "bf16 widened")
            check(got["x.i64"].dtype == np.int64 and np.array_equal(got["x.i64"], np.arange(5)), "i64")

    print("test_convert_weights:", "all checks passed" if not failures else f"{failures} check(s) failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
