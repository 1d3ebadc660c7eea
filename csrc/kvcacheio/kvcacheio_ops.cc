// Schemas and backend registrations of the kvcacheio family. Every op checks
// its arguments once (kvcacheio_checks.cc); the job then runs on CPU when all
// tensors are CPU tensors, else on CUDA, where CPU tensors must be pinned.
// Address tensors of destination pools (dst_*_layers) are marked mutable
// although the op writes the memory they point to, not them: that keeps the
// op effectful and ordered for torch.compile.
#include "common/torch_utils.h"
#include "kvcacheio/kvcacheio.h"

namespace sgl_kernel {
namespace {

void run(KVTransferJob job) {
  bool any_cuda = false;
  for (const auto& entry : job.tensors) any_cuda = any_cuda || entry.second.is_cuda();
  if (any_cuda) {
#ifdef SGL_KERNEL_WITH_CUDA
    kv_transfer_cuda(job);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  kv_transfer_cpu(job);
}

KVSideArgs lf(std::vector<Tensor> pools, std::vector<std::string> names) {
  KVSideArgs a;
  a.layout = KVLayout::kLayerFirst;
  a.pools = std::move(pools);
  a.names = std::move(names);
  return a;
}

KVSideArgs lf_addresses(std::vector<Tensor> pools, std::vector<std::string> names) {
  KVSideArgs a = lf(std::move(pools), std::move(names));
  a.addresses = true;
  return a;
}

KVSideArgs pf(std::vector<Tensor> pools, std::vector<std::string> names, int64_t layout_dim, int64_t layer_id) {
  KVSideArgs a;
  a.layout = KVLayout::kPageFirst;
  a.pools = std::move(pools);
  a.names = std::move(names);
  a.layout_dim = layout_dim;
  a.layer_id = layer_id;
  return a;
}

KVSideArgs ph(std::vector<Tensor> pools, std::vector<std::string> names, int64_t layout_dim, int64_t layer_id,
              int64_t page_size, int64_t head_num) {
  KVSideArgs a = pf(std::move(pools), std::move(names), layout_dim, layer_id);
  a.layout = KVLayout::kPageHead;
  a.page_size = page_size;
  a.head_num = head_num;
  return a;
}

void transfer_kv_per_layer(const Tensor& src_k, Tensor& dst_k, const Tensor& src_v, Tensor& dst_v,
                           const Tensor& src_indices, const Tensor& dst_indices, int64_t item_size,
                           int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf({src_k, src_v}, {"src_k", "src_v"}), lf({dst_k, dst_v}, {"dst_k", "dst_v"}),
                           src_indices, dst_indices, item_size, 1, block_quota, num_warps_per_block));
}

void transfer_kv_all_layer(const Tensor& src_k_layers, Tensor& dst_k_layers, const Tensor& src_v_layers,
                           Tensor& dst_v_layers, const Tensor& src_indices, const Tensor& dst_indices,
                           int64_t item_size, int64_t num_layers, int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf_addresses({src_k_layers, src_v_layers}, {"src_k_layers", "src_v_layers"}),
                           lf_addresses({dst_k_layers, dst_v_layers}, {"dst_k_layers", "dst_v_layers"}), src_indices,
                           dst_indices, item_size, num_layers, block_quota, num_warps_per_block));
}

void transfer_kv_per_layer_pf_lf(const Tensor& src_k, Tensor& dst_k, const Tensor& src_v,
                                 Tensor& dst_v, const Tensor& src_indices, const Tensor& dst_indices,
                                 int64_t layer_id, int64_t item_size, int64_t src_layout_dim, int64_t block_quota,
                                 int64_t num_warps_per_block) {
  run(make_kv_transfer_job(pf({src_k, src_v}, {"src_k", "src_v"}, src_layout_dim, layer_id),
                           lf({dst_k, dst_v}, {"dst_k", "dst_v"}), src_indices, dst_indices, item_size, 1,
                           block_quota, num_warps_per_block));
}

void transfer_kv_per_layer_ph_lf(const Tensor& src_k, Tensor& dst_k, const Tensor& src_v,
                                 Tensor& dst_v, const Tensor& src_indices, const Tensor& dst_indices,
                                 int64_t layer_id, int64_t item_size, int64_t src_layout_dim, int64_t page_size,
                                 int64_t head_num, int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(ph({src_k, src_v}, {"src_k", "src_v"}, src_layout_dim, layer_id, page_size, head_num),
                           lf({dst_k, dst_v}, {"dst_k", "dst_v"}), src_indices, dst_indices, item_size, 1,
                           block_quota, num_warps_per_block));
}

