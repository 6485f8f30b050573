# CUDA tests: only with the CUDA backend built. Without a GPU they exit 77 (ctest skip).
if(PADIM_CUDA)
  # The kernel-only cases live in cuda_kernel_cases.c, shared with tests/emu.cmake.
  padim_add_test(test_cuda_ops tests/test_cuda_ops.c tests/cuda_kernel_cases.c)
  padim_add_test(test_cuda_backend tests/test_cuda_backend.c)
  set_tests_properties(test_cuda_ops test_cuda_backend PROPERTIES LABELS cuda)
  # The backend's alternative paths: cuDNN conv, bias, residual and ReLU as separate calls;
  # the float32 Cholesky / triangular solve instead of float64.
  add_test(NAME test_cuda_backend_unfused COMMAND test_cuda_backend WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  add_test(NAME test_cuda_backend_factor_fp32 COMMAND test_cuda_backend WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_backend_unfused PROPERTIES ENVIRONMENT PADIM_CUDA_UNFUSED=1
                       SKIP_RETURN_CODE 77 LABELS cuda)
  set_tests_properties(test_cuda_backend_factor_fp32 PROPERTIES ENVIRONMENT PADIM_CUDA_FACTOR=fp32
                       SKIP_RETURN_CODE 77 LABELS cuda)
endif()
