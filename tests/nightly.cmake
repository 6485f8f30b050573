# tests/nightly.cmake - the nightly MVTec AD runner (benchmarks/nightly_mvtec.py) with a fake
# padim-gpu (tables, "not run" rows, regression exit code), and the Dockerfile lint.
# The real benchmark run is not a ctest (minutes): tests/test_nightly_mvtec.py --real OUT.
add_test(NAME nightly_mvtec
         COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/test_nightly_mvtec.py
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(nightly_mvtec PROPERTIES
  ENVIRONMENT "PADIM_SHARED=${PADIM_SHARED_DIR}" TIMEOUT 300)
# hadolint on the Dockerfile; skipped (77) when hadolint is absent and cannot be installed.
add_test(NAME dockerfile_lint
         COMMAND ${CMAKE_SOURCE_DIR}/tools/lint_dockerfile.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(dockerfile_lint PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
