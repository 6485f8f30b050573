# The C API under threads (tests/test_threads.c): several threads, one scorer each on one
# shared model, results bit-identical to one thread. Run here as a normal test, and built
# with ThreadSanitizer in a separate folder (build/tsan, -DPADIM_TSAN=ON) by
# tests/run_tsan.sh for the race check (exit 77 when the compiler cannot build with TSan).
padim_add_test(test_threads tests/test_threads.c)
if(NOT PADIM_TSAN AND NOT PADIM_FUZZ)
  add_test(NAME tsan_threads COMMAND ${CMAKE_SOURCE_DIR}/tests/run_tsan.sh ${CMAKE_BINARY_DIR}/tsan)
  set_tests_properties(tsan_threads PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1200 LABELS slow)
endif()
