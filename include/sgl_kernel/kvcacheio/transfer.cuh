// KV-cache transfer kernel. A warp moves one item (head-split: all its head
// pieces together) with the widest access that the two addresses and the
// piece size allow; warps stride over the items, so any grid size is
// correct and the caller's block_quota alone sets how much of the GPU the
// copy takes. The width is chosen per piece at run time because per-layer
// bases may sit in a device array that the host cannot read.
#pragma once

#include <cstdint>
#include <type_traits>

#include "sgl_kernel/common/bulk_copy.cuh"
#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/kvcacheio/transfer.h"

namespace sgl_kernel {
namespace kvio_detail {

struct NoTable {};

// Over PCIe a load takes microseconds: each lane issues kUnroll loads before
// its first store so a few warps keep enough bytes in flight (2: a 1024-byte
// item is one pass of the warp, and more spills at the 1024-thread bound).
constexpr int kUnroll = 2;

// G items of the same shape, item g as `pieces` runs of `piece` bytes, run c
// at src[g] + c * src_stride and dst[g] + c * dst_stride; items g >= count
// are skipped. Each item's runs are walked as one index space so the loads of
// all pieces (ph: all heads) of all G items are in flight together.
template <int kBytes, int G>
SGL_DEVICE void warp_copy(char* const (&dst)[G], const char* const (&src)[G], int count, int64_t piece,
                          int64_t pieces, int64_t dst_stride, int64_t src_stride, int lane) {
  using W = typename WordOf<kBytes>::type;
  // 32-bit index math: an item is far below 2^31 bytes (the launcher checks).
  const int per_piece = static_cast<int>(piece / kBytes);
  const int n = per_piece * static_cast<int>(pieces);
  for (int base = 0; base < n; base += 32 * kUnroll) {
    W r[G][kUnroll];
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int e = base + lane + 32 * u;
        if (g < count && e < n) {
          const int c = pieces == 1 ? 0 : e / per_piece;
          const int k = e - c * per_piece;
          r[g][u] = *reinterpret_cast<const W*>(src[g] + c * src_stride + static_cast<int64_t>(k) * kBytes);
        }
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int e = base + lane + 32 * u;
        if (g < count && e < n) {
          const int c = pieces == 1 ? 0 : e / per_piece;
          const int k = e - c * per_piece;
          *reinterpret_cast<W*>(dst[g] + c * dst_stride + static_cast<int64_t>(k) * kBytes) = r[g][u];
        }
      }
    }
  }
}

