// RoPE kernel. One template serves plain rope, mrope (the position of each
// frequency picked by mrope_component), neox and interleaved pairing, the
// fused KV-cache store, and cos/sin tables gathered per token (RopeTable,
// a template parameter: the position-cache path compiles as before).
//
// Work is cut into "units": W lanes of one head. A rotary unit holds W pairs
// (neox: lanes i and i + rotary_dim/2) or W/2 pairs (interleaved: lanes 2i,
// 2i+1), a pass unit W lanes past rotary_dim, a v unit W lanes of v bound for
// v_buffer. W is one 16-byte vector where alignment allows, else one element.
// A token's units are laid out as all q heads' units, then all k heads', then
// (fused) all v heads'; the (token, unit) pairs of all tokens form one flat
// index space [0, nnz * units_per_token) that a persistent grid (the resident
// blocks, or fewer when the work is smaller) walks with a grid-stride loop.
//
// Each thread takes one unit of the flat space per step (neighbouring threads
// take neighbouring units, so accesses coalesce), issues all its loads
// (position, q/k/v vectors, then the cos/sin values the position selects)
// before computing, and reads cos/sin straight from global memory: a token's
// row is reused by all its heads and neighbouring units of a block belong to
// the same token, so those reads hit L1/L2. Positions, cache locations and
// cos/sin go through the read-only path (ld.global.nc); q/k/v do not, since
// q_out may alias q. q/k/v, and the KV-cache rows of the fused store, are
// read and written with evict-first hints (ld/st.global.cs): they stream
// through once, and so do not push the cos/sin rows, which every head of a
// token reads again, out of L2. Registers are capped at 64 per thread
// (__launch_bounds__ minimum of two 512-thread blocks), so 1024 threads stay
// resident per SM. No shared memory, no block barrier.
//
// History (H100, 64 + 4 heads of 128, bf16, fp32 cos/sin, 16384 tokens, in
// place, benchmarks/cpp/rope_sweep.cu, each step measured side by side): a
// block per token staging its cos/sin row in shared memory behind two
// barriers and a dependent position load, 0.57 x copy bandwidth; this flat
// walk with 2 units per thread 0.73, with 1 unit 0.90 (session 5). Session 6,
// one run: 1 unit 0.80 (72 registers, 768 threads per SM), evict-first 0.92,
// registers capped at 64 (no spills) 0.90, both 0.976 (fused store 0.964),
// now the default; a cap of 40 registers spilled (0.39); loading the next
// step's position ahead on top of both, 0.95; 2 units per thread (spilling
// under the cap) and 512-thread blocks (0.63) were dropped.
//
// The fp32 products and sums use the _rn intrinsics so no multiply-add is
// contracted: the results match the CPU backend bit for bit.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/rope/rope.h"

