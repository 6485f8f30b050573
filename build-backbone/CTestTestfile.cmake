# CMake generated Testfile for 
# Source directory: /work/main
# Build directory: /work/main/build-backbone
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[test_backbone]=] "/work/main/build-backbone/test_backbone")
set_tests_properties([=[test_backbone]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/backbone.cmake;5;padim_add_test;/work/main/tests/backbone.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_backbone_wrn50]=] "sh" "-c" "\"\$0\" -c 'import torch, torchvision' 2>/dev/null || { echo \"SKIP: \$0 has no torch/torchvision (needed to generate the WRN50 goldens)\"; exit 77; }; \"\$0\" \"\$1\" --wrn50 \"\$2\" && exec \"\$3\" --wrn50 \"\$2\"" "/usr/bin/python3" "/work/main/tests/ref_backbone.py" "/work/main/build-backbone/golden_backbone_wrn50" "/work/main/build-backbone/test_backbone")
set_tests_properties([=[test_backbone_wrn50]=] PROPERTIES  SKIP_RETURN_CODE "77" TIMEOUT "600" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/tests/backbone.cmake;6;add_test;/work/main/tests/backbone.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_metrics]=] "/work/main/build-backbone/test_metrics")
set_tests_properties([=[test_metrics]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/eval.cmake;3;padim_add_test;/work/main/tests/eval.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_dataset]=] "/work/main/build-backbone/test_dataset")
set_tests_properties([=[test_dataset]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/eval.cmake;4;padim_add_test;/work/main/tests/eval.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_safetensors]=] "/work/main/build-backbone/test_safetensors")
set_tests_properties([=[test_safetensors]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/formats.cmake;2;padim_add_test;/work/main/tests/formats.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_weights]=] "/work/main/build-backbone/test_weights")
set_tests_properties([=[test_weights]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/formats.cmake;3;padim_add_test;/work/main/tests/formats.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_model_file]=] "/work/main/build-backbone/test_model_file")
set_tests_properties([=[test_model_file]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/formats.cmake;4;padim_add_test;/work/main/tests/formats.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_convert_weights]=] "/usr/bin/python3" "/work/main/tests/test_convert_weights.py")
set_tests_properties([=[test_convert_weights]=] PROPERTIES  WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/tests/formats.cmake;5;add_test;/work/main/tests/formats.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_image]=] "/work/main/build-backbone/test_image")
set_tests_properties([=[test_image]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/image.cmake;2;padim_add_test;/work/main/tests/image.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[image_ref_runtime]=] "/usr/bin/python3" "/work/main/tests/ref_image.py" "runtime" "/work/main/build-backbone/image_ref" "/work/main/../shared/data/mvtec_ad/bottle/train/good/000.png")
set_tests_properties([=[image_ref_runtime]=] PROPERTIES  SKIP_RETURN_CODE "77" _BACKTRACE_TRIPLES "/work/main/tests/image.cmake;8;add_test;/work/main/tests/image.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_image_real]=] "/work/main/build-backbone/test_image_real")
set_tests_properties([=[test_image_real]=] PROPERTIES  DEPENDS "image_ref_runtime" ENVIRONMENT "PADIM_IMAGE_REF_DIR=/work/main/build-backbone/image_ref;PADIM_SHARED=/work/main/../shared" SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/image.cmake;14;padim_add_test;/work/main/tests/image.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_rng]=] "/work/main/build-backbone/test_rng")
set_tests_properties([=[test_rng]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/ops.cmake;3;padim_add_test;/work/main/tests/ops.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_ops]=] "/work/main/build-backbone/test_ops")
set_tests_properties([=[test_ops]=] PROPERTIES  SKIP_RETURN_CODE "77" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/ops.cmake;4;padim_add_test;/work/main/tests/ops.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
add_test([=[test_pipeline_stages]=] "/work/main/build-backbone/test_pipeline_stages")
set_tests_properties([=[test_pipeline_stages]=] PROPERTIES  SKIP_RETURN_CODE "77" TIMEOUT "300" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;90;add_test;/work/main/tests/pipeline.cmake;4;padim_add_test;/work/main/tests/pipeline.cmake;0;;/work/main/CMakeLists.txt;100;include;/work/main/CMakeLists.txt;0;")
