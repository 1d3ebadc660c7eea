// merge_state kernel: rows are (token, head) pairs, walked by a grid-stride
// loop, so any head count and head_dim are served without per-block limits;
// 16-byte vectors when the rows are aligned, single elements otherwise. The
// first thread of each row writes the merged LSE.
#pragma once

#include <cstdint>

#include "sgl_kernel/attention/merge_state.h"
#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"

namespace sgl_kernel {
namespace merge_detail {

constexpr int kThreads = 256;

// Weights of the two parts (already divided by their sum) and the merged LSE.
struct MergeWeights {
  float a, b, s;
};

template <bool kBase2>
SGL_DEVICE MergeWeights merge_weights(float sa, float sb) {
  // An infinite LSE is an empty part; -inf gives it weight 0 below.
  if (isinf(sa)) sa = -INFINITY;
  if (isinf(sb)) sb = -INFINITY;
  // NaN-propagating max (fmaxf would drop a NaN operand).
  const float m = (sa >= sb || isnan(sa)) ? sa : sb;
  if (m == -INFINITY) return {0.f, 0.f, -INFINITY};  // both parts empty
  float wa, wb;
  if constexpr (kBase2) {
    wa = exp2f(sa - m);
    wb = exp2f(sb - m);
  } else {
    wa = expf(sa - m);
    wb = expf(sb - m);
  }
  const float sum = wa + wb;  // in [1, 2] unless NaN
  const float inv = 1.f / sum;
  const float s = kBase2 ? m + log2f(sum) : m + logf(sum);
  return {wa * inv, wb * inv, s};
}

// A weight of 0 drops the part entirely, so an empty part's v (often NaN or
// garbage from a 0/0) cannot leak into the result.
SGL_DEVICE float mix(float wa, float va, float wb, float vb) {
  const float ta = wa == 0.f ? 0.f : wa * va;
  const float tb = wb == 0.f ? 0.f : wb * vb;
  return ta + tb;
}

// A block holds blockDim.y rows (one (token, head) pair each) of blockDim.x
// threads; a thread merges vectors j = x, x + blockDim.x, ... of its row. The
// row's index math and LSE weights are computed once per row, not per vector
// (64-bit divisions per vector made an earlier flat-index version
// instruction-bound at 0.56 x copy bandwidth).
template <class T, int VEC, bool kBase2>
__global__ void __launch_bounds__(kThreads) merge_state_kernel(const MergeStateParams p) {
  using V = Vec<T, VEC>;
  const int64_t rows = p.tokens * p.heads;
  const int64_t nvec = p.head_dim / VEC;
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; row < rows;
       row += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t t = row / p.heads;
    const int64_t h = row - t * p.heads;
    const float sa = p.s_a[t * p.sa_stride_token + h * p.sa_stride_head];
    const float sb = p.s_b[t * p.sb_stride_token + h * p.sb_stride_head];
    const MergeWeights w = merge_weights<kBase2>(sa, sb);
    const T* va = static_cast<const T*>(p.v_a) + t * p.va_stride_token + h * p.va_stride_head;
    const T* vb = static_cast<const T*>(p.v_b) + t * p.vb_stride_token + h * p.vb_stride_head;
    T* vo = static_cast<T*>(p.v_out) + t * p.vo_stride_token + h * p.vo_stride_head;
    for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) {
      V a, b, o;
      a.load(va + j * VEC);
      b.load(vb + j * VEC);
#pragma unroll
      for (int k = 0; k < VEC; ++k) o[k] = from_float<T>(mix(w.a, to_float(a[k]), w.b, to_float(b[k])));
      o.store(vo + j * VEC);
    }
    if (threadIdx.x == 0) p.s_out[t * p.so_stride_token + h * p.so_stride_head] = w.s;
  }
}

template <class T, int VEC>
cudaError_t launch_vec(const MergeStateParams& p, cudaStream_t stream) {
  const int64_t nvec = p.head_dim / VEC;
  const int64_t tx = nvec >= 32 ? 32 : next_pow2(nvec);  // threads per row
  const int64_t ty = kThreads / tx;                       // rows per block
  const int64_t groups = div_up<int64_t>(p.tokens * p.heads, ty);
  const int64_t cap = int64_t{1} << 20;  // the grid-stride loop covers the rest
  const dim3 grid(static_cast<unsigned>(groups < cap ? groups : cap));
  const dim3 block(static_cast<unsigned>(tx), static_cast<unsigned>(ty));
  if (p.base2) return launch_kernel(merge_state_kernel<T, VEC, true>, grid, block, 0, stream, p.pdl, p);
  return launch_kernel(merge_state_kernel<T, VEC, false>, grid, block, 0, stream, p.pdl, p);
}

}  // namespace merge_detail

template <class T>
cudaError_t launch_merge_state(const MergeStateParams& p, cudaStream_t stream) {
  if (p.tokens == 0 || p.heads == 0) return cudaSuccess;
  if (p.tokens < 0 || p.heads < 0 || p.head_dim <= 0) return cudaErrorInvalidValue;
  constexpr int V = kVec16<T>;
  const bool strides_ok = p.va_stride_token % V == 0 && p.va_stride_head % V == 0 && p.vb_stride_token % V == 0 &&
                          p.vb_stride_head % V == 0 && p.vo_stride_token % V == 0 && p.vo_stride_head % V == 0;
  const bool ptrs_ok = is_aligned(p.v_a, 16) && is_aligned(p.v_b, 16) && is_aligned(p.v_out, 16);
  if (p.head_dim % V == 0 && strides_ok && ptrs_ok) return merge_detail::launch_vec<T, V>(p, stream);
  return merge_detail::launch_vec<T, 1>(p, stream);
}

}  // namespace sgl_kernel
