// The KV transfer kernels (transfer.cuh, used without any framework), on the GPU when one is
// present: every walk (one or two items per warp, 2, 3 or 4 words a lane
// per item and pass, each item order, the sorted walk, the one-layer row
// walk with 1 or 2 words a thread and 32- or 64-bit word indices) against
// a host reference that indexes upstream's pool shapes as row-major arrays
// (not the strides of transfer.h's builders), bit for bit,
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
// and V, in layout `layout` (upstream's shapes: transfer.h, KVLayout). lf
// pools are one allocation per (kv, layer).
struct Pool {
  KVLayout layout;
  int64_t layers, tokens, item, heads, page;
  bool host;      // pinned host memory instead of device memory
  int64_t shift;  // bytes added to every base (misalignment)
  std::vector<std::vector<unsigned char>> h;  // host image per buffer
  std::vector<unsigned char*> d;              // device-visible bases (before shift)
  int64_t* layer_ptrs[2] = {nullptr, nullptr};

  bool paged() const { return layout == KVLayout::kPageHead || layout == KVLayout::kPageFirstDirect; }
  int64_t buffers() const { return layout == KVLayout::kLayerFirst ? 2 * layers : 2; }
  // Paged pools hold whole pages.
  int64_t slots() const { return paged() ? (tokens + page - 1) / page * page : tokens; }
  int64_t buffer_bytes() const { return (layout == KVLayout::kLayerFirst ? tokens * item : slots() * layers * item) + shift; }
  // Buffer and byte offset of piece c of item (kv, layer, tok): the element
  // index of a row-major array of the layout's shape, times its bytes.
  std::pair<int64_t, int64_t> where(int64_t kv, int64_t layer, int64_t tok, int64_t c) const {
    const int64_t piece = item / heads;
    const int64_t pg = tok / page, in = tok % page;
    switch (layout) {
      case KVLayout::kLayerFirst:  // [tokens, heads, piece] per layer
        return {kv * layers + layer, shift + (tok * heads + c) * piece};
      case KVLayout::kPageFirst:  // [tokens, layers, heads, piece]
        return {kv, shift + ((tok * layers + layer) * heads + c) * piece};
      case KVLayout::kPageHead:  // [pages, heads, page, layers, piece]
        return {kv, shift + (((pg * heads + c) * page + in) * layers + layer) * piece};
      default:  // kPageFirstDirect: [pages, layers, page, heads, piece]
        return {kv, shift + (((pg * layers + layer) * page + in) * heads + c) * piece};
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
    void* k = d[0] + shift;
    void* v = d[1] + shift;
    KVSide s{};
    switch (layout) {
      case KVLayout::kLayerFirst:
        s = kv_layer_first_side(layers == 1 ? k : nullptr, layers == 1 ? d[layers] + shift : nullptr, item);
        if (layers > 1) s.layer_ptrs[0] = layer_ptrs[0], s.layer_ptrs[1] = layer_ptrs[1];
        break;
      case KVLayout::kPageFirst:
        s = kv_page_first_side(k, v, item, layers * item, 0);
        break;
      case KVLayout::kPageHead:
        s = kv_page_head_side(k, v, item, layers * item, page, heads, 0);
        break;
      case KVLayout::kPageFirstDirect:
        s = kv_page_first_direct_side(k, v, item, layers, page, 0);
        break;
    }
    s.host = host;
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
  const int64_t tokens = 3 * page + 37;
  std::mt19937 gen(static_cast<unsigned>(sl * 131 + dl * 17 + layers + item + heads * 7 + page));
  Pool src{static_cast<KVLayout>(sl), layers, tokens, item, heads, page, sh, shift};
  Pool dst{static_cast<KVLayout>(dl), layers, tokens, item, heads, page, dh, shift};
  src.alloc(gen);
  dst.alloc(gen);
  // A page-first (direct) side copies runs of a page: run j's first index
  // names page first / page (here off the page start, as upstream allows),
  // the other side's tokens first + k; the run's other entries hold junk.
  const bool runs = src.layout == KVLayout::kPageFirstDirect || dst.layout == KVLayout::kPageFirstDirect;
  const int64_t run = runs ? page : 1;
  const int64_t units = runs ? tokens / page : tokens;  // whole pages (runs) or tokens
  std::vector<int64_t> su(units), du(units);
  for (int64_t i = 0; i < units; ++i) su[i] = du[i] = i;
  std::shuffle(su.begin(), su.end(), gen);
  std::shuffle(du.begin(), du.end(), gen);
  const int64_t n = (units / 2 + 5 < units ? units / 2 + 5 : units) * run;
  std::vector<int64_t> si(n), di(n);
  auto first_of = [&](const Pool& pool, int64_t unit) {
    if (!runs) return unit;  // (pool.page: no structured binding in a lambda before C++20)
    return unit * pool.page +
           (pool.layout == KVLayout::kPageFirstDirect ? static_cast<int64_t>(gen() % pool.page) : 0);
  };
  for (int64_t j = 0; j < n; j += run) {
    si[j] = first_of(src, su[j / run]);
    di[j] = first_of(dst, du[j / run]);
    for (int64_t k = 1; k < run; ++k) si[j + k] = -1, di[j + k] = int64_t{1} << 40;
  }
  // Token of place k of the run starting at entry f, on a side.
  auto token = [&](const Pool& pool, const std::vector<int64_t>& idx, int64_t f, int64_t k) {
    return pool.layout == KVLayout::kPageFirstDirect ? idx[f] / pool.page * pool.page + k : idx[f] + k;
  };
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
  p.index_run = run;
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
          const int64_t f = j - j % run;
          const auto [sb, so] = src.where(kv, l, token(src, si, f, j - f), c);
          const auto [db, dof] = dst.where(kv, l, token(dst, di, f, j - f), c);
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
  alignas(16) static char pool[16384];  // bases only: rows_of reads no memory
  KVTransferParams p = one_layer(2, 3, 256);
  p.src = kv_layer_first_side(pool, pool + 1024, 256);
  p.dst = kv_page_first_side(pool + 2048, pool + 3072, 256, 4 * 256, /*layer_offset=*/2);
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
  EXPECT_FALSE(r.split);
  // ph [pages, heads, page_size, layers, head_item], 4 heads of 64 bytes, 4
  // layers: even 1-token pages put a token's head pieces a head's layers
  // (256 bytes) apart, so the rows are split by head (the layer walk).
  p.head_num = 4;
  p.dst = kv_page_head_side(pool + 2048, pool + 3072, 256, 4 * 256, /*page_size=*/1, 4, /*layer_offset=*/2);
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_TRUE(r.layered);
  EXPECT_TRUE(r.split);
  EXPECT_EQ(r.dst.page, 1u);
  EXPECT_EQ(r.dst.stride, 1024);      // a token's pieces of all heads and layers
  EXPECT_EQ(r.dst.head_stride, 256);  // a head's pieces of the token's 4 layers
  EXPECT_EQ(r.dst.base[0], pool + 2048 + 2 * 64);  // layer 2: the third piece of each head
  EXPECT_EQ(r.src.head_stride, 64);   // lf rows: contiguous pieces
  p.dst = kv_page_head_side(pool + 2048, pool + 3072, 256, 4 * 256, /*page_size=*/16, 4, /*layer_offset=*/2);
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_TRUE(r.layered);
  EXPECT_TRUE(r.split);
  EXPECT_EQ(r.head_words, 4u);  // 64-byte pieces
  EXPECT_EQ(r.dst.page, 16u);
  EXPECT_EQ(r.dst.stride, 256);            // a page's tokens, a head's 4 layers apart
  EXPECT_EQ(r.dst.head_stride, 16 * 256);  // a page's tokens of one head
  EXPECT_EQ(r.dst.page_stride, 16 * 1024);
  EXPECT_EQ(r.dst.layer_step, 64);
  EXPECT_EQ(r.dst.base[0], pool + 2048 + 2 * 64);
  EXPECT_FALSE(r.dst.page_runs);
  EXPECT_EQ(r.src.page, 1u);
  p.head_num = 8;  // 32-byte pieces: still whole words
  p.dst = kv_page_head_side(pool + 2048, pool + 3072, 256, 4 * 256, 16, 8, 2);
  EXPECT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  p.head_num = 32;  // 8-byte pieces
  p.dst = kv_page_head_side(pool + 2048, pool + 3072, 256, 4 * 256, 16, 32, 2);
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.head_num = 4;
  p.dst = kv_page_head_side(pool + 2048, pool + 3072, 256, 4 * 264, 16, 4, 2);  // a head's stretch of a token:
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));                          // 264 bytes, off 16
  p.head_num = 1;
  // Page-first pools of the direct variants [pages, layers, page_size, item]:
  // a page's tokens of one layer in a row, runs naming pages.
  p.index_run = 16;
  p.dst = kv_page_first_direct_side(pool + 2048, pool + 3072, 256, 4, 16, 2);
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_TRUE(r.split);
  EXPECT_TRUE(r.dst.page_runs);
  EXPECT_EQ(r.dst.stride, 256);
  EXPECT_EQ(r.dst.layer_step, 16 * 256);
  EXPECT_EQ(r.dst.page_stride, 4 * 16 * 256);
  EXPECT_EQ(r.dst.base[0], pool + 2048 + 2 * 16 * 256);
  EXPECT_EQ(r.head_words, 16u);  // one piece: the whole row
  p.dst = kv_page_first_direct_side(pool + 2048, pool + 3072, 256, 4, 1, 2);  // 1-token pages: pf rows
  p.index_run = 1;
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  EXPECT_FALSE(r.split);
  EXPECT_EQ(r.dst.stride, 4 * 256);
  p.dst = kv_page_first_side(pool + 2048, pool + 3072, 256, 1000, 2);  // token stride not 16-byte aligned
  EXPECT_FALSE(kvio_detail::rows_of(p, nullptr, r));
  p.dst.page_stride = 1024;
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
  p.src = kv_layer_first_side(ds, ds + kTokens * kItem, kItem);
  p.dst = kv_layer_first_side(dd, dd + kTokens * kItem, kItem);
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
  p.src = p.dst = kv_layer_first_side(pool, pool + 1024, 1024);
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
  p.src = p.dst = kv_page_first_side(pool, pool + 1024, 1024, 4 * 1024, 0);
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

