# Workbench for the CPU PaDiM operations (not a test): build/bench_ops_cpu prints a table.
add_executable(bench_ops_cpu benchmarks/bench_ops_cpu.c)
target_compile_options(bench_ops_cpu PRIVATE ${PADIM_WARNINGS})
target_link_libraries(bench_ops_cpu PRIVATE padim)
