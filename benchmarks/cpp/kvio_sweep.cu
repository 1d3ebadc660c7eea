// KV transfer walks timed against cudaMemcpyAsync of the same bytes in the
// same run: item order (layer by layer / a page-first side's memory order)
// and the sorted walk's chunk (0 = the plain walk), for device<->device and
// pinned host<->device, with the block quotas the transfers run under beside
// compute (host: <= 4 blocks); one-layer device rows also with the PDL
// attribute, and a one-launch contiguous copy of the same bytes as their
// ceiling, and a torch.compile-like row gather; device rows also with 3 or 4
// words a lane per item and pass (KVTransferConfig::unroll), the row walk
// (KVTransferConfig::rows; all-layer rows too, where the layouts allow), at
// 64 warps an SM and with no block bound. Picks the defaults of KVTransferConfig (results and the candidates
// measured and dropped: transfer.cuh, docs/perf/kvcacheio.md).
//   [KVIO_SWEEP_ONLY=text] kvio_sweep [tokens=16384] [layers=94]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "sgl_kernel/kvcacheio/transfer.cuh"
#include "sweep_util.h"

using namespace sgl_kernel;

namespace {

constexpr int64_t kItem = 1024;  // 4 kv heads x 128 x bf16: the default model's K (or V) of one token and layer
constexpr int64_t kMlaItem = 1152;  // (512 + 64) x bf16: an MLA latent row (the layer-first buffers fit it)

// Plain contiguous copy (16-byte words, kU per thread per pass): what a
// transfer of the same bytes could reach at best, as a kernel.
template <int kU>
__global__ void copy_kernel(uint4* __restrict__ d, const uint4* __restrict__ s, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x * kU;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x * kU + threadIdx.x; i < n; i += stride) {
    uint4 r[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u)
      if (i + u * blockDim.x < n) r[u] = s[i + u * blockDim.x];
#pragma unroll
    for (int u = 0; u < kU; ++u)
      if (i + u * blockDim.x < n) d[i + u * blockDim.x] = r[u];
  }
}

// A gather-scatter of whole rows with a thread per 16-byte word (kU of them
// a step), the rows of pool kv = item / n_idx: what torch.compile generates
// for dst[di] = src[si], as a reference for the one-layer rows. 32-bit word
// indices (the caller checks).
template <int kU>
__global__ void row_gather_kernel(uint4* d0, uint4* d1, const uint4* s0, const uint4* s1, const int64_t* si,
                                  const int64_t* di, unsigned n_idx, unsigned words, unsigned total) {
  const unsigned stride = gridDim.x * blockDim.x * kU;
  for (unsigned i = blockIdx.x * blockDim.x * kU + threadIdx.x; i < total; i += stride) {
    uint4 r[kU];
    uint4* dp[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const unsigned e = i + u * blockDim.x;
      if (e < total) {
        const unsigned item = e / words, w = e - item * words;
        const bool kv = item >= n_idx;
        const unsigned j = kv ? item - n_idx : item;
        r[u] = __ldcs((kv ? s1 : s0) + si[j] * words + w);
        dp[u] = (kv ? d1 : d0) + di[j] * words + w;
      }
    }
#pragma unroll
    for (int u = 0; u < kU; ++u)
      if (i + u * blockDim.x < total) __stcs(dp[u], r[u]);
  }
}

struct Buf {
  unsigned char* p = nullptr;
  bool host = false;
};

Buf alloc(int64_t bytes, bool host) {
  Buf b;
  b.host = host;
  if (host) {
    if (cudaHostAlloc(&b.p, bytes, cudaHostAllocDefault) != cudaSuccess) std::abort();
    std::memset(b.p, 1, bytes);
  } else {
    if (cudaMalloc(&b.p, bytes) != cudaSuccess) std::abort();
    cudaMemset(b.p, 1, bytes);
  }
  return b;
}

