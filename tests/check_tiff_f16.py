#!/usr/bin/python3
"""check_tiff_f16.py F32_TIFF F16_TIFF - the float16 TIFF read by tifffile (the reader of
MVTec AD 2's submission checker) equals NumPy's float16 rounding of the float32 TIFF:
same shape, dtype float16, bit-identical (NaN where NaN). Exit 77 without tifffile."""
import sys

try:
    import numpy as np
    import tifffile
except ImportError as e:
    print("check_tiff_f16: %s" % e, file=sys.stderr)
    sys.exit(77)

f32 = tifffile.imread(sys.argv[1])
f16 = tifffile.imread(sys.argv[2])
with np.errstate(over="ignore"):  # 1e6 -> inf is part of the test
    want = f32.astype(np.float16)
ok = f16.dtype == np.float16 and f16.ndim == 2 and f16.shape == f32.shape
if ok:
    same = (f16.view(np.uint16) == want.view(np.uint16)) | (np.isnan(f16) & np.isnan(want))
    ok = bool(same.all())
    print("check_tiff_f16: %s %s, %d of %d values as NumPy rounds them" % (f16.shape, f16.dtype, same.sum(), same.size))
else:
    print("check_tiff_f16: got %s %s, expected %s float16" % (f16.shape, f16.dtype, f32.shape))
sys.exit(0 if ok else 1)
