// Helpers for the torch adapters, on PyTorch's stable ABI (torch/csrc/stable,
// torch/headeronly): the adapters call torch only through its C shim, so one
// build serves every torch from the targeted version on (TORCH_TARGET_VERSION,
// set by CMakeLists.txt). Here: the tensor and dtype names the families use,
// argument checks whose messages name the argument, the expectation and what
// was given, and the mapping from torch's dtypes to the library's DType.
//
// Errors: a check throws std::invalid_argument (Python: ValueError) for a bad
// shape, stride, value or dtype, std::runtime_error (RuntimeError) for
// anything else. The stable ABI carries no TypeError, so a dtype error's
// message starts with "TypeError: "; the package's Python functions turn it
// into sgl_kernel.errors.SglKernelTypeError (python/sgl_kernel/errors.py).
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Float8_e4m3fn.h>
#include <torch/headeronly/util/Half.h>

#include "sgl_kernel/common/dispatch.h"
#include "sgl_kernel/common/dtype.h"

namespace sgl_kernel {

using Tensor = torch::stable::Tensor;
using TensorList = std::vector<torch::stable::Tensor>;
using ScalarType = torch::headeronly::ScalarType;
using IntArrayRef = torch::headeronly::IntHeaderOnlyArrayRef;
using Device = torch::stable::Device;
using DeviceIndex = torch::stable::DeviceIndex;
using DeviceType = torch::headeronly::DeviceType;

// torch's CPU element types (header-only, so ABI-stable).
using Half = c10::Half;
using BFloat16 = c10::BFloat16;
using Float8_e4m3fn = c10::Float8_e4m3fn;

constexpr ScalarType kFloat = ScalarType::Float;
constexpr ScalarType kDouble = ScalarType::Double;
constexpr ScalarType kHalf = ScalarType::Half;
constexpr ScalarType kBFloat16 = ScalarType::BFloat16;
constexpr ScalarType kFloat8_e4m3fn = ScalarType::Float8_e4m3fn;
constexpr ScalarType kChar = ScalarType::Char;
constexpr ScalarType kByte = ScalarType::Byte;
constexpr ScalarType kInt = ScalarType::Int;
constexpr ScalarType kLong = ScalarType::Long;
constexpr ScalarType kUInt64 = ScalarType::UInt64;

namespace detail {

inline void put(std::ostringstream& os, ScalarType t) { os << torch::headeronly::toString(t); }
inline void put(std::ostringstream& os, IntArrayRef a) {
  os << '[';
  for (size_t i = 0; i < a.size(); ++i) os << (i ? ", " : "") << a[i];
  os << ']';
}
inline void put(std::ostringstream& os, const std::vector<int64_t>& a) { put(os, IntArrayRef(a)); }
inline void put(std::ostringstream& os, const Device& d) {
  os << (d.type() == DeviceType::CUDA ? "cuda" : d.type() == DeviceType::CPU ? "cpu" : "device");
  if (d.has_index()) os << ':' << static_cast<int>(d.index());
}
template <class T>
void put(std::ostringstream& os, const T& v) {
  os << v;
}

template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (put(os, a), ...);
  return os.str();
}

[[noreturn]] inline void throw_runtime(const std::string& m) { throw std::runtime_error(m); }
[[noreturn]] inline void throw_value(const std::string& m) { throw std::invalid_argument(m); }
[[noreturn]] inline void throw_type(const std::string& m) { throw std::invalid_argument("TypeError: " + m); }

}  // namespace detail

// Argument checks: SGL_CHECK (RuntimeError), SGL_CHECK_VALUE (ValueError),
// SGL_CHECK_TYPE (ValueError "TypeError: ..."); the message is the
// concatenation of the arguments after the condition.
#define SGL_CHECK(cond, ...) \
  if (!(cond)) ::sgl_kernel::detail::throw_runtime(::sgl_kernel::detail::cat(__VA_ARGS__))
#define SGL_CHECK_VALUE(cond, ...) \
  if (!(cond)) ::sgl_kernel::detail::throw_value(::sgl_kernel::detail::cat(__VA_ARGS__))
#define SGL_CHECK_TYPE(cond, ...) \
  if (!(cond)) ::sgl_kernel::detail::throw_type(::sgl_kernel::detail::cat(__VA_ARGS__))

template <>
struct DTypeOf<Half> {
  static constexpr DType value = DType::kFloat16;
};
template <>
struct DTypeOf<BFloat16> {
  static constexpr DType value = DType::kBFloat16;
};

inline DType to_dtype(ScalarType t) {
  switch (t) {
    case kFloat: return DType::kFloat32;
    case kHalf: return DType::kFloat16;
    case kBFloat16: return DType::kBFloat16;
    case kFloat8_e4m3fn: return DType::kFloat8E4M3;
    case kChar: return DType::kInt8;
    case kByte: return DType::kUInt8;
    case kInt: return DType::kInt32;
    case kLong: return DType::kInt64;
    default: break;
  }
  detail::throw_type(detail::cat("sgl_kernel: unsupported dtype ", t));
}

// Runs f(TypeTag<T>{}) for the tensor's dtype if it is one of Ts, else raises
// a dtype error naming the argument and the allowed set.
template <class... Ts, class F>
void dispatch_or_throw(ScalarType st, const char* name, F&& f) {
  const bool ok = dispatch_dtype<Ts...>(to_dtype(st), std::forward<F>(f));
  if (!ok) {
    char buf[128];
    detail::throw_type(detail::cat(name, " must have dtype in {", dtype_list<Ts...>(buf, sizeof(buf)), "}, got ", st));
  }
}

// Typed data pointer of a tensor (its dtype checked by the caller).
template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

inline bool same_sizes(IntArrayRef a, IntArrayRef b) { return a.equals(b); }

inline void check_same_dtype(const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  SGL_CHECK_TYPE(a.scalar_type() == b.scalar_type(), bn, " must have the dtype of ", an, " (", a.scalar_type(),
                 "), got ", b.scalar_type());
}

inline void check_same_device(const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  SGL_CHECK(a.device() == b.device(), bn, " must be on the device of ", an, " (", a.device(), "), got ", b.device());
}

inline void check_dim(const Tensor& t, const char* name, int64_t dim) {
  SGL_CHECK_VALUE(t.dim() == dim, name, " must be ", dim, "-D, got shape ", t.sizes());
}

inline void check_last_contiguous(const Tensor& t, const char* name) {
  SGL_CHECK_VALUE(t.dim() == 0 || t.size(-1) <= 1 || t.stride(-1) == 1, name,
                  " must have stride 1 in its last dim, got strides ", t.strides());
}

inline void check_shape(const Tensor& t, const char* name, IntArrayRef expected) {
  SGL_CHECK_VALUE(same_sizes(t.sizes(), expected), name, " must have shape ", expected, ", got ", t.sizes());
}

// Whether the address ranges [first, last element] of two tensors intersect
// (a conservative test: interleaved views count as overlapping). By address,
// not by storage: two storages never share bytes unless one wraps the other.
bool ranges_overlap(const Tensor& a, const Tensor& b);

}  // namespace sgl_kernel
