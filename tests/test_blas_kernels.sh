#!/usr/bin/env bash
# OpenBLAS's kernel set on this processor (padim_cpu_blas_restart, src/host/cpu/blas_info.c):
# where /proc/cpuinfo shows AVX2 + FMA, `padim-gpu --version` must report a kernel set of
# AVX2 or wider (Debian 12's OpenBLAS takes processors newer than it knows for a Prescott;
# padim-gpu then restarts itself with OPENBLAS_CORETYPE). A user's own OPENBLAS_CORETYPE is
# kept, and PADIM_NO_BLAS_FIX=1 keeps OpenBLAS's pick. Skipped (77) off x86-64.
set -euo pipefail
bin=$1
[ "$(uname -m)" = x86_64 ] || { echo "SKIP: not x86-64" >&2; exit 77; }
flags=$(grep -m1 '^flags' /proc/cpuinfo)
kernels() { env "$@" "$bin" --version | sed -n 's/^BLAS: .*(kernels: \(.*\))$/\1/p'; }
fails=0
got=$(kernels)
echo "OpenBLAS kernels: $got (OpenBLAS's own pick: $(kernels PADIM_NO_BLAS_FIX=1))"
[ -n "$got" ] || { echo "FAIL: --version names no BLAS kernel set" >&2; exit 1; }
if grep -qw avx2 <<<"$flags" && grep -qw fma <<<"$flags"; then
  case "${got,,}" in
  haswell | zen | skylakex | cooperlake | sapphirerapids | excavator) echo "ok   AVX2 processor, AVX2-or-wider kernels" ;;
  *) echo "FAIL: AVX2 processor but OpenBLAS kernels '$got'" >&2; fails=$((fails + 1)) ;;
  esac
  mine=$(kernels OPENBLAS_CORETYPE=Haswell)
  if [ "${mine,,}" = haswell ]; then echo "ok   the user's OPENBLAS_CORETYPE is kept"
  else echo "FAIL: OPENBLAS_CORETYPE=Haswell gave '$mine'" >&2; fails=$((fails + 1)); fi
fi
exit $((fails > 0))
