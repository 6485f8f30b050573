#!/usr/bin/python3
"""make_corpus.py - seed corpora for the libFuzzer targets of tests/fuzz/ (one folder
per target under OUT), made fresh by `tests/fuzz/run.sh build`; never committed (the
inputs that once found a bug are, in tests/fuzz/regressions/<target>/).

  make_corpus.py OUT

Standard library only; with PIL and NumPy present the image seeds also include every
layout of tests/make_image_fixtures.py (JPEG variants, BMP, TIFF codecs). Seeds are kept
under 64 KB (the -max_len of run.sh).
"""
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
MAX_SEED = 65536


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    if len(data) <= MAX_SEED:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


# ------------------------------------------------------------------ images

def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png(w, h, depth, color, raw, interlace=0, extra=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def bmp(w, h, bpp, pixels, palette=b"", colors=0):
    off = 14 + 40 + len(palette)
    hdr = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, 0, len(pixels), 2835, 2835, colors, 0)
    return b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off) + hdr + palette + pixels


def tiff(w, h, bps, spp, photometric, compression, data):
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, bps), (259, 3, 1, compression),
               (262, 3, 1, photometric), (273, 4, 1, 8 + 2 + 10 * 12 + 4), (277, 3, 1, spp),
               (278, 4, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    out = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, count, val in entries:
        out += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val))
    return out + struct.pack("<I", 0) + data


def jpeg_no_tables(w, h):
    sof = struct.pack(">BHHB", 8, h, w, 3) + b"".join(bytes([c, 0x22 if c == 1 else 0x11, 0]) for c in (1, 2, 3))
    sos = bytes([3]) + b"".join(bytes([c, 0]) for c in (1, 2, 3)) + bytes([0, 63, 0])
    return (b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", 2 + len(sof)) + sof + b"\xff\xda"
            + struct.pack(">H", 2 + len(sos)) + sos + b"\xff\xd9")


def image_seeds(d):
    for folder in ("tests/golden/image", "tests/golden/pipeline/fixture/train/good",
                   "tests/golden/pipeline/fixture/test"):
        root = os.path.join(SRC, folder)
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if f.endswith((".png", ".jpg", ".bmp", ".tif", ".tiff")):
                    p = os.path.join(dirpath, f)
                    if os.path.getsize(p) <= MAX_SEED:
                        shutil.copy(p, os.path.join(d, os.path.relpath(p, root).replace("/", "_")))
    g = bytes(range(64))
    write(d, "png_gray_8x8.png", png(8, 8, 8, 0, b"".join(b"\0" + g[i * 8:i * 8 + 8] for i in range(8))))
    write(d, "png_rgb_4x4_adam7.png", png(4, 4, 8, 2, b"\0" + bytes(12) + b"\0" + bytes(range(12)) * 2, 1))
    plte = png_chunk(b"PLTE", bytes(range(48))) + png_chunk(b"tRNS", b"\x00\x80")
    write(d, "png_palette_trns.png", png(4, 2, 4, 3, b"\0\x01\x23\0\x45\x67", extra=plte))
    write(d, "png_rgba16.png", png(2, 2, 16, 6, (b"\0" + bytes(range(16))) * 2))
    write(d, "bmp_8bit_pal.bmp", bmp(4, 2, 8, bytes([0, 1, 2, 3, 3, 2, 1, 0]), bytes(range(16)), 4))
    write(d, "bmp_24.bmp", bmp(2, -2, 24, bytes(range(16))))
    write(d, "bmp_impossible_palette.bmp", bmp(8, 1, 1, b"\xa5\0\0\0", bytes(8), 256))
    write(d, "tiff_gray8.tif", tiff(4, 2, 8, 1, 1, 1, bytes(range(8))))
    write(d, "tiff_rgb8_deflate.tif", tiff(2, 2, 8, 3, 2, 8, zlib.compress(bytes(range(12)))))
    write(d, "tiff_bomb.tif", tiff(4096, 1024, 8, 1, 1, 8, zlib.compress(bytes(4096 * 1024))[:64]))
    write(d, "jpeg_no_tables.jpg", jpeg_no_tables(64, 48))
    try:  # every layout of the PIL fixtures, when PIL is there
        sys.path.insert(0, os.path.join(SRC, "tests"))
        import make_image_fixtures  # noqa: E402
        with tempfile.TemporaryDirectory() as t:
            make_image_fixtures.main(t)
            for f in sorted(os.listdir(t)):
                if not f.endswith((".npy", ".txt")) and os.path.getsize(os.path.join(t, f)) <= MAX_SEED:
                    shutil.copy(os.path.join(t, f), os.path.join(d, "pil_" + f))
    except SystemExit:
        print("make_corpus.py: no PIL/NumPy: image seeds from the committed fixtures only", file=sys.stderr)


# ------------------------------------------------------------------ safetensors and models

DTYPES = {"F32": ("<f", 4), "F16": ("<e", 2), "BF16": ("<H", 2), "F64": ("<d", 8), "I32": ("<i", 4),
          "I64": ("<q", 8), "U8": ("<B", 1)}


