#!/usr/bin/env bash
# tools/device_kit.sh - fill .device-kit/ (git-ignored, never committed) with what the bare
# GPU machine lacks for benchmarks/gpu_check.sh, so that one `device` call can carry it:
#
#   .device-kit/prefix.tar.xz   our Debian 12 build and runtime packages (tools/deps.sh's
#                               PADIM_DEP_PKGS and their library closure), `dpkg -x`-ed into
#                               one relocatable prefix: relative symlinks, the Debian
#                               alternatives made by hand, .pc files rewritten against
#                               ${pcfiledir}, a pkg-config wrapper in prefix/bin; packed
#                               because OpenBLAS alone is 44 MB unpacked
#   .device-kit/cudnn/include   cuDNN headers of this machine, used on the GPU machine only
#                               when the cuDNN found there has none
#   .device-kit/data/bottle     a byte-identical subset of MVTec AD bottle (CC BY-NC-SA 4.0,
#                               license.txt included): KIT_TRAIN train/good images and
#                               KIT_TEST images per test type with their masks
#   .device-kit/manifest.txt    date, commit, packages and versions, data files, sizes
#
# usage: tools/device_kit.sh      (Debian 12, apt; root only if `apt-get update` is needed)
# Environment: PADIM_SHARED (default ../shared), KIT_TRAIN (20), KIT_TEST (3),
# KIT_MAX_MIB (48: the limit for working tree + kit; the device tool takes 64),
# KIT_DEB_CACHE (/var/cache/padim-gpu/debs, downloaded .debs kept for reruns).
# Ends by printing the device call to make.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
# shellcheck source=tools/deps.sh
. tools/deps.sh

KIT=$SRC/.device-kit
SHARED=${PADIM_SHARED:-$SRC/../shared}
BOTTLE=$SHARED/data/mvtec_ad/bottle
N_TRAIN=${KIT_TRAIN:-20}
N_TEST=${KIT_TEST:-3}
MAX_MIB=${KIT_MAX_MIB:-48}
DEBS=${KIT_DEB_CACHE:-/var/cache/padim-gpu/debs}
CUDA=${CUDA_HOME:-/usr/local/cuda}
ARCH_DIR=usr/lib/x86_64-linux-gnu
# What any glibc image has: never carried (the GPU machine's own, newer versions serve).
GLIBC_IMAGE_PKGS=(libc6 libgcc-s1 libstdc++6 gcc-12-base zlib1g liblzma5 libzstd1 libcrypt1)
# Where a dependency has alternatives, the one we build and test with here.
PREFER=(libopenblas0-pthread libopenblas-pthread-dev)

die() { echo "device_kit: error: $*" >&2; exit 1; }
say() { echo "device_kit: $*" >&2; }
for t in apt-get apt-cache dpkg-deb dpkg-query tar xz git ldd file; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found (this script runs on a Debian 12 development machine)"
done
[ -d "$BOTTLE/train/good" ] || die "MVTec AD bottle not found at $BOTTLE (set PADIM_SHARED)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP" "$KIT.tmp"' EXIT

# ------------------------------------------------------------------ package closure

# apt-cache with a cache file of its own: this image disables apt's (docker-clean), and
# rebuilding it costs a second or more per call.
APT_CACHE=(apt-cache -o Dir::Cache::pkgcache="$TMP/pkgcache.bin" -o Dir::Cache::srcpkgcache="$TMP/srcpkgcache.bin")

# dep_groups PKG...: one line "PKG ALT..." per Depends/PreDepends group of each PKG, its
# alternatives in order (a virtual package is followed by its providers).
dep_groups() {
    "${APT_CACHE[@]}" depends --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$@" | awk '
        function flush() { if (grp != "") print pkg, grp; grp = "" }
        /^[^ ]/ { flush(); pending = 0; pkg = $1; next }
        /^ [ |][A-Za-z]+: / {
            cont = substr($0, 2, 1) == "|"
            line = $0; sub(/^ [ |]/, "", line)
            type = line; sub(/:.*/, "", type)
            name = line; sub(/^[^:]*: /, "", name); gsub(/[<>]/, "", name)
            if (!pending) flush()
            skip = type != "Depends" && type != "PreDepends"
            if (!skip) grp = grp == "" ? name : grp " " name
            pending = cont && !skip
            next
        }
        /^    [^ ]/ { if (!skip) grp = grp " " $1; next }
        END { flush() }'
}
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
has_candidate() { "${APT_CACHE[@]}" policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -qvx '(none)'; }

