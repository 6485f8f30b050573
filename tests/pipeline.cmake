# The whole pipeline, stage by stage, against the PyTorch/NumPy reference
# (tests/reference_padim.py): committed goldens in tests/golden/pipeline/<case>/ made by
# tests/make_pipeline_goldens.py on the synthetic fixture tests/golden/pipeline/fixture/.
padim_add_test(test_pipeline_stages tests/test_pipeline_stages.c)
set_tests_properties(test_pipeline_stages PROPERTIES TIMEOUT 300)
# The public API end to end (fit, save, load, score) against the same goldens.
padim_add_test(test_api tests/test_api.c)
