// Activations. Gated: out[r, i] = act(in[r, i]) * in[r, d + i]; plain
// (GatedActParams::gated false): out[r, i] = act(in[r, i]). Host-side
// declarations; kernels in activation.cuh.
#pragma once

#include <cstdint>
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

enum class Activation : int { kSilu = 0, kGelu = 1, kGeluTanh = 2, kGeluQuick = 3 };

struct GatedActParams {
  void* out;           // [rows, d], row stride out_stride
  const void* in;      // [rows, 2 * d] (gated) or [rows, d], row stride in_stride
  int64_t rows;
  int64_t d;
  int64_t in_stride;   // elements
  int64_t out_stride;  // elements
  bool gated = true;   // false: no second half, out = act(in)
  bool pdl;
};

#if __has_include(<cuda_runtime_api.h>)
template <class T>
cudaError_t launch_gated_activation(Activation act, const GatedActParams& p, cudaStream_t stream);
#endif

}  // namespace sgl_kernel
