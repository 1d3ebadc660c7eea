// Per-head RMSNorm of the Q and K heads of a fused qkv tensor followed by
// RoPE with frequencies computed from a base (optionally YaRN-blended), in
// place (Qwen3-style attention prologue). Host-side declarations only; the
// kernel lives in qk_norm_rope.cuh.
//
// Per token t and Q or K head (weights w = q_weight or k_weight):
//   y[e]  = (x[e] * rstd) * w[e],   rstd = 1 / sqrt(mean(x^2) + eps)
//   for j < rotary_dim / 2, pair (a, b) = (j, j + R/2) (neox) or (2j, 2j+1):
//     angle = float(pos[t]) * inv_freq[j]            (one fp32 product)
//     y'[a] = (y[a] * cos - y[b] * sin) * attention_factor
//     y'[b] = (y[b] * cos + y[a] * sin) * attention_factor
//   lanes e >= rotary_dim keep y[e]; one rounding to the storage type.
// inv_freq is computed once on the host, in double, and rounded to float
// (fill_qk_norm_rope_freqs), so the CPU backend and the kernel use the same
// bits; they then differ only by the fp32 sum order, rsqrtf and sincosf
// (each within 2 ulp): see the tolerance note in qk_norm_rope.cuh.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "sgl_kernel/common/math.cuh"
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

// Largest rotary_dim / 2 the frequency table holds (rotary_dim <= 512).
constexpr int kQKNormRopeMaxPairs = 256;

struct QKNormRopeParams {
  void* qkv;              // [num_tokens, (Hq + Hk + Hv) * head_dim], last dim contiguous
  const void* q_weight;   // [head_dim], qkv's dtype or float
  const void* k_weight;   // [head_dim], q_weight's dtype
  const void* pos;        // [num_tokens], int32 or int64
  int64_t num_tokens;
  int64_t row_stride;     // elements between tokens of qkv
  int64_t pos_stride;
  int64_t num_heads_q, num_heads_k;
  int64_t head_dim, rotary_dim;
  float eps;
  float attention_factor;
  bool pos_int64;
  bool weight_float;      // weights stored as float (else as qkv's dtype)
  bool interleave;        // GPT-J pairs (2j, 2j+1); else neox (j, j + rotary_dim/2)
  bool pdl;
  float inv_freq[kQKNormRopeMaxPairs];  // first rotary_dim / 2 used
};

// inv_freq[j] = base^(-2j/R), blended for YaRN when factor != 1:
//   r = clamp((j - low) / (high' - low), 0, 1), high' = high + 0.001 when
//   |high - low| <= 1e-6, f = f / factor * r + f * (1 - r),
// all in double, then rounded to float. Call after setting rotary_dim.
inline void fill_qk_norm_rope_freqs(QKNormRopeParams& p, double base, double factor, double low, double high) {
  const int64_t half = std::min<int64_t>(p.rotary_dim / 2, kQKNormRopeMaxPairs);
  const double hi = std::fabs(high - low) <= 1e-6 ? high + 0.001 : high;
  for (int64_t j = 0; j < half; ++j) {
    double f = std::pow(base, -2.0 * static_cast<double>(j) / static_cast<double>(p.rotary_dim));
    if (factor != 1.0) {
      const double r = std::min(1.0, std::max(0.0, (static_cast<double>(j) - low) / (hi - low)));
      f = f / factor * r + f * (1.0 - r);
    }
    p.inv_freq[j] = static_cast<float>(f);
  }
  for (int64_t j = half; j < kQKNormRopeMaxPairs; ++j) p.inv_freq[j] = 0.f;
}

// Kernel choice, for tuning and for forcing the general path in tests.
struct QKNormRopeConfig {
  int heads_per_warp = 0;  // heads one warp normalizes per token item; 0 = chosen from the work size
  bool general = false;    // force the shared-memory path (any even head_dim) over the register path
  bool no_split = false;   // full-rotary neox: keep the one-run-per-lane layout (partners by shuffle)
};

#if __has_include(<cuda_runtime_api.h>)
// T (qkv) is float, half or __nv_bfloat16. Returns the launch error, if any
// (cudaErrorInvalidValue for shapes the kernels do not serve: head_dim odd or
// above 1024, rotary_dim odd, above head_dim or above 2 * kQKNormRopeMaxPairs).
template <class T>
cudaError_t launch_qk_norm_rope(const QKNormRopeParams& p, cudaStream_t stream);
template <class T>
cudaError_t launch_qk_norm_rope(const QKNormRopeParams& p, const QKNormRopeConfig& cfg, cudaStream_t stream);
#endif

}  // namespace sgl_kernel
