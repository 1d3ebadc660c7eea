// RMSNorm kernels. One kernel template serves plain, gemma, fused-add and
// per-head norms: a block holds blockDim.y rows of blockDim.x threads each;
// each thread keeps its share of the row in registers (ITEMS 16-byte vectors)
// between the sum of squares and the scaling, so every input byte is read
// once. Rows too long for the register budget (more than kMaxItems vectors
// per thread at 512 threads) take the streaming kernel, which reads twice.
#pragma once

#include <cstdint>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/convert.cuh"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/reduce.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/elementwise/norm.h"

namespace sgl_kernel {
namespace norm_detail {

constexpr int kMaxThreads = 512;  // per block; also the launch bound
// 16-byte vectors per thread on the register path: enough loads in flight
// per thread, within ~64 registers (so 1024+ threads per SM stay resident).
constexpr int kMaxItems = 4;
constexpr int kMaxItemsAdd = 2;

// Raw (unconverted) vectors of one row held by one thread: the input, and for
// fused add the residual. Kept packed (half the registers of fp32 copies);
// the fp32 values are recomputed from them, exactly, where needed.
template <class T, int VEC, int ITEMS, bool kAdd>
struct RowFrag {
  Vec<T, VEC> in[ITEMS];
  Vec<T, VEC> res[kAdd ? ITEMS : 1];
};

template <class T, int VEC, bool kAdd>
SGL_DEVICE float fp32_value(const Vec<T, VEC>& a, const Vec<T, VEC>& r, int k) {
  float v = to_float(a[k]);
  if constexpr (kAdd) v += to_float(r[k]);
  return v;
}

// Row r = outer * inner + i lives at base + outer * so + i * si.
SGL_DEVICE int64_t row_offset(int64_t row, int64_t inner, int64_t so, int64_t si) {
  const int64_t o = row / inner;
  return o * so + (row - o * inner) * si;
}

template <bool kStream, class T, int VEC, int ITEMS, bool kAdd>
SGL_DEVICE void load_frag(const RMSNormParams& p, int64_t row, int64_t nvec, RowFrag<T, VEC, ITEMS, kAdd>& f) {
  const T* in = static_cast<const T*>(p.in) + row_offset(row, p.inner, p.in_stride_outer, p.in_stride_inner);
  const T* res = nullptr;
  if constexpr (kAdd) res = static_cast<const T*>(p.residual) + row_offset(row, p.inner, p.res_stride_outer, p.res_stride_inner);
#pragma unroll
  for (int it = 0; it < ITEMS; ++it) {
    const int64_t j = threadIdx.x + static_cast<int64_t>(it) * blockDim.x;
    if (j < nvec) {
      f.in[it].template load_as<kStream>(in + j * VEC);
      if constexpr (kAdd) f.res[it].template load_as<kStream>(res + j * VEC);
    }
  }
}

// Register path: a block owns blockDim.y rows at a time and walks the rows
// with a grid stride (the grid is sized to the resident blocks). A thread
// issues all ITEMS (x2 for fused add) 16-byte loads of its share of the row
// before the first use: the bytes in flight per SM, not the thread count,
// set the bandwidth of this kernel. Schedules:
//  kLateWeight:  weights are read in the output phase (they stay in L1/L2),
//                costing no registers across the reduction;
//  kEarlyWeight: weights load with the row, off the critical path of a
//                latency-bound launch (decode sizes, one row group per block);
//  kPrefetch:    late weights, and the thread's share of its next row loads
//                before the reduction of the current one, so DRAM reads stay
//                in flight across the reduction's barriers;
//  kStreaming:   late weights, rows read and written with evict-first hints.
enum class NormSchedule : int { kLateWeight = 0, kEarlyWeight = 1, kPrefetch = 2, kStreaming = 3 };

template <class T, int VEC, int ITEMS, bool kAdd, NormSchedule S>
__global__ void __launch_bounds__(kMaxThreads) rmsnorm_kernel(const RMSNormParams p) {
  constexpr bool kEarly = S == NormSchedule::kEarlyWeight;
  constexpr bool kPrefetch = S == NormSchedule::kPrefetch;
  constexpr bool kStream = S == NormSchedule::kStreaming;
  __shared__ float scratch[32];
  using V = Vec<T, VEC>;
  const int64_t rows = p.outer * p.inner;
  const int64_t nvec = p.hidden / VEC;
  const float inv_hidden = 1.f / static_cast<float>(p.hidden);
  const float w_offset = p.gemma ? 1.f : 0.f;
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.y;
  pdl_wait();
  pdl_launch_dependents();

  RowFrag<T, VEC, ITEMS, kAdd> cur;
  int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if constexpr (kPrefetch) {
    if (row < rows) load_frag<kStream>(p, row, nvec, cur);
  }
  // The loop bound is uniform across the block so every thread reaches the
  // barriers in row_group_sum; rows past the end compute on nothing.
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.y; base < rows; base += step, row += step) {
    V w_early[kEarly ? ITEMS : 1];
    if constexpr (!kPrefetch) {
      if (row < rows) load_frag<kStream>(p, row, nvec, cur);
    }
    if constexpr (kEarly) {
#pragma unroll
      for (int it = 0; it < ITEMS; ++it) {
        const int64_t j = threadIdx.x + static_cast<int64_t>(it) * blockDim.x;
        if (row < rows && j < nvec) w_early[it].load(weight + j * VEC);
      }
    }
    float ss = 0.f;
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
      const int64_t j = threadIdx.x + static_cast<int64_t>(it) * blockDim.x;
      if (row < rows && j < nvec) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const float v = fp32_value<T, VEC, kAdd>(cur.in[it], cur.res[kAdd ? it : 0], k);
          ss += v * v;
        }
      }
    }
    RowFrag<T, VEC, ITEMS, kAdd> nxt;
    if constexpr (kPrefetch) {
      if (row + step < rows) load_frag<kStream>(p, row + step, nvec, nxt);
    }
    ss = row_group_sum(ss, scratch);
    const float rstd = rsqrtf(ss * inv_hidden + p.eps);
    if (row < rows) {
      T* out = static_cast<T*>(p.out) + row_offset(row, p.inner, p.out_stride_outer, p.out_stride_inner);
      T* res = nullptr;
      if constexpr (kAdd) res = static_cast<T*>(p.residual) + row_offset(row, p.inner, p.res_stride_outer, p.res_stride_inner);
#pragma unroll
      for (int it = 0; it < ITEMS; ++it) {
        const int64_t j = threadIdx.x + static_cast<int64_t>(it) * blockDim.x;
        if (j < nvec) {
          V w, y, s;
          if constexpr (kEarly) {
            w = w_early[it];
          } else {
            w.load(weight + j * VEC);
          }
#pragma unroll
          for (int k = 0; k < VEC; ++k) {
            const float v = fp32_value<T, VEC, kAdd>(cur.in[it], cur.res[kAdd ? it : 0], k);
            if constexpr (kAdd) s[k] = from_float<T>(v);
            y[k] = from_float<T>(v * rstd * (to_float(w[k]) + w_offset));
          }
          if constexpr (kAdd) s.template store_as<kStream>(res + j * VEC);
          y.template store_as<kStream>(out + j * VEC);
        }
      }
    }
    if constexpr (kPrefetch) cur = nxt;
  }
}

