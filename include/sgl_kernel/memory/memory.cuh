// Memory family kernels. Every kernel is memory-bound: rows are walked with a
// grid stride (blockDim.y rows per block, blockDim.x threads across a row), in
// the widest access (up to 16 bytes) that every base pointer, stride and row
// width allows, so any size is served and aligned sizes get full-width access.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/memory/memory.h"

namespace sgl_kernel {
namespace mem_detail {

constexpr int kThreads = 256;

// The widest access width in {16, 8, 4, 2, 1} that divides every value.
inline int access_width(std::initializer_list<int64_t> values) {
  int64_t acc = 0;
  for (int64_t v : values) acc |= v;
  for (int w = 16; w > 1; w >>= 1)
    if (acc % w == 0) return w;
  return 1;
}

inline int64_t addr(const void* p) { return static_cast<int64_t>(reinterpret_cast<uintptr_t>(p)); }

// Block shape for rows of `units` accesses: threads across a row up to the
// block size, the rest of the block on further rows.
inline dim3 row_block(int64_t units) {
  int64_t tx = 1;
  while (tx < units && tx < kThreads) tx <<= 1;
  return dim3(static_cast<unsigned>(tx), static_cast<unsigned>(kThreads / tx));
}

// One wave of resident blocks is enough for a grid-stride copy.
inline dim3 row_grid(int64_t rows, const dim3& block) {
  const int64_t want = div_up<int64_t>(rows, block.y);
  const int64_t cap = static_cast<int64_t>(num_sms()) * (2048 / kThreads);
  return dim3(static_cast<unsigned>(want < cap ? want : cap));
}

SGL_DEVICE int64_t load_index(const void* idx, bool is_int64, int64_t i) {
  return is_int64 ? static_cast<const int64_t*>(idx)[i] : static_cast<int64_t>(static_cast<const int32_t*>(idx)[i]);
}

template <int W>
SGL_DEVICE void copy_row(char* dst, const char* src, int64_t units) {
  using U = typename WordOf<W>::type;
  for (int64_t j = threadIdx.x; j < units; j += blockDim.x) {
    reinterpret_cast<U*>(dst)[j] = reinterpret_cast<const U*>(src)[j];
  }
}

// Row r is token r / 2, k for even r and v for odd r: a block serves both
// halves of a token, and threads of one row share one loc load.
template <int W>
__global__ void __launch_bounds__(kThreads) store_kv_kernel(const StoreKVParams p) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t rows = 2 * p.tokens;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t t = r >> 1;
    const int64_t slot = load_index(p.loc, p.loc_int64, t * p.loc_stride);
    if (slot < 0 || slot >= p.cache_rows) continue;
    if (r & 1) {
      copy_row<W>(static_cast<char*>(p.v_cache) + slot * p.v_cache_stride,
                  static_cast<const char*>(p.v) + t * p.v_stride, p.v_row_bytes / W);
    } else {
      copy_row<W>(static_cast<char*>(p.k_cache) + slot * p.k_cache_stride,
                  static_cast<const char*>(p.k) + t * p.k_stride, p.k_row_bytes / W);
    }
  }
}

template <int W>
__global__ void __launch_bounds__(kThreads) concat_kernel(const ConcatParams p) {
  using U = typename WordOf<W>::type;
  pdl_wait();
  pdl_launch_dependents();
  const int64_t rows = p.outer * p.inner;
  const int64_t a_units = p.a_bytes / W;
  const int64_t units = a_units + p.b_bytes / W;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t o = r / p.inner, i = r - o * p.inner;
    U* out = reinterpret_cast<U*>(static_cast<char*>(p.out) + o * p.out_stride_outer + i * p.out_stride_inner);
    const U* a = reinterpret_cast<const U*>(static_cast<const char*>(p.a) + o * p.a_stride_outer + i * p.a_stride_inner);
    const U* b = reinterpret_cast<const U*>(static_cast<const char*>(p.b) + o * p.b_stride_outer + i * p.b_stride_inner);
    for (int64_t j = threadIdx.x; j < units; j += blockDim.x) out[j] = j < a_units ? a[j] : b[j - a_units];
  }
}

template <class In, class Out>
SGL_DEVICE Out convert(In x) {
  if constexpr (std::is_same_v<In, Out>) {
    return x;  // bitwise, NaN payloads included
  } else {
    return from_float<Out>(to_float(x));
  }
}