void transfer_kv_all_layer_lf_pf(const Tensor& src_k_layers, Tensor& dst_k, const Tensor& src_v_layers,
                                 Tensor& dst_v, const Tensor& src_indices, const Tensor& dst_indices,
                                 int64_t item_size, int64_t dst_layout_dim, int64_t num_layers, int64_t block_quota,
                                 int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf_addresses({src_k_layers, src_v_layers}, {"src_k_layers", "src_v_layers"}),
                           pf({dst_k, dst_v}, {"dst_k", "dst_v"}, dst_layout_dim, 0), src_indices, dst_indices,
                           item_size, num_layers, block_quota, num_warps_per_block));
}

void transfer_kv_all_layer_lf_ph(const Tensor& src_k_layers, Tensor& dst_k, const Tensor& src_v_layers,
                                 Tensor& dst_v, const Tensor& src_indices, const Tensor& dst_indices,
                                 int64_t item_size, int64_t dst_layout_dim, int64_t num_layers, int64_t page_size,
                                 int64_t head_num, int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf_addresses({src_k_layers, src_v_layers}, {"src_k_layers", "src_v_layers"}),
                           ph({dst_k, dst_v}, {"dst_k", "dst_v"}, dst_layout_dim, 0, page_size, head_num),
                           src_indices, dst_indices, item_size, num_layers, block_quota, num_warps_per_block));
}

void transfer_kv_direct(TensorList src_layers, TensorList dst_layers, const Tensor& src_indices,
                        const Tensor& dst_indices, int64_t page_size) {
  run(make_kv_direct_job(src_layers, dst_layers, src_indices, dst_indices, page_size));
}

void transfer_kv_per_layer_direct_pf_lf(TensorList src_ptrs, TensorList dst_ptrs,
                                        const Tensor& src_indices, const Tensor& dst_indices,
                                        int64_t layer_id, int64_t page_size) {
  run(make_kv_direct_pf_job(src_ptrs, dst_ptrs, src_indices, dst_indices, layer_id, page_size, true));
}

void transfer_kv_all_layer_direct_lf_pf(TensorList src_ptrs, TensorList dst_ptrs,
                                        const Tensor& src_indices, const Tensor& dst_indices,
                                        int64_t page_size) {
  run(make_kv_direct_pf_job(src_ptrs, dst_ptrs, src_indices, dst_indices, 0, page_size, false));
}

void transfer_kv_per_layer_mla(const Tensor& src, Tensor& dst, const Tensor& src_indices,
                               const Tensor& dst_indices, int64_t item_size, int64_t block_quota,
                               int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf({src}, {"src"}), lf({dst}, {"dst"}), src_indices, dst_indices, item_size, 1,
                           block_quota, num_warps_per_block));
}

void transfer_kv_all_layer_mla(const Tensor& src_layers, Tensor& dst_layers, const Tensor& src_indices,
                               const Tensor& dst_indices, int64_t item_size, int64_t num_layers,
                               int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf_addresses({src_layers}, {"src_layers"}), lf_addresses({dst_layers}, {"dst_layers"}),
                           src_indices, dst_indices, item_size, num_layers, block_quota, num_warps_per_block));
}

void transfer_kv_per_layer_mla_pf_lf(const Tensor& src, Tensor& dst, const Tensor& src_indices,
                                     const Tensor& dst_indices, int64_t layer_id, int64_t item_size,
                                     int64_t src_layout_dim, int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(pf({src}, {"src"}, src_layout_dim, layer_id), lf({dst}, {"dst"}), src_indices,
                           dst_indices, item_size, 1, block_quota, num_warps_per_block));
}

void transfer_kv_all_layer_mla_lf_pf(const Tensor& src_layers, Tensor& dst, const Tensor& src_indices,
                                     const Tensor& dst_indices, int64_t item_size, int64_t dst_layout_dim,
                                     int64_t num_layers, int64_t block_quota, int64_t num_warps_per_block) {
  run(make_kv_transfer_job(lf_addresses({src_layers}, {"src_layers"}), pf({dst}, {"dst"}, dst_layout_dim, 0),
                           src_indices, dst_indices, item_size, num_layers, block_quota, num_warps_per_block));
}

}  // namespace
}  // namespace sgl_kernel

