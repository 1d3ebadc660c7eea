// KV-cache transfer kernels. A warp moves two items at a time (head-split:
// all their head pieces together) with the widest access that the two
// addresses and the piece size allow. The plain walk strides warps over the
// items; the sorted walk (transfers to or from pinned host memory) has each
// block copy chunks of items in ascending host-address order. Any grid size
// is correct, so the caller's block_quota alone sets how much of the GPU the
// copy takes. The width is chosen per piece at run time because per-layer
// bases may sit in a device array that the host cannot read.
#pragma once

#include <cstdint>
#include <type_traits>

#include "sgl_kernel/common/check.h"
#include "sgl_kernel/common/launch.cuh"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/kvcacheio/transfer.h"

namespace sgl_kernel {
namespace kvio_detail {

struct NoTable {};

// Over PCIe a load takes microseconds: each lane issues kUnroll loads of each
// of a warp's items before its first store, so a few warps keep enough bytes
// in flight (a 1024-byte item is one pass of the warp).
constexpr int kUnroll = 2;
// Items a warp copies together by default. Measured on an H100
// (benchmarks/cpp/kvio_sweep.cu, 16384 tokens x 1024-byte items): 2 instead
// of 1 took pinned host -> device with 4 blocks from 0.51 to 0.91 x
// cudaMemcpyAsync, device -> host from 0.87 to 0.91, device -> device from
// 0.78-0.83 to 0.87-0.93 x cudaMemcpyAsync; 4 spilled registers at the
// 1024-thread bound and was slower than 1 (0.58-0.64). A TMA bulk-copy walk
// (cp.async.bulk through a shared-memory ring, one issuing lane per warp, up
// to 4 warps a block) measured 0.05-0.24 and was dropped. So was a walk that
// queued 3, 4 or 6 KB per warp through a shared-memory ring with cp.async
// (no registers held; session 6): host -> device with 4 blocks 0.88 / 0.80 /
// 0.67 against 0.84 for this walk, with scattered host rows 0.61-0.62 against
// 0.60, device -> device 0.73-0.88 against 0.88, device -> host equal: more
// bytes in flight do not lift the scattered host reads, which stay near 0.6.
constexpr int kItemsPerWarp = 2;
// Items a block sorts at a time in the sorted walk (kv_transfer_sorted_kernel),
// and the fewest per block for which the default takes it. H100, kvio_sweep
// (session 8), 4 blocks of 32 warps, chunks of 512 / 1024 / 2048:
// host->device with scattered 1-token rows 0.94 / 0.94 / 0.91 (pf) and
// 0.93 / 0.92 / 0.91 (ph) x cudaMemcpyAsync (plain walk 0.69-0.71), rows in
// token order or 16-token pages 0.93-0.94 / 0.93 / 0.91 (plain 0.95),
// device->host 0.96 / 0.96 / 0.95-0.96 (plain 0.91-0.94). (Session 7, with a
// block barrier after each chunk, 1024 was best: a smaller chunk meant more
// barriers.)
constexpr int kSortChunk = 512;
constexpr int kMinSortChunk = 256;

// 16-byte words are loaded and stored with the streaming hint (.cs: evict
// first; a transfer touches each byte once). H100, kvio_sweep against plain
// accesses in one call (session 9, docs/perf/kvcacheio.md), medians of three
// runs: device->device one layer 28.2 -> 27.4 us (2.8 %), all layers 0.7-1.2
// %; single runs: one layer of 65536 tokens 103.6 -> 101.0 us, host rows
// unchanged (within the drift of their cudaMemcpyAsync reference). The hint
// on loads alone gained nothing. (benchmarks/cpp/copy_probe.cu, 264 x 512
// threads: a plain copy gains the same way, 0.831 -> 0.858 of the 2 GiB
// copy rate at 32 MB, 0.896 -> 0.900 at 128 MB.) Not Vec<uint8_t, N>'s
// load_stream / store_stream, which do the same: with byte-element words the
// walks spilled 2-3 times the bytes (ptxas, sm_90a).
template <int kBytes>
SGL_DEVICE typename WordOf<kBytes>::type load_word(const char* p) {
  using W = typename WordOf<kBytes>::type;
  if constexpr (kBytes == 16) {
    return __ldcs(reinterpret_cast<const W*>(p));
  } else {
    return *reinterpret_cast<const W*>(p);
  }
}

template <int kBytes>
SGL_DEVICE void store_word(char* p, typename WordOf<kBytes>::type v) {
  using W = typename WordOf<kBytes>::type;
  if constexpr (kBytes == 16) {
    __stcs(reinterpret_cast<W*>(p), v);
  } else {
    *reinterpret_cast<W*>(p) = v;
  }
}

// G items of the same shape, item g as `pieces` runs of `piece` bytes, run c
// at src[g] + c * src_stride and dst[g] + c * dst_stride; items g >= count
// are skipped. Each item's runs are walked as one index space so the loads of
// all pieces (ph: all heads) of all G items are in flight together.
template <int kBytes, int G, int U = kUnroll>
SGL_DEVICE void warp_copy(char* const (&dst)[G], const char* const (&src)[G], int count, int64_t piece,
                          int64_t pieces, int64_t dst_stride, int64_t src_stride, int lane) {
  using W = typename WordOf<kBytes>::type;
  // 32-bit index math: an item is far below 2^31 bytes (the launcher checks).
  const int per_piece = static_cast<int>(piece / kBytes);
  const int n = per_piece * static_cast<int>(pieces);
  // Byte offset of word e of an item on a side whose pieces are `stride` apart.
  auto at = [&](int e, int64_t stride) {
    const int c = pieces == 1 ? 0 : e / per_piece;
    return c * stride + static_cast<int64_t>(e - c * per_piece) * kBytes;
  };
  for (int base = 0; base < n; base += 32 * U) {
    // Two loops on purpose: every load of the pass is issued before any store.
    W r[G][U];
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int e = base + lane + 32 * u;
        if (g < count && e < n) r[g][u] = load_word<kBytes>(src[g] + at(e, src_stride));
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int e = base + lane + 32 * u;
        if (g < count && e < n) store_word<kBytes>(dst[g] + at(e, dst_stride), r[g][u]);
      }
    }
  }
}

