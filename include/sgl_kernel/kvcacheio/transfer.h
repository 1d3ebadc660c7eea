// KV-cache transfers: byte copies of items (one token's slot of one layer)
// selected by index lists, between pools in device memory or pinned host
// memory (read and written by the kernel through unified addressing).
// Host-side declarations and the layouts' strides; the kernels live in
// transfer.cuh.
#pragma once

#include <cstdint>
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#endif

namespace sgl_kernel {

// The pool layouts of upstream's KV pools (SGLang's device and host pools),
// for callers that name them; the kernels read only the strides of a KVSide
// (the kv_*_side builders below turn a layout into strides). Shapes per K or
// V pool, `item` = one token's slot of one layer (item_size bytes), head_item
// = item_size / head_num:
//   kLayerFirst       one buffer per layer [pool_tokens, item]
//   kPageFirst        [pool_tokens, layers, item]: a token's layers in a row
//   kPageHead         [pages, heads, page_size, layers, head_item]: token t of
//                     head h in layer l at [t / page_size, h, t % page_size, l]
//   kPageFirstDirect  [pages, layers, page_size, item]: token t of layer l at
//                     [t / page_size, l, t % page_size] (the direct variants')
enum class KVLayout : int32_t { kLayerFirst = 0, kPageFirst = 1, kPageHead = 2, kPageFirstDirect = 3 };

// Per-launch cap of per-layer buffer addresses carried inline in the launch
// parameters (the list-of-tensors variants): K and V of 96 layers each side,
// so that the default model's 94 layers move in one launch (3 KB of
// parameters; the limit is 4 KB before CUDA 12.1). With 32 layers a launch,
// transfer_kv_all_layer_direct_lf_pf wrote a token's 94-layer pf row in
// three launches and read 0.865-0.869 x copy bandwidth (H200, session 12,
// call 3) against 0.904-0.925 for transfer_kv_all_layer_lf_pf's one launch.
constexpr int kKVInlineTable = 192;

// One side of a transfer, as byte strides worked out once on the host. Head
// piece h (of head_num, KVTransferParams) of item (token t, layer l) of pool
// kv (0: K or the MLA latent, 1: V) is at
//   layer_base(kv, l) + (t / page_size) * page_stride
//                     + (t % page_size) * slot_stride + h * head_stride
// where layer_base(kv, l) is
//   base[kv] + (layer_offset + l) * layer_stride   one buffer holds the layers
//                                                  (pf, ph, page-first pools)
//   layer_ptrs[kv][l]                              lf buffers by address, in a
//                                                  device-readable array
//   the inline table's entry kv * num_layers + l   lf buffers of the pointer-
//                                                  list variants (inline_table)
// Index runs (KVTransferParams::index_run > 1, the direct variants): entry j
// names token indices[f] + (j - f), f the run's first entry, except on a
// side with page_runs set, where indices[f] names page indices[f] / page_size
// and the run fills its slots from 0 (upstream divides the page-first pool's
// index by the page size; it equals the token rule for page-aligned indices).
struct KVSide {
  void* base[2];                 // one-buffer sides, and lf sides of one layer given by base
  const int64_t* layer_ptrs[2];  // lf sides of all-layer ops: [num_layers] addresses each
  bool inline_table;             // per-layer bases from KVInlineTable
  int64_t layer_offset;          // pool layer that launch layer 0 maps to (one-buffer sides)
  int64_t layer_stride;          // bytes between a token's items of consecutive layers; 0 for lf sides
  int64_t page_size;             // tokens a page; 1: page t is token t
  int64_t page_stride;           // bytes between pages (page_size 1: between tokens)
  int64_t slot_stride;           // bytes between consecutive tokens of a page (page_size > 1)
  int64_t head_stride;           // bytes between an item's head pieces; 0: contiguous (item_size / head_num)
  bool page_runs;                // runs name pages (above); needs index_run == page_size
  // The side is in pinned host memory. A hint only (any value copies
  // correctly): transfers to or from host memory take the sorted walk
  // (KVTransferConfig::sort_chunk).
  bool host;
};

// Builders of the layouts above (bases may be null and set later; lf sides
// of several layers set layer_ptrs or inline_table after).
inline KVSide kv_layer_first_side(void* k, void* v, int64_t item_size) {
  KVSide s{};
  s.base[0] = k;
  s.base[1] = v;
  s.page_size = 1;
  s.page_stride = item_size;
  return s;
}

// layout_dim: bytes of one token across all the pool's layers.
inline KVSide kv_page_first_side(void* k, void* v, int64_t item_size, int64_t layout_dim, int64_t layer_offset) {
  KVSide s = kv_layer_first_side(k, v, item_size);
  s.page_stride = layout_dim;
  s.layer_stride = item_size;
  s.layer_offset = layer_offset;
  return s;
}

// layout_dim: bytes of one token across all the pool's layers (layers *
// item_size), a multiple of head_num, as is item_size. A page holds, head by
// head, page_size tokens of layout_dim / head_num bytes (a token's pieces of
// that head, layer by layer).
inline KVSide kv_page_head_side(void* k, void* v, int64_t item_size, int64_t layout_dim, int64_t page_size,
                                int64_t head_num, int64_t layer_offset) {
  KVSide s = kv_page_first_side(k, v, item_size, layout_dim, layer_offset);
  const int64_t head_bytes = layout_dim / head_num;  // one token of one head, all layers
  s.page_size = page_size;
  s.page_stride = page_size * layout_dim;
  s.slot_stride = head_bytes;
  s.head_stride = page_size * head_bytes;
  s.layer_stride = item_size / head_num;
  return s;
}

// [pages, pool_layers, page_size, item]; runs of index_run = page_size
// entries name pages (KVSide::page_runs).
inline KVSide kv_page_first_direct_side(void* k, void* v, int64_t item_size, int64_t pool_layers, int64_t page_size,
                                        int64_t layer_offset) {
  KVSide s = kv_page_first_side(k, v, item_size, pool_layers * page_size * item_size, layer_offset);
  s.page_size = page_size;
  s.slot_stride = item_size;
  s.layer_stride = page_size * item_size;
  s.page_runs = true;
  return s;
}

// Bytes between the head pieces of an item on side s (KVSide::head_stride).
inline int64_t kv_head_stride(const KVSide& s, int64_t item_size, int64_t head_num) {
  return s.head_stride != 0 ? s.head_stride : item_size / head_num;
}

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
  // j % run (KVSide::page_runs: slot j % run of page indices[j - j % run] /
  // page_size), so only the first index of each run of `index_run` entries
  // is read. 1 for the index-per-token variants.
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
  // Order of the items: 0 = layer by layer (index fastest); 1 = the order of
  // a one-buffer side's memory: a token's layers in a row where a side keeps
  // them adjacent (pf; ph, whose pages hold a token's layers in a row per
  // head; page-first pages of one token), else a page's tokens of one layer,
  // then the next layer (page-first pages of several tokens); -1 = the
  // default: 1 when several layers move and a side keeps a token's layers
  // adjacent, else 0.
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
  // base, a device array of per-layer addresses or the inline table; pf;
  // page-first pages of one token), or are split by pages of several tokens
  // or into head pieces of whole words (ph; page-first pages), and whose
  // host-known bases and strides are 16-byte aligned; others take the walks
  // above. -1 = the default: on between device buffers (neither side
  // KVSide::host) for one layer of contiguous rows, and for several layers,
  // tables, address arrays or split rows (the layer walk) when the quota
  // gives every word a thread or 64 warps to every SM (transfer.cuh:
  // rows_by_default); words a thread by rows_words. 1, 2 or 4 = on, that
  // many words a thread; 0 = off. The layer walk's word order follows
  // `order` (1: a token's layers in a row; the default takes it where one
  // buffer holds a side's layers: pf, ph, page-first).
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
