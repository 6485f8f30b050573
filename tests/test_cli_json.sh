#!/usr/bin/env bash
# Every JSON the CLI writes (score's scores.json, eval's metrics.json, info --json, bench
# --json) stays valid JSON and carries paths unchanged when they hold a double quote, a
# backslash and non-ASCII characters: each output is parsed with Python's json module and
# its paths compared with the ones given. Also: `score --batch N` reaches the backend (the
# scorer reports the batch its backend was created for), and without --batch the model's
# batch (the one it was fitted with) is used.
# usage: test_cli_json.sh PADIM_GPU
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*" >&2; fails=$((fails + 1)); }

# Folders and files named with  "  \  and  ü.
sp="$tmp/"'dir"q\ü'
good="$sp/good"
evdir="$sp/"'ev"al\ü'
model="$sp/"'mo"del\ü.padim'
mkdir -p "$good" "$evdir/good" "$evdir/defect" || { echo "cannot create $sp" >&2; exit 1; }
fixture=$src/tests/golden/pipeline/fixture
for i in 0 1 2; do cp "$fixture/train/00$i.png" "$good/"'im"g\ü'"$i.png"; done
cp "$fixture/test/000_good.png" "$fixture/train/004.png" "$evdir/good/"
cp "$fixture/test/001_blot.png" "$fixture/test/002_scratch.png" "$evdir/defect/"

# check NAME FILE|- EXPR ARG...: parse FILE (or stdin) as JSON and assert the Python
# expression EXPR over j (the document) and a (the ARGs, decoded from the file system's
# bytes as UTF-8).
check() {
  local name=$1 file=$2 expr=$3
  shift 3
  if "$py" - "$file" "$expr" "$@" <<'PY'; then echo "ok   $name"; else fail "$name"; fi
import json, os, sys
f, expr, a = sys.argv[1], sys.argv[2], [os.fsencode(x).decode("utf-8") for x in sys.argv[3:]]
raw = sys.stdin.buffer.read() if f == "-" else open(f, "rb").read()
j = json.loads(raw.decode("utf-8"))
if not eval("(" + expr + ")"):
    sys.exit("assertion failed: %s\n  args %r\n  document %s" % (expr, a, json.dumps(j, ensure_ascii=False)[:2000]))
PY
}

if ! "$bin" fit -q --device cpu --resize 64 --batch 2 "$good" -o "$model" >/dev/null 2>"$tmp/fit.err"; then
  echo "FAIL: fit on $good:" >&2; cat "$tmp/fit.err" >&2; exit 1
fi

# info --json: the model path as given, the fitted batch.
"$bin" info --json "$model" >"$tmp/info.json" 2>"$tmp/info.err" || { fail "info --json exit"; cat "$tmp/info.err" >&2; }
check "info --json path" "$tmp/info.json" 'j["model"] == a[0] and j["batch"] == 2 and len(j["idx"]) == 100' "$model"

# score: paths and names round-trip; a file given twice (folder + file) gets a distinct name.
if "$bin" score --device cpu --batch 3 "$model" "$good" "$good/"'im"g\ü0.png' -o "$sp/out" --heatmaps \
     >"$tmp/score.out" 2>"$tmp/score.err"; then
  check "score scores.json paths" "$sp/out/scores.json" '
[e["path"] for e in j["images"]] == a[1:] and
[e["name"] for e in j["images"]] == ["im\"g\\ü0", "im\"g\\ü1", "im\"g\\ü2", "im\"g\\ü0_2"] and
all(e["score"] > 0 for e in j["images"]) and j["model"] == a[0]' \
    "$model" "$good/"'im"g\ü0.png' "$good/"'im"g\ü1.png' "$good/"'im"g\ü2.png' "$good/"'im"g\ü0.png'
  [ -f "$sp/out/heatmaps/"'im"g\ü0_2.png' ] || fail "score heatmap of a special name"
  # --batch reaches the backend: the scorer (whose backend is created for this batch)
  # reports 3, although the model was fitted with 2.
  grep -q "score: 4 images on .*, batch 3$" "$tmp/score.err" || { fail "score --batch 3: no 'batch 3' line"; cat "$tmp/score.err" >&2; }
  check "score --batch in scores.json" "$sp/out/scores.json" 'j["batch"] == 3'
else
  fail "score:"; cat "$tmp/score.err" >&2
fi
"$bin" score --device cpu "$model" "$good" -o "$sp/out2" >/dev/null 2>"$tmp/score2.err"
grep -q "batch 2$" "$tmp/score2.err" || { fail "score without --batch: not the model's batch 2"; cat "$tmp/score2.err" >&2; }

# eval: category and test_dir, output folder with the same characters.
if "$bin" eval -q --device cpu --batch 3 -m "$model" "$evdir" -o "$sp/"'ev"out\ü' --heatmaps >"$tmp/eval.out" 2>&1; then
  check "eval metrics.json paths" "$sp/"'ev"out\ü/metrics.json' '
j["test_dir"] == a[0] and j["category"] == "ev\"al\\ü" and j["counts"]["images"] == 4 and
j["metrics"]["pixel_auroc"] is None and 0 <= j["metrics"]["image_auroc"] <= 1' "$evdir"
else
  fail "eval:"; cat "$tmp/eval.out" >&2
fi

# bench: --images, --config and --json with special paths.
cfg="$sp/"'co"nf\ü.yaml'
printf 'resize: 64\nweights: %s/weights/resnet18_tv_in1k.safetensors\n' "$src" >"$cfg"
if "$bin" bench -q --device cpu --count 3 --batches 1,2 --images "$good" --config "$cfg" --json "$sp/"'be"nch\ü.json' \
     >"$tmp/bench.out" 2>&1; then
  check "bench JSON paths" "$sp/"'be"nch\ü.json' '
j["settings"]["source"] == a[0] and j["settings"]["input_size"] == 64 and j["settings"]["images"] == 3 and
[s["batch"] for s in j["score"]] == [1, 2]' "$good"
else
  fail "bench:"; cat "$tmp/bench.out" >&2
fi

if [ $fails -gt 0 ]; then echo "$fails failure(s)" >&2; exit 1; fi
echo "all CLI JSON checks passed"
