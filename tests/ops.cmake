# Tests of the CPU PaDiM operations and the channel-subset generator. Goldens in
# tests/golden/ops/ come from tests/ref_ops.py (Python random, NumPy, SciPy, PyTorch).
padim_add_test(test_rng tests/test_rng.c)
padim_add_test(test_ops tests/test_ops.c)