// The narrow words (8, 4, 2 or 1 bytes: misaligned bases or odd piece
// sizes). The sorted walk calls them out of line: inlined beside its 16-byte
// path they pushed it past 64 registers into 184 bytes of spills a thread,
// which 1024 threads an SM with its shared-memory buffers push out of L1
// (56-60 out of line, session 8). The plain walk keeps them inline: out of line it spilled
// less (64 -> 32 bytes) but measured 2-6 % slower on all-layer device
// transfers (H100, session 7). The addresses come by value: an array by
// reference would go through the stack.
template <int G>
SGL_DEVICE void warp_copy_narrow_inline(char* const (&dst)[G], const char* const (&src)[G], int count, int64_t piece,
                                        int64_t pieces, int64_t dst_stride, int64_t src_stride, int lane,
                                        unsigned a) {
  if (a % 8 == 0) {
    warp_copy<8, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else if (a % 4 == 0) {
    warp_copy<4, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else if (a % 2 == 0) {
    warp_copy<2, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else {
    warp_copy<1, G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  }
}

template <int G>
__device__ __noinline__ void warp_copy_narrow(char* d0, char* d1, const char* s0, const char* s1, int count,
                                              int64_t piece, int64_t pieces, int64_t dst_stride, int64_t src_stride,
                                              int lane, unsigned a) {
  char* const d[2] = {d0, d1};
  const char* const s[2] = {s0, s1};
  warp_copy_narrow_inline<G>(*reinterpret_cast<char* const(*)[G]>(&d), *reinterpret_cast<const char* const(*)[G]>(&s),
                             count, piece, pieces, dst_stride, src_stride, lane, a);
}

// The widest word that every address, the piece size and the strides allow.
template <int G, bool kNarrowOutOfLine = false, int U = kUnroll>
SGL_DEVICE void warp_copy_any(char* const (&dst)[G], const char* const (&src)[G], int count, int64_t piece,
                              int64_t pieces, int64_t dst_stride, int64_t src_stride, int lane) {
  uint64_t a = static_cast<uint64_t>(piece) | static_cast<uint64_t>(pieces > 1 ? dst_stride | src_stride : 0);
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < count) a |= reinterpret_cast<uint64_t>(dst[g]) | reinterpret_cast<uint64_t>(src[g]);
  }
  if (a % 16 == 0) {
    warp_copy<16, G, U>(dst, src, count, piece, pieces, dst_stride, src_stride, lane);
  } else if constexpr (kNarrowOutOfLine) {
    warp_copy_narrow<G>(dst[0], dst[G - 1], src[0], src[G - 1], count, piece, pieces, dst_stride, src_stride, lane,
                        static_cast<unsigned>(a % 16));
  } else {
    warp_copy_narrow_inline<G>(dst, src, count, piece, pieces, dst_stride, src_stride, lane,
                               static_cast<unsigned>(a % 16));
  }
}

// Bytes between consecutive head pieces of an item (run_kv_transfer fills
// KVSide::head_stride in for contiguous pieces).
SGL_DEVICE int64_t piece_stride(const KVSide& s) { return s.head_stride; }

// Address of the first piece of item (layer, entry) of one side (the others
// follow piece_stride apart: warp_copy): the formula of transfer.h (KVSide),
// the entry given as its run's first index `idx` and its place `k` in the
// run.
template <class Table>
SGL_DEVICE char* piece_addr(const KVSide& s, const int64_t* table, int64_t kv, int64_t layer, int64_t idx, int64_t k,
                            const KVTransferParams& p) {
  char* base = nullptr;
  bool from_table = false;
  if constexpr (!std::is_same_v<Table, NoTable>) {
    from_table = s.inline_table;
    if (from_table) base = reinterpret_cast<char*>(table[kv * p.num_layers + layer]);
  }
  if (!from_table) {
    base = s.layer_ptrs[kv] ? reinterpret_cast<char*>(s.layer_ptrs[kv][layer])
                            : static_cast<char*>(s.base[kv]) + (s.layer_offset + layer) * s.layer_stride;
  }
  const int64_t ps = s.page_size;
  if (ps == 1) return base + (idx + k) * s.page_stride;
  int64_t page, slot;
  if (s.page_runs) {
    page = idx / ps;
    slot = k;
  } else {
    page = (idx + k) / ps;
    slot = idx + k - page * ps;
  }
  return base + page * s.page_stride + slot * s.slot_stride;
}

// Item w of a launch as (kv, layer, index j). Items are numbered kv-major;
// within one kv the (layer, j) pairs go in groups of `run` consecutive
// indices: group by group, and inside a group layer by layer. run =
// num_indices walks layer by layer (index fastest); run = 1 walks a token's
// layers in a row (the memory order of pf pools, and of ph pools head by
// head); run = page_size walks a page-first pool's order (a page's tokens of
// one layer, then the next layer).
template <class I>
SGL_DEVICE void item_coords_in(I w, I n, I nl, I run, int64_t& kv, int64_t& layer, int64_t& j) {
  const I per_kv = n * nl;
  const I k = w / per_kv;
  const I rest = w - k * per_kv;
  kv = k;
  if (nl == 1) {  // one layer: the index is the rest
    layer = 0;
    j = rest;
    return;
  }
  const I full = n / run;  // complete groups
  const I span = run * nl;
  const I g = rest / span;
  const I size = g < full ? run : n - full * run;  // the last group may be short
  const I t = rest - g * span;
  const I l = t / size;
  layer = l;
  j = static_cast<int64_t>(g) * run + (t - l * size);
}

SGL_DEVICE void item_coords(int64_t w, const KVTransferParams& p, int64_t run, int64_t& kv, int64_t& layer,
                            int64_t& j) {
  // In 32 bits when the launch's item count fits (the usual case: a 64-bit
  // division is several times the instructions of a 32-bit one).
  if (p.num_kv * p.num_layers * p.num_indices < (int64_t{1} << 31)) {
    item_coords_in<uint32_t>(static_cast<uint32_t>(w), static_cast<uint32_t>(p.num_indices),
                             static_cast<uint32_t>(p.num_layers), static_cast<uint32_t>(run), kv, layer, j);
  } else {
    item_coords_in<int64_t>(w, p.num_indices, p.num_layers, run, kv, layer, j);
  }
}

struct ItemAddr {
  const char* src;
  char* dst;
};

template <class Table>
SGL_DEVICE ItemAddr item_addr(int64_t w, const KVTransferParams& p, int64_t run, const int64_t* src_table,
                                     const int64_t* dst_table) {
  int64_t kv, layer, j;
  item_coords(w, p, run, kv, layer, j);
  const int64_t in_run = p.index_run == 1 ? 0 : j % p.index_run;
  const int64_t src_idx = p.src_indices[j - in_run];
  const int64_t dst_idx = p.dst_indices[j - in_run];
  return {piece_addr<Table>(p.src, src_table, kv, layer, src_idx, in_run, p),
          piece_addr<Table>(p.dst, dst_table, kv, layer, dst_idx, in_run, p)};
}

// What both walks read of a launch: its item count, the piece size and the
// per-layer bases carried inline (Table).
struct Walk {
  int64_t items, piece;
  const int64_t* src_table;
  const int64_t* dst_table;
};

template <class Table>
SGL_DEVICE Walk walk_of(const KVTransferParams& p, const Table& t) {
  Walk w;
  w.items = p.num_kv * p.num_layers * p.num_indices;
  w.piece = p.item_size / p.head_num;
  w.src_table = nullptr;
  w.dst_table = nullptr;
  if constexpr (!std::is_same_v<Table, NoTable>) {
    w.src_table = t.src;
    w.dst_table = t.dst;
  }
  return w;
}

// Up to 32 warps per block: registers capped for 1024 threads. A warp takes G
// consecutive items at a time; warps stride over the items. (G = 2 spills a
// few registers to L1-resident local memory at this bound; it still measured
// fastest.)
template <class Table, int G, int U>
__global__ void __launch_bounds__(1024) kv_transfer_kernel(const KVTransferParams p, const Table t, int64_t run) {
  pdl_wait();  // indices and sources may come from the previous kernel
  // No pdl_launch_dependents() here (the other families' kernels have one):
  // with it, back-to-back direct host->device transfers (10 a CUDA graph, all
  // SMs) fell from 0.95 to 0.66-0.70 x cudaMemcpyAsync, and one-layer
  // device->device replays in a graph did not gain (H100, session 8).
  const int lane = threadIdx.x & 31;
  const int64_t warp = static_cast<int64_t>(blockIdx.x) * p.warps_per_block + (threadIdx.x >> 5);
  const int64_t num_warps = static_cast<int64_t>(gridDim.x) * p.warps_per_block;
  const Walk k = walk_of(p, t);
  const int64_t items = k.items;
  for (int64_t w = warp * G; w < items; w += num_warps * G) {
    const char* s[G];
    char* d[G];
    const int count = items - w < G ? static_cast<int>(items - w) : G;
    // Lane g works out item g's addresses and hands them to the warp: the
    // index math is issued once per warp, not once per item (H100, session 6:
    // one-layer device->device 0.71-0.79 -> 0.79-0.84 x copy bandwidth,
    // pinned host->device with 16/64-token pages 0.77-0.91 -> 0.88-0.92 x
    // cudaMemcpyAsync; docs/perf/kvcacheio.md). Working out 16 passes'
    // addresses at once (all lanes, one index load each) spilled 232 bytes a
    // thread and was 8-17 % slower on device->device (session 9).
    ItemAddr mine{nullptr, nullptr};
    if ((lane % G) < count) mine = item_addr<Table>(w + lane % G, p, run, k.src_table, k.dst_table);
    const unsigned long long my_src = reinterpret_cast<unsigned long long>(mine.src);
    const unsigned long long my_dst = reinterpret_cast<unsigned long long>(mine.dst);
#pragma unroll
    for (int g = 0; g < G; ++g) {
      s[g] = reinterpret_cast<const char*>(__shfl_sync(0xffffffffu, my_src, g));
      d[g] = reinterpret_cast<char*>(__shfl_sync(0xffffffffu, my_dst, g));
    }
    warp_copy_any<G, false, U>(d, s, count, k.piece, p.head_num, piece_stride(p.dst), piece_stride(p.src), lane);
  }
}

// The row walk: transfers between device buffers whose items are whole rows
// of 16-byte words at a token stride on both sides (lf, pf, page-first
// pages of one token; rows_of says which launches qualify). Item (kv, layer,
// token) of a side starts at its layer base + token * stride, so a word's
// address is an index load and a multiply away. The launch's words
// (kv-major, then layer, then index, then word) are laid end to end, and
// thread t copies words t, t + T, ... (T: the grid's threads x kWords),
// kWords of them at a time, loads first. One word a thread and a block per
// 256 words when the quota allows (no loop), as the gather that
// torch.compile writes for dst[di] = src[si].
// Why a walk of its own: the warp walk works out two items' addresses a
// warp and copies them in passes of 64 words an item, so it keeps few bytes
// in flight per register (64 registers a thread: 32 warps an SM) and a
// 1152-byte MLA row (72 words) takes a second pass with 8 of 64 slots busy.
// This walk takes 26-32 registers (64 warps an SM).
// H100, kvio_sweep (session 10): a plain row gather of this shape ran one
// layer of 16384 tokens at 0.874 x copy bandwidth (K/V) against 0.819 for
// the warp walk, MLA rows 0.786 against 0.707-0.721, and at 262144 tokens
// 0.954 / 0.898 against 0.916 / 0.860. H200 (session 11, kvio_sweep, one
// layer of 16384 tokens, PDL as the torch ops launch): 19.1-19.9 us against
// 20.4-20.6 us for the warp walk, 0.80-0.86 x the 2 GiB copy rate, where
// cudaMemcpyAsync of the same 32 MB reaches 0.84. A generic version that
// worked out every word's address through item_addr (any layout, 64-bit
// divisions) was slower than the warp walk everywhere (0.72 against 0.82 at
// 16384 tokens, session 10): so the layer walk below keeps to these layouts
// and divides by launch constants with a multiply (DivU32).

// n / d for 32-bit n and a divisor fixed per launch, as a multiply-high, an
// add and two shifts (the round-up method: m = floor(2^32 (2^l - d) / d) + 1,
// l = ceil(log2 d); exact for every n < 2^32 and 1 <= d < 2^32).
struct DivU32 {
  uint32_t m;
  uint32_t s1, s2;  // min(l, 1), max(l - 1, 0)
  SGL_HOST_DEVICE uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t t = __umulhi(m, n);
#else
    const uint32_t t = static_cast<uint32_t>((static_cast<uint64_t>(m) * n) >> 32);
#endif
    return (t + ((n - t) >> s1)) >> s2;
  }
};

