// RoPE kernel. One template serves plain rope, mrope (the position of each
// frequency picked by mrope_component), neox and interleaved pairing, and the
// fused KV-cache store.
//
// A block owns one token (or, when there are too few tokens to fill the GPU,
// a slice of one token's work): it stages the token's cos/sin row in shared
// memory as fp32 once, then its threads walk "units" of the token's heads.
// A unit is W lanes of one head: a rotary unit holds W pairs (neox: lanes i
// and i + rotary_dim/2) or W/2 pairs (interleaved: lanes 2i, 2i+1), a pass
// unit W lanes past rotary_dim, a v unit W lanes of v bound for v_buffer.
// W is one 16-byte vector where alignment allows, else one element. Each
// thread loads ITEMS units before computing any of them, so several loads
// stay in flight per thread (q_out may alias q, so the compiler cannot hoist
// the loads of the next unit above the stores of this one by itself).
//
// The fp32 products and sums use the _rn intrinsics so no multiply-add is
// contracted: the results match the CPU backend bit for bit.
#pragma once

#include <cstdint>
#include <type_traits>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/rope/rope.h"
#include "sgl_kernel/rope/rope_flat.cuh"

namespace sgl_kernel {
namespace rope_detail {

constexpr int kItems = 2;
constexpr int kMaxThreads = 256;

enum UnitKind : int { kNone = 0, kRotary = 1, kPass = 2 };

// Where one unit reads and writes (head base pointers plus lane offsets).
// dst == nullptr: no write-back (pass-through lanes in place, v units);
// buf == nullptr: no cache store.
template <class T, class B>
struct Unit {
  const T* src;
  T* dst;
  B* buf;
  int64_t lo, hi;  // lane offsets within the head of the two halves
  int64_t freq;    // first frequency index (rotary units)
  float scale;
  int kind;
};

template <class T, int W>
struct Frag {
  Vec<T, W> lo, hi;
};

SGL_DEVICE int64_t load_index(const void* p, bool is64, int64_t i) {
  return is64 ? static_cast<const int64_t*>(p)[i] : static_cast<int64_t>(static_cast<const int32_t*>(p)[i]);
}

template <class B, class T, int W>
SGL_DEVICE void store_buffer(B* dst, const Vec<T, W>& x, float scale) {
  if constexpr (std::is_same_v<B, T>) {
    if (scale == 1.f) {
      x.store(dst);
      return;
    }
  }
  Vec<B, W> b;
#pragma unroll
  for (int j = 0; j < W; ++j) b[j] = from_float<B>(__fdiv_rn(to_float(x[j]), scale));
  b.store(dst);
}

// One token's item counts are far below 2^31: 32-bit division is several
// times cheaper than 64-bit on the GPU.
SGL_DEVICE int64_t div32(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b));
}

