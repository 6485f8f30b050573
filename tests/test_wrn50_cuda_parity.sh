#!/usr/bin/env bash
# Wide-ResNet-50-2 at the production shape, CPU vs CUDA: seeded random weights
# (--weights random), anomalib preset (256x256 input, D = 550, grid 64x64), batch 64, fp32.
# A CPU fit and a CUDA fit on 64 bottle train/good images, then per-image scores of 64 test
# images, each set cycled when the data has fewer (the device kit: 20 and 12). Test images,
# not the fitted ones: with a rank-deficient covariance every training image has about the
# same distance, which would hide a mix-up of images or positions.
#   score path: the CPU model scored on the GPU vs on the CPU, within 1e-4 relative (the
#     issue's bar: same statistics, only the backbone and the distances differ);
#   end to end: the CUDA model on the GPU vs the CPU model on the CPU, within 1e-2. Loose on
#     purpose: 64 training images (20 distinct with the kit) for D = 550 leave the covariance
#     rank-deficient, held up by eps 0.01 (condition number ~1e7, tests/test_cuda_backend.c),
#     so float32 rounding in the fit moves the factor far more than in the scores; a layout
#     or indexing error moves scores by O(1) and still fails.
# Prints both maxima. usage: test_wrn50_cuda_parity.sh PADIM_GPU
# Data: $PADIM_BOTTLE_DIR, else ${PADIM_SHARED:-../shared}/data/mvtec_ad/bottle. Skipped
# (exit 77) without a usable GPU or the data. Needs ~10 GB of host memory and ~3 GB of disk
# under $TMPDIR (one 2.6 GB model at a time).
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
mkdir -p "$tmp/probe" "$tmp/train" "$tmp/test"
mapfile -t train < <(find "$data/train/good" -name '*.png' | sort)
mapfile -t test < <(find "$data/test" -name '*.png' | sort)
[ ${#train[@]} -ge 2 ] && [ ${#test[@]} -ge 1 ] || { echo "FAIL: too few images in $data" >&2; exit 1; }
cp "${train[0]}" "$tmp/probe/0.png"
cp "${train[1]}" "$tmp/probe/1.png"
if ! "$bin" fit -q --device cuda --resize 64 "$tmp/probe" -o "$tmp/probe.padim" 2>"$tmp/probe.err"; then
  if grep -qE "no CUDA device|built without the CUDA backend" "$tmp/probe.err"; then
    echo "SKIP: no usable GPU ($(head -n 1 "$tmp/probe.err"))" >&2; exit 77
  fi
  cat "$tmp/probe.err" >&2; exit 1
fi
for ((i = 0; i < 64; i++)); do
  ln -s "${train[$((i % ${#train[@]}))]}" "$tmp/train/$(printf '%02d' "$i").png"
  ln -s "${test[$((i % ${#test[@]}))]}" "$tmp/test/$(printf '%02d' "$i").png"
done
n_train=$((${#train[@]} < 64 ? ${#train[@]} : 64)) n_test=$((${#test[@]} < 64 ? ${#test[@]} : 64))
echo "wide_resnet50_2, random weights, 256x256, batch 64: fit on 64 ($n_train distinct), score 64 ($n_test distinct) from $data"
common=(--backbone wide_resnet50_2 --weights random --preset anomalib --batch 64 --precision fp32)
t0=$SECONDS
"$bin" fit -q --device cpu "${common[@]}" "$tmp/train" -o "$tmp/cpu.padim"
"$bin" score -q --device cpu --batch 64 "$tmp/cpu.padim" "$tmp/test" -o "$tmp/cc"
echo "cpu fit + score: $((SECONDS - t0)) s"
t0=$SECONDS
"$bin" score -q --device cuda --batch 64 --precision fp32 "$tmp/cpu.padim" "$tmp/test" -o "$tmp/cg"
rm -f "$tmp/cpu.padim"
"$bin" fit -q --device cuda "${common[@]}" "$tmp/train" -o "$tmp/cuda.padim"
"$bin" score -q --device cuda --batch 64 --precision fp32 "$tmp/cuda.padim" "$tmp/test" -o "$tmp/gg"
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
