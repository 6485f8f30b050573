#!/usr/bin/python3
"""make_image_fixtures.py - image files of every layout the decoders take, each with what
PIL (the reference's decoder) makes of it, for tests/test_image_pil.c. Made at test time
(ctest image_pil_fixtures), never committed: nothing here is large, but it follows
whatever PIL and libjpeg-turbo the machine has.

  make_image_fixtures.py DIR

writes DIR/<name> (the image), DIR/<name>.npy (the expected pixels, (H, W, 3) uint8) and
DIR/manifest.txt, one line per file:

  <name> <expected channels> <rule> <max |diff| LSB> <width> <height>

where rule is
  pil     expected = np.asarray(Image.open(f).convert("RGB")): decoding must equal PIL
  round   16-bit sources, expected = the documented rounding (v * 255 + 32767) // 65535
          of the 16-bit samples (PIL takes the high byte for RGB and clips gray)
  refuse  the file must be refused; the .npy is absent and <max> is a word the error
          message must contain
The C test converts its decoded image to RGB the way convert("RGB") does (gray
replicated, alpha dropped) and checks the channel count against the channel policy of
src/host/image.c. Exit 77 (ctest skip) without NumPy or PIL.
"""
import io
import os
import struct
import sys
import zlib

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"make_image_fixtures.py: skipped, missing module: {e}", file=sys.stderr)
    sys.exit(77)


