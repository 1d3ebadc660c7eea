// Argument checks for the kvcacheio family, shared by both backends. Pools are
// raw byte buffers addressed by the layout formulas of transfer.h, so every
// pool tensor must be contiguous; its byte size bounds the indices (CPU).
#include <algorithm>
#include <limits>

#include "common/torch_utils.h"
#include "kvcacheio/kvcacheio.h"

namespace sgl_kernel {
namespace {

constexpr int64_t kUnknown = -1;

int64_t nbytes_of(const Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

int64_t min_capacity(int64_t a, int64_t b) {
  if (a == kUnknown) return b;
  if (b == kUnknown) return a;
  return std::min(a, b);
}

void check_pool(const Tensor& t, const std::string& name) {
  SGL_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous (it is addressed as raw bytes), got shape ",
                    t.sizes(), " and strides ", t.strides());
  SGL_CHECK_VALUE(t.dim() >= 1, name, " must have at least 1 dim, got a scalar");
}

// Bytes of one dim-0 row of a pool tensor.
int64_t row_bytes(const Tensor& t) {
  return t.size(0) == 0 ? 0 : nbytes_of(t) / t.size(0);
}

void check_indices(const Tensor& src_indices, const Tensor& dst_indices) {
  SGL_CHECK_TYPE(src_indices.scalar_type() == kLong, "src_indices must have dtype int64, got ",
                   src_indices.scalar_type());
  SGL_CHECK_TYPE(dst_indices.scalar_type() == kLong, "dst_indices must have dtype int64, got ",
                   dst_indices.scalar_type());
  check_dim(src_indices, "src_indices", 1);
  check_dim(dst_indices, "dst_indices", 1);
  SGL_CHECK_VALUE(dst_indices.numel() == src_indices.numel(), "dst_indices must have the length of src_indices (",
                    src_indices.numel(), "), got ", dst_indices.numel());
  SGL_CHECK_VALUE(src_indices.is_contiguous(), "src_indices must be contiguous, got strides ",
                    src_indices.strides());
  SGL_CHECK_VALUE(dst_indices.is_contiguous(), "dst_indices must be contiguous, got strides ",
                    dst_indices.strides());
}

void check_launch_shape(int64_t item_size, int64_t block_quota, int64_t num_warps_per_block) {
  SGL_CHECK_VALUE(item_size > 0 && item_size < (int64_t{1} << 31), "item_size must be in [1, 2^31), got ",
                    item_size);
  SGL_CHECK_VALUE(block_quota >= 1, "block_quota must be at least 1, got ", block_quota);
  SGL_CHECK_VALUE(num_warps_per_block >= 1 && num_warps_per_block <= 32,
                    "num_warps_per_block must be in [1, 32], got ", num_warps_per_block);
}

// Tokens that a pool of `bytes` holds on side `s` (whole pages) for layers
// [layer_offset, layer_offset + num_layers): the pages whose bytes of those
// layers, all slots and heads, lie within the pool (transfer.h: KVSide).
int64_t capacity_of(const KVSide& s, int64_t bytes, int64_t item_size, int64_t head_num, int64_t num_layers) {
  const int64_t piece = item_size / head_num;
  const int64_t reach = (s.page_size - 1) * s.slot_stride + (s.layer_offset + num_layers - 1) * s.layer_stride +
                        (head_num - 1) * kv_head_stride(s, item_size, head_num) + piece;  // of a page
  return bytes < reach ? 0 : ((bytes - reach) / s.page_stride + 1) * s.page_size;
}

// Fills `s` from `a` and returns the number of tokens every pool of the side
// can hold for layers [layer_id, layer_id + num_layers). head_num: the
// launch's pieces an item (a ph side's heads, else 1).
int64_t fill_side(KVSide& s, const KVSideArgs& a, int64_t item_size, int64_t head_num, int64_t num_layers,
                  int64_t num_kv, const char* prefix) {
  if (a.layout != KVLayout::kLayerFirst) {
    SGL_CHECK_VALUE(a.layer_id >= 0, "layer_id must be non-negative, got ", a.layer_id);
    SGL_CHECK_VALUE(a.layout_dim > 0, prefix, "_layout_dim must be positive, got ", a.layout_dim);
    SGL_CHECK_VALUE((a.layer_id + num_layers) * item_size <= a.layout_dim, "item_size (", item_size, ") times ",
                      a.layer_id + num_layers, " layers exceeds ", prefix, "_layout_dim (", a.layout_dim,
                      "): a token's layers must fit in its row");
  }
  switch (a.layout) {
    case KVLayout::kLayerFirst:
      s = kv_layer_first_side(nullptr, nullptr, item_size);
      break;
    case KVLayout::kPageFirst:
      s = kv_page_first_side(nullptr, nullptr, item_size, a.layout_dim, a.layer_id);
      break;
    case KVLayout::kPageHead:
      SGL_CHECK_VALUE(a.page_size >= 1, "page_size must be positive, got ", a.page_size);
      SGL_CHECK_VALUE(a.head_num >= 1, "head_num must be positive, got ", a.head_num);
      SGL_CHECK_VALUE(item_size % a.head_num == 0, "item_size (", item_size, ") must be a multiple of head_num (",
                        a.head_num, ")");
      // A page holds, head by head, page_size tokens of layout_dim / head_num bytes.
      SGL_CHECK_VALUE(a.layout_dim % a.head_num == 0, prefix, "_layout_dim (", a.layout_dim,
                        ") must be a multiple of head_num (", a.head_num, ")");
      s = kv_page_head_side(nullptr, nullptr, item_size, a.layout_dim, a.page_size, a.head_num, a.layer_id);
      break;
    default:
      SGL_CHECK(false, "kvcacheio: layout ", static_cast<int>(a.layout), " is not an index-per-token layout");
  }
  int64_t capacity = kUnknown;
  for (int64_t kv = 0; kv < num_kv; ++kv) {
    const Tensor& t = a.pools[kv];
    const std::string& name = a.names[kv];
    if (a.addresses) {
      // SGLang builds these with dtype=torch.uint64; int64 holds the same bits.
      SGL_CHECK_TYPE(t.scalar_type() == kLong || t.scalar_type() == kUInt64, name,
                       " must have dtype int64 or uint64 (per-layer buffer addresses), got ", t.scalar_type());
      SGL_CHECK_VALUE(t.dim() == 1 && t.numel() == num_layers, name, " must have shape [", num_layers,
                        "] (num_layers), got ", t.sizes());
      SGL_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous, got strides ", t.strides());
      s.layer_ptrs[kv] = static_cast<const int64_t*>(t.data_ptr());
      continue;  // the buffers behind the addresses cannot be bounds-checked
    }
    check_pool(t, name);
    s.base[kv] = t.data_ptr();
    s.host = t.is_cpu();  // pinned host memory (checked at launch): the sorted walk (transfer.h)
    if (a.layout == KVLayout::kLayerFirst && t.dim() >= 2) {
      SGL_CHECK_VALUE(row_bytes(t) == item_size, "item_size (", item_size, ") must equal the bytes of one row of ",
                        name, " (", row_bytes(t), ", shape ", t.sizes(), ", ", t.scalar_type(), ")");
    }
    capacity = min_capacity(capacity, capacity_of(s, nbytes_of(t), item_size, head_num, num_layers));
  }
  return capacity;
}

KVTransferJob job_with_indices(const Tensor& src_indices, const Tensor& dst_indices) {
  KVTransferJob job;
  job.src_indices = src_indices;
  job.dst_indices = dst_indices;
  job.tensors.emplace_back("src_indices", src_indices);
  job.tensors.emplace_back("dst_indices", dst_indices);
  return job;
}

KVTransferParams base_params(const Tensor& src_indices, const Tensor& dst_indices, int64_t item_size) {
  KVTransferParams p{};
  p.src_indices = ptr<int64_t>(src_indices);
  p.dst_indices = ptr<int64_t>(dst_indices);
  p.num_indices = src_indices.numel();
  p.item_size = item_size;
  p.head_num = 1;
  p.index_run = 1;
  p.block_quota = 1;
  p.warps_per_block = 8;
  return p;
}

void check_page_size(int64_t page_size, int64_t n) {
  SGL_CHECK_VALUE(page_size >= 1, "page_size must be positive, got ", page_size);
  SGL_CHECK_VALUE(n % page_size == 0, "src_indices length (", n, ") must be a multiple of page_size (", page_size,
                    ")");
}

std::string item_name(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

}  // namespace

KVTransferJob make_kv_transfer_job(const KVSideArgs& src, const KVSideArgs& dst, const Tensor& src_indices,
                                   const Tensor& dst_indices, int64_t item_size, int64_t num_layers,
                                   int64_t block_quota, int64_t num_warps_per_block) {
  check_indices(src_indices, dst_indices);
  check_launch_shape(item_size, block_quota, num_warps_per_block);
  SGL_CHECK_VALUE(num_layers >= 1, "num_layers must be positive, got ", num_layers);
  const int64_t num_kv = static_cast<int64_t>(src.pools.size());
  KVTransferJob job = job_with_indices(src_indices, dst_indices);
  KVLaunch l;
  l.p = base_params(src_indices, dst_indices, item_size);
  l.p.num_layers = num_layers;
  l.p.num_kv = num_kv;
  l.p.block_quota = block_quota;
  l.p.warps_per_block = static_cast<int32_t>(num_warps_per_block);
  // Head pieces only exist on a ph side; the other side splits its items the
  // same way, which is harmless since its pieces are contiguous.
  if (src.layout == KVLayout::kPageHead) l.p.head_num = src.head_num;
  if (dst.layout == KVLayout::kPageHead) l.p.head_num = dst.head_num;
  const int64_t head_num = std::max<int64_t>(l.p.head_num, 1);  // fill_side rejects head_num < 1
  l.src_capacity = fill_side(l.p.src, src, item_size, head_num, num_layers, num_kv, "src");
  l.dst_capacity = fill_side(l.p.dst, dst, item_size, head_num, num_layers, num_kv, "dst");
  for (int64_t kv = 0; kv < num_kv; ++kv) {
    job.tensors.emplace_back(src.names[kv], src.pools[kv]);
    job.tensors.emplace_back(dst.names[kv], dst.pools[kv]);
  }
  job.launches.push_back(l);
  return job;
}

KVTransferJob make_kv_direct_job(const std::vector<Tensor>& src_layers, const std::vector<Tensor>& dst_layers,
                                 const Tensor& src_indices, const Tensor& dst_indices, int64_t page_size) {
  check_indices(src_indices, dst_indices);
  check_page_size(page_size, src_indices.numel());
  SGL_CHECK_VALUE(dst_layers.size() == src_layers.size(), "dst_layers must have as many tensors as src_layers (",
                    src_layers.size(), "), got ", dst_layers.size());
  KVTransferJob job = job_with_indices(src_indices, dst_indices);
  job.fill_gpu = true;
  // Consecutive pools with the same row size share a launch, up to the
  // inline table's capacity.
  KVLaunch cur;
  int64_t count = 0;
  auto flush = [&]() {
    if (count == 0) return;
    cur.p.num_layers = count;
    job.launches.push_back(cur);
    count = 0;
  };
  for (size_t i = 0; i < src_layers.size(); ++i) {
    const std::string sn = item_name("src_layers", i), dn = item_name("dst_layers", i);
    const Tensor &s = src_layers[i], &d = dst_layers[i];
    check_pool(s, sn);
    check_pool(d, dn);
    const int64_t item = row_bytes(s);
    SGL_CHECK_VALUE(row_bytes(d) == item, dn, " must have rows of ", item, " bytes (as ", sn, "), got ", row_bytes(d),
                      " (shape ", d.sizes(), ", ", d.scalar_type(), ")");
    job.tensors.emplace_back(sn, s);
    job.tensors.emplace_back(dn, d);
    if (item == 0) continue;  // empty pools: nothing can be copied
    if (count > 0 && (cur.p.item_size != item || count == kKVInlineTable)) flush();
    if (count == 0) {
      cur = KVLaunch{};
      cur.p = base_params(src_indices, dst_indices, item);
      cur.p.num_kv = 1;
      cur.p.index_run = page_size;
      cur.p.src = cur.p.dst = kv_layer_first_side(nullptr, nullptr, item);
      cur.p.src.inline_table = cur.p.dst.inline_table = true;
    }
    cur.table.src[count] = reinterpret_cast<int64_t>(s.data_ptr());
    cur.table.dst[count] = reinterpret_cast<int64_t>(d.data_ptr());
    cur.src_capacity = min_capacity(cur.src_capacity, s.size(0));
    cur.dst_capacity = min_capacity(cur.dst_capacity, d.size(0));
    ++count;
  }
  flush();
  return job;
}

KVTransferJob make_kv_direct_pf_job(const std::vector<Tensor>& src, const std::vector<Tensor>& dst,
                                    const Tensor& src_indices, const Tensor& dst_indices, int64_t layer_id,
                                    int64_t page_size, bool pf_to_lf) {
  check_indices(src_indices, dst_indices);
  check_page_size(page_size, src_indices.numel());
  const std::vector<Tensor>& pf = pf_to_lf ? src : dst;
  const std::vector<Tensor>& lf = pf_to_lf ? dst : src;
  const char* pf_list = pf_to_lf ? "src_ptrs" : "dst_ptrs";
  const char* lf_list = pf_to_lf ? "dst_ptrs" : "src_ptrs";
  const int64_t num_kv = static_cast<int64_t>(pf.size());
  SGL_CHECK_VALUE(num_kv == 1 || num_kv == 2, pf_list, " must hold 2 page-first pools (K, V) or 1 (MLA), got ",
                    num_kv);
  SGL_CHECK_VALUE(lf.size() % pf.size() == 0 && !lf.empty(), lf_list, " must hold a multiple of ", num_kv,
                    " layer pools (as many per layer as ", pf_list, " has pools), got ", lf.size());
  // pf_to_lf moves one layer (layer_id); lf_to_pf moves layers [0, L).
  const int64_t num_layers = static_cast<int64_t>(lf.size()) / num_kv;
  SGL_CHECK_VALUE(!pf_to_lf || num_layers == 1, lf_list, " must hold one layer pool per pool of ", pf_list, " (",
                    num_kv, "), got ", lf.size());
  KVTransferJob job = job_with_indices(src_indices, dst_indices);
  job.fill_gpu = true;

  // Upstream's page-first pools: [pages, layers, page_size, ...], K and V
  // (or the MLA latent) each; item = the bytes of one token of one layer.
  int64_t item = -1, pf_layers = 0, pf_pages = -1;
  void* pf_base[2] = {nullptr, nullptr};
  for (int64_t kv = 0; kv < num_kv; ++kv) {
    const Tensor& t = pf[kv];
    const std::string name = item_name(pf_list, kv);
    check_pool(t, name);
    SGL_CHECK_VALUE(t.dim() >= 3 && t.size(2) == page_size, name,
                      " must be a page-first pool [pages, layers, page_size, ...] with page_size (", page_size,
                      ") tokens in dim 2, got shape ", t.sizes());
    const int64_t slots = t.size(0) * t.size(1) * t.size(2);
    const int64_t it = slots == 0 ? 0 : nbytes_of(t) / slots;
    SGL_CHECK_VALUE(item < 0 || it == item, name, " must have items of ", item, " bytes (as ", pf_list,
                      "[0]), got ", it);
    SGL_CHECK_VALUE(kv == 0 || t.size(1) == pf_layers, name, " must have ", pf_layers, " layers (as ", pf_list,
                      "[0]), got ", t.size(1));
    item = it;
    pf_layers = t.size(1);
    pf_base[kv] = t.data_ptr();
    pf_pages = pf_pages < 0 ? t.size(0) : std::min(pf_pages, t.size(0));
    job.tensors.emplace_back(name, t);
  }
  const int64_t first_layer = pf_to_lf ? layer_id : 0;
  SGL_CHECK_VALUE(first_layer >= 0 && first_layer + num_layers <= pf_layers, pf_to_lf ? "layer_id" : lf_list,
                    pf_to_lf ? " must be in [0, layers of the page-first pool)" : " holds more layers than the "
                                                                                  "page-first pools",
                    " (", pf_layers, "), got ", pf_to_lf ? layer_id : num_layers);
  int64_t lf_capacity = kUnknown;
  for (size_t i = 0; i < lf.size(); ++i) {
    const std::string name = item_name(lf_list, i);
    check_pool(lf[i], name);
    SGL_CHECK_VALUE(row_bytes(lf[i]) == item, name, " must have rows of ", item,
                      " bytes (an item of the page-first pool), got ", row_bytes(lf[i]), " (shape ", lf[i].sizes(),
                      ", ", lf[i].scalar_type(), ")");
    lf_capacity = min_capacity(lf_capacity, lf[i].size(0));
    job.tensors.emplace_back(name, lf[i]);
  }
  if (item == 0) return job;

  // Layers per launch: the lf side's per-layer bases travel inline.
  const int64_t chunk = pf_to_lf ? 1 : kKVInlineTable / num_kv;
  for (int64_t l0 = 0; l0 < num_layers; l0 += chunk) {
    const int64_t count = std::min(chunk, num_layers - l0);
    KVLaunch launch;
    launch.p = base_params(src_indices, dst_indices, item);
    launch.p.num_kv = num_kv;
    launch.p.num_layers = count;
    launch.p.index_run = page_size;
    KVSide& pf_side = pf_to_lf ? launch.p.src : launch.p.dst;
    KVSide& lf_side = pf_to_lf ? launch.p.dst : launch.p.src;
    // A run's first index names the page-first pool's page index / page_size
    // (KVSide::page_runs), as upstream.
    pf_side = kv_page_first_direct_side(pf_base[0], pf_base[1], item, pf_layers, page_size, first_layer + l0);
    // host stays false: the direct variants take two blocks an SM, whose plain
    // walk reads and writes scattered host rows at 0.92-0.95 x cudaMemcpyAsync
    // (docs/perf/kvcacheio.md); the sorted walk was measured for <= 4 blocks.
    lf_side = kv_layer_first_side(nullptr, nullptr, item);
    if (pf_to_lf) {
      for (int64_t kv = 0; kv < num_kv; ++kv) lf_side.base[kv] = lf[kv].data_ptr();
    } else {
      lf_side.inline_table = true;
      for (int64_t kv = 0; kv < num_kv; ++kv)
        for (int64_t l = 0; l < count; ++l)
          launch.table.src[kv * count + l] = reinterpret_cast<int64_t>(lf[kv * num_layers + l0 + l].data_ptr());
    }
    const int64_t pf_capacity = capacity_of(pf_side, pf_pages * pf_side.page_stride, item, 1, count);
    launch.src_capacity = pf_to_lf ? pf_capacity : lf_capacity;
    launch.dst_capacity = pf_to_lf ? lf_capacity : pf_capacity;
    job.launches.push_back(launch);
  }
  return job;
}

}  // namespace sgl_kernel