// Streaming path for rows too long for registers: pass 1 sums squares, pass 2
// recomputes the fp32 value from the untouched inputs (so the fused-add result
// still comes from the unrounded sum); the second read mostly hits L2. Each
// thread revisits only its own elements, so out may alias in.
template <class T, int VEC, bool kAdd>
__global__ void __launch_bounds__(kMaxThreads) rmsnorm_streaming_kernel(const RMSNormParams p) {
  __shared__ float scratch[32];
  using V = Vec<T, VEC>;
  const int64_t rows = p.outer * p.inner;
  const int64_t nvec = p.hidden / VEC;
  const float inv_hidden = 1.f / static_cast<float>(p.hidden);
  const float w_offset = p.gemma ? 1.f : 0.f;
  const T* weight = static_cast<const T*>(p.weight);
  pdl_wait();
  pdl_launch_dependents();
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.y; base < rows;
       base += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t row = base + threadIdx.y;
    const bool valid = row < rows;
    const T* in = static_cast<const T*>(p.in) + (valid ? row_offset(row, p.inner, p.in_stride_outer, p.in_stride_inner) : 0);
    T* out = static_cast<T*>(p.out) + (valid ? row_offset(row, p.inner, p.out_stride_outer, p.out_stride_inner) : 0);
    T* res = nullptr;
    if constexpr (kAdd) res = static_cast<T*>(p.residual) + (valid ? row_offset(row, p.inner, p.res_stride_outer, p.res_stride_inner) : 0);
    float ss = 0.f;
    if (valid) {
      for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) {
        V a, r;
        a.load(in + j * VEC);
        if constexpr (kAdd) r.load(res + j * VEC);
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const float v = fp32_value<T, VEC, kAdd>(a, r, k);
          ss += v * v;
        }
      }
    }
    ss = row_group_sum(ss, scratch);
    const float rstd = rsqrtf(ss * inv_hidden + p.eps);
    if (valid) {
      for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) {
        V a, r, w, y;
        a.load(in + j * VEC);
        if constexpr (kAdd) r.load(res + j * VEC);
        w.load(weight + j * VEC);
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const float v = fp32_value<T, VEC, kAdd>(a, r, k);
          if constexpr (kAdd) r[k] = from_float<T>(v);
          y[k] = from_float<T>(v * rstd * (to_float(w[k]) + w_offset));
        }
        if constexpr (kAdd) r.store(res + j * VEC);
        y.store(out + j * VEC);
      }
    }
  }
}