// Decodes work item w of token tok into a unit. Items are laid out as all q
// heads' units, then all k heads' units, then (fused) all v heads' units.
template <class T, class B, int W, bool kInterleave, bool kFused>
SGL_DEVICE Unit<T, B> decode(const RopeParams& p, int64_t tok, int64_t loc, int64_t w, int64_t uq, int64_t uk,
                             int64_t uv) {
  constexpr int64_t PV = (kInterleave && W > 1) ? W / 2 : W;
  const int64_t half = p.rotary_dim / 2;
  const int64_t n_rot = half / PV;
  Unit<T, B> u;
  u.buf = nullptr;
  u.scale = 1.f;
  int64_t head, idx;
  const int64_t nq = p.num_q_heads * uq, nk = p.num_k_heads * uk;
  if (w < nq) {
    head = div32(w, uq);
    idx = w - head * uq;
    u.src = static_cast<const T*>(p.q) + tok * p.q_stride_tok + head * p.q_stride_head;
    u.dst = static_cast<T*>(p.q_out) + tok * p.q_out_stride_tok + head * p.q_out_stride_head;
  } else if (w < nq + nk) {
    w -= nq;
    head = div32(w, uk);
    idx = w - head * uk;
    u.src = static_cast<const T*>(p.k) + tok * p.k_stride_tok + head * p.k_stride_head;
    u.dst = static_cast<T*>(p.k_out) + tok * p.k_out_stride_tok + head * p.k_out_stride_head;
    if constexpr (kFused) {
      u.buf = static_cast<B*>(p.k_buffer) + loc * p.kb_stride_row + head * p.kb_stride_head;
      u.scale = p.k_scale;
    }
  } else {
    w -= nq + nk;
    head = div32(w, uv);
    idx = w - head * uv;
    u.src = static_cast<const T*>(p.v) + tok * p.v_stride_tok + head * p.v_stride_head;
    u.dst = nullptr;
    u.buf = static_cast<B*>(p.v_buffer) + loc * p.vb_stride_row + head * p.vb_stride_head;
    u.scale = p.v_scale;
    u.kind = kPass;
    u.lo = idx * W;
    u.hi = 0;
    u.freq = 0;
    return u;
  }
  if (idx < n_rot) {
    u.kind = kRotary;
    u.freq = idx * PV;
    if constexpr (kInterleave) {
      u.lo = 2 * u.freq;
      u.hi = u.lo + 1;  // used only when W == 1
    } else {
      u.lo = u.freq;
      u.hi = half + u.freq;
    }
  } else {
    u.kind = kPass;
    // In place, pass-through lanes need no write-back (only the cache store).
    if (u.dst == u.src) u.dst = nullptr;
    u.lo = p.rotary_dim + (idx - n_rot) * W;
    u.hi = 0;
    u.freq = 0;
  }
  return u;
}

template <class T, class B, int W, bool kInterleave>
SGL_DEVICE void load_unit(const Unit<T, B>& u, Frag<T, W>& f) {
  if (u.kind == kNone) return;
  f.lo.load(u.src + u.lo);
  if (u.kind == kRotary && (!kInterleave || W == 1)) f.hi.load(u.src + u.hi);
}

SGL_DEVICE void rotate(float x, float y, float c, float s, float& xo, float& yo) {
  xo = __fsub_rn(__fmul_rn(x, c), __fmul_rn(y, s));
  yo = __fadd_rn(__fmul_rn(y, c), __fmul_rn(x, s));
}

template <class T, class B, int W, bool kInterleave>
SGL_DEVICE void finish_unit(const Unit<T, B>& u, Frag<T, W>& f, const float* cos_s, const float* sin_s) {
  if (u.kind == kNone) return;
  const bool two = u.kind == kRotary && (!kInterleave || W == 1);
  if (u.kind == kRotary) {
    if constexpr (kInterleave && W > 1) {
#pragma unroll
      for (int j = 0; j < W / 2; ++j) {
        float xo, yo;
        rotate(to_float(f.lo[2 * j]), to_float(f.lo[2 * j + 1]), cos_s[u.freq + j], sin_s[u.freq + j], xo, yo);
        f.lo[2 * j] = from_float<T>(xo);
        f.lo[2 * j + 1] = from_float<T>(yo);
      }
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) {
        float xo, yo;
        rotate(to_float(f.lo[j]), to_float(f.hi[j]), cos_s[u.freq + j], sin_s[u.freq + j], xo, yo);
        f.lo[j] = from_float<T>(xo);
        f.hi[j] = from_float<T>(yo);
      }
    }
  }
  if (u.dst) {
    f.lo.store(u.dst + u.lo);
    if (two) f.hi.store(u.dst + u.hi);
  }
  if (u.buf) {
    store_buffer<B>(u.buf + u.lo, f.lo, u.scale);
    if (two) store_buffer<B>(u.buf + u.hi, f.hi, u.scale);
  }
}

