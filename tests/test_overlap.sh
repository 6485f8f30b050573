#!/usr/bin/env bash
# Decoding overlapped with the backend (src/host/batch_pipe.c) changes no number: fit,
# score and eval over several batches give the same model, scores and metrics with the
# decode thread (default) and without it (PADIM_OVERLAP=0), for each CPU backbone; and an
# error in the decode thread (a truncated file in a later batch) stops the run with the
# file's name, as without it.
#   test_overlap.sh PADIM_GPU
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
fix=$src/tests/golden/pipeline/fixture
mkdir -p "$tmp/train" "$tmp/bad"
i=0
for f in "$fix"/train/*.png "$fix"/test/*.png; do cp "$f" "$tmp/train/$(printf %02d $i).png"; i=$((i + 1)); done
cp "$tmp"/train/*.png "$tmp/bad/"
mkdir -p "$tmp/cat/test/good" "$tmp/cat/test/defect" # an MVTec AD layout without masks
cp "$fix"/train/*.png "$fix/test/000_good.png" "$tmp/cat/test/good/"
cp "$fix/test/001_blot.png" "$fix/test/002_scratch.png" "$tmp/cat/test/defect/"
head -c 80 "$fix/test/000_good.png" > "$tmp/bad/zz_truncated.png" # last: in a later batch
common=(--device cpu --resize 64 --batch 2 -q)
for impl in dnnl wino gemm; do
  for ov in 1 0; do
    d=$tmp/$impl-$ov; mkdir -p "$d"
    export PADIM_CPU_BACKBONE=$impl PADIM_OVERLAP=$ov
    "$bin" fit "${common[@]}" "$tmp/train" -o "$d/m.padim" >/dev/null 2>"$d/fit.err" || { fail "$impl overlap=$ov fit"; cat "$d/fit.err" >&2; continue; }
    "$bin" score --device cpu --batch 1 -q "$d/m.padim" "$tmp/train" >"$d/scores.csv" 2>"$d/score.err" ||
      { fail "$impl overlap=$ov score"; cat "$d/score.err" >&2; }
    "$bin" eval --device cpu --batch 3 -q -m "$d/m.padim" "$tmp/cat" -o "$d/ev" >/dev/null 2>"$d/eval.err" ||
      { fail "$impl overlap=$ov eval"; cat "$d/eval.err" >&2; }
    if "$bin" score --device cpu --batch 2 -q "$d/m.padim" "$tmp/bad" >/dev/null 2>"$d/bad.err"; then
      fail "$impl overlap=$ov: a truncated file in the last batch was scored"
    else
      grep -q "zz_truncated.png" "$d/bad.err" || { fail "$impl overlap=$ov: the error does not name the file"; cat "$d/bad.err" >&2; }
    fi
  done
  unset PADIM_CPU_BACKBONE PADIM_OVERLAP
  a=$tmp/$impl-1 b=$tmp/$impl-0
  [ -f "$a/scores.csv" ] && cmp -s "$a/scores.csv" "$b/scores.csv" || fail "$impl: scores differ with and without the decode thread"
  cmp -s "$a/m.padim" "$b/m.padim" || fail "$impl: fitted models differ with and without the decode thread"
  [ -f "$a/ev/metrics.json" ] || fail "$impl: eval wrote no metrics.json"
  python3 - "$a/ev/metrics.json" "$b/ev/metrics.json" <<'PY' || fail "$impl: eval metrics differ with and without the decode thread"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if a["metrics"] == b["metrics"] and a["metrics"]["image_auroc"] is not None else 1)
PY
  echo "ok   $impl: fit (5 batches), score (9 batches), eval (3 batches): identical with and without the decode thread"
done
[ $fails -eq 0 ] && echo "test_overlap: all checks passed"
exit $((fails > 0))
