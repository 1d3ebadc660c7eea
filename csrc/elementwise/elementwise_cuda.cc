// CUDA backend of the elementwise family: device guard, current stream, dtype
// dispatch, launch. Compiled by the host compiler; the kernels are compiled
// once, without torch headers, in elementwise_kernels.cu.

#include "common/cuda_utils.h"
#include "common/torch_utils.h"
#include "elementwise/elementwise.h"
#include "sgl_kernel/common/convert.cuh"

namespace sgl_kernel {

void rmsnorm_cuda(const RMSNormParams& p, const Tensor& input) {
  const CudaDeviceGuard guard(input.get_device_index());
  cudaStream_t stream = current_stream(input.get_device_index());
  dispatch_or_throw<float, half, bf16>(input.scalar_type(), "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const cudaError_t err = launch_rmsnorm<T>(p, stream);
    SGL_CHECK(err == cudaSuccess, "rmsnorm launch failed: ", cudaGetErrorString(err));
  });
}

void gated_activation_cuda(Activation act, GatedActParams p, const Tensor& input) {
  const CudaDeviceGuard guard(input.get_device_index());
  cudaStream_t stream = current_stream(input.get_device_index());
  // The upstream schema has no enable_pdl: use PDL wherever the GPU has it.
  p.pdl = pdl_supported(input.get_device_index());
  dispatch_or_throw<float, half, bf16>(input.scalar_type(), "input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const cudaError_t err = launch_gated_activation<T>(act, p, stream);
    SGL_CHECK(err == cudaSuccess, "gated activation launch failed: ", cudaGetErrorString(err));
  });
}

}  // namespace sgl_kernel