template <class Kernel>
cudaError_t launch_persistent(Kernel kernel, const RMSNormParams& p, int64_t tx, int64_t ty, cudaStream_t stream) {
  const int64_t rows = p.outer * p.inner;
  const int64_t groups = div_up<int64_t>(rows, ty);
  // Cached: the occupancy query is a driver call per launch otherwise.
  const int64_t resident = static_cast<int64_t>(num_sms()) * resident_blocks_per_sm(kernel, static_cast<int>(tx * ty));
  const dim3 grid(static_cast<unsigned>(groups < resident ? groups : resident));
  const dim3 block(static_cast<unsigned>(tx), static_cast<unsigned>(ty));
  return launch_kernel(kernel, grid, block, 0, stream, p.pdl, p);
}

template <class T, int VEC, int ITEMS, bool kAdd>
cudaError_t launch_items(const RMSNormParams& p, int64_t tx, int64_t ty, int schedule, cudaStream_t stream) {
  if (schedule < 0) {
    // Few row groups (at most one per SM): latency-bound, load weights early.
    // Otherwise bandwidth-bound: evict-first hints measured best on an H100
    // (rmsnorm 16384 x 4096 bf16: 0.906 x copy vs 0.883 with plain accesses,
    // fused add 0.973 vs 0.966; prefetching the next row was slower: 0.867).
    schedule = div_up<int64_t>(p.outer * p.inner, ty) <= num_sms() ? 1 : 3;
  }
  switch (schedule) {
    case 1: return launch_persistent(rmsnorm_kernel<T, VEC, ITEMS, kAdd, NormSchedule::kEarlyWeight>, p, tx, ty, stream);
    case 2:
      if constexpr (VEC > 1) {
        return launch_persistent(rmsnorm_kernel<T, VEC, ITEMS, kAdd, NormSchedule::kPrefetch>, p, tx, ty, stream);
      }
      break;
    case 3:
      if constexpr (VEC > 1) {
        return launch_persistent(rmsnorm_kernel<T, VEC, ITEMS, kAdd, NormSchedule::kStreaming>, p, tx, ty, stream);
      }
      break;
    default: break;
  }
  return launch_persistent(rmsnorm_kernel<T, VEC, ITEMS, kAdd, NormSchedule::kLateWeight>, p, tx, ty, stream);
}

