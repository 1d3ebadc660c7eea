// KV transfer walks timed against cudaMemcpyAsync of the same bytes in the
// same run: items per warp (1/2) and item order (layer by layer / a
// page-first side's memory order), for device<->device and pinned
// host<->device, with the block quotas the transfers run under beside compute
// (host: <= 4 blocks). Picks the default of KVTransferConfig (results and the
// candidates measured and dropped: transfer.cuh, docs/perf/kvcacheio.md).
//   kvio_sweep [tokens=16384] [layers=94]
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

  // Pools: lf = one buffer per (kv, layer) [tokens, item]; pf/ph = one per kv
  // [tokens, layers, item] (ph: [pages, layers, heads, page, head_item]).
  const int64_t layer_bytes = tokens * kItem, pool_bytes = layers * layer_bytes;
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

  // Device lf pool (per layer buffers, with their address arrays), device and
  // host page-first pools.
  std::vector<Buf> dev_lf(2 * layers);
  for (auto& b : dev_lf) b = alloc(layer_bytes, false);
  int64_t* lf_ptrs[2];
  for (int kv = 0; kv < 2; ++kv) {
    std::vector<int64_t> ptrs(layers);
    for (int64_t l = 0; l < layers; ++l) ptrs[l] = reinterpret_cast<int64_t>(dev_lf[kv * layers + l].p);
    CHECK(cudaMalloc(&lf_ptrs[kv], layers * sizeof(int64_t)));
    CHECK(cudaMemcpy(lf_ptrs[kv], ptrs.data(), layers * sizeof(int64_t), cudaMemcpyHostToDevice));
  }
  Buf dev_lf2[2] = {alloc(layer_bytes, false), alloc(layer_bytes, false)};  // one more layer, for lf -> lf
  Buf dev_pf[2] = {alloc(pool_bytes, false), alloc(pool_bytes, false)};
  Buf host_pf[2] = {alloc(pool_bytes, true), alloc(pool_bytes, true)};

  auto lf_side = [&](bool all) {
    KVSide s{};
    s.layout = KVLayout::kLayerFirst;
    for (int kv = 0; kv < 2; ++kv) {
      s.base[kv] = all ? nullptr : dev_lf[kv * layers].p;
      s.layer_ptrs[kv] = all ? lf_ptrs[kv] : nullptr;
    }
    return s;
  };
  auto paged_side = [&](KVLayout layout, bool host, int64_t page) {
    KVSide s{};
    s.layout = layout;
    for (int kv = 0; kv < 2; ++kv) s.base[kv] = host ? host_pf[kv].p : dev_pf[kv].p;
    s.layout_dim = layers * kItem;
    s.page_size = page;
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
      {"d2h all_layer lf->pf", KVLayout::kLayerFirst, KVLayout::kPageFirst, false, true, true, 1},
      {"d2h all_layer lf->ph p1", KVLayout::kLayerFirst, KVLayout::kPageHead, false, true, true, 1},
      {"d2h all_layer lf->ph p16", KVLayout::kLayerFirst, KVLayout::kPageHead, false, true, true, 16},
  };

  // cudaMemcpyAsync of the same payload, contiguous, per direction.
  auto memcpy_us = [&](bool src_host, bool dst_host, int64_t bytes) {
    unsigned char* s = src_host ? host_pf[0].p : dev_pf[0].p;
    unsigned char* d = dst_host ? host_pf[1].p : dev_pf[1].p;
    return median_us([&](int) { cudaMemcpyAsync(d, s, bytes, cudaMemcpyDefault, nullptr); }, 3);
  };

  std::printf("| case | quota x warps | per_warp | order | us | GB/s payload | x cudaMemcpyAsync |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const Setup& s : setups) {
    const int64_t nl = s.all_layers ? layers : 1;
    const int64_t payload = 2 * nl * tokens * kItem;
    const int64_t ref_bytes = payload < pool_bytes ? payload : pool_bytes;
    const float ref = memcpy_us(s.src_host, s.dst_host, ref_bytes) * (static_cast<float>(payload) / ref_bytes);
    std::printf("| %s | cudaMemcpyAsync | | | %.1f | %.1f | 1 |\n", s.name, ref, payload / ref / 1e3);
    KVTransferParams p{};
    p.src = s.src_layout == KVLayout::kLayerFirst ? lf_side(s.all_layers)
                                                  : paged_side(s.src_layout, s.src_host, s.page);
    if (s.dst_layout == KVLayout::kLayerFirst) {
      p.dst = lf_side(false);
      for (int kv = 0; kv < 2; ++kv) p.dst.base[kv] = dev_lf2[kv].p;
    } else {
      p.dst = paged_side(s.dst_layout, s.dst_host, s.page);
    }
    p.src_indices = s.scattered_src ? idx_perm : idx_seq;  // a request's tokens in order on one side, scattered on the other
    p.dst_indices = idx_perm;
    p.num_indices = tokens;
    p.num_layers = nl;
    p.num_kv = 2;
    p.item_size = kItem;
    p.head_num = (s.src_layout == KVLayout::kPageHead || s.dst_layout == KVLayout::kPageHead) ? 4 : 1;
    p.index_run = 1;
    p.pdl = false;
    const bool host = s.src_host || s.dst_host;
    std::vector<std::pair<int, int>> shapes;
    if (host) {
      shapes = {{4, 32}};
      // Scattered host reads: how they scale with the SMs given (per-SM
      // bound or not), beyond the 4-block budget.
      if (s.scattered_src) shapes = {{4, 32}, {8, 32}, {16, 32}};
    } else {
      shapes = {{2 * sms, 16}, {sms, 32}};
    }
    for (auto [quota, warps] : shapes) {
      p.block_quota = quota;
      p.warps_per_block = warps;
      for (int order : {0, 1})
      for (int per_warp : {1, 2}) {
        if (order == 1 && nl == 1) continue;  // one layer: both orders are the same walk
        KVTransferConfig cfg;
        cfg.items_per_warp = per_warp;
        cfg.order = order;
        CHECK(kvio_detail::run_kv_transfer(p, nullptr, cfg, nullptr));
        CHECK(cudaDeviceSynchronize());
        const int calls = host ? 2 : 5;
        const float us = median_us([&](int) { kvio_detail::run_kv_transfer(p, nullptr, cfg, nullptr); }, calls);
        CHECK(cudaGetLastError());
        std::printf("| %s | %d x %d | %d | %d | %.1f | %.1f | %.3f |\n", s.name, quota, warps, per_warp, order, us,
                    payload / us / 1e3, ref / us);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