inline DivU32 make_div(uint32_t d) {
  uint32_t l = 0;
  while (l < 32 && (uint64_t{1} << l) < d) ++l;
  DivU32 r;
  r.m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << l) - d)) / d + 1);
  r.s1 = l < 1 ? l : 1;
  r.s2 = l > 1 ? l - 1 : 0;
  return r;
}

// One side of the row walk. Layer l of kv starts at base[kv] + l *
// layer_step (one-buffer pools: pf, ph, page-first), at the address
// layer_ptrs[kv][l] (lf buffers given as a device array of addresses), or at
// the launch's inline table entry kv * num_layers + l (lf buffers of the
// pointer-list variants, `table`). Contiguous rows (1-token pages, pieces
// contiguous): token t's row starts t * stride in. Split rows (the split
// layer walk, KVRows::split) put head piece h of token t at (t / page) *
// page_stride + (t % page) * stride + h * head_stride (page 1: t * stride +
// h * head_stride), with t / page and t % page as the run's first index /
// page and its place in the run where page_runs is set (KVSide::page_runs).
struct KVRowSide {
  const char* base[2];
  const int64_t* layer_ptrs[2];
  int64_t stride;      // bytes between consecutive tokens' rows (page > 1: of one page)
  int64_t layer_step;  // bytes between a token's rows of consecutive layers (base sides)
  uint32_t page;       // tokens a page
  DivU32 by_page;
  int64_t page_stride, head_stride;  // split walk only (head_stride: the piece size where pieces are contiguous)
  bool page_runs;
  bool table;          // per-layer bases from the inline table (the layer walk)
};

struct KVRows {
  KVRowSide src, dst;
  const int64_t* src_indices;
  const int64_t* dst_indices;
  int64_t num_indices;
  int64_t num_layers;
  int64_t index_run;  // KVTransferParams::index_run
  int64_t words;      // 16-byte words a row
  int64_t total;      // words of the launch: num_kv * num_layers * num_indices * words
  // Several layers, per-layer address arrays or tables, or split rows:
  // kv_rows_layers_kernel with these divisors (32-bit word numbers; rows_of
  // checks).
  bool layered;
  // The layer walk's word order: kv, then layer, then index (false), or kv,
  // then index, then layer (true: a token's layers in a row).
  bool token_major;
  // A side has pages of several tokens or head pieces apart (ph; page-first
  // pages): the general address of KVRowSide, words split by head.
  bool split;
  uint32_t head_words;   // 16-byte words a head piece (split)
  DivU32 by_words, by_indices, by_layers, by_run, by_head_words;
};

// Selects, not side.base[kv]: an indexed parameter array goes through the
// stack.
template <class C>
SGL_DEVICE C* row_base(const KVRowSide& s, bool kv, uint32_t layer) {
  const int64_t* ptrs = kv ? s.layer_ptrs[1] : s.layer_ptrs[0];
  if (ptrs != nullptr) return reinterpret_cast<C*>(__ldg(ptrs + layer));
  const char* b = kv ? s.base[1] : s.base[0];
  return const_cast<C*>(b) + static_cast<int64_t>(layer) * s.layer_step;
}

