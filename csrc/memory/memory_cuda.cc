// CUDA backend of the memory family: device guard, current stream, dtype
// dispatch, launch. Compiled by the host compiler; the kernels are compiled
// once, without torch headers, in memory_kernels.cu.

#include "common/cuda_utils.h"
#include "common/torch_utils.h"
#include "memory/memory.h"
#include "sgl_kernel/common/convert.cuh"

namespace sgl_kernel {
namespace {

void check_launch(cudaError_t err, const char* what) {
  SGL_CHECK(err == cudaSuccess, what, " launch failed: ", cudaGetErrorString(err));
}

// Runs f(TypeTag<T>{}) with T the CUDA element type of a castable dtype.
template <class F>
void with_cast_type(ScalarType st, const char* name, F&& f) {
  dispatch_or_throw<float, half, bf16, fp8_e4m3>(st, name, std::forward<F>(f));
}

}  // namespace

// The upstream schemas carry no enable_pdl: PDL wherever the GPU has it.
void store_kv_cache_cuda(StoreKVParams p, const Tensor& like) {
  const CudaDeviceGuard guard(like.get_device_index());
  p.pdl = pdl_supported(like.get_device_index());
  check_launch(launch_store_kv_cache(p, current_stream(like.get_device_index())), "store_kv_cache");
}

void concat_cuda(ConcatParams p, const Tensor& like) {
  const CudaDeviceGuard guard(like.get_device_index());
  p.pdl = pdl_supported(like.get_device_index());
  check_launch(launch_concat(p, current_stream(like.get_device_index())), "concat");
}

void cast_cuda(CastParams p, ScalarType out_dtype, ScalarType in_dtype, const Tensor& like) {
  const CudaDeviceGuard guard(like.get_device_index());
  p.pdl = pdl_supported(like.get_device_index());
  cudaStream_t stream = current_stream(like.get_device_index());
  with_cast_type(in_dtype, "input", [&](auto in_tag) {
    with_cast_type(out_dtype, "out", [&](auto out_tag) {
      using In = typename decltype(in_tag)::type;
      using Out = typename decltype(out_tag)::type;
      check_launch(launch_cast<In, Out>(p, stream), "cast");
    });
  });
}

void downcast_fp8_cuda(DowncastFp8Params p, ScalarType dtype, const Tensor& like) {
  const CudaDeviceGuard guard(like.get_device_index());
  p.pdl = pdl_supported(like.get_device_index());
  cudaStream_t stream = current_stream(like.get_device_index());
  dispatch_or_throw<float, half, bf16>(dtype, "k", [&](auto tag) {
    check_launch(launch_downcast_fp8<typename decltype(tag)::type>(p, stream), "downcast_fp8");
  });
}

void timestep_embedding_cuda(TimestepEmbeddingParams p, ScalarType t_dtype, const Tensor& like) {
  const CudaDeviceGuard guard(like.get_device_index());
  p.pdl = pdl_supported(like.get_device_index());
  cudaStream_t stream = current_stream(like.get_device_index());
  auto run = [&](auto tag) {
    check_launch(launch_timestep_embedding<typename decltype(tag)::type>(p, stream), "timestep_embedding");
  };
  if (t_dtype == kDouble) {
    run(TypeTag<double>{});
    return;
  }
  dispatch_or_throw<float, half, bf16, int32_t, int64_t>(t_dtype, "t", run);
}

void copy_to_gpu_no_ce_cuda(const Tensor& input, Tensor& output) {
  const CudaDeviceGuard guard(output.get_device_index());
  CopyNoCEValues values;
  const int64_t n = input.numel();
  const int32_t* src = ptr<int32_t>(input);
  const int64_t stride = n > 1 ? input.stride(0) : 1;
  for (int64_t i = 0; i < n; ++i) values.v[i] = src[i * stride];
  check_launch(launch_copy_to_gpu_no_ce(values, n, ptr<int32_t>(output), current_stream(output.get_device_index())),
               "copy_to_gpu_no_ce");
}

}  // namespace sgl_kernel
