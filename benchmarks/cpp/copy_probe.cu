// What a plain device copy needs to reach cudaMemcpyAsync's rate: per-thread
// words in flight, cache hints on loads and stores, grid shape and whether
// blocks stride over the buffer or each take a contiguous part. Copies
// rotate over 8 regions (L2-cold), sizes 32 and 128 MB; each row is printed
// as a fraction of cudaMemcpyAsync of the same bytes and of a 2 GiB
// cudaMemcpyAsync's rate, all in one run. Research for the KV transfer walk
// (include/sgl_kernel/kvcacheio/transfer.cuh); not a test.
//   copy_probe
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "sweep_util.h"

namespace {

// Loads: 0 plain, 1 .cs (evict first), 2 .nc + L1::no_allocate + L2::256B
// prefetch, 3 L1::no_allocate. Stores: 0 plain, 1 .cs, 2 L1::no_allocate.
template <int kLoad>
__device__ __forceinline__ uint4 load16(const uint4* p) {
  uint4 r;
  if constexpr (kLoad == 0) {
    r = *p;
  } else if constexpr (kLoad == 1) {
    r = __ldcs(p);
  } else if constexpr (kLoad == 2) {
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
  } else {
    asm volatile("ld.global.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
  }
  return r;
}

template <int kStore>
__device__ __forceinline__ void store16(uint4* p, uint4 v) {
  if constexpr (kStore == 0) {
    *p = v;
  } else if constexpr (kStore == 1) {
    __stcs(p, v);
  } else {
    asm volatile("st.global.L1::no_allocate.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z),
                 "r"(v.w)
                 : "memory");
  }
}

// kChunk 0: blocks stride over the buffer; 1: block b copies the b-th of
// gridDim.x contiguous parts.
template <int kU, int kLoad, int kStore, int kChunk>
__global__ void probe(uint4* __restrict__ d, const uint4* __restrict__ s, int64_t n) {
  int64_t begin = 0, end = n, first, stride;
  if constexpr (kChunk) {
    const int64_t per = (n + gridDim.x - 1) / gridDim.x;
    begin = per * blockIdx.x;
    end = begin + per < n ? begin + per : n;
    first = begin + threadIdx.x;
    stride = static_cast<int64_t>(blockDim.x) * kU;
  } else {
    first = static_cast<int64_t>(blockIdx.x) * blockDim.x * kU + threadIdx.x;
    stride = static_cast<int64_t>(gridDim.x) * blockDim.x * kU;
  }
  for (int64_t i = first; i < end; i += stride) {
    uint4 r[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u)
      if (i + u * blockDim.x < end) r[u] = load16<kLoad>(s + i + u * blockDim.x);
#pragma unroll
    for (int u = 0; u < kU; ++u)
      if (i + u * blockDim.x < end) store16<kStore>(d + i + u * blockDim.x, r[u]);
  }
}

using Kernel = void (*)(uint4*, const uint4*, int64_t);

struct Variant {
  const char* name;
  Kernel k;
  int u, load, store, chunk;
};

#define V(U, L, S, C) Variant{#U "/" #L "/" #S "/" #C, probe<U, L, S, C>, U, L, S, C}

}  // namespace

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  constexpr int kRot = 8;
  const int64_t max_bytes = int64_t{128} << 20;
  unsigned char *src = nullptr, *dst = nullptr;
  const int64_t pool = int64_t{1} << 31;  // 2 GiB each: the big reference, and 8 x 128 MB regions
  CHECK(cudaMalloc(&src, pool));
  CHECK(cudaMalloc(&dst, pool));
  CHECK(cudaMemset(src, 1, pool));
  CHECK(cudaMemset(dst, 2, pool));
  const float big_us = median_us([&](int) { cudaMemcpyAsync(dst, src, pool, cudaMemcpyDeviceToDevice); }, 2);
  const double rate = 2.0 * pool / big_us;  // bytes read + written per us
  std::printf("2 GiB cudaMemcpyAsync: %.0f GB/s (read + written), %d SMs\n\n", rate / 1e3, sms);
  const Variant variants[] = {
      V(2, 0, 0, 0), V(4, 0, 0, 0), V(8, 0, 0, 0), V(2, 1, 0, 0), V(2, 0, 1, 0), V(2, 1, 1, 0),
      V(2, 2, 0, 0), V(2, 3, 0, 0), V(2, 0, 2, 0), V(4, 1, 1, 0), V(4, 2, 1, 0), V(2, 0, 0, 1),
      V(4, 0, 0, 1), V(4, 1, 1, 1), V(8, 0, 0, 1),
  };
  const std::pair<int, int> shapes[] = {{sms, 1024}, {2 * sms, 512}, {4 * sms, 256}, {8 * sms, 256},
                                        {16 * sms, 128}, {64 * sms, 256}};
  std::printf("| bytes | kU/load/store/chunk | blocks x threads | us | x same-bytes cudaMemcpyAsync | x 2 GiB rate |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int64_t bytes : {int64_t{32} << 20, max_bytes}) {
    auto region = [&](unsigned char* base, int i) { return base + (i % kRot) * max_bytes; };
    const float mc = median_us(
        [&](int i) { cudaMemcpyAsync(region(dst, i), region(src, i), bytes, cudaMemcpyDeviceToDevice); }, 2 * kRot);
    std::printf("| %lld MB | cudaMemcpyAsync | | %.2f | 1 | %.3f |\n", static_cast<long long>(bytes >> 20), mc,
                2.0 * bytes / mc / rate);
    const int64_t n = bytes / 16;
    for (const Variant& v : variants) {
      for (const auto& shape : shapes) {
        const int blocks = shape.first, threads = shape.second;
        if (v.u == 8 && threads > 512) continue;  // registers
        const float us = median_us(
            [&](int i) {
              v.k<<<blocks, threads>>>(reinterpret_cast<uint4*>(region(dst, i)),
                                       reinterpret_cast<const uint4*>(region(src, i)), n);
            },
            2 * kRot);
        CHECK(cudaGetLastError());
        std::printf("| %lld MB | %s | %d x %d | %.2f | %.3f | %.3f |\n", static_cast<long long>(bytes >> 20), v.name,
                    blocks, threads, us, mc / us, 2.0 * bytes / us / rate);
      }
      std::fflush(stdout);
    }
  }
  CHECK(cudaGetLastError());
  // Each variant checked once on fresh bytes: 1 MB copied (grid 7 x 128, so
  // every mode has a tail), and the 1 MB after it left alone.
  const size_t check = 1 << 20;
  std::vector<unsigned char> a(2 * check, 0), b(2 * check);
  for (size_t i = 0; i < check; ++i) a[i] = static_cast<unsigned char>(i * 7 + 3);
  CHECK(cudaMemcpy(src, a.data(), a.size(), cudaMemcpyHostToDevice));
  for (const Variant& v : variants) {
    CHECK(cudaMemset(dst, 0, b.size()));
    v.k<<<7, 128>>>(reinterpret_cast<uint4*>(dst), reinterpret_cast<const uint4*>(src), check / 16);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(b.data(), dst, b.size(), cudaMemcpyDeviceToHost));
    if (a != b) {
      std::fprintf(stderr, "copy mismatch: %s\n", v.name);
      return 1;
    }
  }
  std::printf("all variants copy correctly\n");
  return 0;
}