namespace sgl_kernel {
namespace rope_detail {

// Block size (RopeConfig::threads): 256 measured best (header comment).
constexpr int kDefaultThreads = 256;
constexpr int kMaxThreads = 512;

enum UnitKind : int { kNone = 0, kRotary = 1, kPass = 2 };

// Compile-time kernel variants timed against each other by
// benchmarks/cpp/rope_sweep.cu (the library launches DefaultTune):
//   kStream     q/k/v read and written with evict-first hints (ld/st .cs);
//   kMinBlocks  __launch_bounds__ minimum of resident 512-thread blocks per
//               SM (caps registers: 1 -> none below 128, 2 -> 64, 3 -> 40).
template <bool Stream, int MinBlocks>
struct Tune {
  static constexpr bool kStream = Stream;
  static constexpr int kMinBlocks = MinBlocks;
};
using DefaultTune = Tune<true, 2>;

// Per-launch constants derived on the host.
struct RopeLayout {
  int64_t total;       // nnz * per_tok
  uint32_t per_tok;    // units of one token
  uint32_t uq, uk, uv; // units of one q / k / v head
  uint32_t nq, nqk;    // q units, q + k units of one token
  uint32_t n_rot;      // rotary units of one head
  bool cs_vec;         // cos/sin may be read as vectors (see kCsChunk)
};

// Elements of one cos/sin vector read: at most 16 bytes and at most a unit's
// frequencies.
template <class CS, int PV>
constexpr int kCsChunk = PV < kVec16<CS> ? PV : kVec16<CS>;

// Where one unit reads and writes, each pointer at the unit's first lane.
// dst == nullptr: no write-back (pass-through lanes in place, v units);
// buf == nullptr: no cache store.
template <class T, class B>
struct Unit {
  const T* src;
  T* dst;
  B* buf;
  int64_t tok;
  uint32_t freq;  // first frequency (rotary units)
  int kind;
  float scale;
};

template <class T, int W>
struct Frag {
  Vec<T, W> lo, hi;
};

// cy/sy: the y lane's own cos/sin (RopeTable::kTokenFull only).
template <class CS, int PV, bool kFull>
struct CosSin {
  CS c[PV], s[PV];
  CS cy[kFull ? PV : 1], sy[kFull ? PV : 1];
};

template <RopeTable kTable>
constexpr bool kFullTable = kTable == RopeTable::kTokenFull;

// Read-only (non-coherent) load of a 2/4/8/16-byte value.
template <class V>
SGL_DEVICE V ldg(const V* p) {
  static_assert(sizeof(V) == 2 || sizeof(V) == 4 || sizeof(V) == 8 || sizeof(V) == 16, "ldg size");
  if constexpr (sizeof(V) == 16) {
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
    return *reinterpret_cast<const V*>(&u);
  } else if constexpr (sizeof(V) == 8) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(p));
    return *reinterpret_cast<const V*>(&u);
  } else if constexpr (sizeof(V) == 4) {
    const unsigned u = __ldg(reinterpret_cast<const unsigned*>(p));
    return *reinterpret_cast<const V*>(&u);
  } else {
    const unsigned short u = __ldg(reinterpret_cast<const unsigned short*>(p));
    return *reinterpret_cast<const V*>(&u);
  }
}

SGL_DEVICE int64_t load_index(const void* p, bool is64, int64_t i) {
  return is64 ? static_cast<int64_t>(__ldg(static_cast<const long long*>(p) + i))
              : static_cast<int64_t>(__ldg(static_cast<const int*>(p) + i));
}

SGL_DEVICE int64_t load_pos(const RopeParams& p, int comp, int64_t tok) {
  return load_index(p.pos, p.pos_int64, comp * p.pos_stride_comp + tok * p.pos_stride_tok);
}

// KV-cache rows are written once here and read by a later kernel: with
// kStream they take the evict-first hint like q/k/v.
template <class B, bool kStream, class T, int W>
SGL_DEVICE void store_buffer(B* dst, const Vec<T, W>& x, float scale) {
  if constexpr (std::is_same_v<B, T>) {
    if (scale == 1.f) {
      x.template store_as<kStream>(dst);
      return;
    }
  }
  Vec<B, W> b;
#pragma unroll
  for (int j = 0; j < W; ++j) b[j] = from_float<B>(__fdiv_rn(to_float(x[j]), scale));
  b.template store_as<kStream>(dst);
}

