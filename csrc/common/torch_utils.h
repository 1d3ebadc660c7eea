// Helpers for the torch adapters: argument checks whose messages name the
// argument, the expectation and what was given, and the mapping from torch's
// dtypes to the library's DType.
#pragma once

#include <string>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/library.h>

#include "sgl_kernel/common/dispatch.h"
#include "sgl_kernel/common/dtype.h"

namespace sgl_kernel {

template <>
struct DTypeOf<c10::Half> {
  static constexpr DType value = DType::kFloat16;
};
template <>
struct DTypeOf<c10::BFloat16> {
  static constexpr DType value = DType::kBFloat16;
};

inline DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::kFloat32;
    case at::kHalf: return DType::kFloat16;
    case at::kBFloat16: return DType::kBFloat16;
    case at::kFloat8_e4m3fn: return DType::kFloat8E4M3;
    case at::kChar: return DType::kInt8;
    case at::kByte: return DType::kUInt8;
    case at::kInt: return DType::kInt32;
    case at::kLong: return DType::kInt64;
    default: break;
  }
  TORCH_CHECK_TYPE(false, "sgl_kernel: unsupported dtype ", t);
}

// Runs f(TypeTag<T>{}) for the tensor's dtype if it is one of Ts, else raises
// a TypeError naming the argument and the allowed set.
template <class... Ts, class F>
void dispatch_or_throw(at::ScalarType st, const char* name, F&& f) {
  const bool ok = dispatch_dtype<Ts...>(to_dtype(st), std::forward<F>(f));
  if (!ok) {
    char buf[128];
    TORCH_CHECK_TYPE(false, name, " must have dtype in {", dtype_list<Ts...>(buf, sizeof(buf)), "}, got ", st);
  }
}

inline void check_same_dtype(const at::Tensor& a, const char* an, const at::Tensor& b, const char* bn) {
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), bn, " must have the dtype of ", an, " (", a.scalar_type(),
                   "), got ", b.scalar_type());
}

inline void check_same_device(const at::Tensor& a, const char* an, const at::Tensor& b, const char* bn) {
  TORCH_CHECK(a.device() == b.device(), bn, " must be on the device of ", an, " (", a.device(), "), got ",
              b.device());
}

inline void check_dim(const at::Tensor& t, const char* name, int64_t dim) {
  TORCH_CHECK_VALUE(t.dim() == dim, name, " must be ", dim, "-D, got shape ", t.sizes());
}

inline void check_last_contiguous(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 0 || t.size(-1) <= 1 || t.stride(-1) == 1, name,
                    " must have stride 1 in its last dim, got strides ", t.strides());
}

inline void check_shape(const at::Tensor& t, const char* name, at::IntArrayRef expected) {
  TORCH_CHECK_VALUE(t.sizes() == expected, name, " must have shape ", expected, ", got ", t.sizes());
}

}  // namespace sgl_kernel
