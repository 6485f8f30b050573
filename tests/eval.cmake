# Evaluation layer: metrics (against scikit-learn / scipy goldens of tests/ref_metrics.py)
# and test-set layouts / mask pairing / mask geometry.
padim_add_test(test_metrics tests/test_metrics.c)
padim_add_test(test_dataset tests/test_dataset.c)
# Outputs at the source geometry and defect regions (goldens of tests/ref_outputs.py:
# torch bilinear interpolate, NumPy crop inverse, scipy.ndimage.label), and the good-only
# calibration on bottle (skipped without the data).
padim_add_test(test_outputs tests/test_outputs.c)
padim_add_test(test_calibrate tests/test_calibrate.c)
set_tests_properties(test_calibrate PROPERTIES TIMEOUT 600)
# Every dataset layout end to end on synthetic data (tests/make_layouts.py): eval, the
# MVTec AD 2 submission and SegF1 against scikit-learn, broken layouts, the nightly runner,
# and report.html rendered by headless Chromium (77 when chromium is absent).
add_test(NAME layouts_e2e
         COMMAND ${PADIM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/test_layouts.py $<TARGET_FILE:padim-gpu>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(layouts_e2e PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
