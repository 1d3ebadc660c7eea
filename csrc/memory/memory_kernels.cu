// The memory family's kernel instantiations and out-of-line launchers,
// compiled without torch.
#include "sgl_kernel/memory/memory.cuh"

namespace sgl_kernel {

cudaError_t launch_store_kv_cache(const StoreKVParams& p, cudaStream_t stream) {
  return mem_detail::run_store_kv_cache(p, stream);
}

cudaError_t launch_concat(const ConcatParams& p, cudaStream_t stream) { return mem_detail::run_concat(p, stream); }

cudaError_t launch_copy_to_gpu_no_ce(const CopyNoCEValues& values, int64_t n, int32_t* out, cudaStream_t stream) {
  return mem_detail::run_copy_to_gpu_no_ce(values, n, out, stream);
}

#define SGL_CAST_FROM(In)                                                              \
  template cudaError_t launch_cast<In, float>(const CastParams&, cudaStream_t);        \
  template cudaError_t launch_cast<In, half>(const CastParams&, cudaStream_t);         \
  template cudaError_t launch_cast<In, bf16>(const CastParams&, cudaStream_t);         \
  template cudaError_t launch_cast<In, fp8_e4m3>(const CastParams&, cudaStream_t);
SGL_CAST_FROM(float)
SGL_CAST_FROM(half)
SGL_CAST_FROM(bf16)
SGL_CAST_FROM(fp8_e4m3)
#undef SGL_CAST_FROM

template cudaError_t launch_downcast_fp8<float>(const DowncastFp8Params&, cudaStream_t);
template cudaError_t launch_downcast_fp8<half>(const DowncastFp8Params&, cudaStream_t);
template cudaError_t launch_downcast_fp8<bf16>(const DowncastFp8Params&, cudaStream_t);

template cudaError_t launch_timestep_embedding<float>(const TimestepEmbeddingParams&, cudaStream_t);
template cudaError_t launch_timestep_embedding<half>(const TimestepEmbeddingParams&, cudaStream_t);
template cudaError_t launch_timestep_embedding<bf16>(const TimestepEmbeddingParams&, cudaStream_t);
template cudaError_t launch_timestep_embedding<double>(const TimestepEmbeddingParams&, cudaStream_t);
template cudaError_t launch_timestep_embedding<int32_t>(const TimestepEmbeddingParams&, cudaStream_t);
template cudaError_t launch_timestep_embedding<int64_t>(const TimestepEmbeddingParams&, cudaStream_t);

}  // namespace sgl_kernel
