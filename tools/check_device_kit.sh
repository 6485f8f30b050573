#!/usr/bin/env bash
# tools/check_device_kit.sh - rehearse the bare GPU machine here (a developer tool, not CI):
# run benchmarks/gpu_check.sh inside a Debian 12 minbase tree that has only what the GPU
# image has and the kit cannot carry (compiler, CMake, ninja, python3; none of our -dev
# packages), with /usr/local/cuda bind-mounted and a copy of the checkout plus .device-kit/
# (what the device tool would send). Configure, build and the CPU-side steps must pass
# with only the kit; the GPU steps say "no GPU" and skip.
#
#   tools/check_device_kit.sh             rehearse (makes the tree on first use)
#   tools/check_device_kit.sh --prepare   only make / update the minbase tree
#
# Needs root (debootstrap, chroot, mount --bind) and a reachable Debian mirror the first
# time. The tree is cached in $CHECK_KIT_ROOT (default /var/cache/padim-gpu/bookworm-minbase);
# delete it to start over. The rehearsal's output and timing go to
# $CHECK_KIT_LOGS (default /var/cache/padim-gpu/rehearsal-<UTC date>/): console.log,
# summary.md, steps.log, results.jsonl.
#
# Environment: CHECK_KIT_CUDNN=wheel|auto (default wheel: cuDNN is found the way the GPU
# machine's Python wheel would be, from a copy of this machine's cuDNN laid out as
# nvidia-cudnn-cu13 lays it out, without the unversioned libcudnn.so); GPU_CHECK_BUDGET
# (default 480, as on the GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/deps.sh
. tools/deps.sh

