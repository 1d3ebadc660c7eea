// Host-side helpers shared by launchers. Launchers report problems through
// their cudaError_t return value; they never throw or exit.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#define SGL_RETURN_IF_CUDA_ERROR(expr)     \
  do {                                     \
    cudaError_t sgl_err_ = (expr);         \
    if (sgl_err_ != cudaSuccess) return sgl_err_; \
  } while (0)

namespace sgl_kernel {

inline bool is_aligned(const void* p, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}

// Multiprocessor count of the current device, cached per device: launchers
// size persistent grids from it and the query must stay off the hot path.
inline int num_sms() {
  static int cache[64] = {0};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 132;
  if (dev < 0 || dev >= 64) return 132;
  if (cache[dev] == 0) {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 132;
    cache[dev] = n;
  }
  return cache[dev];
}

}  // namespace sgl_kernel
