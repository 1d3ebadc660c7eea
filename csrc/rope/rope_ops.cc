// Schemas and backend registrations of the rope family. Each op checks its
// arguments once (rope_checks.cc) and hands the params to the backend of q's
// device.
#include "common/torch_utils.h"
#include "rope/rope.h"

namespace sgl_kernel {
namespace {

void run_rope(const at::Tensor& q, const at::Tensor& k, at::Tensor& q_rope, at::Tensor& k_rope,
              const at::Tensor& cos_sin_cache, const at::Tensor& pos_ids, std::optional<at::IntArrayRef> section,
              bool mrope_interleaved, bool interleave, bool pdl, const std::optional<at::Tensor>& v,
              const std::optional<at::Tensor>& k_buffer, const std::optional<at::Tensor>& v_buffer,
              const std::optional<at::Tensor>& kv_cache_loc, std::optional<double> k_scale,
              std::optional<double> v_scale) {
  RopeTypes types{};
  const RopeParams p = make_rope_params(q, k, q_rope, k_rope, cos_sin_cache, pos_ids, interleave, pdl, v, k_buffer,
                                        v_buffer, kv_cache_loc, k_scale, v_scale, section, mrope_interleaved, &types);
  if (q.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    rope_cuda(p, types, q);
    return;
#else
    TORCH_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  rope_cpu(p, types, cos_sin_cache.size(0), k_buffer ? k_buffer->size(0) : 0);
}

void apply_rope_pos_ids_cos_sin_cache(const at::Tensor& q, const at::Tensor& k, at::Tensor& q_rope,
                                      at::Tensor& k_rope, const at::Tensor& cos_sin_cache, const at::Tensor& pos_ids,
                                      bool interleave, bool enable_pdl, const std::optional<at::Tensor>& v,
                                      const std::optional<at::Tensor>& k_buffer,
                                      const std::optional<at::Tensor>& v_buffer,
                                      const std::optional<at::Tensor>& kv_cache_loc, std::optional<double> k_scale,
                                      std::optional<double> v_scale) {
  run_rope(q, k, q_rope, k_rope, cos_sin_cache, pos_ids, std::nullopt, false, interleave, enable_pdl, v, k_buffer,
           v_buffer, kv_cache_loc, k_scale, v_scale);
}

void apply_mrope_pos_ids_cos_sin_cache(const at::Tensor& q, const at::Tensor& k, at::Tensor& q_rope,
                                       at::Tensor& k_rope, const at::Tensor& cos_sin_cache,
                                       const at::Tensor& pos_ids, at::IntArrayRef mrope_section,
                                       bool mrope_interleaved, bool interleave, bool enable_pdl,
                                       const std::optional<at::Tensor>& v, const std::optional<at::Tensor>& k_buffer,
                                       const std::optional<at::Tensor>& v_buffer,
                                       const std::optional<at::Tensor>& kv_cache_loc, std::optional<double> k_scale,
                                       std::optional<double> v_scale) {
  run_rope(q, k, q_rope, k_rope, cos_sin_cache, pos_ids, mrope_section, mrope_interleaved, interleave, enable_pdl, v,
           k_buffer, v_buffer, kv_cache_loc, k_scale, v_scale);
}

}  // namespace
}  // namespace sgl_kernel

TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
  m.def(
      "apply_rope_pos_ids_cos_sin_cache(Tensor q, Tensor k, Tensor(a!) q_rope, Tensor(b!) k_rope, "
      "Tensor cos_sin_cache, Tensor pos_ids, bool interleave, bool enable_pdl, Tensor? v, Tensor(c!)? k_buffer, "
      "Tensor(d!)? v_buffer, Tensor? kv_cache_loc, float? k_scale=None, float? v_scale=None) -> ()");
  m.def(
      "apply_mrope_pos_ids_cos_sin_cache(Tensor q, Tensor k, Tensor(a!) q_rope, Tensor(b!) k_rope, "
      "Tensor cos_sin_cache, Tensor pos_ids, int[] mrope_section, bool mrope_interleaved, bool interleave, "
      "bool enable_pdl, Tensor? v, Tensor(c!)? k_buffer, Tensor(d!)? v_buffer, Tensor? kv_cache_loc, "
      "float? k_scale=None, float? v_scale=None) -> ()");
}

#define SGL_ROPE_IMPLS(m)                                                                         \
  m.impl("apply_rope_pos_ids_cos_sin_cache", &sgl_kernel::apply_rope_pos_ids_cos_sin_cache);     \
  m.impl("apply_mrope_pos_ids_cos_sin_cache", &sgl_kernel::apply_mrope_pos_ids_cos_sin_cache)

TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_ROPE_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_ROPE_IMPLS(m); }
#endif