// The layer walk's layer base: row_base, or the side's inline table entry.
template <class C, class Table>
SGL_DEVICE C* row_layer_base(const KVRowSide& s, const int64_t* tbl, bool kv, uint32_t layer, uint32_t nl) {
  if constexpr (!std::is_same_v<Table, NoTable>) {
    if (s.table) return reinterpret_cast<C*>(tbl[(kv ? nl : 0u) + layer]);
  }
  return row_base<C>(s, kv, layer);
}

// Bytes from a layer base to word w (word wh of head piece h) of the row
// of entry (idx, k): its run's first index and its place in the run (k = 0
// without runs); kSplit: the launch has a side with split rows.
template <bool kSplit>
SGL_DEVICE int64_t row_offset(const KVRowSide& s, int64_t idx, uint32_t k, uint32_t w, uint32_t h, uint32_t wh) {
  if (!kSplit) return (idx + k) * s.stride + static_cast<int64_t>(w) * 16;
  // page_runs: idx names the page, k the slot (page 1: k is 0, the runs
  // being one page long).
  const int64_t t = s.page_runs ? idx : idx + k;
  int64_t q = t, slot = 0;
  if (s.page != 1) {
    q = static_cast<uint64_t>(t) < (uint64_t{1} << 32) ? s.by_page.div(static_cast<uint32_t>(t)) : t / s.page;
    slot = s.page_runs ? static_cast<int64_t>(k) : t - q * s.page;
  }
  return q * s.page_stride + slot * s.stride + static_cast<int64_t>(h) * s.head_stride +
         static_cast<int64_t>(wh) * 16;
}

template <class I, int kWords>
__global__ void __launch_bounds__(1024) kv_rows_kernel(const KVRows r) {
  pdl_wait();  // indices and sources may come from the previous kernel (no early trigger: kv_transfer_kernel)
  using W = typename WordOf<16>::type;
  const I total = static_cast<I>(r.total), words = static_cast<I>(r.words), n = static_cast<I>(r.num_indices);
  const I block_words = static_cast<I>(blockDim.x) * kWords;
  const I step = static_cast<I>(gridDim.x) * block_words;
  for (I first = static_cast<I>(blockIdx.x) * block_words + threadIdx.x; first < total; first += step) {
    W v[kWords];
    char* d[kWords];
#pragma unroll
    for (int u = 0; u < kWords; ++u) {
      const I e = first + static_cast<I>(u) * blockDim.x;
      if (e < total) {
        const I item = e / words;
        const I w = e - item * words;
        const bool kv = item >= n;
        I j = kv ? item - n : item;
        int64_t in_run = 0;
        if (r.index_run != 1) {
          in_run = static_cast<int64_t>(j % static_cast<I>(r.index_run));
          j -= static_cast<I>(in_run);
        }
        const int64_t st = __ldg(r.src_indices + j) + in_run, dt = __ldg(r.dst_indices + j) + in_run;
        const char* sb = kv ? r.src.base[1] : r.src.base[0];
        const char* db = kv ? r.dst.base[1] : r.dst.base[0];
        v[u] = load_word<16>(sb + st * r.src.stride + static_cast<int64_t>(w) * 16);
        d[u] = const_cast<char*>(db) + dt * r.dst.stride + static_cast<int64_t>(w) * 16;
      }
    }
#pragma unroll
    for (int u = 0; u < kWords; ++u) {
      if (first + static_cast<I>(u) * blockDim.x < total) store_word<16>(d[u], v[u]);
    }
  }
}

// The row walk over several layers (or per-layer address arrays or tables,
// or split rows: ph pools, page-first pages of several tokens): word e is
// word w of row (kv, layer, j), the four found with DivU32 multiplies.
// kSplit = r.split, a template parameter so that the other launches keep 32
// registers a thread (64 warps an SM). The split walk at one word a thread
// (its default, rows_words) is held to 32 registers by its launch bound (2
// blocks of 1024 threads an SM): with the address math of upstream's ph
// layout and of page-first pages (KVRowSide) ptxas gave it 38 with an inline
// table, one block an SM; bounded, it spills 4 bytes a thread (sm_90a; the
// earlier ph math took 32 with 0-4). Not yet measured.
template <int kWords, class Table, bool kSplit>
__global__ void __launch_bounds__(1024, kSplit && kWords == 1 ? 2 : 0)
    kv_rows_layers_kernel(const KVRows r, const Table t) {
  pdl_wait();  // as kv_rows_kernel
  using W = typename WordOf<16>::type;
  const int64_t* src_tbl = nullptr;
  const int64_t* dst_tbl = nullptr;
  if constexpr (!std::is_same_v<Table, NoTable>) {
    src_tbl = t.src;
    dst_tbl = t.dst;
  }
  const uint32_t total = static_cast<uint32_t>(r.total), words = static_cast<uint32_t>(r.words);
  const uint32_t n = static_cast<uint32_t>(r.num_indices), nl = static_cast<uint32_t>(r.num_layers);
  const uint32_t run = static_cast<uint32_t>(r.index_run);
  const uint32_t block_words = blockDim.x * kWords;
  const uint32_t step = gridDim.x * block_words;
  for (uint32_t first = blockIdx.x * block_words + threadIdx.x; first < total; first += step) {
    W v[kWords];
    char* d[kWords];
#pragma unroll
    for (int u = 0; u < kWords; ++u) {
      const uint32_t e = first + u * blockDim.x;
      if (e < total) {
        const uint32_t item = r.by_words.div(e);
        const uint32_t w = e - item * words;
        uint32_t j, layer, k;
        if (r.token_major) {
          const uint32_t kvj = r.by_layers.div(item);  // kv * n + j
          layer = item - kvj * nl;
          k = r.by_indices.div(kvj);
          j = kvj - k * n;
        } else {
          const uint32_t kvl = r.by_indices.div(item);  // kv * nl + layer
          j = item - kvl * n;
          k = r.by_layers.div(kvl);
          layer = kvl - k * nl;
        }
        const bool kv = k != 0;
        uint32_t in_run = 0;
        if (run != 1) {
          in_run = j - r.by_run.div(j) * run;
          j -= in_run;
        }
        uint32_t h = 0, wh = w;
        if (kSplit) {
          h = r.by_head_words.div(w);
          wh = w - h * r.head_words;
        }
        const int64_t si = __ldg(r.src_indices + j), di = __ldg(r.dst_indices + j);
        const char* sp = row_layer_base<const char, Table>(r.src, src_tbl, kv, layer, nl) +
                         row_offset<kSplit>(r.src, si, in_run, w, h, wh);
        d[u] = row_layer_base<char, Table>(r.dst, dst_tbl, kv, layer, nl) +
               row_offset<kSplit>(r.dst, di, in_run, w, h, wh);
        if (((reinterpret_cast<uintptr_t>(sp) | reinterpret_cast<uintptr_t>(d[u])) & 15) == 0) {
          v[u] = load_word<16>(sp);
        } else {
          // A per-layer address off 16 bytes (the host cannot check the
          // device array): this word byte by byte, stored here.
          for (int b = 0; b < 16; ++b) d[u][b] = sp[b];
          d[u] = nullptr;
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kWords; ++u) {
      if (first + u * blockDim.x < total && d[u] != nullptr) store_word<16>(d[u], v[u]);
    }
  }
}

// Threads [first, first + size) of a block that sort together, and the
// barrier they meet at: 0 (__syncthreads) for the whole block, else a named
// barrier that only they use (size a multiple of 32).
struct Team {
  int rank, size, bar;
};

SGL_DEVICE void team_sync(const Team& t) {
  if (t.bar == 0) {
    __syncthreads();
  } else {
    asm volatile("bar.sync %0, %1;" ::"r"(t.bar), "r"(t.size) : "memory");
  }
}

// Items [c0, c0 + n) of the launch into key/val (chunk entries, a power of
// two; entries past n are padding that sorts last), sorted ascending by the
// host side's address (by_dst: the destination's) with a bitonic network.
// Ends with the team synchronized.
template <class Table>
SGL_DEVICE void fill_sorted(unsigned long long* key, unsigned long long* val, int chunk, int64_t c0, int n,
                            bool by_dst, const Team& tm, const KVTransferParams& p, int64_t run,
                            const int64_t* src_table, const int64_t* dst_table) {
  for (int i = tm.rank; i < chunk; i += tm.size) {
    if (i < n) {
      const ItemAddr a = item_addr<Table>(c0 + i, p, run, src_table, dst_table);
      const auto s = reinterpret_cast<unsigned long long>(a.src), d = reinterpret_cast<unsigned long long>(a.dst);
      key[i] = by_dst ? d : s;
      val[i] = by_dst ? s : d;
    } else {
      key[i] = ~0ull;
    }
  }
  team_sync(tm);
  for (int k = 2; k <= chunk; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = tm.rank; i < chunk / 2; i += tm.size) {
        const int x = 2 * i - (i & (j - 1));  // pair i: x has bit j clear, y = x + j
        const int y = x + j;
        const unsigned long long kx = key[x], ky = key[y];
        if ((kx > ky) == ((x & k) == 0)) {
          key[x] = ky;
          key[y] = kx;
          const unsigned long long v = val[x];
          val[x] = val[y];
          val[y] = v;
        }
      }
      team_sync(tm);
    }
  }
}

