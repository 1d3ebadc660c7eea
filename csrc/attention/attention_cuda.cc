// CUDA backend of the attention family: device guard, current stream, dtype
// dispatch, launch. The kernels are compiled without torch in
// attention_kernels.cu.

#include "attention/attention.h"
#include "common/cuda_utils.h"
#include "common/torch_utils.h"
#include "sgl_kernel/common/convert.cuh"

namespace sgl_kernel {

void merge_state_cuda(MergeStateParams p, const Tensor& v_a) {
  const CudaDeviceGuard guard(v_a.get_device_index());
  cudaStream_t stream = current_stream(v_a.get_device_index());
  // The upstream schema has no enable_pdl: use PDL wherever the GPU has it.
  p.pdl = pdl_supported(v_a.get_device_index());
  dispatch_or_throw<float, half, bf16>(v_a.scalar_type(), "v_a", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const cudaError_t err = launch_merge_state<T>(p, stream);
    SGL_CHECK(err == cudaSuccess, "merge_state launch failed: ", cudaGetErrorString(err));
  });
}

}  // namespace sgl_kernel
