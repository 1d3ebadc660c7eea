// The rope family's adapter interface: argument checks shared by the CPU and
// CUDA paths build the kernel's POD params; each backend then runs them.
#pragma once

#include <optional>

#include <ATen/ATen.h>

#include "sgl_kernel/rope/rope.h"

namespace sgl_kernel {

// The dtypes the backends dispatch on, besides the params.
struct RopeTypes {
  at::ScalarType t;       // q, k, v
  at::ScalarType cs;      // cos_sin_cache: float32 or t
  at::ScalarType buffer;  // k_buffer, v_buffer: t or float8_e4m3fn (t when not fused)
};

// Checks every argument of apply_rope_pos_ids_cos_sin_cache (and, with
// mrope_section given, of apply_mrope_pos_ids_cos_sin_cache); raises naming
// the argument on any mismatch. Data-dependent checks (positions and cache
// locations in range) are left to the CPU backend: on CUDA they would need a
// host sync.
RopeParams make_rope_params(const at::Tensor& q, const at::Tensor& k, const at::Tensor& q_rope,
                            const at::Tensor& k_rope, const at::Tensor& cos_sin_cache, const at::Tensor& pos_ids,
                            bool interleave, bool pdl, const std::optional<at::Tensor>& v,
                            const std::optional<at::Tensor>& k_buffer, const std::optional<at::Tensor>& v_buffer,
                            const std::optional<at::Tensor>& kv_cache_loc, std::optional<double> k_scale,
                            std::optional<double> v_scale, std::optional<at::IntArrayRef> mrope_section,
                            bool mrope_interleaved, RopeTypes* types);

// CPU backend; raises when a position or cache location is out of range.
void rope_cpu(const RopeParams& p, const RopeTypes& types, int64_t max_pos, int64_t cache_size);

#ifdef SGL_KERNEL_WITH_CUDA
// CUDA backend: the device of q, its current stream.
void rope_cuda(const RopeParams& p, const RopeTypes& types, const at::Tensor& q);
#endif

}  // namespace sgl_kernel
