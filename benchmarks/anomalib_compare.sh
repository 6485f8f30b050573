#!/usr/bin/env bash
# anomalib side by side (issue 5, item 4): installs anomalib + torch from PyPI into a venv,
# builds padim-gpu (CPU backend) in its own build folder, then runs
# benchmarks/anomalib_compare.py: anomalib's own PaDiM (its package, not a copy) and padim-gpu
# on the same images, weights, channel indices and threads, in one run on this machine.
#
#   benchmarks/anomalib_compare.sh [--data DIR] [--threads N] [--repeat N] [...]
#       (arguments go to anomalib_compare.py; see its --help)
#
# Environment: BUILD (default build-anomalib: venv in $BUILD/venv, padim-gpu in $BUILD/padim,
# results in $BUILD/run), PYTHON (interpreter for the venv, >= 3.10; default /usr/bin/python3).
# Results: $BUILD/run/anomalib_compare.{md,json}; the Markdown is also printed.
#
# Versions (pinned: the ones this was run with). torch's CPU-only index
# (download.pytorch.org/whl/cpu) is tried first; where it is unreachable, plain PyPI is used,
# whose Linux x86_64 torch wheel pulls in the CUDA libraries (about 6 GB of venv; they are
# simply not used on a machine without a GPU).
set -euo pipefail

ANOMALIB_VERSION=2.7.0
TORCH_VERSION=2.15.0
TORCHVISION_VERSION=0.29.2

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-anomalib}
PYTHON=${PYTHON:-/usr/bin/python3}
VENV=$BUILD/venv
mkdir -p "$BUILD"

if ! "$VENV/bin/python" -c "import anomalib, torch, torchvision, safetensors, scipy, sklearn" 2>/dev/null; then
    echo "anomalib_compare: making $VENV (anomalib $ANOMALIB_VERSION, torch $TORCH_VERSION)" >&2
    "$PYTHON" -m venv "$VENV"
    PIP=("$VENV/bin/pip" install --disable-pip-version-check)
    if ! "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
            --index-url https://download.pytorch.org/whl/cpu; then
        echo "anomalib_compare: torch CPU index unreachable, using PyPI's torch wheel" >&2
    fi
    "${PIP[@]}" "anomalib==$ANOMALIB_VERSION" "torch==$TORCH_VERSION" \
        "torchvision==$TORCHVISION_VERSION" safetensors scipy scikit-learn
fi

# padim-gpu, CPU backend, in this script's own build folder
cmake -S "$ROOT" -B "$BUILD/padim" -G Ninja -DPADIM_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD/padim" -j2 --target padim-gpu >/dev/null

export PYTHONWARNINGS=ignore
exec "$VENV/bin/python" "$ROOT/benchmarks/anomalib_compare.py" \
    --padim-gpu "$BUILD/padim/padim-gpu" --work "$BUILD/run" "$@"
