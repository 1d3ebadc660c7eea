// Instantiations of the rope kernel for cos/sin tables gathered per token
// (rotary_embedding_cos_sin), compiled apart from rope_kernels.cu so the two
// lists build in parallel.
#include "sgl_kernel/rope/rope.cuh"

namespace sgl_kernel {

// q/k dtype x cos/sin dtype (the model dtype, or fp32).
template cudaError_t launch_rope_token_table<float, float>(const RopeParams&, cudaStream_t);
template cudaError_t launch_rope_token_table<half, half>(const RopeParams&, cudaStream_t);
template cudaError_t launch_rope_token_table<half, float>(const RopeParams&, cudaStream_t);
template cudaError_t launch_rope_token_table<bf16, bf16>(const RopeParams&, cudaStream_t);
template cudaError_t launch_rope_token_table<bf16, float>(const RopeParams&, cudaStream_t);

}  // namespace sgl_kernel
