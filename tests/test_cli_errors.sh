#!/usr/bin/env bash
# Bad inputs through the command line: each must exit non-zero, print a message on stderr
# that names the culprit, and leave no output (nor temporary) file behind.
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect_error NAME PATTERN CMD...: non-zero exit and PATTERN (grep -E) in stderr.
expect_error() {
  local name=$1 pattern=$2
  shift 2
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "FAIL $name: exit 0, expected an error" >&2; fails=$((fails + 1)); return
  fi
  if ! grep -qE -- "$pattern" "$tmp/stderr"; then
    echo "FAIL $name: stderr does not match '$pattern':" >&2; cat "$tmp/stderr" >&2; fails=$((fails + 1)); return
  fi
  echo "ok   $name (exit $rc): $(head -c 300 "$tmp/stderr" | head -n 1)"
}
# expect_absent NAME PATH...: nothing written.
expect_absent() {
  local name=$1; shift
  for p in "$@"; do
    if [ -e "$p" ]; then echo "FAIL $name: $p was written" >&2; fails=$((fails + 1)); fi
  done
  if ls "$tmp"/out* "$tmp"/*.tmp.* 2>/dev/null | grep >/dev/null tmp; then
    echo "FAIL $name: temporary file left behind" >&2; fails=$((fails + 1))
  fi
}

# Small valid images: 3 synthetic PNGs from the committed pipeline fixture.
mkdir -p "$tmp/good" "$tmp/empty" "$tmp/bad" "$tmp/one"
fixture=$(ls "$src"/tests/golden/pipeline/fixture/train/*.png | head -3)
cp $fixture "$tmp/good/"
cp "$(echo "$fixture" | head -1)" "$tmp/one/"
cp $fixture "$tmp/bad/"
head -c 60 "$(echo "$fixture" | head -1)" > "$tmp/bad/zz_truncated.png"
fast=(--device cpu --resize 64 --batch 2 -q)

expect_error "empty folder" "empty.*no images found" "$bin" fit "${fast[@]}" "$tmp/empty" -o "$tmp/out1.padim"
expect_absent "empty folder" "$tmp/out1.padim"
expect_error "truncated PNG" "zz_truncated.png" "$bin" fit "${fast[@]}" "$tmp/bad" -o "$tmp/out2.padim"
expect_absent "truncated PNG" "$tmp/out2.padim"
expect_error "one training image" "at least 2 training images" "$bin" fit "${fast[@]}" "$tmp/one" -o "$tmp/out3.padim"
expect_absent "one training image" "$tmp/out3.padim"
expect_error "unknown backbone" "unknown backbone 'resnet19'" "$bin" fit --backbone resnet19 "$tmp/good" -o "$tmp/out4.padim"
expect_absent "unknown backbone" "$tmp/out4.padim"
expect_error "missing weights" "nonexistent.safetensors" "$bin" fit "${fast[@]}" --weights "$tmp/nonexistent.safetensors" "$tmp/good" -o "$tmp/out5.padim"
expect_absent "missing weights" "$tmp/out5.padim"
expect_error "bad config value" "resize" "$bin" fit "${fast[@]}" --resize 70 "$tmp/good" -o "$tmp/out6.padim"
printf 'backbone: resnet18\nbatchsize: 3\n' > "$tmp/bad.yaml"
expect_error "unknown config key" "bad.yaml.*unknown key 'batchsize'" "$bin" fit --config "$tmp/bad.yaml" "$tmp/good" -o "$tmp/out7.padim"
expect_error "output folder missing" "nodir" "$bin" fit "${fast[@]}" "$tmp/good" -o "$tmp/nodir/m.padim"
expect_absent "output folder missing" "$tmp/nodir"
# CPU precisions: fp16/tf32 are CUDA's; bf16 needs bf16 dot products (AVX512-BF16 / AMX) and
# oneDNN, else a clear refusal that names what is missing.
expect_error "fp16 on the CPU" "fp16 applies to the CUDA backbone only" "$bin" fit "${fast[@]}" --precision fp16 "$tmp/good" -o "$tmp/out8.padim"
expect_absent "fp16 on the CPU" "$tmp/out8.padim"
if grep -qwE "avx512_bf16|amx_bf16" /proc/cpuinfo && [ "$("$bin" --version | grep -c oneDNN)" -gt 0 ]; then
  if "$bin" fit "${fast[@]}" --precision bf16 "$tmp/good" -o "$tmp/bf16.padim" >/dev/null 2>"$tmp/bf16.err"; then
    echo "ok   bf16 on a CPU with bf16 dot products: fitted"
  else
    echo "FAIL bf16 fit on a bf16 CPU:" >&2; cat "$tmp/bf16.err" >&2; fails=$((fails + 1))
  fi
else
  expect_error "bf16 on a CPU without it" "bf16.*(AVX512-BF16 or AMX|oneDNN)" "$bin" fit "${fast[@]}" --precision bf16 "$tmp/good" -o "$tmp/out8.padim"
  expect_absent "bf16 on a CPU without it" "$tmp/out8.padim"
fi

# A valid small model, then broken copies of it.
if ! "$bin" fit "${fast[@]}" "$tmp/good" -o "$tmp/model.padim" >/dev/null 2>"$tmp/fit.err"; then
  echo "FAIL: fitting the small valid model failed:" >&2; cat "$tmp/fit.err" >&2; exit 1
fi
head -c 5000000 "$tmp/model.padim" > "$tmp/truncated.padim"
expect_error "truncated model" "truncated.padim.*truncated" "$bin" score "$tmp/truncated.padim" "$tmp/good" -o "$tmp/out8"
expect_absent "truncated model" "$tmp/out8"
expect_error "weights file as model" "resnet18_tv_in1k.safetensors" "$bin" info "$src/weights/resnet18_tv_in1k.safetensors"
head -c 1000 /dev/urandom > "$tmp/random.padim"
expect_error "random bytes as model" "random.padim" "$bin" info "$tmp/random.padim"
expect_error "missing model" "nothere.padim" "$bin" score "$tmp/nothere.padim" "$tmp/good"
expect_error "corrupt image at score" "zz_truncated.png" "$bin" score --device cpu -q "$tmp/model.padim" "$tmp/bad" -o "$tmp/out9"
[ -e "$tmp/out9/scores.csv" ] && { echo "FAIL corrupt image at score: scores.csv written" >&2; fails=$((fails + 1)); }
# --keep-going: the corrupt image gets a row with its error, the others are scored, exit 3.
"$bin" score --device cpu -q --keep-going "$tmp/model.padim" "$tmp/bad" "$tmp/good" -o "$tmp/kg" >/dev/null 2>"$tmp/kg.err"
kg_rc=$?
if [ $kg_rc -ne 3 ] || ! grep -q "zz_truncated.png" "$tmp/kg.err"; then
  echo "FAIL keep-going: exit $kg_rc (expected 3):" >&2; cat "$tmp/kg.err" >&2; fails=$((fails + 1))
elif /usr/bin/python3 - "$tmp/kg" "$tmp/bad" "$tmp/good" <<'PY'
import csv, json, os, sys
out, bad, good = sys.argv[1:4]
rows = list(csv.DictReader(open(os.path.join(out, "scores.csv"))))
n_in = len(os.listdir(bad)) + len(os.listdir(good))
assert len(rows) == n_in, (len(rows), n_in)
failed = [r for r in rows if r["error"]]
assert len(failed) == 1 and failed[0]["path"].endswith("zz_truncated.png") and failed[0]["score"] == ""
assert "zz_truncated.png" in failed[0]["error"], failed[0]
assert all(float(r["score"]) > 0 for r in rows if not r["error"])
js = json.load(open(os.path.join(out, "scores.json")))
bad_js = [e for e in js["images"] if "error" in e]
assert len(bad_js) == 1 and bad_js[0]["score"] is None and "zz_truncated.png" in bad_js[0]["error"]
PY
then
  echo "ok   keep-going (exit 3, the corrupt image's row names its error)"
else
  fails=$((fails + 1))
fi
expect_error "unknown command" "unknown command" "$bin" frobnicate
expect_error "bad device" "--device expects" "$bin" score --device tpu "$tmp/model.padim" "$tmp/good"
# Numbers go through one checked parser: the option, the range and the bad value named.
expect_error "bad batch" "--batch expects an integer in \[1, 4096\], got '0'" "$bin" score --batch 0 "$tmp/model.padim" "$tmp/good"
expect_error "bad threads" "--threads expects an integer in \[1, 1024\], got 'two'" "$bin" bench --threads two
expect_error "bad count" "--count expects an integer in \[2, 1048576\], got '1x'" "$bin" bench --count 1x
expect_error "bad eps" "--eps expects a number in \[0, 1e\+06\], got 'small'" "$bin" fit --eps small "$tmp/good" -o "$tmp/out11.padim"
expect_error "unknown option" "unknown option '--frob'" "$bin" eval --frob "$tmp/evalset"
expect_error "missing value" "option '--batch' needs a value" "$bin" fit "$tmp/good" --batch
expect_absent "bad numbers" "$tmp/out11.padim"
# Output names never collide: the same file name from two folders gets a suffix.
mkdir -p "$tmp/da" "$tmp/db"
cp "$(echo "$fixture" | head -1)" "$tmp/da/x.png"; cp "$(echo "$fixture" | head -1)" "$tmp/db/x.png"
if "$bin" score -q --device cpu "$tmp/model.padim" "$tmp/da/x.png" "$tmp/db/x.png" -o "$tmp/dup" --maps >/dev/null 2>&1 &&
   [ -f "$tmp/dup/maps/x.tiff" ] && [ -f "$tmp/dup/maps/x_2.tiff" ]; then
  echo "ok   distinct output names"
else
  echo "FAIL: colliding output names" >&2; fails=$((fails + 1))
fi
# info --json: the stored channel indices are REFERENCE.md's for seed 42 (R18).
"$bin" info --json "$tmp/model.padim" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["idx"][:12] == [327, 57, 12, 379, 140, 125, 114, 71, 377, 52, 346, 444], j["idx"][:12]
assert len(j["idx"]) == 100 and j["seed"] == 42 and j["n_train"] == 3 and j["thresholds"] is None
' || { echo "FAIL info --json" >&2; fails=$((fails + 1)); }
if ! "$bin" info "$tmp/model.padim" | grep >/dev/null "trained on:     3 images"; then
  echo "FAIL: info of the valid model" >&2; fails=$((fails + 1))
fi
# eval on a generic-layout folder without masks, thresholds into the model, then score
# reports label + normalized, and --masks needs thresholds.
mkdir -p "$tmp/evalset/good" "$tmp/evalset/defect"
cp "$src"/tests/golden/pipeline/fixture/test/000_good.png "$src"/tests/golden/pipeline/fixture/train/00[45]*.png "$tmp/evalset/good/" 2>/dev/null
cp "$src"/tests/golden/pipeline/fixture/test/00[12]_*.png "$tmp/evalset/defect/"
expect_error "masks without thresholds" "no pixel threshold" "$bin" score -q "$tmp/model.padim" "$tmp/good" -o "$tmp/out10" --masks
if "$bin" eval -q --device cpu -m "$tmp/model.padim" --save-thresholds "$tmp/evalset" -o "$tmp/ev" >"$tmp/ev.out" 2>&1; then
  grep -q "pixel metrics unavailable" "$tmp/ev.out" || { echo "FAIL eval: pixel metrics should be unavailable without masks" >&2; fails=$((fails + 1)); }
  /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))["metrics"]
assert m["pixel_auroc"] is None and m["pixel_f1"] is None and m["aupro_0.3"] is None, m
assert 0 <= m["image_auroc"] <= 1, m
' "$tmp/ev/metrics.json" || { echo "FAIL eval: pixel_auroc should be null" >&2; fails=$((fails + 1)); }
  "$bin" info "$tmp/model.padim" | grep >/dev/null "thresholds:     image" || { echo "FAIL eval: thresholds not saved" >&2; fails=$((fails + 1)); }
  "$bin" score -q "$tmp/model.padim" "$tmp/evalset" > "$tmp/evalset.csv" && head -1 "$tmp/evalset.csv" | grep >/dev/null "path,score,label,normalized" || {
    echo "FAIL score: no label/normalized columns after --save-thresholds" >&2; fails=$((fails + 1)); }
  echo "ok   eval --save-thresholds + score labels"
else
  echo "FAIL eval on a generic layout:" >&2; cat "$tmp/ev.out" >&2; fails=$((fails + 1))
fi

# The demo (synthetic MVTec-layout data), then eval --root over it plus a missing category:
# per-category outputs, a summary with the mean, exit 1 for the missing one.
if "$bin" demo -o "$tmp/demo" >"$tmp/demo.out" 2>&1; then
  grep -q "image AUROC 1.000" "$tmp/demo.out" || { echo "FAIL demo: defects not separated" >&2; cat "$tmp/demo.out" >&2; fails=$((fails + 1)); }
  mkdir -p "$tmp/root" && ln -s "$tmp/demo/data" "$tmp/root/fabric"
  "$bin" eval -q --device cpu --resize 64 --root "$tmp/root" --categories fabric,missing -o "$tmp/rootout" >"$tmp/root.out" 2>&1
  rc=$?
  if [ $rc -ne 1 ] || ! grep -q "| fabric | 12 |" "$tmp/rootout/summary.md" || ! grep -q "| missing | failed or not found" "$tmp/rootout/summary.md" \
     || [ ! -f "$tmp/rootout/fabric/metrics.json" ]; then
    echo "FAIL eval --root (exit $rc):" >&2; cat "$tmp/root.out" >&2; fails=$((fails + 1))
  else
    echo "ok   demo + eval --root"
  fi
else
  echo "FAIL demo:" >&2; cat "$tmp/demo.out" >&2; fails=$((fails + 1))
fi

# bench: a tiny run writes a JSON with every documented field.
if "$bin" bench -q --device cpu --count 3 --size 64 --batches 1,2 --json "$tmp/bench.json" >"$tmp/bench.out" 2>&1; then
  /usr/bin/python3 - "$tmp/bench.json" <<'PY' || { echo "FAIL bench JSON" >&2; fails=$((fails + 1)); }
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("date", "commit", "machine", "backend", "settings", "fit", "score", "latency_ms", "peak_host_mb"):
    assert k in j, k
assert [s["batch"] for s in j["score"]] == [1, 2]
assert j["fit"]["images_per_s"] > 0 and j["latency_ms"]["p50"] > 0
for s in j["score"]:
    assert s["images_per_s"] > 0 and s["stages_s"]["backbone"] > 0
PY
  echo "ok   bench JSON"
else
  echo "FAIL bench:" >&2; cat "$tmp/bench.out" >&2; fails=$((fails + 1))
fi

for cmd in fit score calibrate eval info bench demo; do
  "$bin" $cmd --help >/dev/null || { echo "FAIL: $cmd --help" >&2; fails=$((fails + 1)); }
done
if [ $fails -gt 0 ]; then echo "$fails failure(s)" >&2; exit 1; fi
echo "all CLI error checks passed"
