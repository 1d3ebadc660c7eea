// Rotary position embedding (RoPE) on q/k heads, with optional multimodal
// positions (mrope) and an optional store of the rotated k and of v into a
// paged KV cache in the same launch. Host-side declarations only, so
// framework adapters compiled by a plain C++ compiler can call the launcher;
// the kernels live in rope.cuh.
#pragma once

#include <cstdint>

#include "sgl_kernel/common/math.cuh"
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

// Where the cos/sin of frequency i in [0, rotary_dim / 2) of token t come
// from. The pair (x, y) of frequency i becomes
//   x' = x * cos_x - y * sin_x,   y' = y * cos_y + x * sin_y
// with cos_y = cos_x and sin_y = sin_x except in kTokenFull.
enum class RopeTable : int {
  // cos_x = cos_sin[pos][i], sin_x = cos_sin[pos][rotary_dim / 2 + i], pos
  // being component c(i) of the token's positions (c(i) = 0 for plain rope).
  kPosCache = 0,
  // Tables already gathered per token (vision towers): cos_x = cos[t][i * cs_step],
  // sin_x = sin[t][i * cs_step] (cs_step 2 reads every other entry of a
  // full-width table; sin may point one element in).
  kTokenPairs = 1,
  // HF full-width tables per token: cos_x = cos[t][i], sin_x = sin[t][i],
  // cos_y = cos[t][rotary_dim / 2 + i], sin_y = sin[t][rotary_dim / 2 + i].
  kTokenFull = 2,
};

// All strides are in elements; the last dim of every head is contiguous.
// k == nullptr with num_k_heads == 0: query only.
struct RopeParams {
  const void* q;        // [nnz, num_q_heads, head_size]
  const void* k;        // [nnz, num_k_heads, head_size]
  void* q_out;          // q's shape; may equal q
  void* k_out;          // k's shape; may equal k
  const void* cos_sin;  // kPosCache: [max_pos, rotary_dim], cos half then sin half; else cos [nnz, C]
  const void* pos;      // [nnz] or [3, nnz] (mrope), int32 or int64; unused by token tables
  // Fused KV store (k_buffer == nullptr: none).
  const void* v;              // [nnz, num_k_heads, head_size], k's dtype
  void* k_buffer;             // [cache_size, num_k_heads, head_size]
  void* v_buffer;             // [cache_size, num_k_heads, head_size], k_buffer's dtype
  const int64_t* cache_loc;   // [nnz]: row of the buffers that token t goes to
  int64_t nnz;
  int64_t num_q_heads, num_k_heads;
  int64_t head_size, rotary_dim;
  int64_t q_stride_tok, q_stride_head;
  int64_t k_stride_tok, k_stride_head;
  int64_t q_out_stride_tok, q_out_stride_head;
  int64_t k_out_stride_tok, k_out_stride_head;
  int64_t v_stride_tok, v_stride_head;
  int64_t kb_stride_row, kb_stride_head;
  int64_t vb_stride_row, vb_stride_head;
  int64_t cs_stride;                       // row stride of cos_sin
  int64_t pos_stride_comp, pos_stride_tok;  // pos_stride_comp unused unless mrope
  int64_t mrope_section[3];
  float k_scale, v_scale;  // buffers hold value / scale (1 when not given)
  bool pos_int64;
  bool interleave;         // GPT-J pairs (2i, 2i+1); else neox (i, i + rotary_dim/2)
  bool mrope;
  bool mrope_interleaved;  // Qwen3-VL frequency-to-component map; else chunked
  bool pdl;
  // Token tables only (kept last so the position-cache kernels see the
  // fields above at their old offsets).
  RopeTable table;          // kPosCache unless set
  const void* sin;          // sin [nnz, C], cos_sin's dtype
  int64_t sin_stride;       // row stride of sin
  int64_t cs_step;          // entry step: 1, or 2 (every other entry of a full-width table)
};

// Component (0 temporal, 1 height, 2 width) whose position frequency i
// uses; shared by the CPU backend and the kernels so both map alike.
SGL_HOST_DEVICE int mrope_component(const RopeParams& p, int64_t i) {
  if (!p.mrope) return 0;
  if (p.mrope_interleaved) {
    if (i % 3 == 1 && i < 3 * p.mrope_section[1]) return 1;
    if (i % 3 == 2 && i < 3 * p.mrope_section[2]) return 2;
    return 0;
  }
  if (i < p.mrope_section[0]) return 0;
  if (i < p.mrope_section[0] + p.mrope_section[1]) return 1;
  return 2;
}

// T (q, k, v) is float, half or __nv_bfloat16; CS (cos_sin) is float or T;
// B (k_buffer, v_buffer) is T or __nv_fp8_e4m3 (ignored without a fused
// store). Returns the launch error, if any.
// Kernel choice, for tuning and for checking a candidate against the default.
struct RopeConfig {
  int threads = 0;  // threads per block: 64, 128, 256 or 512; 0 = the default (256)
};

#if __has_include(<cuda_runtime_api.h>)
template <class T, class CS, class B>
cudaError_t launch_rope(const RopeParams& p, cudaStream_t stream);
template <class T, class CS, class B>
cudaError_t launch_rope(const RopeParams& p, const RopeConfig& cfg, cudaStream_t stream);
// Token tables (p.table kTokenPairs with p.interleave, or kTokenFull without):
// the same kernel, cos/sin read per token instead of per position; no fused
// store. T as above; CS is float or T.
template <class T, class CS>
cudaError_t launch_rope_token_table(const RopeParams& p, cudaStream_t stream);
#endif

}  // namespace sgl_kernel
