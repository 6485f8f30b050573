# setup.py - only what pyproject.toml cannot say: the cffi extension module, built from
# padim_gpu/_build_ffi.py against the installed padim.h (see that file for how it is found).
from setuptools import setup

setup(cffi_modules=["padim_gpu/_build_ffi.py:ffibuilder"])
