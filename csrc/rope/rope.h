// The rope family's adapter interface: argument checks shared by the CPU and
// CUDA paths build the kernel's POD params; each backend then runs them.
#pragma once

#include <optional>

#include "common/torch_utils.h"

#include "sgl_kernel/rope/qk_norm_rope.h"
#include "sgl_kernel/rope/rope.h"

namespace sgl_kernel {

// The dtypes the backends dispatch on, besides the params.
struct RopeTypes {
  ScalarType t;       // q, k, v
  ScalarType cs;      // cos_sin_cache: float32 or t
  ScalarType buffer;  // k_buffer, v_buffer: t or float8_e4m3fn (t when not fused)
};

// Checks every argument of apply_rope_pos_ids_cos_sin_cache (and, with
// mrope_section given, of apply_mrope_pos_ids_cos_sin_cache); raises naming
// the argument on any mismatch. Data-dependent checks (positions and cache
// locations in range) are left to the CPU backend: on CUDA they would need a
// host sync.
RopeParams make_rope_params(const Tensor& q, const Tensor& k, const Tensor& q_rope,
                            const Tensor& k_rope, const Tensor& cos_sin_cache, const Tensor& pos_ids,
                            bool interleave, bool pdl, const std::optional<Tensor>& v,
                            const std::optional<Tensor>& k_buffer, const std::optional<Tensor>& v_buffer,
                            const std::optional<Tensor>& kv_cache_loc, std::optional<double> k_scale,
                            std::optional<double> v_scale, std::optional<IntArrayRef> mrope_section,
                            bool mrope_interleaved, RopeTypes* types);

// rotary_embedding (vLLM positions form, in place): positions [T] or [B, S];
// query/key [..., heads * head_size] or [..., heads, head_size] over the
// positions' dims; key optional (num_k_heads 0).
RopeParams make_rotary_embedding_params(const Tensor& positions, const Tensor& query,
                                        const std::optional<Tensor>& key, int64_t head_size,
                                        const Tensor& cos_sin_cache, bool is_neox, RopeTypes* types);

// rotary_embedding_cos_sin (vision towers, in place): cos/sin [T, C] gathered
// per token; interleaved picks RopeTable::kTokenPairs, else kTokenFull.
RopeParams make_rotary_cos_sin_params(const Tensor& cos, const Tensor& sin, const Tensor& query,
                                      const std::optional<Tensor>& key, int64_t head_size, bool interleaved,
                                      RopeTypes* types);

// Range checks name the positions argument `pos_name`.
// CPU backend; raises when a position or cache location is out of range.
void rope_cpu(const RopeParams& p, const RopeTypes& types, int64_t max_pos, int64_t cache_size,
              const char* pos_name = "pos_ids");

// fused_qk_norm_rope: checks every argument, computes the shared frequency
// table; *t receives qkv's dtype.
QKNormRopeParams make_qk_norm_rope_params(const Tensor& qkv, int64_t num_heads_q, int64_t num_heads_k,
                                          int64_t num_heads_v, int64_t head_dim, double eps,
                                          const Tensor& q_weight, const Tensor& k_weight, double base,
                                          bool is_neox, const Tensor& position_ids, double factor, double low,
                                          double high, double attention_factor, int64_t rotary_dim,
                                          ScalarType* t);
void qk_norm_rope_cpu(const QKNormRopeParams& p, ScalarType t);

#ifdef SGL_KERNEL_WITH_CUDA
// CUDA backend: the device of q, its current stream. Serves every RopeTable.
void rope_cuda(const RopeParams& p, const RopeTypes& types, const Tensor& q);
void qk_norm_rope_cuda(const QKNormRopeParams& p, ScalarType t, const Tensor& qkv);
// PDL for ops whose schema has no enable_pdl: on for sm_90 and newer.
bool pdl_default(const Tensor& t);
#endif

}  // namespace sgl_kernel
