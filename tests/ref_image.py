#!/usr/bin/python3
"""ref_image.py - independent reference for the image stage (decode, resize, crop,
normalize, heatmap), computed with PIL, torch/torchvision and NumPy.

  ref_image.py fixtures [DIR]     synthetic fixture images + goldens (committed) into DIR
                                  (default tests/golden/image)
  ref_image.py runtime DIR [PNG]  goldens computed at test time into DIR (not committed):
                                  60x60 -> 256 upscale fixture and, when PNG exists (the
                                  MVTec bottle image, which may not be committed), its
                                  anomalib 256 and paper 256/224 outputs.
Exit 77 (ctest skip) when torch / torchvision / PIL are missing.

References (the C code must match them, see tests/test_image.c for tolerances):
  anomalib: torchvision F.resize(float tensor, [S, S], BILINEAR, antialias=True) then
            Normalize(ImageNet); paper: PIL resize(shorter side, LANCZOS) on uint8,
            torchvision center_crop, to_tensor, Normalize.
"""
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torchvision.transforms as T
    import torchvision.transforms.functional as F
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"ref_image.py: skipped, missing module: {e}", file=sys.stderr)
    sys.exit(77)

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def write_tiff(path, arr, byteorder="<", extra_alpha=False, photometric=None):
    """Minimal baseline TIFF writer (uncompressed, one strip, contiguous) so that 16-bit
    and big-endian layouts PIL cannot save are covered. arr: (H, W) or (H, W, C)."""
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    bps = arr.dtype.itemsize * 8
    data = arr.astype(arr.dtype.newbyteorder(byteorder)).tobytes()
    bo = byteorder
    if photometric is None:
        photometric = 1 if c <= 2 else 2  # BlackIsZero or RGB
    entries = [
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, c, [bps] * c), (259, 3, 1, 1),
        (262, 3, 1, photometric), (273, 4, 1, 8), (277, 3, 1, c), (278, 4, 1, h),
        (279, 4, 1, len(data)), (284, 3, 1, 1),
    ]
    if extra_alpha:
        entries.append((338, 3, 1, 2))  # unassociated alpha
    ifd_off = 8 + len(data) + (len(data) & 1)
    extra_off = ifd_off + 2 + 12 * len(entries) + 4
    ifd, extra = b"", b""
    for tag, typ, count, val in entries:
        vals = val if isinstance(val, list) else [val]
        fmt = "H" if typ == 3 else "I"
        raw = struct.pack(bo + fmt * count, *vals)
        if len(raw) <= 4:
            field = raw.ljust(4, b"\0")
        else:
            field = struct.pack(bo + "I", extra_off + len(extra))
            extra += raw
        ifd += struct.pack(bo + "HHI", tag, typ, count) + field
    magic = b"II*\0" if bo == "<" else b"MM\0*"
    out = magic + struct.pack(bo + "I", ifd_off) + data + b"\0" * (len(data) & 1)
    out += struct.pack(bo + "H", len(entries)) + ifd + struct.pack(bo + "I", 0) + extra
    with open(path, "wb") as f:
        f.write(out)