// Rows over blockIdx.y, each row's vectors over the x grid: no per-element
// division, and a contiguous tensor (one long row) spreads over the x grid.
template <class In, class Out, int VEC>
__global__ void __launch_bounds__(kThreads) cast_kernel(const CastParams p) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t nvec = p.cols / VEC;
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const In* in = static_cast<const In*>(p.in) + r * p.in_stride;
    Out* out = static_cast<Out*>(p.out) + r * p.out_stride;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nvec;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      Vec<In, VEC> a;
      Vec<Out, VEC> b;
      a.load(in + j * VEC);
#pragma unroll
      for (int k = 0; k < VEC; ++k) b[k] = convert<In, Out>(a[k]);
      b.store(out + j * VEC);
    }
  }
}

// Row r covers (token, head) r / 2, k for even r and v for odd r.
template <class T, int VEC>
__global__ void __launch_bounds__(kThreads) downcast_fp8_kernel(const DowncastFp8Params p) {
  pdl_wait();
  pdl_launch_dependents();
  const float k_scale = *p.k_scale;
  const float v_scale = *p.v_scale;
  const int64_t rows = 2 * p.tokens * p.heads;
  const int64_t nvec = p.dim / VEC;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t th = r >> 1;
    const int64_t t = th / p.heads, h = th - t * p.heads;
    const int64_t dst_row = load_index(p.loc, p.loc_int64, t * p.loc_stride) * p.mult + p.offset;
    if (dst_row < 0 || dst_row >= p.out_rows) continue;
    const bool is_v = r & 1;
    const T* src = static_cast<const T*>(is_v ? p.v : p.k) +
                   (is_v ? t * p.v_stride_t + h * p.v_stride_h : t * p.k_stride_t + h * p.k_stride_h);
    fp8_e4m3* dst = static_cast<fp8_e4m3*>(is_v ? p.v_out : p.k_out) +
                    (is_v ? dst_row * p.vo_stride_t + h * p.vo_stride_h : dst_row * p.ko_stride_t + h * p.ko_stride_h);
    const float scale = is_v ? v_scale : k_scale;
    for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) {
      Vec<T, VEC> a;
      Vec<fp8_e4m3, VEC> b;
      a.load(src + j * VEC);
#pragma unroll
      for (int k = 0; k < VEC; ++k) b[k] = from_float<fp8_e4m3>(to_float(a[k]) / scale);
      b.store(dst + j * VEC);
    }
  }
}

__global__ void copy_no_ce_kernel(const CopyNoCEValues values, int64_t n, int32_t* out) {
  pdl_wait();  // earlier kernels may still read `out`
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = values.v[i];
}

template <class T>
SGL_DEVICE float value_as_float(T x) {
  if constexpr (std::is_integral_v<T> || std::is_same_v<T, double>) {
    return static_cast<float>(x);
  } else {
    return to_float(x);
  }
}

// Thread j < half of a row writes column j and j + half; with an odd dim,
// thread half writes the zero pad.
template <class T>
__global__ void __launch_bounds__(kThreads) timestep_embedding_kernel(const TimestepEmbeddingParams p) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t half = p.dim / 2;
  const float denom = static_cast<float>(half) - p.downscale_freq_shift;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < p.n;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const float tv = value_as_float(static_cast<const T*>(p.t)[r * p.t_stride]);
    float* out = p.out + r * p.out_stride;
    for (int64_t j = threadIdx.x; j <= half; j += blockDim.x) {
      if (j == half) {
        if (p.dim & 1) out[p.dim - 1] = 0.f;
        continue;
      }
      const float freq = expf(-p.log_max_period * static_cast<float>(j) / denom);
      const float arg = tv * freq * p.scale;
      const float s = sinf(arg), c = cosf(arg);
      out[j] = p.flip_sin_to_cos ? c : s;
      out[j + half] = p.flip_sin_to_cos ? s : c;
    }
  }
}

// The non-template launchers declared in memory.h are defined out of line
// from these in csrc/memory/memory_kernels.cu, next to the instantiations.
inline cudaError_t run_store_kv_cache(const StoreKVParams& p, cudaStream_t stream) {
  if (p.tokens <= 0) return p.tokens == 0 ? cudaSuccess : cudaErrorInvalidValue;
  const int w = access_width({p.k_row_bytes, p.v_row_bytes, p.k_cache_stride, p.v_cache_stride, p.k_stride,
                              p.v_stride, addr(p.k_cache), addr(p.v_cache), addr(p.k), addr(p.v)});
  const int64_t units = (p.k_row_bytes > p.v_row_bytes ? p.k_row_bytes : p.v_row_bytes) / w;
  if (units == 0) return cudaSuccess;
  const dim3 block = row_block(units);
  const dim3 grid = row_grid(2 * p.tokens, block);
  return with_width(w, [&](auto W) {
    return launch_kernel(store_kv_kernel<decltype(W)::value>, grid, block, 0, stream, p.pdl, p);
  });
}

