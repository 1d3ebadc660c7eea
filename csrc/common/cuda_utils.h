// CUDA-side helpers for the torch adapters (stable ABI): device guard and
// current stream come from torch's C shim, device properties from the CUDA
// runtime.
#pragma once

#include <cuda_runtime_api.h>

// The shim declares its CUDA entry points (aoti_torch_get_current_cuda_stream,
// in libtorch_cuda) under USE_CUDA.
#ifndef USE_CUDA
#define USE_CUDA
#endif
#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <torch/csrc/stable/accelerator.h>

#include "common/torch_utils.h"

namespace sgl_kernel {

// Programmatic dependent launch exists from sm_90 on.
bool pdl_supported(DeviceIndex device);

// torch's current CUDA stream on `device` (what torch launches on now; a
// captured graph's stream during capture).
cudaStream_t current_stream(DeviceIndex device);

// Makes `device` current for the scope (torch's device guard).
using CudaDeviceGuard = torch::stable::accelerator::DeviceGuard;

}  // namespace sgl_kernel
