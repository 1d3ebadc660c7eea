// Vec<T, N>: N elements moved as one aligned load/store (16 bytes for the
// common case), the unit of every memory-bound kernel's main loop.
#pragma once

#include <type_traits>

#include "sgl_kernel/common/math.cuh"

namespace sgl_kernel {

#ifdef __CUDACC__
// The unsigned integer type of an N-byte access (N = 1, 2, 4, 8, 16): byte
// copies move their data as the widest word the addresses allow.
template <int N>
struct WordOf;
template <>
struct WordOf<16> { using type = uint4; };
template <>
struct WordOf<8> { using type = uint2; };
template <>
struct WordOf<4> { using type = uint32_t; };
template <>
struct WordOf<2> { using type = uint16_t; };
template <>
struct WordOf<1> { using type = uint8_t; };
#endif

template <class T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];

  SGL_HOST_DEVICE T& operator[](int i) { return v[i]; }
  SGL_HOST_DEVICE const T& operator[](int i) const { return v[i]; }

  // On the device a 4-, 8- or 16-byte Vec moves as one word: a struct copy of
  // half/bf16 elements can compile to one 2-byte access per element (seen for
  // the 4-byte stores of Vec<bf16, 2>).
  SGL_HOST_DEVICE void load(const T* p) {
#ifdef __CUDA_ARCH__
    if constexpr (sizeof(Vec) == 4 || sizeof(Vec) == 8 || sizeof(Vec) == 16) {
      using W = typename WordOf<sizeof(Vec)>::type;
      *reinterpret_cast<W*>(this) = *reinterpret_cast<const W*>(p);
      return;
    }
#endif
    *this = *reinterpret_cast<const Vec*>(p);
  }
  SGL_HOST_DEVICE void store(T* p) const {
#ifdef __CUDA_ARCH__
    if constexpr (sizeof(Vec) == 4 || sizeof(Vec) == 8 || sizeof(Vec) == 16) {
      using W = typename WordOf<sizeof(Vec)>::type;
      *reinterpret_cast<W*>(p) = *reinterpret_cast<const W*>(this);
      return;
    }
#endif
    *reinterpret_cast<Vec*>(p) = *this;
  }

#ifdef __CUDACC__
  // Streaming variants (evict-first in L1/L2): for data touched exactly once,
  // so it does not push reused data (weights, tables) out of the caches.
  __device__ __forceinline__ void load_stream(const T* p) {
    if constexpr (sizeof(Vec) == 16) {
      const uint4 u = __ldcs(reinterpret_cast<const uint4*>(p));
      *this = *reinterpret_cast<const Vec*>(&u);
    } else {
      load(p);
    }
  }
  __device__ __forceinline__ void store_stream(T* p) const {
    if constexpr (sizeof(Vec) == 16) {
      __stcs(reinterpret_cast<uint4*>(p), *reinterpret_cast<const uint4*>(this));
    } else {
      store(p);
    }
  }
  // load / store, or their streaming variants when kStream: one call site
  // for kernels that take the hint as a template switch.
  template <bool kStream>
  __device__ __forceinline__ void load_as(const T* p) {
    if constexpr (kStream) {
      load_stream(p);
    } else {
      load(p);
    }
  }
  template <bool kStream>
  __device__ __forceinline__ void store_as(T* p) const {
    if constexpr (kStream) {
      store_stream(p);
    } else {
      store(p);
    }
  }
#endif
};


// Calls f(std::integral_constant<int, W>{}) for the access width w in bytes
// (16, 8, 4, 2; anything else: 1), so one launcher body serves a kernel
// template instantiated for every width.
template <class F>
decltype(auto) with_width(int w, F&& f) {
  switch (w) {
    case 16: return f(std::integral_constant<int, 16>{});
    case 8: return f(std::integral_constant<int, 8>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 2: return f(std::integral_constant<int, 2>{});
    default: return f(std::integral_constant<int, 1>{});
  }
}

// Elements of T per 16-byte access.
template <class T>
constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

}  // namespace sgl_kernel
