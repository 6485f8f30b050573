# tools/deps.sh - the one list of the Debian 12 packages padim-gpu builds with (sourced, not run).
#
#   PADIM_TOOLCHAIN_PKGS  compiler, CMake, ninja: what the bare GPU machine's image has too
#   PADIM_DEP_PKGS        our libraries: the GPU machine has none of them, so
#                         tools/device_kit.sh carries these and their runtime closure
#   PADIM_OPT_PKGS        optional libraries, installed where the distribution has them:
#                         oneDNN 2.x (Debian 12's libdnnl-dev) runs the CPU backbone
#                         (CMake's PADIM_DNNL=AUTO uses it when found; other major versions
#                         are skipped). Not in the device kit: its 39 MB library would not
#                         fit the 64 MiB a lease carries, and the GPU check needs the CUDA path.
#
# Used by tools/setup.sh (installs both), tools/device_kit.sh (downloads the second) and
# tools/check_device_kit.sh (installs only the first into a Debian minbase tree).
# shellcheck shell=bash disable=SC2034
PADIM_TOOLCHAIN_PKGS=(build-essential cmake ninja-build)
# Image decoders: libpng (PNG), libdeflate (the inflate of 8-bit PNGs' fast path),
# libjpeg-turbo (JPEG; libjpeg-dev is libjpeg62-turbo-dev on Debian, libjpeg-turbo8-dev on
# Ubuntu), libtiff (TIFF), stb (BMP, and the PNG writer).
PADIM_DEP_PKGS=(pkg-config libopenblas-dev liblapacke-dev libtiff-dev libstb-dev libpng-dev
                libdeflate-dev libjpeg-dev libcjson-dev libyaml-dev)
PADIM_OPT_PKGS=(libdnnl-dev)
