#!/usr/bin/env bash
# benchmarks/gpu_check.sh - the GPU check of a lent machine, made to fit one lease: from the
# repository root,  bash benchmarks/gpu_check.sh [BUILD_DIR]   (default build-gpu).
#
# On the bare GPU machine (nvcc, CMake, ninja, compute-sanitizer, a Python venv; none of our
# Debian packages, no network) it builds with what .device-kit/ carries (tools/device_kit.sh
# makes it here; the device call is in README "GPU check on a lent machine"), then runs, in
# priority order, each step under its own `timeout`, within a total budget:
#   1 kit, configure, build (sm_90; only the targets below)   2 CUDA tests: test_cuda_ops,
#   test_cuda_backend plain / PADIM_CUDA_UNFUSED=1 / PADIM_CUDA_FACTOR=fp32
#   3 compute-sanitizer: memcheck (ops, backend), racecheck and synccheck (ops)
#   4 CPU vs CUDA parity: the kit's bottle subset, both presets; Wide-ResNet-50-2 at 256x256,
#   batch 64   5 benchmarks, one repetition each: `padim-gpu bench` ResNet-18 then WRN50 x
#   fp32/tf32/fp16/bf16 x (generated images, kit files), the kernel and backend workbenches.
# A step whose minimum exceeds the budget left is skipped; without a GPU the GPU steps say
# "no GPU" and skip, and the script exits 77 (0: all passed, 1: a step failed or timed out).
#
# Output, written as it goes so that a time-out loses only the running step, into $OUT
# (the device tool's folder) or BUILD_DIR/gpu_check: summary.md (card, driver, commit,
# date, steps with status and seconds, parity numbers, the fused-conv report, benchmark
# tables; rewritten after every step), steps.log (each finished step's output),
# results.jsonl (one JSON line per benchmark), running.log (the running step, live).
#
# Environment: GPU_CHECK_BUDGET (seconds, default 480), GPU_CHECK_KIT (default
# .device-kit), GPU_CHECK_ARCH (default 90), GPU_CHECK_CUDNN (auto | toolkit | system |
# wheel: where to look for cuDNN; auto tries them in this order), CUDNN_ROOT (a folder with
# include/cudnn.h and lib/libcudnn.so*, tried first).
set -u
cd "$(dirname "$0")/.." || exit 1
SRC=$PWD
BUILD=${1:-build-gpu}
mkdir -p "$BUILD" || exit 1
BUILD=$(cd "$BUILD" && pwd)
BUDGET=${GPU_CHECK_BUDGET:-480}
KIT=${GPU_CHECK_KIT:-$SRC/.device-kit}
ARCH=${GPU_CHECK_ARCH:-90}
CUDNN_MODE=${GPU_CHECK_CUDNN:-auto}
RES=${OUT:-$BUILD/gpu_check}
LOGS=$BUILD/gpu_check_logs # every step's full log (RES gets them appended, trimmed)
T0=$SECONDS
mkdir -p "$RES" "$LOGS" || exit 1
: >"$RES/steps.log"
: >"$RES/results.jsonl"
: >"$RES/running.log"
rm -f "$LOGS"/*.log "$LOGS"/*.json

note() { echo "gpu_check: $*"; }
PY=$(command -v python3 || true)
NVCC=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
CUDA_ROOT=${NVCC:+$(dirname "$(dirname "$(readlink -f "$NVCC")")")}
SANITIZER=$(command -v compute-sanitizer ||
    ls "$CUDA_ROOT"/bin/compute-sanitizer "$CUDA_ROOT"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
JOBS=$(nproc 2>/dev/null || echo 4)

# ------------------------------------------------------------------ facts for the summary

DATE=$(date -u +%FT%TZ)
KIT_COMMIT=$(cat "$KIT/commit.txt" 2>/dev/null || echo "no kit")
COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) &&
    { git -C "$SRC" diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT+local-changes"; } ||
    COMMIT="$KIT_COMMIT (no git here: the kit's commit)"
CARD="no nvidia-smi"
if command -v nvidia-smi >/dev/null 2>&1; then
    CARD=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -n 1)
fi
TOOLS="nvcc $({ "$NVCC" --version 2>/dev/null || echo none; } | sed -n 's/.*release \([^,]*\).*/\1/p;$!d' | head -n 1),"
TOOLS="$TOOLS $(cmake --version 2>/dev/null | head -n 1), ninja $(ninja --version 2>/dev/null || echo none),"
TOOLS="$TOOLS compute-sanitizer ${SANITIZER:-none}, python3 ${PY:-none}, $JOBS cores"
CUDNN_DESC="not looked for yet"

