// The kvcacheio family's adapter interface: the argument checks shared by the
// CPU and CUDA paths turn an op's tensors into launches of the transfer
// kernel's POD params; each backend then runs them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/torch_utils.h"

#include "sgl_kernel/kvcacheio/transfer.h"

namespace sgl_kernel {

// One kernel launch's worth of work. The capacities (tokens each side can
// address, -1 when the pool is only known by raw addresses) let the CPU
// backend reject out-of-range indices; the CUDA path cannot read device
// indices without a host sync, so it trusts them.
struct KVLaunch {
  KVTransferParams p{};
  KVInlineTable table{};
  int64_t src_capacity = -1;
  int64_t dst_capacity = -1;
};

struct KVTransferJob {
  std::vector<KVLaunch> launches;
  // Every tensor the kernel touches, with its argument name: the backend is
  // chosen from their devices, and on CUDA each CPU one must be pinned.
  std::vector<std::pair<std::string, Tensor>> tensors;
  Tensor src_indices, dst_indices;
  bool fill_gpu = false;  // block_quota unset (direct variants): one block per SM
};

// Layout of one side of an index-per-token transfer, as given to the ops
// (kLayerFirst, kPageFirst or kPageHead).
struct KVSideArgs {
  KVLayout layout = KVLayout::kLayerFirst;
  // Pools passed as tensors: K and V (only K for MLA), or the int64 address
  // tensors of the all-layer ops when `addresses` is set.
  std::vector<Tensor> pools;
  std::vector<std::string> names;
  bool addresses = false;
  int64_t layout_dim = 0;
  int64_t layer_id = 0;
  int64_t page_size = 1;
  int64_t head_num = 1;
};

// Index-per-token variants (everything but the *_direct ops).
KVTransferJob make_kv_transfer_job(const KVSideArgs& src, const KVSideArgs& dst, const Tensor& src_indices,
                                   const Tensor& dst_indices, int64_t item_size, int64_t num_layers,
                                   int64_t block_quota, int64_t num_warps_per_block);

// transfer_kv_direct: lists of per-layer pools [pool_size, ...], pages of
// page_size tokens.
KVTransferJob make_kv_direct_job(const std::vector<Tensor>& src_layers, const std::vector<Tensor>& dst_layers,
                                 const Tensor& src_indices, const Tensor& dst_indices, int64_t page_size);

// transfer_kv_per_layer_direct_pf_lf (pf_to_lf) and
// transfer_kv_all_layer_direct_lf_pf: [K, V] or [latent] page-first pools
// [pages, layers, page_size, ...] on one side (a run's first index names page
// index / page_size, as upstream), lf per-layer pools on the other.
KVTransferJob make_kv_direct_pf_job(const std::vector<Tensor>& src, const std::vector<Tensor>& dst,
                                    const Tensor& src_indices, const Tensor& dst_indices, int64_t layer_id,
                                    int64_t page_size, bool pf_to_lf);

void kv_transfer_cpu(const KVTransferJob& job);
#ifdef SGL_KERNEL_WITH_CUDA
void kv_transfer_cuda(KVTransferJob& job);
#endif

}  // namespace sgl_kernel