SGL_DEVICE unsigned long long load_volatile(const unsigned long long* p) {
  return *reinterpret_cast<const volatile unsigned long long*>(p);
}

// The sorted walk, for transfers to or from host memory: a block takes `chunk`
// consecutive items at a time and copies them in ascending order of the host
// side's address. Why: a warp reading 1 KB rows scattered over a pinned host
// pool waits on address translation, and 4 SMs then read at 0.64-0.70 x
// cudaMemcpyAsync, against 0.90-0.95 for the same rows in ascending order
// (H100, kvio_sweep, sessions 7-8). The order is worked out in shared memory:
// no workspace, no extra launch. The block sorts its first chunk together;
// then a few "sorter" warps (warps / 8, meeting at a named barrier) sort chunk
// c + 1 into the second buffer while the others copy chunk c, and join the
// copying when done. No block barrier between chunks: the block's entries
// are numbered across its chunks (entry e is slot e % chunk of the block's
// chunk e / chunk) and warps claim them from one running counter, so a warp
// that finds chunk c exhausted goes straight on to chunk c + 1 instead of
// waiting for the last of chunk c's loads to land. Two counters hand the
// buffers over: `ready` (chunks sorted; copiers wait on it) and `consumed`
// (entries read out of each buffer; the sorters wait until chunk c - 1, the
// last one in that buffer, is all read before sorting chunk c + 1 into it),
// each with a fence on both sides (release / acquire). Waits sleep
// (__nanosleep) so that spinning warps do not take the sorters' issue slots.
// (compute-sanitizer racecheck, which models only barriers, reports these
// flag hand-overs as hazards.)
// H100 (kvio_sweep, session 8), 4 blocks of 32 warps: against a block
// barrier after each chunk this took host->device from 0.89-0.92 to
// 0.92-0.94 x cudaMemcpyAsync (scattered 1-token rows 0.90 / 0.89 -> 0.94 /
// 0.93) and device->host 0.96 both ways; device->host in layer order (not the
// default) 0.75-0.77 -> 0.82.
// Tried and dropped (session 7): a barrier-free walk with one sorter warp
// could not keep up with 4 blocks (host->device 0.62-0.74); sorting with the
// whole block between copies cost ~10 %.
// (CUB's BlockRadixSort fixes the block size at compile time, here the
// caller's num_warps_per_block, and would hold the whole block for the sort.)
template <class Table, int G>
__global__ void __launch_bounds__(1024)
    kv_transfer_sorted_kernel(const KVTransferParams p, const Table t, int64_t run, int chunk, bool by_dst) {
  extern __shared__ unsigned long long sorted_entries[];  // 2 buffers of [chunk] keys, [chunk] values
  __shared__ unsigned long long claimed;   // entries handed out to warps
  __shared__ unsigned long long consumed[2];  // entries read out of each buffer (all its chunks so far)
  __shared__ unsigned long long ready;     // chunks sorted
  pdl_wait();  // indices and sources may come from the previous kernel (no early trigger: kv_transfer_kernel)
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const int sorters = warps / 8 > 1 ? warps / 8 : 1;  // blocks have >= 2 warps (run_kv_transfer)
  const int copiers = warps - sorters;
  const Walk k = walk_of(p, t);
  const int64_t items = k.items;
  const int64_t dst_stride = piece_stride(p.dst), src_stride = piece_stride(p.src);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * chunk;
  if (first >= items) return;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * chunk;
  const int64_t chunks = (items - first - 1) / stride + 1;  // the block's
  auto start = [&](int64_t q) { return first + q * stride; };
  auto size_of = [&](int64_t q) { return items - start(q) < chunk ? static_cast<int>(items - start(q)) : chunk; };
  auto buffer = [&](int64_t q) { return sorted_entries + 2 * chunk * (q & 1); };
  if (threadIdx.x == 0) claimed = consumed[0] = consumed[1] = 0, ready = 1;
  const Team block{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x), 0};
  fill_sorted<Table>(buffer(0), buffer(0) + chunk, chunk, first, size_of(0), by_dst, block, p, run, k.src_table,
                     k.dst_table);  // ends with __syncthreads: the counters above are seen
  // Copies the G entries from e on; false once e is past the block's last.
  auto copy_at = [&](unsigned long long e) {
    const int64_t q = static_cast<int64_t>(e / chunk);
    const int slot = static_cast<int>(e % chunk);
    if (q >= chunks) return false;
    const int n = size_of(q);
    if (slot >= n) return false;  // only the last chunk is short
    while (load_volatile(&ready) <= static_cast<unsigned long long>(q)) __nanosleep(128);
    __threadfence_block();  // acquire: the sorters' entries
    const unsigned long long* key = buffer(q) + slot;
    const unsigned long long* val = key + chunk;
    const int count = n - slot < G ? n - slot : G;
    const char* s[G];
    char* d[G];
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const unsigned long long kk = g < count ? key[g] : 0, v = g < count ? val[g] : 0;
      s[g] = reinterpret_cast<const char*>(by_dst ? v : kk);
      d[g] = reinterpret_cast<char*>(by_dst ? kk : v);
    }
    __syncwarp();
    if (lane == 0) {
      __threadfence_block();  // release: the entries are read, the buffer may be refilled
      atomicAdd(&consumed[q & 1], static_cast<unsigned long long>(G));
    }
    warp_copy_any<G, true>(d, s, count, k.piece, p.head_num, dst_stride, src_stride, lane);
    return true;
  };
  // One loop for every warp (one copy_at call site keeps the registers of a
  // single copy path). Sorter warps sort chunk `next` when the claims have
  // reached chunk next - 1 (so chunk next - 2, in the buffer chunk next
  // takes, is all claimed and soon read), else copy an entry below that
  // point: their claim is bounded (compare-and-swap), so a sorter never takes
  // an entry of a chunk that only it can sort.
  const bool sorter_warp = warp >= copiers;
  const Team sorter{static_cast<int>(threadIdx.x) - 32 * copiers, 32 * sorters, 1};
  int64_t next = 1;  // sorter warps: the next chunk to sort
  while (true) {
    const bool sorting = sorter_warp && next < chunks;
    const unsigned long long limit = sorting ? static_cast<unsigned long long>(next - 1) * chunk : ~0ull;
    unsigned long long e = 0;
    if (lane == 0) {
      if (sorting) {
        e = load_volatile(&claimed);
        while (e < limit) {
          const unsigned long long seen = atomicCAS(&claimed, e, e + G);
          if (seen == e) break;
          e = seen;
        }
      } else {
        e = atomicAdd(&claimed, static_cast<unsigned long long>(G));
      }
    }
    e = __shfl_sync(0xffffffffu, e, 0);
    if (e >= limit) {  // a sorter's turn: chunk next goes where chunk next - 2 was
      // Its buffer has held chunks next - 2, next - 4, ... (all full): wait
      // until all their entries are read. Per buffer: a single count would
      // also take reads of chunk next - 1, which is ready by now, and could
      // reach the mark while a chunk next - 2 entry is still unread.
      const unsigned long long freed = static_cast<unsigned long long>(next / 2) * chunk;
      while (load_volatile(&consumed[next & 1]) < freed) __nanosleep(128);
      __threadfence_block();  // acquire: chunk next - 2's entries are read
      fill_sorted<Table>(buffer(next), buffer(next) + chunk, chunk, start(next), size_of(next), by_dst, sorter, p,
                         run, k.src_table, k.dst_table);
      if (sorter.rank == 0) {
        __threadfence_block();  // release: chunk next's entries
        *reinterpret_cast<volatile unsigned long long*>(&ready) = static_cast<unsigned long long>(next + 1);
      }
      ++next;
      continue;
    }
    if (!copy_at(e)) break;
  }
}

