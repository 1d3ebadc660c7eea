// RoPE kernel variants side by side, framework-free: block size (256 = the
// default, 512) and the compile-time variants of rope_detail::Tune
// (evict-first q/k/v, register caps),
// on Qwen3-VL shapes (64 q + 4 kv heads of 128, bf16, fp32 cos/sin cache), in
// place, with and without the fused KV store. Prints us, GB/s and the
// fraction of a device-to-device copy measured in the same run.
#include <cstdio>
#include <vector>

#include "sgl_kernel/rope/rope.cuh"
#include "sweep_util.h"

using namespace sgl_kernel;

int main() {
  const int64_t hq = 64, hk = 4, head = 128, rot = 128, max_pos = 32768, max_nnz = 16384;
  const int kSets = 2;  // 2 x (q, k, v) of 16384 tokens: ~300 MB, far past L2
  const size_t row = (hq + 2 * hk) * head;  // fused qkv row
  std::vector<bf16*> qkv(kSets);
  std::vector<int64_t*> pos(kSets), loc(kSets);
  for (int s = 0; s < kSets; ++s) {
    CHECK(cudaMalloc(&qkv[s], max_nnz * row * 2));
    CHECK(cudaMemset(qkv[s], 0x3c, max_nnz * row * 2));
    std::vector<int64_t> hp(max_nnz), hl(max_nnz);
    for (int64_t t = 0; t < max_nnz; ++t) {
      hp[t] = (t * 131 + s) % max_pos;
      hl[t] = (t * 7919 + s) % (4 * max_nnz);
    }
    CHECK(cudaMalloc(&pos[s], max_nnz * 8));
    CHECK(cudaMalloc(&loc[s], max_nnz * 8));
    CHECK(cudaMemcpy(pos[s], hp.data(), max_nnz * 8, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(loc[s], hl.data(), max_nnz * 8, cudaMemcpyHostToDevice));
  }
  float* cs;
  CHECK(cudaMalloc(&cs, max_pos * rot * 4));
  CHECK(cudaMemset(cs, 0x3e, max_pos * rot * 4));
  bf16 *kb, *vb;
  CHECK(cudaMalloc(&kb, 4 * max_nnz * hk * head * 2));
  CHECK(cudaMalloc(&vb, 4 * max_nnz * hk * head * 2));
  const size_t copy_bytes = max_nnz * row * 2;
  const float copy_us = median_us(
      [&](int i) { cudaMemcpyAsync(qkv[(i + 1) % kSets], qkv[i % kSets], copy_bytes, cudaMemcpyDeviceToDevice); }, 10);
  const double copy_gbps = 2.0 * copy_bytes / (copy_us * 1e-6) / 1e9;
  std::printf("copy %.0f GB/s (read+write)\n", copy_gbps);
  std::printf("| nnz | fused | variant | threads | us | GB/s | x copy |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  using namespace rope_detail;
  struct Variant {
    const char* name;
    int threads;
    cudaError_t (*launch)(const RopeParams&, const RopeConfig&, cudaStream_t);
  };
  // Registers (ptxas, sm_90a, bf16 neox, fp32 cache, in place): uncapped 72
  // (768 threads resident per SM), evict-first 70; capped at 64 (1024
  // threads) no spills; capped at 40 (1536 threads) spills 130-170 bytes.
  const Variant variants[] = {
      {"default (evict-first, regs64)", 256, launch_tuned<bf16, float, bf16, DefaultTune>},
      {"default (evict-first, regs64)", 512, launch_tuned<bf16, float, bf16, DefaultTune>},
      {"plain", 256, launch_tuned<bf16, float, bf16, Tune<false, 1>>},
      {"evict-first", 256, launch_tuned<bf16, float, bf16, Tune<true, 1>>},
      {"regs64", 256, launch_tuned<bf16, float, bf16, Tune<false, 2>>},
      {"evict-first, regs40", 256, launch_tuned<bf16, float, bf16, Tune<true, 3>>},
  };
  for (int64_t nnz : {1, 16, 1024, 4096, 16384}) {
    for (int fused = 0; fused < 2; ++fused) {
      for (const Variant& var : variants) {
        auto run = [&](int i) {
          const int s = i % kSets;
          RopeParams p{};
          p.q = p.q_out = qkv[s];
          p.k = p.k_out = qkv[s] + hq * head;
          p.cos_sin = cs;
          p.pos = pos[s];
          p.nnz = nnz;
          p.num_q_heads = hq;
          p.num_k_heads = hk;
          p.head_size = head;
          p.rotary_dim = rot;
          p.q_stride_tok = p.q_out_stride_tok = p.k_stride_tok = p.k_out_stride_tok = static_cast<int64_t>(row);
          p.q_stride_head = p.q_out_stride_head = p.k_stride_head = p.k_out_stride_head = head;
          p.cs_stride = rot;
          p.pos_stride_tok = 1;
          p.pos_int64 = true;
          p.k_scale = p.v_scale = 1.f;
          p.pdl = true;
          if (fused) {
            p.v = qkv[s] + (hq + hk) * head;
            p.v_stride_tok = static_cast<int64_t>(row);
            p.v_stride_head = head;
            p.k_buffer = kb;
            p.v_buffer = vb;
            p.cache_loc = loc[s];
            p.kb_stride_row = p.vb_stride_row = hk * head;
            p.kb_stride_head = p.vb_stride_head = head;
          }
          RopeConfig cfg;
          cfg.threads = var.threads;
          var.launch(p, cfg, nullptr);
        };
        const float us = median_us(run, nnz >= 1024 ? 20 : 200);
        CHECK(cudaGetLastError());
        // q and k read and written, cos/sin rows read, positions; fused: v read, k and v rows written, locations.
        double bytes = nnz * ((hq + hk) * head * 2.0 * 2 + rot * 4.0 + 8);
        if (fused) bytes += nnz * (hk * head * 2.0 * 3 + 8);
        const double gbps = bytes / (us * 1e-6) / 1e9;
        std::printf("| %lld | %d | %s | %d | %.2f | %.0f | %.3f |\n", static_cast<long long>(nnz), fused, var.name,
                    var.threads, us, gbps, gbps / copy_gbps);
      }
    }
  }
  return 0;
}