# ------------------------------------------------------------------ steps and the summary

declare -a NAMES=() STATUS=() SECS=() NOTES=()
HAVE_GPU=unknown

# step NAME MIN MAX CMD...: run CMD under timeout min(MAX, budget left), unless less than MIN
# seconds are left; log to running.log live, then append to steps.log; rewrite the summary.
step() {
    local name=$1 min=$2 max=$3
    shift 3
    local left=$((BUDGET - (SECONDS - T0)))
    if [ "$left" -lt "$min" ]; then
        record "$name" "skipped (budget: ${left} s left)" 0 ""
        return 0
    fi
    local lim=$((max < left ? max : left)) log=$LOGS/$name.log t0=$SECONDS rc cmd
    cmd=$(echo "$*" | tr -s ' \n' ' ' | sed 's/LD_LIBRARY_PATH=[^ ]* //')
    echo "=== $name (limit ${lim} s): ${cmd:0:160}"
    timeout -k 5 "$lim" "$@" >"$RES/running.log" 2>&1 </dev/null
    rc=$?
    cp "$RES/running.log" "$log"
    : >"$RES/running.log"
    local st
    case $rc in
    0) st=ok ;;
    77) st="skipped ($({ grep -m1 -o 'SKIP: .*' "$log" | cut -c7- || true; grep -v '^ *$' "$log" | tail -n 1; } |
        head -n 1 | cut -c1-70))" ;;
    124 | 137) st="TIMEOUT (${lim} s)" ;;
    *) st="FAILED (exit $rc)" ;;
    esac
    {
        echo "=== $name: ${cmd:0:600} -> $st, $((SECONDS - t0)) s"
        if [ "$(wc -l <"$log")" -gt 400 ]; then
            head -n 100 "$log"
            echo "[... $(($(wc -l <"$log") - 300)) lines left out; the full log was $log on the machine ...]"
            tail -n 200 "$log"
        else
            cat "$log"
        fi
        echo
    } >>"$RES/steps.log"
    tail -n 4 "$log" | cut -c1-200
    record "$name" "$st" $((SECONDS - t0)) "$(grep -E 'max relative|all checks passed|check\(s\) failed|ERROR SUMMARY|RACECHECK SUMMARY|FAIL|[Ee]rror|images/s|parity ok' "$log" | tail -n 1 | tr -d '|' | cut -c1-150)"
    return $rc
}
record() { # record NAME STATUS SECONDS NOTE
    NAMES+=("$1")
    STATUS+=("$2")
    SECS+=("$3")
    NOTES+=("$4")
    echo "--- $1: $2 ($3 s)"
    write_summary running
}
# gpu_step NAME MIN MAX CMD...: a step that needs the GPU (skipped without one or a build)
gpu_step() {
    case $HAVE_GPU in
    no) record "$1" "skipped (no GPU)" 0 ""; return 0 ;;
    "no build") record "$1" "skipped (no build)" 0 ""; return 0 ;;
    esac
    step "$@"
}

write_summary() { # write_summary running|finished
    local f=$RES/.summary.md.tmp i
    {
        echo "# GPU check, $DATE"
        echo
        echo "- card: $CARD (name, driver, memory, compute capability)"
        echo "- commit: $COMMIT; kit made at $KIT_COMMIT"
        echo "- tools: $TOOLS"
        echo "- cuDNN: $CUDNN_DESC"
        echo "- budget: $BUDGET s, used $((SECONDS - T0)) s; $1"
        echo
        printf '| %-30s | %-30s | %7s | %s |\n' step status seconds note
        echo "|---|---|---|---|"
        for i in "${!NAMES[@]}"; do
            printf '| %-30s | %-30s | %7s | %s |\n' "${NAMES[$i]}" "${STATUS[$i]}" "${SECS[$i]}" "${NOTES[$i]}"
        done
        echo
        echo "## Parity (CPU vs CUDA)"
        echo
        grep -h -E 'max relative|parity ok|FAIL|images from' "$LOGS"/parity_*.log 2>/dev/null | sed 's/^/    /'
        echo
        echo "## Fused cuDNN conv+bias+ReLU report (PADIM_CUDA_REPORT=1: 'padim-gpu: cuDNN fused report' lines)"
        echo
        local any=0 l
        for l in "$LOGS"/test_*.log "$LOGS"/parity_*.log "$LOGS"/bench_*.log; do
            [ -f "$l" ] || continue
            if grep -q 'cuDNN fused report' "$l"; then
                any=1
                echo "- $(basename "$l" .log): $(grep 'cuDNN fused report' "$l" | grep -c ': fused (') convolutions fused," \
                     "$(grep -c 'FELL BACK' "$l") fell back, $(grep -c 'separate calls by design' "$l") without ReLU," \
                     "$(grep -c 'fused call off' "$l") switched off"
                grep 'FELL BACK' "$l" | sed 's/.*refused the fused call with/refused with/' | sort | uniq -c | sort -rn |
                    head -n 4 | sed 's/^/      /'
            fi
        done
        [ "$any" = 1 ] || echo "(no such lines in the logs yet)"
        echo
        echo "## Benchmarks (one repetition each)"
        echo
        bench_tables
    } >"$f" 2>&1
    mv "$f" "$RES/summary.md"
}

