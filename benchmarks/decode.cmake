# PNG decoder workbench (not a test): build/bench_decode FILE.png... compares stb_image,
# libpng (the library's decoder) and libspng when its package is installed (optional;
# Debian libspng-dev). Numbers in benchmarks/RESULTS.md "PNG decoding".
add_executable(bench_decode ${CMAKE_SOURCE_DIR}/benchmarks/bench_decode.c)
target_compile_options(bench_decode PRIVATE ${PADIM_WARNINGS})
target_link_libraries(bench_decode PRIVATE padim)
pkg_check_modules(SPNG QUIET IMPORTED_TARGET spng)
if(SPNG_FOUND)
  target_compile_definitions(bench_decode PRIVATE PADIM_BENCH_SPNG=1)
  target_link_libraries(bench_decode PRIVATE PkgConfig::SPNG)
endif()