inline int64_t grid_blocks(const KVTransferParams& p, int64_t units) {
  int64_t blocks = units < p.block_quota ? units : p.block_quota;
  return blocks > (int64_t{1} << 30) ? int64_t{1} << 30 : blocks;
}

template <class Table>
cudaError_t launch_warp(const KVTransferParams& p, const Table& table, int64_t run, int64_t items, int per_warp,
                        int unroll, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(grid_blocks(p, div_up<int64_t>(div_up<int64_t>(items, per_warp), p.warps_per_block))));
  const dim3 block(static_cast<unsigned>(32 * p.warps_per_block));
  if (per_warp == 1) return launch_kernel(kv_transfer_kernel<Table, 1, kUnroll>, grid, block, 0, stream, p.pdl, p, table, run);
  if (unroll == 3) return launch_kernel(kv_transfer_kernel<Table, 2, 3>, grid, block, 0, stream, p.pdl, p, table, run);
  if (unroll == 4) return launch_kernel(kv_transfer_kernel<Table, 2, 4>, grid, block, 0, stream, p.pdl, p, table, run);
  return launch_kernel(kv_transfer_kernel<Table, 2, kUnroll>, grid, block, 0, stream, p.pdl, p, table, run);
}

// The row walk's view of a launch, if it qualifies: every row a whole
// number of 16-byte words at a token stride on both sides (lf, pf,
// page-first pages of one token), or split rows (ph; page-first pages of
// several tokens) whose head pieces are whole words, every base and stride
// 16-byte aligned where the host can see it (per-layer addresses in a
// device array are checked by the kernel, word by word). One layer of
// contiguous rows with host-known bases: kv_rows_kernel; several layers,
// per-layer address arrays or tables, or split rows: kv_rows_layers_kernel,
// which needs the launch's words in 32 bits. token_major: the layer walk's
// word order (KVRows::token_major).
inline bool rows_of(const KVTransferParams& p, const KVInlineTable* table, KVRows& r, bool token_major = false) {
  if (p.item_size % 16 != 0 || p.num_kv < 1 || p.num_kv > 2 || p.num_layers < 1 || p.head_num < 1 ||
      p.item_size % p.head_num != 0)
    return false;
  r = KVRows{};
  r.words = p.item_size / 16;
  r.total = p.num_kv * p.num_layers * p.num_indices * r.words;
  const int64_t piece = p.item_size / p.head_num;
  bool arrays = false;
  uint64_t a = 0;
  for (int side = 0; side < 2; ++side) {
    const KVSide& s = side == 0 ? p.src : p.dst;
    KVRowSide& o = side == 0 ? r.src : r.dst;
    if (s.page_size < 1 || s.page_size >= (int64_t{1} << 32)) return false;
    o.page = static_cast<uint32_t>(s.page_size);
    o.by_page = make_div(o.page);
    o.page_runs = s.page_runs;
    o.page_stride = s.page_stride;
    o.stride = s.page_size == 1 ? s.page_stride : s.slot_stride;
    o.head_stride = kv_head_stride(s, p.item_size, p.head_num);
    o.layer_step = s.layer_stride;
    // Pages of several tokens, or head pieces apart: the split walk, whose
    // pieces must be whole words.
    if (s.page_size > 1 || (p.head_num > 1 && o.head_stride != piece)) r.split = true;
    a |= static_cast<uint64_t>(o.stride) | static_cast<uint64_t>(o.layer_step) |
         static_cast<uint64_t>(o.page_stride) | static_cast<uint64_t>(o.head_stride);
    for (int64_t kv = 0; kv < p.num_kv; ++kv) {
      if (s.inline_table) {
        if (table == nullptr || p.num_kv * p.num_layers > kKVInlineTable) return false;
        const int64_t* t = side == 0 ? table->src : table->dst;
        if (p.num_layers == 1) {
          o.base[kv] = reinterpret_cast<const char*>(t[kv]);
        } else {
          o.table = true;
          arrays = true;
          for (int64_t l = 0; l < p.num_layers; ++l) a |= static_cast<uint64_t>(t[kv * p.num_layers + l]);
        }
      } else if (s.layer_ptrs[kv] != nullptr) {
        o.layer_ptrs[kv] = s.layer_ptrs[kv];
        arrays = true;
      } else {
        // One buffer per layer given by its base serves one layer.
        if (p.num_layers != 1 && s.layer_stride == 0) return false;
        o.base[kv] = static_cast<const char*>(s.base[kv]) + s.layer_offset * s.layer_stride;
      }
      a |= reinterpret_cast<uint64_t>(o.base[kv]);
    }
  }
  if (r.split && p.head_num > 1 && piece % 16 != 0) return false;
  if (a % 16 != 0) return false;
  r.src_indices = p.src_indices;
  r.dst_indices = p.dst_indices;
  r.num_indices = p.num_indices;
  r.num_layers = p.num_layers;
  r.index_run = p.index_run;
  r.layered = arrays || p.num_layers > 1 || r.split;
  if (r.layered) {
    // Word numbers, with the loop's last step, in 32 bits.
    if (r.total >= (int64_t{1} << 31) || p.num_indices >= (int64_t{1} << 31) || p.index_run >= (int64_t{1} << 31))
      return false;
    r.token_major = token_major && p.num_layers > 1;
    r.by_words = make_div(static_cast<uint32_t>(r.words));
    r.by_indices = make_div(static_cast<uint32_t>(p.num_indices));
    r.by_layers = make_div(static_cast<uint32_t>(p.num_layers));
    r.by_run = make_div(static_cast<uint32_t>(p.index_run));
    if (r.split) {
      r.head_words = static_cast<uint32_t>(piece / 16);  // a whole row where head_num is 1
      r.by_head_words = make_div(r.head_words);
    }
  }
  return true;
}

