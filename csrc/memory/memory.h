// The memory family's adapter interface: checks shared by the CPU and CUDA
// paths turn tensors into the kernels' POD params; each backend runs them.
#pragma once

#include <ATen/ATen.h>

#include "sgl_kernel/memory/memory.h"

namespace sgl_kernel {

// k_cache/v_cache [cache_rows, ...], k/v [tokens, ...] with the trailing shape
// and dtype of their cache, each row (all dims after the first) contiguous;
// out_loc [tokens] int32/int64.
StoreKVParams make_store_kv_params(const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& out_loc,
                                   const at::Tensor& k, const at::Tensor& v);

// out [..., da + db] = a [..., da] ‖ b [..., db]; leading dims of each must
// collapse to (outer, inner) views. `broadcast_b`: b has inner size 1 and is
// repeated over out's inner dim (concat_mla_k).
ConcatParams make_concat_params(const at::Tensor& out, const char* out_name, const at::Tensor& a,
                                const char* a_name, const at::Tensor& b, const char* b_name, bool broadcast_b);

// out and input of one shape, dtypes in {float32, float16, bfloat16, float8_e4m3fn}.
CastParams make_cast_params(const at::Tensor& out, const at::Tensor& input);

DowncastFp8Params make_downcast_fp8_params(const at::Tensor& k, const at::Tensor& v, const at::Tensor& k_out,
                                           const at::Tensor& v_out, const at::Tensor& k_scale,
                                           const at::Tensor& v_scale, const at::Tensor& loc, int64_t mult,
                                           int64_t offset);

TimestepEmbeddingParams make_timestep_embedding_params(const at::Tensor& t, const at::Tensor& output, int64_t dim,
                                                       bool flip_sin_to_cos, double downscale_freq_shift,
                                                       double scale, int64_t max_period);

// input: CPU int32 [n], n <= kCopyNoCECapacity; output: int32 [n], contiguous.
void check_copy_no_ce(const at::Tensor& input, const at::Tensor& output);

// Nearest-even conversion to fp8 e4m3fn bits, saturating to +-448 (inf too),
// NaN kept: the bits CUDA's satfinite conversion produces for finite values.
uint8_t fp8_e4m3_bits(float x);

// CPU backends. Out-of-range loc raises (ValueError) before anything is written.
void store_kv_cache_cpu(const StoreKVParams& p);
void concat_cpu(const ConcatParams& p);
void cast_cpu(const CastParams& p, at::ScalarType out_dtype, at::ScalarType in_dtype);
void downcast_fp8_cpu(const DowncastFp8Params& p, at::ScalarType dtype);
void timestep_embedding_cpu(const TimestepEmbeddingParams& p, at::ScalarType t_dtype);

#ifdef SGL_KERNEL_WITH_CUDA
// CUDA backends: device of `like`, current stream, PDL where the GPU has it.
void store_kv_cache_cuda(StoreKVParams p, const at::Tensor& like);
void concat_cuda(ConcatParams p, const at::Tensor& like);
void cast_cuda(CastParams p, at::ScalarType out_dtype, at::ScalarType in_dtype, const at::Tensor& like);
void downcast_fp8_cuda(DowncastFp8Params p, at::ScalarType dtype, const at::Tensor& like);
void timestep_embedding_cuda(TimestepEmbeddingParams p, at::ScalarType t_dtype, const at::Tensor& like);
void copy_to_gpu_no_ce_cuda(const at::Tensor& input, at::Tensor& output);
#endif

}  // namespace sgl_kernel