// Decodes flat item g into a unit (kind kNone past the end).
template <class T, class B, int W, bool kInterleave, bool kFused>
SGL_DEVICE void decode(const RopeParams& p, const RopeLayout& L, int64_t g, Unit<T, B>& u) {
  constexpr uint32_t PV = (kInterleave && W > 1) ? W / 2 : W;
  if (g >= L.total) {
    u.kind = kNone;
    return;
  }
  // 32-bit division (several times cheaper than 64-bit) while g fits.
  int64_t tok;
  uint32_t w;
  if (g < (int64_t{1} << 32)) {
    const uint32_t t = static_cast<uint32_t>(g) / L.per_tok;
    tok = t;
    w = static_cast<uint32_t>(g) - t * L.per_tok;
  } else {
    tok = g / static_cast<int64_t>(L.per_tok);
    w = static_cast<uint32_t>(g - tok * static_cast<int64_t>(L.per_tok));
  }
  u.tok = tok;
  u.buf = nullptr;
  u.scale = 1.f;
  u.freq = 0;
  uint32_t head, idx;
  const T* src;
  T* dst;
  if (w < L.nq) {
    head = w / L.uq;
    idx = w - head * L.uq;
    src = static_cast<const T*>(p.q) + tok * p.q_stride_tok + head * p.q_stride_head;
    dst = static_cast<T*>(p.q_out) + tok * p.q_out_stride_tok + head * p.q_out_stride_head;
  } else if (w < L.nqk) {
    w -= L.nq;
    head = w / L.uk;
    idx = w - head * L.uk;
    src = static_cast<const T*>(p.k) + tok * p.k_stride_tok + head * p.k_stride_head;
    dst = static_cast<T*>(p.k_out) + tok * p.k_out_stride_tok + head * p.k_out_stride_head;
    if constexpr (kFused) {
      const int64_t loc = static_cast<int64_t>(__ldg(reinterpret_cast<const long long*>(p.cache_loc) + tok));
      u.buf = static_cast<B*>(p.k_buffer) + loc * p.kb_stride_row + head * p.kb_stride_head;
      u.scale = p.k_scale;
    }
  } else {
    w -= L.nqk;
    head = w / L.uv;
    idx = w - head * L.uv;
    const int64_t lane = static_cast<int64_t>(idx) * W;
    const int64_t loc = static_cast<int64_t>(__ldg(reinterpret_cast<const long long*>(p.cache_loc) + tok));
    u.src = static_cast<const T*>(p.v) + tok * p.v_stride_tok + head * p.v_stride_head + lane;
    u.dst = nullptr;
    u.buf = static_cast<B*>(p.v_buffer) + loc * p.vb_stride_row + head * p.vb_stride_head + lane;
    u.scale = p.v_scale;
    u.kind = kPass;
    return;
  }
  int64_t lane;
  if (idx < L.n_rot) {
    u.kind = kRotary;
    u.freq = idx * PV;
    lane = kInterleave ? 2 * static_cast<int64_t>(u.freq) : static_cast<int64_t>(u.freq);
  } else {
    u.kind = kPass;
    // In place, pass-through lanes need no write-back (only the cache store).
    if (dst == src) dst = nullptr;
    lane = p.rotary_dim + static_cast<int64_t>(idx - L.n_rot) * W;
  }
  u.src = src + lane;
  u.dst = dst ? dst + lane : nullptr;
  if (u.buf) u.buf += lane;
}

// Offset of a rotary unit's second vector from its first.
template <bool kInterleave>
SGL_DEVICE int64_t hi_offset(const RopeParams& p) {
  return kInterleave ? 1 : p.rotary_dim / 2;
}

template <class T, class B, int W, bool kInterleave, bool kStream>
SGL_DEVICE void load_unit(const RopeParams& p, const Unit<T, B>& u, Frag<T, W>& f) {
  if (u.kind == kNone) return;
  const bool two = u.kind == kRotary && (!kInterleave || W == 1);
  f.lo.template load_as<kStream>(u.src);
  if (two) f.hi.template load_as<kStream>(u.src + hi_offset<kInterleave>(p));
}

template <class CS, int N>
SGL_DEVICE void load_cs_run(CS* out, const CS* src, bool vec) {
  constexpr int C = kCsChunk<CS, N>;
  if (vec) {
#pragma unroll
    for (int j = 0; j < N; j += C) {
      const Vec<CS, C> v = ldg(reinterpret_cast<const Vec<CS, C>*>(src + j));
#pragma unroll
      for (int e = 0; e < C; ++e) out[j + e] = v[e];
    }
  } else {
#pragma unroll
    for (int j = 0; j < N; ++j) out[j] = ldg(src + j);
  }
}