// grid: x walks tokens (grid-stride), y splits one token's items into chunks
// of items_per_block. Dynamic shared memory: rotary_dim floats.
template <class T, class CS, class B, int W, bool kInterleave, bool kFused>
__global__ void __launch_bounds__(kMaxThreads) rope_kernel(const RopeParams p, int64_t items_per_block) {
  extern __shared__ float cs_smem[];
  constexpr int64_t PV = (kInterleave && W > 1) ? W / 2 : W;
  const int64_t half = p.rotary_dim / 2;
  const int64_t n_rot = half / PV;
  const int64_t n_pass = (p.head_size - p.rotary_dim) / W;
  const int64_t uq = n_rot + (p.q_out != p.q ? n_pass : 0);
  const int64_t uk = n_rot + ((p.k_out != p.k || kFused) ? n_pass : 0);
  const int64_t uv = kFused ? p.head_size / W : 0;
  const int64_t total = p.num_q_heads * uq + p.num_k_heads * (uk + uv);
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * items_per_block;
  const int64_t end = begin + items_per_block < total ? begin + items_per_block : total;
  const int64_t step = static_cast<int64_t>(blockDim.x) * kItems;
  float* cos_s = cs_smem;
  float* sin_s = cs_smem + half;
  const CS* cache = static_cast<const CS*>(p.cos_sin);
  pdl_wait();
  pdl_launch_dependents();

  for (int64_t tok = blockIdx.x; tok < p.nnz; tok += gridDim.x) {
    const int64_t loc = kFused ? p.cache_loc[tok] : 0;
    Unit<T, B> u[kItems];
    Frag<T, W> f[kItems];
    int64_t w = begin + threadIdx.x;
    // The first units' loads go out before the cos/sin staging, overlapping
    // the two round trips to memory.
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int64_t wi = w + static_cast<int64_t>(it) * blockDim.x;
      if (wi < end) {
        u[it] = decode<T, B, W, kInterleave, kFused>(p, tok, loc, wi, uq, uk, uv);
      } else {
        u[it].kind = kNone;
      }
      load_unit<T, B, W, kInterleave>(u[it], f[it]);
    }
    __syncthreads();  // the previous token's readers are done with the cos/sin row
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
      const int64_t comp = mrope_component(p, i);
      const int64_t pos = load_index(p.pos, p.pos_int64, comp * p.pos_stride_comp + tok * p.pos_stride_tok);
      const CS* row = cache + pos * p.cs_stride;
      cos_s[i] = to_float(row[i]);
      sin_s[i] = to_float(row[half + i]);
    }
    __syncthreads();
    while (true) {
#pragma unroll
      for (int it = 0; it < kItems; ++it) finish_unit<T, B, W, kInterleave>(u[it], f[it], cos_s, sin_s);
      w += step;
      if (w >= end) break;
#pragma unroll
      for (int it = 0; it < kItems; ++it) {
        const int64_t wi = w + static_cast<int64_t>(it) * blockDim.x;
        if (wi < end) {
          u[it] = decode<T, B, W, kInterleave, kFused>(p, tok, loc, wi, uq, uk, uv);
        } else {
          u[it].kind = kNone;
        }
        load_unit<T, B, W, kInterleave>(u[it], f[it]);
      }
    }
  }
}

template <class T, class CS, class B, int W, bool kInterleave, bool kFused>
cudaError_t launch_cfg(const RopeParams& p, cudaStream_t stream) {
  constexpr int64_t PV = (kInterleave && W > 1) ? W / 2 : W;
  const int64_t n_rot = p.rotary_dim / 2 / PV;
  const int64_t n_pass = (p.head_size - p.rotary_dim) / W;
  const int64_t uq = n_rot + (p.q_out != p.q ? n_pass : 0);
  const int64_t uk = n_rot + ((p.k_out != p.k || kFused) ? n_pass : 0);
  const int64_t uv = kFused ? p.head_size / W : 0;
  const int64_t total = p.num_q_heads * uq + p.num_k_heads * (uk + uv);
  if (total == 0) return cudaSuccess;
  const int64_t sms = num_sms();
  // Few tokens (decode): smaller blocks and a token's items split over
  // several blocks, so the work spreads over more SMs.
  const int64_t threads = p.nnz < sms ? 128 : kMaxThreads;
  int64_t split = 1;
  if (p.nnz < 2 * sms) {
    const int64_t want = div_up<int64_t>(2 * sms, p.nnz);
    const int64_t most = div_up<int64_t>(total, threads);
    split = want < most ? want : most;
  }
  const int64_t per_block = div_up<int64_t>(total, split);
  split = div_up<int64_t>(total, per_block);
  const int64_t max_grid_x = int64_t{1} << 24;  // the token loop covers the rest
  const dim3 grid(static_cast<unsigned>(p.nnz < max_grid_x ? p.nnz : max_grid_x), static_cast<unsigned>(split));
  const size_t smem = static_cast<size_t>(p.rotary_dim) * sizeof(float);
  auto kernel = rope_kernel<T, CS, B, W, kInterleave, kFused>;
  if (smem > 48 * 1024) return cudaErrorInvalidValue;
  return launch_kernel(kernel, grid, dim3(static_cast<unsigned>(threads)), smem, stream, p.pdl, p, per_block);
}

