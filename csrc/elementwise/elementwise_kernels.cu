// The elementwise family's kernel instantiations, compiled without torch.
#include "sgl_kernel/elementwise/activation.cuh"
#include "sgl_kernel/elementwise/norm.cuh"

namespace sgl_kernel {

template cudaError_t launch_rmsnorm<float>(const RMSNormParams&, cudaStream_t);
template cudaError_t launch_rmsnorm<half>(const RMSNormParams&, cudaStream_t);
template cudaError_t launch_rmsnorm<bf16>(const RMSNormParams&, cudaStream_t);
template cudaError_t launch_rmsnorm<float>(const RMSNormParams&, const RMSNormConfig&, cudaStream_t);
template cudaError_t launch_rmsnorm<half>(const RMSNormParams&, const RMSNormConfig&, cudaStream_t);
template cudaError_t launch_rmsnorm<bf16>(const RMSNormParams&, const RMSNormConfig&, cudaStream_t);

template cudaError_t launch_gated_activation<float>(Activation, const GatedActParams&, cudaStream_t);
template cudaError_t launch_gated_activation<half>(Activation, const GatedActParams&, cudaStream_t);
template cudaError_t launch_gated_activation<bf16>(Activation, const GatedActParams&, cudaStream_t);

}  // namespace sgl_kernel
