# CUDA workbenches (not tests): validate and time the kernels, and the backend end to end.
if(PADIM_CUDA)
  foreach(b bench_cuda_kernels bench_cuda_backend)
    add_executable(${b} benchmarks/${b}.c)
    target_compile_options(${b} PRIVATE ${PADIM_WARNINGS})
    target_link_libraries(${b} PRIVATE padim)
  endforeach()
endif()
