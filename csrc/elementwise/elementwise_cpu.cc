// CPU implementation of the elementwise family: the semantic oracle for the
// CUDA kernels (same params, same fp32 math; fp64 for the sum of squares).
#include <cmath>
#include <vector>


#include "common/torch_utils.h"
#include "elementwise/elementwise.h"

namespace sgl_kernel {
namespace {

template <class T>
void rmsnorm_rows(const RMSNormParams& p) {
  const int64_t rows = p.outer * p.inner;
  const float w_offset = p.gemma ? 1.f : 0.f;
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.hidden));
  torch::stable::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> x(p.hidden);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / p.inner, i = row % p.inner;
      const T* in = static_cast<const T*>(p.in) + o * p.in_stride_outer + i * p.in_stride_inner;
      T* out = static_cast<T*>(p.out) + o * p.out_stride_outer + i * p.out_stride_inner;
      T* res = p.residual ? static_cast<T*>(p.residual) + o * p.res_stride_outer + i * p.res_stride_inner : nullptr;
      double ss = 0.0;
      for (int64_t j = 0; j < p.hidden; ++j) {
        float v = static_cast<float>(in[j]);
        if (res) v += static_cast<float>(res[j]);
        x[j] = v;
        ss += static_cast<double>(v) * v;
      }
      const float rstd = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(p.hidden) + p.eps));
      for (int64_t j = 0; j < p.hidden; ++j) {
        if (res) res[j] = static_cast<T>(x[j]);
        out[j] = static_cast<T>(x[j] * rstd * (static_cast<float>(weight[j]) + w_offset));
      }
    }
  });
}

float act_cpu(Activation a, float x) {
  switch (a) {
    case Activation::kSilu: return x / (1.f + std::exp(-x));
    case Activation::kGelu: return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
    case Activation::kGeluTanh:
      return 0.5f * x * (1.f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case Activation::kGeluQuick: return x / (1.f + std::exp(-1.702f * x));
  }
  return x;
}

template <class T>
void gated_rows(Activation act, const GatedActParams& p) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.d));
  torch::stable::parallel_for(0, p.rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* x = static_cast<const T*>(p.in) + r * p.in_stride;
      T* o = static_cast<T*>(p.out) + r * p.out_stride;
      for (int64_t j = 0; j < p.d; ++j) {
        const float a = act_cpu(act, static_cast<float>(x[j]));
        o[j] = static_cast<T>(p.gated ? a * static_cast<float>(x[p.d + j]) : a);
      }
    }
  });
}

}  // namespace

void rmsnorm_cpu(const RMSNormParams& p, ScalarType dtype) {
  dispatch_or_throw<float, Half, BFloat16>(dtype, "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rmsnorm_rows<T>(p);
  });
}

void gated_activation_cpu(Activation act, const GatedActParams& p, ScalarType dtype) {
  dispatch_or_throw<float, Half, BFloat16>(dtype, "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    gated_rows<T>(act, p);
  });
}

}  // namespace sgl_kernel
