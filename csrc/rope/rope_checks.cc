// Argument checks for the rope family, shared by both backends.
#include <cmath>

#include "common/torch_utils.h"
#include "rope/rope.h"

namespace sgl_kernel {
namespace {

void check_heads(const Tensor& t, const char* name) {
  SGL_CHECK_VALUE(t.dim() == 3, name, " must be 3-D [nnz, heads, head_size], got shape ", t.sizes());
  check_last_contiguous(t, name);
}

void check_scale(std::optional<double> s, const char* name) {
  if (s) SGL_CHECK_VALUE(std::isfinite(*s) && *s > 0, name, " must be a finite positive number, got ", *s);
}

// A cache buffer as [cache_size, heads, head_size]: 3-D as given, or 2-D
// [cache_size, heads * head_size] with contiguous rows. Returns {row, head} strides.
std::pair<int64_t, int64_t> buffer_strides(const Tensor& b, const char* name, int64_t heads, int64_t head_size) {
  check_last_contiguous(b, name);
  if (b.dim() == 2) {
    SGL_CHECK_VALUE(b.size(1) == heads * head_size, name, " must have shape [cache_size, ", heads * head_size,
                      "] or [cache_size, ", heads, ", ", head_size, "], got ", b.sizes());
    return {b.stride(0), head_size};
  }
  SGL_CHECK_VALUE(b.dim() == 3 && b.size(1) == heads && b.size(2) == head_size, name,
                    " must have shape [cache_size, ", heads * head_size, "] or [cache_size, ", heads, ", ",
                    head_size, "], got ", b.sizes());
  return {b.stride(0), b.stride(1)};
}

// cos_sin_cache [max_pos, rotary_dim], float32 or q's dtype; returns rotary_dim.
int64_t check_cos_sin_cache(const Tensor& cache, const Tensor& q, const char* q_name, int64_t head_size) {
  const auto cs = cache.scalar_type();
  SGL_CHECK_TYPE(cs == kFloat || cs == q.scalar_type(), "cos_sin_cache must have dtype float32 or ", q_name,
                   "'s dtype (", q.scalar_type(), "), got ", cs);
  check_same_device(q, q_name, cache, "cos_sin_cache");
  SGL_CHECK_VALUE(cache.dim() == 2, "cos_sin_cache must be 2-D [max_pos, rotary_dim], got shape ", cache.sizes());
  check_last_contiguous(cache, "cos_sin_cache");
  const int64_t rotary_dim = cache.size(1);
  SGL_CHECK_VALUE(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_size,
                    "cos_sin_cache's last dim (rotary_dim) must be even, positive and at most head_size (",
                    head_size, "), got ", rotary_dim);
  return rotary_dim;
}

void check_model_dtype(const Tensor& t, const char* name) {
  const auto st = t.scalar_type();
  SGL_CHECK_TYPE(st == kFloat || st == kHalf || st == kBFloat16, name,
                   " must have dtype in {float32, float16, bfloat16}, got ", st);
}

void check_head_size(int64_t head_size) {
  SGL_CHECK_VALUE(head_size > 0, "head_size must be positive, got ", head_size);
}

// The element stride that walks the first `lead` dims of t as one token dim
// (so [B, S, ...] works as [B * S, ...] without a copy).
int64_t token_stride(const Tensor& t, const char* name, int64_t lead) {
  if (lead == 1) return t.stride(0);
  // lead == 2: a size-1 dim has no stride to honour.
  if (t.size(0) == 1) return t.stride(1);
  if (t.size(1) == 1) return t.stride(0);
  SGL_CHECK_VALUE(t.stride(0) == t.stride(1) * t.size(1), name, "'s leading dims ", t.sizes().slice(0, 2),
                    " must be viewable as one token dim (stride(0) == stride(1) * size(1)), got strides ",
                    t.strides());
  return t.stride(1);
}

// query or key over the leading dims `lead`: [*lead, heads * head_size] or
// [*lead, heads, head_size], last dim contiguous.
struct HeadsView {
  int64_t heads, stride_tok, stride_head;
};

HeadsView heads_view(const Tensor& t, const char* name, IntArrayRef lead, int64_t head_size) {
  const int64_t n = static_cast<int64_t>(lead.size());
  const bool split = t.dim() == n + 2 && t.size(-1) == head_size;
  const bool flat = t.dim() == n + 1 && t.size(-1) % head_size == 0;
  SGL_CHECK_VALUE((split || flat) && same_sizes(t.sizes().slice(0, n), lead), name, " must have shape ", lead,
                    " + [heads * ", head_size, "] or ", lead, " + [heads, ", head_size, "], got ", t.sizes());
  check_last_contiguous(t, name);
  HeadsView v{};
  v.heads = split ? t.size(-2) : t.size(-1) / head_size;
  v.stride_head = split ? t.stride(-2) : head_size;
  v.stride_tok = token_stride(t, name, n);
  return v;
}

// Fills the q/k fields of p (in place: outputs alias inputs) from query and
// the optional key over the leading dims `lead`.
void fill_heads(RopeParams& p, const Tensor& query, const std::optional<Tensor>& key, IntArrayRef lead,
                int64_t head_size) {
  const HeadsView q = heads_view(query, "query", lead, head_size);
  p.q = query.data_ptr();
  p.q_out = query.data_ptr();
  p.num_q_heads = q.heads;
  p.q_stride_tok = p.q_out_stride_tok = q.stride_tok;
  p.q_stride_head = p.q_out_stride_head = q.stride_head;
  p.head_size = head_size;
  if (key) {
    check_same_dtype(query, "query", *key, "key");
    check_same_device(query, "query", *key, "key");
    const HeadsView k = heads_view(*key, "key", lead, head_size);
    SGL_CHECK_VALUE(k.heads > 0 && q.heads % k.heads == 0, "key's head count (", k.heads,
                      ") must divide query's (", q.heads, ")");
    p.k = key->data_ptr();
    p.k_out = key->data_ptr();
    p.num_k_heads = k.heads;
    p.k_stride_tok = p.k_out_stride_tok = k.stride_tok;
    p.k_stride_head = p.k_out_stride_head = k.stride_head;
  }
  p.nnz = 1;
  for (const int64_t d : lead) p.nnz *= d;
  p.k_scale = 1.f;
  p.v_scale = 1.f;
}

}  // namespace

RopeParams make_rope_params(const Tensor& q, const Tensor& k, const Tensor& q_rope,
                            const Tensor& k_rope, const Tensor& cos_sin_cache, const Tensor& pos_ids,
                            bool interleave, bool pdl, const std::optional<Tensor>& v,
                            const std::optional<Tensor>& k_buffer, const std::optional<Tensor>& v_buffer,
                            const std::optional<Tensor>& kv_cache_loc, std::optional<double> k_scale,
                            std::optional<double> v_scale, std::optional<IntArrayRef> mrope_section,
                            bool mrope_interleaved, RopeTypes* types) {
  const auto st = q.scalar_type();
  SGL_CHECK_TYPE(st == kFloat || st == kHalf || st == kBFloat16,
                   "q must have dtype in {float32, float16, bfloat16}, got ", st);
  check_heads(q, "q");
  check_heads(k, "k");
  check_same_dtype(q, "q", k, "k");
  check_same_device(q, "q", k, "k");
  const int64_t nnz = q.size(0), head_size = q.size(2);
  SGL_CHECK_VALUE(k.size(0) == nnz && k.size(2) == head_size, "k must have shape [", nnz, ", num_k_heads, ",
                    head_size, "] (nnz and head_size of q), got ", k.sizes());
  check_same_dtype(q, "q", q_rope, "q_rope");
  check_same_device(q, "q", q_rope, "q_rope");
  check_shape(q_rope, "q_rope", q.sizes());
  check_last_contiguous(q_rope, "q_rope");
  check_same_dtype(k, "k", k_rope, "k_rope");
  check_same_device(k, "k", k_rope, "k_rope");
  check_shape(k_rope, "k_rope", k.sizes());
  check_last_contiguous(k_rope, "k_rope");

  const int64_t rotary_dim = check_cos_sin_cache(cos_sin_cache, q, "q", head_size);
  const auto cs = cos_sin_cache.scalar_type();

  const auto ps = pos_ids.scalar_type();
  SGL_CHECK_TYPE(ps == kInt || ps == kLong, "pos_ids must have dtype int32 or int64, got ", ps);
  check_same_device(q, "q", pos_ids, "pos_ids");
  const bool multi = mrope_section.has_value() && pos_ids.dim() == 2;
  if (mrope_section) {
    SGL_CHECK_VALUE((pos_ids.dim() == 2 && pos_ids.size(0) == 3 && pos_ids.size(1) == nnz) ||
                          (pos_ids.dim() == 1 && pos_ids.size(0) == nnz),
                      "pos_ids must have shape [3, ", nnz, "] or [", nnz, "], got ", pos_ids.sizes());
    const auto sec = *mrope_section;
    SGL_CHECK_VALUE(sec.size() == 3 && sec[0] >= 0 && sec[1] >= 0 && sec[2] >= 0 &&
                          sec[0] + sec[1] + sec[2] == rotary_dim / 2,
                      "mrope_section must be three non-negative ints summing to rotary_dim / 2 (", rotary_dim / 2,
                      "), got ", sec);
  } else {
    SGL_CHECK_VALUE(pos_ids.dim() == 1 && pos_ids.size(0) == nnz, "pos_ids must have shape [", nnz, "], got ",
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
  p.pos_int64 = ps == kLong;
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
  SGL_CHECK_VALUE(given == 0 || given == 4,
                    "the fused KV store needs v, k_buffer, v_buffer and kv_cache_loc together; got v ",
                    v ? "given" : "None", ", k_buffer ", k_buffer ? "given" : "None", ", v_buffer ",
                    v_buffer ? "given" : "None", ", kv_cache_loc ", kv_cache_loc ? "given" : "None");
  if (given == 0) {
    SGL_CHECK_VALUE(!k_scale && !v_scale, "k_scale and v_scale apply only to the fused KV store (k_buffer given)");
    return p;
  }
  const int64_t hk = k.size(1);
  check_same_dtype(k, "k", *v, "v");
  check_same_device(k, "k", *v, "v");
  check_heads(*v, "v");
  check_shape(*v, "v", k.sizes());
  const auto bt = k_buffer->scalar_type();
  SGL_CHECK_TYPE(bt == st || bt == kFloat8_e4m3fn, "k_buffer must have dtype ", st,
                   " (k's) or float8_e4m3fn, got ", bt);
  check_same_dtype(*k_buffer, "k_buffer", *v_buffer, "v_buffer");
  check_same_device(k, "k", *k_buffer, "k_buffer");
  check_same_device(k, "k", *v_buffer, "v_buffer");
  const auto [kb_row, kb_head] = buffer_strides(*k_buffer, "k_buffer", hk, head_size);
  const auto [vb_row, vb_head] = buffer_strides(*v_buffer, "v_buffer", hk, head_size);
  SGL_CHECK_VALUE(v_buffer->size(0) == k_buffer->size(0), "v_buffer must have k_buffer's cache_size (",
                    k_buffer->size(0), "), got ", v_buffer->size(0));
  const Tensor& loc = *kv_cache_loc;
  SGL_CHECK_TYPE(loc.scalar_type() == kLong, "kv_cache_loc must have dtype int64, got ", loc.scalar_type());
  check_same_device(k, "k", loc, "kv_cache_loc");
  SGL_CHECK_VALUE(loc.dim() == 1 && loc.size(0) == nnz, "kv_cache_loc must have shape [", nnz, "], got ",
                    loc.sizes());
  SGL_CHECK_VALUE(nnz <= 1 || loc.stride(0) == 1, "kv_cache_loc must be contiguous, got strides ", loc.strides());
  check_scale(k_scale, "k_scale");
  check_scale(v_scale, "v_scale");
  p.v = v->data_ptr();
  p.k_buffer = k_buffer->data_ptr();
  p.v_buffer = v_buffer->data_ptr();
  p.cache_loc = ptr<int64_t>(loc);
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

RopeParams make_rotary_embedding_params(const Tensor& positions, const Tensor& query,
                                        const std::optional<Tensor>& key, int64_t head_size,
                                        const Tensor& cos_sin_cache, bool is_neox, RopeTypes* types) {
  check_model_dtype(query, "query");
  check_head_size(head_size);
  const auto ps = positions.scalar_type();
  SGL_CHECK_TYPE(ps == kInt || ps == kLong, "positions must have dtype int32 or int64, got ", ps);
  check_same_device(query, "query", positions, "positions");
  SGL_CHECK_VALUE(positions.dim() == 1 || positions.dim() == 2,
                    "positions must be 1-D [num_tokens] or 2-D [batch, seq_len], got shape ", positions.sizes());
  RopeParams p{};
  fill_heads(p, query, key, positions.sizes(), head_size);
  p.rotary_dim = check_cos_sin_cache(cos_sin_cache, query, "query", head_size);
  p.cos_sin = cos_sin_cache.data_ptr();
  p.cs_stride = cos_sin_cache.stride(0);
  p.pos = positions.data_ptr();
  p.pos_stride_tok = p.nnz > 0 ? token_stride(positions, "positions", positions.dim()) : 1;
  p.pos_int64 = ps == kLong;
  p.interleave = !is_neox;
  p.table = RopeTable::kPosCache;
  types->t = query.scalar_type();
  types->cs = cos_sin_cache.scalar_type();
  types->buffer = types->t;
  return p;
}

RopeParams make_rotary_cos_sin_params(const Tensor& cos, const Tensor& sin, const Tensor& query,
                                      const std::optional<Tensor>& key, int64_t head_size, bool interleaved,
                                      RopeTypes* types) {
  check_model_dtype(query, "query");
  check_head_size(head_size);
  SGL_CHECK_VALUE(query.dim() == 2 || query.dim() == 3,
                    "query must be [num_tokens, heads * head_size] or [num_tokens, heads, head_size], got shape ",
                    query.sizes());
  const int64_t tokens = query.size(0);
  RopeParams p{};
  fill_heads(p, query, key, query.sizes().slice(0, 1), head_size);
  const auto ct = cos.scalar_type();
  SGL_CHECK_TYPE(ct == query.scalar_type() || ct == kFloat, "cos must have query's dtype (",
                   query.scalar_type(), ") or float32, got ", ct);
  check_same_dtype(cos, "cos", sin, "sin");
  check_same_device(query, "query", cos, "cos");
  check_same_device(query, "query", sin, "sin");
  SGL_CHECK_VALUE(cos.dim() == 2 && cos.size(0) == tokens && cos.size(1) > 0, "cos must have shape [", tokens,
                    ", C] (query's num_tokens, C > 0), got ", cos.sizes());
  check_shape(sin, "sin", cos.sizes());
  check_last_contiguous(cos, "cos");
  check_last_contiguous(sin, "sin");
  const int64_t c = cos.size(1);
  const int64_t elem = static_cast<int64_t>(cos.element_size());
  p.cos_sin = cos.data_ptr();
  p.sin = sin.data_ptr();
  p.cs_stride = cos.stride(0);
  p.sin_stride = sin.stride(0);
  p.cs_step = 1;
  p.interleave = interleaved;
  if (interleaved) {
    // c pairs (2j, 2j+1); a full-width table (c == head_size, each value
    // repeated for both lanes) reads cos[2j] and sin[2j + 1].
    SGL_CHECK_VALUE(c == head_size ? head_size % 2 == 0 : 2 * c <= head_size,
                      "cos's last dim must be at most head_size / 2 (", head_size / 2, ") or equal head_size (",
                      head_size, ") for interleaved pairs, got ", c);
    p.table = RopeTable::kTokenPairs;
    if (c == head_size) {
      p.rotary_dim = head_size;
      p.cs_step = 2;
      p.sin = static_cast<const char*>(p.sin) + elem;
    } else {
      p.rotary_dim = 2 * c;
    }
  } else {
    SGL_CHECK_VALUE(c % 2 == 0 && c <= head_size, "cos's last dim (the rotary width) must be even and at most ",
                      "head_size (", head_size, ") for neox pairs, got ", c);
    p.table = RopeTable::kTokenFull;
    p.rotary_dim = c;
  }
  types->t = query.scalar_type();
  types->cs = ct;
  types->buffer = types->t;
  return p;
}

QKNormRopeParams make_qk_norm_rope_params(const Tensor& qkv, int64_t num_heads_q, int64_t num_heads_k,
                                          int64_t num_heads_v, int64_t head_dim, double eps,
                                          const Tensor& q_weight, const Tensor& k_weight, double base,
                                          bool is_neox, const Tensor& position_ids, double factor, double low,
                                          double high, double attention_factor, int64_t rotary_dim,
                                          ScalarType* t) {
  check_model_dtype(qkv, "qkv");
  SGL_CHECK_VALUE(num_heads_q >= 0 && num_heads_k >= 0 && num_heads_v >= 0,
                    "num_heads_q, num_heads_k and num_heads_v must be non-negative, got ", num_heads_q, ", ",
                    num_heads_k, ", ", num_heads_v);
  SGL_CHECK_VALUE(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 1024,
                    "head_dim must be even and in [2, 1024], got ", head_dim);
  SGL_CHECK_VALUE(qkv.dim() == 2 && qkv.size(1) == (num_heads_q + num_heads_k + num_heads_v) * head_dim,
                    "qkv must have shape [num_tokens, ", (num_heads_q + num_heads_k + num_heads_v) * head_dim,
                    "] ((num_heads_q + num_heads_k + num_heads_v) * head_dim), got ", qkv.sizes());
  check_last_contiguous(qkv, "qkv");
  SGL_CHECK_VALUE(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim &&
                        rotary_dim <= 2 * kQKNormRopeMaxPairs,
                    "rotary_dim must be even, positive, at most head_dim (", head_dim, ") and at most ",
                    2 * kQKNormRopeMaxPairs, ", got ", rotary_dim);
  SGL_CHECK_VALUE(std::isfinite(eps) && eps >= 0, "eps must be finite and non-negative, got ", eps);
  SGL_CHECK_VALUE(std::isfinite(base) && base > 0, "base must be finite and positive, got ", base);
  SGL_CHECK_VALUE(std::isfinite(factor) && factor > 0, "factor must be finite and positive, got ", factor);
  SGL_CHECK_VALUE(factor == 1.0 || (std::isfinite(low) && std::isfinite(high)),
                    "low and high must be finite when factor != 1, got ", low, " and ", high);
  SGL_CHECK_VALUE(std::isfinite(attention_factor), "attention_factor must be finite, got ", attention_factor);
  const auto wt = q_weight.scalar_type();
  SGL_CHECK_TYPE(wt == qkv.scalar_type() || wt == kFloat, "q_weight must have qkv's dtype (",
                   qkv.scalar_type(), ") or float32, got ", wt);
  check_same_dtype(q_weight, "q_weight", k_weight, "k_weight");
  check_same_device(qkv, "qkv", q_weight, "q_weight");
  check_same_device(qkv, "qkv", k_weight, "k_weight");
  check_shape(q_weight, "q_weight", {head_dim});
  check_shape(k_weight, "k_weight", {head_dim});
  check_last_contiguous(q_weight, "q_weight");
  check_last_contiguous(k_weight, "k_weight");
  const auto ps = position_ids.scalar_type();
  SGL_CHECK_TYPE(ps == kInt || ps == kLong, "position_ids must have dtype int32 or int64, got ", ps);
  check_same_device(qkv, "qkv", position_ids, "position_ids");
  check_shape(position_ids, "position_ids", {qkv.size(0)});

  QKNormRopeParams p{};
  p.qkv = qkv.data_ptr();
  p.q_weight = q_weight.data_ptr();
  p.k_weight = k_weight.data_ptr();
  p.pos = position_ids.data_ptr();
  p.num_tokens = qkv.size(0);
  p.row_stride = qkv.stride(0);
  p.pos_stride = position_ids.stride(0);
  p.num_heads_q = num_heads_q;
  p.num_heads_k = num_heads_k;
  p.head_dim = head_dim;
  p.rotary_dim = rotary_dim;
  p.eps = static_cast<float>(eps);
  p.attention_factor = static_cast<float>(attention_factor);
  p.pos_int64 = ps == kLong;
  p.weight_float = wt == kFloat;
  p.interleave = !is_neox;
  p.pdl = false;
  fill_qk_norm_rope_freqs(p, base, factor, low, high);
  *t = qkv.scalar_type();
  return p;
}

}  // namespace sgl_kernel
