// Argument checks for the rope family, shared by both backends.
#include <cmath>

#include "common/torch_utils.h"
#include "rope/rope.h"

namespace sgl_kernel {
namespace {

void check_heads(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 3, name, " must be 3-D [nnz, heads, head_size], got shape ", t.sizes());
  check_last_contiguous(t, name);
}

void check_scale(std::optional<double> s, const char* name) {
  if (s) TORCH_CHECK_VALUE(std::isfinite(*s) && *s > 0, name, " must be a finite positive number, got ", *s);
}

// A cache buffer as [cache_size, heads, head_size]: 3-D as given, or 2-D
// [cache_size, heads * head_size] with contiguous rows. Returns {row, head} strides.
std::pair<int64_t, int64_t> buffer_strides(const at::Tensor& b, const char* name, int64_t heads, int64_t head_size) {
  check_last_contiguous(b, name);
  if (b.dim() == 2) {
    TORCH_CHECK_VALUE(b.size(1) == heads * head_size, name, " must have shape [cache_size, ", heads * head_size,
                      "] or [cache_size, ", heads, ", ", head_size, "], got ", b.sizes());
    return {b.stride(0), head_size};
  }
  TORCH_CHECK_VALUE(b.dim() == 3 && b.size(1) == heads && b.size(2) == head_size, name,
                    " must have shape [cache_size, ", heads * head_size, "] or [cache_size, ", heads, ", ",
                    head_size, "], got ", b.sizes());
  return {b.stride(0), b.stride(1)};
}

}  // namespace