bench_tables() {
    if [ -n "$PY" ] && [ -s "$RES/results.jsonl" ]; then
        "$PY" - "$RES/results.jsonl" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    r = d.get("result", {})
    if "fit" not in r:
        continue
    _, prec, src = d["step"].rsplit("_", 2)
    sc = {s["batch"]: s for s in r.get("score", [])}
    def tp(b):
        s = sc.get(b)
        return f"{s['images_per_s']:.1f} / {s['tensor_images_per_s']:.1f}" if s else "-"
    f = r["fit"]
    rows.append(f"| {r['settings']['backbone']} | {prec} | {src} | {f['images_per_s']:.1f} / {f['tensor_images_per_s']:.1f} "
                f"| {f['stages_s']['factor'] * 1e3:.1f} | {tp(1)} | {tp(64)} | {r['latency_ms']['p50']:.2f} "
                f"| {r['peak_device_mb']:.0f} | {r['backend']} |")
if rows:
    print("`padim-gpu bench --device cuda`, 64 images; images/s end to end / tensor (stages after preprocessing);")
    print("factor = Cholesky + triangular inverse of all P covariances at the end of fit.\n")
    print("| backbone | precision | images | fit images/s | factor ms | score b1 | score b64 | latency b1 p50 ms | peak device MB | backend |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
PY
    else
        echo "(no padim-gpu bench results yet)"
    fi
    local l
    for l in "$LOGS"/bench_cuda_kernels.log "$LOGS"/bench_cuda_backend.log; do
        [ -f "$l" ] && grep -q '^|' "$l" && { echo; echo "$(basename "$l" .log):"; echo; grep '^|' "$l"; }
    done
    return 0
}

# ------------------------------------------------------------------ the kit and cuDNN

KITP=$BUILD/kit/prefix
unpack_kit() {
    [ -f "$KIT/prefix.tar.xz" ] || { echo "no $KIT/prefix.tar.xz: run tools/device_kit.sh on a development machine and carry .device-kit"; return 1; }
    local sum
    sum=$(cksum <"$KIT/prefix.tar.xz")
    if [ "$(cat "$BUILD/kit/stamp" 2>/dev/null)" = "$sum" ] && [ -x "$KITP/bin/pkg-config" ]; then
        echo "kit already unpacked in $BUILD/kit"
    else
        # A new kit: pkg_check_modules' cached answers would point into the old one.
        rm -rf "$BUILD/kit" "$BUILD/CMakeCache.txt" && mkdir -p "$BUILD/kit" || return 1
        if command -v xz >/dev/null 2>&1; then
            tar -C "$BUILD/kit" -xJf "$KIT/prefix.tar.xz" || return 1
        elif [ -n "$PY" ]; then
            "$PY" -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
try:
    t.extractall(sys.argv[2], filter="tar")
except TypeError:
    t.extractall(sys.argv[2])' "$KIT/prefix.tar.xz" "$BUILD/kit" || return 1
        else
            echo "neither xz nor python3 to unpack the kit"; return 1
        fi
        echo "$sum" >"$BUILD/kit/stamp"
    fi
    sed -n '1,3p' "$KIT/manifest.txt"
    "$KITP/bin/pkg-config" --modversion libcjson yaml-0.1 libtiff-4 openblas lapacke stb
}

# cudnn_candidates: "kind lib_dir include_dir" lines, in the order of GPU_CHECK_CUDNN.
cudnn_candidates() {
    [ -n "${CUDNN_ROOT:-}" ] && echo "CUDNN_ROOT $CUDNN_ROOT/lib $CUDNN_ROOT/include"
    local k d
    for k in toolkit system wheel; do
        [ "$CUDNN_MODE" = auto ] || [ "$CUDNN_MODE" = "$k" ] || continue
        case $k in
        toolkit) [ -n "$CUDA_ROOT" ] && echo "toolkit $CUDA_ROOT/lib64 $CUDA_ROOT/include" ;;
        system) echo "system /usr/lib/x86_64-linux-gnu /usr/include" ;;
        wheel)
            # nvidia.cudnn may be a namespace package (no __file__): take __path__. Then the
            # usual venv folders, in case python3 on PATH is another one.
            { [ -n "$PY" ] && "$PY" -c 'import nvidia.cudnn as m; print("\n".join(m.__path__))' 2>/dev/null
              ls -d /opt/*/.venv/lib/python3*/site-packages/nvidia/cudnn \
                  /usr/local/lib/python3*/dist-packages/nvidia/cudnn 2>/dev/null; } | awk '!seen[$0]++' |
                while read -r d; do echo "wheel $d/lib $d/include"; done
            ;;
        esac
    done
}
find_cudnn() {
    local kind libdir incdir lib inc
    while read -r kind libdir incdir; do
        lib=$(ls "$libdir"/libcudnn.so "$libdir"/libcudnn.so.[0-9]* 2>/dev/null | head -n 1)
        [ -n "$lib" ] || continue
        inc=$incdir
        [ -f "$inc/cudnn.h" ] || inc=$(dirname "$(find "$(dirname "$libdir")" -maxdepth 3 -name cudnn.h 2>/dev/null | head -n 1)")
        local hdr_note=""
        if [ ! -f "$inc/cudnn.h" ]; then
            inc=$KIT/cudnn/include
            [ -f "$inc/cudnn.h" ] || { echo "cuDNN library $lib has no headers, and the kit carries none"; return 1; }
            hdr_note=" (headers: the kit's copy, from the development machine)"
        fi
        # A wheel ships only libcudnn.so.9: link through a libcudnn.so of our own, beside
        # links to every libcudnn*.so* of that folder (the engine libraries load at run time).
        if [ "$(basename "$lib")" != libcudnn.so ]; then
            rm -rf "$BUILD/cudnn-link" && mkdir -p "$BUILD/cudnn-link" || return 1
            ln -s "$libdir"/libcudnn*.so* "$BUILD/cudnn-link/"
            ln -sfn "$(readlink -f "$lib")" "$BUILD/cudnn-link/libcudnn.so"
            lib=$BUILD/cudnn-link/libcudnn.so
        fi
        CUDNN_ARGS=(-DCUDNN_LIB="$lib" -DCUDNN_INCLUDE_DIR="$inc")
        CUDNN_LIBDIR=$libdir
        local v
        v=$(awk '/#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) / {printf "%s%s", sep, $3; sep="."}' "$inc/cudnn_version.h" 2>/dev/null)
        CUDNN_DESC="$kind: $(readlink -f "$lib"), headers $inc ${v:+(cuDNN $v)}$hdr_note"
        echo "cuDNN: $CUDNN_DESC"
        return 0
    done < <(cudnn_candidates)
    echo "no cuDNN found (GPU_CHECK_CUDNN=$CUDNN_MODE; looked at: $(cudnn_candidates | tr '\n' ';'))"
    return 1
}