inline cudaError_t run_concat(const ConcatParams& p, cudaStream_t stream) {
  const int64_t rows = p.outer * p.inner;
  if (rows == 0) return cudaSuccess;
  const int w = access_width({p.a_bytes, p.b_bytes, p.out_stride_outer, p.out_stride_inner, p.a_stride_outer,
                              p.a_stride_inner, p.b_stride_outer, p.b_stride_inner, addr(p.out), addr(p.a),
                              addr(p.b)});
  const int64_t units = (p.a_bytes + p.b_bytes) / w;
  if (units == 0) return cudaSuccess;
  const dim3 block = row_block(units);
  const dim3 grid = row_grid(rows, block);
  return with_width(w, [&](auto W) {
    return launch_kernel(concat_kernel<decltype(W)::value>, grid, block, 0, stream, p.pdl, p);
  });
}

}  // namespace mem_detail

template <class In, class Out>
cudaError_t launch_cast(const CastParams& p, cudaStream_t stream) {
  using namespace mem_detail;
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  constexpr int kBig = sizeof(In) > sizeof(Out) ? sizeof(In) : sizeof(Out);
  constexpr int V = 16 / kBig;
  const bool vec_ok = p.cols % V == 0 && p.in_stride % V == 0 && p.out_stride % V == 0 &&
                      is_aligned(p.in, V * sizeof(In)) && is_aligned(p.out, V * sizeof(Out));
  const int vec = vec_ok ? V : 1;
  const int64_t nvec = p.cols / vec;
  const int64_t gy = p.rows < 65535 ? p.rows : 65535;
  const int64_t cap = static_cast<int64_t>(num_sms()) * (2048 / kThreads);
  int64_t gx = div_up<int64_t>(nvec, kThreads);
  const int64_t gx_cap = cap / gy > 1 ? cap / gy : 1;
  gx = gx < gx_cap ? gx : gx_cap;
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  const dim3 block(kThreads);
  if (vec_ok) return launch_kernel(cast_kernel<In, Out, V>, grid, block, 0, stream, p.pdl, p);
  return launch_kernel(cast_kernel<In, Out, 1>, grid, block, 0, stream, p.pdl, p);
}

template <class T>
cudaError_t launch_downcast_fp8(const DowncastFp8Params& p, cudaStream_t stream) {
  using namespace mem_detail;
  if (p.tokens == 0 || p.heads == 0 || p.dim == 0) return cudaSuccess;
  constexpr int V = kVec16<T>;
  const bool vec_ok = p.dim % V == 0 && access_width({p.k_stride_t, p.k_stride_h, p.v_stride_t, p.v_stride_h,
                                                      p.ko_stride_t, p.ko_stride_h, p.vo_stride_t,
                                                      p.vo_stride_h}) % V == 0 &&
                      is_aligned(p.k, 16) && is_aligned(p.v, 16) && is_aligned(p.k_out, V) &&
                      is_aligned(p.v_out, V);
  const int vec = vec_ok ? V : 1;
  const dim3 block = row_block(p.dim / vec);
  const dim3 grid = row_grid(2 * p.tokens * p.heads, block);
  if (vec_ok) return launch_kernel(downcast_fp8_kernel<T, V>, grid, block, 0, stream, p.pdl, p);
  return launch_kernel(downcast_fp8_kernel<T, 1>, grid, block, 0, stream, p.pdl, p);
}

namespace mem_detail {
inline cudaError_t run_copy_to_gpu_no_ce(const CopyNoCEValues& values, int64_t n, int32_t* out,
                                            cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (n < 0 || n > kCopyNoCECapacity) return cudaErrorInvalidValue;
  const unsigned threads = static_cast<unsigned>(round_up<int64_t>(n, 32));
  return launch_kernel(copy_no_ce_kernel, dim3(1), dim3(threads), 0, stream, false, values, n, out);
}
}  // namespace mem_detail

template <class T>
cudaError_t launch_timestep_embedding(const TimestepEmbeddingParams& p, cudaStream_t stream) {
  using namespace mem_detail;
  if (p.n == 0 || p.dim == 0) return cudaSuccess;
  const dim3 block = row_block(p.dim / 2 + 1);
  const dim3 grid = row_grid(p.n, block);
  return launch_kernel(timestep_embedding_kernel<T>, grid, block, 0, stream, p.pdl, p);
}

}  // namespace sgl_kernel