  for (int64_t page : {1, 16}) {  // ph pools of 4 heads: rows split by head
    p.dst = kv_page_head_side(pool, pool + 1024, 1024, 4 * 1024, page, 4, 0);
    p.head_num = 4;
    ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
    ASSERT_TRUE(r.split);
    EXPECT_EQ(kvio_detail::rows_words(p, r), 1);
    EXPECT_TRUE(takes(264, 32, 132));
    EXPECT_FALSE(takes(264, 16, 132));
  }
  p.head_num = 1;  // page-first pools of 16-token pages (direct variants): split by page
  p.index_run = 16;
  p.dst = kv_page_first_direct_side(pool, pool + 1024, 1024, 4, 16, 0);
  ASSERT_TRUE(kvio_detail::rows_of(p, nullptr, r));
  ASSERT_TRUE(r.split);
  EXPECT_EQ(kvio_detail::rows_words(p, r), 1);
}

// The item order each layout gets (KVTransferConfig::order; item_coords'
// run): a token's layers in a row for pf and ph of any page size, layer by
// layer (order 1: a page's tokens of a layer, then the next layer) for
// page-first pages of several tokens.
TEST(KVTransferKernelConfig, ItemOrderFollowsTheLayout) {
  alignas(16) static char pool[64];
  KVTransferParams p = one_layer(2, 64, 1024);
  p.num_layers = 4;
  p.src = kv_layer_first_side(nullptr, nullptr, 1024);
  const int64_t n = p.num_indices;
  auto run = [&](int order) { return kvio_detail::order_run(p, order); };
  p.dst = kv_page_first_side(pool, pool, 1024, 4 * 1024, 0);
  EXPECT_EQ(run(-1), 1);
  EXPECT_EQ(run(0), n);
  EXPECT_EQ(run(1), 1);
  p.head_num = 4;
  for (int64_t page : {1, 16, 64}) {
    p.dst = kv_page_head_side(pool, pool, 1024, 4 * 1024, page, 4, 0);
    EXPECT_EQ(run(-1), 1) << page;
    EXPECT_EQ(run(1), 1) << page;
  }
  p.head_num = 1;
  p.dst = kv_page_first_direct_side(pool, pool, 1024, 4, 16, 0);
  EXPECT_EQ(run(-1), n);
  EXPECT_EQ(run(1), 16);
  p.dst = kv_page_first_direct_side(pool, pool, 1024, 4, 1, 0);
  EXPECT_EQ(run(-1), 1);
  p.num_layers = 1;  // one layer: index order
  p.dst = kv_page_head_side(pool, pool, 1024, 4 * 1024, 16, 4, 0);
  p.head_num = 4;
  EXPECT_EQ(run(-1), n);
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

// Sides the kernels cannot take: runs that name pages of another length,
// one lf buffer for several layers, no page size.
TEST(KVTransferKernelConfig, RejectsBadSides) {
  alignas(16) static char pool[64];
  KVTransferParams p = one_layer(1, 4, 16);
  p.src = kv_layer_first_side(pool, pool, 16);
  p.dst = kv_page_first_direct_side(pool, pool, 16, 2, 4, 0);
  auto rejected = [&]() { return kvio_detail::run_kv_transfer(p, nullptr, KVTransferConfig{}, nullptr) ==
                                 cudaErrorInvalidValue; };
  p.index_run = 2;  // page_runs needs index_run == page_size
  EXPECT_TRUE(rejected());
  p.index_run = 4;
  p.num_layers = 2;  // the lf side's one base cannot serve two layers
  EXPECT_TRUE(rejected());
  p.num_layers = 1;
  p.dst.page_size = 0;
  EXPECT_TRUE(rejected());
}

constexpr int LF = 0, PF = 1, PH = 2, PFD = 3;

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
        Shape{PH, LF, 1, 512, 4, 1, false, false, 0},    // one layer out of 1-token pages, heads apart (split)
        Shape{LF, PH, 3, 512, 1, 16, false, false, 0},   // one head: a page's tokens with their layers in a row
        // page-first pools of the direct variants (runs of a page, first
        // index off the page start on the page-first side)
        Shape{LF, PFD, 5, 1024, 1, 16, false, false, 0}, Shape{PFD, LF, 1, 1024, 1, 16, false, false, 0},
        Shape{LF, PFD, 3, 1024, 1, 1, false, false, 0}, Shape{PFD, LF, 3, 96, 1, 4, false, false, 0},
        Shape{LF, PFD, 4, 1152, 1, 64, false, false, 0},  // MLA rows, 64-token pages
        // pinned host <-> device
        Shape{LF, PF, 4, 1024, 1, 1, false, true, 0}, Shape{PF, LF, 1, 1024, 1, 1, true, false, 0},
        Shape{LF, PH, 3, 512, 4, 16, false, true, 0}, Shape{PH, LF, 3, 512, 4, 16, true, false, 0},
        Shape{LF, PH, 3, 512, 4, 1, false, true, 0}, Shape{PH, LF, 3, 512, 4, 1, true, false, 0},
        Shape{LF, PFD, 3, 1024, 1, 16, false, true, 0}, Shape{PFD, LF, 3, 1024, 1, 16, true, false, 0},
        Shape{LF, LF, 1, 40, 1, 1, true, false, 0}));

}  // namespace