STABLE_TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
  m.def(
      "transfer_kv_per_layer(Tensor src_k, Tensor(a!) dst_k, Tensor src_v, Tensor(b!) dst_v, Tensor src_indices, "
      "Tensor dst_indices, int item_size, int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_all_layer(Tensor src_k_layers, Tensor(a!) dst_k_layers, Tensor src_v_layers, "
      "Tensor(b!) dst_v_layers, Tensor src_indices, Tensor dst_indices, int item_size, int num_layers, "
      "int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_per_layer_pf_lf(Tensor src_k, Tensor(a!) dst_k, Tensor src_v, Tensor(b!) dst_v, "
      "Tensor src_indices, Tensor dst_indices, int layer_id, int item_size, int src_layout_dim, int block_quota, "
      "int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_per_layer_ph_lf(Tensor src_k, Tensor(a!) dst_k, Tensor src_v, Tensor(b!) dst_v, "
      "Tensor src_indices, Tensor dst_indices, int layer_id, int item_size, int src_layout_dim, int page_size, "
      "int head_num, int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_all_layer_lf_pf(Tensor src_k_layers, Tensor(a!) dst_k, Tensor src_v_layers, Tensor(b!) dst_v, "
      "Tensor src_indices, Tensor dst_indices, int item_size, int dst_layout_dim, int num_layers, int block_quota, "
      "int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_all_layer_lf_ph(Tensor src_k_layers, Tensor(a!) dst_k, Tensor src_v_layers, Tensor(b!) dst_v, "
      "Tensor src_indices, Tensor dst_indices, int item_size, int dst_layout_dim, int num_layers, int page_size, "
      "int head_num, int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_direct(Tensor[] src_layers, Tensor(a!)[] dst_layers, Tensor src_indices, Tensor dst_indices, "
      "int page_size) -> ()");
  m.def(
      "transfer_kv_per_layer_direct_pf_lf(Tensor[] src_ptrs, Tensor(a!)[] dst_ptrs, Tensor src_indices, "
      "Tensor dst_indices, int layer_id, int page_size) -> ()");
  m.def(
      "transfer_kv_all_layer_direct_lf_pf(Tensor[] src_ptrs, Tensor(a!)[] dst_ptrs, Tensor src_indices, "
      "Tensor dst_indices, int page_size) -> ()");
  m.def(
      "transfer_kv_per_layer_mla(Tensor src, Tensor(a!) dst, Tensor src_indices, Tensor dst_indices, int item_size, "
      "int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_all_layer_mla(Tensor src_layers, Tensor(a!) dst_layers, Tensor src_indices, Tensor dst_indices, "
      "int item_size, int num_layers, int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_per_layer_mla_pf_lf(Tensor src, Tensor(a!) dst, Tensor src_indices, Tensor dst_indices, "
      "int layer_id, int item_size, int src_layout_dim, int block_quota, int num_warps_per_block) -> ()");
  m.def(
      "transfer_kv_all_layer_mla_lf_pf(Tensor src_layers, Tensor(a!) dst, Tensor src_indices, Tensor dst_indices, "
      "int item_size, int dst_layout_dim, int num_layers, int block_quota, int num_warps_per_block) -> ()");
}

#define SGL_KVCACHEIO_IMPLS(m)                                                                     \
  m.impl("transfer_kv_per_layer", TORCH_BOX((&sgl_kernel::transfer_kv_per_layer)));                             \
  m.impl("transfer_kv_all_layer", TORCH_BOX((&sgl_kernel::transfer_kv_all_layer)));                             \
  m.impl("transfer_kv_per_layer_pf_lf", TORCH_BOX((&sgl_kernel::transfer_kv_per_layer_pf_lf)));                 \
  m.impl("transfer_kv_per_layer_ph_lf", TORCH_BOX((&sgl_kernel::transfer_kv_per_layer_ph_lf)));                 \
  m.impl("transfer_kv_all_layer_lf_pf", TORCH_BOX((&sgl_kernel::transfer_kv_all_layer_lf_pf)));                 \
  m.impl("transfer_kv_all_layer_lf_ph", TORCH_BOX((&sgl_kernel::transfer_kv_all_layer_lf_ph)));                 \
  m.impl("transfer_kv_direct", TORCH_BOX((&sgl_kernel::transfer_kv_direct)));                                   \
  m.impl("transfer_kv_per_layer_direct_pf_lf", TORCH_BOX((&sgl_kernel::transfer_kv_per_layer_direct_pf_lf)));   \
  m.impl("transfer_kv_all_layer_direct_lf_pf", TORCH_BOX((&sgl_kernel::transfer_kv_all_layer_direct_lf_pf)));   \
  m.impl("transfer_kv_per_layer_mla", TORCH_BOX((&sgl_kernel::transfer_kv_per_layer_mla)));                     \
  m.impl("transfer_kv_all_layer_mla", TORCH_BOX((&sgl_kernel::transfer_kv_all_layer_mla)));                     \
  m.impl("transfer_kv_per_layer_mla_pf_lf", TORCH_BOX((&sgl_kernel::transfer_kv_per_layer_mla_pf_lf)));         \
  m.impl("transfer_kv_all_layer_mla_lf_pf", TORCH_BOX((&sgl_kernel::transfer_kv_all_layer_mla_lf_pf)))

STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_KVCACHEIO_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_KVCACHEIO_IMPLS(m); }
#endif
