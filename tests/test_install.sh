#!/usr/bin/env bash
# test_install.sh BUILD_DIR - padim-gpu installed like a library, tested as its users use it:
#   cmake --install to a temporary prefix (moved afterwards: everything must be relocatable);
#   the installed CLI finds its configs and weights there and runs the demo;
#   a C program built through pkg-config (shared, and --static) and a C++ program built
#   through find_package(padim) (padim::padim and padim::padim_static) score the demo
#   images: their scores must equal the installed CLI's `score` output;
#   libpadim.so exports nothing but the padim_ API of padim.h;
#   cpack -G DEB builds padim-gpu_<version>_amd64.deb with dependencies from dpkg-shlibdeps.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$TMP/stage" >/dev/null
mv "$TMP/stage" "$TMP/prefix" # relocated after install
P=$TMP/prefix
for f in bin/padim-gpu include/padim.h lib/libpadim.a lib/pkgconfig/padim.pc lib/cmake/padim/padimConfig.cmake \
         share/padim-gpu/configs/resnet18_anomalib.yaml share/padim-gpu/weights/resnet18_tv_in1k.safetensors; do
    [ -e "$P/$f" ] || fail "installed tree lacks $f"
done
so=$(cd "$P/lib" && ls libpadim.so.[0-9]* | head -n1)
[ -n "$so" ] && [ -L "$P/lib/libpadim.so" ] || fail "no versioned libpadim.so.<soversion> with its link"

# Exports: only functions declared in padim.h.
exported=$(nm -D --defined-only "$P/lib/libpadim.so" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sed 's/@.*//' | sort -u)
bad=$(echo "$exported" | grep -v '^padim_' || true)
[ -z "$bad" ] || fail "libpadim.so exports non-API symbols: $(echo $bad | head -c 300)"
for s in $exported; do grep -q "\b$s(" "$SRC/src/host/padim.h" || fail "libpadim.so exports $s, not in padim.h"; done
echo "exports: $(echo "$exported" | wc -l) padim_ functions, all declared in padim.h"

# The installed CLI, run from outside the source tree, finds configs/weights in its prefix.
cd "$TMP"
data=$(PADIM_HOME= "$P/bin/padim-gpu" --version | sed -n '1{s/.*configs and weights: //; s/)$//; p}')
[ "$(cd "$data" && pwd -P)" = "$(cd "$P/share/padim-gpu" && pwd -P)" ] || fail "installed CLI uses $data, not its prefix"
PADIM_HOME= "$P/bin/padim-gpu" demo -o "$TMP/demo" --device cpu >/dev/null 2>"$TMP/demo.log" || { cat "$TMP/demo.log"; fail "installed demo"; }
model=$TMP/demo/model.padim
mapfile -t imgs < <(find "$TMP/demo/data/test" -name '*.png' | sort | head -n 4)
[ ${#imgs[@]} -ge 2 ] || fail "demo wrote no test images"
"$P/bin/padim-gpu" score -q --device cpu "$model" "${imgs[@]}" > "$TMP/cli.csv"
# CLI csv: path,score[,...] -> "path score" with 6 decimals
tail -n +2 "$TMP/cli.csv" | awk -F, '{printf "%s %.6f\n", $1, $2}' > "$TMP/cli.txt"

export PKG_CONFIG_PATH=$P/lib/pkgconfig
cc -std=c11 -Wall -Werror "$SRC/tests/consumer/consumer.c" $(pkg-config --cflags --libs padim) -Wl,-rpath,"$P/lib" -o "$TMP/consumer"
cc -std=c11 -Wall -Werror "$SRC/tests/consumer/consumer.c" $(pkg-config --cflags padim) "$P/lib/libpadim.a" \
   $(pkg-config --libs --static padim | sed 's/-lpadim//') -o "$TMP/consumer_static"
cmake -S "$SRC/tests/consumer" -B "$TMP/cxx" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$TMP/cxx" >/dev/null
for exe in "$TMP/consumer" "$TMP/consumer_static" "$TMP/cxx/consumer_cpp" "$TMP/cxx/consumer_cpp_static"; do
    "$exe" "$model" "${imgs[@]}" | grep -v '^#' > "$TMP/out.txt"
    # same paths in the same order, scores within 2e-6 relative: the consumer scores one
    # image at a time and the CLI a batch, and SGEMM kernels may round a GEMM's remainder
    # rows differently (seen: 1 unit in the 7th digit with OpenBLAS's and oneDNN's AVX-512
    # kernels); anything more is a real difference
    paste -d' ' "$TMP/cli.txt" "$TMP/out.txt" | awk -v n="${#imgs[@]}" '
        { d = $2 - $4; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2
          if ($1 != $3 || d > 2e-6 * a + 1e-6) { print "differs: " $0 > "/dev/stderr"; bad = 1 } }
        END { if (NR != n) { print "expected " n " lines, got " NR > "/dev/stderr"; bad = 1 }; exit bad }' ||
        { diff -u "$TMP/cli.txt" "$TMP/out.txt" >&2; fail "$(basename "$exe") scores differ from the CLI's"; }
    echo "$(basename "$exe"): ${#imgs[@]} scores equal to the CLI's within 2e-6"
done
ldd "$TMP/consumer" | grep >/dev/null "$P/lib/libpadim.so" || fail "consumer is not linked to the installed libpadim.so"
ldd "$TMP/consumer_static" | grep >/dev/null libpadim && fail "static consumer still needs libpadim.so"

# The Debian package.
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    (cd "$BUILD" && cpack -G DEB >"$TMP/cpack.log" 2>&1) || { tail -n 30 "$TMP/cpack.log"; fail "cpack -G DEB"; }
    deb=$(ls -t "$BUILD"/padim-gpu_*_amd64.deb | head -n1)
    [ -f "$deb" ] || fail "no .deb"
    depends=$(dpkg-deb -f "$deb" Depends)
    for lib in libcjson libyaml libtiff libopenblas; do
        echo "$depends" | grep >/dev/null "$lib" || fail "$deb: Depends lacks $lib: $depends"
    done
    dpkg-deb -c "$deb" > "$TMP/deb-contents.txt"
    for f in ./usr/bin/padim-gpu ./usr/include/padim.h ./usr/lib/pkgconfig/padim.pc ./usr/share/padim-gpu/configs/; do
        grep -q " $f" "$TMP/deb-contents.txt" || fail "$deb lacks $f"
    done
    echo "deb: $(basename "$deb") Depends: $depends"
fi
echo "test_install: all checks passed"
