#!/usr/bin/env bash
# gpu_check.sh - everything a session with a GPU should run, in one call, from the
# repository root:  bash benchmarks/gpu_check.sh [build-dir]
# Configures and builds for the card (CMAKE_CUDA_ARCHITECTURES from nvidia-smi, else 90),
# runs ctest, the CUDA op tests under compute-sanitizer memcheck and racecheck, the CUDA
# workbenches (and `padim-gpu bench --device cuda` when the CLI has it), keeps going after
# failures, and prints a summary table last. Outputs (logs, JSON) go to <build>/gpu_check/.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build-gpu}
OUT=$BUILD/gpu_check
mkdir -p "$OUT"
declare -a NAMES STATUS SECS

step() { # step <name> <command...>: run, log to $OUT/<name>.log, record status and time
    local name=$1
    shift
    local t0=$SECONDS
    echo "=== $name: $*"
    "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    NAMES+=("$name")
    SECS+=($((SECONDS - t0)))
    case $rc in
    0) STATUS+=("ok") ;;
    77) STATUS+=("skipped") ;;
    *) STATUS+=("FAILED ($rc)") ;;
    esac
}

ARCH=90
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$OUT/card.txt" 2>&1
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
    [[ $cc =~ ^[0-9]+$ ]] && ARCH=$cc
fi
echo "card: $(cat "$OUT/card.txt" 2>/dev/null) | arch $ARCH | commit $(git rev-parse --short HEAD 2>/dev/null) | $(date -u +%F)"
JOBS=$(nproc 2>/dev/null || echo 4)

step configure cmake -S . -B "$BUILD" -G Ninja -DPADIM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DCMAKE_BUILD_TYPE=Release
step build cmake --build "$BUILD" -j "$JOBS"
step ctest ctest --test-dir "$BUILD" --output-on-failure -j 4
step test_cuda_ops "$BUILD/test_cuda_ops"
# PADIM_CUDA_REPORT=1: one line per convolution (fused or split, and the cuDNN status of a
# refusal) each time a backend is destroyed.
step test_cuda_backend env PADIM_CUDA_REPORT=1 "$BUILD/test_cuda_backend"
step unfused_backend env PADIM_CUDA_UNFUSED=1 "$BUILD/test_cuda_backend"
step factor_fp32_backend env PADIM_CUDA_FACTOR=fp32 "$BUILD/test_cuda_backend"
if command -v compute-sanitizer >/dev/null 2>&1; then
    step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_ops"
    step racecheck compute-sanitizer --tool racecheck --error-exitcode 1 "$BUILD/test_cuda_ops"
    step synccheck compute-sanitizer --tool synccheck --error-exitcode 1 "$BUILD/test_cuda_ops"
else
    echo "compute-sanitizer not found"
fi
step bench_cuda_kernels "$BUILD/bench_cuda_kernels" --json "$OUT/bench_cuda_kernels.json"
step bench_cuda_backend "$BUILD/bench_cuda_backend" --json "$OUT/bench_cuda_backend.json"
# End-to-end numbers of the CLI (generated 900x900 images, so no data is needed): both
# backbones (WRN50 with seeded random weights unless real ones are in weights/), fp32 and
# tf32, batches 1 and 64. Tensor throughput = the device stages after host preprocessing.
for bb in resnet18 wide_resnet50_2; do
    w=()
    [ "$bb" = wide_resnet50_2 ] && [ ! -f weights/wide_resnet50_2_tv_in1k.safetensors ] && w=(--weights random)
    for prec in fp32 tf32; do
        step "bench_${bb}_${prec}" "$BUILD/padim-gpu" bench -q --device cuda --backbone "$bb" "${w[@]}" \
            --precision "$prec" --count 256 --batches 1,64 --json "$OUT/bench_${bb}_${prec}.json"
    done
done

echo
echo "=== benchmark tables"
grep -h '^|' "$OUT/bench_cuda_kernels.log" "$OUT/bench_cuda_backend.log" 2>/dev/null
for f in "$OUT"/bench_resnet18_*.log "$OUT"/bench_wide_resnet50_2_*.log; do
    [ -f "$f" ] && { echo "--- $(basename "$f" .log)"; cat "$f"; }
done
echo
echo "=== summary ($(cat "$OUT/card.txt" 2>/dev/null), commit $(git rev-parse --short HEAD 2>/dev/null))"
printf '| %-22s | %-12s | %6s |\n' step status seconds
printf '|%s|%s|%s|\n' "------------------------" "--------------" "--------"
fail=0
for i in "${!NAMES[@]}"; do
    printf '| %-22s | %-12s | %6s |\n' "${NAMES[$i]}" "${STATUS[$i]}" "${SECS[$i]}"
    [[ ${STATUS[$i]} == FAILED* ]] && fail=1
done
exit $fail
