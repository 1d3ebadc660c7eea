// Fused per-head RMSNorm + RoPE on the Q and K heads of qkv, in place
// (semantics in qk_norm_rope.h).
//
// Split path (full-rotary neox, head_dim 64/128/256, the default model's
// case): LPH = head_dim / 8 lanes share a head (16 at 128, so a warp holds
// two heads at a time), each lane 8 fp32 registers: 4 consecutive pairs'
// first elements and, from the head's second half, their neox partners, read
// and written as two aligned 4-element vectors (8 bytes bf16). Partners sit
// in the same lane (no shuffle), a lane needs 4 frequencies (sincosf of the
// fp32 angle once per token item, reused by every head of the group), the
// sum of squares is an LPH-lane butterfly. The next heads are loaded before
// the current ones are reduced. Weights (q and k) sit in registers for the
// whole launch.
//
// Register path (other register-sized cases: head_dim = 32 * E, E in
// {2, 4, 8}, partial rotary or interleaved pairs): one warp per head, lane l
// holds elements [l*E, l*E + E); the neox partner (e +- R/2) sits in
// register i of lane l +- R/(2E), one shuffle per element (needs
// (R/2) % E == 0); interleaved partners are the neighbouring register.
//
// General path (any even head_dim <= 1024, any even rotary_dim, or the
// register path's alignment not met): the same warp/item walk, the head
// staged in shared memory (lane l owns elements l, l + 32, ...), cos/sin of
// the token item in shared memory, partners read from shared memory.
//
// Grid: persistent (resident blocks, or fewer), warps walk items
// (token, head group) with a grid-stride loop. The group size trades
// sincosf work (once per item) against parallelism: about 2 items per
// resident warp, at most all Q+K heads of a token (default model at 16384
// tokens: all 68 heads an item; 1 head an item up to ~128 tokens).
//
// History (H200, 16384 tokens x (64 + 4) heads of 128 bf16, in place,
// benchmarks/cpp/qknr_sweep.cu, x copy bandwidth of the same run): design 1,
// a warp a head, one 8-byte vector a lane, partners by shuffle, IEEE division
// in rstd, 8 items a warp: 0.45 (ncu: issue-bound, 137 instructions a head,
// 50% occupancy); design 2, 4 heads loaded per batch: 0.31 (more registers,
// still issue-bound: dropped); design 3, the split layout, multiply by
// 1/head_dim, fma sum of squares, pointer walk, one-word Vec stores: 0.69
// (85 instructions a head, now latency-bound); design 4, two heads a warp
// (16 lanes a head): 0.80, 0.82 with all heads an item (the default now).
// Still short of 0.9: docs/perf/session14.md.
//
// Agreement with the CPU backend: the frequency table is shared bit for bit
// (qk_norm_rope.h); the kernel sums squares in fp32 in butterfly order
// (CPU: fp64), uses rsqrtf (2 ulp) and sincosf (2 ulp; CPU: cos/sin of the
// same fp32 angle in double, rounded). The rotation itself uses the CPU's
// operation order with no contraction (the final * attention_factor is
// exact at 1 and is always applied). Results differ by a few fp32 ulp of
// the normalized head's scale (|y| ~ |w|) before the final rounding: fp32
// outputs within rtol = atol = 1e-5 of the CPU's for unit-scale weights
// (the tests' tolerance; tests/cpp uses 2e-5 against a double reference),
// fp16/bf16 outputs equal or one rounding step apart at that scale.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/reduce.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/rope/qk_norm_rope.h"