# ------------------------------------------------------------------ the run

CUDNN_ARGS=()
CUDNN_LIBDIR=
COMMIT_ARG=()
git -C "$SRC" rev-parse HEAD >/dev/null 2>&1 || COMMIT_ARG=(-DPADIM_GIT_COMMIT="${KIT_COMMIT}")
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)

note "$DATE, card: $CARD, commit $COMMIT, budget $BUDGET s, output in $RES"
write_summary running
export KIT BUILD KITP PY
export -f unpack_kit
step kit 5 60 bash -c unpack_kit
if [ -z "$NVCC" ]; then
    record configure "FAILED (no nvcc)" 0 "nvcc neither on PATH nor in /usr/local/cuda/bin"
else
    find_cudnn >"$LOGS/cudnn.txt" 2>&1
    cat "$LOGS/cudnn.txt"
    [ -n "$CUDNN_LIBDIR" ] || CUDNN_DESC=$(tail -n 1 "$LOGS/cudnn.txt")
    step configure 20 120 env PKG_CONFIG_PATH= cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DPADIM_CUDA=ON -DPADIM_DNNL=OFF -DPADIM_BUILD_TESTS=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DCMAKE_CUDA_COMPILER="$NVCC" \
        -DPKG_CONFIG_EXECUTABLE="$KITP/bin/pkg-config" -DCMAKE_PREFIX_PATH="$KITP/usr" \
        "${CUDNN_ARGS[@]}" "${COMMIT_ARG[@]}" &&
        step build 40 300 cmake --build "$BUILD" -j "$JOBS" --target padim-gpu test_cuda_ops test_cuda_backend \
            bench_cuda_kernels bench_cuda_backend ||
        [ "${NAMES[${#NAMES[@]} - 1]}" = build ] || record build "skipped (configure failed)" 0 ""
