# Image stage tests (decode, resize, preprocess, writers, heatmap). See tests/ref_image.py.
padim_add_test(test_image tests/test_image.c)

# Goldens that cannot be committed (MVTec license) or are too large (256x256 outputs) are
# computed at test time by the PyTorch/PIL reference (skipped, exit 77, without torch);
# test_image_real then skips when they are absent.
if(EXISTS ${PADIM_PYTHON})
  add_test(NAME image_ref_runtime
    COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/ref_image.py runtime
            ${CMAKE_BINARY_DIR}/image_ref
            ${PADIM_SHARED_DIR}/data/mvtec_ad/bottle/train/good/000.png)
  set_tests_properties(image_ref_runtime PROPERTIES SKIP_RETURN_CODE 77)
endif()
padim_add_test(test_image_real tests/test_image_real.c)
set_tests_properties(test_image_real PROPERTIES
  ENVIRONMENT "PADIM_IMAGE_REF_DIR=${CMAKE_BINARY_DIR}/image_ref;PADIM_SHARED=${PADIM_SHARED_DIR}")
if(EXISTS ${PADIM_PYTHON})
  set_tests_properties(test_image_real PROPERTIES DEPENDS image_ref_runtime)
endif()

# Every decoder against PIL, pixel for pixel, on files made at test time by
# tests/make_image_fixtures.py (skipped, exit 77, without PIL / NumPy).
if(EXISTS ${PADIM_PYTHON})
  add_test(NAME image_pil_fixtures
    COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/make_image_fixtures.py ${CMAKE_BINARY_DIR}/image_pil)
  set_tests_properties(image_pil_fixtures PROPERTIES SKIP_RETURN_CODE 77)
endif()
padim_add_test(test_image_pil tests/test_image_pil.c)
set_tests_properties(test_image_pil PROPERTIES ENVIRONMENT "PADIM_IMAGE_FIXTURE_DIR=${CMAKE_BINARY_DIR}/image_pil")
if(EXISTS ${PADIM_PYTHON})
  set_tests_properties(test_image_pil PROPERTIES DEPENDS image_pil_fixtures)
endif()
# Hostile headers (huge dimensions, impossible palettes, bombs) refused from the header.
padim_add_test(test_image_limits tests/test_image_limits.c)
# The same fixtures with every PNG through libpng (PADIM_PNG_LIBPNG_ONLY): the path that
# 8-bit gray / RGB / RGBA files otherwise skip keeps its comparison with PIL.
add_test(NAME test_image_pil_libpng COMMAND test_image_pil WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_image_pil_libpng PROPERTIES
  ENVIRONMENT "PADIM_IMAGE_FIXTURE_DIR=${CMAKE_BINARY_DIR}/image_pil;PADIM_PNG_LIBPNG_ONLY=1")
if(EXISTS ${PADIM_PYTHON})
  set_tests_properties(test_image_pil_libpng PROPERTIES DEPENDS image_pil_fixtures)
endif()
