#!/usr/bin/env bash
# Pipeline parity on real data (issue 4): `padim-gpu eval` on MVTec AD bottle with
# --device cuda and with --device cpu, fp32: per-image scores within 1e-4 relative and the
# same image / pixel AUROC to 3 decimals. Skipped (exit 77) without a usable GPU or the data.
set -euo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
data=${PADIM_SHARED:-$src/../shared}/data/mvtec_ad/bottle
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
for dev in cpu cuda; do
  "$bin" eval -q --device "$dev" --precision fp32 "$data" -o "$tmp/$dev" > "$tmp/$dev.log"
  cat "$tmp/$dev.log"
done
/usr/bin/python3 - "$tmp/cpu" "$tmp/cuda" <<'PY'
import csv, json, sys
cpu, gpu = sys.argv[1], sys.argv[2]
a = {r["path"]: float(r["score"]) for r in csv.DictReader(open(cpu + "/scores.csv"))}
b = {r["path"]: float(r["score"]) for r in csv.DictReader(open(gpu + "/scores.csv"))}
assert a.keys() == b.keys() and len(a) == 83, "different image sets"
worst = max(a, key=lambda k: abs(a[k] - b[k]) / abs(a[k]))
rel = abs(a[worst] - b[worst]) / abs(a[worst])
print(f"max relative score difference cuda vs cpu: {rel:.3g} at {worst}")
ma, mb = (json.load(open(d + "/metrics.json"))["metrics"] for d in (cpu, gpu))
fails = []
if rel >= 1e-4:
    fails.append(f"score difference {rel:.3g} >= 1e-4")
for k in ("image_auroc", "pixel_auroc"):
    if round(ma[k], 3) != round(mb[k], 3):
        fails.append(f"{k}: cpu {ma[k]} vs cuda {mb[k]}")
if fails:
    sys.exit("FAIL: " + "; ".join(fails))
print("parity ok:", {k: (ma[k], mb[k]) for k in ("image_auroc", "pixel_auroc")})
PY