fi

BIN=$BUILD/padim-gpu
DATA=$KIT/data/bottle
# What our binaries run with: the kit's libraries, the cuDNN folder, the toolkit's.
RUN_LD=$KITP/usr/lib/x86_64-linux-gnu:$KITP/usr/lib/x86_64-linux-gnu/openblas-pthread
[ -n "$CUDNN_LIBDIR" ] && RUN_LD=$RUN_LD:$CUDNN_LIBDIR
[ -n "$CUDA_ROOT" ] && [ -d "$CUDA_ROOT/lib64" ] && [ "$CUDA_ROOT/lib64" != "$CUDNN_LIBDIR" ] &&
    RUN_LD=$RUN_LD:$CUDA_ROOT/lib64
KENV=(env LD_LIBRARY_PATH="$RUN_LD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PADIM_CUDA_REPORT=1
      PADIM_BOTTLE_DIR="$DATA" PADIM_PYTHON="${PY:-python3}" TMPDIR="$BUILD")

if [ -x "$BIN" ]; then
    # The kit's runtime on the CPU: OpenBLAS, LAPACKE, stb, libtiff (--maps), cJSON, libyaml.
    step cpu_smoke 10 90 "${KENV[@]}" bash -c '
        set -e; t=$(mktemp -d); trap "rm -rf $t" EXIT
        "$1" fit -q --device cpu "$2/train/good" -o "$t/m.padim"
        "$1" score -q --device cpu --maps "$t/m.padim" "$2/test" -o "$t/out"
        echo "cpu: fitted on $(ls "$2/train/good" | wc -l) images, scored $(($(wc -l <"$t/out/scores.csv") - 1)), $(ls "$t/out/maps" | wc -l) TIFF maps"
        head -n 3 "$t/out/scores.csv"' _ "$BIN" "$DATA"
    # Is there a usable GPU? The CLI's own answer (the parity scripts ask the same way).
    step gpu_probe 5 60 "${KENV[@]}" bash -c '
        t=$(mktemp -d); trap "rm -rf $t" EXIT; mkdir "$t/a"
        cp "$(ls "$2"/train/good/*.png | head -n 1)" "$t/a/0.png"; cp "$(ls "$2"/train/good/*.png | sed -n 2p)" "$t/a/1.png"
        if "$1" fit --device cuda --resize 64 "$t/a" -o "$t/p.padim" 2>"$t/err"; then cat "$t/err"; exit 0; fi
        cat "$t/err"
        grep -qE "no CUDA device|built without the CUDA backend" "$t/err" && { echo "SKIP: no GPU"; exit 77; }
        exit 1' _ "$BIN" "$DATA"
    case ${STATUS[${#STATUS[@]} - 1]} in
    ok) HAVE_GPU=yes ;;
    "skipped (no GPU)") HAVE_GPU=no; note "no GPU: the GPU steps are skipped" ;;
    *) HAVE_GPU=unclear ;; # the probe failed otherwise: run the GPU steps, they say why
    esac
else
    HAVE_GPU="no build"
    record cpu_smoke "skipped (no build)" 0 ""
fi

# 2 CUDA tests
gpu_step test_cuda_ops 10 120 "${KENV[@]}" "$BUILD/test_cuda_ops"
gpu_step test_cuda_backend 15 150 "${KENV[@]}" "$BUILD/test_cuda_backend"
gpu_step test_cuda_backend_unfused 15 150 "${KENV[@]}" PADIM_CUDA_UNFUSED=1 "$BUILD/test_cuda_backend"
gpu_step test_cuda_backend_factor_fp32 15 150 "${KENV[@]}" PADIM_CUDA_FACTOR=fp32 "$BUILD/test_cuda_backend"

