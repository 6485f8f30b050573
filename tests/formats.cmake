# File formats: safetensors reader/writer, backbone weights loader, model files.
padim_add_test(test_safetensors tests/test_safetensors.c)
padim_add_test(test_weights tests/test_weights.c)
padim_add_test(test_model_file tests/test_model_file.c)
add_test(NAME test_convert_weights
         COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/test_convert_weights.py
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
