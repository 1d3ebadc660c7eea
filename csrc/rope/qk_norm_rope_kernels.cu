// Instantiations of the fused QK RMSNorm + RoPE kernels (register path for
// head_dim 64/128/256, general path otherwise), compiled without torch.
#include "sgl_kernel/rope/qk_norm_rope.cuh"

namespace sgl_kernel {

template cudaError_t launch_qk_norm_rope<float>(const QKNormRopeParams&, const QKNormRopeConfig&, cudaStream_t);
template cudaError_t launch_qk_norm_rope<half>(const QKNormRopeParams&, const QKNormRopeConfig&, cudaStream_t);
template cudaError_t launch_qk_norm_rope<bf16>(const QKNormRopeParams&, const QKNormRopeConfig&, cudaStream_t);
template cudaError_t launch_qk_norm_rope<float>(const QKNormRopeParams&, cudaStream_t);
template cudaError_t launch_qk_norm_rope<half>(const QKNormRopeParams&, cudaStream_t);
template cudaError_t launch_qk_norm_rope<bf16>(const QKNormRopeParams&, cudaStream_t);

}  // namespace sgl_kernel
