// Warp and row-group reductions. A "row group" is the blockDim.x threads that
// share threadIdx.y: kernels that put several short rows in one block reduce
// each row without a block-wide barrier per row when blockDim.x <= 32.
#pragma once

#include "sgl_kernel/common/math.cuh"

namespace sgl_kernel {

#ifdef __CUDACC__
// Sum over aligned groups of `width` consecutive lanes (width a power of 2 <= 32).
SGL_DEVICE float warp_sum(float v, int width = 32) {
  for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

SGL_DEVICE float warp_max(float v, int width = 32) {
  for (int o = width >> 1; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum of `v` over the threads of this row group (same threadIdx.y). blockDim.x
// must be a power of two; every thread of the block must call it (it contains
// __syncthreads when a row spans several warps). `scratch` holds >= 32 floats.
SGL_DEVICE float row_group_sum(float v, float* scratch) {
  const int tx = blockDim.x;
  if (tx <= 32) return warp_sum(v, tx);
  v = warp_sum(v, 32);
  const int warps_per_row = tx >> 5;
  const int warp = (threadIdx.y * tx + threadIdx.x) >> 5;
  if ((threadIdx.x & 31) == 0) scratch[warp] = v;
  __syncthreads();
  const int first = threadIdx.y * warps_per_row;
  float s = 0.f;
  for (int i = 0; i < warps_per_row; ++i) s += scratch[first + i];
  __syncthreads();  // scratch is reused by the next call
  return s;
}
#endif

}  // namespace sgl_kernel
