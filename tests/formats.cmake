# File formats: safetensors reader/writer, backbone weights loader, model files.
padim_add_test(test_safetensors tests/test_safetensors.c)
padim_add_test(test_weights tests/test_weights.c)
padim_add_test(test_model_file tests/test_model_file.c)
