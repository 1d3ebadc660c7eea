// Kernel launch with optional programmatic dependent launch (PDL, sm_90+).
// With PDL on, the kernel may start while the previous kernel in the stream is
// still finishing; kernels launched here call pdl_wait() before touching global
// memory that earlier work writes, so they stay correct either way.
#pragma once

#include <mutex>
#include <utility>

#include <cuda_runtime.h>

#include "sgl_kernel/common/math.cuh"

namespace sgl_kernel {

#ifdef __CUDACC__
// Wait until the grids this launch depends on have completed and their writes
// are visible. A no-op when the launch carried no PDL attribute.
SGL_DEVICE void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Let the next PDL launch in the stream start scheduling its blocks.
SGL_DEVICE void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Resident blocks per SM of `kernel` at `threads` threads and `smem` bytes of
// dynamic shared memory, cached per (device, kernel, threads, smem): launchers
// that size persistent grids ask on every call, and the driver query is not
// free. Kernels of one signature share a C++ type, so the cache is keyed by the
// kernel's address, not by a template parameter. Returns at least 1.
template <class... KArgs>
int resident_blocks_per_sm(void (*kernel)(KArgs...), int threads, size_t smem = 0) {
  struct Entry {
    const void* kernel;
    int device, threads;
    size_t smem;
    int blocks;
  };
  static Entry cache[256];
  static int used = 0;
  static std::mutex mu;
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess) dev = -1;
  const void* key = reinterpret_cast<const void*>(kernel);
  {
    const std::lock_guard<std::mutex> lock(mu);
    for (int i = 0; i < used; ++i) {
      const Entry& e = cache[i];
      if (e.kernel == key && e.device == dev && e.threads == threads && e.smem == smem) return e.blocks;
    }
  }
  int n = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads, smem) != cudaSuccess || n < 1) {
    (void)cudaGetLastError();  // a failed query must not be reported by the next launch
    n = 1;
  }
  const std::lock_guard<std::mutex> lock(mu);
  if (used < 256) cache[used++] = Entry{key, dev, threads, smem, n};
  return n;
}

template <class... KArgs, class... Args>
cudaError_t launch_kernel(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                          cudaStream_t stream, bool pdl, Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return cudaSuccess;  // nothing to do
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = pdl ? 1 : 0;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}
#endif

}  // namespace sgl_kernel
