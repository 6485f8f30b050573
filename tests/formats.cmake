# File formats: safetensors reader/writer, backbone weights loader, model files.
padim_add_test(test_safetensors tests/test_safetensors.c)
