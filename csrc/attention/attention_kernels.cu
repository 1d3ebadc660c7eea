// The attention family's kernel instantiations, compiled without torch.
#include "sgl_kernel/attention/merge_state.cuh"

namespace sgl_kernel {

template cudaError_t launch_merge_state<float>(const MergeStateParams&, cudaStream_t);
template cudaError_t launch_merge_state<half>(const MergeStateParams&, cudaStream_t);
template cudaError_t launch_merge_state<bf16>(const MergeStateParams&, cudaStream_t);

}  // namespace sgl_kernel
