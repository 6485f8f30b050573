# Fuzzing (tests/fuzz/): libFuzzer targets over image decoding, the safetensors reader,
# model files, YAML configs and the dataset layouts. They need clang, so they are built
# in a separate build folder (build/fuzz) that tests/fuzz/run.sh configures with
# -DPADIM_FUZZ=ON; in that build this file defines the targets. In the normal build it
# registers the tests: fuzz_build (exit 77 without clang / libFuzzer), then one short
# smoke run per target (its regression inputs, then a few seconds from the seeds).
set(PADIM_FUZZ_TARGETS fuzz_image fuzz_safetensors fuzz_model fuzz_config fuzz_dataset)
if(PADIM_FUZZ)
  foreach(t ${PADIM_FUZZ_TARGETS})
    add_executable(${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/${t}.c)
    target_compile_options(${t} PRIVATE ${PADIM_WARNINGS} -fsanitize=fuzzer)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${t} PRIVATE padim)
  endforeach()
else()
  set(PADIM_FUZZ_DIR ${CMAKE_BINARY_DIR}/fuzz)
  add_test(NAME fuzz_build COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh build ${PADIM_FUZZ_DIR})
  set_tests_properties(fuzz_build PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL ON LABELS slow)
  foreach(t ${PADIM_FUZZ_TARGETS})
    add_test(NAME ${t}_smoke COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh smoke ${PADIM_FUZZ_DIR} ${t} 12)
    set_tests_properties(${t}_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 DEPENDS fuzz_build LABELS slow)
  endforeach()
endif()