// The quota gives every word of the row walk a thread (no grid-stride loop).
inline bool rows_one_shot(const KVTransferParams& p, const KVRows& r) {
  return div_up<int64_t>(r.total, 32 * static_cast<int64_t>(p.warps_per_block)) <= p.block_quota;
}

// Whether the default (KVTransferConfig::rows = -1) takes the row walk for a
// launch that rows_of accepted, on a GPU of `sms` SMs: always for one layer
// of contiguous rows (kv_rows_kernel); for the layer walk (several layers,
// address arrays or tables, split rows) when the quota gives
// every word a thread, or lets the walk fill every SM with 64 warps (its
// 26-32 registers a thread in the variants the default takes allow that;
// the warp walk's 64 stop at 32).
// Below that the warp walk keeps more bytes in flight per warp and wins.
// H200, kvio_sweep (session 12), 94 layers x 16384 tokens, random pages both
// sides, x the 2 GiB copy rate: at 264 blocks x 32 warps the layer walk read
// 0.919-0.950 (lf->lf, lf->pf, lf->ph with 1/16/64-token pages, MLA) against
// 0.904-0.929 for the warp walk; at 264 x 16 (32 warps an SM) 0.847-0.892
// against 0.896-0.915.
inline bool rows_by_default(const KVTransferParams& p, const KVRows& r, int sms) {
  if (!r.layered || rows_one_shot(p, r)) return true;
  // Blocks an SM holds at once: the quota's share, at most 32 (Hopper's limit).
  const int64_t per_sm = p.block_quota / (sms > 0 ? sms : 1);
  return (per_sm < 32 ? per_sm : 32) * p.warps_per_block >= 64;
}

// The default words a thread of the row walk: the layer walk 2, or 1 where a
// side's rows are split (2 take 40-42 registers there, 48 warps an SM, and
// read 0.84 x copy bandwidth against 0.93-0.95 for 1 at 264 x 32, all-layer
// lf->ph with 16/64-token pages of the earlier ph layout; the split walk's
// address math is the same in upstream's ph layout and the page-first pools
// of the direct variants, not yet measured there); the one-layer
// walk 1 when the quota gives every word a thread, else 2.
inline int rows_words(const KVTransferParams& p, const KVRows& r) {
  if (r.layered) return r.split ? 1 : 2;
  return rows_one_shot(p, r) ? 1 : 2;
}

// Kernel parameters stay within the 4 KB that every CUDA 12 toolkit takes.
static_assert(sizeof(KVRows) + sizeof(KVInlineTable) <= 4096, "layer walk parameters past 4 KB");
static_assert(sizeof(KVTransferParams) + sizeof(KVInlineTable) + 32 <= 4096, "warp walk parameters past 4 KB");

template <int kWords>
cudaError_t launch_layers(dim3 grid, dim3 block, const KVRows& r, const KVInlineTable* table, bool pdl,
                          cudaStream_t stream) {
  if (r.src.table || r.dst.table) {
    if (r.split) return launch_kernel(kv_rows_layers_kernel<kWords, KVInlineTable, true>, grid, block, 0, stream, pdl, r, *table);
    return launch_kernel(kv_rows_layers_kernel<kWords, KVInlineTable, false>, grid, block, 0, stream, pdl, r, *table);
  }
  if (r.split) return launch_kernel(kv_rows_layers_kernel<kWords, NoTable, true>, grid, block, 0, stream, pdl, r, NoTable{});
  return launch_kernel(kv_rows_layers_kernel<kWords, NoTable, false>, grid, block, 0, stream, pdl, r, NoTable{});
}

template <class I>
cudaError_t launch_one_layer(dim3 grid, dim3 block, const KVRows& r, int words, bool pdl, cudaStream_t stream) {
  if (words == 1) return launch_kernel(kv_rows_kernel<I, 1>, grid, block, 0, stream, pdl, r);
  if (words == 4) return launch_kernel(kv_rows_kernel<I, 4>, grid, block, 0, stream, pdl, r);
  return launch_kernel(kv_rows_kernel<I, 2>, grid, block, 0, stream, pdl, r);
}

// words: 16-byte words a thread copies at a time, 1, 2 or 4; 0: rows_words.
// `table`: the launch's inline table (read by sides with KVRowSide::table).
inline cudaError_t launch_rows(const KVTransferParams& p, const KVRows& r, int words, const KVInlineTable* table,
                               cudaStream_t stream) {
  const int64_t threads = 32 * static_cast<int64_t>(p.warps_per_block);
  if (words == 0) words = rows_words(p, r);
  const dim3 grid(static_cast<unsigned>(grid_blocks(p, div_up<int64_t>(r.total, threads * words))));
  const dim3 block(static_cast<unsigned>(threads));
  if (r.layered) {  // r.total < 2^31 and a step below 2^31 words (grid_blocks): no wrap
    if (words == 1) return launch_layers<1>(grid, block, r, table, p.pdl, stream);
    if (words == 4) return launch_layers<4>(grid, block, r, table, p.pdl, stream);
    return launch_layers<2>(grid, block, r, table, p.pdl, stream);
  }
  // 32-bit word indices when the loop's last step cannot wrap.
  const bool narrow = r.total + static_cast<int64_t>(grid.x) * threads * words < (int64_t{1} << 32);
  return narrow ? launch_one_layer<uint32_t>(grid, block, r, words, p.pdl, stream)
                : launch_one_layer<uint64_t>(grid, block, r, words, p.pdl, stream);
}

// The sorted walk with chunks of at most max_chunk items: smaller (a power of
// two) when the launch has fewer items than the blocks it may take hold.
template <class Table>
cudaError_t launch_sorted(const KVTransferParams& p, const Table& table, int64_t run, int64_t items, int max_chunk,
                          bool by_dst, cudaStream_t stream) {
  int chunk = 64;
  const int64_t per_block = div_up<int64_t>(items, p.block_quota);
  while (chunk < max_chunk && chunk < per_block) chunk <<= 1;
  const dim3 grid(static_cast<unsigned>(grid_blocks(p, div_up<int64_t>(items, chunk))));
  const dim3 block(static_cast<unsigned>(32 * p.warps_per_block));
  const size_t smem = 4 * sizeof(unsigned long long) * static_cast<size_t>(chunk);  // 2 buffers of keys + values
  auto kernel = kv_transfer_sorted_kernel<Table, kItemsPerWarp>;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  return launch_kernel(kernel, grid, block, smem, stream, p.pdl, p, table, run, chunk, by_dst);
}