// cos/sin of a rotary unit's PV frequencies. pos0: the token's position
// (component 0), already loaded (unused by token tables).
template <class CS, int PV, RopeTable kTable>
SGL_DEVICE void load_cos_sin(const RopeParams& p, const RopeLayout& L, int64_t tok, uint32_t freq, int64_t pos0,
                             CosSin<CS, PV, kFullTable<kTable>>& cs) {
  if constexpr (kTable != RopeTable::kPosCache) {
    const int64_t half = p.rotary_dim / 2;
    const CS* crow = static_cast<const CS*>(p.cos_sin) + tok * p.cs_stride;
    const CS* srow = static_cast<const CS*>(p.sin) + tok * p.sin_stride;
    if constexpr (kTable == RopeTable::kTokenFull) {
      load_cs_run<CS, PV>(cs.c, crow + freq, L.cs_vec);
      load_cs_run<CS, PV>(cs.s, srow + freq, L.cs_vec);
      load_cs_run<CS, PV>(cs.cy, crow + half + freq, L.cs_vec);
      load_cs_run<CS, PV>(cs.sy, srow + half + freq, L.cs_vec);
    } else if (p.cs_step == 1) {
      load_cs_run<CS, PV>(cs.c, crow + freq, L.cs_vec);
      load_cs_run<CS, PV>(cs.s, srow + freq, L.cs_vec);
    } else {
#pragma unroll
      for (int j = 0; j < PV; ++j) {
        cs.c[j] = ldg(crow + (static_cast<int64_t>(freq) + j) * p.cs_step);
        cs.s[j] = ldg(srow + (static_cast<int64_t>(freq) + j) * p.cs_step);
      }
    }
    return;
  }
  const CS* cache = static_cast<const CS*>(p.cos_sin);
  const int64_t half = p.rotary_dim / 2;
  if (!p.mrope) {
    const CS* row = cache + pos0 * p.cs_stride + freq;
    load_cs_run<CS, PV>(cs.c, row, L.cs_vec);
    load_cs_run<CS, PV>(cs.s, row + half, L.cs_vec);
    return;
  }
  const int64_t pos1 = load_pos(p, 1, tok), pos2 = load_pos(p, 2, tok);
#pragma unroll
  for (int j = 0; j < PV; ++j) {
    const int comp = mrope_component(p, static_cast<int64_t>(freq) + j);
    const int64_t pos = comp == 0 ? pos0 : (comp == 1 ? pos1 : pos2);
    const CS* row = cache + pos * p.cs_stride + freq + j;
    cs.c[j] = ldg(row);
    cs.s[j] = ldg(row + half);
  }
}

// cy, sy: the y lane's cos/sin (equal to cx, sx except for full-width tables).
SGL_DEVICE void rotate(float x, float y, float cx, float sx, float cy, float sy, float& xo, float& yo) {
  xo = __fsub_rn(__fmul_rn(x, cx), __fmul_rn(y, sx));
  yo = __fadd_rn(__fmul_rn(y, cy), __fmul_rn(x, sy));
}

template <class T, class CS, class B, int W, bool kInterleave, bool kStream, bool kFull>
SGL_DEVICE void finish_unit(const RopeParams& p, const Unit<T, B>& u, Frag<T, W>& f,
                            const CosSin<CS, (kInterleave && W > 1) ? W / 2 : W, kFull>& cs) {
  if (u.kind == kNone) return;
  const bool two = u.kind == kRotary && (!kInterleave || W == 1);
  if (u.kind == kRotary) {
    if constexpr (kInterleave && W > 1) {
#pragma unroll
      for (int j = 0; j < W / 2; ++j) {
        float xo, yo;
        const float c = to_float(cs.c[j]), s = to_float(cs.s[j]);
        rotate(to_float(f.lo[2 * j]), to_float(f.lo[2 * j + 1]), c, s, c, s, xo, yo);
        f.lo[2 * j] = from_float<T>(xo);
        f.lo[2 * j + 1] = from_float<T>(yo);
      }
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) {
        float xo, yo;
        if constexpr (kFull) {
          rotate(to_float(f.lo[j]), to_float(f.hi[j]), to_float(cs.c[j]), to_float(cs.s[j]), to_float(cs.cy[j]),
                 to_float(cs.sy[j]), xo, yo);
        } else {
          const float c = to_float(cs.c[j]), s = to_float(cs.s[j]);
          rotate(to_float(f.lo[j]), to_float(f.hi[j]), c, s, c, s, xo, yo);
        }
        f.lo[j] = from_float<T>(xo);
        f.hi[j] = from_float<T>(yo);
      }
    }
  }
  const int64_t hoff = hi_offset<kInterleave>(p);
  if (u.dst) {
    f.lo.template store_as<kStream>(u.dst);
    if (two) f.hi.template store_as<kStream>(u.dst + hoff);
  }
  if (u.buf) {
    store_buffer<B, kStream>(u.buf, f.lo, u.scale);
    if (two) store_buffer<B, kStream>(u.buf + hoff, f.hi, u.scale);
  }
}

