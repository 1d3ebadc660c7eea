// The kvcacheio family's kernel launcher, compiled without torch.
#include "sgl_kernel/kvcacheio/transfer.cuh"

namespace sgl_kernel {

cudaError_t launch_kv_transfer(const KVTransferParams& p, const KVInlineTable* table, cudaStream_t stream) {
  return kvio_detail::run_kv_transfer(p, table, KVTransferConfig{}, stream);
}

cudaError_t launch_kv_transfer(const KVTransferParams& p, const KVInlineTable* table, const KVTransferConfig& cfg,
                               cudaStream_t stream) {
  return kvio_detail::run_kv_transfer(p, table, cfg, stream);
}

}  // namespace sgl_kernel