// The widest word that every address, the piece size and the strides allow.
template <int G>
SGL_DEVICE void warp_copy_any(char* const (&dst)[G], const char* const (&src)[G], int count, int64_t piece,
                              int64_t pieces, int64_t dst_stride, int64_t src_stride, int lane) {
  uint64_t a = static_cast<uint64_t>(piece) | static_cast<uint64_t>(pieces > 1 ? dst_stride | src_stride : 0);
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < count) a |= reinterpret_cast<uint64_t>(dst[g]) | reinterpret_cast<uint64_t>(src[g]);
  }
  if (a % 16 == 0) {
    warp_copy<16, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else if (a % 8 == 0) {
    warp_copy<8, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else if (a % 4 == 0) {
    warp_copy<4, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else if (a % 2 == 0) {
    warp_copy<2, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else {
    warp_copy<1, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  }
}

// Bytes between consecutive head pieces of an item: contiguous except in ph.
SGL_DEVICE int64_t piece_stride(const KVSide& s, int64_t piece) {
  return s.layout == KVLayout::kPageHead ? s.page_size * piece : piece;
}

// Address of piece `c` of item (token, layer) of one side; the layout
// formulas are spelled out in transfer.h.
template <class Table>
SGL_DEVICE char* piece_addr(const KVSide& s, const int64_t* table, int64_t kv, int64_t layer, int64_t token,
                            int64_t c, const KVTransferParams& p) {
  const int64_t piece = p.item_size / p.head_num;
  switch (s.layout) {
    case KVLayout::kLayerFirst: {
      char* base;
      if constexpr (!std::is_same_v<Table, NoTable>) {
        if (s.inline_table) {
          base = reinterpret_cast<char*>(table[kv * p.num_layers + layer]);
          return base + token * p.item_size + c * piece;
        }
      }
      base = s.layer_ptrs[kv] ? reinterpret_cast<char*>(s.layer_ptrs[kv][layer]) : static_cast<char*>(s.base[kv]);
      return base + token * p.item_size + c * piece;
    }
    case KVLayout::kPageFirst:
      return static_cast<char*>(s.base[kv]) + token * s.layout_dim + (s.layer_offset + layer) * p.item_size +
             c * piece;
    default: {
      const int64_t ps = s.page_size;
      const int64_t page = token / ps;
      return static_cast<char*>(s.base[kv]) + page * ps * s.layout_dim + (s.layer_offset + layer) * ps * p.item_size +
             c * ps * piece + (token - page * ps) * piece;
    }
  }
}

// Item w of a launch as (kv, layer, index j). Items are numbered kv-major;
// within one kv the (layer, j) pairs go in groups of `run` consecutive
// indices: group by group, and inside a group layer by layer. run =
// num_indices walks layer by layer (index fastest); run = 1 walks a token's
// layers in a row (a pf pool's memory order); run = page_size walks a ph
// pool's order (a page's tokens of one layer, then the next layer).
SGL_DEVICE void item_coords(int64_t w, const KVTransferParams& p, int64_t run, int64_t& kv, int64_t& layer,
                            int64_t& j) {
  const int64_t per_kv = p.num_indices * p.num_layers;
  kv = w / per_kv;
  const int64_t rest = w - kv * per_kv;
  const int64_t full = p.num_indices / run;  // complete groups
  const int64_t span = run * p.num_layers;
  const int64_t g = rest / span;
  const int64_t size = g < full ? run : p.num_indices - full * run;  // the last group may be short
  const int64_t t = rest - g * span;
  layer = t / size;
  j = g * run + (t - layer * size);
}

template <class Table>
struct ItemAddr {
  const char* src;
  char* dst;
};

template <class Table>
SGL_DEVICE ItemAddr<Table> item_addr(int64_t w, const KVTransferParams& p, int64_t run, const int64_t* src_table,
                                     const int64_t* dst_table) {
  int64_t kv, layer, j;
  item_coords(w, p, run, kv, layer, j);
  const int64_t in_run = j % p.index_run;
  const int64_t src_tok = p.src_indices[j - in_run] + in_run;
  const int64_t dst_tok = p.dst_indices[j - in_run] + in_run;
  return {piece_addr<Table>(p.src, src_table, kv, layer, src_tok, 0, p),
          piece_addr<Table>(p.dst, dst_table, kv, layer, dst_tok, 0, p)};
}

// Up to 32 warps per block: registers capped for 1024 threads. A warp takes G
// consecutive items at a time; warps stride over the items.
template <class Table, int G>
__global__ void __launch_bounds__(1024) kv_transfer_kernel(const KVTransferParams p, const Table t, int64_t run) {
  pdl_wait();  // indices and sources may come from the previous kernel
  const int lane = threadIdx.x & 31;
  const int64_t warp = static_cast<int64_t>(blockIdx.x) * p.warps_per_block + (threadIdx.x >> 5);
  const int64_t num_warps = static_cast<int64_t>(gridDim.x) * p.warps_per_block;
  const int64_t items = p.num_kv * p.num_layers * p.num_indices;
  const int64_t piece = p.item_size / p.head_num;
  const int64_t* src_table = nullptr;
  const int64_t* dst_table = nullptr;
  if constexpr (!std::is_same_v<Table, NoTable>) {
    src_table = t.src;
    dst_table = t.dst;
  }
  for (int64_t w = warp * G; w < items; w += num_warps * G) {
    const char* s[G];
    char* d[G];
    const int count = items - w < G ? static_cast<int>(items - w) : G;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      if (g < count) {
        const ItemAddr<Table> a = item_addr<Table>(w + g, p, run, src_table, dst_table);
        s[g] = a.src;
        d[g] = a.dst;
      } else {
        s[g] = nullptr;
        d[g] = nullptr;
      }
    }
    warp_copy_any<G>(d, s, count, piece, p.head_num, piece_stride(p.dst, piece), piece_stride(p.src, piece), lane);
  }
}

// Bulk (TMA) copy. Each warp owns a ring of kStages slots of kSlot bytes in
// shared memory and walks its items as the warp copy does; its lane 0 cuts
// each piece into chunks of at most kSlot bytes, loads a chunk into the next
// slot (cp.async.bulk, completion on the slot's mbarrier) and, kStages - 2
// chunks later, stores it from the slot to its destination. Up to kStages - 2
// loads and one store are in flight per warp, with no registers holding data:
// what reads from host memory over PCIe (microseconds per round trip) need
// from the few SMs a transfer may take. Items whose addresses or pieces are
// not 16-byte multiples go through the warp copy (after the ring drains).
constexpr int kBulkStages = 8;
constexpr int kBulkSlot = 4096;
constexpr int kBulkMaxWarps = 4;  // 4 x 8 x 4 KiB = 128 KiB of shared memory per block

struct BulkRing {
  unsigned char* data;  // kBulkStages slots of kBulkSlot bytes
  uint64_t* bar;        // kBulkStages barriers
  char* dst[kBulkStages];
  uint32_t bytes[kBulkStages];
  int64_t issued = 0, consumed = 0;

  SGL_DEVICE void pop() {
    const int slot = static_cast<int>(consumed % kBulkStages);
    mbar_wait(&bar[slot], static_cast<uint32_t>((consumed / kBulkStages) & 1));
    bulk_store(dst[slot], data + slot * kBulkSlot, bytes[slot]);
    bulk_commit();
    ++consumed;
  }
  SGL_DEVICE void push(char* d, const char* s, uint32_t n) {
    while (issued - consumed >= kBulkStages - 1) pop();
    // The slot's previous chunk was stored kBulkStages chunks ago; all but
    // the newest store have finished reading their slots.
    bulk_wait_read<1>();
    const int slot = static_cast<int>(issued % kBulkStages);
    dst[slot] = d;
    bytes[slot] = n;
    bulk_load(data + slot * kBulkSlot, s, n, &bar[slot]);
    ++issued;
  }
  SGL_DEVICE void drain() {
    while (consumed < issued) pop();
  }
};

template <class Table>
__global__ void __launch_bounds__(32 * kBulkMaxWarps) kv_bulk_kernel(const KVTransferParams p, const Table t,
                                                                     int64_t run) {
  extern __shared__ __align__(128) unsigned char bulk_smem[];
  const int lane = threadIdx.x & 31;
  const int wib = threadIdx.x >> 5;
  const int wpb = blockDim.x >> 5;
  BulkRing ring;
  ring.data = bulk_smem + static_cast<size_t>(wib) * kBulkStages * kBulkSlot;
  ring.bar = reinterpret_cast<uint64_t*>(bulk_smem + static_cast<size_t>(wpb) * kBulkStages * kBulkSlot) +
             wib * kBulkStages;
  if (lane == 0) {
    for (int i = 0; i < kBulkStages; ++i) mbar_init(&ring.bar[i]);
  }
  __syncwarp();
  pdl_wait();
  const int64_t warp = static_cast<int64_t>(blockIdx.x) * wpb + wib;
  const int64_t num_warps = static_cast<int64_t>(gridDim.x) * wpb;
  const int64_t items = p.num_kv * p.num_layers * p.num_indices;
  const int64_t piece = p.item_size / p.head_num;
  const int64_t src_stride = piece_stride(p.src, piece);
  const int64_t dst_stride = piece_stride(p.dst, piece);
  const int64_t* src_table = nullptr;
  const int64_t* dst_table = nullptr;
  if constexpr (!std::is_same_v<Table, NoTable>) {
    src_table = t.src;
    dst_table = t.dst;
  }
  const bool shape_ok = piece % 16 == 0 && (p.head_num == 1 || (src_stride % 16 == 0 && dst_stride % 16 == 0));
  for (int64_t w = warp; w < items; w += num_warps) {
    const ItemAddr<Table> a = item_addr<Table>(w, p, run, src_table, dst_table);
    const bool aligned = shape_ok && (reinterpret_cast<uint64_t>(a.src) | reinterpret_cast<uint64_t>(a.dst)) % 16 == 0;
    if (aligned) {
      if (lane == 0) {
        for (int64_t c = 0; c < p.head_num; ++c) {
          for (int64_t off = 0; off < piece; off += kBulkSlot) {
            const int64_t n = piece - off < kBulkSlot ? piece - off : kBulkSlot;
            ring.push(a.dst + c * dst_stride + off, a.src + c * src_stride + off, static_cast<uint32_t>(n));
          }
        }
      }
    } else {
      if (lane == 0) ring.drain();
      __syncwarp();
      char* const d[1] = {a.dst};
      const char* const s[1] = {a.src};
      warp_copy_any<1>(d, s, 1, piece, p.head_num, dst_stride, src_stride, lane);
    }
  }
  if (lane == 0) {
    ring.drain();
    bulk_wait_all();
  }
}

inline int64_t bulk_smem_bytes(int warps) {
  return static_cast<int64_t>(warps) * kBulkStages * (kBulkSlot + static_cast<int64_t>(sizeof(uint64_t)));
}

template <class Table>
cudaError_t launch_bulk(const KVTransferParams& p, const Table& table, int64_t run, int64_t items,
                        cudaStream_t stream) {
  const int warps = p.warps_per_block < kBulkMaxWarps ? p.warps_per_block : kBulkMaxWarps;
  const int64_t smem = bulk_smem_bytes(warps);
  auto kernel = kv_bulk_kernel<Table>;
  // The shared-memory opt-in is per device; setting it twice is harmless.
  static bool opted_in[64] = {false};
  int dev = 0;
  SGL_RETURN_IF_CUDA_ERROR(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64 || !opted_in[dev]) {
    SGL_RETURN_IF_CUDA_ERROR(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  static_cast<int>(bulk_smem_bytes(kBulkMaxWarps))));
    if (dev >= 0 && dev < 64) opted_in[dev] = true;
  }
  int64_t blocks = div_up<int64_t>(items, warps);
  if (blocks > p.block_quota) blocks = p.block_quota;
  if (blocks > (int64_t{1} << 30)) blocks = int64_t{1} << 30;
  return launch_kernel(kernel, dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(32 * warps)),
                       static_cast<size_t>(smem), stream, p.pdl, p, table, run);
}