// 1-D persistent grid walking the flat (token, unit) space; no shared memory.
template <class T, class CS, class B, int W, bool kInterleave, bool kFused, class Tn, RopeTable kTable>
__global__ void __launch_bounds__(kMaxThreads, Tn::kMinBlocks) rope_kernel(const RopeParams p, const RopeLayout L) {
  constexpr int PV = (kInterleave && W > 1) ? W / 2 : W;
  constexpr bool kFull = kFullTable<kTable>;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < L.total; g += stride) {
    Unit<T, B> u;
    Frag<T, W> f;
    CosSin<CS, PV, kFull> cs;
    decode<T, B, W, kInterleave, kFused>(p, L, g, u);
    // Every load is issued before any compute or store: the position first
    // (the head of the dependent chain), then q/k/v, then cos/sin.
    const int64_t pos = kTable == RopeTable::kPosCache && u.kind == kRotary ? load_pos(p, 0, u.tok) : 0;
    load_unit<T, B, W, kInterleave, Tn::kStream>(p, u, f);
    if (u.kind == kRotary) load_cos_sin<CS, PV, kTable>(p, L, u.tok, u.freq, pos, cs);
    finish_unit<T, CS, B, W, kInterleave, Tn::kStream, kFull>(p, u, f, cs);
  }
}

template <class T, class CS, class B, int W, bool kInterleave, bool kFused, class Tn, RopeTable kTable>
cudaError_t launch_kernel_for(const RopeParams& p, const RopeLayout& L, int max_threads, cudaStream_t stream) {
  const int64_t sms = num_sms();
  // Small work (decode): smaller blocks, so a few tokens still spread over
  // many SMs.
  int64_t threads = max_threads;
  while (threads > 64 && div_up<int64_t>(L.total, threads) < 2 * sms) threads /= 2;
  auto kernel = rope_kernel<T, CS, B, W, kInterleave, kFused, Tn, kTable>;
  const int64_t resident = sms * resident_blocks_per_sm(kernel, static_cast<int>(threads));
  const int64_t blocks = div_up<int64_t>(L.total, threads);
  const dim3 grid(static_cast<unsigned>(blocks < resident ? blocks : resident));
  return launch_kernel(kernel, grid, dim3(static_cast<unsigned>(threads)), 0, stream, p.pdl, p, L);
}

template <class T, class CS, class B, int W, bool kInterleave, bool kFused, class Tn, RopeTable kTable>
cudaError_t launch_cfg(const RopeParams& p, int threads, cudaStream_t stream) {
  constexpr int PV = (kInterleave && W > 1) ? W / 2 : W;
  const int64_t n_rot = p.rotary_dim / 2 / PV;
  const int64_t n_pass = (p.head_size - p.rotary_dim) / W;
  const int64_t uq = n_rot + (p.q_out != p.q ? n_pass : 0);
  const int64_t uk = n_rot + ((p.k_out != p.k || kFused) ? n_pass : 0);
  const int64_t uv = kFused ? p.head_size / W : 0;
  const int64_t nq = p.num_q_heads * uq;
  const int64_t nqk = nq + p.num_k_heads * uk;
  const int64_t per_tok = nqk + p.num_k_heads * uv;
  if (per_tok == 0) return cudaSuccess;
  if (per_tok >= (int64_t{1} << 31)) return cudaErrorInvalidValue;
  RopeLayout L;
  L.total = p.nnz * per_tok;
  L.per_tok = static_cast<uint32_t>(per_tok);
  L.uq = static_cast<uint32_t>(uq);
  L.uk = static_cast<uint32_t>(uk);
  L.uv = static_cast<uint32_t>(uv);
  L.nq = static_cast<uint32_t>(nq);
  L.nqk = static_cast<uint32_t>(nqk);
  L.n_rot = static_cast<uint32_t>(n_rot);
  constexpr int C = kCsChunk<CS, PV>;
  const int64_t cs_bytes = C * static_cast<int64_t>(sizeof(CS));
  L.cs_vec = C > 1 && is_aligned(p.cos_sin, cs_bytes) && p.cs_stride % C == 0 && (p.rotary_dim / 2) % C == 0;
  if constexpr (kTable != RopeTable::kPosCache) {
    L.cs_vec = L.cs_vec && p.cs_step == 1 && is_aligned(p.sin, cs_bytes) && p.sin_stride % C == 0;
  }
  return launch_kernel_for<T, CS, B, W, kInterleave, kFused, Tn, kTable>(p, L, threads, stream);
}

