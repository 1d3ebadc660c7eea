// The KV transfer kernels (transfer.cuh, used without any framework), on the GPU when one is
// present: every walk (one or two items per warp, 2, 3 or 4 words a lane
// per item and pass, each item order, the sorted walk, the one-layer row
// walk with 1 or 2 words a thread and 32- or 64-bit word indices) against
// a host reference built from the layout formulas of transfer.h, bit for bit,
// between device buffers and from/to pinned host memory, with item sizes and
// offsets that force the narrow and fallback paths.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "sgl_kernel/kvcacheio/transfer.cuh"

using namespace sgl_kernel;

namespace {

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// A one-layer launch of n items of `item` bytes, one piece each, single-token
// runs, one block of one warp; sides, indices and shape set by the caller.
KVTransferParams one_layer(int64_t num_kv, int64_t n, int64_t item) {
  KVTransferParams p{};
  p.num_indices = n;
  p.num_layers = 1;
  p.num_kv = num_kv;
  p.item_size = item;
  p.head_num = 1;
  p.index_run = 1;
  p.block_quota = 1;
  p.warps_per_block = 1;
  return p;
}

// One pool: L layers of `tokens` items of `item` bytes (head_num pieces), K
// and V, in layout `layout`. lf pools are one allocation per (kv, layer).
struct Pool {
  KVLayout layout;
  int64_t layers, tokens, item, heads, page;
  bool host;      // pinned host memory instead of device memory
  int64_t shift;  // bytes added to every base (misalignment)
  std::vector<std::vector<unsigned char>> h;  // host image per buffer
  std::vector<unsigned char*> d;              // device-visible bases (before shift)
  int64_t* layer_ptrs[2] = {nullptr, nullptr};