template <class Table>
cudaError_t launch_warp(const KVTransferParams& p, const Table& table, int64_t run, int64_t items, int per_warp,
                        cudaStream_t stream) {
  int64_t blocks = div_up<int64_t>(div_up<int64_t>(items, per_warp), p.warps_per_block);
  if (blocks > p.block_quota) blocks = p.block_quota;
  if (blocks > (int64_t{1} << 30)) blocks = int64_t{1} << 30;
  const dim3 grid(static_cast<unsigned>(blocks));
  const dim3 block(static_cast<unsigned>(32 * p.warps_per_block));
  switch (per_warp) {
    case 1:
      return launch_kernel(kv_transfer_kernel<Table, 1>, grid, block, 0, stream, p.pdl, p, table, run);
    case 2:
      return launch_kernel(kv_transfer_kernel<Table, 2>, grid, block, 0, stream, p.pdl, p, table, run);
    default:
      return launch_kernel(kv_transfer_kernel<Table, 4>, grid, block, 0, stream, p.pdl, p, table, run);
  }
}

// The default order: follow a page-first side's memory when several layers
// move (see item_coords).
inline int64_t order_run(const KVTransferParams& p, int order) {
  if (order == -1) {
    order = p.num_layers > 1 && (p.src.layout != KVLayout::kLayerFirst || p.dst.layout != KVLayout::kLayerFirst);
  }
  if (order == 0 || p.num_indices <= 1) return p.num_indices > 0 ? p.num_indices : 1;
  if (p.src.layout == KVLayout::kPageHead) return p.src.page_size;
  if (p.dst.layout == KVLayout::kPageHead) return p.dst.page_size;
  return 1;
}

