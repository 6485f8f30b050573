#!/usr/bin/env bash
# test_fault_writers.sh BIN INJECT_SO - every writer of the command line under disk faults
# and SIGKILL (README "Tests"). tests/fault/inject.c (LD_PRELOAD) makes the k-th call of
# one class of file operations fail (ENOSPC or EIO); for each command below it is run
# once clean (counting the calls of each class), then once per fault, for k = 1..N of the
# classes open (creating a file), write, fsync and rename (all k when N <= 24, else the
# first 8, the last 8 and 8 spread between). Every faulted run must
#   - exit non-zero with a message on stderr that names an output path and the errno text;
#   - leave no temporary (.<name>.padim-tmp.<pid>.<n>, or any *.tmp.*) anywhere;
#   - leave no partial output: each output present is complete, i.e. byte-identical to the
#     clean run's (or, for JSON and the timing table row.md, parses / ends as written);
#   - keep an existing model at the target path byte-identical, unless its own complete
#     replacement already happened before the fault (it is then the clean run's model).
# Then SIGKILL during a model save (mid-write, and with the temporary complete just before
# rename): the old model stays byte-identical, and the next save of the same target
# removes the dead writer's temporary.
# Commands: fit (model), eval --heatmaps --save-thresholds (metrics.json, row.md,
# scores.csv, heatmaps, model rewrite), score --maps --heatmaps --masks (scores.csv,
# scores.json, TIFF maps via libtiff's own write(), PNG heatmaps and masks), bench --json.
set -uo pipefail
bin=$1
inject=$2
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$inject" ] || { echo "fault: injector $inject not built: skipped" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
runs=0
py=/usr/bin/python3
fail() { echo "FAIL $*" >&2; fails=$((fails + 1)); }

# ---- inputs: 3 training images, an MVTec-like category (no masks), configs
fx="$src/tests/golden/pipeline/fixture"
mkdir -p "$tmp/in/good" "$tmp/in/cat/train/good" "$tmp/in/cat/test/good" "$tmp/in/cat/test/blot"
cp "$fx"/train/00[0-2].png "$tmp/in/good/"
cp "$fx"/train/00[0-2].png "$tmp/in/cat/train/good/"
cp "$fx"/test/000_good.png "$tmp/in/cat/test/good/"
cp "$fx"/test/001_blot.png "$fx"/test/002_scratch.png "$tmp/in/cat/test/blot/"
printf 'resize: 64\nbatch: 2\n' > "$tmp/in/bench.yaml"
fast=(--device cpu --threads 1 --resize 64 --batch 2 -q)
"$bin" fit "${fast[@]}" --seed 7 "$tmp/in/good" -o "$tmp/in/old.padim" >/dev/null 2>&1 || { echo "setup fit failed" >&2; exit 1; }
"$bin" fit "${fast[@]}" "$tmp/in/good" -o "$tmp/in/thr.padim" >/dev/null 2>&1 &&
  "$bin" eval -q --device cpu --threads 1 -m "$tmp/in/thr.padim" "$tmp/in/cat" --save-thresholds >/dev/null 2>&1 ||
  { echo "setup eval failed" >&2; exit 1; }

# Each scenario: a name, the model its work folder starts with (or -), the command (WORK
# stands for the work folder).
scenario_names=(fit eval score bench)
scenario_model=(old.padim old.padim thr.padim -)
scenario_cmd=(
  "fit ${fast[*]} $tmp/in/good -o WORK/m.padim"
  "eval -q --device cpu --threads 1 -m WORK/m.padim $tmp/in/cat -o WORK/out --heatmaps --save-thresholds"
  "score -q --device cpu --threads 1 WORK/m.padim $tmp/in/cat/test -o WORK/out --maps --heatmaps --masks"
  "bench -q --device cpu --threads 1 --config $tmp/in/bench.yaml --weights random --count 2 --size 64 --batches 1 --json WORK/bench.json"
)

# prepare DIR MODEL: a fresh work folder holding the starting model as m.padim
prepare() {
  rm -rf "$1"; mkdir -p "$1"
  [ "$2" = - ] || cp "$tmp/in/$2" "$1/m.padim"
}

run_cmd() { # run_cmd WORK CMD [ENV...]: stdout, stderr into WORK.{out,err}; returns the exit code
  local work=$1 cmd=$2; shift 2
  local -a argv
  read -r -a argv <<< "${cmd//WORK/$work}"
  env "$@" LD_PRELOAD="$inject" "$bin" "${argv[@]}" >"$work.out" 2>"$work.err"
}

# complete FILE REF: FILE is a complete output (identical to REF, or a JSON / table that
# parses or ends as our writers end it: timings differ from run to run)
complete() {
  case "$1" in
    *.json)
      if [ -x "$py" ]; then "$py" -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null
      else [ "$(tail -c 2 "$1" | head -c 1)" = "}" ]; fi ;;
    *.md) [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] ;;
    *.html) tail -c 16 "$1" | grep >/dev/null '</html>' ;; # holds timings: complete, not identical
    *) cmp -s "$1" "$2" ;;
  esac
}

