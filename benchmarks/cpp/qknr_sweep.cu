// fused_qk_norm_rope register-path variants side by side, framework-free:
// the lane layout (split: a lane holds neox pairs, the default for full
// rotary; no_split: consecutive elements, partners by shuffle) and heads per
// warp item (heads_per_warp, 0 = the launcher's choice), on the default
// model's shapes (qkv rows of 64 q + 4 k + 4 v heads of 128, bf16, neox,
// rotary_dim 128, int64 positions), in place. Prints each kernel's
// registers, local memory and resident blocks, then us, GB/s and the
// fraction of a device-to-device copy measured in the same run. Positions
// "big" (t * 131 % 32768) or "small" (t % 16: sincosf's short range) show
// what the argument reduction costs.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sgl_kernel/rope/qk_norm_rope.cuh"
#include "sweep_util.h"

using namespace sgl_kernel;
using namespace sgl_kernel::qk_norm_rope_detail;

template <class K>
int report(const char* name, K kernel) {
  cudaFuncAttributes a{};
  CHECK(cudaFuncGetAttributes(&a, kernel));
  std::printf("%s: %d registers, %zu bytes local, %d resident 256-thread blocks per SM\n", name, a.numRegs,
              a.localSizeBytes, resident_blocks_per_sm(kernel, 256, 0));
  return 0;
}

int main(int argc, char** argv) {
  // `qknr_sweep one [no_split]`: three launches of one config at 16384 tokens (for ncu).
  const bool one = argc > 1 && std::string(argv[1]) == "one";
  const bool one_no_split = argc > 2 && std::atoi(argv[2]) != 0;
  const int64_t hq = 64, hk = 4, hv = 4, head = 128, max_nnz = 16384;
  const int kSets = 2;
  const size_t row = (hq + hk + hv) * head;
  std::vector<bf16*> qkv(kSets);
  int64_t *pos_big, *pos_small;
  for (int s = 0; s < kSets; ++s) {
    CHECK(cudaMalloc(&qkv[s], max_nnz * row * 2));
    CHECK(cudaMemset(qkv[s], 0x3c, max_nnz * row * 2));
  }
  std::vector<int64_t> hb(max_nnz), hs(max_nnz);
  for (int64_t t = 0; t < max_nnz; ++t) {
    hb[t] = t * 131 % 32768;
    hs[t] = t % 16;
  }
  CHECK(cudaMalloc(&pos_big, max_nnz * 8));
  CHECK(cudaMalloc(&pos_small, max_nnz * 8));
  CHECK(cudaMemcpy(pos_big, hb.data(), max_nnz * 8, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(pos_small, hs.data(), max_nnz * 8, cudaMemcpyHostToDevice));
  if (one) {
    for (int i = 0; i < 3; ++i) {
      QKNormRopeParams p{};
      p.qkv = qkv[i % kSets];
      p.q_weight = p.k_weight = qkv[(i + 1) % kSets];
      p.pos = pos_big;
      p.num_tokens = max_nnz;
      p.row_stride = static_cast<int64_t>(row);
      p.pos_stride = 1;
      p.num_heads_q = hq;
      p.num_heads_k = hk;
      p.head_dim = p.rotary_dim = head;
      p.eps = 1e-6f;
      p.attention_factor = 1.f;
      p.pos_int64 = true;
      fill_qk_norm_rope_freqs(p, 1e6, 1.0, 0.0, 0.0);
      QKNormRopeConfig cfg;
      cfg.no_split = one_no_split;
      CHECK(launch_qk_norm_rope<bf16>(p, cfg, nullptr));
    }
    CHECK(cudaDeviceSynchronize());
    return 0;
  }
  report("split (16 lanes a head)", qk_norm_rope_reg_kernel<bf16, 8, false, true, 16>);
  report("no_split (32 lanes a head)", qk_norm_rope_reg_kernel<bf16, 4, false, false>);
  const size_t copy_bytes = max_nnz * row * 2;
  const float copy_us = median_us(
      [&](int i) { cudaMemcpyAsync(qkv[(i + 1) % kSets], qkv[i % kSets], copy_bytes, cudaMemcpyDeviceToDevice); }, 10);
  const double copy_gbps = 2.0 * copy_bytes / (copy_us * 1e-6) / 1e9;
  std::printf("copy %.0f GB/s (read+write)\n", copy_gbps);
  std::printf("| nnz | positions | layout | heads/warp | us | GB/s | x copy |\n|---|---|---|---|---|---|---|\n");
  for (int64_t nnz : {16, 4096, 16384}) {
    for (int big = 1; big >= 0; --big) {
      for (int split = 1; split >= 0; --split) {
        for (int hpw : {0, 1, 4, 8, 17, 34, 68}) {
          if (nnz == 16 && hpw > 4) continue;
          if (!big && hpw != 0) continue;
          auto run = [&](int i) {
            QKNormRopeParams p{};
            p.qkv = qkv[i % kSets];
            p.q_weight = p.k_weight = qkv[(i + 1) % kSets];  // any bf16 values
            p.pos = big ? pos_big : pos_small;
            p.num_tokens = nnz;
            p.row_stride = static_cast<int64_t>(row);
            p.pos_stride = 1;
            p.num_heads_q = hq;
            p.num_heads_k = hk;
            p.head_dim = head;
            p.rotary_dim = head;
            p.eps = 1e-6f;
            p.attention_factor = 1.f;
            p.pos_int64 = true;
            p.pdl = true;
            fill_qk_norm_rope_freqs(p, 1e6, 1.0, 0.0, 0.0);
            QKNormRopeConfig cfg;
            cfg.no_split = !split;
            cfg.heads_per_warp = hpw;
            launch_qk_norm_rope<bf16>(p, cfg, nullptr);
          };
          const float us = median_us(run, nnz >= 1024 ? 20 : 200);
          CHECK(cudaGetLastError());
          const double bytes = nnz * ((hq + hk) * head * 2.0 * 2 + 8);
          const double gbps = bytes / (us * 1e-6) / 1e9;
          std::printf("| %lld | %s | %s | %d | %.2f | %.0f | %.3f |\n", static_cast<long long>(nnz),
                      big ? "big" : "small", split ? "split" : "no_split", hpw, us, gbps, gbps / copy_gbps);
        }
      }
    }
  }
  return 0;
}
