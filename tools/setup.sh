#!/usr/bin/env bash
# tools/setup.sh - the whole setup of padim-gpu on a fresh Debian 12 / Ubuntu machine.
#
#   tools/setup.sh demo   install what is missing, build, run `padim-gpu demo` (the default job)
#   tools/setup.sh test   install what is missing (plus the Python references), build, run ctest
#   tools/setup.sh build  install what is missing, build only
#
# Builds into ./build (Release). The CUDA backend is compiled when nvcc is found (on PATH
# or in /usr/local/cuda/bin); set PADIM_CUDA=OFF to skip it. PADIM_DNNL=AUTO|ON|OFF: the
# oneDNN CPU backbone (default AUTO: when oneDNN 2.x is installed; setup installs it where apt has it). Needs root (or sudo) only to
# install missing Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-demo}
case "$mode" in demo|test|build) ;; *) echo "usage: tools/setup.sh demo|test|build" >&2; exit 2 ;; esac

# shellcheck source=tools/deps.sh
. tools/deps.sh
build_pkgs=("${PADIM_TOOLCHAIN_PKGS[@]}" "${PADIM_DEP_PKGS[@]}")
# Test references: PyTorch/torchvision (CPU), NumPy, SciPy, scikit-learn, PIL (Debian's); the
# Python bindings' test (tests/test_python.sh) also builds python/ in a venv: cffi, pytest,
# venv, the Python headers, setuptools and wheel; tifffile reads the float16 TIFFs back;
# headless Chromium renders the eval reports; clang with libFuzzer's runtime and LLVM's
# OpenMP builds the fuzz targets (tests/fuzz/).
test_pkgs=(python3 python3-numpy python3-scipy python3-sklearn python3-pil python3-torch python3-torchvision
           python3-cffi python3-pytest python3-venv python3-dev python3-setuptools python3-wheel
           python3-tifffile chromium clang libclang-rt-dev libomp-dev)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
# Optional packages (tools/deps.sh): only where apt knows them.
[ "${PADIM_DNNL:-AUTO}" = OFF ] && PADIM_OPT_PKGS=()
for p in "${PADIM_OPT_PKGS[@]}"; do
  installed "$p" || ! apt-cache show "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cuda=${PADIM_CUDA:-}
if [ -z "$cuda" ]; then command -v nvcc >/dev/null 2>&1 && cuda=ON || cuda=OFF; fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPADIM_CUDA="$cuda" -DPADIM_DNNL="${PADIM_DNNL:-AUTO}" >/dev/null
cmake --build build -j "$jobs"

case "$mode" in
  demo) exec ./build/padim-gpu demo -o padim-demo ;;
  test) exec ctest --test-dir build --output-on-failure -j "$jobs" ;;
  build) ;;
esac
