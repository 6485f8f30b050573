# Command-line tests: bad inputs give clear errors and write nothing; the bottle
# integration test against the PyTorch reference (skipped without the data).
add_test(NAME cli_errors COMMAND ${CMAKE_SOURCE_DIR}/tests/test_cli_errors.sh $<TARGET_FILE:padim-gpu>)
set_tests_properties(cli_errors PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
foreach(preset anomalib paper)
  add_test(NAME bottle_integration_${preset}
           COMMAND ${CMAKE_SOURCE_DIR}/tests/test_bottle_integration.sh $<TARGET_FILE:padim-gpu> ${preset})
  set_tests_properties(bottle_integration_${preset} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800)
endforeach()
# --precision bf16 on processors with bf16 dot products (skipped elsewhere), against the
# reference's exact emulation of that arithmetic and against fp32.
add_test(NAME bottle_integration_bf16
         COMMAND ${CMAKE_SOURCE_DIR}/tests/test_bottle_integration.sh $<TARGET_FILE:padim-gpu> anomalib bf16)
set_tests_properties(bottle_integration_bf16 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800)
# CPU vs CUDA on real data (skipped without a GPU or the data): the bottle pipeline for both
# presets, and Wide-ResNet-50-2 (random weights) at 256x256, batch 64.
if(PADIM_CUDA)
  foreach(preset anomalib paper)
    add_test(NAME bottle_cuda_parity_${preset}
             COMMAND ${CMAKE_SOURCE_DIR}/tests/test_bottle_cuda_parity.sh $<TARGET_FILE:padim-gpu> ${preset})
    set_tests_properties(bottle_cuda_parity_${preset} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800 LABELS cuda
                         ENVIRONMENT "PADIM_SHARED=${PADIM_SHARED_DIR};PADIM_PYTHON=${PADIM_PYTHON}")
  endforeach()
  add_test(NAME wrn50_cuda_parity
           COMMAND ${CMAKE_SOURCE_DIR}/tests/test_wrn50_cuda_parity.sh $<TARGET_FILE:padim-gpu>)
  set_tests_properties(wrn50_cuda_parity PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800 LABELS cuda
                       ENVIRONMENT "PADIM_SHARED=${PADIM_SHARED_DIR};PADIM_PYTHON=${PADIM_PYTHON}")
endif()
# OpenBLAS's kernels fit the processor (padim-gpu restarts itself when OpenBLAS misreads it).
add_test(NAME blas_kernels COMMAND ${CMAKE_SOURCE_DIR}/tests/test_blas_kernels.sh $<TARGET_FILE:padim-gpu>)
set_tests_properties(blas_kernels PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
# Decoding overlapped with the backend changes no number (and keeps decode errors clear).
add_test(NAME overlap_consistency COMMAND ${CMAKE_SOURCE_DIR}/tests/test_overlap.sh $<TARGET_FILE:padim-gpu>)
set_tests_properties(overlap_consistency PROPERTIES TIMEOUT 300)
# Installed like a library: cmake --install, pkg-config / find_package consumers, the .deb.
add_test(NAME install_consumers COMMAND ${CMAKE_SOURCE_DIR}/tests/test_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install_consumers PROPERTIES TIMEOUT 600)
# JSON outputs (score, eval, info, bench) parsed by Python on paths with '"', '\' and
# non-ASCII characters; `score --batch` reaching the backend.
add_test(NAME cli_json COMMAND ${CMAKE_SOURCE_DIR}/tests/test_cli_json.sh $<TARGET_FILE:padim-gpu>)
set_tests_properties(cli_json PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
# score's outputs at each image's own size (both presets, mixed sizes, grayscale), regions
# against scipy.ndimage.label, and good-only calibration through the CLI.
add_test(NAME score_outputs COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/test_score_outputs.py $<TARGET_FILE:padim-gpu>)
set_tests_properties(score_outputs PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