template <class T, class CS, class B, int W, class Tn, RopeTable kTable>
cudaError_t launch_w(const RopeParams& p, int threads, cudaStream_t stream) {
  const bool fused = p.k_buffer != nullptr;
  if constexpr (kTable != RopeTable::kPosCache) {
    // Token tables: pairs (2i, 2i+1) or full-width neox tables, no store.
    constexpr bool kInterleave = kTable == RopeTable::kTokenPairs;
    if (fused || p.interleave != kInterleave || !std::is_same_v<B, T>) return cudaErrorInvalidValue;
    return launch_cfg<T, CS, B, W, kInterleave, false, Tn, kTable>(p, threads, stream);
  } else {
    if constexpr (std::is_same_v<B, T>) {
      if (!fused) {
        return p.interleave ? launch_cfg<T, CS, B, W, true, false, Tn, kTable>(p, threads, stream)
                            : launch_cfg<T, CS, B, W, false, false, Tn, kTable>(p, threads, stream);
      }
    }
    if (!fused) return cudaErrorInvalidValue;  // a non-T buffer type makes sense only with a store
    return p.interleave ? launch_cfg<T, CS, B, W, true, true, Tn, kTable>(p, threads, stream)
                        : launch_cfg<T, CS, B, W, false, true, Tn, kTable>(p, threads, stream);
  }
}

// launch_rope with a kernel variant (Tune): the library launches DefaultTune;
// rope_sweep times the others. kTable must match p.table.
template <class T, class CS, class B, class Tn, RopeTable kTable = RopeTable::kPosCache>
cudaError_t launch_tuned(const RopeParams& p, const RopeConfig& cfg, cudaStream_t stream) {
  if (p.table != kTable) return cudaErrorInvalidValue;
  if (p.nnz == 0 || (p.num_q_heads == 0 && p.num_k_heads == 0)) return cudaSuccess;
  if (p.nnz < 0 || p.num_q_heads < 0 || p.num_k_heads < 0 || p.head_size <= 0 || p.rotary_dim <= 0 ||
      p.rotary_dim % 2 != 0 || p.rotary_dim > p.head_size) {
    return cudaErrorInvalidValue;
  }
  if (!std::is_same_v<B, T> && p.k_buffer == nullptr) return launch_tuned<T, CS, T, Tn, kTable>(p, cfg, stream);
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
  const int threads = cfg.threads == 0 ? kDefaultThreads : cfg.threads;
  if (threads < 64 || threads > kMaxThreads || (threads & (threads - 1)) != 0) return cudaErrorInvalidValue;
  if (vec_ok) return launch_w<T, CS, B, V, Tn, kTable>(p, threads, stream);
  return launch_w<T, CS, B, 1, Tn, kTable>(p, threads, stream);
}

}  // namespace rope_detail

template <class T, class CS, class B>
cudaError_t launch_rope(const RopeParams& p, cudaStream_t stream) {
  return launch_rope<T, CS, B>(p, RopeConfig{}, stream);
}

template <class T, class CS, class B>
cudaError_t launch_rope(const RopeParams& p, const RopeConfig& cfg, cudaStream_t stream) {
  return rope_detail::launch_tuned<T, CS, B, rope_detail::DefaultTune>(p, cfg, stream);
}

template <class T, class CS>
cudaError_t launch_rope_token_table(const RopeParams& p, cudaStream_t stream) {
  using rope_detail::DefaultTune;
  switch (p.table) {
    case RopeTable::kTokenPairs:
      return rope_detail::launch_tuned<T, CS, T, DefaultTune, RopeTable::kTokenPairs>(p, RopeConfig{}, stream);
    case RopeTable::kTokenFull:
      return rope_detail::launch_tuned<T, CS, T, DefaultTune, RopeTable::kTokenFull>(p, RopeConfig{}, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace sgl_kernel