  int64_t buffers() const { return layout == KVLayout::kLayerFirst ? 2 * layers : 2; }
  // ph pools hold whole pages.
  int64_t slots() const { return layout == KVLayout::kPageHead ? (tokens + page - 1) / page * page : tokens; }
  int64_t buffer_bytes() const { return (layout == KVLayout::kLayerFirst ? tokens * item : slots() * layers * item) + shift; }
  // Buffer and byte offset of piece c of item (kv, layer, tok).
  std::pair<int64_t, int64_t> where(int64_t kv, int64_t layer, int64_t tok, int64_t c) const {
    const int64_t piece = item / heads;
    switch (layout) {
      case KVLayout::kLayerFirst:
        return {kv * layers + layer, shift + tok * item + c * piece};
      case KVLayout::kPageFirst:
        return {kv, shift + tok * layers * item + layer * item + c * piece};
      default: {
        const int64_t pg = tok / page, in = tok % page;
        return {kv, shift + pg * page * layers * item + layer * page * item + c * page * piece + in * piece};
      }
    }
  }
  void alloc(std::mt19937& gen) {
    std::uniform_int_distribution<int> bd(0, 255);
    h.assign(buffers(), std::vector<unsigned char>(buffer_bytes()));
    for (auto& b : h)
      for (auto& x : b) x = static_cast<unsigned char>(bd(gen));
    d.resize(buffers());
    for (int64_t i = 0; i < buffers(); ++i) {
      if (host) {
        ASSERT_EQ(cudaHostAlloc(&d[i], buffer_bytes(), cudaHostAllocDefault), cudaSuccess);
        std::memcpy(d[i], h[i].data(), buffer_bytes());
      } else {
        ASSERT_EQ(cudaMalloc(&d[i], buffer_bytes()), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(d[i], h[i].data(), buffer_bytes(), cudaMemcpyHostToDevice), cudaSuccess);
      }
    }
    if (layout == KVLayout::kLayerFirst) {
      for (int kv = 0; kv < 2; ++kv) {
        std::vector<int64_t> ptrs(layers);
        for (int64_t l = 0; l < layers; ++l) ptrs[l] = reinterpret_cast<int64_t>(d[kv * layers + l] + shift);
        ASSERT_EQ(cudaMalloc(&layer_ptrs[kv], layers * sizeof(int64_t)), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(layer_ptrs[kv], ptrs.data(), layers * sizeof(int64_t), cudaMemcpyHostToDevice),
                  cudaSuccess);
      }
    }
  }
  KVSide side() const {
    KVSide s{};
    s.layout = layout;
    s.inline_table = false;
    s.layer_offset = 0;
    s.page_size = page;
    s.layout_dim = layers * item;
    s.host = host;
    for (int kv = 0; kv < 2; ++kv) {
      if (layout == KVLayout::kLayerFirst) {
        s.base[kv] = layers == 1 ? d[kv] + shift : nullptr;
        s.layer_ptrs[kv] = layers == 1 ? nullptr : layer_ptrs[kv];
      } else {
        s.base[kv] = d[kv] + shift;
        s.layer_ptrs[kv] = nullptr;
      }
    }
    return s;
  }
  std::vector<unsigned char> read(int64_t i) const {
    std::vector<unsigned char> out(buffer_bytes());
    if (host) {
      std::memcpy(out.data(), d[i], buffer_bytes());
    } else {
      EXPECT_EQ(cudaMemcpy(out.data(), d[i], buffer_bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return out;
  }
  void release() {
    for (auto* p : d) host ? cudaFreeHost(p) : cudaFree(p);
    for (auto* p : layer_ptrs)
      if (p) cudaFree(p);
  }
};

// (src layout, dst layout, layers, item bytes, heads, page, src host, dst host, shift)
using Shape = std::tuple<int, int, int, int, int, int, bool, bool, int>;

// inline_bases: lf sides of several layers take their per-layer bases from a
// KVInlineTable (host-known, as the pointer-list variants pass them) instead
// of a device array.
void run_case(const Shape& shape, const KVTransferConfig& cfg, int quota, int warps, bool inline_bases = false) {
  const auto [sl, dl, layers, item, heads, page, sh, dh, shift] = shape;
  const int64_t tokens = 3 * page + 37, n = tokens / 2 + 5;
  std::mt19937 gen(static_cast<unsigned>(sl * 131 + dl * 17 + layers + item + heads * 7 + page));
  Pool src{static_cast<KVLayout>(sl), layers, tokens, item, heads, page, sh, shift};
  Pool dst{static_cast<KVLayout>(dl), layers, tokens, item, heads, page, dh, shift};
  src.alloc(gen);
  dst.alloc(gen);
  // Distinct random source and destination tokens.
  std::vector<int64_t> si(tokens), di(tokens);
  for (int64_t i = 0; i < tokens; ++i) si[i] = di[i] = i;
  std::shuffle(si.begin(), si.end(), gen);
  std::shuffle(di.begin(), di.end(), gen);
  si.resize(n);
  di.resize(n);
  int64_t *dsi = nullptr, *ddi = nullptr;
  ASSERT_EQ(cudaMalloc(&dsi, n * sizeof(int64_t)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&ddi, n * sizeof(int64_t)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dsi, si.data(), n * sizeof(int64_t), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(ddi, di.data(), n * sizeof(int64_t), cudaMemcpyHostToDevice), cudaSuccess);

  KVTransferParams p{};
  p.src = src.side();
  p.dst = dst.side();
  p.src_indices = dsi;
  p.dst_indices = ddi;
  p.num_indices = n;
  p.num_layers = layers;
  p.num_kv = 2;
  p.item_size = item;
  p.head_num = heads;
  p.index_run = 1;
  p.block_quota = quota;
  p.warps_per_block = warps;
  p.pdl = false;
  KVInlineTable table{};
  auto use_table = [&](const Pool& pool, KVSide& side, int64_t* bases) {
    if (!inline_bases || pool.layout != KVLayout::kLayerFirst || pool.layers == 1) return;
    side.inline_table = true;
    for (int64_t kv = 0; kv < 2; ++kv)
      for (int64_t l = 0; l < pool.layers; ++l)
        bases[kv * pool.layers + l] = reinterpret_cast<int64_t>(pool.d[kv * pool.layers + l] + pool.shift);
  };
  use_table(src, p.src, table.src);
  use_table(dst, p.dst, table.dst);
  ASSERT_EQ(kvio_detail::run_kv_transfer(p, &table, cfg, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  // Reference: the destination image with the selected pieces replaced.
  auto expect = dst.h;
  const int64_t piece = item / heads;
  for (int64_t kv = 0; kv < 2; ++kv)
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < heads; ++c) {
          const auto [sb, so] = src.where(kv, l, si[j], c);
          const auto [db, dof] = dst.where(kv, l, di[j], c);
          std::memcpy(expect[db].data() + dof, src.h[sb].data() + so, piece);
        }
  for (int64_t b = 0; b < dst.buffers(); ++b) {
    const auto got = dst.read(b);
    ASSERT_EQ(got, expect[b]) << "buffer " << b << " items_per_warp " << cfg.items_per_warp << " order " << cfg.order
                                 << " sort_chunk " << cfg.sort_chunk << " unroll " << cfg.unroll
                                 << " rows " << cfg.rows;
  }
  src.release();
  dst.release();
  cudaFree(dsi);
  cudaFree(ddi);
}

class KVTransferKernel : public ::testing::TestWithParam<Shape> {};

TEST_P(KVTransferKernel, EveryWalkMatchesHostBitwise) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (int order : {-1, 0, 1}) {
    for (int per_warp : {0, 1, 2}) {
      KVTransferConfig cfg;
      cfg.items_per_warp = per_warp;
      cfg.order = order;
      cfg.sort_chunk = 0;  // the grid-stride warp walk
      cfg.rows = 0;
      run_case(GetParam(), cfg, /*quota=*/3, /*warps=*/per_warp == 1 ? 5 : 32);
      run_case(GetParam(), cfg, /*quota=*/64, /*warps=*/2);
      run_case(GetParam(), cfg, /*quota=*/7, /*warps=*/3, /*inline_bases=*/true);
      if (per_warp == 1) continue;
      for (int unroll : {2, 3, 4}) {
        cfg.unroll = unroll;
        run_case(GetParam(), cfg, /*quota=*/3, /*warps=*/32);
        run_case(GetParam(), cfg, /*quota=*/7, /*warps=*/3, /*inline_bases=*/true);
      }
    }
    // The sorted walk (the default where a side is host memory): chunks of
    // 64 (several a block, the last one short) in every item order, and the
    // default and 2048 (launches smaller than a chunk) in the default order.
    for (int chunk : {-1, 64, 2048}) {
      if (chunk != 64 && order != -1) continue;
      KVTransferConfig cfg;
      cfg.order = order;
      cfg.sort_chunk = chunk;
      run_case(GetParam(), cfg, /*quota=*/1, /*warps=*/2);  // one copying warp, one sorting warp
      run_case(GetParam(), cfg, /*quota=*/3, /*warps=*/32);
      run_case(GetParam(), cfg, /*quota=*/5, /*warps=*/3, /*inline_bases=*/true);
      run_case(GetParam(), cfg, /*quota=*/2, /*warps=*/17);  // 2 sorter warps
      if (chunk == 2048) run_case(GetParam(), cfg, /*quota=*/2, /*warps=*/1);  // one warp a block: the plain walk
    }
    // The row walk (the default for one layer between device buffers, where
    // the rows qualify; else the walks above take the launch): one warp, a
    // grid with a tail, enough blocks for a word a thread, inline bases;
    // both word orders of the layer walk (order 1: a token's layers in a row).
    if (order == 0) continue;
    for (int rows : {-1, 1, 2, 4}) {
      KVTransferConfig cfg;
      cfg.sort_chunk = 0;
      cfg.order = order;
      cfg.rows = rows;
      run_case(GetParam(), cfg, /*quota=*/1, /*warps=*/1);
      run_case(GetParam(), cfg, /*quota=*/3, /*warps=*/5);
      run_case(GetParam(), cfg, /*quota=*/1 << 20, /*warps=*/4);
      run_case(GetParam(), cfg, /*quota=*/7, /*warps=*/3, /*inline_bases=*/true);
    }
  }
}

// The row walk's view of launches: which qualify, and the bases and strides
// it takes.
TEST(KVTransferKernelConfig, RowWalkTakesOneLayerOfAlignedRows) {
  alignas(16) static char pool[16384];  // room for layer 2 of 16-token pages
  KVTransferParams p = one_layer(2, 3, 256);
  p.src.layout = KVLayout::kLayerFirst;
  p.src.base[0] = pool;
  p.src.base[1] = pool + 1024;
  p.dst.layout = KVLayout::kPageFirst;
  p.dst.base[0] = pool + 2048;
  p.dst.base[1] = pool + 3072;
  p.dst.layout_dim = 4 * 256;
  p.dst.layer_offset = 2;
  kvio_detail::KVRows r{};
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_EQ(r.src.base[1], pool + 1024);
  EXPECT_EQ(r.src.stride, 256);
  EXPECT_EQ(r.dst.base[0], pool + 2048 + 2 * 256);  // layer 2 of each token's row
  EXPECT_EQ(r.dst.stride, 1024);
  EXPECT_EQ(r.dst.layer_step, 256);
  EXPECT_EQ(r.words, 16);
  EXPECT_EQ(r.total, 2 * 3 * 16);
  EXPECT_FALSE(r.layered);  // one layer, bases known: kv_rows_kernel
  p.dst.layout = KVLayout::kPageHead;  // 1-token pages: rows as in pf
  p.dst.page_size = 1;
  p.head_num = 4;
  EXPECT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  p.dst.page_size = 16;  // a page's tokens between a token's head pieces: the layer walk, split by head
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_TRUE(r.layered);
  EXPECT_TRUE(r.split);
  EXPECT_EQ(r.head_words, 4u);  // 64-byte pieces
  EXPECT_EQ(r.dst.page, 16u);
  EXPECT_EQ(r.dst.stride, 64);            // a page's tokens, one piece apart
  EXPECT_EQ(r.dst.head_stride, 16 * 64);  // a page's pieces of one head
  EXPECT_EQ(r.dst.page_stride, 16 * 1024);
  EXPECT_EQ(r.dst.base[0], pool + 2048 + 2 * 16 * 256);  // layer 2 of each page
  EXPECT_EQ(r.src.page, 1u);
  p.head_num = 8;  // 32-byte pieces: still whole words
  EXPECT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  p.head_num = 32;  // 8-byte pieces
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.head_num = 4;
  p.dst.page_size = 1;
  p.dst.layout_dim = 1000;  // token stride not 16-byte aligned
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.dst.layout_dim = 1024;
  p.src.base[1] = pool + 1032;  // misaligned base
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.src.base[1] = pool + 1024;
  p.num_layers = 2;  // several layers of an lf side given by one base
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.num_layers = 1;
  p.item_size = 264;  // not whole words
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.item_size = 256;
  const int64_t ptrs[2] = {0, 0};
  p.src.layer_ptrs[0] = ptrs;  // per-layer addresses in a (device) array: the layer walk
  p.src.layer_ptrs[1] = ptrs;
  p.num_layers = 2;
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_TRUE(r.layered);
  EXPECT_EQ(r.src.layer_ptrs[1], ptrs);
  EXPECT_EQ(r.num_layers, 2);
  EXPECT_EQ(r.total, 2 * 2 * 3 * 16);
  EXPECT_EQ(r.by_words.div(47), 2u);
  EXPECT_EQ(r.by_indices.div(7), 2u);
  EXPECT_EQ(r.by_layers.div(3), 1u);
  p.num_indices = int64_t{1} << 30;  // 2^37 words: past the layer walk's 32-bit word numbers
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.num_indices = 3;
  p.num_layers = 1;
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_TRUE(r.layered);  // one layer, but its base is in device memory
  p.src.layer_ptrs[0] = p.src.layer_ptrs[1] = nullptr;
  p.src.inline_table = true;  // bases from the inline table
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  KVInlineTable t{};
  t.src[0] = reinterpret_cast<int64_t>(pool + 512);
  t.src[1] = reinterpret_cast<int64_t>(pool + 1536);
  ASSERT_TRUE(kvio_detail::rows_of(p, &t, r));
  EXPECT_EQ(r.src.base[1], pool + 1536);
  p.num_layers = 2;  // an inline table of several layers: the layer walk reads it
  ASSERT_TRUE(kvio_detail::rows_of(p, &t, r));
  EXPECT_TRUE(r.layered);
  EXPECT_TRUE(r.src.table);
  t.src[3] += 8;  // an entry off 16 bytes (the host sees the table)
  EXPECT_FALSE(kvio_detail::rows_of(p, &t, r));
  t.src[3] -= 8;
  p.num_layers = kKVInlineTable / 2 + 1;  // K and V of one layer more than the table holds
  EXPECT_FALSE(kvio_detail::rows_of(p, &t, r));
}

// Pages of index_run tokens (the direct variants): entry j copies token
// indices[j - j % run] + j % run; the row walk (1 or 2 words a thread, 32-
// and 64-bit word indices) and the warp walk against a host reference.
TEST(KVTransferKernel, RowWalkCopiesRunsOfTokens) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  constexpr int64_t kRun = 4, kPages = 9, kItem = 96, kTokens = kPages * kRun, kN = 5 * kRun;
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> bd(0, 255);
  std::vector<unsigned char> hs(2 * kTokens * kItem), hd(2 * kTokens * kItem);
  for (auto& x : hs) x = static_cast<unsigned char>(bd(gen));
  for (auto& x : hd) x = static_cast<unsigned char>(bd(gen));
  std::vector<int64_t> pages(kPages);
  for (int64_t i = 0; i < kPages; ++i) pages[i] = i;
  std::vector<int64_t> sp = pages, dp = pages;
  std::shuffle(sp.begin(), sp.end(), gen);
  std::shuffle(dp.begin(), dp.end(), gen);
  std::vector<int64_t> si(kN), di(kN);
  for (int64_t j = 0; j < kN; ++j) {
    // Only the first entry of each run is read; the others hold junk.
    si[j] = j % kRun == 0 ? sp[j / kRun] * kRun : -1;
    di[j] = j % kRun == 0 ? dp[j / kRun] * kRun : 1 << 30;
  }
  auto expect = hd;
  for (int64_t kv = 0; kv < 2; ++kv)
    for (int64_t j = 0; j < kN; ++j) {
      const int64_t st = si[j - j % kRun] + j % kRun, dt = di[j - j % kRun] + j % kRun;
      std::memcpy(expect.data() + (kv * kTokens + dt) * kItem, hs.data() + (kv * kTokens + st) * kItem, kItem);
    }
  unsigned char *ds = nullptr, *dd = nullptr;
  int64_t *dsi = nullptr, *ddi = nullptr;
  ASSERT_EQ(cudaMalloc(&ds, hs.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dd, hd.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dsi, kN * sizeof(int64_t)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&ddi, kN * sizeof(int64_t)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(ds, hs.data(), hs.size(), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dsi, si.data(), kN * sizeof(int64_t), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(ddi, di.data(), kN * sizeof(int64_t), cudaMemcpyHostToDevice), cudaSuccess);
  KVTransferParams p = one_layer(2, kN, kItem);
  p.src.layout = p.dst.layout = KVLayout::kLayerFirst;
  p.src.base[0] = ds;
  p.src.base[1] = ds + kTokens * kItem;
  p.dst.base[0] = dd;
  p.dst.base[1] = dd + kTokens * kItem;
  p.src_indices = dsi;
  p.dst_indices = ddi;
  p.index_run = kRun;
  p.block_quota = 3;
  p.warps_per_block = 2;
  // The same with the bases as device arrays of addresses (the layer walk).
  int64_t* arrays = nullptr;
  const int64_t bases[4] = {reinterpret_cast<int64_t>(ds), reinterpret_cast<int64_t>(ds + kTokens * kItem),
                            reinterpret_cast<int64_t>(dd), reinterpret_cast<int64_t>(dd + kTokens * kItem)};
  ASSERT_EQ(cudaMalloc(&arrays, sizeof bases), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(arrays, bases, sizeof bases, cudaMemcpyHostToDevice), cudaSuccess);
  for (int rows : {0, 1, 2, 4})
  for (bool by_array : {false, true})
    for (bool wide : {false, true}) {
      if (wide && (rows == 0 || by_array)) continue;
      for (int kv = 0; kv < 2; ++kv) {
        p.src.layer_ptrs[kv] = by_array ? arrays + kv : nullptr;
        p.dst.layer_ptrs[kv] = by_array ? arrays + 2 + kv : nullptr;
      }
      ASSERT_EQ(cudaMemcpy(dd, hd.data(), hd.size(), cudaMemcpyHostToDevice), cudaSuccess);
      if (wide) {
        kvio_detail::KVRows r{};
        ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
        const dim3 grid(3), block(64);
        if (rows == 1) kvio_detail::kv_rows_kernel<uint64_t, 1><<<grid, block>>>(r);
        if (rows == 2) kvio_detail::kv_rows_kernel<uint64_t, 2><<<grid, block>>>(r);
        if (rows == 4) kvio_detail::kv_rows_kernel<uint64_t, 4><<<grid, block>>>(r);
        ASSERT_EQ(cudaGetLastError(), cudaSuccess);
      } else {
        KVTransferConfig cfg;
        cfg.rows = rows;
        ASSERT_EQ(kvio_detail::run_kv_transfer(p, nullptr, cfg, nullptr), cudaSuccess);
      }
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      std::vector<unsigned char> got(hd.size());
      ASSERT_EQ(cudaMemcpy(got.data(), dd, got.size(), cudaMemcpyDeviceToHost), cudaSuccess);
      EXPECT_EQ(got, expect) << "rows " << rows << " wide " << wide << " by_array " << by_array;
    }
  cudaFree(arrays);
  cudaFree(ds);
  cudaFree(dd);
  cudaFree(dsi);
  cudaFree(ddi);
}

// The row walk's division by launch constants, against the hardware's on
// divisors of every bit width, the edges of n and random n.
TEST(KVTransferKernelConfig, DivU32MatchesDivision) {
  std::mt19937 gen(11);
  std::vector<uint32_t> ds = {1, 2, 3, 5, 6, 7, 63, 64, 65, 72, 94, 1000, 16384, 20001, 65535, 65536,
                              (1u << 31) - 1, 1u << 31, (1u << 31) + 1, 0xfffffffeu, 0xffffffffu};
  for (int i = 0; i < 200; ++i) ds.push_back((static_cast<uint32_t>(gen()) >> (gen() % 32)) | 1u);
  for (uint32_t d : ds) {
    const kvio_detail::DivU32 q = kvio_detail::make_div(d);
    std::vector<uint32_t> ns = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, 0x7fffffffu, 0x80000000u,
                                0xfffffffeu, 0xffffffffu};
    for (int i = 0; i < 2000; ++i) ns.push_back(static_cast<uint32_t>(gen()));
    for (uint32_t n : ns) ASSERT_EQ(q.div(n), n / d) << n << " / " << d;
  }
}

// Which launches the default gives the row walk, and how many words a
// thread: one layer of contiguous rows always; the layer walk (several
// layers, or head-split rows) only when the quota gives every word a thread
// or 64 warps to every SM.
TEST(KVTransferKernelConfig, RowWalkDefaultFollowsTheQuota) {
  alignas(16) static char pool[1 << 16];
  KVTransferParams p = one_layer(2, 1000, 1024);  // 128000 words
  p.src.layout = p.dst.layout = KVLayout::kLayerFirst;
  p.src.base[0] = p.dst.base[0] = pool;
  p.src.base[1] = p.dst.base[1] = pool + 1024;
  kvio_detail::KVRows r;
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  ASSERT_FALSE(r.layered);
  p.block_quota = 1;
  p.warps_per_block = 1;
  EXPECT_TRUE(kvio_detail::rows_by_default(p, r, 132));  // one layer: always
  EXPECT_EQ(kvio_detail::rows_words(p, r), 2);
  p.block_quota = 4000;  // a word a thread
  EXPECT_EQ(kvio_detail::rows_words(p, r), 1);

  p.num_layers = 4;  // pf -> pf, the layer walk: 512000 words
  p.src.layout = p.dst.layout = KVLayout::kPageFirst;
  p.src.layout_dim = p.dst.layout_dim = 4 * 1024;
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  ASSERT_TRUE(r.layered);
  EXPECT_FALSE(r.split);
  auto takes = [&](int64_t quota, int warps, int sms) {
    p.block_quota = quota;
    p.warps_per_block = warps;
    return kvio_detail::rows_by_default(p, r, sms);
  };
  EXPECT_TRUE(takes(264, 32, 132));   // 64 warps an SM
  EXPECT_TRUE(takes(528, 16, 132));
  EXPECT_FALSE(takes(264, 16, 132));  // 32 warps an SM: the warp walk
  EXPECT_FALSE(takes(263, 32, 132));
  EXPECT_TRUE(takes(228, 32, 114));   // an H100 PCIe's 114 SMs
  EXPECT_TRUE(takes(16000, 1, 132));  // one-shot: 16000 x 32 threads >= 512000 words
  EXPECT_FALSE(takes(15999, 1, 132));  // blocks of one warp: at most 32 an SM
  EXPECT_TRUE(takes(15999, 2, 132));
  EXPECT_EQ(kvio_detail::rows_words(p, r), 2);

  p.dst.layout = KVLayout::kPageHead;  // 16-token pages of 4 heads: rows split by head
  p.dst.page_size = 16;
  p.head_num = 4;
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  ASSERT_TRUE(r.split);
  EXPECT_EQ(kvio_detail::rows_words(p, r), 1);
  EXPECT_TRUE(takes(264, 32, 132));
  EXPECT_FALSE(takes(264, 16, 132));
}

// Config fields out of range: rows, unroll, sort_chunk.
TEST(KVTransferKernelConfig, RejectsBadConfig) {
  const KVTransferParams p = one_layer(1, 1, 16);
  auto rejected = [&](const KVTransferConfig& cfg) {
    return kvio_detail::run_kv_transfer(p, nullptr, cfg, nullptr) == cudaErrorInvalidValue;
  };
  for (int rows : {-2, 3, 5}) {
    KVTransferConfig cfg;
    cfg.rows = rows;
    EXPECT_TRUE(rejected(cfg)) << "rows " << rows;
  }
  for (int unroll : {-1, 1, 5, 8}) {
    KVTransferConfig cfg;
    cfg.unroll = unroll;
    EXPECT_TRUE(rejected(cfg)) << "unroll " << unroll;
  }
  for (int chunk : {-2, 1, 32, 100, 8192}) {
    KVTransferConfig cfg;
    cfg.sort_chunk = chunk;
    EXPECT_TRUE(rejected(cfg)) << "sort_chunk " << chunk;
  }
}

constexpr int LF = 0, PF = 1, PH = 2;

INSTANTIATE_TEST_SUITE_P(
    Layouts, KVTransferKernel,
    ::testing::Values(
        // device <-> device, 16-byte items and odd ones
        Shape{LF, LF, 1, 1024, 1, 1, false, false, 0}, Shape{LF, LF, 3, 96, 1, 1, false, false, 0},
        Shape{LF, PF, 5, 1024, 1, 1, false, false, 0}, Shape{PF, LF, 5, 256, 1, 1, false, false, 0},
        Shape{LF, PH, 4, 512, 4, 16, false, false, 0}, Shape{PH, LF, 4, 512, 4, 16, false, false, 0},
        Shape{LF, PH, 3, 48, 3, 4, false, false, 0}, Shape{LF, PF, 3, 6, 1, 1, false, false, 0},
        Shape{LF, LF, 2, 20000, 1, 1, false, false, 0},  // items of many warp passes
        Shape{LF, PF, 3, 1024, 1, 1, false, false, 8},   // misaligned bases: 8-byte words
        Shape{LF, PF, 2, 24, 1, 1, false, false, 0},     // 16-byte-unaligned items
        Shape{LF, LF, 1, 1152, 1, 1, false, false, 0},   // MLA rows: 72 words, a short second pass at 2 words a lane
        Shape{LF, LF, 1, 1152, 1, 1, false, false, 4},   // ... misaligned by 4 (not the row walk)
        Shape{PF, LF, 1, 1024, 1, 1, false, false, 0},   // one layer out of a pf pool (row walk)
        Shape{LF, PH, 1, 512, 4, 1, false, false, 0},    // into a ph pool of 1-token pages (row walk)
        Shape{PH, LF, 1, 512, 4, 16, false, false, 0},   // out of 16-token pages (not the row walk)
        Shape{LF, LF, 1, 48, 1, 1, false, false, 0},     // rows of 3 words
        Shape{LF, LF, 3, 1024, 1, 1, false, false, 8},   // per-layer addresses off 16: the layer walk's byte path
        Shape{LF, PH, 3, 512, 4, 1, false, false, 0},    // several layers into 1-token pages (layer walk)
        Shape{PF, LF, 7, 1152, 1, 1, false, false, 0},   // MLA rows out of a pf pool, 7 layers (layer walk)
        Shape{PH, PH, 2, 1024, 4, 16, false, false, 0},  // pages of 16 tokens both sides (layer walk split by head)
        Shape{PH, LF, 1, 2048, 8, 64, false, false, 0},  // one layer out of 64-token pages, 8 heads
        Shape{LF, PH, 2, 96, 4, 8, false, false, 0},     // 24-byte head pieces (not the row walk)
        // pinned host <-> device
        Shape{LF, PF, 4, 1024, 1, 1, false, true, 0}, Shape{PF, LF, 1, 1024, 1, 1, true, false, 0},
        Shape{LF, PH, 3, 512, 4, 16, false, true, 0}, Shape{PH, LF, 3, 512, 4, 16, true, false, 0},
        Shape{LF, LF, 1, 40, 1, 1, true, false, 0}));

}  // namespace
