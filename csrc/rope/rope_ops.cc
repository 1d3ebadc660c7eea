// Schemas and backend registrations of the rope family. Each op checks its
// arguments once (rope_checks.cc) and hands the params to the backend of q's
// device.
#include "common/torch_utils.h"
#include "rope/rope.h"

namespace sgl_kernel {
namespace {

void run_rope(const Tensor& q, const Tensor& k, Tensor& q_rope, Tensor& k_rope,
              const Tensor& cos_sin_cache, const Tensor& pos_ids, std::optional<IntArrayRef> section,
              bool mrope_interleaved, bool interleave, bool pdl, const std::optional<Tensor>& v,
              const std::optional<Tensor>& k_buffer, const std::optional<Tensor>& v_buffer,
              const std::optional<Tensor>& kv_cache_loc, std::optional<double> k_scale,
              std::optional<double> v_scale) {
  RopeTypes types{};
  const RopeParams p = make_rope_params(q, k, q_rope, k_rope, cos_sin_cache, pos_ids, interleave, pdl, v, k_buffer,
                                        v_buffer, kv_cache_loc, k_scale, v_scale, section, mrope_interleaved, &types);
  if (q.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    rope_cuda(p, types, q);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  rope_cpu(p, types, cos_sin_cache.size(0), k_buffer ? k_buffer->size(0) : 0);
}

void apply_rope_pos_ids_cos_sin_cache(const Tensor& q, const Tensor& k, Tensor& q_rope,
                                      Tensor& k_rope, const Tensor& cos_sin_cache, const Tensor& pos_ids,
                                      bool interleave, bool enable_pdl, const std::optional<Tensor>& v,
                                      const std::optional<Tensor>& k_buffer,
                                      const std::optional<Tensor>& v_buffer,
                                      const std::optional<Tensor>& kv_cache_loc, std::optional<double> k_scale,
                                      std::optional<double> v_scale) {
  run_rope(q, k, q_rope, k_rope, cos_sin_cache, pos_ids, std::nullopt, false, interleave, enable_pdl, v, k_buffer,
           v_buffer, kv_cache_loc, k_scale, v_scale);
}

void apply_mrope_pos_ids_cos_sin_cache(const Tensor& q, const Tensor& k, Tensor& q_rope,
                                       Tensor& k_rope, const Tensor& cos_sin_cache,
                                       const Tensor& pos_ids, IntArrayRef mrope_section,
                                       bool mrope_interleaved, bool interleave, bool enable_pdl,
                                       const std::optional<Tensor>& v, const std::optional<Tensor>& k_buffer,
                                       const std::optional<Tensor>& v_buffer,
                                       const std::optional<Tensor>& kv_cache_loc, std::optional<double> k_scale,
                                       std::optional<double> v_scale) {
  run_rope(q, k, q_rope, k_rope, cos_sin_cache, pos_ids, mrope_section, mrope_interleaved, interleave, enable_pdl, v,
           k_buffer, v_buffer, kv_cache_loc, k_scale, v_scale);
}

// The backend of `device_of`'s device: CUDA (with PDL where the GPU has it)
// or CPU.
void run_rope_in_place(RopeParams p, const RopeTypes& types, const Tensor& device_of, int64_t max_pos,
                       const char* pos_name) {
  if (device_of.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    p.pdl = pdl_default(device_of);
    rope_cuda(p, types, device_of);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  rope_cpu(p, types, max_pos, 0, pos_name);
}

void rotary_embedding(const Tensor& positions, Tensor& query, const std::optional<Tensor>& key,
                      int64_t head_size, const Tensor& cos_sin_cache, bool is_neox) {
  RopeTypes types{};
  const RopeParams p =
      make_rotary_embedding_params(positions, query, key, head_size, cos_sin_cache, is_neox, &types);
  run_rope_in_place(p, types, query, cos_sin_cache.size(0), "positions");
}

void rotary_embedding_cos_sin(const Tensor& cos, const Tensor& sin, Tensor& query,
                              const std::optional<Tensor>& key, int64_t head_size, bool interleaved) {
  RopeTypes types{};
  const RopeParams p = make_rotary_cos_sin_params(cos, sin, query, key, head_size, interleaved, &types);
  run_rope_in_place(p, types, query, 0, "positions");
}

void fused_qk_norm_rope(Tensor& qkv, int64_t num_heads_q, int64_t num_heads_k, int64_t num_heads_v,
                        int64_t head_dim, double eps, const Tensor& q_weight, const Tensor& k_weight,
                        double base, bool is_neox, const Tensor& position_ids, double factor, double low,
                        double high, double attention_factor, int64_t rotary_dim) {
  ScalarType t{};
  QKNormRopeParams p =
      make_qk_norm_rope_params(qkv, num_heads_q, num_heads_k, num_heads_v, head_dim, eps, q_weight, k_weight, base,
                               is_neox, position_ids, factor, low, high, attention_factor, rotary_dim, &t);
  if (qkv.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    p.pdl = pdl_default(qkv);
    qk_norm_rope_cuda(p, t, qkv);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  qk_norm_rope_cpu(p, t);
}

}  // namespace
}  // namespace sgl_kernel

STABLE_TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
  m.def(
      "apply_rope_pos_ids_cos_sin_cache(Tensor q, Tensor k, Tensor(a!) q_rope, Tensor(b!) k_rope, "
      "Tensor cos_sin_cache, Tensor pos_ids, bool interleave, bool enable_pdl, Tensor? v, Tensor(c!)? k_buffer, "
      "Tensor(d!)? v_buffer, Tensor? kv_cache_loc, float? k_scale=None, float? v_scale=None) -> ()");
  m.def(
      "apply_mrope_pos_ids_cos_sin_cache(Tensor q, Tensor k, Tensor(a!) q_rope, Tensor(b!) k_rope, "
      "Tensor cos_sin_cache, Tensor pos_ids, int[] mrope_section, bool mrope_interleaved, bool interleave, "
      "bool enable_pdl, Tensor? v, Tensor(c!)? k_buffer, Tensor(d!)? v_buffer, Tensor? kv_cache_loc, "
      "float? k_scale=None, float? v_scale=None) -> ()");
  m.def(
      "rotary_embedding(Tensor positions, Tensor(a!) query, Tensor(b!)? key, int head_size, Tensor cos_sin_cache, "
      "bool is_neox) -> ()");
  m.def(
      "rotary_embedding_cos_sin(Tensor cos, Tensor sin, Tensor(a!) query, Tensor(b!)? key, int head_size, "
      "bool interleaved) -> ()");
  m.def(
      "fused_qk_norm_rope(Tensor(a!) qkv, int num_heads_q, int num_heads_k, int num_heads_v, int head_dim, "
      "float eps, Tensor q_weight, Tensor k_weight, float base, bool is_neox, Tensor position_ids, float factor, "
      "float low, float high, float attention_factor, int rotary_dim) -> ()");
}

#define SGL_ROPE_IMPLS(m)                                                                         \
  m.impl("apply_rope_pos_ids_cos_sin_cache", TORCH_BOX((&sgl_kernel::apply_rope_pos_ids_cos_sin_cache)));     \
  m.impl("apply_mrope_pos_ids_cos_sin_cache", TORCH_BOX((&sgl_kernel::apply_mrope_pos_ids_cos_sin_cache)));   \
  m.impl("rotary_embedding", TORCH_BOX((&sgl_kernel::rotary_embedding)));                                     \
  m.impl("rotary_embedding_cos_sin", TORCH_BOX((&sgl_kernel::rotary_embedding_cos_sin)));                     \
  m.impl("fused_qk_norm_rope", TORCH_BOX((&sgl_kernel::fused_qk_norm_rope)))

STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_ROPE_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_ROPE_IMPLS(m); }
#endif
