# Evaluation layer: metrics (against scikit-learn / scipy goldens of tests/ref_metrics.py)
# and test-set layouts / mask pairing / mask geometry.
padim_add_test(test_metrics tests/test_metrics.c)
padim_add_test(test_dataset tests/test_dataset.c)
