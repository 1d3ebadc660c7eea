// Activation kernels: silu/gelu/gelu_tanh of the first half of each row
// times the second half (gated), or an activation of the whole row (plain:
// gelu_quick). A block walks rows (grid-stride); its threads cover
// the row in 16-byte vectors when the row and its halves are 16-byte aligned,
// else element by element (any d is served).
//
// Plain activations of rows stored back to back (in_stride == out_stride ==
// d, the usual case) take a flat walk instead (design 2, session 14): the
// tensor is one array of 16-byte vectors, each thread loads kFlatUnroll
// vectors (a block's loads neighbour each other per step) before it computes
// and stores any, and the grid covers the array once (no grid-stride loop).
// Design 1 (the row walk, one vector per thread at d = 5120 bf16) reached
// 0.84 x copy bandwidth at 16384 x 5120 on the H200 (docs/perf/session13.md);
// the flat walk 0.92 (bf16) / 0.96 (fp16) in session 14.
#pragma once

#include <cstdint>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/elementwise/activation.h"

namespace sgl_kernel {
namespace act_detail {

template <Activation A>
SGL_DEVICE float apply(float x) {
  if constexpr (A == Activation::kSilu) return silu(x);
  if constexpr (A == Activation::kGelu) return gelu(x);
  if constexpr (A == Activation::kGeluQuick) return gelu_quick(x);
  return gelu_tanh(x);
}

template <class T, int VEC, Activation A, bool Gated>
__global__ void __launch_bounds__(1024) gated_act_kernel(const GatedActParams p) {
  using V = Vec<T, VEC>;
  const int64_t nvec = p.d / VEC;
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T* x = static_cast<const T*>(p.in) + r * p.in_stride;
    const T* g = x + p.d;
    T* o = static_cast<T*>(p.out) + r * p.out_stride;
    for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) {
      V a, c;
      a.load(x + j * VEC);
      if constexpr (Gated) {
        V b;
        b.load(g + j * VEC);
#pragma unroll
        for (int k = 0; k < VEC; ++k) c[k] = from_float<T>(apply<A>(to_float(a[k])) * to_float(b[k]));
      } else {
#pragma unroll
        for (int k = 0; k < VEC; ++k) c[k] = from_float<T>(apply<A>(to_float(a[k])));
      }
      c.store(o + j * VEC);
    }
  }
}

constexpr int kFlatUnroll = 4;
constexpr int kFlatThreads = 256;

// out[i] = act(in[i]) over n = rows * d elements stored back to back, in
// 16-byte vectors; the last partial vector (n % VEC elements) element-wise.
template <class T, int VEC, Activation A>
__global__ void __launch_bounds__(kFlatThreads) plain_flat_kernel(const GatedActParams p) {
  using V = Vec<T, VEC>;
  const int64_t n = p.rows * p.d;
  const int64_t nvec = n / VEC;
  const T* x = static_cast<const T*>(p.in);
  T* o = static_cast<T*>(p.out);
  const int64_t base = static_cast<int64_t>(blockIdx.x) * (kFlatThreads * kFlatUnroll) + threadIdx.x;
  pdl_wait();
  pdl_launch_dependents();
  V a[kFlatUnroll];
#pragma unroll
  for (int u = 0; u < kFlatUnroll; ++u) {
    const int64_t j = base + u * kFlatThreads;
    if (j < nvec) a[u].load(x + j * VEC);
  }
#pragma unroll
  for (int u = 0; u < kFlatUnroll; ++u) {
    const int64_t j = base + u * kFlatThreads;
    if (j < nvec) {
      V c;
#pragma unroll
      for (int k = 0; k < VEC; ++k) c[k] = from_float<T>(apply<A>(to_float(a[u][k])));
      c.store(o + j * VEC);
    }
  }
  // Tail of fewer than VEC elements: the first block's first threads.
  if (blockIdx.x == 0) {
    const int64_t i = nvec * VEC + threadIdx.x;
    if (i < n) o[i] = from_float<T>(apply<A>(to_float(x[i])));
  }
}

template <class T>
cudaError_t launch_plain_flat(Activation act, const GatedActParams& p, cudaStream_t stream) {
  constexpr int VEC = kVec16<T>;
  const int64_t nvec = p.rows * p.d / VEC;
  const int64_t per_block = static_cast<int64_t>(kFlatThreads) * kFlatUnroll;
  int64_t blocks = div_up<int64_t>(nvec, per_block);
  if (blocks < 1) blocks = 1;  // the tail alone
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  if (act != Activation::kGeluQuick) return cudaErrorInvalidValue;
  return launch_kernel(plain_flat_kernel<T, VEC, Activation::kGeluQuick>, dim3(static_cast<unsigned>(blocks)),
                       dim3(kFlatThreads), 0, stream, p.pdl, p);
}

template <class T, int VEC>
cudaError_t launch_vec(Activation act, const GatedActParams& p, cudaStream_t stream) {
  const int64_t nvec = p.d / VEC;
  const int64_t threads = nvec >= 1024 ? 1024 : round_up<int64_t>(nvec, 32);
  const dim3 block(static_cast<unsigned>(threads));
  const dim3 grid(static_cast<unsigned>(p.rows < (1 << 20) ? p.rows : (1 << 20)));
  if (!p.gated) {
    if (act != Activation::kGeluQuick) return cudaErrorInvalidValue;
    return launch_kernel(gated_act_kernel<T, VEC, Activation::kGeluQuick, false>, grid, block, 0, stream, p.pdl, p);
  }
  switch (act) {
    case Activation::kSilu:
      return launch_kernel(gated_act_kernel<T, VEC, Activation::kSilu, true>, grid, block, 0, stream, p.pdl, p);
    case Activation::kGelu:
      return launch_kernel(gated_act_kernel<T, VEC, Activation::kGelu, true>, grid, block, 0, stream, p.pdl, p);
    case Activation::kGeluTanh:
      return launch_kernel(gated_act_kernel<T, VEC, Activation::kGeluTanh, true>, grid, block, 0, stream, p.pdl, p);
    case Activation::kGeluQuick: break;  // plain only
  }
  return cudaErrorInvalidValue;
}

}  // namespace act_detail

template <class T>
cudaError_t launch_gated_activation(Activation act, const GatedActParams& p, cudaStream_t stream) {
  if (p.rows == 0 || p.d == 0) return cudaSuccess;
  if (p.rows < 0 || p.d < 0) return cudaErrorInvalidValue;
  constexpr int V = kVec16<T>;
  // Flat walk: rows back to back (or one row), both pointers 16-byte aligned.
  const bool packed = (p.rows == 1 || (p.in_stride == p.d && p.out_stride == p.d));
  if (!p.gated && packed && is_aligned(p.in, 16) && is_aligned(p.out, 16))
    return act_detail::launch_plain_flat<T>(act, p, stream);
  const bool vec_ok = p.d % V == 0 && p.in_stride % V == 0 && p.out_stride % V == 0 && is_aligned(p.in, 16) &&
                      is_aligned(p.out, 16);
  if (vec_ok) return act_detail::launch_vec<T, V>(act, p, stream);
  return act_detail::launch_vec<T, 1>(act, p, stream);
}

}  // namespace sgl_kernel