RopeParams make_rope_params(const at::Tensor& q, const at::Tensor& k, const at::Tensor& q_rope,
                            const at::Tensor& k_rope, const at::Tensor& cos_sin_cache, const at::Tensor& pos_ids,
                            bool interleave, bool pdl, const std::optional<at::Tensor>& v,
                            const std::optional<at::Tensor>& k_buffer, const std::optional<at::Tensor>& v_buffer,
                            const std::optional<at::Tensor>& kv_cache_loc, std::optional<double> k_scale,
                            std::optional<double> v_scale, std::optional<at::IntArrayRef> mrope_section,
                            bool mrope_interleaved, RopeTypes* types) {
  const auto st = q.scalar_type();
  TORCH_CHECK_TYPE(st == at::kFloat || st == at::kHalf || st == at::kBFloat16,
                   "q must have dtype in {float32, float16, bfloat16}, got ", st);
  check_heads(q, "q");
  check_heads(k, "k");
  check_same_dtype(q, "q", k, "k");
  check_same_device(q, "q", k, "k");
  const int64_t nnz = q.size(0), head_size = q.size(2);
  TORCH_CHECK_VALUE(k.size(0) == nnz && k.size(2) == head_size, "k must have shape [", nnz, ", num_k_heads, ",
                    head_size, "] (nnz and head_size of q), got ", k.sizes());
  check_same_dtype(q, "q", q_rope, "q_rope");
  check_same_device(q, "q", q_rope, "q_rope");
  check_shape(q_rope, "q_rope", q.sizes());
  check_last_contiguous(q_rope, "q_rope");
  check_same_dtype(k, "k", k_rope, "k_rope");
  check_same_device(k, "k", k_rope, "k_rope");
  check_shape(k_rope, "k_rope", k.sizes());
  check_last_contiguous(k_rope, "k_rope");

  const auto cs = cos_sin_cache.scalar_type();
  TORCH_CHECK_TYPE(cs == at::kFloat || cs == st, "cos_sin_cache must have dtype float32 or q's dtype (", st,
                   "), got ", cs);
  check_same_device(q, "q", cos_sin_cache, "cos_sin_cache");
  TORCH_CHECK_VALUE(cos_sin_cache.dim() == 2, "cos_sin_cache must be 2-D [max_pos, rotary_dim], got shape ",
                    cos_sin_cache.sizes());
  check_last_contiguous(cos_sin_cache, "cos_sin_cache");
  const int64_t rotary_dim = cos_sin_cache.size(1);
  TORCH_CHECK_VALUE(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_size,
                    "cos_sin_cache's last dim (rotary_dim) must be even, positive and at most head_size (",
                    head_size, "), got ", rotary_dim);

  const auto ps = pos_ids.scalar_type();
  TORCH_CHECK_TYPE(ps == at::kInt || ps == at::kLong, "pos_ids must have dtype int32 or int64, got ", ps);
  check_same_device(q, "q", pos_ids, "pos_ids");
  const bool multi = mrope_section.has_value() && pos_ids.dim() == 2;
  if (mrope_section) {
    TORCH_CHECK_VALUE((pos_ids.dim() == 2 && pos_ids.size(0) == 3 && pos_ids.size(1) == nnz) ||
                          (pos_ids.dim() == 1 && pos_ids.size(0) == nnz),
                      "pos_ids must have shape [3, ", nnz, "] or [", nnz, "], got ", pos_ids.sizes());
    const auto sec = *mrope_section;
    TORCH_CHECK_VALUE(sec.size() == 3 && sec[0] >= 0 && sec[1] >= 0 && sec[2] >= 0 &&
                          sec[0] + sec[1] + sec[2] == rotary_dim / 2,
                      "mrope_section must be three non-negative ints summing to rotary_dim / 2 (", rotary_dim / 2,
                      "), got ", sec);
  } else {
    TORCH_CHECK_VALUE(pos_ids.dim() == 1 && pos_ids.size(0) == nnz, "pos_ids must have shape [", nnz, "], got ",
                      pos_ids.sizes());
  }

  RopeParams p{};
  p.q = q.data_ptr();
  p.k = k.data_ptr();
  p.q_out = q_rope.data_ptr();
  p.k_out = k_rope.data_ptr();
  p.cos_sin = cos_sin_cache.data_ptr();
  p.pos = pos_ids.data_ptr();
  p.nnz = nnz;
  p.num_q_heads = q.size(1);
  p.num_k_heads = k.size(1);
  p.head_size = head_size;
  p.rotary_dim = rotary_dim;
  p.q_stride_tok = q.stride(0);
  p.q_stride_head = q.stride(1);
  p.k_stride_tok = k.stride(0);
  p.k_stride_head = k.stride(1);
  p.q_out_stride_tok = q_rope.stride(0);
  p.q_out_stride_head = q_rope.stride(1);
  p.k_out_stride_tok = k_rope.stride(0);
  p.k_out_stride_head = k_rope.stride(1);
  p.cs_stride = cos_sin_cache.stride(0);
  p.pos_stride_comp = multi ? pos_ids.stride(0) : 0;
  p.pos_stride_tok = pos_ids.stride(-1);
  p.pos_int64 = ps == at::kLong;
  p.interleave = interleave;
  p.mrope = multi;
  p.mrope_interleaved = mrope_interleaved;
  if (mrope_section) {
    for (int i = 0; i < 3; ++i) p.mrope_section[i] = (*mrope_section)[i];
  }
  p.k_scale = 1.f;
  p.v_scale = 1.f;
  p.pdl = pdl;
  types->t = st;
  types->cs = cs;
  types->buffer = st;

  const int given = int(v.has_value()) + int(k_buffer.has_value()) + int(v_buffer.has_value()) +
                    int(kv_cache_loc.has_value());
  TORCH_CHECK_VALUE(given == 0 || given == 4,
                    "the fused KV store needs v, k_buffer, v_buffer and kv_cache_loc together; got v ",
                    v ? "given" : "None", ", k_buffer ", k_buffer ? "given" : "None", ", v_buffer ",
                    v_buffer ? "given" : "None", ", kv_cache_loc ", kv_cache_loc ? "given" : "None");
  if (given == 0) {
    TORCH_CHECK_VALUE(!k_scale && !v_scale, "k_scale and v_scale apply only to the fused KV store (k_buffer given)");
    return p;
  }
  const int64_t hk = k.size(1);
  check_same_dtype(k, "k", *v, "v");
  check_same_device(k, "k", *v, "v");
  check_heads(*v, "v");
  check_shape(*v, "v", k.sizes());
  const auto bt = k_buffer->scalar_type();
  TORCH_CHECK_TYPE(bt == st || bt == at::kFloat8_e4m3fn, "k_buffer must have dtype ", st,
                   " (k's) or float8_e4m3fn, got ", bt);
  check_same_dtype(*k_buffer, "k_buffer", *v_buffer, "v_buffer");
  check_same_device(k, "k", *k_buffer, "k_buffer");
  check_same_device(k, "k", *v_buffer, "v_buffer");
  const auto [kb_row, kb_head] = buffer_strides(*k_buffer, "k_buffer", hk, head_size);
  const auto [vb_row, vb_head] = buffer_strides(*v_buffer, "v_buffer", hk, head_size);
  TORCH_CHECK_VALUE(v_buffer->size(0) == k_buffer->size(0), "v_buffer must have k_buffer's cache_size (",
                    k_buffer->size(0), "), got ", v_buffer->size(0));
  const at::Tensor& loc = *kv_cache_loc;
  TORCH_CHECK_TYPE(loc.scalar_type() == at::kLong, "kv_cache_loc must have dtype int64, got ", loc.scalar_type());
  check_same_device(k, "k", loc, "kv_cache_loc");
  TORCH_CHECK_VALUE(loc.dim() == 1 && loc.size(0) == nnz, "kv_cache_loc must have shape [", nnz, "], got ",
                    loc.sizes());
  TORCH_CHECK_VALUE(nnz <= 1 || loc.stride(0) == 1, "kv_cache_loc must be contiguous, got strides ", loc.strides());
  check_scale(k_scale, "k_scale");
  check_scale(v_scale, "v_scale");
  p.v = v->data_ptr();
  p.k_buffer = k_buffer->data_ptr();
  p.v_buffer = v_buffer->data_ptr();
  p.cache_loc = loc.data_ptr<int64_t>();
  p.v_stride_tok = v->stride(0);
  p.v_stride_head = v->stride(1);
  p.kb_stride_row = kb_row;
  p.kb_stride_head = kb_head;
  p.vb_stride_row = vb_row;
  p.vb_stride_head = vb_head;
  p.k_scale = k_scale ? static_cast<float>(*k_scale) : 1.f;
  p.v_scale = v_scale ? static_cast<float>(*v_scale) : 1.f;
  types->buffer = bt;
  return p;
}

}  // namespace sgl_kernel
