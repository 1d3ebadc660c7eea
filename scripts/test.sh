#!/usr/bin/env bash
# Installs what the tests need (Debian and PyPI packages, only the missing
# ones), builds and installs sgl_kernel, then runs the C++ tests (ctest), the
# check that include/ is framework-free, and the pytest suite. CUDA tests run
# where a GPU is present and skip elsewhere. Used as-is by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export SGL_KERNEL_CUDA_ARCHS=${SGL_KERNEL_CUDA_ARCHS:-90a}
[ -d /usr/local/cuda/bin ] && export PATH="/usr/local/cuda/bin:$PATH"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "system packages"
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v ccache >/dev/null || need+=(ccache)
command -v g++ >/dev/null || need+=(g++)
[ -e /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

step "python packages"
# torch 2.11 from PyPI is built for CUDA 13, the toolkit the CUDA objects are
# compiled with; an already-installed torch is kept.
$PY -c "import torch" 2>/dev/null || $PY -m pip install -q "torch==2.11.0"
$PY -m pip install -q "scikit-build-core>=0.10" ninja pytest numpy expecttest

step "build and install sgl_kernel (CUDA targets: $SGL_KERNEL_CUDA_ARCHS)"
$PY -m pip install -q --no-build-isolation --no-deps .

step "include/ is framework-free"
if grep -rnE '#\s*include\s*[<"](torch|ATen|c10|pybind11|Python)' include/; then
  echo "include/ must not include torch, ATen, c10, pybind11 or Python headers" >&2
  exit 1
fi
echo ok

step "C++ tests (GoogleTest)"
cmake -S tests/cpp -B build/cpp -G Ninja -DSGL_KERNEL_CUDA_ARCHS="$SGL_KERNEL_CUDA_ARCHS" ${SGL_GTEST_SOURCE_DIR:+-DSGL_GTEST_SOURCE_DIR=$SGL_GTEST_SOURCE_DIR} >/dev/null
cmake --build build/cpp
(cd build/cpp && ctest --output-on-failure)

step "Python tests"
$PY -m pytest -q tests "$@"
