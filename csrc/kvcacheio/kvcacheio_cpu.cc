// CPU implementation of the kvcacheio family: the semantic oracle of the
// transfer kernel. It reads the same params and spells the layout formulas
// out again, one memcpy per item piece; indices are checked first.
#include <cstring>

#include <ATen/Parallel.h>

#include "common/torch_utils.h"
#include "kvcacheio/kvcacheio.h"

namespace sgl_kernel {
namespace {

// Byte address of head piece `c` of (token, layer) in one side's pool.
char* piece_address(const KVSide& s, const int64_t* table, const KVTransferParams& p, int64_t kv, int64_t layer,
                    int64_t token, int64_t c) {
  const int64_t piece = p.item_size / p.head_num;
  const int64_t l = s.layer_offset + layer;
  switch (s.layout) {
    case KVLayout::kLayerFirst: {
      int64_t base;
      if (s.inline_table) {
        base = table[kv * p.num_layers + layer];
      } else if (s.layer_ptrs[kv] != nullptr) {
        base = s.layer_ptrs[kv][layer];
      } else {
        base = reinterpret_cast<int64_t>(s.base[kv]);
      }
      return reinterpret_cast<char*>(base) + token * p.item_size + c * piece;
    }
    case KVLayout::kPageFirst:
      return static_cast<char*>(s.base[kv]) + token * s.layout_dim + l * p.item_size + c * piece;
    case KVLayout::kPageHead: {
      const int64_t page = token / s.page_size, slot = token % s.page_size;
      return static_cast<char*>(s.base[kv]) + page * s.page_size * s.layout_dim + l * s.page_size * p.item_size +
             c * s.page_size * piece + slot * piece;
    }
  }
  return nullptr;
}

// Every run of `run` tokens starting at indices[k * run] must lie in [0, capacity).
void check_index_range(const int64_t* indices, int64_t n, int64_t run, int64_t capacity, const char* name,
                       const char* pool) {
  if (capacity < 0) return;  // pools given as raw addresses: sizes unknown
  for (int64_t j = 0; j < n; j += run) {
    const int64_t i = indices[j];
    TORCH_CHECK_VALUE(i >= 0 && i + run <= capacity, name, "[", j, "] = ", i,
                      run > 1 ? " starts a page that does not fit" : " is out of range", " in the ", pool, " pool (",
                      capacity, " tokens)");
  }
}

void run_launch(const KVLaunch& launch) {
  const KVTransferParams& p = launch.p;
  check_index_range(p.src_indices, p.num_indices, p.index_run, launch.src_capacity, "src_indices", "source");
  check_index_range(p.dst_indices, p.num_indices, p.index_run, launch.dst_capacity, "dst_indices", "destination");
  const int64_t items = p.num_kv * p.num_layers * p.num_indices;
  const int64_t piece = p.item_size / p.head_num;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.item_size));
  at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const int64_t j = w % p.num_indices;
      const int64_t layer = (w / p.num_indices) % p.num_layers;
      const int64_t kv = w / (p.num_indices * p.num_layers);
      const int64_t first = j - j % p.index_run;  // direct variants: the page's first entry
      const int64_t src_token = p.src_indices[first] + (j - first);
      const int64_t dst_token = p.dst_indices[first] + (j - first);
      for (int64_t c = 0; c < p.head_num; ++c) {
        std::memcpy(piece_address(p.dst, launch.table.dst, p, kv, layer, dst_token, c),
                    piece_address(p.src, launch.table.src, p, kv, layer, src_token, c), piece);
      }
    }
  });
}

}  // namespace

void kv_transfer_cpu(const KVTransferJob& job) {
  for (const KVLaunch& launch : job.launches) run_launch(launch);
}

}  // namespace sgl_kernel
