// CUDA backend of the rope family: device guard, current stream, dtype
// dispatch, launch. Compiled by the host compiler; the kernels are compiled
// once, without torch headers, in rope_kernels.cu.

#include "common/cuda_utils.h"
#include "common/torch_utils.h"
#include "rope/rope.h"
#include "sgl_kernel/common/convert.cuh"

namespace sgl_kernel {
namespace {

template <class T, class CS>
cudaError_t launch_buffer(const RopeParams& p, const RopeTypes& ty, cudaStream_t stream) {
  if (ty.buffer == kFloat8_e4m3fn) return launch_rope<T, CS, fp8_e4m3>(p, stream);
  return launch_rope<T, CS, T>(p, stream);
}

}  // namespace

void rope_cuda(const RopeParams& p, const RopeTypes& ty, const Tensor& q) {
  const CudaDeviceGuard guard(q.get_device_index());
  cudaStream_t stream = current_stream(q.get_device_index());
  dispatch_or_throw<float, half, bf16>(ty.t, "q", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cudaError_t err;
    if (p.table != RopeTable::kPosCache) {
      err = ty.cs == kFloat ? launch_rope_token_table<T, float>(p, stream) : launch_rope_token_table<T, T>(p, stream);
    } else {
      err = ty.cs == kFloat ? launch_buffer<T, float>(p, ty, stream) : launch_buffer<T, T>(p, ty, stream);
    }
    SGL_CHECK(err == cudaSuccess, "rope launch failed: ", cudaGetErrorString(err));
  });
}

void qk_norm_rope_cuda(const QKNormRopeParams& p, ScalarType t, const Tensor& qkv) {
  const CudaDeviceGuard guard(qkv.get_device_index());
  cudaStream_t stream = current_stream(qkv.get_device_index());
  dispatch_or_throw<float, half, bf16>(t, "qkv", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const cudaError_t err = launch_qk_norm_rope<T>(p, stream);
    SGL_CHECK(err == cudaSuccess, "fused_qk_norm_rope launch failed: ", cudaGetErrorString(err));
  });
}

bool pdl_default(const Tensor& t) { return pdl_supported(t.get_device_index()); }

}  // namespace sgl_kernel