namespace sgl_kernel {
namespace qk_norm_rope_detail {

constexpr int kThreads = 256;
constexpr int kMaxHeadDim = 1024;

struct Layout {
  int64_t items;      // num_tokens * groups
  int64_t groups;     // head groups of one token
  int64_t per_group;  // heads of one group (the last may hold fewer)
  int64_t heads;      // Hq + Hk
  bool vec;           // register path: vector loads allowed
};

SGL_DEVICE float load_position(const QKNormRopeParams& p, int64_t tok) {
  const int64_t i = tok * p.pos_stride;
  const int64_t v = p.pos_int64 ? static_cast<int64_t>(static_cast<const long long*>(p.pos)[i])
                                : static_cast<int64_t>(static_cast<const int*>(p.pos)[i]);
  return static_cast<float>(v);  // round to nearest, as the CPU backend
}

template <class T>
SGL_DEVICE float load_weight(const QKNormRopeParams& p, const void* w, int64_t e) {
  return p.weight_float ? static_cast<const float*>(w)[e] : to_float(static_cast<const T*>(w)[e]);
}

// Elements of one vector access: E elements of a lane in chunks of at most 16 bytes.
template <class T, int E>
constexpr int kChunk = E < kVec16<T> ? E : kVec16<T>;

template <class T, int E>
SGL_DEVICE void load_lane(const T* src, bool vec, float (&x)[E]) {
  constexpr int C = kChunk<T, E>;
  if (vec) {
#pragma unroll
    for (int c = 0; c < E; c += C) {
      Vec<T, C> v;
      v.load(src + c);
#pragma unroll
      for (int k = 0; k < C; ++k) x[c + k] = to_float(v[k]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < E; ++i) x[i] = to_float(src[i]);
  }
}

template <class T, int E>
SGL_DEVICE void store_lane(T* dst, bool vec, const float (&x)[E]) {
  constexpr int C = kChunk<T, E>;
  if (vec) {
#pragma unroll
    for (int c = 0; c < E; c += C) {
      Vec<T, C> v;
#pragma unroll
      for (int k = 0; k < C; ++k) v[k] = from_float<T>(x[c + k]);
      v.store(dst + c);
    }
  } else {
#pragma unroll
    for (int i = 0; i < E; ++i) dst[i] = from_float<T>(x[i]);
  }
}

// rstd from the warp's sum of squares (fp32 math; rsqrtf is within 2 ulp).
SGL_DEVICE float rstd_of(float ss, const QKNormRopeParams& p) {
  return rsqrtf(__fadd_rn(__fmul_rn(ss, 1.f / static_cast<float>(p.head_dim)), p.eps));
}

// One rotated lane: v * c + partner * s_signed (s_signed = -sin on the pair's
// first lane), times attention_factor. Equal bit for bit to the CPU's
// (x c - y s) * af and (y c + x s) * af.
SGL_DEVICE float rotate_lane(float v, float partner, float c, float s_signed, float af) {
  return __fmul_rn(__fadd_rn(__fmul_rn(v, c), __fmul_rn(partner, s_signed)), af);
}

// Token and head range of item `item`.
SGL_DEVICE void item_range(const Layout& L, int64_t item, int64_t& tok, int64_t& h0, int64_t& h1) {
  tok = item / L.groups;
  h0 = (item - tok * L.groups) * L.per_group;
  h1 = h0 + L.per_group < L.heads ? h0 + L.per_group : L.heads;
}

// Element of the head held in register i of lane `l` of the LPH lanes that
// share a head (D = LPH * E): E consecutive elements (kSplit false), or E/2
// consecutive pairs' first elements then their neox partners in the head's
// second half (kSplit: full-rotary neox, partners in the same lane).
template <int E, bool kSplit, int LPH = 32>
SGL_DEVICE int lane_elem(int l, int i) {
  if constexpr (kSplit) return i < E / 2 ? l * (E / 2) + i : LPH * E / 2 + l * (E / 2) + (i - E / 2);
  return l * E + i;
}

// A lane's part of one head, `at` = the head's first element plus the
// lane's offset (lane * E/2 split, lane * E otherwise).
template <class T, int E, bool kSplit, int LPH>
SGL_DEVICE void load_head(const T* at, bool vec, float (&x)[E]) {
  if constexpr (kSplit) {
    float a[E / 2], b[E / 2];
    load_lane<T, E / 2>(at, true, a);
    load_lane<T, E / 2>(at + LPH * E / 2, true, b);
#pragma unroll
    for (int i = 0; i < E / 2; ++i) {
      x[i] = a[i];
      x[E / 2 + i] = b[i];
    }
  } else {
    load_lane<T, E>(at, vec, x);
  }
}

template <class T, int E, bool kSplit, int LPH>
SGL_DEVICE void store_head(T* at, bool vec, const float (&x)[E]) {
  if constexpr (kSplit) {
    float a[E / 2], b[E / 2];
#pragma unroll
    for (int i = 0; i < E / 2; ++i) {
      a[i] = x[i];
      b[i] = x[E / 2 + i];
    }
    store_lane<T, E / 2>(at, true, a);
    store_lane<T, E / 2>(at + LPH * E / 2, true, b);
  } else {
    store_lane<T, E>(at, vec, x);
  }
}

// kSplit: full-rotary neox in the split layout (lane_elem); the launcher
// takes it only where the half-runs are vector-aligned. LPH (lanes per head,
// split only; else 32): a warp holds 32 / LPH heads at a time.
template <class T, int E, bool kInterleave, bool kSplit, int LPH = 32>
__global__ void __launch_bounds__(kThreads) qk_norm_rope_reg_kernel(const QKNormRopeParams p, const Layout L) {
  static_assert(!(kSplit && kInterleave), "the split layout is for neox pairs");
  static_assert(kSplit || LPH == 32, "sub-warp heads need the split layout");
  constexpr int kSub = 32 / LPH;  // heads a warp holds at a time
  constexpr int D = LPH * E;
  const int lane = threadIdx.x & 31;
  const int l = lane % LPH, sub = lane / LPH;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const int R = static_cast<int>(p.rotary_dim), half = R / 2;
  // Per-lane constants; params only, so before the PDL wait.
  float freq[E];
  bool first[E];  // first lane of its pair (gets -sin)
  bool rot[E];    // inside rotary_dim (always, split)
#pragma unroll
  for (int i = 0; i < E; ++i) {
    const int e = lane_elem<E, kSplit, LPH>(l, i);
    const int j = kInterleave ? (e >> 1) : (e < half ? e : e - half);
    rot[i] = kSplit || e < R;
    freq[i] = rot[i] ? p.inv_freq[j] : 0.f;
    first[i] = kInterleave ? (e & 1) == 0 : e < half;
  }
  const int e0 = lane * E;
  const int off = half / E;  // lanes between neox partners (shuffle path)
  const int src = e0 < half ? lane + off : (e0 < R ? lane - off : lane);
  const float af = p.attention_factor;
  const float inv_d = 1.f / static_cast<float>(p.head_dim);
  const bool vec = kSplit || L.vec;

  pdl_wait();
  pdl_launch_dependents();
  float qw[E], kw[E];
#pragma unroll
  for (int i = 0; i < E; ++i) {
    qw[i] = load_weight<T>(p, p.q_weight, lane_elem<E, kSplit, LPH>(l, i));
    kw[i] = load_weight<T>(p, p.k_weight, lane_elem<E, kSplit, LPH>(l, i));
  }
  const int lane_off = sub * D + (kSplit ? l * (E / 2) : l * E);
  for (int64_t item = warp; item < L.items; item += nwarps) {
    int64_t tok, h0l, h1l;
    item_range(L, item, tok, h0l, h1l);
    const int h0 = static_cast<int>(h0l), h1 = static_cast<int>(h1l);
    // This lane's head is h + sub; lanes past h1 compute on stale registers
    // (for the shuffles) and neither load nor store.
    T* at = static_cast<T*>(p.qkv) + tok * p.row_stride + h0 * D + lane_off;
    float cur[E], nxt[E];
#pragma unroll
    for (int i = 0; i < E; ++i) cur[i] = nxt[i] = 0.f;
    if (h0 + sub < h1) load_head<T, E, kSplit, LPH>(at, vec, cur);
    const float pos = load_position(p, tok);
    float c[E], s[E];
#pragma unroll
    for (int i = 0; i < E; ++i) {
      c[i] = 1.f;
      s[i] = 0.f;
      if (kSplit && i >= E / 2) {  // same frequency as register i - E/2
        c[i] = c[i - E / 2];
        s[i] = -s[i - E / 2];
      } else if (rot[i]) {
        sincosf(__fmul_rn(pos, freq[i]), &s[i], &c[i]);
        if (first[i]) s[i] = -s[i];
      }
    }
    for (int h = h0; h < h1; h += kSub, at += kSub * D) {
      if (h + kSub + sub < h1) load_head<T, E, kSplit, LPH>(at + kSub * D, vec, nxt);
      float ss = 0.f;
#pragma unroll
      for (int i = 0; i < E; ++i) ss = __fmaf_rn(cur[i], cur[i], ss);
      const float rstd = rsqrtf(__fadd_rn(__fmul_rn(warp_sum(ss, LPH), inv_d), p.eps));
      const bool is_q = h + sub < p.num_heads_q;
      float y[E], out[E];
#pragma unroll
      for (int i = 0; i < E; ++i) y[i] = __fmul_rn(__fmul_rn(cur[i], rstd), is_q ? qw[i] : kw[i]);
#pragma unroll
      for (int i = 0; i < E; ++i) {
        float partner;
        if constexpr (kSplit) partner = y[(i + E / 2) % E];
        else if constexpr (kInterleave) partner = y[i ^ 1];
        else partner = __shfl_sync(0xffffffffu, y[i], src);
        // x * af with af == 1 is exact: no branch for the common case.
        const float r = __fmul_rn(__fadd_rn(__fmul_rn(y[i], c[i]), __fmul_rn(partner, s[i])), af);
        out[i] = kSplit || rot[i] ? r : y[i];
      }
      if (h + sub < h1) store_head<T, E, kSplit, LPH>(at, vec, out);
#pragma unroll
      for (int i = 0; i < E; ++i) cur[i] = nxt[i];
    }
  }
}

// Shared memory per warp: head_dim floats (the normalized head), then
// rotary_dim / 2 cos and rotary_dim / 2 sin.
inline size_t general_smem_per_warp(const QKNormRopeParams& p) {
  return static_cast<size_t>(p.head_dim + p.rotary_dim) * sizeof(float);
}

template <class T, bool kInterleave>
__global__ void __launch_bounds__(kThreads) qk_norm_rope_general_kernel(const QKNormRopeParams p, const Layout L) {
  extern __shared__ float smem[];
  const int lane = threadIdx.x & 31;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const int D = static_cast<int>(p.head_dim), R = static_cast<int>(p.rotary_dim), half = R / 2;
  float* ys = smem + (threadIdx.x >> 5) * (D + R);  // [D]
  float* cs = ys + D;                                // [half]
  float* sn = cs + half;                             // [half]
  const float af = p.attention_factor;

  pdl_wait();
  pdl_launch_dependents();
  for (int64_t item = warp; item < L.items; item += nwarps) {
    int64_t tok, h0, h1;
    item_range(L, item, tok, h0, h1);
    T* row = static_cast<T*>(p.qkv) + tok * p.row_stride;
    const float pos = load_position(p, tok);
    __syncwarp();  // the previous item's readers of cs/sn are done
    for (int j = lane; j < half; j += 32) sincosf(__fmul_rn(pos, p.inv_freq[j]), &sn[j], &cs[j]);
    for (int64_t h = h0; h < h1; ++h) {
      T* head = row + h * D;
      const void* w = h < p.num_heads_q ? p.q_weight : p.k_weight;
      float ss = 0.f;
      for (int e = lane; e < D; e += 32) {
        const float x = to_float(head[e]);
        ys[e] = x;
        ss = __fadd_rn(ss, __fmul_rn(x, x));
      }
      const float rstd = rstd_of(warp_sum(ss), p);
      for (int e = lane; e < D; e += 32) ys[e] = __fmul_rn(__fmul_rn(ys[e], rstd), load_weight<T>(p, w, e));
      __syncwarp();  // every element normalized (and cs/sn written) before partners are read
      for (int e = lane; e < D; e += 32) {
        float out = ys[e];
        if (e < R) {
          const bool first = kInterleave ? (e & 1) == 0 : e < half;
          const int j = kInterleave ? (e >> 1) : (first ? e : e - half);
          const int pe = kInterleave ? (e ^ 1) : (first ? e + half : e - half);
          out = rotate_lane(ys[e], ys[pe], cs[j], first ? -sn[j] : sn[j], af);
        }
        head[e] = from_float<T>(out);
      }
      __syncwarp();  // before the next head overwrites ys
    }
  }
}

template <class K>
cudaError_t launch_walk(K kernel, const QKNormRopeParams& p, Layout L, const QKNormRopeConfig& cfg, size_t smem_per_warp,
                        cudaStream_t stream) {
  const int64_t sms = num_sms();
  const int64_t heads = L.heads;
  // Group size: about 2 items per resident warp, within [1, heads] (qknr_sweep: larger groups win).
  const int64_t resident_warps =
      sms * resident_blocks_per_sm(kernel, kThreads, smem_per_warp * (kThreads / 32)) * (kThreads / 32);
  int64_t per = cfg.heads_per_warp > 0 ? cfg.heads_per_warp : p.num_tokens * heads / (2 * resident_warps);
  per = per < 1 ? 1 : (per > heads ? heads : per);
  L.groups = div_up(heads, per);
  L.per_group = div_up(heads, L.groups);
  L.items = p.num_tokens * L.groups;
  // Small work (decode): smaller blocks, so a few items still spread over many SMs.
  int64_t threads = kThreads;
  while (threads > 64 && div_up<int64_t>(L.items * 32, threads) < 2 * sms) threads /= 2;
  const int64_t warps_per_block = threads / 32;
  const size_t smem = smem_per_warp * static_cast<size_t>(warps_per_block);
  const int64_t resident = sms * resident_blocks_per_sm(kernel, static_cast<int>(threads), smem);
  const int64_t blocks = div_up<int64_t>(L.items, warps_per_block);
  const dim3 grid(static_cast<unsigned>(blocks < resident ? blocks : resident));
  return launch_kernel(kernel, grid, dim3(static_cast<unsigned>(threads)), smem, stream, p.pdl, p, L);
}

template <class T, bool kInterleave>
cudaError_t launch_interleave(const QKNormRopeParams& p, const QKNormRopeConfig& cfg, cudaStream_t stream) {
  Layout L{};
  L.heads = p.num_heads_q + p.num_heads_k;
  const int64_t D = p.head_dim, half = p.rotary_dim / 2;
  const int64_t E = D % 32 == 0 ? D / 32 : 0;
  const bool reg = !cfg.general && (E == 2 || E == 4 || E == 8) && (kInterleave || half % E == 0);
  const auto vec_for = [&](int chunk) {
    return is_aligned(p.qkv, chunk * static_cast<int64_t>(sizeof(T))) && p.row_stride % chunk == 0;
  };
  // Split layout: full-rotary neox (the common case), 8 registers a lane
  // (LPH = head_dim / 8 lanes a head: 16 at 128), the 4-element half-runs
  // vector-aligned.
  if (!kInterleave && !cfg.general && !cfg.no_split && p.rotary_dim == D && vec_for(kChunk<T, 4>)) {
    L.vec = true;
    switch (D) {
      case 64: return launch_walk(qk_norm_rope_reg_kernel<T, 8, false, true, 8>, p, L, cfg, 0, stream);
      case 128: return launch_walk(qk_norm_rope_reg_kernel<T, 8, false, true, 16>, p, L, cfg, 0, stream);
      case 256: return launch_walk(qk_norm_rope_reg_kernel<T, 8, false, true, 32>, p, L, cfg, 0, stream);
      default: break;
    }
  }
  if (reg) {
    switch (E) {
      case 2:
        L.vec = vec_for(kChunk<T, 2>);
        return launch_walk(qk_norm_rope_reg_kernel<T, 2, kInterleave, false>, p, L, cfg, 0, stream);
      case 4:
        L.vec = vec_for(kChunk<T, 4>);
        return launch_walk(qk_norm_rope_reg_kernel<T, 4, kInterleave, false>, p, L, cfg, 0, stream);
      default:
        L.vec = vec_for(kChunk<T, 8>);
        return launch_walk(qk_norm_rope_reg_kernel<T, 8, kInterleave, false>, p, L, cfg, 0, stream);
    }
  }
  return launch_walk(qk_norm_rope_general_kernel<T, kInterleave>, p, L, cfg, general_smem_per_warp(p), stream);
}

}  // namespace qk_norm_rope_detail

template <class T>
cudaError_t launch_qk_norm_rope(const QKNormRopeParams& p, const QKNormRopeConfig& cfg, cudaStream_t stream) {
  if (p.num_tokens < 0 || p.num_heads_q < 0 || p.num_heads_k < 0 || p.head_dim <= 0 || p.head_dim % 2 != 0 ||
      p.head_dim > qk_norm_rope_detail::kMaxHeadDim || p.rotary_dim <= 0 || p.rotary_dim % 2 != 0 ||
      p.rotary_dim > p.head_dim || p.rotary_dim / 2 > kQKNormRopeMaxPairs) {
    return cudaErrorInvalidValue;
  }
  if (p.num_tokens == 0 || p.num_heads_q + p.num_heads_k == 0) return cudaSuccess;
  return p.interleave ? qk_norm_rope_detail::launch_interleave<T, true>(p, cfg, stream)
                      : qk_norm_rope_detail::launch_interleave<T, false>(p, cfg, stream);
}

template <class T>
cudaError_t launch_qk_norm_rope(const QKNormRopeParams& p, cudaStream_t stream) {
  return launch_qk_norm_rope<T>(p, QKNormRopeConfig{}, stream);
}

}  // namespace sgl_kernel
