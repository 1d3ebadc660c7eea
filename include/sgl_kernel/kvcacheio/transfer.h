// KV-cache transfers: byte copies of items (one token's slot of one layer)
// selected by index lists, between pools in device memory or pinned host
// memory (read and written by the kernel through unified addressing).
// Host-side declarations only; the kernel lives in transfer.cuh.
#pragma once

#include <cstdint>
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

// Where item (token i, layer l) of a pool lives, in bytes from the layer's or
// the pool's base:
//   kLayerFirst  one buffer per layer:     i * item_size
//   kPageFirst   one buffer, tokens major:  i * layout_dim + l * item_size
//   kPageHead    one buffer [pages, layers, heads, page_size, head_item]:
//                (i / P) * P * layout_dim + l * P * item_size
//                + h * P * head_item + (i % P) * head_item    (P = page_size)
// layout_dim is the bytes of one token across all layers of the pool. In the
// head-split layout an item is head_num pieces of head_item bytes, one per
// head; elsewhere the pieces are contiguous, so the item is too.
enum class KVLayout : int32_t { kLayerFirst = 0, kPageFirst = 1, kPageHead = 2 };

// Per-launch cap of per-layer buffer addresses carried inline in the launch
// parameters (the list-of-tensors variants): K and V of 96 layers each side,
// so that the default model's 94 layers move in one launch (3 KB of
// parameters; the limit is 4 KB before CUDA 12.1). With 32 layers a launch,
// transfer_kv_all_layer_direct_lf_pf wrote a token's 94-layer pf row in
// three launches and read 0.865-0.869 x copy bandwidth (H200, session 12,
// call 3) against 0.904-0.925 for transfer_kv_all_layer_lf_pf's one launch.
constexpr int kKVInlineTable = 192;

struct KVSide {
  KVLayout layout;
  // Base of K (0) and V (1); V is unused when num_kv == 1 (MLA). For
  // layer-first sides of all-layer transfers the per-layer bases come from
  // layer_ptrs (a device-readable int64 array of addresses, [num_layers]) or
  // from the inline table, and base is unused.
  void* base[2];
  const int64_t* layer_ptrs[2];
  bool inline_table;     // per-layer bases from KVInlineTable (index kv * num_layers + l)
  int64_t layout_dim;    // pf / ph: bytes per token across all layers of the pool
  int64_t layer_offset;  // pf / ph: layer of the pool that launch layer 0 maps to
  int64_t page_size;     // ph only
  // The side is in pinned host memory. A hint only (any value copies
  // correctly): transfers to or from host memory take the sorted walk
  // (KVTransferConfig::sort_chunk).
  bool host;
};

struct KVInlineTable {
  int64_t src[kKVInlineTable];
  int64_t dst[kKVInlineTable];
};

struct KVTransferParams {
  KVSide src, dst;
  const int64_t* src_indices;  // [num_indices] token indices, device-readable
  const int64_t* dst_indices;  // [num_indices]
  int64_t num_indices;
  int64_t num_layers;  // layers moved by this launch
  int64_t num_kv;      // 2 (K and V) or 1 (MLA latent, or lists of pools)
  int64_t item_size;   // bytes per item
  int64_t head_num;    // pieces per item: the heads when a side is ph, else 1
  // Direct variants copy pages: entry j moves token indices[j - j % run] +
  // j % run, so only the first index of each run of `index_run` entries is
  // read. 1 for the index-per-token variants.
  int64_t index_run;
  int64_t block_quota;    // thread blocks of the whole launch
  int32_t warps_per_block;
  bool pdl;
};

// Launch tuning (framework-free callers and benchmarks/cpp/kvio_sweep.cu).
struct KVTransferConfig {
  // Items a warp copies together, all their loads issued before any store
  // (more bytes in flight per warp, which reads over PCIe need): 1 or 2;
  // 0 = the default (2).
  int items_per_warp = 0;
  // Order of the items: 0 = layer by layer (index fastest); 1 = the order of a
  // page-first side's memory (pf: a token's layers in a row; ph: a page's
  // tokens of one layer, then the next layer); -1 = the default: 1 when
  // several layers move and a side is pf or ph with 1-token pages, else 0.
  int order = -1;
  // Sorted walk: each block takes `sort_chunk` consecutive items at a time,
  // sorts them by the host side's address in shared memory and copies them in
  // that order, so scattered host rows are read or written in ascending
  // address order (what the GPU's address translation needs; transfer.cuh).
  // A power of two in [64, 4096]; 0 = off; -1 = the default: 512 when a side
  // is host memory (KVSide::host) and the launch gives each block at least
  // 256 items, else off. Blocks of one warp take the plain walk.
  int sort_chunk = -1;
  // Plain walk, 16-byte words: the words a lane loads of each of its items
  // before the stores (a pass of the warp covers 32 x unroll words of an
  // item): 2, 3 or 4; 0 = the default. Items of one warp at a time
  // (items_per_warp = 1) always take 2.
  int unroll = 0;
  // Row walk (transfer.cuh: a thread per 16-byte word) for launches whose
  // rows are whole 16-byte words at a token stride on both sides (lf with a
  // base, a device array of per-layer addresses or the inline table; pf; ph
  // with 1-token pages), or whose ph side splits them into head pieces of
  // whole words (pages of several tokens), and whose host-known bases are
  // 16-byte aligned; others take the walks above. -1 = the default: on
  // between device buffers (neither side KVSide::host) for one layer of
  // contiguous rows, and for several layers, tables, address arrays or
  // head-split rows (the layer walk) when the quota gives every word a
  // thread or 64 warps to every SM (transfer.cuh: rows_by_default); words a
  // thread by rows_words. 1, 2 or 4 = on, that many words a thread; 0 = off.
  // The layer walk's word order follows `order` (1: a token's layers in a
  // row; the default takes it where a side is pf or ph).
  int rows = -1;
};

#if __has_include(<cuda_runtime_api.h>)
// A warp moves one or two items at a time (KVTransferConfig); warps stride
// over all num_kv * num_layers * num_indices items, or, in the sorted walk
// (a host side, KVTransferConfig::sort_chunk), each block copies chunks of
// them in ascending host-address order. The grid is min(block_quota, blocks
// needed) blocks, so the copy never occupies more than block_quota SMs.
// `table` is read only by sides with inline_table set (may be null
// otherwise). Returns the launch error, if any.
cudaError_t launch_kv_transfer(const KVTransferParams& p, const KVInlineTable* table, cudaStream_t stream);
cudaError_t launch_kv_transfer(const KVTransferParams& p, const KVInlineTable* table, const KVTransferConfig& cfg,
                               cudaStream_t stream);
#endif

}  // namespace sgl_kernel
