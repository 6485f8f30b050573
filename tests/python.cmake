# tests/python.cmake - the padim_gpu Python package (python/), installed as its users install
# it (cmake --install, a venv, pip install ./python against that prefix) and tested with
# pytest against the installed CLI (tests/test_python.sh). Skipped (77) when Debian's python3
# lacks cffi / pytest / venv / the headers, or for sanitizer builds.
add_test(NAME python_bindings
         COMMAND ${CMAKE_SOURCE_DIR}/tests/test_python.sh ${CMAKE_BINARY_DIR} ${PADIM_PYTHON})
set_tests_properties(python_bindings PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1200
  ENVIRONMENT "PADIM_SHARED=${PADIM_SHARED_DIR}")
