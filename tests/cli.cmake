# Command-line tests: bad inputs give clear errors and write nothing; the bottle
# integration test against the PyTorch reference (skipped without the data).
add_test(NAME cli_errors COMMAND ${CMAKE_SOURCE_DIR}/tests/test_cli_errors.sh $<TARGET_FILE:padim-gpu>)
set_tests_properties(cli_errors PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
foreach(preset anomalib paper)
  add_test(NAME bottle_integration_${preset}
           COMMAND ${CMAKE_SOURCE_DIR}/tests/test_bottle_integration.sh $<TARGET_FILE:padim-gpu> ${preset})
  set_tests_properties(bottle_integration_${preset} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800)
endforeach()
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
