// Merging two partial attention results computed over disjoint key sets:
// each part is a value row v [head_dim] and the log-sum-exp s of its scores.
// Host-side declarations only; the kernel lives in merge_state.cuh.
//
// With m = max(s_a, s_b), w_a = exp(s_a - m), w_b = exp(s_b - m) (exp2 when
// base2): v = (w_a v_a + w_b v_b) / (w_a + w_b), s = m + log(w_a + w_b).
// An infinite LSE (+inf or -inf) marks an empty part: it gets weight 0 and its
// v is ignored. When both parts are empty, v = 0 and s = -inf. A NaN LSE
// propagates: v and s become NaN.
#pragma once

#include <cstdint>
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

// Row (t, h) of a v tensor sits at base + t * stride_token + h * stride_head
// (elements); its head_dim elements are contiguous. s tensors are fp32.
struct MergeStateParams {
  void* v_out;            // [tokens, heads, head_dim]; may equal v_a or v_b
  float* s_out;           // [tokens, heads]; must not overlap s_a or s_b
  const void* v_a;        // [tokens, heads, head_dim]
  const float* s_a;       // [tokens, heads]
  const void* v_b;        // [tokens, heads, head_dim]
  const float* s_b;       // [tokens, heads]
  int64_t tokens;
  int64_t heads;
  int64_t head_dim;
  int64_t va_stride_token, va_stride_head;
  int64_t vb_stride_token, vb_stride_head;
  int64_t vo_stride_token, vo_stride_head;
  int64_t sa_stride_token, sa_stride_head;
  int64_t sb_stride_token, sb_stride_head;
  int64_t so_stride_token, so_stride_head;
  bool base2;             // LSE in base 2 (merge_state) or natural log (merge_state_v2)
  bool pdl;
};

// T is float, half or __nv_bfloat16. Returns the launch error, if any.
#if __has_include(<cuda_runtime_api.h>)
template <class T>
cudaError_t launch_merge_state(const MergeStateParams& p, cudaStream_t stream);
#endif

}  // namespace sgl_kernel
