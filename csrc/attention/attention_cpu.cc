// CPU implementation of the attention family: the semantic oracle for the
// CUDA kernels (same params, same fp32 arithmetic and special cases).
#include <cmath>
#include <limits>


#include "attention/attention.h"
#include "common/torch_utils.h"

namespace sgl_kernel {
namespace {

struct Weights {
  float a, b, s;
};

// Mirrors merge_detail::merge_weights in merge_state.cuh.
Weights merge_weights(float sa, float sb, bool base2) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (std::isinf(sa)) sa = kNegInf;
  if (std::isinf(sb)) sb = kNegInf;
  const float m = (sa >= sb || std::isnan(sa)) ? sa : sb;
  if (m == kNegInf) return {0.f, 0.f, kNegInf};
  const float wa = base2 ? std::exp2(sa - m) : std::exp(sa - m);
  const float wb = base2 ? std::exp2(sb - m) : std::exp(sb - m);
  const float sum = wa + wb;
  const float inv = 1.f / sum;
  const float s = base2 ? m + std::log2(sum) : m + std::log(sum);
  return {wa * inv, wb * inv, s};
}

template <class T>
void merge_rows(const MergeStateParams& p) {
  const int64_t rows = p.tokens * p.heads;
  const int64_t grain = std::max<int64_t>(1, 16384 / p.head_dim);
  torch::stable::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t t = row / p.heads, h = row % p.heads;
      const Weights w = merge_weights(p.s_a[t * p.sa_stride_token + h * p.sa_stride_head],
                                      p.s_b[t * p.sb_stride_token + h * p.sb_stride_head], p.base2);
      const T* va = static_cast<const T*>(p.v_a) + t * p.va_stride_token + h * p.va_stride_head;
      const T* vb = static_cast<const T*>(p.v_b) + t * p.vb_stride_token + h * p.vb_stride_head;
      T* vo = static_cast<T*>(p.v_out) + t * p.vo_stride_token + h * p.vo_stride_head;
      for (int64_t j = 0; j < p.head_dim; ++j) {
        // A zero weight drops the part, so an empty part's v cannot leak in.
        const float ta = w.a == 0.f ? 0.f : w.a * static_cast<float>(va[j]);
        const float tb = w.b == 0.f ? 0.f : w.b * static_cast<float>(vb[j]);
        vo[j] = static_cast<T>(ta + tb);
      }
      p.s_out[t * p.so_stride_token + h * p.so_stride_head] = w.s;
    }
  });
}

}  // namespace

void merge_state_cpu(const MergeStateParams& p, ScalarType dtype) {
  dispatch_or_throw<float, Half, BFloat16>(dtype, "v_a", [&](auto tag) {
    using T = typename decltype(tag)::type;
    merge_rows<T>(p);
  });
}

}  // namespace sgl_kernel
