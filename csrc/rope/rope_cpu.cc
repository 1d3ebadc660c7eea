// CPU implementation of the rope family: the semantic oracle for the CUDA
// kernel (same params, same fp32 operations in the same order, so results
// agree bit for bit where the compiler contracts no multiply-add: x86-64
// without -mfma, and the kernel uses the _rn intrinsics).
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>


#include "common/torch_utils.h"
#include "rope/rope.h"

namespace sgl_kernel {
namespace {

int64_t load_index(const void* p, bool is64, int64_t i) {
  return is64 ? static_cast<const int64_t*>(p)[i] : static_cast<int64_t>(static_cast<const int32_t*>(p)[i]);
}

// Cache stores: value / scale in fp32, then cast. fp8 saturates finite values
// to +-448 as the CUDA conversion does (torch's own cast would give NaN).
template <class B>
B to_buffer(float x, float scale) {
  float y = x / scale;
  if constexpr (std::is_same_v<B, Float8_e4m3fn>) {
    if (!std::isnan(y)) y = std::min(448.f, std::max(-448.f, y));
  }
  return static_cast<B>(y);
}

template <class T, class CS, class B>
void rope_rows(const RopeParams& p, int64_t max_pos, int64_t cache_size, const char* pos_name) {
  const int64_t half = p.rotary_dim / 2;
  const bool fused = p.k_buffer != nullptr;
  const bool by_pos = p.table == RopeTable::kPosCache;
  // Range checks first, so a bad argument leaves every output untouched.
  const int comps = p.mrope ? 3 : 1;
  for (int64_t t = 0; t < p.nnz; ++t) {
    for (int c = 0; by_pos && c < comps; ++c) {
      const int64_t pos = load_index(p.pos, p.pos_int64, c * p.pos_stride_comp + t * p.pos_stride_tok);
      SGL_CHECK_VALUE(pos >= 0 && pos < max_pos, pos_name, "[", (p.mrope ? std::to_string(c) + ", " : ""), t,
                        "] = ", pos, " is out of range of cos_sin_cache [0, ", max_pos, ")");
    }
    if (fused) {
      const int64_t loc = p.cache_loc[t];
      SGL_CHECK_VALUE(loc >= 0 && loc < cache_size, "kv_cache_loc[", t, "] = ", loc,
                        " is out of range of k_buffer [0, ", cache_size, ")");
    }
  }
  const CS* cache = static_cast<const CS*>(p.cos_sin);
  const CS* sin_table = static_cast<const CS*>(p.sin);
  const int64_t heads = p.num_q_heads + p.num_k_heads;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, heads * p.head_size));
  torch::stable::parallel_for(0, p.nnz, grain, [&](int64_t begin, int64_t end) {
    // cos/sin of the pair's x lane, and of its y lane (RopeTable in rope.h).
    std::vector<float> cos_v(half), sin_v(half), cos_y(half), sin_y(half), x(p.head_size);
    std::vector<T> y(p.head_size);
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        if (by_pos) {
          const int64_t c = mrope_component(p, i);
          const int64_t pos = load_index(p.pos, p.pos_int64, c * p.pos_stride_comp + t * p.pos_stride_tok);
          cos_v[i] = static_cast<float>(cache[pos * p.cs_stride + i]);
          sin_v[i] = static_cast<float>(cache[pos * p.cs_stride + half + i]);
        } else {
          const CS* crow = cache + t * p.cs_stride;
          const CS* srow = sin_table + t * p.sin_stride;
          cos_v[i] = static_cast<float>(crow[i * p.cs_step]);
          sin_v[i] = static_cast<float>(srow[i * p.cs_step]);
        }
        const bool full = p.table == RopeTable::kTokenFull;
        cos_y[i] = full ? static_cast<float>(cache[t * p.cs_stride + half + i]) : cos_v[i];
        sin_y[i] = full ? static_cast<float>(sin_table[t * p.sin_stride + half + i]) : sin_v[i];
      }
      const int64_t loc = fused ? p.cache_loc[t] : 0;
      for (int64_t h = 0; h < heads; ++h) {
        const bool is_q = h < p.num_q_heads;
        const int64_t hh = is_q ? h : h - p.num_q_heads;
        const T* in = is_q ? static_cast<const T*>(p.q) + t * p.q_stride_tok + hh * p.q_stride_head
                           : static_cast<const T*>(p.k) + t * p.k_stride_tok + hh * p.k_stride_head;
        T* out = is_q ? static_cast<T*>(p.q_out) + t * p.q_out_stride_tok + hh * p.q_out_stride_head
                      : static_cast<T*>(p.k_out) + t * p.k_out_stride_tok + hh * p.k_out_stride_head;
        for (int64_t j = 0; j < p.head_size; ++j) x[j] = static_cast<float>(in[j]);
        for (int64_t j = p.rotary_dim; j < p.head_size; ++j) y[j] = in[j];
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = p.interleave ? 2 * i : i;
          const int64_t b = p.interleave ? 2 * i + 1 : i + half;
          const float xc = x[a] * cos_v[i], ys = x[b] * sin_v[i];
          const float yc = x[b] * cos_y[i], xs = x[a] * sin_y[i];
          y[a] = static_cast<T>(xc - ys);
          y[b] = static_cast<T>(yc + xs);
        }
        for (int64_t j = 0; j < p.head_size; ++j) out[j] = y[j];
        if (fused && !is_q) {
          B* kb = static_cast<B*>(p.k_buffer) + loc * p.kb_stride_row + hh * p.kb_stride_head;
          for (int64_t j = 0; j < p.head_size; ++j) kb[j] = to_buffer<B>(static_cast<float>(y[j]), p.k_scale);
          const T* v = static_cast<const T*>(p.v) + t * p.v_stride_tok + hh * p.v_stride_head;
          B* vb = static_cast<B*>(p.v_buffer) + loc * p.vb_stride_row + hh * p.vb_stride_head;
          for (int64_t j = 0; j < p.head_size; ++j) vb[j] = to_buffer<B>(static_cast<float>(v[j]), p.v_scale);
        }
      }
    }
  });
}

