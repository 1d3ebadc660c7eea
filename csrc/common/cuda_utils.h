// CUDA-side helpers for the torch adapters.
#pragma once

#include <ATen/cuda/CUDAContext.h>

namespace sgl_kernel {

// Programmatic dependent launch exists from sm_90 on.
inline bool pdl_supported(c10::DeviceIndex device) {
  return at::cuda::getDeviceProperties(device)->major >= 9;
}

}  // namespace sgl_kernel
