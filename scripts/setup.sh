#!/usr/bin/env bash
# Sourced by test.sh and demo.sh: installs what is missing (Debian and PyPI
# packages), then builds and installs sgl_kernel into the current Python.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
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
$PY -m pip install -q "scikit-build-core>=0.10" ninja pytest numpy expecttest hypothesis

step "build and install sgl_kernel (CUDA targets: $SGL_KERNEL_CUDA_ARCHS)"
$PY -m pip install -q --no-build-isolation --no-deps .

