// Small integer and float helpers usable on host and device.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define SGL_HOST_DEVICE __host__ __device__ __forceinline__
#define SGL_DEVICE __device__ __forceinline__
#else
#define SGL_HOST_DEVICE inline
#define SGL_DEVICE inline
#endif

namespace sgl_kernel {

template <class T>
SGL_HOST_DEVICE constexpr T div_up(T a, T b) {
  return (a + b - 1) / b;
}

template <class T>
SGL_HOST_DEVICE constexpr T round_up(T a, T b) {
  return div_up(a, b) * b;
}

SGL_HOST_DEVICE constexpr int64_t next_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

#ifdef __CUDACC__
SGL_DEVICE float silu(float x) { return x / (1.0f + __expf(-x)); }

// Exact GELU: 0.5 x (1 + erf(x / sqrt(2))).
SGL_DEVICE float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

// tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
SGL_DEVICE float gelu_tanh(float x) {
  const float k0 = 0.7978845608028654f;
  const float k1 = 0.044715f;
  return 0.5f * x * (1.0f + tanhf(k0 * (x + k1 * x * x * x)));
}

// Quick GELU (CLIP-style vision towers): x * sigmoid(1.702 x).
SGL_DEVICE float gelu_quick(float x) { return x / (1.0f + __expf(-1.702f * x)); }
#endif

}  // namespace sgl_kernel
