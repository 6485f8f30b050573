# Dockerfile - padim-gpu image for the nightly MVTec AD benchmark (README "Nightly MVTec AD
# benchmark and Docker"). No dataset inside (MVTec AD is CC BY-NC-SA): mount it at /data.
#
#   docker build -t padim-gpu .
#   docker run --gpus all -v /path/to/mvtec:/data --entrypoint python3 padim-gpu \
#       /usr/local/share/padim-gpu/nightly_mvtec.py --root /data --out /data/nightly
#
# Stage "build": NVIDIA CUDA 13 + cuDNN devel on Ubuntu 24.04; builds with tools/setup.sh
# (the script CI runs; nvcc is found, so the CUDA backend is built) and runs the test suite
# with ctest. Tests that need a GPU, the MVTec data or PyTorch (not packaged for Ubuntu
# 24.04) exit 77 and are reported as skipped; any failure stops the image build.
# Stage "runtime": the matching CUDA 13 + cuDNN runtime image with only the binary, the
# shared libraries it needs, configs/, weights/ and the nightly runner.

FROM nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive
# Python references for the tests (NumPy, SciPy, scikit-learn, PIL, tifffile for the float16
# TIFFs) and what the Python bindings' test builds python/ with (cffi, pytest, venv, headers,
# setuptools, wheel); tools/setup.sh installs the build packages itself. Ubuntu's chromium
# is a snap stub, so the report-rendering part of layouts_e2e is skipped in the image.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-numpy python3-scipy python3-sklearn python3-pil \
        python3-tifffile python3-cffi python3-pytest python3-venv python3-dev python3-setuptools python3-wheel \
        clang libclang-rt-dev libomp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same script as CI (.ci/run -> tools/setup.sh); then the tests, as `tools/setup.sh test`
# runs them (that mode also installs PyTorch, which Ubuntu 24.04 does not package).
# PADIM_DNNL=OFF: the CPU backbone without oneDNN (Ubuntu's oneDNN major version may differ
# from the 2.x our code uses, and the runtime image would need it too); the GPU is this
# image's backbone.
RUN PADIM_DNNL=OFF tools/setup.sh build \
 && rm -rf /var/lib/apt/lists/* \
 && ctest --test-dir build --output-on-failure -j "$(nproc)"

FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries of the binary (OpenBLAS, LAPACKE, libtiff, libpng, libdeflate, libjpeg-turbo, stb,
# cJSON, libyaml, OpenMP)
# and python3 for benchmarks/nightly_mvtec.py (standard library only). CUDA, cuBLAS,
# cuSOLVER and cuDNN come with the base image.
# Versions are not pinned (DL3008): the base image tag is pinned, and Ubuntu replaces exact
# package versions with security updates, which would break a pinned build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 liblapacke libtiff6 libpng16-16t64 libdeflate0 libjpeg-turbo8 \
        libstb0t64 libcjson1 libyaml-0-2 libgomp1 python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/padim-gpu /usr/local/bin/padim-gpu
COPY --from=build /src/configs /usr/local/share/padim-gpu/configs
COPY --from=build /src/weights /usr/local/share/padim-gpu/weights
COPY --from=build /src/benchmarks/nightly_mvtec.py /usr/local/share/padim-gpu/nightly_mvtec.py
# The CLI looks for configs/ under $PADIM_HOME first (README "Configs").
ENV PADIM_HOME=/usr/local/share/padim-gpu
# Every shared library resolves and the binary starts (no GPU needed for --version).
RUN ! ldd /usr/local/bin/padim-gpu | grep "not found" \
 && padim-gpu --version \
 && python3 /usr/local/share/padim-gpu/nightly_mvtec.py --help > /dev/null
WORKDIR /data
ENTRYPOINT ["padim-gpu"]
CMD ["--help"]
