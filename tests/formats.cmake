# File formats: safetensors reader/writer, backbone weights loader, model files.
padim_add_test(test_safetensors tests/test_safetensors.c)
padim_add_test(test_weights tests/test_weights.c)
padim_add_test(test_model_file tests/test_model_file.c)
add_test(NAME test_convert_weights
         COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/test_convert_weights.py
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
# The same readers with memory mapping off (the fallback that reads files into memory).
foreach(t test_safetensors test_weights test_model_file)
  add_test(NAME ${t}_no_mmap COMMAND ${t} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${t}_no_mmap PROPERTIES ENVIRONMENT PADIM_NO_MMAP=1 SKIP_RETURN_CODE 77)
endforeach()
# The float16 TIFF of the MVTec AD 2 submission: libtiff read-back and tifffile (NumPy's
# float16 rounding) as the independent reader.
padim_add_test(test_tiff_f16 tests/test_tiff_f16.c)
set_tests_properties(test_tiff_f16 PROPERTIES ENVIRONMENT "PADIM_PYTHON=${PADIM_PYTHON}")