struct Setup {
  const char* name;
  KVLayout src_layout, dst_layout;
  bool src_host, dst_host;
  bool all_layers;  // else one layer
  int64_t page;
  bool scattered_src = false;  // source tokens in random order too (as bench_kvcacheio.py picks them)
  int64_t num_kv = 2;          // 1: MLA-sized (one pool)
  // Scattered sources sorted in windows of this many indices (what sorting a
  // block's share of the items by host address would give); 0: not sorted.
  int64_t sorted_window = 0;
  int64_t item = kItem;  // bytes an item (kMlaItem: one-layer lf -> lf only)
  // > 0: both sides' index lists are random orders of pages of `runs`
  // consecutive tokens, different on each side, as bench_kvcacheio.py picks
  // them (1: random tokens both sides); overrides scattered_src.
  int64_t runs = 0;
  // lf sides take their per-layer bases from the inline table, as the
  // pointer-list (direct) variants do: a launch of `table_layers` layers.
  int64_t table_layers = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const int64_t tokens = argc > 1 ? std::atoll(argv[1]) : 16384;
  const int64_t layers = argc > 2 ? std::atoll(argv[2]) : 94;
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("# kvio_sweep on %s (%d SMs): %lld tokens x item %lld B, K and V, %lld layers in the pools\n",
              prop.name, sms, static_cast<long long>(tokens), static_cast<long long>(kItem),
              static_cast<long long>(layers));

