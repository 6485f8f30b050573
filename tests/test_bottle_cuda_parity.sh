#!/usr/bin/env bash
# Pipeline parity on real data (issue 4): `padim-gpu eval` on MVTec AD bottle with
# --device cuda and with --device cpu, fp32.
#   end to end (each device fits and scores): per-image scores within PADIM_PARITY_RTOL
#     relative (default 1e-4, the issue's bar on the full bottle set) and the same image /
#     pixel AUROC to 3 decimals;
#   score path (the CPU's model scored on the GPU): within 1e-4 relative, whatever the
#     data: the statistics are the same, only the backbone and the distances run on the GPU.
# usage: test_bottle_cuda_parity.sh PADIM_GPU [anomalib|paper]
# Data: $PADIM_BOTTLE_DIR (an MVTec-layout bottle folder, e.g. the device kit's subset), else
# ${PADIM_SHARED:-../shared}/data/mvtec_ad/bottle. Skipped (exit 77) without a usable GPU
# or the data.
set -euo pipefail
bin=$1
preset=${2:-anomalib}
src=$(cd "$(dirname "$0")/.." && pwd)
data=${PADIM_BOTTLE_DIR:-${PADIM_SHARED:-$src/../shared}/data/mvtec_ad/bottle}
rtol=${PADIM_PARITY_RTOL:-1e-4}
py=${PADIM_PYTHON:-python3}
if [ ! -d "$data/test" ]; then
  echo "SKIP: MVTec AD bottle not found at $data" >&2; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/probe/a"
cp "$(ls "$data"/train/good/*.png | head -2 | tail -1)" "$tmp/probe/a/1.png"
cp "$(ls "$data"/train/good/*.png | head -1)" "$tmp/probe/a/0.png"
if ! "$bin" fit -q --device cuda --resize 64 "$tmp/probe/a" -o "$tmp/probe.padim" 2>"$tmp/probe.err"; then
  if grep -qE "no CUDA device|built without the CUDA backend" "$tmp/probe.err"; then
    echo "SKIP: no usable GPU ($(head -n 1 "$tmp/probe.err"))" >&2; exit 77
  fi
  cat "$tmp/probe.err" >&2; exit 1
fi
n_test=$(find "$data/test" -name '*.png' | wc -l)
echo "bottle parity, preset $preset: $(find "$data/train/good" -name '*.png' | wc -l) training and $n_test test images from $data"
"$bin" eval -q --device cpu --precision fp32 --preset "$preset" "$data" -o "$tmp/cpu" \
  --save-model "$tmp/cpu.padim" > "$tmp/cpu.log"
"$bin" eval -q --device cuda --precision fp32 --preset "$preset" "$data" -o "$tmp/cuda" > "$tmp/cuda.log"
"$bin" eval -q --device cuda --precision fp32 -m "$tmp/cpu.padim" "$data" -o "$tmp/cross" > "$tmp/cross.log"
for run in cpu cuda cross; do echo "--- $run"; cat "$tmp/$run.log"; done
"$py" - "$tmp" "$n_test" "$rtol" <<'PY'
import csv, json, sys
tmp, n_test, rtol = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def scores(run):
    return {r["path"]: float(r["score"]) for r in csv.DictReader(open(f"{tmp}/{run}/scores.csv"))}
a, b, c = scores("cpu"), scores("cuda"), scores("cross")
assert a.keys() == b.keys() == c.keys() and len(a) == n_test, "different image sets"
def worst(x):
    k = max(a, key=lambda k: abs(a[k] - x[k]) / abs(a[k]))
    return abs(a[k] - x[k]) / abs(a[k]), k
rel, at = worst(b)
rel_s, at_s = worst(c)
print(f"max relative score difference cuda vs cpu: {rel:.3g} at {at} (end to end, bound {rtol:g})")
print(f"max relative score difference cuda vs cpu, same model: {rel_s:.3g} at {at_s} (score path, bound 1e-4)")
ma, mb = (json.load(open(f"{tmp}/{d}/metrics.json"))["metrics"] for d in ("cpu", "cuda"))
fails = []
if not rel < rtol:
    fails.append(f"end-to-end score difference {rel:.3g} >= {rtol:g}")
if not rel_s < 1e-4:
    fails.append(f"score-path difference {rel_s:.3g} >= 1e-4")
for k in ("image_auroc", "pixel_auroc"):
    if round(ma[k], 3) != round(mb[k], 3):
        fails.append(f"{k}: cpu {ma[k]} vs cuda {mb[k]}")
if fails:
    sys.exit("FAIL: " + "; ".join(fails))
print("parity ok:", {k: (ma[k], mb[k]) for k in ("image_auroc", "pixel_auroc")})
PY
