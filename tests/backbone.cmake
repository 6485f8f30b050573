# Backbone forward pass (backbone_cpu.c) against torchvision (tests/ref_backbone.py).
# ResNet-18: real weights + committed goldens. Wide-ResNet-50-2: random weights with
# unfolded BatchNorm and goldens generated into the build dir at test time (~100 MB,
# too big to commit); skipped (77) when ${PADIM_PYTHON} has no torch/torchvision.
padim_add_test(test_backbone tests/test_backbone.c)
add_test(NAME test_backbone_wrn50
  COMMAND sh -c "\"$0\" -c 'import torch, torchvision' 2>/dev/null || { echo \"SKIP: $0 has no torch/torchvision (needed to generate the WRN50 goldens)\"; exit 77; }; \"$0\" \"$1\" --wrn50 \"$2\" && exec \"$3\" --wrn50 \"$2\""
    ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/ref_backbone.py
    ${CMAKE_BINARY_DIR}/golden_backbone_wrn50 $<TARGET_FILE:test_backbone>
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_backbone_wrn50 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
# The portable (SSE2) build of the Winograd transforms, which machines without AVX2 run.
add_test(NAME test_backbone_no_avx2 COMMAND test_backbone WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_backbone_no_avx2 PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT PADIM_CPU_NO_AVX2=1)
