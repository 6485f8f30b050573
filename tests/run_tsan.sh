#!/usr/bin/env bash
# run_tsan.sh DIR - build tests/test_threads.c and the library with ThreadSanitizer into DIR
# (gcc, -DPADIM_TSAN=ON, only the test_threads target) and run it (README "Tests").
# OpenMP and OpenBLAS get one thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1): libgomp
# and OpenBLAS are not instrumented, and TSan reports the synchronization inside libgomp's
# thread pool as races (false positives), so the threads TSan checks are the test's own.
# Any report fails the test (halt_on_error). Exit 77 when the compiler cannot build and
# run a TSan program.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?build folder}
cc=${CC:-cc}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
printf '#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }\n' > "$t/t.c"
if ! "$cc" -fsanitize=thread "$t/t.c" -o "$t/t" 2>/dev/null || ! "$t/t"; then
  echo "tsan: $cc cannot build or run a ThreadSanitizer program: skipped" >&2; exit 77
fi
cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPADIM_CUDA=OFF \
      -DPADIM_TSAN=ON >/dev/null || exit 1
cmake --build "$dir" --target test_threads -j "$(nproc)" || exit 1
cd "$src" || exit 1
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
  "$dir/test_threads"
