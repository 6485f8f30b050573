#!/usr/bin/env bash
# Wide-ResNet-50-2 at the production shape, CPU vs CUDA: seeded random weights
# (--weights random), anomalib preset (256x256 input, D = 550, grid 64x64), batch 64, fp32.
# 64 real images (bottle train/good then test, cycled when there are fewer): a CPU fit and
# a CUDA fit on them, then per-image scores of the same 64 images:
#   score path: the CPU model scored on the GPU vs on the CPU, within 1e-4 relative (the
#     issue's bar: same statistics, only the backbone and the distances differ);
#   end to end: the CUDA model on the GPU vs the CPU model on the CPU, within 1e-2. Loose on
#     purpose: 64 images (at most 32 distinct with the kit) for D = 550 leave the covariance
#     rank-deficient, held up by eps 0.01 (condition number ~1e7, tests/test_cuda_backend.c),
#     so float32 rounding in the fit moves the factor far more than in the scores; a layout
#     or indexing error moves scores by O(1) and still fails.
# Prints both maxima. usage: test_wrn50_cuda_parity.sh PADIM_GPU
# Data: $PADIM_BOTTLE_DIR, else ${PADIM_SHARED:-../shared}/data/mvtec_ad/bottle. Skipped
# (exit 77) without a usable GPU or the data. Needs ~10 GB of host memory and ~8 GB of disk
# under $TMPDIR (three 2.6 GB models would be one too many: each is removed once scored).
set -euo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
data=${PADIM_BOTTLE_DIR:-${PADIM_SHARED:-$src/../shared}/data/mvtec_ad/bottle}
py=${PADIM_PYTHON:-python3}
if [ ! -d "$data/train/good" ]; then
  echo "SKIP: MVTec AD bottle not found at $data" >&2; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/probe" "$tmp/imgs"
mapfile -t all < <(find "$data/train/good" -name '*.png' | sort; find "$data/test" -name '*.png' | sort)
cp "${all[0]}" "$tmp/probe/0.png"
cp "${all[1]}" "$tmp/probe/1.png"
if ! "$bin" fit -q --device cuda --resize 64 "$tmp/probe" -o "$tmp/probe.padim" 2>"$tmp/probe.err"; then
  if grep -qE "no CUDA device|built without the CUDA backend" "$tmp/probe.err"; then
    echo "SKIP: no usable GPU ($(head -n 1 "$tmp/probe.err"))" >&2; exit 77
  fi
  cat "$tmp/probe.err" >&2; exit 1
fi
for ((i = 0; i < 64; i++)); do
  ln -s "${all[$((i % ${#all[@]}))]}" "$tmp/imgs/$(printf '%02d' "$i").png"
done
echo "wide_resnet50_2, random weights, 256x256, batch 64: 64 images (${#all[@]} distinct) from $data"
common=(--backbone wide_resnet50_2 --weights random --preset anomalib --batch 64 --precision fp32)
t0=$SECONDS
"$bin" fit -q --device cpu "${common[@]}" "$tmp/imgs" -o "$tmp/cpu.padim"
"$bin" score -q --device cpu --batch 64 "$tmp/cpu.padim" "$tmp/imgs" -o "$tmp/cc"
echo "cpu fit + score: $((SECONDS - t0)) s"
t0=$SECONDS
"$bin" score -q --device cuda --batch 64 --precision fp32 "$tmp/cpu.padim" "$tmp/imgs" -o "$tmp/cg"
rm -f "$tmp/cpu.padim"
"$bin" fit -q --device cuda "${common[@]}" "$tmp/imgs" -o "$tmp/cuda.padim"
"$bin" score -q --device cuda --batch 64 --precision fp32 "$tmp/cuda.padim" "$tmp/imgs" -o "$tmp/gg"
echo "cuda score (cpu model) + fit + score: $((SECONDS - t0)) s"
"$py" - "$tmp" <<'PY'
import csv, math, sys
tmp = sys.argv[1]
def scores(run):
    return {r["path"]: float(r["score"]) for r in csv.DictReader(open(f"{tmp}/{run}/scores.csv"))}
cc, cg, gg = scores("cc"), scores("cg"), scores("gg")
assert cc.keys() == cg.keys() == gg.keys() and len(cc) == 64, "different image sets"
assert all(math.isfinite(v) for d in (cc, cg, gg) for v in d.values()), "non-finite scores"
fails = []
for name, other, bound in (("score path (cpu model)", cg, 1e-4), ("end to end (each device fits)", gg, 1e-2)):
    k = max(cc, key=lambda k: abs(cc[k] - other[k]) / abs(cc[k]))
    rel = abs(cc[k] - other[k]) / abs(cc[k])
    print(f"wrn50 max relative score difference cuda vs cpu, {name}: {rel:.3g} at {k.rsplit('/', 1)[-1]} "
          f"(cpu {cc[k]:.7g}, cuda {other[k]:.7g}; bound {bound:g})")
    if not rel < bound:
        fails.append(f"{name}: {rel:.3g} >= {bound:g}")
print(f"scores: min {min(cc.values()):.6g}, max {max(cc.values()):.6g} (cpu)")
if fails:
    sys.exit("FAIL: " + "; ".join(fails))
print("wrn50 parity ok")
PY