template <class T, class CS, class B, int W>
cudaError_t launch_w(const RopeParams& p, cudaStream_t stream) {
  const bool fused = p.k_buffer != nullptr;
  if constexpr (std::is_same_v<B, T>) {
    if (!fused) {
      return p.interleave ? launch_cfg<T, CS, B, W, true, false>(p, stream)
                          : launch_cfg<T, CS, B, W, false, false>(p, stream);
    }
  }
  if (!fused) return cudaErrorInvalidValue;  // a non-T buffer type makes sense only with a store
  return p.interleave ? launch_cfg<T, CS, B, W, true, true>(p, stream) : launch_cfg<T, CS, B, W, false, true>(p, stream);
}

}  // namespace rope_detail

template <class T, class CS, class B>
cudaError_t launch_rope(const RopeParams& p, cudaStream_t stream) {
  return launch_rope<T, CS, B>(p, RopeConfig{}, stream);
}

template <class T, class CS, class B>
cudaError_t launch_rope(const RopeParams& p, const RopeConfig& cfg, cudaStream_t stream) {
  if (p.nnz == 0 || (p.num_q_heads == 0 && p.num_k_heads == 0)) return cudaSuccess;
  if (p.nnz < 0 || p.num_q_heads < 0 || p.num_k_heads < 0 || p.head_size <= 0 || p.rotary_dim <= 0 ||
      p.rotary_dim % 2 != 0 || p.rotary_dim > p.head_size) {
    return cudaErrorInvalidValue;
  }
  if (!std::is_same_v<B, T> && p.k_buffer == nullptr) return launch_rope<T, CS, T>(p, cfg, stream);
  constexpr int V = kVec16<T>;
  const bool fused = p.k_buffer != nullptr;
  const int64_t pair_lanes = p.interleave ? p.rotary_dim : p.rotary_dim / 2;
  bool vec_ok = pair_lanes % V == 0 && p.rotary_dim % V == 0 && p.head_size % V == 0;
  vec_ok = vec_ok && p.q_stride_tok % V == 0 && p.q_stride_head % V == 0 && p.k_stride_tok % V == 0 &&
           p.k_stride_head % V == 0 && p.q_out_stride_tok % V == 0 && p.q_out_stride_head % V == 0 &&
           p.k_out_stride_tok % V == 0 && p.k_out_stride_head % V == 0;
  vec_ok = vec_ok && is_aligned(p.q, 16) && is_aligned(p.k, 16) && is_aligned(p.q_out, 16) && is_aligned(p.k_out, 16);
  if (fused) {
    const int64_t bvec = V * static_cast<int64_t>(sizeof(B));
    vec_ok = vec_ok && p.v_stride_tok % V == 0 && p.v_stride_head % V == 0 && p.kb_stride_row % V == 0 &&
             p.kb_stride_head % V == 0 && p.vb_stride_row % V == 0 && p.vb_stride_head % V == 0 &&
             is_aligned(p.v, 16) && is_aligned(p.k_buffer, bvec) && is_aligned(p.v_buffer, bvec);
  }
  if (cfg.schedule == 1) {
    return vec_ok ? rope_flat_detail::launch_w<T, CS, B, V>(p, stream) : rope_flat_detail::launch_w<T, CS, B, 1>(p, stream);
  }
  if (vec_ok) return rope_detail::launch_w<T, CS, B, V>(p, stream);
  return rope_detail::launch_w<T, CS, B, 1>(p, stream);
}

}  // namespace sgl_kernel