// A side keeps a token's layers adjacent, its items (or, in ph, each head's
// pieces) a piece apart: pf; ph; page-first pages of one token.
inline bool token_rows(const KVSide& s, int64_t piece) { return s.layer_stride == piece; }

// The walk's index groups (item_coords). Default: when several layers move
// and a side keeps a token's layers together (token_rows), walk a token's
// layers in a row, so that side is read or written in long sequential runs:
// with 94 layers a pf token row is 94 KB, and walking layer by layer put
// every 1 KB item of a device->host copy on another stretch of host memory.
// H100, 94 layers, 4 blocks (benchmarks/cpp/kvio_sweep.cu and
// bench_kvcacheio.py): device->host lf->pf 0.53-0.56 -> 0.89-0.91 x
// cudaMemcpyAsync, ph with 1-token pages 0.51 -> 0.89 (both measured before
// the ph layout became upstream's; see below).
// ph pools ([pages, heads, page_size, layers, head_item]) hold, head by
// head, a page's tokens with their layers in a row, so a token's layers in a
// row walks each head's stretch of a page (page_size x layers pieces) in
// address order: the default for every page size. Not yet measured in that
// layout: the ph figures here and in the perf records are of the earlier
// (wrong) layout [pages, layers, heads, page_size, head_item].
// Page-first pools of several-token pages ([pages, layers, page_size, item],
// the direct variants) keep a page's tokens of one layer together instead:
// layer by layer by default (a page's tokens of a layer give page_size-item
// runs), and order 1 walks their memory order (run = page_size: a page's
// tokens of one layer, then the next layer). That layout is the earlier ph
// layout with one head, where layer by layer measured faster than the
// page-ordered walk (H100, device->host, 4 blocks, 16/64-token pages: 0.88-0.94
// against 0.69-0.89); not re-measured for the direct variants' launches.
inline int64_t order_run(const KVTransferParams& p, int order) {
  const int64_t piece = p.item_size / p.head_num;
  const bool rows = token_rows(p.src, piece) || token_rows(p.dst, piece);
  if (order == -1) order = p.num_layers > 1 && rows;
  if (order == 0 || p.num_indices <= 1) return p.num_indices > 0 ? p.num_indices : 1;
  if (rows) return 1;
  if (p.src.page_size > 1) return p.src.page_size;
  if (p.dst.page_size > 1) return p.dst.page_size;
  return 1;
}

// Sides whose strides the kernels cannot take (transfer.h: KVSide).
inline bool bad_side(const KVSide& s, const KVTransferParams& p) {
  const bool by_base = !s.inline_table && s.layer_ptrs[0] == nullptr;
  return s.page_size < 1 || s.page_stride < 0 || s.slot_stride < 0 || s.head_stride < 0 || s.layer_stride < 0 ||
         (s.page_runs && p.index_run != s.page_size) ||
         (by_base && p.num_layers > 1 && s.layer_stride == 0);  // one lf buffer serves one layer
}

inline cudaError_t run_kv_transfer(const KVTransferParams& given, const KVInlineTable* table,
                                   const KVTransferConfig& cfg, cudaStream_t stream) {
  const int64_t items = given.num_kv * given.num_layers * given.num_indices;
  if (items <= 0) return cudaSuccess;
  if (given.warps_per_block < 1 || given.warps_per_block > 32 || given.block_quota < 1 || given.head_num < 1 ||
      given.index_run < 1 || given.item_size % given.head_num != 0 || given.item_size >= (int64_t{1} << 31))
    return cudaErrorInvalidValue;
  if (cfg.items_per_warp < 0 || cfg.items_per_warp > 2 || cfg.order < -1 || cfg.order > 1) return cudaErrorInvalidValue;
  if (cfg.unroll != 0 && (cfg.unroll < 2 || cfg.unroll > 4)) return cudaErrorInvalidValue;
  if (cfg.rows < -1 || cfg.rows == 3 || cfg.rows > 4) return cudaErrorInvalidValue;
  if (bad_side(given.src, given) || bad_side(given.dst, given)) return cudaErrorInvalidValue;
  // The kernels read head_stride as given: contiguous pieces filled in.
  KVTransferParams p = given;
  p.src.head_stride = kv_head_stride(p.src, p.item_size, p.head_num);
  p.dst.head_stride = kv_head_stride(p.dst, p.item_size, p.head_num);
  const bool host = p.src.host || p.dst.host;
  const int sort_chunk = cfg.sort_chunk == -1 ? (host ? kSortChunk : 0) : cfg.sort_chunk;
  if (sort_chunk != 0 && (sort_chunk < 64 || sort_chunk > 4096 || (sort_chunk & (sort_chunk - 1)) != 0))
    return cudaErrorInvalidValue;
  const int64_t run = order_run(p, cfg.order);
  const bool needs_table = p.src.inline_table || p.dst.inline_table;
  if (needs_table && table == nullptr) return cudaErrorInvalidValue;
  // The default takes the sorted walk only where a block gets at least
  // kMinSortChunk items (fewer: the order gained is too short to pay for the
  // sort; the direct variants' 2 blocks an SM read scattered rows at 0.92).
  const bool sorted = sort_chunk != 0 && p.warps_per_block >= 2 &&
                      (cfg.sort_chunk != -1 || items / p.block_quota >= kMinSortChunk);
  const bool by_dst = p.dst.host && !p.src.host;  // sort by the host side's addresses
  const int per_warp = cfg.items_per_warp == 0 ? kItemsPerWarp : cfg.items_per_warp;
  const int unroll = cfg.unroll == 0 ? kUnroll : cfg.unroll;
  // The row walk where it applies, by default between device buffers only
  // (the walks for host memory were tuned on the warp walk) and where
  // rows_by_default says. The layer walk's word order: a token's layers in a
  // row where one buffer holds a side's layers (pf, ph, page-first; any page
  // size), else layer by layer. H200, kvio_sweep (session 12), 264 x 32, x
  // the 2 GiB copy rate: lf->pf 0.920 against 0.884 layer by layer, lf->ph
  // 16/64-token pages 0.934 / 0.950 against 0.872 / 0.899 (the earlier ph
  // layout, [pages, layers, heads, page_size, head_item]: the page-first
  // layout with head pieces, so the figure stands for the direct variants'
  // page-first pools, not yet measured); lf->lf 0.925 against 0.912 a token
  // at a time. Upstream's ph layout keeps each head's pieces of a token's
  // layers in a row, so token-major order writes every head's stretch of a
  // page in address order (not yet measured).
  KVRows rows{};
  auto one_buffer = [](const KVSide& s) { return s.layer_stride != 0; };
  const bool token_major = cfg.order == 1 || (cfg.order == -1 && (one_buffer(p.src) || one_buffer(p.dst)));
  if (!sorted && (cfg.rows > 0 || (cfg.rows == -1 && !host)) &&
      rows_of(p, needs_table ? table : nullptr, rows, token_major)) {
    if (cfg.rows > 0 || rows_by_default(p, rows, num_sms()))
      return launch_rows(p, rows, cfg.rows > 0 ? cfg.rows : 0, table, stream);
  }
  auto launch = [&](const auto& tbl) {
    return sorted ? launch_sorted(p, tbl, run, items, sort_chunk, by_dst, stream)
                  : launch_warp(p, tbl, run, items, per_warp, unroll, stream);
  };
  return needs_table ? launch(*table) : launch(NoTable{});
}

}  // namespace kvio_detail
}  // namespace sgl_kernel