inline cudaError_t run_kv_transfer(const KVTransferParams& p, const KVInlineTable* table, const KVTransferConfig& cfg,
                                   cudaStream_t stream) {
  const int64_t items = p.num_kv * p.num_layers * p.num_indices;
  if (items <= 0) return cudaSuccess;
  if (p.warps_per_block < 1 || p.warps_per_block > 32 || p.block_quota < 1 || p.head_num < 1 ||
      p.index_run < 1 || p.item_size % p.head_num != 0 || p.item_size >= (int64_t{1} << 31))
    return cudaErrorInvalidValue;
  if (cfg.items_per_warp != 0 && cfg.items_per_warp != 1 && cfg.items_per_warp != 2 && cfg.items_per_warp != 4)
    return cudaErrorInvalidValue;
  if (cfg.order < -1 || cfg.order > 1 || cfg.bulk < -1 || cfg.bulk > 1) return cudaErrorInvalidValue;
  if ((p.src.layout == KVLayout::kPageHead && p.src.page_size < 1) ||
      (p.dst.layout == KVLayout::kPageHead && p.dst.page_size < 1))
    return cudaErrorInvalidValue;
  const bool needs_table = p.src.inline_table || p.dst.inline_table;
  if (needs_table && table == nullptr) return cudaErrorInvalidValue;
  const int64_t run = order_run(p, cfg.order);
  const int per_warp = cfg.items_per_warp == 0 ? 1 : cfg.items_per_warp;
  if (cfg.bulk == 1) {
    if (compute_capability_major() < 9) return cudaErrorInvalidValue;
    if (needs_table) return launch_bulk(p, *table, run, items, stream);
    return launch_bulk(p, NoTable{}, run, items, stream);
  }
  if (needs_table) return launch_warp(p, *table, run, items, per_warp, stream);
  return launch_warp(p, NoTable{}, run, items, per_warp, stream);
}

}  // namespace kvio_detail
}  // namespace sgl_kernel