ROOT=${CHECK_KIT_ROOT:-/var/cache/padim-gpu/bookworm-minbase}
MIRROR=${CHECK_KIT_MIRROR:-http://deb.debian.org/debian}
CUDA=${CUDA_HOME:-/usr/local/cuda}
CUDNN_MODE=${CHECK_KIT_CUDNN:-wheel}
# What the GPU image has that minbase lacks and that cannot travel: the toolchain, and
# python3 (the image's venv python; gpu_check.sh uses it for JSON and the parity scripts).
CHROOT_PKGS=("${PADIM_TOOLCHAIN_PKGS[@]}" python3)

die() { echo "check_device_kit: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount --bind)"

prepare_tree() {
    if [ ! -f "$ROOT/.padim-minbase-ok" ]; then
        command -v debootstrap >/dev/null 2>&1 || {
            echo "check_device_kit: installing debootstrap" >&2
            apt-get install -y -qq debootstrap >/dev/null
        }
        echo "check_device_kit: debootstrap --variant=minbase bookworm $ROOT (a few minutes, once)" >&2
        rm -rf "$ROOT"
        mkdir -p "$ROOT"
        debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
            die "debootstrap failed, see $ROOT.debootstrap.log"
        touch "$ROOT/.padim-minbase-ok"
    fi
    local stamp
    stamp="$ROOT/.padim-pkgs-$(echo "${CHROOT_PKGS[*]}" | cksum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ]; then
        echo "check_device_kit: installing ${CHROOT_PKGS[*]} into the tree" >&2
        mount_system
        chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${CHROOT_PKGS[@]}" >/dev/null
        chroot "$ROOT" apt-get clean
        unmount_all
        touch "$stamp"
    fi
}
# None of the kit's packages may be installed in the tree: that is the point of the rehearsal.
check_no_kit_packages() {
    local pkgs=("${PADIM_DEP_PKGS[@]}") leaked
    [ -f .device-kit/manifest.txt ] &&
        mapfile -t -O ${#pkgs[@]} pkgs < <(sed -n '/^packages:/,/^data:/s/^  \([^ ]*\) .*/\1/p' .device-kit/manifest.txt)
    # shellcheck disable=SC2016
    leaked=$(chroot "$ROOT" dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null |
        awk '/install ok installed/ {print $1}' | sort -u | tr '\n' ' ' || true)
    [ -z "$leaked" ] || die "the tree has packages the kit should provide: $leaked"
}

MOUNTS=()
mount_bind() { # mount_bind SRC DST [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTS+=("$2")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
mount_system() {
    mount_bind /proc "$ROOT/proc"
    mount_bind /dev "$ROOT/dev"
    mount_bind /dev/pts "$ROOT/dev/pts"
    mount_bind /sys "$ROOT/sys" ro
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
}
unmount_all() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null ||
            echo "check_device_kit: could not unmount ${MOUNTS[$i]}" >&2
    done
    MOUNTS=()
}
trap unmount_all EXIT

prepare_tree
check_no_kit_packages
[ "${1:-}" = --prepare ] && { echo "check_device_kit: tree ready at $ROOT"; exit 0; }
[ -d .device-kit ] || die "no .device-kit/ here: run tools/device_kit.sh first"
[ -x "$CUDA/bin/nvcc" ] || die "no nvcc under $CUDA (set CUDA_HOME)"

# The checkout as the device tool sends it: tracked and untracked-not-ignored files, plus
# the carried .device-kit/. No .git: the GPU machine may not get one either.
WORK=$ROOT/work
rm -rf "$WORK"
mkdir -p "$WORK/padim-gpu" "$WORK/out"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$WORK/padim-gpu" -xf -
cp -a .device-kit "$WORK/padim-gpu/"

ENVS=(PATH=/usr/local/cuda/bin:/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8
      OUT=/work/out GPU_CHECK_BUDGET="${GPU_CHECK_BUDGET:-480}")
if [ "$CUDNN_MODE" = wheel ]; then
    # A stand-in for the venv's nvidia-cudnn-cu13 wheel: nvidia/cudnn/{include,lib}, only
    # the versioned libcudnn*.so.9 (the loader; the engine libraries load at run time).
    wheel=$WORK/site-packages/nvidia/cudnn
    mkdir -p "$wheel/include" "$wheel/lib"
    cp "$CUDA"/include/cudnn*.h "$wheel/include/"
    cp -L "$CUDA"/lib64/libcudnn.so.9 "$wheel/lib/"
    ENVS+=(PYTHONPATH=/work/site-packages GPU_CHECK_CUDNN=wheel)
fi

mount_system
mount_bind "$CUDA" "$ROOT/usr/local/cuda" ro

LOGS=${CHECK_KIT_LOGS:-/var/cache/padim-gpu/rehearsal-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$LOGS"
echo "check_device_kit: running gpu_check.sh in $ROOT (logs: $LOGS)"
t0=$(date +%s.%N)
set +e
chroot "$ROOT" /usr/bin/env -i "${ENVS[@]}" bash -c 'cd /work/padim-gpu && bash benchmarks/gpu_check.sh' 2>&1 |
    tee "$LOGS/console.log"
rc=${PIPESTATUS[0]}
set -e
secs=$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo "?")
cp "$WORK"/out/* "$LOGS/" 2>/dev/null || true
{
    echo
    echo "rehearsal: $(date -u +%FT%TZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
    echo "  commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- || echo ' + local changes'), cuDNN mode $CUDNN_MODE,"
    echo "  gpu_check.sh exit $rc, ${secs} s wall"
} | tee -a "$LOGS/console.log"

# Pass: configure, build and the CPU-side steps ok, nothing failed; the GPU steps skipped.
for s in configure build cpu_smoke; do
    grep -qE "^\| $s +\| ok " "$LOGS/summary.md" || die "step $s did not pass (see $LOGS/summary.md)"
done
case $rc in
0 | 77) echo "check_device_kit: PASS (exit $rc$([ "$rc" = 77 ] && echo ': no GPU, GPU steps skipped'))" ;;
*) die "gpu_check.sh exit $rc (see $LOGS/console.log)" ;;
esac