for i in "${!scenario_names[@]}"; do
  name=${scenario_names[$i]}
  cmd=${scenario_cmd[$i]}
  model=${scenario_model[$i]}
  ref="$tmp/ref_$name"
  prepare "$ref" "$model"
  rm -f "$tmp/count"
  if ! run_cmd "$ref" "$cmd" PADIM_FAULT_COUNT="$tmp/count"; then
    echo "FAIL $name: the clean run failed:" >&2; cat "$ref.err" >&2; exit 1
  fi
  read -r _ n_open _ n_write _ n_fsync _ n_rename _ _ < "$tmp/count"
  echo "$name: clean run: open $n_open, write $n_write, fsync $n_fsync, rename $n_rename calls"
  for cls in open write fsync rename; do
    eval "n=\$n_$cls"
    if [ "$n" -le 24 ]; then ks=$(seq 1 "$n")
    else ks=$( (seq 1 8; seq $((n - 7)) "$n"; for j in $(seq 1 8); do echo $((8 + j * (n - 16) / 9)); done) | sort -nu)
    fi
    for k in $ks; do
      err=ENOSPC; [ $((k % 2)) -eq 0 ] && err=EIO
      work="$tmp/w_${name}_${cls}_$k"
      prepare "$work" "$model"
      run_cmd "$work" "$cmd" PADIM_FAULT="$cls:$k:$err"
      rc=$?
      runs=$((runs + 1))
      what="$name $cls:$k:$err"
      if [ $rc -eq 0 ]; then fail "$what: exit 0 (the fault was ignored)"; continue; fi
      if ! grep -qE "(No space left on device|Input/output error)" "$work.err" || ! grep -qF "$work" "$work.err"; then
        fail "$what: unclear error (wants the errno text and an output path):"; cat "$work.err" >&2
      fi
      left=$(find "$work" -name '.*padim-tmp*' -o -name '*.tmp.*')
      [ -z "$left" ] || fail "$what: temporary left: $left"
      while IFS= read -r f; do
        rel=${f#"$work"/}
        if [ "$rel" = m.padim ]; then
          cmp -s "$f" "$tmp/in/$model" || cmp -s "$f" "$ref/m.padim" || fail "$what: m.padim is neither the old model nor the new one"
        elif [ ! -e "$ref/$rel" ]; then fail "$what: unexpected output $rel"
        elif ! complete "$f" "$ref/$rel"; then fail "$what: partial output $rel"
        fi
      done < <(find "$work" -type f)
      # fit writes nothing but the model: a failed fit is a failed save of it
      if [ "$name" = fit ] && ! cmp -s "$work/m.padim" "$tmp/in/$model"; then
        fail "$what: the existing model changed although its save failed"
      fi
      [ $fails -eq 0 ] && rm -rf "$work" "$work.out" "$work.err"
    done
  done
  echo "$name: faulted runs so far $runs, failures $fails"
done

# ---- SIGKILL during a save: the old model survives, the next save cleans up
kill_test() { # kill_test FAULT
  local fault=$1 work="$tmp/kill_${1//[:=]/_}"
  prepare "$work" old.padim
  env PADIM_FAULT="$fault" LD_PRELOAD="$inject" "$bin" fit --device cpu --threads 1 -q "$tmp/in/good" -o "$work/m.padim" \
    >"$work.out" 2>"$work.err" &
  local pid=$! t=0 tmpf=""
  while [ $t -lt 600 ]; do # up to 60 s for the fit to reach the stalled call
    tmpf=$(find "$work" -name ".m.padim.padim-tmp.$pid.*" -size +0 2>/dev/null | head -n 1)
    [ -n "$tmpf" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1; t=$((t + 1))
  done
  sleep 1 # inside the stalled call now (the temporary stops growing)
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if [ -z "$tmpf" ] || [ ! -e "$tmpf" ]; then fail "SIGKILL $fault: the save never reached the temporary:"; cat "$work.err" >&2; return; fi
  cmp -s "$work/m.padim" "$tmp/in/old.padim" || fail "SIGKILL $fault: the old model changed"
  echo "SIGKILL $fault: old model intact, leftover $(basename "$tmpf") ($(stat -c %s "$tmpf") bytes)"
  if ! "$bin" fit --device cpu --threads 1 -q "$tmp/in/good" -o "$work/m.padim" >/dev/null 2>"$work.err"; then
    fail "SIGKILL $fault: the next save failed:"; cat "$work.err" >&2; return
  fi
  [ -e "$tmpf" ] && fail "SIGKILL $fault: the next save left the dead writer's temporary $tmpf"
  "$bin" info "$work/m.padim" >/dev/null 2>&1 || fail "SIGKILL $fault: the new model does not load"
  cmp -s "$work/m.padim" "$tmp/in/old.padim" && fail "SIGKILL $fault: the model was not replaced"
  left=$(find "$work" -name '.*padim-tmp*')
  [ -z "$left" ] || fail "SIGKILL $fault: temporaries left: $left"
}
kill_test write:12:sleep=120   # mid-write: a partial temporary
kill_test rename:1:sleep=120   # complete temporary, killed before the rename

echo "fault_writers: $runs faulted runs, $fails failure(s)"
[ $fails -eq 0 ]