  // Pools: lf = one buffer per (kv, layer) [tokens, item]; pf/ph/page-first =
  // one per kv of tokens x layers items: pf [tokens, layers, item], ph
  // [pages, heads, page, layers, head_item] (4 heads), page-first (direct
  // variants) [pages, layers, page, item] (transfer.h: KVLayout).
  const int64_t layer_bytes = tokens * kItem, pool_bytes = layers * layer_bytes;
  // KVIO_SWEEP_ONLY=text: only the cases whose name contains it (and the
  // pinned host pools only when one of them needs them).
  const char* only = std::getenv("KVIO_SWEEP_ONLY");
  std::vector<int64_t> perm(tokens);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937 gen(1);
  std::shuffle(perm.begin(), perm.end(), gen);
  int64_t *idx_seq = nullptr, *idx_perm = nullptr;
  CHECK(cudaMalloc(&idx_seq, tokens * sizeof(int64_t)));
  CHECK(cudaMalloc(&idx_perm, tokens * sizeof(int64_t)));
  std::vector<int64_t> seq(tokens);
  std::iota(seq.begin(), seq.end(), 0);
  CHECK(cudaMemcpy(idx_seq, seq.data(), tokens * sizeof(int64_t), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(idx_perm, perm.data(), tokens * sizeof(int64_t), cudaMemcpyHostToDevice));
  // Random orders of pages of `run` consecutive tokens (seed: one list per side),
  // of `count` tokens (default: tokens).
  auto page_perm = [&](int64_t run, unsigned seed, int64_t count = 0) {
    std::vector<int64_t> pages((count ? count : tokens) / run), v;
    std::iota(pages.begin(), pages.end(), 0);
    std::mt19937 g(seed);
    std::shuffle(pages.begin(), pages.end(), g);
    for (int64_t pg : pages)
      for (int64_t i = 0; i < run; ++i) v.push_back(pg * run + i);
    int64_t* d = nullptr;
    if (cudaMalloc(&d, v.size() * sizeof(int64_t)) != cudaSuccess) std::abort();
    cudaMemcpy(d, v.data(), v.size() * sizeof(int64_t), cudaMemcpyHostToDevice);
    return d;
  };
  auto windows_sorted = [&](int64_t w) {
    std::vector<int64_t> v = perm;
    for (int64_t a = 0; a < tokens; a += w) std::sort(v.begin() + a, v.begin() + std::min(tokens, a + w));
    int64_t* d = nullptr;
    if (cudaMalloc(&d, tokens * sizeof(int64_t)) != cudaSuccess) std::abort();
    cudaMemcpy(d, v.data(), tokens * sizeof(int64_t), cudaMemcpyHostToDevice);
    return d;
  };

  // Device lf pool (per layer buffers, with their address arrays), device and
  // host page-first pools.
  std::vector<Buf> dev_lf(2 * layers);
  for (auto& b : dev_lf) b = alloc(tokens * kMlaItem, false);
  int64_t* lf_ptrs[2];
  for (int kv = 0; kv < 2; ++kv) {
    std::vector<int64_t> ptrs(layers);
    for (int64_t l = 0; l < layers; ++l) ptrs[l] = reinterpret_cast<int64_t>(dev_lf[kv * layers + l].p);
    CHECK(cudaMalloc(&lf_ptrs[kv], layers * sizeof(int64_t)));
    CHECK(cudaMemcpy(lf_ptrs[kv], ptrs.data(), layers * sizeof(int64_t), cudaMemcpyHostToDevice));
  }
  Buf dev_lf2[2] = {alloc(tokens * kMlaItem, false), alloc(tokens * kMlaItem, false)};  // one more layer, for lf -> lf
  std::vector<Buf> dev_lf_dst;  // all-layer lf -> lf destinations (allocated below when a case needs them)
  int64_t* lf_dst_ptrs[2] = {nullptr, nullptr};
  Buf dev_pf[2] = {alloc(pool_bytes, false), alloc(pool_bytes, false)};
  Buf host_pf[2];  // allocated below, once the cases are known

  auto lf_side = [&](bool all, int64_t item) {
    KVSide s = kv_layer_first_side(all ? nullptr : dev_lf[0].p, all ? nullptr : dev_lf[layers].p, item);
    for (int kv = 0; kv < 2; ++kv) s.layer_ptrs[kv] = all ? lf_ptrs[kv] : nullptr;
    return s;
  };
  // pf, ph (4 heads) or page-first (direct) pools over the same buffers.
  auto paged_side = [&](KVLayout layout, bool host, int64_t page) {
    void* k = host ? host_pf[0].p : dev_pf[0].p;
    void* v = host ? host_pf[1].p : dev_pf[1].p;
    KVSide s{};
    if (layout == KVLayout::kPageHead) {
      s = kv_page_head_side(k, v, kItem, layers * kItem, page, 4, 0);
    } else if (layout == KVLayout::kPageFirstDirect) {
      s = kv_page_first_direct_side(k, v, kItem, layers, page, 0);
    } else {
      s = kv_page_first_side(k, v, kItem, layers * kItem, 0);
    }
    s.host = host;
    return s;
  };

  const Setup setups[] = {
      {"d2d per_layer lf->lf", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, false, 1},
      {"d2d all_layer lf->pf", KVLayout::kLayerFirst, KVLayout::kPageFirst, false, false, true, 1},
      {"d2d all_layer lf->ph p16", KVLayout::kLayerFirst, KVLayout::kPageHead, false, false, true, 16},
      {"h2d per_layer pf->lf", KVLayout::kPageFirst, KVLayout::kLayerFirst, true, false, false, 1},
      {"h2d per_layer ph->lf p16", KVLayout::kPageHead, KVLayout::kLayerFirst, true, false, false, 16},
      {"h2d per_layer pf->lf p1 scattered", KVLayout::kPageFirst, KVLayout::kLayerFirst, true, false, false, 1, true},
      {"h2d per_layer ph->lf p1 scattered", KVLayout::kPageHead, KVLayout::kLayerFirst, true, false, false, 1, true},
      {"h2d per_layer pf->lf p1 scattered sorted/2048", KVLayout::kPageFirst, KVLayout::kLayerFirst, true, false,
       false, 1, true, 2, 2048},
      {"d2d per_layer lf->lf mla-size", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, false, 1, false, 1},
      {"d2d per_layer lf->lf mla 1152", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, false, 1, false, 1,
       0, kMlaItem},
      {"d2h all_layer lf->pf", KVLayout::kLayerFirst, KVLayout::kPageFirst, false, true, true, 1},
      {"d2h all_layer lf->ph p1", KVLayout::kLayerFirst, KVLayout::kPageHead, false, true, true, 1},
      {"d2h all_layer lf->ph p16", KVLayout::kLayerFirst, KVLayout::kPageHead, false, true, true, 16},
      // As bench_kvcacheio.py: random pages (or tokens) on both sides.
      {"d2d bench all_layer lf->lf p1", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, true, 1, false, 2,
       0, kItem, 1},
      {"d2d bench all_layer lf->pf p1", KVLayout::kLayerFirst, KVLayout::kPageFirst, false, false, true, 1, false, 2, 0,
       kItem, 1},
      {"d2d bench all_layer lf->pf p64", KVLayout::kLayerFirst, KVLayout::kPageFirst, false, false, true, 64, false, 2,
       0, kItem, 64},
      {"d2d bench all_layer lf->ph p1", KVLayout::kLayerFirst, KVLayout::kPageHead, false, false, true, 1, false, 2, 0,
       kItem, 1},
      {"d2d bench all_layer lf->ph p16", KVLayout::kLayerFirst, KVLayout::kPageHead, false, false, true, 16, false, 2,
       0, kItem, 16},
      {"d2d bench all_layer lf->ph p64", KVLayout::kLayerFirst, KVLayout::kPageHead, false, false, true, 64, false, 2,
       0, kItem, 64},
      {"d2d bench all_layer mla lf->lf p1", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, true, 1, false,
       1, 0, kItem, 1},
      // transfer_kv_direct: all 2 x 94 pools in one launch (K and V alike;
      // kKVInlineTable), pages as index runs.
      {"d2d bench direct lf->lf p1", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, true, 1, false, 1, 0,
       kItem, 1, 188},
      {"d2d bench direct lf->lf p16", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, true, 16, false, 1, 0,
       kItem, 16, 188},
      // transfer_kv_all_layer_direct_lf_pf: K and V of all 94 layers a launch,
      // into upstream's page-first pools [pages, layers, page, item].
      {"d2d bench direct lf->pf p1", KVLayout::kLayerFirst, KVLayout::kPageFirstDirect, false, false, true, 1, false,
       2, 0, kItem, 1, 94},
      {"d2d bench direct lf->pf p16", KVLayout::kLayerFirst, KVLayout::kPageFirstDirect, false, false, true, 16, false,
       2, 0, kItem, 16, 94},
      {"d2d bench direct lf->pf p64", KVLayout::kLayerFirst, KVLayout::kPageFirstDirect, false, false, true, 64, false,
       2, 0, kItem, 64, 94},
      // transfer_kv_per_layer_direct_pf_lf: one layer out of them.
      {"d2d bench direct pf->lf p16", KVLayout::kPageFirstDirect, KVLayout::kLayerFirst, false, false, false, 16,
       false, 2, 0, kItem, 16},
      {"d2h direct lf->pf p16", KVLayout::kLayerFirst, KVLayout::kPageFirstDirect, false, true, true, 16, false, 2, 0,
       kItem, 16, 94},
      {"h2d direct pf->lf p16", KVLayout::kPageFirstDirect, KVLayout::kLayerFirst, true, false, false, 16, false, 2, 0,
       kItem, 16},
      {"d2d bench per_layer ph->lf p16", KVLayout::kPageHead, KVLayout::kLayerFirst, false, false, false, 16, false, 2,
       0, kItem, 16},
      {"d2d bench per_layer ph->lf p64", KVLayout::kPageHead, KVLayout::kLayerFirst, false, false, false, 64, false, 2,
       0, kItem, 64},
      {"d2d bench per_layer lf->lf p1", KVLayout::kLayerFirst, KVLayout::kLayerFirst, false, false, false, 1, false, 2,
       0, kItem, 1},
  };

  bool need_host = false;
  for (const Setup& s : setups)
    if (!only || std::strstr(s.name, only)) need_host = need_host || s.src_host || s.dst_host;
  if (need_host) host_pf[0] = alloc(pool_bytes, true), host_pf[1] = alloc(pool_bytes, true);
  bool need_lf_dst = false;
  for (const Setup& s : setups)
    if ((!only || std::strstr(s.name, only)) && s.all_layers && s.dst_layout == KVLayout::kLayerFirst)
      need_lf_dst = true;
  if (need_lf_dst) {
    dev_lf_dst.resize(2 * layers);
    for (auto& b : dev_lf_dst) b = alloc(tokens * kItem, false);
    for (int kv = 0; kv < 2; ++kv) {
      std::vector<int64_t> ptrs(layers);
      for (int64_t l = 0; l < layers; ++l) ptrs[l] = reinterpret_cast<int64_t>(dev_lf_dst[kv * layers + l].p);
      CHECK(cudaMalloc(&lf_dst_ptrs[kv], layers * sizeof(int64_t)));
      CHECK(cudaMemcpy(lf_dst_ptrs[kv], ptrs.data(), layers * sizeof(int64_t), cudaMemcpyHostToDevice));
    }
  }

  // cudaMemcpyAsync of the same payload, contiguous, per direction.
  auto memcpy_us = [&](bool src_host, bool dst_host, int64_t bytes) {
    unsigned char* s = src_host ? host_pf[0].p : dev_pf[0].p;
    unsigned char* d = dst_host ? host_pf[1].p : dev_pf[1].p;
    return median_us([&](int) { cudaMemcpyAsync(d, s, bytes, cudaMemcpyDefault, nullptr); }, 3);
  };

  // One-layer device->device: 8 source and 8 destination layers in turn, so
  // that L2 (50 MB) does not hold a 16-32 MB transfer across calls.
  constexpr int kRot = 8;
  auto rot_layer = [&](int kv, int i, bool dst) { return dev_lf[kv * layers + (dst ? kRot : 0) + i % kRot].p; };
  if (layers < 2 * kRot) {
    std::fprintf(stderr, "kvio_sweep needs >= %d layers\n", 2 * kRot);
    return 1;
  }

  // The ceiling for one-layer device->device: contiguous copies of the same
  // bytes in one launch (regions of the device pf pools, rotating over 8 as
  // above), by cudaMemcpyAsync and by a plain copy kernel at two shapes.
  std::printf("| same-bytes copy, one launch, rotating | how | us | x 2 GiB-copy rate of cudaMemcpyAsync |\n");
  std::printf("|---|---|---|---|\n");
  const int64_t big = std::min<int64_t>(pool_bytes, int64_t{1} << 31) / 2 / 16 * 16;  // 2 GiB read + written
  const float big_us =
      median_us([&](int) { cudaMemcpyAsync(dev_pf[1].p, dev_pf[0].p, big, cudaMemcpyDefault, nullptr); }, 2);
  const double rate = 2.0 * big / big_us;  // bytes read + written per us
  {
    for (int nkv : {2, 1}) {
      const int64_t bytes = nkv * layer_bytes;
      if (bytes * kRot > pool_bytes) break;
      auto region = [&](int kv, int i) { return dev_pf[kv].p + (i % kRot) * bytes; };
      const float mc = median_us(
          [&](int i) { cudaMemcpyAsync(region(1, i), region(0, i), bytes, cudaMemcpyDefault, nullptr); }, 2 * kRot);
      std::printf("| %lld MB | cudaMemcpyAsync | %.2f | %.3f |\n", static_cast<long long>(bytes >> 20), mc,
                  2.0 * bytes / mc / rate);
      const int64_t n = bytes / 16;
      for (int blocks : {2 * sms, 8 * sms}) {
        const int threads = blocks == 2 * sms ? 512 : 256;
        const float us = median_us(
            [&](int i) {
              copy_kernel<2><<<blocks, threads>>>(reinterpret_cast<uint4*>(region(1, i)),
                                                  reinterpret_cast<const uint4*>(region(0, i)), n);
            },
            2 * kRot);
        std::printf("| %lld MB | copy kernel %d x %d | %.2f | %.3f |\n", static_cast<long long>(bytes >> 20), blocks,
                    threads, us, 2.0 * bytes / us / rate);
      }
    }
  }
  CHECK(cudaGetLastError());

  // The ceiling for device->device transfers of random rows on both sides
  // (bench_kvcacheio.py's index lists) at the all-layer size: a gather of
  // the 1024-byte rows of one device pool into the other (tokens x layers
  // rows each side) in random orders of runs of 1, 16 or 64 rows, no index
  // arithmetic beyond a division, against a copy kernel of the same bytes.
  if (!only || std::strstr("ceiling", only)) {
    std::printf("| random-row ceiling, %lld MB a side | how | us | x 2 GiB-copy rate of cudaMemcpyAsync |\n",
                static_cast<long long>(pool_bytes >> 20));
    std::printf("|---|---|---|---|\n");
    const int64_t rows = tokens * layers;
    const unsigned words = static_cast<unsigned>(kItem / 16);
    if (rows * words < (int64_t{1} << 31)) {
      const unsigned total = static_cast<unsigned>(rows * words);
      auto d = reinterpret_cast<uint4*>(dev_pf[1].p);
      auto sp = reinterpret_cast<const uint4*>(dev_pf[0].p);
      for (int blocks : {2 * sms, 8 * sms}) {
        const int threads = blocks == 2 * sms ? 512 : 256;
        const float us = median_us([&](int) { copy_kernel<2><<<blocks, threads>>>(d, sp, total); }, 3);
        std::printf("| contiguous | copy kernel %d x %d | %.1f | %.3f |\n", blocks, threads, us,
                    2.0 * pool_bytes / us / rate);
      }
      for (int64_t run : {1, 16, 64}) {
        int64_t* si = page_perm(run, 21, rows);
        int64_t* di = page_perm(run, 22, rows);
        const int gshapes[][3] = {{0, 256, 1}, {0, 256, 2}, {2 * sms, 512, 2}, {2 * sms, 1024, 2}, {8 * sms, 256, 2}};
        for (const auto& g : gshapes) {
          const int threads = g[1], ku = g[2];
          const unsigned blocks = g[0] ? g[0] : (total + threads * ku - 1) / (threads * ku);
          const float us = median_us(
              [&](int) {
                if (ku == 1) {
                  row_gather_kernel<1><<<blocks, threads>>>(d, d, sp, sp, si, di, static_cast<unsigned>(rows), words,
                                                           total);
                } else {
                  row_gather_kernel<2><<<blocks, threads>>>(d, d, sp, sp, si, di, static_cast<unsigned>(rows), words,
                                                           total);
                }
              },
              3);
          CHECK(cudaGetLastError());
          std::printf("| runs of %lld rows | row gather %u x %d, %d a thread | %.1f | %.3f |\n",
                      static_cast<long long>(run), blocks, threads, ku, us, 2.0 * pool_bytes / us / rate);
        }
        CHECK(cudaFree(si));
        CHECK(cudaFree(di));
      }
    }
    std::fflush(stdout);
  }

  std::printf(
      "| case | quota x warps | walk | order | sort_chunk | us | GB/s payload | x cudaMemcpyAsync | x copy BW |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Setup& s : setups) {
    if (only && !std::strstr(s.name, only)) continue;
    const int64_t nl = s.table_layers ? s.table_layers : s.all_layers ? layers : 1;
    const int64_t payload = s.num_kv * nl * tokens * s.item;
    const bool rotate = !s.src_host && !s.dst_host && !s.all_layers;
    const int64_t ref_bytes = payload < pool_bytes ? payload : pool_bytes;
    const float ref = rotate ? median_us(
                                   [&](int i) {
                                     for (int kv = 0; kv < s.num_kv; ++kv)
                                       cudaMemcpyAsync(rot_layer(kv, i, true), rot_layer(kv, i, false),
                                                       tokens * s.item, cudaMemcpyDefault, nullptr);
                                   },
                                   2 * kRot)
                             : memcpy_us(s.src_host, s.dst_host, ref_bytes) * (static_cast<float>(payload) / ref_bytes);
    std::printf("| %s | cudaMemcpyAsync | | | | %.1f | %.1f | 1 | %.3f |\n", s.name, ref, payload / ref / 1e3,
                2.0 * payload / ref / rate);
    if (rotate && s.src_layout == KVLayout::kLayerFirst && s.dst_layout == KVLayout::kLayerFirst) {
      // The torch.compile-like row gather (random rows both sides, as below):
      // one-shot grids of 128 / 256 threads, and persistent ones.
      const unsigned words = static_cast<unsigned>(s.item / 16);
      const unsigned total = static_cast<unsigned>(s.num_kv * tokens * words);
      const int gshapes[][3] = {{0, 128, 1}, {0, 256, 1}, {0, 256, 2}, {2 * sms, 512, 2}, {8 * sms, 256, 1}};
      for (const auto& g : gshapes) {
        const int threads = g[1], ku = g[2];
        const unsigned blocks = g[0] ? g[0] : (total + threads * ku - 1) / (threads * ku);
        const float us = median_us(
            [&](int i) {
              auto d0 = reinterpret_cast<uint4*>(rot_layer(0, i, true));
              auto d1 = reinterpret_cast<uint4*>(rot_layer(1, i, true));
              auto s0 = reinterpret_cast<const uint4*>(rot_layer(0, i, false));
              auto s1 = reinterpret_cast<const uint4*>(rot_layer(1, i, false));
              if (ku == 1) {
                row_gather_kernel<1><<<blocks, threads>>>(d0, d1, s0, s1, idx_seq, idx_perm, tokens, words, total);
              } else {
                row_gather_kernel<2><<<blocks, threads>>>(d0, d1, s0, s1, idx_seq, idx_perm, tokens, words, total);
              }
            },
            2 * kRot);
        CHECK(cudaGetLastError());
        std::printf("| %s | row gather %u x %d, %d a thread | | | | %.1f | %.1f | %.3f | %.3f |\n", s.name, blocks,
                    threads, ku, us, payload / us / 1e3, ref / us, 2.0 * payload / us / rate);
      }
    }
    KVTransferParams p{};
    KVInlineTable tbl{};
    p.src = s.src_layout == KVLayout::kLayerFirst ? lf_side(s.all_layers, s.item)
                                                  : paged_side(s.src_layout, s.src_host, s.page);
    if (s.dst_layout == KVLayout::kLayerFirst) {
      p.dst = lf_side(false, s.item);
      for (int kv = 0; kv < 2; ++kv) {
        p.dst.base[kv] = s.all_layers ? nullptr : dev_lf2[kv].p;
        p.dst.layer_ptrs[kv] = s.all_layers ? lf_dst_ptrs[kv] : nullptr;
      }
    } else {
      p.dst = paged_side(s.dst_layout, s.dst_host, s.page);
    }
    if (s.table_layers) {  // lf sides through the inline table (layers [0, nl) of each kv)
      for (int side = 0; side < 2; ++side) {
        KVSide& sd = side == 0 ? p.src : p.dst;
        if ((side == 0 ? s.src_layout : s.dst_layout) != KVLayout::kLayerFirst) continue;
        sd.inline_table = true;
        for (int kv = 0; kv < 2; ++kv) sd.base[kv] = nullptr, sd.layer_ptrs[kv] = nullptr;
        for (int64_t kv = 0; kv < s.num_kv; ++kv)
          for (int64_t l = 0; l < nl; ++l)
            (side == 0 ? tbl.src : tbl.dst)[kv * nl + l] =
                reinterpret_cast<int64_t>((side == 0 ? dev_lf : dev_lf_dst)[kv * layers + l].p);
      }
    }
    if (s.runs) {
      p.src_indices = page_perm(s.runs, 11);
      p.dst_indices = page_perm(s.runs, 12);
    } else {
      // a request's tokens in order on one side, scattered on the other
      p.src_indices = s.sorted_window ? windows_sorted(s.sorted_window) : s.scattered_src ? idx_perm : idx_seq;
      p.dst_indices = idx_perm;
    }
    p.num_indices = tokens;
    p.num_layers = nl;
    p.num_kv = s.num_kv;
    p.item_size = s.item;
    p.head_num = (s.src_layout == KVLayout::kPageHead || s.dst_layout == KVLayout::kPageHead) ? 4 : 1;
    // The direct variants copy pages as runs of indices (a page-first side's
    // runs name its pages: KVSide::page_runs).
    const bool direct = s.table_layers || s.src_layout == KVLayout::kPageFirstDirect ||
                        s.dst_layout == KVLayout::kPageFirstDirect;
    p.index_run = direct ? s.runs : 1;
    p.pdl = false;
    const bool host = s.src_host || s.dst_host;
    std::vector<std::pair<int, int>> shapes;
    if (host) {
      shapes = {{4, 32}};
      if (direct) shapes.push_back({2 * sms, 16});  // as the direct variants launch with a host pool
      // Scattered host reads: how they scale with the SMs given (per-SM
      // bound or not), beyond the 4-block budget.
      if (s.scattered_src && !s.sorted_window) shapes = {{4, 32}, {16, 32}};
    } else {
      // The benchmark's quota (2 blocks of 16 warps an SM), one block of 32
      // warps, 64 warps an SM requested (the walk's 64 registers a thread
      // keep 32 resident: the rest wait), and no bound (a warp per 2 items:
      // one-shot blocks of 8 or 4 warps).
      shapes = {{2 * sms, 16}, {sms, 32}, {2 * sms, 32}, {4 * sms, 16}, {1 << 20, 8}, {1 << 20, 4}};
    }
    for (auto [quota, warps] : shapes) {
      p.block_quota = quota;
      p.warps_per_block = warps;
      // Sorted walk: chunk sizes for host transfers; on the device it acts as
      // a lookahead (a block's addresses worked out before its copies).
      std::vector<int> sorts = {0, 2048};
      if (host) sorts = {0, 512, 1024, 2048};
      // One-layer device rows also launched with the PDL attribute (as the
      // torch ops do on sm_90; the kernels trigger no early start: transfer.cuh).
      // Walks for device rows: the warp walk with 2, 3 or 4 words a lane of
      // each item per pass (KVTransferConfig::unroll), the row walk (where
      // the layouts allow it) with 1 or 2 words a thread; {rows, unroll}.
      std::vector<std::pair<int, int>> walks = {{0, 0}};
      if (!host) walks = {{0, 2}, {0, 3}, {1, 0}, {2, 0}, {4, 0}};
      for (int pdl : {0, 1})
      for (int order : {0, 1})
      for (int sort : sorts)
      for (auto [rows, unroll] : walks) {
        const int per_warp = 2;  // 1 measured slower everywhere (transfer.cuh)
        if (order == 1 && nl == 1) continue;  // one layer: both orders are the same walk
        if (pdl && (!rotate || sort != 0)) continue;
        if ((unroll > 2 || rows) && sort) continue;
        kvio_detail::KVRows probe;
        if (rows && !kvio_detail::rows_of(p, &tbl, probe)) continue;
        if (rows && order == 1 && !probe.layered) continue;  // one layer: one word order
        p.pdl = pdl;
        KVTransferConfig cfg;
        cfg.items_per_warp = per_warp;
        cfg.order = order;
        cfg.sort_chunk = sort;
        cfg.unroll = unroll;
        cfg.rows = rows;
        CHECK(kvio_detail::run_kv_transfer(p, &tbl, cfg, nullptr));
        CHECK(cudaDeviceSynchronize());
        const int calls = host ? 2 : rotate ? 2 * kRot : 5;
        const float us = median_us(
            [&](int i) {
              KVTransferParams q = p;
              if (rotate) {
                for (int kv = 0; kv < s.num_kv; ++kv) {
                  // A pf / ph source rotates over its pool's layers.
                  if (s.src_layout == KVLayout::kLayerFirst) q.src.base[kv] = rot_layer(kv, i, false);
                  q.dst.base[kv] = rot_layer(kv, i, true);
                }
                if (s.src_layout != KVLayout::kLayerFirst) q.src.layer_offset = i % kRot;
              }
              kvio_detail::run_kv_transfer(q, &tbl, cfg, nullptr);
            },
            calls);
        CHECK(cudaGetLastError());
        char walk[32];
        if (rows) {
          std::snprintf(walk, sizeof walk, "rows %d", rows);
        } else {
          std::snprintf(walk, sizeof walk, "warp %d x %d", per_warp, unroll ? unroll : kvio_detail::kUnroll);
        }
        std::printf("| %s%s | %d x %d | %s | %d | %d | %.1f | %.1f | %.3f | %.3f |\n", s.name, pdl ? " +pdl" : "",
                    quota, warps, walk, order, sort, us, payload / us / 1e3, ref / us, 2.0 * payload / us / rate);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
