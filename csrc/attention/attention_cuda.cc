// CUDA backend of the attention family: device guard, current stream, dtype
// dispatch, launch. The kernels are compiled without torch in
// attention_kernels.cu.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "attention/attention.h"
#include "common/cuda_utils.h"
#include "common/torch_utils.h"
#include "sgl_kernel/common/convert.cuh"

namespace sgl_kernel {

void merge_state_cuda(MergeStateParams p, const at::Tensor& v_a) {
  const c10::cuda::CUDAGuard guard(v_a.device());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  // The upstream schema has no enable_pdl: use PDL wherever the GPU has it.
  p.pdl = pdl_supported(v_a.device().index());
  dispatch_or_throw<float, half, bf16>(v_a.scalar_type(), "v_a", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const cudaError_t err = launch_merge_state<T>(p, stream);
    TORCH_CHECK(err == cudaSuccess, "merge_state launch failed: ", cudaGetErrorString(err));
  });
}

}  // namespace sgl_kernel
