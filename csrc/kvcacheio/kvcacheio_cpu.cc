// CPU implementation of the kvcacheio family: the semantic oracle of the
// transfer kernel. It reads the same params and spells the layout formulas
// out again, one memcpy per item piece; indices are checked first.
#include <cstring>


#include "common/torch_utils.h"
#include "kvcacheio/kvcacheio.h"

namespace sgl_kernel {
namespace {

// Byte address of head piece `c` of item (layer, entry) in one side's pool,
// the entry given as its run's first index `idx` and its place `k` in the
// run: the formula of transfer.h (KVSide), spelled out.
char* piece_address(const KVSide& s, const int64_t* table, const KVTransferParams& p, int64_t kv, int64_t layer,
                    int64_t idx, int64_t k, int64_t c) {
  int64_t layer_base;
  if (s.inline_table) {
    layer_base = table[kv * p.num_layers + layer];
  } else if (s.layer_ptrs[kv] != nullptr) {
    layer_base = s.layer_ptrs[kv][layer];
  } else {
    layer_base = reinterpret_cast<int64_t>(s.base[kv]) + (s.layer_offset + layer) * s.layer_stride;
  }
  int64_t page, slot;
  if (s.page_runs) {  // the run's first index names its page; the run fills the page's slots
    page = idx / s.page_size;
    slot = k;
  } else {
    page = (idx + k) / s.page_size;
    slot = (idx + k) % s.page_size;
  }
  return reinterpret_cast<char*>(layer_base) + page * s.page_stride + slot * s.slot_stride +
         c * kv_head_stride(s, p.item_size, p.head_num);
}

// Every run of `run` entries starting at indices[k * run] must name tokens in
// [0, capacity): tokens i .. i + run - 1, or on a side whose runs name pages
// (KVSide::page_runs) page i / page_size.
void check_index_range(const int64_t* indices, int64_t n, int64_t run, const KVSide& side, int64_t capacity,
                       const char* name, const char* pool) {
  if (capacity < 0) return;  // pools given as raw addresses: sizes unknown
  for (int64_t j = 0; j < n; j += run) {
    const int64_t i = indices[j];
    const int64_t end = side.page_runs && i >= 0 ? (i / side.page_size + 1) * side.page_size : i + run;
    SGL_CHECK_VALUE(i >= 0 && end <= capacity, name, "[", j, "] = ", i,
                      run > 1 ? " starts a page that does not fit" : " is out of range", " in the ", pool, " pool (",
                      capacity, " tokens)");
  }
}

void run_launch(const KVLaunch& launch) {
  const KVTransferParams& p = launch.p;
  check_index_range(p.src_indices, p.num_indices, p.index_run, p.src, launch.src_capacity, "src_indices", "source");
  check_index_range(p.dst_indices, p.num_indices, p.index_run, p.dst, launch.dst_capacity, "dst_indices",
                    "destination");
  const int64_t items = p.num_kv * p.num_layers * p.num_indices;
  const int64_t piece = p.item_size / p.head_num;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.item_size));
  torch::stable::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const int64_t j = w % p.num_indices;
      const int64_t layer = (w / p.num_indices) % p.num_layers;
      const int64_t kv = w / (p.num_indices * p.num_layers);
      const int64_t k = j % p.index_run;  // direct variants: place in the page's run
      const int64_t src_idx = p.src_indices[j - k], dst_idx = p.dst_indices[j - k];
      for (int64_t c = 0; c < p.head_num; ++c) {
        std::memcpy(piece_address(p.dst, launch.table.dst, p, kv, layer, dst_idx, k, c),
                    piece_address(p.src, launch.table.src, p, kv, layer, src_idx, k, c), piece);
      }
    }
  });
}

}  // namespace

void kv_transfer_cpu(const KVTransferJob& job) {
  for (const KVLaunch& launch : job.launches) run_launch(launch);
}

}  // namespace sgl_kernel