# closure ROOT...: breadth-first over the dependencies, one apt-cache call per level; a
# group already satisfied by a chosen or excluded package is skipped, else the preferred,
# the installed or the first installable candidate is chosen. Fills CHOSEN (package ->
# the package that needed it) and ORDER; EXCLUDE stops the walk.
declare -A CHOSEN=() EXCLUDE=()
ORDER=()
closure() {
    local level=("$@") next pkg c pick
    local -a group
    for pkg in "$@"; do CHOSEN[$pkg]=root; ORDER+=("$pkg"); done
    while [ ${#level[@]} -gt 0 ]; do
        next=()
        while read -r pkg rest; do
            read -r -a group <<<"$rest"
            pick=
            for c in "${group[@]}"; do
                if [ -n "${CHOSEN[$c]:-}" ] || [ -n "${EXCLUDE[$c]:-}" ]; then pick=satisfied; break; fi
            done
            [ -z "$pick" ] || continue
            for c in "${PREFER[@]}"; do [[ " ${group[*]} " == *" $c "* ]] && { pick=$c; break; }; done
            if [ -z "$pick" ]; then for c in "${group[@]}"; do is_installed "$c" && { pick=$c; break; }; done; fi
            if [ -z "$pick" ]; then for c in "${group[@]}"; do has_candidate "$c" && { pick=$c; break; }; done; fi
            [ -n "$pick" ] || die "no installable package for the dependency '${group[*]}' of $pkg"
            CHOSEN[$pick]=$pkg
            ORDER+=("$pick")
            next+=("$pick")
        done < <(dep_groups "${level[@]}")
        level=("${next[@]}")
    done
}

say "resolving the closure of ${PADIM_DEP_PKGS[*]}"
# The compiler's own closure (libc6-dev, libgomp1, libquadmath0, ...) is on the GPU machine,
# which builds CUDA code with it; like the glibc image's packages it is excluded.
for p in "${GLIBC_IMAGE_PKGS[@]}"; do EXCLUDE[$p]=glibc-image; done
closure build-essential
for p in "${ORDER[@]}"; do EXCLUDE[$p]=compiler; done
CHOSEN=()
ORDER=()
closure "${PADIM_DEP_PKGS[@]}"
PKGS=("${ORDER[@]}")
say "${#PKGS[@]} packages: ${PKGS[*]}"

# ------------------------------------------------------------------ download, unpack

mkdir -p "$DEBS"
declare -A VERSION=()
while read -r pkg v; do VERSION[$pkg]=$v; done < <("${APT_CACHE[@]}" policy "${PKGS[@]}" |
    awk '/^[^ ].*:$/ {p = substr($0, 1, length($0) - 1)} /^  Candidate:/ {print p, $2}')
deb_of() { ls "$DEBS/${1}_${VERSION[$1]//:/%3a}_"*.deb 2>/dev/null | head -n 1; }
get=()
for pkg in "${PKGS[@]}"; do
    [ -n "${VERSION[$pkg]:-}" ] && [ "${VERSION[$pkg]}" != "(none)" ] || die "no candidate version of $pkg"
    [ -n "$(deb_of "$pkg")" ] || get+=("$pkg=${VERSION[$pkg]}")
done
if [ ${#get[@]} -gt 0 ]; then
    say "downloading ${#get[@]} packages into $DEBS"
    (cd "$DEBS" && apt-get download -q "${get[@]}" >/dev/null 2>&1) || {
        say "apt-get download failed; apt-get update, then again"
        apt-get update -qq && (cd "$DEBS" && apt-get download -q "${get[@]}" >/dev/null)
    } || die "cannot download: ${get[*]}"
fi
P=$TMP/prefix
mkdir -p "$P" "$TMP/ctrl"
: >"$TMP/packages.txt"
for pkg in "${PKGS[@]}"; do
    deb=$(deb_of "$pkg")
    [ -n "$deb" ] || die "no .deb of $pkg=${VERSION[$pkg]} in $DEBS"
    dpkg-deb -x "$deb" "$P"
    rm -rf "$TMP/ctrl/$pkg" && dpkg-deb -e "$deb" "$TMP/ctrl/$pkg"
    printf '%s %s (for %s)\n' "$pkg" "$(dpkg-deb -f "$deb" Version)" "${CHOSEN[$pkg]}" >>"$TMP/packages.txt"
done

# Merged /usr, as on the GPU machine's image: /lib, /bin, /sbin go under usr/.
for d in lib bin sbin; do
    if [ -d "$P/$d" ] && [ ! -L "$P/$d" ]; then
        mkdir -p "$P/usr/$d" && cp -a "$P/$d/." "$P/usr/$d/" && rm -rf "${P:?}/$d"
    fi
done
# Not needed to build or run: documentation, static libraries, autoconf macros.
rm -rf "$P"/usr/share/{doc,man,info,lintian,bug,bash-completion,aclocal} "${P:?}/etc"
find "$P" \( -name '*.a' -o -name '*.la' \) -delete

# rel_link LINK TARGET: LINK (a path in the prefix) -> TARGET (an absolute path of the
# installed system, which lives at $P/TARGET here), as a relative symlink.
rel_link() {
    local t=$2
    case $t in /lib/* | /bin/* | /sbin/*) t=/usr$t ;; esac
    mkdir -p "$(dirname "$1")"
    ln -sfn "$(realpath -m --relative-to="$(dirname "$1")" "$P$t")" "$1"
}
# Absolute symlinks from the packages become relative.
while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    case $t in /*) rel_link "$l" "$t" ;; esac
done < <(find "$P" -type l -print0)

# The Debian alternatives (libblas.so.3, liblapack.so.3, libopenblas.so.0, openblas.pc, ...)
# are made by the packages' postinst scripts; make them from those scripts, highest
# priority first, skipping targets removed above (the static libraries).
for pkg in "${PKGS[@]}"; do
    pi=$TMP/ctrl/$pkg/postinst
    [ -f "$pi" ] || continue
    sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba}' "$pi" | grep -E 'update-alternatives +--install' |
        while read -r -a w; do
            for ((i = 0; i < ${#w[@]}; i++)); do
                case ${w[$i]} in
                --install) echo "${w[$((i + 4))]} ${w[$((i + 2))]} ${w[$((i + 1))]} ${w[$((i + 3))]}"; prio=${w[$((i + 4))]} ;;
                --slave) echo "${prio:-0} ${w[$((i + 2))]} ${w[$((i + 1))]} ${w[$((i + 3))]}" ;;
                esac
            done
        done
done | sort -k2,2 -k1,1nr | awk '!seen[$2]++' >"$TMP/alternatives.txt"
while read -r _prio _name link target; do
    [ -e "$P$target" ] || continue
    rel_link "$P$link" "$target"
done <"$TMP/alternatives.txt"

# Development links into excluded packages (libz.so -> libz.so.1.2.13, ...) dangle: we link
# none of those libraries directly (only libtiff does, through its own NEEDED entries).
find "$P" -xtype l -delete

# .pc files: symlinked ones (the alternatives) become copies, then every absolute /usr
# becomes ${kit_usr} = ${pcfiledir}/<up to usr>, so the prefix works wherever it is unpacked.
while IFS= read -r -d '' pc; do
    cp --remove-destination "$(readlink -f "$pc")" "$pc"
done < <(find "$P" -name '*.pc' -type l -print0)
while IFS= read -r -d '' pc; do
    up=$(realpath -m --relative-to="$(dirname "$pc")" "$P/usr")
    { echo "kit_usr=\${pcfiledir}/$up"
      sed -E 's#(^|[=[:space:]]|-I|-L)/usr(/|$|[[:space:]])#\1${kit_usr}\2#g' "$pc"; } >"$pc.new"
    mv "$pc.new" "$pc"
done < <(find "$P" -name '*.pc' -print0)

mkdir -p "$P/bin"
cat >"$P/bin/pkg-config" <<'EOF'
#!/bin/sh
# pkg-config of the padim-gpu device kit: the kit's pkgconf with its own library, searching
# only the kit's .pc files (made by tools/device_kit.sh; relocatable).
kit=$(cd "$(dirname "$0")/.." && pwd)
lib=$kit/usr/lib/x86_64-linux-gnu
PKG_CONFIG_LIBDIR=$lib/pkgconfig:$kit/usr/share/pkgconfig:$kit/usr/lib/pkgconfig
export PKG_CONFIG_LIBDIR
LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec "$kit/usr/bin/pkgconf" "$@"
EOF
chmod +x "$P/bin/pkg-config"

# ------------------------------------------------------------------ checks

# pkg-config finds every module CMakeLists.txt asks for, with paths inside the prefix only.
mods=$(sed -n 's/.*pkg_check_modules(DEPS REQUIRED IMPORTED_TARGET \(.*\))/\1/p' CMakeLists.txt)
[ -n "$mods" ] || die "cannot read the pkg_check_modules list from CMakeLists.txt"
# shellcheck disable=SC2086
flags=$("$P/bin/pkg-config" --cflags --libs $mods) || die "the kit's pkg-config fails on: $mods"
for f in $flags; do
    case $f in -I* | -L*) [[ ${f:2} == "$P"/* ]] || die "pkg-config flag outside the kit: $f" ;; esac
done
# Every shared object of the kit resolves with only the kit and the excluded packages
# (each system library once: dpkg -S is slow).
owner() { # owner PATH: the package that installed PATH (usr-merged or not), or nothing
    local q
    for q in "$1" "${1#/usr}" "/usr${1#/usr}"; do
        dpkg -S "$q" 2>/dev/null | head -n 1 | cut -d: -f1 && return 0
    done
}
libpath=$P/$ARCH_DIR:$P/$ARCH_DIR/openblas-pthread
: >"$TMP/needed.txt"
while IFS= read -r -d '' so; do
    file -b "$so" | grep -q '^ELF' || continue
    LD_LIBRARY_PATH=$libpath ldd "$so" 2>/dev/null |
        awk -v so="${so#"$P"/}" '$2 == "=>" {print so, $1, $3}' >>"$TMP/needed.txt"
done < <(find "$P" -type f \( -name '*.so*' -o -path '*/usr/bin/*' \) -print0)
missing=$(awk '$3 == "not" {print $1 " needs " $2}' "$TMP/needed.txt")
[ -z "$missing" ] || die "not found in the kit or the system: $missing"
while read -r path; do
    o=$(owner "$path" || true)
    [ -n "$o" ] && [ -n "${EXCLUDE[$o]:-}" ] ||
        die "$(grep -m1 " $path\$" "$TMP/needed.txt" | cut -d' ' -f1,2) comes from the system package '${o:-?}' ($path), which the kit lacks"
done < <(awk '$3 !~ "^'"$P"'/" {print $3}' "$TMP/needed.txt" | sort -u)
say "every library resolves within the kit and ${GLIBC_IMAGE_PKGS[*]} + the compiler's packages"

# ------------------------------------------------------------------ the kit folder

rm -rf "$KIT.tmp"
mkdir -p "$KIT.tmp"
raw=$(du -sm "$P" | cut -f1)
say "packing the prefix ($raw MB unpacked)"
XZ_OPT=${XZ_OPT:--6 -T0} tar -C "$TMP" --owner=0 --group=0 -cJf "$KIT.tmp/prefix.tar.xz" prefix

if ls "$CUDA"/include/cudnn*.h >/dev/null 2>&1; then
    mkdir -p "$KIT.tmp/cudnn/include"
    cp "$CUDA"/include/cudnn*.h "$KIT.tmp/cudnn/include/"
else
    say "no cuDNN headers under $CUDA/include: the kit carries none (the GPU machine's must do)"
fi

# The data subset, in the MVTec layout, files copied byte for byte.
D=$KIT.tmp/data/bottle
mkdir -p "$D/train/good"
cp "$BOTTLE/license.txt" "$BOTTLE/readme.txt" "$D/" 2>/dev/null || cp "$BOTTLE/license.txt" "$D/"
find "$BOTTLE/train/good" -maxdepth 1 -name '*.png' | sort | sed -n "1,${N_TRAIN}p" | xargs cp -t "$D/train/good"
for t in "$BOTTLE"/test/*/; do
    t=$(basename "$t")
    mkdir -p "$D/test/$t"
    for img in $(find "$BOTTLE/test/$t" -maxdepth 1 -name '*.png' | sort | sed -n "1,${N_TEST}p"); do
        cp "$img" "$D/test/$t/"
        if [ "$t" != good ]; then
            m=$BOTTLE/ground_truth/$t/$(basename "$img" .png)_mask.png
            [ -f "$m" ] || die "no mask $m"
            mkdir -p "$D/ground_truth/$t"
            cp "$m" "$D/ground_truth/$t/"
        fi
    done
done
n_train=$(find "$D/train" -name '*.png' | wc -l)
n_test=$(find "$D/test" -name '*.png' | wc -l)

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- 2>/dev/null || commit="$commit+local-changes"
{
    echo "padim-gpu device kit (tools/device_kit.sh). Never commit; the data is CC BY-NC-SA 4.0."
    echo "made: $(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), commit $commit"
    echo "prefix: ${raw} MB unpacked, $(du -m "$KIT.tmp/prefix.tar.xz" | cut -f1) MB packed"
    echo "excluded (the GPU image has them): ${GLIBC_IMAGE_PKGS[*]} and the packages of build-essential"
    echo "packages:"
    sed 's/^/  /' "$TMP/packages.txt"
    echo "data: $n_train train/good and $n_test test images, with the masks (sha256 of each file):"
    (cd "$KIT.tmp/data" && find . -name '*.png' | sort | xargs sha256sum | sed 's/^/  /')
} >"$KIT.tmp/manifest.txt"
echo "$commit" >"$KIT.tmp/commit.txt"

rm -rf "$KIT"
mv "$KIT.tmp" "$KIT"

# ------------------------------------------------------------------ sizes, the call

tree_bytes=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
kit_bytes=$(du -sb "$KIT" | cut -f1)
total=$((tree_bytes + kit_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo
echo "sizes (what the device tool sends):"
echo "  working tree (tracked + untracked, not ignored)  $(mib "$tree_bytes")"
du -sb "$KIT"/prefix.tar.xz "$KIT"/cudnn "$KIT"/data 2>/dev/null |
    while read -r b f; do printf '  %-48s %s\n' "${f#"$SRC"/}" "$(mib "$b")"; done
echo "  .device-kit total                                $(mib "$kit_bytes")"
echo "  total                                            $(mib "$total") (limit here ${MAX_MIB} MiB, device tool 64 MiB)"
[ "$total" -le $((MAX_MIB * 1048576)) ] || die "working tree + kit is over ${MAX_MIB} MiB: lower KIT_TRAIN / KIT_TEST"
cat <<EOF

kit ready: $KIT ($n_train train + $n_test test images, ${#PKGS[@]} packages, commit $commit)
The device call (from this checkout's root; about 8 minutes of the 15-minute lease):
  run  command:   GPU_CHECK_BUDGET=480 bash benchmarks/gpu_check.sh
       carry:     [".device-kit"]
       timeout_s: 560
Results come back in \$OUT: summary.md, steps.log, results.jsonl, running.log.
EOF
