// RMSNorm kernels. One kernel template serves plain, gemma, fused-add and
// per-head norms: a block holds blockDim.y rows of blockDim.x threads each;
// each thread keeps its share of the row in registers (ITEMS vectors of VEC
// elements, fp32) between the sum of squares and the scaling, so every input
// byte is read once. Rows too long for the register budget take the streaming
// path (ITEMS == 0), which reads the row twice (the second read mostly hits L2).
#pragma once

#include <cstdint>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/reduce.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/elementwise/norm.h"

namespace sgl_kernel {
namespace norm_detail {

constexpr int kMaxThreads = 512;      // per block; also the launch bound
constexpr int kMaxCachedFloats = 32;  // ITEMS * VEC cap: keeps the kernel under 128 registers

template <class T, int VEC, int ITEMS, bool kAdd>
__global__ void __launch_bounds__(kMaxThreads) rmsnorm_kernel(const RMSNormParams p) {
  __shared__ float scratch[32];
  using V = Vec<T, VEC>;
  const int tx = threadIdx.x;
  const int TX = blockDim.x;
  const int64_t rows = p.outer * p.inner;
  const int64_t nvec = p.hidden / VEC;
  const float inv_hidden = 1.f / static_cast<float>(p.hidden);
  const float w_offset = p.gemma ? 1.f : 0.f;
  const T* weight = static_cast<const T*>(p.weight);

  pdl_wait();
  pdl_launch_dependents();

  // The loop bound is uniform across the block so that every thread reaches
  // the barriers in row_group_sum; rows past the end compute on nothing.
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.y; base < rows;
       base += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t row = base + threadIdx.y;
    const bool valid = row < rows;
    const int64_t o = valid ? row / p.inner : 0;
    const int64_t i = valid ? row - o * p.inner : 0;
    const T* in = static_cast<const T*>(p.in) + o * p.in_stride_outer + i * p.in_stride_inner;
    T* out = static_cast<T*>(p.out) + o * p.out_stride_outer + i * p.out_stride_inner;
    T* res = nullptr;
    if constexpr (kAdd) res = static_cast<T*>(p.residual) + o * p.res_stride_outer + i * p.res_stride_inner;

    if constexpr (ITEMS > 0) {
      float x[ITEMS][VEC];
      V w[ITEMS];
      float ss = 0.f;
#pragma unroll
      for (int it = 0; it < ITEMS; ++it) {
        const int64_t j = tx + static_cast<int64_t>(it) * TX;
        if (valid && j < nvec) {
          V a;
          a.load(in + j * VEC);
          V r;
          if constexpr (kAdd) r.load(res + j * VEC);
          w[it].load(weight + j * VEC);
#pragma unroll
          for (int k = 0; k < VEC; ++k) {
            float v = to_float(a[k]);
            if constexpr (kAdd) v += to_float(r[k]);
            x[it][k] = v;
            ss += v * v;
          }
        }
      }
      ss = row_group_sum(ss, scratch);
      const float rstd = rsqrtf(ss * inv_hidden + p.eps);
#pragma unroll
      for (int it = 0; it < ITEMS; ++it) {
        const int64_t j = tx + static_cast<int64_t>(it) * TX;
        if (valid && j < nvec) {
          if constexpr (kAdd) {
            V r;
#pragma unroll
            for (int k = 0; k < VEC; ++k) r[k] = from_float<T>(x[it][k]);
            r.store(res + j * VEC);
          }
          V y;
#pragma unroll
          for (int k = 0; k < VEC; ++k) y[k] = from_float<T>(x[it][k] * rstd * (to_float(w[it][k]) + w_offset));
          y.store(out + j * VEC);
        }
      }
    } else {
      // Streaming: pass 1 sums squares, pass 2 recomputes the (fp32) value
      // from the untouched inputs, so the fused-add result still comes from
      // the unrounded sum. Each thread revisits only its own elements.
      float ss = 0.f;
      if (valid) {
        for (int64_t j = tx; j < nvec; j += TX) {
          V a;
          a.load(in + j * VEC);
          V r;
          if constexpr (kAdd) r.load(res + j * VEC);
#pragma unroll
          for (int k = 0; k < VEC; ++k) {
            float v = to_float(a[k]);
            if constexpr (kAdd) v += to_float(r[k]);
            ss += v * v;
          }
        }
      }
      ss = row_group_sum(ss, scratch);
      const float rstd = rsqrtf(ss * inv_hidden + p.eps);
      if (valid) {
        for (int64_t j = tx; j < nvec; j += TX) {
          V a, r, w, y;
          a.load(in + j * VEC);
          if constexpr (kAdd) r.load(res + j * VEC);
          w.load(weight + j * VEC);
#pragma unroll
          for (int k = 0; k < VEC; ++k) {
            float v = to_float(a[k]);
            if constexpr (kAdd) {
              v += to_float(r[k]);
              r[k] = from_float<T>(v);
            }
            y[k] = from_float<T>(v * rstd * (to_float(w[k]) + w_offset));
          }
          if constexpr (kAdd) r.store(res + j * VEC);
          y.store(out + j * VEC);
        }
      }
    }
  }
}

template <class T, int VEC, int ITEMS>
cudaError_t launch_items(const RMSNormParams& p, dim3 grid, dim3 block, cudaStream_t stream) {
  if (p.residual != nullptr) {
    return launch_kernel(rmsnorm_kernel<T, VEC, ITEMS, true>, grid, block, 0, stream, p.pdl, p);
  }
  return launch_kernel(rmsnorm_kernel<T, VEC, ITEMS, false>, grid, block, 0, stream, p.pdl, p);
}

template <class T, int VEC>
cudaError_t launch_vec(const RMSNormParams& p, cudaStream_t stream) {
  const int64_t nvec = p.hidden / VEC;
  // Threads per row: enough that each holds at most kMaxCachedFloats values.
  int64_t tx = next_pow2(nvec);
  if (tx > kMaxThreads) tx = kMaxThreads;
  const int64_t items = next_pow2(div_up<int64_t>(nvec, tx));
  const int64_t ty = tx >= 256 ? 1 : 256 / tx;  // short rows: several per block
  const int64_t rows = p.outer * p.inner;
  const int64_t groups = div_up<int64_t>(rows, ty);
  const dim3 grid(static_cast<unsigned>(groups < (1 << 16) ? groups : (1 << 16)));
  const dim3 block(static_cast<unsigned>(tx), static_cast<unsigned>(ty));
  if (items * VEC > kMaxCachedFloats) return launch_items<T, VEC, 0>(p, grid, block, stream);
  switch (items) {
    case 1: return launch_items<T, VEC, 1>(p, grid, block, stream);
    case 2: return launch_items<T, VEC, 2>(p, grid, block, stream);
    case 4:
      if constexpr (4 * VEC <= kMaxCachedFloats) return launch_items<T, VEC, 4>(p, grid, block, stream);
      break;
    case 8:
      if constexpr (8 * VEC <= kMaxCachedFloats) return launch_items<T, VEC, 8>(p, grid, block, stream);
      break;
    default: break;
  }
  return launch_items<T, VEC, 0>(p, grid, block, stream);
}

}  // namespace norm_detail

template <class T>
cudaError_t launch_rmsnorm(const RMSNormParams& p, cudaStream_t stream) {
  if (p.outer == 0 || p.inner == 0 || p.hidden == 0) return cudaSuccess;
  if (p.hidden < 0 || p.outer < 0 || p.inner < 0) return cudaErrorInvalidValue;
  constexpr int V = kVec16<T>;
  const bool strides_ok = p.in_stride_outer % V == 0 && p.in_stride_inner % V == 0 &&
                          p.out_stride_outer % V == 0 && p.out_stride_inner % V == 0 &&
                          (p.residual == nullptr || (p.res_stride_outer % V == 0 && p.res_stride_inner % V == 0));
  const bool ptrs_ok = is_aligned(p.in, 16) && is_aligned(p.out, 16) && is_aligned(p.weight, 16) &&
                       (p.residual == nullptr || is_aligned(p.residual, 16));
  if (p.hidden % V == 0 && strides_ok && ptrs_ok) return norm_detail::launch_vec<T, V>(p, stream);
  return norm_detail::launch_vec<T, 1>(p, stream);
}

}  // namespace sgl_kernel
