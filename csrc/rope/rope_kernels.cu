// The rope family's kernel instantiations, compiled without torch.
#include "sgl_kernel/rope/rope.cuh"

namespace sgl_kernel {

// q/k dtype x cos_sin dtype (fp32 or the model dtype) x buffer dtype (the
// model dtype or fp8 e4m3).
#define SGL_ROPE_INST(T, CS)                                                     \
  template cudaError_t launch_rope<T, CS, T>(const RopeParams&, cudaStream_t); \
  template cudaError_t launch_rope<T, CS, fp8_e4m3>(const RopeParams&, cudaStream_t);

SGL_ROPE_INST(float, float)
SGL_ROPE_INST(half, float)
SGL_ROPE_INST(half, half)
SGL_ROPE_INST(bf16, float)
SGL_ROPE_INST(bf16, bf16)

#undef SGL_ROPE_INST

}  // namespace sgl_kernel
