// The memory family's adapter interface: checks shared by the CPU and CUDA
// paths turn tensors into the kernels' POD params; each backend runs them.
#pragma once

#include "common/torch_utils.h"

#include "sgl_kernel/memory/memory.h"

namespace sgl_kernel {

// k_cache/v_cache [cache_rows, ...], k/v [tokens, ...] with the trailing shape
// and dtype of their cache, each row (all dims after the first) contiguous;
// out_loc [tokens] int32/int64.
StoreKVParams make_store_kv_params(const Tensor& k_cache, const Tensor& v_cache, const Tensor& out_loc,
                                   const Tensor& k, const Tensor& v);

// out [..., da + db] = a [..., da] ‖ b [..., db]; leading dims of each must
// collapse to (outer, inner) views. `broadcast_b`: b has inner size 1 and is
// repeated over out's inner dim (concat_mla_k).
ConcatParams make_concat_params(const Tensor& out, const char* out_name, const Tensor& a,
                                const char* a_name, const Tensor& b, const char* b_name, bool broadcast_b);

// out and input of one shape, dtypes in {float32, float16, bfloat16, float8_e4m3fn}.
CastParams make_cast_params(const Tensor& out, const Tensor& input);

DowncastFp8Params make_downcast_fp8_params(const Tensor& k, const Tensor& v, const Tensor& k_out,
                                           const Tensor& v_out, const Tensor& k_scale,
                                           const Tensor& v_scale, const Tensor& loc, int64_t mult,
                                           int64_t offset);

TimestepEmbeddingParams make_timestep_embedding_params(const Tensor& t, const Tensor& output, int64_t dim,
                                                       bool flip_sin_to_cos, double downscale_freq_shift,
                                                       double scale, int64_t max_period);

// input: CPU int32 [n], n <= kCopyNoCECapacity; output: int32 [n], contiguous.
void check_copy_no_ce(const Tensor& input, const Tensor& output);

// Nearest-even conversion to fp8 e4m3fn bits, saturating to +-448 (inf too),
// NaN kept: the bits CUDA's satfinite conversion produces for finite values.
uint8_t fp8_e4m3_bits(float x);

// CPU backends. Out-of-range loc raises (ValueError) before anything is written.
void store_kv_cache_cpu(const StoreKVParams& p);
void concat_cpu(const ConcatParams& p);
void cast_cpu(const CastParams& p, ScalarType out_dtype, ScalarType in_dtype);
void downcast_fp8_cpu(const DowncastFp8Params& p, ScalarType dtype);
void timestep_embedding_cpu(const TimestepEmbeddingParams& p, ScalarType t_dtype);

#ifdef SGL_KERNEL_WITH_CUDA
// CUDA backends: device of `like`, current stream, PDL where the GPU has it.
void store_kv_cache_cuda(StoreKVParams p, const Tensor& like);
void concat_cuda(ConcatParams p, const Tensor& like);
void cast_cuda(CastParams p, ScalarType out_dtype, ScalarType in_dtype, const Tensor& like);
void downcast_fp8_cuda(DowncastFp8Params p, ScalarType dtype, const Tensor& like);
void timestep_embedding_cuda(TimestepEmbeddingParams p, ScalarType t_dtype, const Tensor& like);
void copy_to_gpu_no_ce_cuda(const Tensor& input, Tensor& output);
#endif

}  // namespace sgl_kernel
