// Conversions between storage types and the fp32 used for arithmetic, and the
// DTypeOf mapping for CUDA's own element types.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "sgl_kernel/common/dtype.h"
#include "sgl_kernel/common/math.cuh"

namespace sgl_kernel {

using bf16 = __nv_bfloat16;
using fp8_e4m3 = __nv_fp8_e4m3;

template <>
struct DTypeOf<half> {
  static constexpr DType value = DType::kFloat16;
};
template <>
struct DTypeOf<bf16> {
  static constexpr DType value = DType::kBFloat16;
};
template <>
struct DTypeOf<fp8_e4m3> {
  static constexpr DType value = DType::kFloat8E4M3;
};

#ifdef __CUDACC__
template <class T>
SGL_DEVICE float to_float(T x);
template <>
SGL_DEVICE float to_float<float>(float x) { return x; }
template <>
SGL_DEVICE float to_float<half>(half x) { return __half2float(x); }
template <>
SGL_DEVICE float to_float<bf16>(bf16 x) { return __bfloat162float(x); }
template <>
SGL_DEVICE float to_float<fp8_e4m3>(fp8_e4m3 x) { return static_cast<float>(x); }

// Round to nearest even, as torch's casts do.
template <class T>
SGL_DEVICE T from_float(float x);
template <>
SGL_DEVICE float from_float<float>(float x) { return x; }
template <>
SGL_DEVICE half from_float<half>(float x) { return __float2half_rn(x); }
template <>
SGL_DEVICE bf16 from_float<bf16>(float x) { return __float2bfloat16_rn(x); }
// Saturates finite values to +-448 (the constructor's satfinite mode), as
// upstream's quantizers clamp before casting; NaN stays NaN.
template <>
SGL_DEVICE fp8_e4m3 from_float<fp8_e4m3>(float x) { return fp8_e4m3(x); }
#endif

}  // namespace sgl_kernel
