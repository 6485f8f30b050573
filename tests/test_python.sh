#!/usr/bin/env bash
# test_python.sh BUILD_DIR [PYTHON] - the padim_gpu Python package tested as its users get it:
#   cmake --install the build into a temporary prefix; a venv of PYTHON (default Debian's
#   /usr/bin/python3) with --system-site-packages (NumPy, cffi, pytest, PIL from Debian);
#   pip install ./python, finding padim-gpu through pkg-config (PKG_CONFIG_PATH), and a
#   second wheel built through PADIM_PREFIX; the extension must link the prefix's
#   libpadim.so through its rpath; then pytest python/tests with the installed CLI as the
#   reference. The pytest summary line is the last line of the output.
# Exit 77 (skipped) when PYTHON lacks what the build needs, or for sanitizer builds.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
PY=${2:-/usr/bin/python3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

grep -q '^PADIM_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null &&
    skip "sanitizer build: libpadim.so would need libasan preloaded into python"
missing=$("$PY" - <<'PY'
import importlib.util, os, sysconfig
mods = ["cffi", "numpy", "pytest", "PIL", "setuptools", "wheel", "venv", "ensurepip"]
out = [m for m in mods if importlib.util.find_spec(m) is None]
if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
    out.append("Python.h")
print(" ".join(out))
PY
) || skip "$PY does not run"
[ -z "$missing" ] || skip "$PY lacks: $missing (tools/setup.sh test installs python3-cffi python3-pytest python3-venv python3-dev ...)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
P=$TMP/prefix
cmake --install "$BUILD" --prefix "$P" >/dev/null
"$PY" -m venv --system-site-packages "$TMP/venv"
# pip builds a local folder in place: build from a copy, so that no build/ or *.egg-info
# lands in the source tree (and parallel runs do not share one).
mkdir "$TMP/python"
cp -r "$SRC/python/pyproject.toml" "$SRC/python/setup.py" "$SRC/python/padim_gpu" "$TMP/python/"
rm -f "$TMP"/python/padim_gpu/_padim*
pip=("$TMP/venv/bin/python" -m pip install --no-build-isolation --no-index --disable-pip-version-check -q)

# 1. through pkg-config
PKG_CONFIG_PATH=$P/lib/pkgconfig "${pip[@]}" "$TMP/python" >"$TMP/pip.log" 2>&1 ||
    { cat "$TMP/pip.log"; fail "pip install ./python (PKG_CONFIG_PATH=$P/lib/pkgconfig)"; }
ext=$(find "$TMP/venv/lib" -name '_padim*.so' | head -n1)
[ -n "$ext" ] || fail "no padim_gpu/_padim*.so in the venv"
# (outputs captured first: grep -q closing a pipe early would fail the pipeline under pipefail)
dyn=$(readelf -d "$ext")
grep -qE "(RUNPATH|RPATH).*$P/lib" <<<"$dyn" || fail "$ext has no rpath to $P/lib"
deps=$(cd "$TMP" && env -u LD_LIBRARY_PATH ldd "$ext")
grep -q "libpadim.so.0 => $P/lib/" <<<"$deps" || fail "$ext does not resolve libpadim.so.0 to $P/lib: $deps"
echo "pkg-config build: $(basename "$ext") -> $P/lib/libpadim.so.0 (rpath)"

# 2. through PADIM_PREFIX, pkg-config not consulted
rm -rf "$TMP/python/build"
env -u PKG_CONFIG_PATH PADIM_PREFIX="$P" \
    "$TMP/venv/bin/python" -m pip wheel --no-build-isolation --no-index --no-deps --disable-pip-version-check -q \
    -w "$TMP/wheels" "$TMP/python" >"$TMP/wheel.log" 2>&1 || { cat "$TMP/wheel.log"; fail "pip wheel with PADIM_PREFIX=$P"; }
whl=$(ls "$TMP"/wheels/padim_gpu-*.whl)
echo "PADIM_PREFIX build: $(basename "$whl")"

# 3. pytest against the installed CLI (no bytecode or cache written into the source tree)
cd "$TMP"
set +e
PADIM_GPU_CLI=$P/bin/padim-gpu PYTHONDONTWRITEBYTECODE=1 "$TMP/venv/bin/python" -m pytest -p no:cacheprovider \
    -rs -q "$SRC/python/tests" >"$TMP/pytest.log" 2>&1
rc=$?
set -e
cat "$TMP/pytest.log"
summary=$(grep -E '^=*.*[0-9]+ (passed|failed|error|skipped)' "$TMP/pytest.log" | tail -n1 | sed 's/^=* *//; s/ *=*$//')
echo "pytest: ${summary:-no summary (pytest exit $rc)}"
exit $rc
