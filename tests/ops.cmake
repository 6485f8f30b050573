# Tests of the CPU PaDiM operations and the channel-subset generator. Goldens in
# tests/golden/ops/ come from tests/ref_ops.py (Python random, NumPy, SciPy, PyTorch).
padim_add_test(test_rng tests/test_rng.c)
padim_add_test(test_ops tests/test_ops.c)
# The same goldens through the Mahalanobis paths that machines without AVX2 + FMA take
# (unpacked factor + STRMM from 8 images, packed rows below).
add_test(NAME test_ops_no_avx2 COMMAND test_ops WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_ops_no_avx2 PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT PADIM_CPU_NO_AVX2=1)
# The AVX2 Mahalanobis kernel on processors with AVX-512 (which take the 16-lane one).
add_test(NAME test_ops_no_avx512 COMMAND test_ops WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_ops_no_avx512 PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT PADIM_CPU_NO_AVX512=1)
