// Memory family: KV-cache stores, fp8 downcast into the cache, concatenations,
// dtype casts, a copy-engine-free host-to-device copy and the diffusion
// timestep embedding. Host-side declarations only (POD params, launchers), so
// adapters compiled by a plain C++ compiler can call them; kernels live in
// memory.cuh.
//
// The pure copies (store_kv_cache, concat) are type-blind: they move bytes, so
// their sizes and strides are in bytes. Ops that convert values use element
// strides of their element type.
#pragma once

#include <cstdint>
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

#include "sgl_kernel/common/dtype.h"

namespace sgl_kernel {

// k_cache[loc[t]] = k[t], v_cache[loc[t]] = v[t]. A "row" is everything after
// the first dim, contiguous in memory. Tokens whose loc falls outside
// [0, cache_rows) are skipped on the device (graph-safe: no host check).
struct StoreKVParams {
  void* k_cache;             // [cache_rows, k_row_bytes], row stride k_cache_stride
  void* v_cache;             // [cache_rows, v_row_bytes], row stride v_cache_stride
  const void* k;             // [tokens, k_row_bytes], row stride k_stride
  const void* v;             // [tokens, v_row_bytes], row stride v_stride
  const void* loc;           // [tokens] int32 or int64, element stride loc_stride
  bool loc_int64;
  int64_t tokens;
  int64_t cache_rows;
  int64_t k_row_bytes, v_row_bytes;
  int64_t k_cache_stride, v_cache_stride, k_stride, v_stride;  // bytes
  int64_t loc_stride;        // elements
  bool pdl;
};

// out[o, i, :] = a[o, i, :] ‖ b[o, i, :], as bytes. b_stride_inner = 0
// broadcasts one b row over the inner dim (concat_mla_k's k_rope).
struct ConcatParams {
  void* out;
  const void* a;
  const void* b;
  int64_t outer, inner;
  int64_t a_bytes, b_bytes;  // row widths; the out row is a_bytes + b_bytes
  int64_t out_stride_outer, out_stride_inner;  // bytes
  int64_t a_stride_outer, a_stride_inner;
  int64_t b_stride_outer, b_stride_inner;
  bool pdl;
};

// out[r, c] = convert(in[r, c]): round to nearest even; fp8 e4m3 saturates
// finite and infinite values to +-448 and keeps NaN.
struct CastParams {
  void* out;        // [rows, cols], row stride out_stride (elements of out)
  const void* in;   // [rows, cols], row stride in_stride (elements of in)
  int64_t rows, cols;
  int64_t in_stride, out_stride;
  bool pdl;
};

// For token t and head h: out[loc[t] * mult + offset, h, :] =
// fp8(x[t, h, :] / *scale), done for (k, k_out, k_scale) and (v, v_out, v_scale).
// Destination rows outside [0, out_rows) are skipped on the device.
struct DowncastFp8Params {
  const void* k;                 // [tokens, heads, dim]
  const void* v;
  void* k_out;                   // [out_rows, heads, dim] fp8 e4m3
  void* v_out;
  const float* k_scale;          // one element, read on the device
  const float* v_scale;
  const void* loc;               // [tokens] int32 or int64
  bool loc_int64;
  int64_t tokens, heads, dim, out_rows;
  int64_t k_stride_t, k_stride_h, v_stride_t, v_stride_h;          // elements
  int64_t ko_stride_t, ko_stride_h, vo_stride_t, vo_stride_h;      // elements
  int64_t loc_stride;
  int64_t mult, offset;
  bool pdl;
};

// Host values travel inside the kernel's parameters, so the copy needs no copy
// engine and a captured graph replays the values seen at capture.
constexpr int64_t kCopyNoCECapacity = 1024;
struct CopyNoCEValues {
  int32_t v[kCopyNoCECapacity];
};

// out[n, :] = [sin(t_n * freq * scale), cos(...)] (halves swapped when flip),
// freq_j = exp(-ln(max_period) * j / (half - shift)), half = dim / 2; an odd
// dim leaves a last column of zeros.
struct TimestepEmbeddingParams {
  float* out;          // [n, dim], row stride out_stride
  const void* t;       // [n], element stride t_stride
  int64_t n, dim;
  int64_t t_stride, out_stride;
  bool flip_sin_to_cos;
  float downscale_freq_shift;
  float scale;
  float log_max_period;  // ln(max_period)
  bool pdl;
};

#if __has_include(<cuda_runtime_api.h>)
cudaError_t launch_store_kv_cache(const StoreKVParams& p, cudaStream_t stream);
cudaError_t launch_concat(const ConcatParams& p, cudaStream_t stream);
// In, Out in {float, half, __nv_bfloat16, __nv_fp8_e4m3}.
template <class In, class Out>
cudaError_t launch_cast(const CastParams& p, cudaStream_t stream);
// T in {float, half, __nv_bfloat16}.
template <class T>
cudaError_t launch_downcast_fp8(const DowncastFp8Params& p, cudaStream_t stream);
// out: n int32 on the device; n <= kCopyNoCECapacity.
cudaError_t launch_copy_to_gpu_no_ce(const CopyNoCEValues& values, int64_t n, int32_t* out, cudaStream_t stream);
// T in {float, half, __nv_bfloat16, double, int32_t, int64_t}.
template <class T>
cudaError_t launch_timestep_embedding(const TimestepEmbeddingParams& p, cudaStream_t stream);
#endif

}  // namespace sgl_kernel
