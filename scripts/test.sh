#!/usr/bin/env bash
# The test command (README, .ci/run): set up and build (scripts/setup.sh),
# then the check that include/ is framework-free, the C++ tests (ctest) and the
# pytest suite. CUDA tests run where a GPU is present and skip elsewhere.
set -euo pipefail
source "$(dirname "$0")/setup.sh"

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