def pattern(rng, h, w, c):
    """Gradients, hard edges and noise: every IDCT coefficient and filter type gets used.
    (ref_image.py has a similar test_pattern, but importing it needs torch, which these
    fixtures do not.)"""
    y, x = np.mgrid[0:h, 0:w]
    planes = []
    for k in range(c):
        g = 127.5 + 110 * np.sin(x / (2.0 + k) + y / (3.0 + 2 * k))
        g = np.where((x // 5 + y // 3 + k) % 2 == 0, g, 255 - g)
        planes.append(g + rng.normal(0, 25, size=(h, w)))
    a = np.stack(planes, -1) if c > 1 else planes[0]
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_bytes(w, h, depth, color, rows_fn, interlace=0, extra=b""):
    """A PNG written by hand (layouts PIL cannot save: Adam7, 2/4-bit gray, 16-bit RGBA).
    rows_fn(x0, y0, dx, dy) -> list of packed rows of the (sub)image."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    raw = b""
    passes = [(0, 0, 1, 1)] if not interlace else [
        (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    for i, (x0, y0, dx, dy) in enumerate(passes):
        for j, row in enumerate(rows_fn(x0, y0, dx, dy)):
            ft = (i + j) % 5 if depth >= 8 else 0
            raw += bytes([ft]) + filter_row(ft, row, prev_row(rows_fn, x0, y0, dx, dy, j), bpp_of(depth, color))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def chunks_of(png):
    """(tag, data) of every chunk of a PNG file."""
    out, off = [], 8
    while off < len(png):
        (n,) = struct.unpack(">I", png[off:off + 4])
        out.append((png[off + 4:off + 8], png[off + 8:off + 8 + n]))
        off += 12 + n
    return out


def split_idat(png, size):
    """The same image with its zlib stream over IDAT chunks of `size` bytes, a tEXt chunk
    before them and a zTXt-free tIME-like ancillary chunk after them."""
    ch = chunks_of(png)
    z = b"".join(d for t, d in ch if t == b"IDAT")
    body = png_chunk(b"tEXt", b"Comment\x00split IDAT")
    body += b"".join(png_chunk(b"IDAT", z[i:i + size]) for i in range(0, len(z), size))
    body += png_chunk(b"prVt", b"private ancillary chunk after the image data")
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ch[0][1]) + body + png_chunk(b"IEND", b"")


def flip_crc(png, k):
    """png with one bit of the k-th IDAT chunk's CRC flipped."""
    b, off, seen = bytearray(png), 8, 0
    while off < len(b):
        (n,) = struct.unpack(">I", b[off:off + 4])
        if b[off + 4:off + 8] == b"IDAT":
            if seen == k:
                b[off + 8 + n] ^= 0x01
                break
            seen += 1
        off += 12 + n
    return bytes(b)


def bpp_of(depth, color):
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    return max(1, ch * depth // 8)


def prev_row(rows_fn, x0, y0, dx, dy, j):
    rows = rows_fn(x0, y0, dx, dy)
    return rows[j - 1] if j > 0 else bytes(len(rows[j]))


def filter_row(ft, row, prev, bpp):
    """PNG filters 0-4 (the decoder must undo each)."""
    out = bytearray(len(row))
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ft == 0:
            p = 0
        elif ft == 1:
            p = a
        elif ft == 2:
            p = b
        elif ft == 3:
            p = (a + b) // 2
        else:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (v - p) & 0xFF
    return bytes(out)


def sub_rows(arr, x0, y0, dx, dy, pack):
    sub = arr[y0::dy, x0::dx]
    if sub.shape[0] == 0 or sub.shape[1] == 0:
        return []
    return [pack(r) for r in sub]


def pack_bits(r, depth):
    r = np.asarray(r, dtype=np.uint8).reshape(-1)
    per = 8 // depth
    pad = (-len(r)) % per
    r = np.concatenate([r, np.zeros(pad, np.uint8)]).reshape(-1, per)
    out = np.zeros(len(r), np.uint8)
    for k in range(per):
        out |= (r[:, k] << (8 - depth * (k + 1))).astype(np.uint8)
    return out.tobytes()


def round16(a):
    return ((a.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def to_rgb(a):
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] in (1, 2):
        a = np.repeat(a[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def bmp32(arr, alpha):
    """32-bit BI_RGB BMP (PIL reads BGRX; stb keeps the fourth byte as alpha)."""
    h, w, _ = arr.shape
    px = np.dstack([arr[:, :, 2], arr[:, :, 1], arr[:, :, 0], alpha])[::-1].tobytes()
    hdr = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 32, 0, len(px), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(px), 0, 0, 54) + hdr + px


def bmp16(w, h):
    """16-bit BI_RGB BMP (5-5-5): stb replicates the bits, PIL computes v * 255 // 31."""
    vals = (np.arange(w * h, dtype=np.uint32) * 517 & 0x7FFF).astype(np.uint16).reshape(h, w)
    stride = (w * 2 + 3) // 4 * 4
    px = b"".join(r.astype("<u2").tobytes().ljust(stride, b"\0") for r in vals[::-1])
    hdr = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 0, len(px), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(px), 0, 0, 54) + hdr + px


def main(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(20261201)
    manifest = []

    def add_pil(name, data, channels, max_lsb=0):
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        im = Image.open(path)
        im.load()
        ref = np.asarray(im.convert("RGB"))
        np.save(path + ".npy", ref)
        manifest.append(f"{name} {channels} pil {max_lsb} {ref.shape[1]} {ref.shape[0]}")

    def add_rule(name, data, channels, ref):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        np.save(os.path.join(d, name) + ".npy", to_rgb(ref))
        manifest.append(f"{name} {channels} round 0 {ref.shape[1]} {ref.shape[0]}")

    def add_refuse(name, data, word):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        manifest.append(f"{name} 0 refuse {word} 0 0")

    def saved(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    rgb = pattern(rng, 45, 67, 3)
    gray = pattern(rng, 29, 38, 1)
    odd = pattern(rng, 23, 37, 3)

    # ---- PNG (libpng): every colour type, bit depths, Adam7, tRNS
    add_pil("png_rgb8.png", saved(Image.fromarray(rgb, "RGB"), "PNG"), 3)
    add_pil("png_gray8.png", saved(Image.fromarray(gray, "L"), "PNG"), 1)
    add_pil("png_rgba8.png", saved(Image.fromarray(np.dstack([rgb, rgb[:, :, 0]]), "RGBA"), "PNG"), 4)
    add_pil("png_la8.png", saved(Image.fromarray(np.dstack([gray, 255 - gray]), "LA"), "PNG"), 1)
    pal = Image.fromarray(rgb, "RGB").quantize(colors=37)
    add_pil("png_palette.png", saved(pal, "PNG"), 3)
    add_pil("png_palette_trns.png", saved(pal, "PNG", transparency=3), 4)
    add_pil("png_gray1.png", saved(Image.fromarray(gray > 127).convert("1"), "PNG"), 1)
    for depth in (2, 4):
        g = (gray >> (8 - depth)).astype(np.uint8)
        add_pil(f"png_gray{depth}.png",
                png_bytes(g.shape[1], g.shape[0], depth, 0, lambda x0, y0, dx, dy, g=g, depth=depth:
                          sub_rows(g, x0, y0, dx, dy, lambda r: pack_bits(r, depth))), 1)
    add_pil("png_rgb8_adam7.png",
            png_bytes(odd.shape[1], odd.shape[0], 8, 2, lambda x0, y0, dx, dy:
                      sub_rows(odd, x0, y0, dx, dy, lambda r: r.tobytes()), interlace=1), 3)
    add_pil("png_gray8_adam7.png",
            png_bytes(gray.shape[1], gray.shape[0], 8, 0, lambda x0, y0, dx, dy:
                      sub_rows(gray, x0, y0, dx, dy, lambda r: r.tobytes()), interlace=1), 1)
    rgb16 = rng.integers(0, 65536, (19, 26, 3), dtype=np.uint16)
    rgb16[0, :3, 0] = [0, 65535, 32896]
    add_rule("png_rgb16.png", png_bytes(26, 19, 16, 2, lambda x0, y0, dx, dy:
                                        sub_rows(rgb16, x0, y0, dx, dy, lambda r: r.astype(">u2").tobytes())),
             3, round16(rgb16))
    rgba16 = rng.integers(0, 65536, (11, 14, 4), dtype=np.uint16)
    add_rule("png_rgba16_adam7.png", png_bytes(14, 11, 16, 6, lambda x0, y0, dx, dy:
                                               sub_rows(rgba16, x0, y0, dx, dy, lambda r: r.astype(">u2").tobytes()),
                                               interlace=1), 4, round16(rgba16))
    g16 = rng.integers(0, 65536, (13, 17), dtype=np.uint16)
    add_rule("png_gray16.png", saved(Image.fromarray(g16), "PNG"), 1, round16(g16))
    # 8-bit gray / RGB / RGBA, not interlaced: image.c's direct path (libdeflate + its own
    # unfiltering). Every filter type on every row pattern (png_bytes cycles them), the
    # stream split over many IDAT chunks with ancillary chunks around them, a width that
    # is not a multiple of anything; then files it must leave to libpng.
    rgba = np.dstack([odd, odd[:, :, 1] ^ 0x5A])
    for name, arr, color, ch in (("gray8", gray, 0, 1), ("rgb8", odd, 2, 3), ("rgba8", rgba, 6, 4)):
        whole = png_bytes(arr.shape[1], arr.shape[0], 8, color, lambda x0, y0, dx, dy, arr=arr:
                          sub_rows(arr, x0, y0, dx, dy, lambda r: r.tobytes()))
        add_pil(f"png_{name}_filters.png", whole, ch)
        add_pil(f"png_{name}_split.png", split_idat(whole, 97), ch)
    trunc = bytearray(split_idat(png_bytes(odd.shape[1], odd.shape[0], 8, 2, lambda x0, y0, dx, dy:
                                           sub_rows(odd, x0, y0, dx, dy, lambda r: r.tobytes())), 97))
    add_refuse("png_rgb8_bad_idat_crc.png", flip_crc(bytes(trunc), 3), "CRC")
    # a chunk whose length field claims 822 MB in a small file (the fuzzer's find: libpng
    # allocated it before reading); refused before libpng sees the file
    good = saved(Image.fromarray(rgb, "RGB"), "PNG")
    add_refuse("png_chunk_claims_822MB.png", good[:33] + struct.pack(">I", 0x31000012) + b"tEXt" + good[33:],
               "claims")
    bad = bytearray(saved(Image.fromarray(rgb, "RGB"), "PNG"))
    idat = bad.find(b"IDAT")
    (n_idat,) = struct.unpack(">I", bad[idat - 4:idat])
    bad[idat + 4 + n_idat] ^= 0x01  # a flipped bit in IDAT's CRC: the data no longer matches it
    add_refuse("png_bad_crc.png", bytes(bad), "CRC")

    # ---- JPEG (libjpeg-turbo): sampling factors, progressive, gray, odd sizes
    im = Image.fromarray(rgb, "RGB")
    add_pil("jpeg_420.jpg", saved(im, "JPEG", quality=90, subsampling=2), 3)
    add_pil("jpeg_422.jpg", saved(im, "JPEG", quality=85, subsampling=1), 3)
    add_pil("jpeg_444.jpg", saved(im, "JPEG", quality=95, subsampling=0), 3)
    add_pil("jpeg_progressive.jpg", saved(im, "JPEG", quality=80, progressive=True), 3)
    add_pil("jpeg_progressive_444.jpg", saved(im, "JPEG", quality=92, progressive=True, subsampling=0), 3)
    add_pil("jpeg_optimized.jpg", saved(im, "JPEG", quality=75, optimize=True), 3)
    add_pil("jpeg_odd_420.jpg", saved(Image.fromarray(odd, "RGB"), "JPEG", quality=88, subsampling=2), 3)
    add_pil("jpeg_gray.jpg", saved(Image.fromarray(gray, "L"), "JPEG", quality=90), 1)
    add_pil("jpeg_gray_progressive.jpg", saved(Image.fromarray(gray, "L"), "JPEG", quality=70, progressive=True), 1)
    add_refuse("jpeg_cmyk.jpg", saved(Image.fromarray(np.dstack([rgb, rgb[:, :, 1]]), "CMYK"), "JPEG"), "CMYK")
    jb = saved(im, "JPEG", quality=90)
    add_refuse("jpeg_truncated.jpg", jb[: len(jb) * 2 // 3], "JPEG")

    # ---- BMP (stb_image after our checks)
    add_pil("bmp_rgb24.bmp", saved(im, "BMP"), 3)
    add_pil("bmp_odd24.bmp", saved(Image.fromarray(odd, "RGB"), "BMP"), 3)
    add_pil("bmp_palette8.bmp", saved(pal, "BMP"), 3)
    add_pil("bmp_gray8.bmp", saved(Image.fromarray(gray, "L"), "BMP"), 3)
    add_pil("bmp_1bit.bmp", saved(Image.fromarray(gray > 100).convert("1"), "BMP"), 3)
    add_pil("bmp_32bit.bmp", bmp32(odd, np.full(odd.shape[:2], 255, np.uint8)), 4)
    add_pil("bmp_16bit_555.bmp", bmp16(37, 5), 3, 1)  # 1 LSB: see src/host/image.c
    b = bytearray(saved(Image.fromarray(gray > 100).convert("1"), "BMP"))
    struct.pack_into("<I", b, 46, 256)  # 256 colours declared for 1-bit pixels
    add_refuse("bmp_impossible_palette.bmp", bytes(b), "palette")
    b = saved(im, "BMP")
    add_refuse("bmp_truncated.bmp", b[: len(b) // 2], "truncated")

    # ---- TIFF (libtiff)
    add_pil("tiff_rgb.tif", saved(im, "TIFF"), 3)
    add_pil("tiff_gray.tif", saved(Image.fromarray(gray, "L"), "TIFF"), 1)
    add_pil("tiff_lzw.tif", saved(im, "TIFF", compression="tiff_lzw"), 3)
    add_pil("tiff_deflate.tif", saved(im, "TIFF", compression="tiff_adobe_deflate"), 3)
    add_pil("tiff_packbits.tif", saved(Image.fromarray(gray, "L"), "TIFF", compression="packbits"), 1)
    add_pil("tiff_palette.tif", saved(pal, "TIFF"), 3)
    add_pil("tiff_rgba.tif", saved(Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA"),
                                   "TIFF"), 4)
    add_rule("tiff_gray16.tif", saved(Image.fromarray(g16), "TIFF"), 1, round16(g16))

    with open(os.path.join(d, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    total = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print(f"make_image_fixtures.py: {len(manifest)} files, {total} bytes in {d} "
          f"(PIL {Image.__version__})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
