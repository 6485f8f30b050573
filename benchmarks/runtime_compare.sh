#!/usr/bin/env bash
# Inference runtimes side by side (issue 15, item 1): anomalib's own PaDiM (its installed
# PadimModel, fitted with our weights and channel indices) in eager PyTorch, exported to ONNX and
# run by ONNX Runtime and OpenVINO, against padim-gpu's CPU backend, in one run on this machine,
# with the same thread count and CPUs for everyone. Makes (or reuses) a venv, builds padim-gpu
# CPU-only in its own build folder, then runs benchmarks/runtime_compare.py.
#
#   benchmarks/runtime_compare.sh [--backbones resnet18,wide_resnet50_2] [--batches 1,16]
#       [--threads 2] [--reps 3] [--padim-gpu BIN] [--record] [...]
#       (arguments go to runtime_compare.py; see its --help)
#
# Environment: BUILD (default build-runtime: padim-gpu in $BUILD/padim, results in $BUILD/run),
# VENV (a venv that already has the packages below; default $BUILD/venv, made here with the
# pinned versions when it lacks them), PYTHON (interpreter that makes the venv, >= 3.10;
# default /usr/bin/python3). With --padim-gpu BIN nothing is built.
# Results: $BUILD/run/runtime_compare.{md,json}; the Markdown is also printed.
#
# Versions (pinned: the ones this was run with). torch's CPU-only index is tried first; where it
# is unreachable, PyPI's torch wheel (with CUDA libraries, unused here) is used.
set -euo pipefail

ANOMALIB_VERSION=2.7.0
TORCH_VERSION=2.15.0
TORCHVISION_VERSION=0.29.2
ONNXRUNTIME_VERSION=1.32.0
OPENVINO_VERSION=2026.4.1
ONNX_VERSION=1.23.2
ONNXSCRIPT_VERSION=0.7.2

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-runtime}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p "$BUILD"
IMPORTS="import anomalib, torch, torchvision, onnxruntime, openvino, onnx, onnxscript, safetensors, PIL"

if [ -n "${VENV:-}" ]; then
    if ! "$VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then
        echo "runtime_compare: VENV=$VENV cannot '$IMPORTS'; unset VENV to make $BUILD/venv" >&2
        exit 2
    fi
else
    VENV=$BUILD/venv
    if ! "$VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then
        echo "runtime_compare: making $VENV (anomalib $ANOMALIB_VERSION, torch $TORCH_VERSION," \
             "onnxruntime $ONNXRUNTIME_VERSION, openvino $OPENVINO_VERSION)" >&2
        "$PYTHON" -m venv "$VENV"
        PIP=("$VENV/bin/pip" install --disable-pip-version-check)
        if ! "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
                --index-url https://download.pytorch.org/whl/cpu; then
            echo "runtime_compare: torch CPU index unreachable, using PyPI's torch wheel" >&2
        fi
        "${PIP[@]}" "anomalib==$ANOMALIB_VERSION" "torch==$TORCH_VERSION" \
            "torchvision==$TORCHVISION_VERSION" "onnxruntime==$ONNXRUNTIME_VERSION" \
            "openvino==$OPENVINO_VERSION" "onnx==$ONNX_VERSION" "onnxscript==$ONNXSCRIPT_VERSION" \
            safetensors scipy scikit-learn
    fi
fi

# padim-gpu, CPU backend, in this script's own build folder (unless a binary is given)
BIN=()
case " $* " in
*" --padim-gpu "* | *" --padim-gpu="*) ;;
*)
    cmake -S "$ROOT" -B "$BUILD/padim" -G Ninja -DPADIM_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD/padim" -j2 --target padim-gpu >/dev/null
    BIN=(--padim-gpu "$BUILD/padim/padim-gpu")
    ;;
esac

export PYTHONWARNINGS=ignore
exec "$VENV/bin/python" "$ROOT/benchmarks/runtime_compare.py" "${BIN[@]}" --work "$BUILD/run" "$@"