# 3 compute-sanitizer
sanitize() { # sanitize NAME TOOL TEST MIN MAX
    if [ -z "$SANITIZER" ]; then
        case $HAVE_GPU in yes | unclear) record "$1" "skipped (no compute-sanitizer)" 0 ""; return ;; esac
    fi
    gpu_step "$1" "$4" "$5" "${KENV[@]}" "${SANITIZER:-compute-sanitizer}" --tool "$2" --error-exitcode 1 \
        --print-limit 20 "$BUILD/$3"
}
sanitize memcheck_cuda_ops memcheck test_cuda_ops 20 120
sanitize memcheck_cuda_backend memcheck test_cuda_backend 30 150
sanitize racecheck_cuda_ops racecheck test_cuda_ops 20 120
sanitize synccheck_cuda_ops synccheck test_cuda_ops 20 90

# 4 parity. The kit's subset has 20 training images for D = 100: the covariance is
# rank-deficient (held up by eps), so the end-to-end bound is 1e-3 here; the score path
# (same model on both devices) keeps the issue's 1e-4. The full bottle set: ctest, 1e-4.
for preset in anomalib paper; do
    gpu_step "parity_bottle_$preset" 20 120 "${KENV[@]}" PADIM_PARITY_RTOL=1e-3 \
        bash "$SRC/tests/test_bottle_cuda_parity.sh" "$BIN" "$preset"
done
gpu_step parity_wrn50_256_b64 40 180 "${KENV[@]}" bash "$SRC/tests/test_wrn50_cuda_parity.sh" "$BIN"

# 5 benchmarks: 64 generated 900x900 images (host tensors), and 64 kit files (32 distinct,
# each twice) for the end-to-end numbers from files.
FILES=$BUILD/bench_files
if [ "$HAVE_GPU" != no ] && [ -d "$DATA" ]; then
    rm -rf "$FILES" && mkdir -p "$FILES"
    mapfile -t imgs < <(find "$DATA" -name '*.png' -not -path '*/ground_truth/*' | sort)
    for ((i = 0; i < 64 && ${#imgs[@]} > 0; i++)); do cp "${imgs[$((i % ${#imgs[@]}))]}" "$FILES/$(printf %02d "$i").png"; done
fi
bench() { # bench BACKBONE PRECISION SOURCE MIN MAX
    local name="bench_${1}_${2}_${3}" w=() src=() json
    [ "$1" = wide_resnet50_2 ] && [ ! -f "$SRC/weights/wide_resnet50_2_tv_in1k.safetensors" ] && w=(--weights random)
    [ "$3" = files ] && src=(--images "$FILES")
    json=$LOGS/$name.json
    gpu_step "$name" "$4" "$5" "${KENV[@]}" "$BIN" bench -q --device cuda --backbone "$1" "${w[@]}" \
        --precision "$2" --count 64 --batches 1,64 "${src[@]}" --json "$json"
    [ -f "$json" ] && printf '{"step": "%s", "result": %s}\n' "$name" "$(tr -d '\n' <"$json")" >>"$RES/results.jsonl" &&
        write_summary running
}
for src in tensors files; do
    for prec in fp32 tf32 fp16 bf16; do bench resnet18 "$prec" "$src" 10 60; done
done
gpu_step bench_cuda_kernels 15 90 "${KENV[@]}" "$BUILD/bench_cuda_kernels" --reps 1 --json "$LOGS/bench_cuda_kernels.json"
for src in tensors files; do
    for prec in fp32 tf32 fp16 bf16; do bench wide_resnet50_2 "$prec" "$src" 20 90; done
done
gpu_step bench_cuda_backend 30 120 "${KENV[@]}" "$BUILD/bench_cuda_backend" --reps 1 --fit 64 \
    --json "$LOGS/bench_cuda_backend.json"

# ------------------------------------------------------------------ the end

write_summary finished
rm -f "$RES/running.log"
echo
cat "$RES/summary.md"
fail=0
for s in "${STATUS[@]}"; do case $s in FAILED* | TIMEOUT*) fail=1 ;; esac; done
[ "$fail" = 1 ] && exit 1
[ "$HAVE_GPU" = no ] && exit 77
exit 0
