#!/usr/bin/env bash
# tests/fuzz/run.sh - build and run the libFuzzer targets of tests/fuzz/ (README "Tests").
#
#   run.sh build    DIR                 configure DIR with clang and -DPADIM_FUZZ=ON, build
#                                       the targets, make the seed corpora (make_corpus.py)
#   run.sh smoke    DIR TARGET [SECS]   replay tests/fuzz/regressions/TARGET/*, then fuzz
#                                       SECS seconds (default 12) from the seeds
#   run.sh campaign DIR TARGET SECS     a long run into DIR/campaign/TARGET (corpus kept
#                                       between runs), log in DIR/campaign/TARGET.log; in
#                                       libFuzzer's fork mode, so that a time-out does not
#                                       end it: on a loaded machine the 2 s wall-clock limit
#                                       also catches inputs that were merely descheduled.
#                                       Each time-out input is then replayed alone and
#                                       reported as confirmed (over 2 s again) or not.
#
# Exit 77 (ctest skip) when clang or libFuzzer's runtime is missing (Debian: clang,
# libclang-rt-dev, libomp-dev; tools/setup.sh test installs them) or when `build` has
# not run. Every run uses the limits of the issue: a 2 s time-out per input, 2 GB RSS,
# and no single allocation above MALLOC_LIMIT_MB (the image target lowers the pixel
# limit so that its largest legitimate allocation is ~100 MB). A crash, a time-out or an
# oversized allocation makes the run fail; libFuzzer leaves the input as
# DIR/artifacts/TARGET/crash-* (copy it to tests/fuzz/regressions/TARGET/ once fixed).
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: run.sh build|smoke|campaign DIR [TARGET] [SECS]}
dir=${2:?fuzz build folder}
MALLOC_LIMIT_MB=${MALLOC_LIMIT_MB:-256}
limits=(-timeout=2 -rss_limit_mb=2048 -malloc_limit_mb="$MALLOC_LIMIT_MB" -max_len=65536)
targets=(fuzz_image fuzz_safetensors fuzz_model fuzz_config fuzz_dataset)

have_libfuzzer() {
  command -v clang >/dev/null 2>&1 || { echo "fuzz: clang not found: skipped" >&2; return 1; }
  local t; t=$(mktemp -d)
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' > "$t/f.c"
  if ! clang -fsanitize=fuzzer,address,undefined "$t/f.c" -o "$t/f" 2>"$t/err"; then
    echo "fuzz: clang cannot link libFuzzer (install libclang-rt-dev): skipped" >&2; cat "$t/err" >&2
    rm -rf "$t"; return 1
  fi
  rm -rf "$t"
}

case "$mode" in
build)
  have_libfuzzer || exit 77
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPADIM_CUDA=OFF -DPADIM_FUZZ=ON >/dev/null || exit 1
  cmake --build "$dir" --target "${targets[@]}" -j "$(nproc)" || exit 1
  py=${PADIM_PYTHON:-/usr/bin/python3}; [ -x "$py" ] || py=python3
  "$py" "$src/tests/fuzz/make_corpus.py" "$dir/seeds" || exit 1
  ;;
smoke | campaign)
  target=${3:?target}
  secs=${4:-12}
  [ -x "$dir/$target" ] || { echo "fuzz: $dir/$target not built (fuzz_build skipped?): skipped" >&2; exit 77; }
  mkdir -p "$dir/artifacts/$target"
  regress=("$src/tests/fuzz/regressions/$target"/*)
  if [ -e "${regress[0]}" ]; then
    echo "fuzz: $target: replaying ${#regress[@]} regression input(s)"
    "$dir/$target" "${limits[@]}" -artifact_prefix="$dir/artifacts/$target/" "${regress[@]}" 2>&1 | tail -n 3
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "FAIL fuzz: $target: a regression input fails again" >&2; exit 1; }
  fi
  if [ "$mode" = smoke ]; then
    corpus=$(mktemp -d)   # the seeds are read, never written: each smoke run starts from them
    trap 'rm -rf "$corpus"' EXIT
    log=/dev/stdout
  else
    corpus="$dir/campaign/$target"
    mkdir -p "$corpus"
    log="$dir/campaign/$target.log"
  fi
  echo "fuzz: $target: ${secs}s from $dir/seeds/$target ($mode)"
  extra=(-print_final_stats=1)
  [ "$mode" = campaign ] && extra=(-fork=1 -ignore_timeouts=1 -ignore_ooms=0 -ignore_crashes=0)
  "$dir/$target" "${limits[@]}" -max_total_time="$secs" "${extra[@]}" \
      -artifact_prefix="$dir/artifacts/$target/" "$corpus" "$dir/seeds/$target" >"$log" 2>&1
  rc=$?
  if [ "$mode" = campaign ]; then
    grep -E "^#[0-9]+: " "$log" | tail -n 1
    for t in "$dir/artifacts/$target"/timeout-*; do
      [ -e "$t" ] || continue
      start=$(date +%s%N)
      if "$dir/$target" -timeout=2 "$t" >/dev/null 2>&1; then verdict="not confirmed (a loaded machine)"
      else verdict="CONFIRMED"; rc=1; fi
      echo "fuzz: $target: time-out input $(basename "$t"): replayed alone in $((($(date +%s%N) - start) / 1000000)) ms: $verdict"
    done
  fi
  if [ "$rc" -ne 0 ]; then
    [ "$mode" = smoke ] || grep -E "ERROR|SUMMARY|timeout|malloc" "$log" | head -n 5
    echo "FAIL fuzz: $target exit $rc; inputs in $dir/artifacts/$target/" >&2
    exit 1
  fi
  ;;
*)
  echo "usage: run.sh build|smoke|campaign DIR [TARGET] [SECS]" >&2; exit 2 ;;
esac