def u16_to_u8(a):
    return ((a.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def test_pattern(rng, h, w, c):
    """Smooth gradients + sharp edges + noise: exercises negative Lanczos lobes and clipping."""
    y, x = np.mgrid[0:h, 0:w]
    base = []
    for k in range(c):
        g = 127.5 + 100 * np.sin(x / (3.0 + k) + y / (5.0 + 2 * k))
        g = np.where((x // 7 + y // 5 + k) % 2 == 0, g, 255 - g)
        base.append(g + rng.normal(0, 20, size=(h, w)))
    a = np.stack(base, -1) if c > 1 else base[0]
    a[0, :] = 255
    a[-1, :] = 0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def anomalib_ref(pil_rgb, size):
    t = F.to_tensor(pil_rgb)  # float32 x / 255
    r = F.resize(t, [size, size], interpolation=T.InterpolationMode.BILINEAR, antialias=True)
    n = F.normalize(r.clone(), MEAN, STD)
    return r.numpy().astype(np.float32), n.numpy().astype(np.float32)


def paper_ref(pil_rgb, resize, crop):
    r = F.resize(pil_rgb, resize, interpolation=T.InterpolationMode.LANCZOS)
    c = F.center_crop(r, crop)
    n = F.normalize(F.to_tensor(c), MEAN, STD)
    return np.asarray(r), n.numpy().astype(np.float32)


def jet_ref(t):
    """matplotlib's jet segment data, interpolated linearly (continuous definition)."""
    r = np.interp(t, [0, 0.35, 0.66, 0.89, 1], [0, 0, 1, 1, 0.5])
    g = np.interp(t, [0, 0.125, 0.375, 0.64, 0.91, 1], [0, 0, 1, 1, 0, 0])
    b = np.interp(t, [0, 0.11, 0.34, 0.65, 1], [0.5, 1, 1, 0, 0])
    return np.stack([r, g, b], -1)


def fixtures(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(20240607)
    save = lambda name, a: np.save(os.path.join(d, name), a)

    # --- decode fixtures: file + the expected (H, W, C) uint8 after our channel policy
    rgb = test_pattern(rng, 131, 97, 3)
    Image.fromarray(rgb, "RGB").save(os.path.join(d, "rgb_97x131.png"))
    save("decode_rgb_97x131.npy", rgb)

    gray = test_pattern(rng, 23, 29, 1)
    Image.fromarray(gray, "L").save(os.path.join(d, "gray_29x23.png"))
    save("decode_gray_29x23.npy", gray[:, :, None])

    rgba = np.dstack([test_pattern(rng, 33, 40, 3), rng.integers(0, 256, (33, 40), dtype=np.uint8)])
    Image.fromarray(rgba, "RGBA").save(os.path.join(d, "rgba_40x33.png"))
    save("decode_rgba_40x33.npy", rgba)

    la = np.dstack([test_pattern(rng, 17, 21, 1), rng.integers(0, 256, (17, 21), dtype=np.uint8)])
    Image.fromarray(la, "LA").save(os.path.join(d, "la_21x17.png"))
    save("decode_la_21x17.npy", la[:, :, :1])  # alpha dropped

    pal = Image.fromarray(test_pattern(rng, 19, 25, 3), "RGB").quantize(colors=16)
    pal.save(os.path.join(d, "pal_25x19.png"))
    save("decode_pal_25x19.npy", np.asarray(pal.convert("RGB")))

    Image.fromarray(test_pattern(rng, 13, 19, 3), "RGB").save(os.path.join(d, "rgb_19x13.bmp"))
    save("decode_rgb_19x13.npy", np.asarray(Image.open(os.path.join(d, "rgb_19x13.bmp")).convert("RGB")))

    jpg = Image.fromarray(test_pattern(rng, 48, 64, 3), "RGB")
    jpg.save(os.path.join(d, "rgb_64x48.jpg"), quality=90)
    save("decode_rgb_64x48_jpg.npy", np.asarray(Image.open(os.path.join(d, "rgb_64x48.jpg")).convert("RGB")))

    g16 = rng.integers(0, 65536, (37, 45), dtype=np.uint16)
    g16[0, :4] = [0, 128, 65535, 32896]
    write_tiff(os.path.join(d, "gray16_45x37.tif"), g16)
    save("decode_gray16_45x37.npy", u16_to_u8(g16)[:, :, None])

    rgb16 = rng.integers(0, 65536, (27, 31, 3), dtype=np.uint16)
    write_tiff(os.path.join(d, "rgb16be_31x27.tif"), rgb16, byteorder=">")
    save("decode_rgb16be_31x27.npy", u16_to_u8(rgb16))

    rgba8 = rng.integers(0, 256, (19, 23, 4), dtype=np.uint8)
    write_tiff(os.path.join(d, "rgba8_23x19.tif"), rgba8, extra_alpha=True)
    save("decode_rgba8_23x19.npy", rgba8)

    mw = rng.integers(0, 256, (11, 14), dtype=np.uint8)
    write_tiff(os.path.join(d, "miniswhite_14x11.tif"), mw, photometric=0)  # WhiteIsZero
    save("decode_miniswhite_14x11.npy", (255 - mw)[:, :, None])

    ptif = Image.fromarray(test_pattern(rng, 15, 18, 3), "RGB").quantize(colors=8)
    ptif.save(os.path.join(d, "pal_18x15.tif"))  # palette TIFF: libtiff RGBA path
    save("decode_pal_18x15_tif.npy", np.asarray(ptif.convert("RGB")))

    g16p = rng.integers(0, 65536, (9, 12), dtype=np.uint16)
    g16p[0, :3] = [0, 65535, 128]
    Image.fromarray(g16p).save(os.path.join(d, "gray16_12x9.png"))  # mode I;16 -> 16-bit PNG
    save("decode_gray16_12x9_png.npy", u16_to_u8(g16p)[:, :, None])

    lzw = test_pattern(rng, 29, 33, 3)
    Image.fromarray(lzw, "RGB").save(os.path.join(d, "rgb_lzw_33x29.tif"), compression="tiff_lzw")
    save("decode_rgb_lzw_33x29.npy", lzw)

    # --- float antialiased resize vs torch interpolate(antialias=True)
    x = rng.random((2, 37, 53), dtype=np.float32)
    save("rf_in.npy", x)
    for oh, ow in [(16, 90), (37, 20), (64, 64), (5, 7), (11, 53)]:
        y = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=(oh, ow), mode="bilinear",
                                            align_corners=False, antialias=True)[0]
        save(f"rf_out_{oh}x{ow}.npy", y.numpy())

    # --- uint8 resize vs PIL (LANCZOS and BILINEAR), RGB and gray
    u = test_pattern(rng, 37, 53, 3)
    save("ru_in_rgb.npy", u)
    for name, flt in [("lanczos", Image.LANCZOS), ("bilinear", Image.BILINEAR)]:
        for oh, ow in [(20, 71), (64, 30), (5, 7), (37, 26)]:
            r = Image.fromarray(u, "RGB").resize((ow, oh), flt)
            save(f"ru_out_rgb_{name}_{oh}x{ow}.npy", np.asarray(r))
    ug = test_pattern(rng, 41, 17, 1)
    save("ru_in_gray.npy", ug)
    save("ru_out_gray_lanczos_13x100.npy", np.asarray(Image.fromarray(ug, "L").resize((100, 13), Image.LANCZOS)))

    # --- full preprocessing pipelines on decoded fixtures
    im = Image.open(os.path.join(d, "rgb_97x131.png")).convert("RGB")
    r, n = anomalib_ref(im, 48)
    save("pre_rgb_anomalib48_rgb.npy", r)
    save("pre_rgb_anomalib48.npy", n)
    for resize, crop in [(72, 64), (72, 61)]:
        _, n = paper_ref(im, resize, crop)
        save(f"pre_rgb_paper{resize}_crop{crop}.npy", n)
    ga = Image.open(os.path.join(d, "gray_29x23.png")).convert("RGB")
    _, n = anomalib_ref(ga, 80)
    save("pre_gray_anomalib80.npy", n)
    _, n = paper_ref(ga, 40, 37)
    save("pre_gray_paper40_crop37.npy", n)
    ra = Image.open(os.path.join(d, "rgba_40x33.png")).convert("RGB")
    _, n = anomalib_ref(ra, 32)
    save("pre_rgba_anomalib32.npy", n)

    # --- heatmap overlay
    S = 16
    hrgb = rng.random((3, S, S), dtype=np.float32)
    hmap = (rng.random((S, S), dtype=np.float32) * 1.4 - 0.2).astype(np.float32)
    hmap[0, 0] = np.nan
    save("heat_rgb.npy", hrgb)
    save("heat_map.npy", hmap)
    vmin, vmax, alpha = 0.2, 0.8, 0.4
    t = np.clip((hmap.astype(np.float64) - np.float32(vmin)) / (np.float64(np.float32(vmax)) - np.float32(vmin)), 0, 1)
    t = np.nan_to_num(t, nan=0.0)
    out = np.float32(alpha) * jet_ref(t) + (1 - np.float64(np.float32(alpha))) * hrgb.transpose(1, 2, 0)
    save("heat_out.npy", np.clip(np.floor(out * 255 + 0.5), 0, 255).astype(np.uint8))

    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"ref_image.py: wrote {len(os.listdir(d))} files, {total} bytes into {d}")


def runtime(d, png):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(60)
    up = test_pattern(rng, 60, 60, 3)
    Image.fromarray(up, "RGB").save(os.path.join(d, "up_60x60.png"))
    im = Image.open(os.path.join(d, "up_60x60.png")).convert("RGB")
    _, n = anomalib_ref(im, 256)
    np.save(os.path.join(d, "up_anomalib256.npy"), n)
    _, n = paper_ref(im, 256, 224)
    np.save(os.path.join(d, "up_paper256_crop224.npy"), n)
    if png and os.path.exists(png):
        im = Image.open(png).convert("RGB")
        r, n = anomalib_ref(im, 256)
        np.save(os.path.join(d, "real_anomalib256_rgb.npy"), r)
        np.save(os.path.join(d, "real_anomalib256.npy"), n)
        ru8, n = paper_ref(im, 256, 224)
        np.save(os.path.join(d, "real_paper256_u8.npy"), ru8)
        np.save(os.path.join(d, "real_paper256_crop224.npy"), n)
        print(f"ref_image.py: real-image goldens for {png} in {d}")
    else:
        print(f"ref_image.py: {png} not found, real-image goldens not written", file=sys.stderr)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if len(sys.argv) >= 2 and sys.argv[1] == "fixtures":
        fixtures(sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "golden", "image"))
    elif len(sys.argv) >= 3 and sys.argv[1] == "runtime":
        runtime(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
