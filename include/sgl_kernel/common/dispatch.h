// One typed dispatch helper: the set of allowed element types is written once,
// at the call site, as template arguments:
//
//   bool ok = dispatch_dtype<half, __nv_bfloat16, float>(dt, [&](auto tag) {
//     using T = typename decltype(tag)::type;
//     ...
//   });
//
// It returns false when `dt` is not in the set (this header never throws);
// `dtype_list<Ts...>()` spells the set for the caller's error message.
#pragma once

#include <cstddef>

#include "sgl_kernel/common/dtype.h"

namespace sgl_kernel {

template <class T>
struct TypeTag {
  using type = T;
};

template <class... Ts, class F>
bool dispatch_dtype(DType dt, F&& f) {
  bool matched = false;
  // Fold over the allowed types; the first match runs `f` once.
  ((!matched && dt == DTypeOf<Ts>::value ? (f(TypeTag<Ts>{}), matched = true) : false), ...);
  return matched;
}

// Writes "float16, bfloat16, float32" (the names of Ts, comma-separated) into
// buf, truncating to cap-1 characters; returns buf.
template <class... Ts>
const char* dtype_list(char* buf, size_t cap) {
  size_t n = 0;
  bool first = true;
  auto append = [&](const char* s) {
    for (; *s && n + 1 < cap; ++s) buf[n++] = *s;
  };
  ((append(first ? "" : ", "), append(dtype_name(DTypeOf<Ts>::value)), first = false), ...);
  if (cap) buf[n < cap ? n : cap - 1] = '\0';
  return buf;
}

}  // namespace sgl_kernel
