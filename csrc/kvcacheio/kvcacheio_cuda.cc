// CUDA backend of the kvcacheio family: device and pinned-memory checks,
// device guard, current stream, launch. No host sync and no allocation (so the
// transfers can be captured in CUDA graphs), except for the direct variants
// given pageable host index lists, which are staged to the device first.
#include <optional>


#include "common/cuda_utils.h"
#include "common/torch_utils.h"
#include "kvcacheio/kvcacheio.h"
#include "sgl_kernel/common/check.h"

namespace sgl_kernel {
namespace {

// Page-locked host memory (what the kernels can reach from the device); the
// stable ABI has no is_pinned, the CUDA runtime knows.
bool is_pinned(const Tensor& t) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, t.data_ptr()) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeHost;
}

// The same tensor (the same elements of the same memory): the stable ABI's
// handles do not compare tensor identity.
bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.defined() && b.defined() && a.data_ptr() == b.data_ptr() && a.scalar_type() == b.scalar_type() &&
         same_sizes(a.sizes(), b.sizes()) && same_sizes(a.strides(), b.strides()) && a.device() == b.device();
}

}  // namespace

void kv_transfer_cuda(KVTransferJob& job) {
  std::optional<Device> device;
  for (const auto& [name, t] : job.tensors) {
    if (!t.is_cuda()) continue;
    if (!device) {
      device = t.device();
    } else {
      SGL_CHECK(t.device() == *device, name, " must be on ", *device, " (the device of the other CUDA tensors), got ",
                  t.device());
    }
  }
  SGL_CHECK(device.has_value(), "kvcacheio: the CUDA backend needs at least one CUDA tensor");
  // Direct variants, as upstream: their index lists may be in pageable host
  // memory, and are then copied to the device first. That copy synchronizes
  // with the host, so this one path cannot be captured in a CUDA graph;
  // device or pinned index tensors avoid it.
  Tensor staged_src, staged_dst;
  auto pageable = [](const Tensor& t) { return t.defined() && t.is_cpu() && !is_pinned(t) && t.numel() > 0; };
  if (job.fill_gpu) {
    if (pageable(job.src_indices)) staged_src = torch::stable::to(job.src_indices, *device);
    if (pageable(job.dst_indices)) staged_dst = torch::stable::to(job.dst_indices, *device);
  }
  for (const auto& [name, t] : job.tensors) {
    if (t.is_cuda() || t.numel() == 0) continue;
    if ((staged_src.defined() && same_tensor(t, job.src_indices)) || (staged_dst.defined() && same_tensor(t, job.dst_indices)))
      continue;
    SGL_CHECK(t.is_cpu(), name, " must be a CUDA tensor or a pinned CPU tensor, got device ", t.device());
    // The kernel reads and writes host memory directly; only page-locked
    // memory is mapped into the device's address space.
    SGL_CHECK(is_pinned(t), name,
                " is a CPU tensor in pageable memory; with CUDA tensors in the same call it must be pinned "
                "(pin_memory=True) so the kernel can reach it");
  }
  // The row walk (the default for one-layer copies between device buffers)
  // was measured on device memory only; the direct variants mark no side as
  // host memory (KVSide::host), so it is turned off here when a pool is a
  // CPU tensor.
  bool host_pool = false;
  for (const auto& [name, t] : job.tensors) {
    if (!t.is_cuda() && t.numel() > 0 && !same_tensor(t, job.src_indices) && !same_tensor(t, job.dst_indices)) host_pool = true;
  }
  KVTransferConfig cfg;
  if (host_pool) cfg.rows = 0;
  const CudaDeviceGuard guard(device->index());
  cudaStream_t stream = current_stream(device->index());
  const bool pdl = pdl_supported(device->index());
  // Re-point the launches at the staged copies (same offsets into the lists).
  auto restage = [](const int64_t*& at, const Tensor& host, const Tensor& staged) {
    if (staged.defined()) at = ptr<int64_t>(staged) + (at - ptr<int64_t>(host));
  };
  for (KVLaunch& launch : job.launches) {
    restage(launch.p.src_indices, job.src_indices, staged_src);
    restage(launch.p.dst_indices, job.dst_indices, staged_dst);
    launch.p.pdl = pdl;
    if (job.fill_gpu) {
      // Two blocks an SM: of 32 warps between device buffers (64 warps, what
      // fills an SM for the row walk), of 16 with a host pool (the warp walk,
      // whose 64 registers a thread hold 32 warps an SM). H200, kvio_sweep
      // (session 12), 94 layers x 16384 tokens, x the 2 GiB copy rate:
      // direct lf->lf 0.911 -> 0.931 (1-token pages), 0.876 -> 0.918 (16),
      // lf->pf 0.852 -> 0.866.
      launch.p.block_quota = 2 * static_cast<int64_t>(num_sms());
      launch.p.warps_per_block = host_pool ? 16 : 32;
    }
    const cudaError_t err = launch_kv_transfer(launch.p, &launch.table, cfg, stream);
    SGL_CHECK(err == cudaSuccess, "kv transfer launch failed: ", cudaGetErrorString(err));
  }
}

}  // namespace sgl_kernel