def safetensors(tensors, meta=None, pad=True):
    """tensors: [(name, dtype, shape, values)] in file order."""
    header, blob = {}, b""
    for name, dt, shape, values in tensors:
        fmt, size = DTYPES[dt]
        raw = struct.pack("<" + fmt[1] * len(values), *values) if values else b""
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def safetensors_seeds(d):
    write(d, "one_f32.st", safetensors([("w", "F32", [2, 3], [0.5, -1, 2, 3, 4, 1e-3])]))
    write(d, "all_dtypes.st", safetensors(
        [(f"t_{k.lower()}", k, [2], [1, 2] if k not in ("F32", "F16", "F64") else [1.5, -2.0])
         for k in DTYPES] + [("empty", "F32", [0], []), ("scalar", "I64", [], [7])],
        meta={"format": "pt", "note": "seed"}))
    write(d, "unpadded.st", safetensors([("a", "U8", [3], [1, 2, 3])], pad=False))
    write(d, "meta_only.st", safetensors([], meta={"k": "v"}))
    write(d, "nested_shape.st", safetensors([("x", "I32", [1, 1, 1, 1, 1, 1, 1, 2], [4, 5])]))


def model_meta(resize=32, d=2, factor="F32", extra=None):
    S = resize
    meta = {"format": "padim-gpu-model", "version": "1", "backbone": "resnet18", "preset": "anomalib",
            "resize": str(resize), "crop": "0", "input_size": str(S), "layers": "layer1,layer2,layer3",
            "d": str(d), "seed": "42", "eps": "0.01", "sigma": "4", "batch": "2", "n_train": "3",
            "channels_total": "448", "grid_h": str(S // 4), "grid_w": str(S // 4), "factor_dtype": factor,
            "has_thresholds": "1", "image_threshold": "1.5", "pixel_threshold": "2.5", "score_min": "0.25",
            "score_max": "9", "padim_version": "0.1.0", "weights_source": "random:1", "max_pixels": "1000000"}
    meta.update(extra or {})
    return meta


def model_seeds(d):
    for resize, dd, factor in [(32, 2, "F32"), (32, 3, "F16"), (16, 1, "F32")]:
        P, T = (resize // 4) ** 2, dd * (dd + 1) // 2
        tensors = [("idx", "I32", [dd], list(range(5, 5 + dd))),
                   ("mean", "F32", [P, dd], [0.1 * i for i in range(P * dd)]),
                   ("factor", factor, [P, T], [1.0] * (P * T)),
                   ("backbone.conv1.weight", "F32", [1, 1, 1, 1], [1.0]),
                   ("backbone.conv1.bias", "F32", [1], [0.0])]
        write(d, f"model_r{resize}_d{dd}_{factor}.padim", safetensors(tensors, model_meta(resize, dd, factor)))
    write(d, "model_meta_only.padim", safetensors([], model_meta()))
    write(d, "model_paper.padim", safetensors([], model_meta(extra={"preset": "paper", "crop": "32", "resize": "48"})))
    write(d, "model_wrong_format.padim", safetensors([], {"format": "pt"}))


# ------------------------------------------------------------------ configs and datasets

def config_seeds(d):
    for f in sorted(os.listdir(os.path.join(SRC, "configs"))):
        shutil.copy(os.path.join(SRC, "configs", f), os.path.join(d, f))
    write(d, "all_keys.yaml", "backbone: resnet18\npreset: paper\nweights: ../weights/x.safetensors\n"
                              "resize: 256\ncrop: 224\nd: 100\nseed: 1024\neps: 0.01\nsigma: 4\nbatch: 8\n"
                              "factor_dtype: f16\nmax_pixels: 150000000\n")
    write(d, "flow.yaml", "{backbone: wide_resnet50_2, d: 550, 'resize': \"256\"}\n")
    write(d, "anchors.yaml", "---\nbase: &b 32\nbatch: *b\n...\n")
    write(d, "comments.yaml", "# a comment\nseed: 7  # trailing\neps: 1e-3\n")
    write(d, "list.yaml", "d: [1, 2]\n")
    write(d, "nested.yaml", "a:\n  b: 1\n")
    write(d, "multi_doc.yaml", "d: 10\n---\nd: 20\n")


def dataset_seeds(d):
    write(d, "mvtec.txt", "train/good/000.png\ntest/good/000.png\ntest/good/001.png\ntest/crack/000.png\n"
                          "test/crack/001.png\nground_truth/crack/000_mask.png\nground_truth/crack/001_mask.png\n")
    write(d, "mvtec_orphan.txt", "test/good/000.png\ntest/hole/003.jpg\nground_truth/hole/004_mask.png\n")
    write(d, "mvtec_no_gt.txt", "test/good/a.bmp\ntest/scratch/b.tif\ntest/scratch/c.TIFF\n")
    write(d, "generic_masks.txt", "good/x.png\ndefective/y.png\ndefective/z.jpeg\nmasks/defective/y_mask.png\n"
                                  "masks/z.png\n")
    write(d, "generic_flat.txt", "good/1.png\nbad/2.png\nmasks/2_mask.bmp\nmasks/2.png\n")
    write(d, "hidden.txt", "good/.hidden.png\ngood/a.png\n.dot/b.png\nempty/\n")


def main(out):
    makers = {"fuzz_image": image_seeds, "fuzz_safetensors": safetensors_seeds, "fuzz_model": model_seeds,
              "fuzz_config": config_seeds, "fuzz_dataset": dataset_seeds}
    for target, make in makers.items():
        d = os.path.join(out, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        make(d)
        print(f"make_corpus.py: {target}: {len(os.listdir(d))} seeds")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
