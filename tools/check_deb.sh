#!/usr/bin/env bash
# tools/check_deb.sh - build the Debian package of padim-gpu (CPU backend, so that it
# installs from Debian's archive alone) and install it in a clean Debian 12 minbase tree
# (debootstrap): `apt-get install ./padim-gpu_*.deb`, then `padim-gpu --help` and
# `padim-gpu demo` must work from the package alone. A developer tool (root, network to a
# Debian mirror, ~2-4 minutes), not a CI step; the result goes into benchmarks/RESULTS.md.
#
#   tools/check_deb.sh [WORKDIR]     (default /var/cache/padim-gpu/deb-check)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
WORK=${1:-/var/cache/padim-gpu/deb-check}
ROOT=$WORK/root
t0=$SECONDS
[ "$(id -u)" -eq 0 ] || { echo "check_deb: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

echo "== build (CPU backend, Release) and package"
cmake -S . -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPADIM_CUDA=OFF -DPADIM_BUILD_TESTS=OFF >/dev/null
cmake --build "$WORK/build" -j "$(nproc)" >/dev/null
rm -f "$WORK"/build/padim-gpu_*.deb
(cd "$WORK/build" && cpack -G DEB >/dev/null)
deb=$(ls "$WORK"/build/padim-gpu_*_amd64.deb)
echo "package: $(basename "$deb") ($(du -h "$deb" | cut -f1)); Depends: $(dpkg-deb -f "$deb" Depends)"

echo "== clean Debian 12 minbase tree"
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    rm -rf "$ROOT"
    debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log"; exit 1; }
    cp -a "$ROOT" "$WORK/root.pristine"
else
    # start from the pristine tree every time: the check is "a clean machine"
    rm -rf "$ROOT" && cp -a "$WORK/root.pristine" "$ROOT"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp "$deb" "$ROOT/tmp/"
mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT

echo "== apt-get install ./$(basename "$deb") in the tree"
chroot "$ROOT" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/$(basename "$deb")" \
    >"$WORK/install.log" 2>&1 || { tail -n 30 "$WORK/install.log"; exit 1; }
grep -E "^(Setting up|Unpacking) " "$WORK/install.log" | sed 's/^/  /' | head -n 40
echo "== padim-gpu from the package alone"
chroot "$ROOT" /usr/bin/padim-gpu --help > "$WORK/help.txt"; head -n 3 "$WORK/help.txt"
chroot "$ROOT" /bin/sh -c "cd /tmp && padim-gpu demo -o /tmp/padim-demo --device cpu" 2>&1 | tail -n 6
chroot "$ROOT" /bin/sh -c "test -s /tmp/padim-demo/model.padim && ls /tmp/padim-demo/heatmaps | head -n 3"
echo "check_deb: the package installed in a clean Debian 12 tree and ran the demo ($((SECONDS - t0)) s)"
