// RMSNorm family: plain, gemma (weight + 1), fused residual add, and per-head
// (QK-norm) on strided [outer, inner, hidden] views. Host-side declarations
// only, so framework adapters compiled by a plain C++ compiler can call the
// launchers; the kernels live in norm.cuh.
#pragma once

#include <cstdint>
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

// Rows are addressed as (outer, inner) pairs: row r = outer * inner_count +
// inner sits at base + outer * stride_outer + inner * stride_inner (elements).
// Plain 2-D norms use inner_count = 1. The last dim is contiguous.
struct RMSNormParams {
  void* out;             // [outer, inner, hidden]; may equal `in`
  const void* in;        // [outer, inner, hidden]
  void* residual;        // fused add only: read, then overwritten with in + residual
  const void* weight;    // [hidden], contiguous, same dtype as `in`
  int64_t outer;
  int64_t inner;
  int64_t hidden;
  int64_t in_stride_outer, in_stride_inner;
  int64_t out_stride_outer, out_stride_inner;
  int64_t res_stride_outer, res_stride_inner;
  float eps;
  bool gemma;            // scale by (weight + 1)
  bool pdl;
};

// T is float, half or __nv_bfloat16. Returns the launch error, if any.
// Launch shape, for tuning; the defaults pick both from the problem size.
struct RMSNormConfig {
  int threads_per_row = 0;  // 0: from hidden (up to 4 16-byte vectors a thread, 2 for fused add)
  int schedule = -1;        // -1: auto; 0: weights late; 1: weights early; 2: prefetch the next row;
                            // 3: weights late, evict-first loads and stores
};

#if __has_include(<cuda_runtime_api.h>)
template <class T>
cudaError_t launch_rmsnorm(const RMSNormParams& p, cudaStream_t stream);
template <class T>
cudaError_t launch_rmsnorm(const RMSNormParams& p, const RMSNormConfig& cfg, cudaStream_t stream);
#endif

}  // namespace sgl_kernel
