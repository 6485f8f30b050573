# CUDA tests: only with the CUDA backend built. Without a GPU they exit 77 (ctest skip).
if(PADIM_CUDA)
  padim_add_test(test_cuda_ops tests/test_cuda_ops.c)
  padim_add_test(test_cuda_backend tests/test_cuda_backend.c)
  set_tests_properties(test_cuda_ops test_cuda_backend PROPERTIES LABELS cuda)
endif()