template <class T, class CS>
void dispatch_buffer(const RopeParams& p, const RopeTypes& ty, int64_t max_pos, int64_t cache_size,
                     const char* pos_name) {
  if (ty.buffer == kFloat8_e4m3fn) {
    rope_rows<T, CS, Float8_e4m3fn>(p, max_pos, cache_size, pos_name);
  } else {
    rope_rows<T, CS, T>(p, max_pos, cache_size, pos_name);
  }
}

// fused_qk_norm_rope on one token: see qk_norm_rope.h for the formula. fp64
// sum of squares; cos/sin of the fp32 angle in double, rounded once.
template <class T, class W>
void qk_norm_rope_rows(const QKNormRopeParams& p) {
  const int64_t D = p.head_dim, R = p.rotary_dim, half = R / 2;
  const int64_t heads = p.num_heads_q + p.num_heads_k;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, heads * D));
  torch::stable::parallel_for(0, p.num_tokens, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> x(D), y(D), cos_v(half), sin_v(half);
    for (int64_t t = begin; t < end; ++t) {
      const float pos = static_cast<float>(load_index(p.pos, p.pos_int64, t * p.pos_stride));
      for (int64_t j = 0; j < half; ++j) {
        const float angle = pos * p.inv_freq[j];
        cos_v[j] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin_v[j] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
      for (int64_t h = 0; h < heads; ++h) {
        T* head = static_cast<T*>(p.qkv) + t * p.row_stride + h * D;
        const W* w = static_cast<const W*>(h < p.num_heads_q ? p.q_weight : p.k_weight);
        double ss = 0.0;
        for (int64_t e = 0; e < D; ++e) {
          x[e] = static_cast<float>(head[e]);
          ss += static_cast<double>(x[e]) * x[e];
        }
        const float rstd = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + p.eps));
        for (int64_t e = 0; e < D; ++e) y[e] = x[e] * rstd * static_cast<float>(w[e]);
        for (int64_t j = 0; j < half; ++j) {
          const int64_t a = p.interleave ? 2 * j : j;
          const int64_t b = p.interleave ? 2 * j + 1 : j + half;
          const float xc = y[a] * cos_v[j], ys = y[b] * sin_v[j];
          const float yc = y[b] * cos_v[j], xs = y[a] * sin_v[j];
          x[a] = (xc - ys) * p.attention_factor;
          x[b] = (yc + xs) * p.attention_factor;
        }
        for (int64_t e = R; e < D; ++e) x[e] = y[e];
        for (int64_t e = 0; e < D; ++e) head[e] = static_cast<T>(x[e]);
      }
    }
  });
}

}  // namespace

void rope_cpu(const RopeParams& p, const RopeTypes& ty, int64_t max_pos, int64_t cache_size, const char* pos_name) {
  dispatch_or_throw<float, Half, BFloat16>(ty.t, "q", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (ty.cs == kFloat) {
      dispatch_buffer<T, float>(p, ty, max_pos, cache_size, pos_name);
    } else {
      dispatch_buffer<T, T>(p, ty, max_pos, cache_size, pos_name);
    }
  });
}

void qk_norm_rope_cpu(const QKNormRopeParams& p, ScalarType t) {
  dispatch_or_throw<float, Half, BFloat16>(t, "qkv", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.weight_float) {
      qk_norm_rope_rows<T, float>(p);
    } else {
      qk_norm_rope_rows<T, T>(p);
    }
  });
}

}  // namespace sgl_kernel
