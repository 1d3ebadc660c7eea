// Out-of-line helpers of torch_utils.h and cuda_utils.h.
#ifdef SGL_KERNEL_WITH_CUDA
#include "common/cuda_utils.h"  // first: it declares the shim's CUDA entry points

#include <mutex>
#endif
#include <utility>

#include "common/torch_utils.h"

namespace sgl_kernel {

bool ranges_overlap(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  auto range = [](const Tensor& t) {
    int64_t lo = 0, hi = 0;  // element offsets of the first and last element
    for (int64_t k = 0; k < t.dim(); ++k) {
      const int64_t span = (t.size(k) - 1) * t.stride(k);
      (span < 0 ? lo : hi) += span;
    }
    const auto base = reinterpret_cast<uintptr_t>(t.data_ptr());
    const auto es = static_cast<intptr_t>(t.element_size());
    return std::make_pair(base + lo * es, base + (hi + 1) * es);
  };
  const auto ra = range(a), rb = range(b);
  return ra.first < rb.second && rb.first < ra.second;
}

#ifdef SGL_KERNEL_WITH_CUDA
bool pdl_supported(DeviceIndex device) {
  // Cached per device: a cudaDeviceGetAttribute per launch costs ~0.1 us.
  static int major[64];
  static std::once_flag once[64];
  if (device < 0 || device >= 64) return false;
  std::call_once(once[device], [&] {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      v = 0;
      (void)cudaGetLastError();
    }
    major[device] = v;
  });
  return major[device] >= 9;
}

cudaStream_t current_stream(DeviceIndex device) {
  void* s = nullptr;
  SGL_CHECK(aoti_torch_get_current_cuda_stream(static_cast<int32_t>(device), &s) == AOTI_TORCH_SUCCESS,
            "sgl_kernel: cannot get torch's current CUDA stream on device ", static_cast<int>(device));
  return static_cast<cudaStream_t>(s);
}
#endif

}  // namespace sgl_kernel
