#!/usr/bin/env bash
# Integration test on real data: `padim-gpu fit` on MVTec AD bottle train/good (209
# images) and `padim-gpu score` on its 83 test images, per-image scores compared with the
# independent PyTorch reference (tests/reference_padim.py, committed in
# tests/golden/bottle_resnet18_<preset>_scores.csv): relative difference < 1e-3 each.
# usage: test_bottle_integration.sh PADIM_GPU [anomalib|paper]
# Skipped (exit 77) when ../shared/data/mvtec_ad/bottle is absent.
set -euo pipefail
bin=$1
preset=${2:-anomalib}
src=$(cd "$(dirname "$0")/.." && pwd)
data=${PADIM_SHARED:-$src/../shared}/data/mvtec_ad/bottle
if [ ! -d "$data/train/good" ]; then
  echo "SKIP: MVTec AD bottle not found at $data (read-only data beside the project)" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" fit -q --device cpu --preset "$preset" "$data/train/good" -o "$tmp/bottle.padim"
"$bin" score -q --device cpu "$tmp/bottle.padim" "$data/test" -o "$tmp/out"
/usr/bin/python3 - "$tmp/out/scores.csv" "$src/tests/golden/bottle_resnet18_${preset}_scores.csv" "$data" <<'PY'
import csv, sys
ours = {}
for row in csv.DictReader(open(sys.argv[1])):
    rel = row["path"][len(sys.argv[3]) + 1:]
    ours[rel] = float(row["score"])
ref = {r["path"]: float(r["score"]) for r in csv.DictReader(open(sys.argv[2]))}
assert len(ref) == 83, f"reference has {len(ref)} images, expected 83"
missing = sorted(set(ref) - set(ours))
assert not missing, f"images not scored: {missing[:5]}"
worst = max(ref, key=lambda k: abs(ours[k] - ref[k]) / abs(ref[k]))
rel = abs(ours[worst] - ref[worst]) / abs(ref[worst])
print(f"bottle ({sys.argv[2].split('_')[-2]}): {len(ref)} images, max relative difference {rel:.3g} at {worst} "
      f"(ours {ours[worst]:.7g}, reference {ref[worst]:.7g})")
if rel >= 1e-3:
    sys.exit("FAIL: relative difference >= 1e-3")
PY