template <class T, int VEC, bool kAdd>
cudaError_t launch_add(const RMSNormParams& p, const RMSNormConfig& cfg, cudaStream_t stream) {
  const int64_t nvec = p.hidden / VEC;
  constexpr int max_items = kAdd ? kMaxItemsAdd : kMaxItems;
  // Long rows: max_items vectors per thread with 32..512 threads a row;
  // short rows (e.g. a 128-wide head): one vector per thread, several rows a block.
  int64_t tx = nvec >= 128 ? next_pow2(div_up<int64_t>(nvec, max_items)) : next_pow2(nvec);
  if (cfg.threads_per_row > 0) tx = next_pow2(cfg.threads_per_row);
  if (tx > kMaxThreads) tx = kMaxThreads;
  const int64_t items = next_pow2(div_up<int64_t>(nvec, tx));
  const int64_t ty = tx >= 128 ? 1 : 128 / tx;
  // Fused add at 4 vectors a thread needs ~120 registers: only on request.
  const bool fits = !kAdd || items <= kMaxItemsAdd || cfg.threads_per_row > 0;
  switch (fits ? items : 0) {
    case 1: return launch_items<T, VEC, 1, kAdd>(p, tx, ty, cfg.schedule, stream);
    case 2: return launch_items<T, VEC, 2, kAdd>(p, tx, ty, cfg.schedule, stream);
    case 4: return launch_items<T, VEC, 4, kAdd>(p, tx, ty, cfg.schedule, stream);
    default: break;
  }
  return launch_persistent(rmsnorm_streaming_kernel<T, VEC, kAdd>, p, tx, ty, stream);
}

template <class T, int VEC>
cudaError_t launch_vec(const RMSNormParams& p, const RMSNormConfig& cfg, cudaStream_t stream) {
  return p.residual != nullptr ? launch_add<T, VEC, true>(p, cfg, stream) : launch_add<T, VEC, false>(p, cfg, stream);
}

}  // namespace norm_detail

template <class T>
cudaError_t launch_rmsnorm(const RMSNormParams& p, cudaStream_t stream) {
  return launch_rmsnorm<T>(p, RMSNormConfig{}, stream);
}

template <class T>
cudaError_t launch_rmsnorm(const RMSNormParams& p, const RMSNormConfig& cfg, cudaStream_t stream) {
  if (p.outer == 0 || p.inner == 0 || p.hidden == 0) return cudaSuccess;
  if (p.hidden < 0 || p.outer < 0 || p.inner < 0) return cudaErrorInvalidValue;
  constexpr int V = kVec16<T>;
  const bool strides_ok = p.in_stride_outer % V == 0 && p.in_stride_inner % V == 0 &&
                          p.out_stride_outer % V == 0 && p.out_stride_inner % V == 0 &&
                          (p.residual == nullptr || (p.res_stride_outer % V == 0 && p.res_stride_inner % V == 0));
  const bool ptrs_ok = is_aligned(p.in, 16) && is_aligned(p.out, 16) && is_aligned(p.weight, 16) &&
                       (p.residual == nullptr || is_aligned(p.residual, 16));
  if (p.hidden % V == 0 && strides_ok && ptrs_ok) return norm_detail::launch_vec<T, V>(p, cfg, stream);
  return norm_detail::launch_vec<T, 1>(p, cfg, stream);
}

}  // namespace sgl_kernel
