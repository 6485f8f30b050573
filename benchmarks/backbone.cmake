# CPU backbone benchmark (an executable, not a ctest): build/bench_backbone [--size S] ...
# Its PyTorch twin is benchmarks/bench_backbone_torch.py; numbers in benchmarks/RESULTS.md.
add_executable(bench_backbone ${CMAKE_SOURCE_DIR}/benchmarks/bench_backbone.c)
target_compile_options(bench_backbone PRIVATE ${PADIM_WARNINGS})
target_link_libraries(bench_backbone PRIVATE padim)
