// Launch-shape sweep for the RMSNorm kernels, framework-free: times each
// (threads per row, schedule) on the default model's shape and prints GB/s and
// the fraction of a device-to-device copy measured in the same run. Used to
// pick the defaults in norm.cuh; run by scripts/gpu_check.sh.
#include <cstdio>
#include <vector>

#include "sgl_kernel/elementwise/norm.cuh"
#include "sweep_util.h"

using namespace sgl_kernel;

int main() {
  const int64_t hidden = 4096;
  const int kSets = 2;  // 2 x 128 MiB per tensor: far past the 50 MB L2
  const int64_t rows_list[] = {16384, 4096, 1024};
  const size_t max_elems = 16384 * hidden;
  std::vector<bf16*> x(kSets), r(kSets), o(kSets);
  for (int s = 0; s < kSets; ++s) {
    CHECK(cudaMalloc(&x[s], max_elems * 2));
    CHECK(cudaMalloc(&r[s], max_elems * 2));
    CHECK(cudaMalloc(&o[s], max_elems * 2));
    CHECK(cudaMemset(x[s], 0x3c, max_elems * 2));  // bf16 ~0.0115, finite
    CHECK(cudaMemset(r[s], 0x3c, max_elems * 2));
  }
  bf16* w;
  CHECK(cudaMalloc(&w, hidden * 2));
  CHECK(cudaMemset(w, 0x3f, hidden * 2));
  const float copy_us = median_us([&](int i) { cudaMemcpyAsync(o[i % kSets], x[i % kSets], max_elems * 2, cudaMemcpyDeviceToDevice); }, 10);
  const double copy_gbps = 2.0 * max_elems * 2 / (copy_us * 1e-6) / 1e9;
  std::printf("copy %.0f GB/s (read+write)\n", copy_gbps);
  std::printf("| op | rows | threads/row | schedule | us | GB/s | x copy |\n|---|---|---|---|---|---|---|\n");
  for (int add = 0; add < 2; ++add) {
    for (int64_t rows : rows_list) {
      for (int tx : {0, 64, 128, 256, 512}) {
        for (int sched : {-1, 0, 1, 2, 3}) {
          RMSNormConfig cfg;
          cfg.threads_per_row = tx;
          cfg.schedule = sched;
          auto run = [&](int i) {
            RMSNormParams p{};
            const int s = i % kSets;
            p.in = x[s];
            p.out = add ? static_cast<void*>(x[s]) : o[s];
            p.residual = add ? r[s] : nullptr;
            p.weight = w;
            p.outer = rows;
            p.inner = 1;
            p.hidden = hidden;
            p.in_stride_outer = p.out_stride_outer = p.res_stride_outer = hidden;
            p.eps = 1e-6f;
            p.pdl = true;
            launch_rmsnorm<bf16>(p, cfg, nullptr);
          };
          const float us = median_us(run, rows >= 1024 ? 20 : 200);
          CHECK(cudaGetLastError());
          const double bytes = (add ? 4.0 : 2.0) * rows * hidden * 2 + hidden * 2;
          const double gbps = bytes / (us * 1e-6) / 1e9;
          std::printf("| %s | %lld | %d | %d | %.2f | %.0f | %.3f |\n", add ? "fused_add" : "rmsnorm",
                      static_cast<long long>(rows), tx, sched, us, gbps, gbps / copy_gbps);
        }
      }
    }
  }
  return 0;
}
