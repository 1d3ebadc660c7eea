// The rope launchers used without any framework, on the GPU when one is
// present: the default kernel (256 and 512 threads) and the plain variant
// against a host reference, and against each other bit for bit (same fp32
// order in all); per-token tables against the position cache; the fused
// QK-norm + RoPE paths against a host reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "sgl_kernel/rope/qk_norm_rope.cuh"
#include "sgl_kernel/rope/rope.cuh"

using namespace sgl_kernel;

namespace {

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

template <class T>
T* to_device(const std::vector<T>& h) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, h.size() * sizeof(T) + 16), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}

template <class T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

struct Case {
  int64_t nnz, hq, hk, head, rot;
  bool interleave, mrope, fused;
};

// (nnz, q heads, k heads, head size, rotary dim, interleave, mrope, fused store)
class RopeKernel : public ::testing::TestWithParam<std::tuple<int, int, bool, bool, bool>> {};

TEST_P(RopeKernel, ItemsPerThreadMatchHostAndEachOther) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const auto [nnz, rot_div, interleave, mrope, fused] = GetParam();
  const Case c{nnz, 8, 2, 128, 128 / rot_div, interleave, mrope, fused};
  const int64_t max_pos = 4096, half = c.rot / 2;
  std::mt19937 gen(static_cast<unsigned>(nnz * 7 + rot_div));
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_int_distribution<int64_t> pd(0, max_pos - 1);
  auto bf = [&](size_t n) {
    std::vector<bf16> v(n);
    for (auto& x : v) x = __float2bfloat16_rn(nd(gen));
    return v;
  };
  const size_t nq = c.nnz * c.hq * c.head, nk = c.nnz * c.hk * c.head;
  const auto q = bf(nq), k = bf(nk), v = bf(nk);
  std::vector<float> cs(max_pos * c.rot);
  for (int64_t p = 0; p < max_pos; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const double f = p * std::pow(10000.0, -2.0 * i / c.rot);
      cs[p * c.rot + i] = static_cast<float>(std::cos(f));
      cs[p * c.rot + half + i] = static_cast<float>(std::sin(f));
    }
  }
  const int64_t comps = c.mrope ? 3 : 1;
  std::vector<int64_t> pos(comps * c.nnz), loc(c.nnz);
  for (auto& x : pos) x = pd(gen);
  for (int64_t t = 0; t < c.nnz; ++t) loc[t] = (t * 37 + 5) % (2 * c.nnz + 3);
  const int64_t cache_rows = 2 * c.nnz + 3;

  bf16 *dq = to_device(q), *dk = to_device(k), *dv = to_device(v);
  float* dcs = to_device(cs);
  int64_t *dpos = to_device(pos), *dloc = to_device(loc);
  // The default kernel at 256 and 512 threads, and the variant without
  // evict-first hints or register cap (rope_detail::Tune).
  using Launch = cudaError_t (*)(const RopeParams&, const RopeConfig&, cudaStream_t);
  const Launch kLaunch[] = {rope_detail::launch_tuned<bf16, float, bf16, rope_detail::DefaultTune>,
                            rope_detail::launch_tuned<bf16, float, bf16, rope_detail::DefaultTune>,
                            rope_detail::launch_tuned<bf16, float, bf16, rope_detail::Tune<false, 1>>};
  const int kThreadOptions[] = {256, 512, 256};
  std::vector<std::vector<bf16>> out_q(3), out_k(3), out_kb(3), out_vb(3);
  for (int sched = 0; sched < 3; ++sched) {
    std::vector<bf16> poison_q(nq, __float2bfloat16_rn(NAN)), poison_k(nk, __float2bfloat16_rn(NAN));
    std::vector<bf16> poison_buf(cache_rows * c.hk * c.head, __float2bfloat16_rn(NAN));
    bf16 *oq = to_device(poison_q), *ok = to_device(poison_k);
    bf16 *kb = to_device(poison_buf), *vb = to_device(poison_buf);
    RopeParams p{};
    p.q = dq;
    p.k = dk;
    p.q_out = oq;
    p.k_out = ok;
    p.cos_sin = dcs;
    p.pos = dpos;
    p.nnz = c.nnz;
    p.num_q_heads = c.hq;
    p.num_k_heads = c.hk;
    p.head_size = c.head;
    p.rotary_dim = c.rot;
    p.q_stride_tok = p.q_out_stride_tok = c.hq * c.head;
    p.q_stride_head = p.q_out_stride_head = c.head;
    p.k_stride_tok = p.k_out_stride_tok = c.hk * c.head;
    p.k_stride_head = p.k_out_stride_head = c.head;
    p.cs_stride = c.rot;
    p.pos_stride_comp = c.mrope ? c.nnz : 0;
    p.pos_stride_tok = 1;
    p.pos_int64 = true;
    p.interleave = c.interleave;
    p.mrope = c.mrope;
    p.mrope_interleaved = true;
    p.mrope_section[0] = half - 2 * (half / 3);
    p.mrope_section[1] = half / 3;
    p.mrope_section[2] = half / 3;
    p.k_scale = p.v_scale = 1.f;
    if (c.fused) {
      p.v = dv;
      p.k_buffer = kb;
      p.v_buffer = vb;
      p.cache_loc = dloc;
      p.v_stride_tok = c.hk * c.head;
      p.v_stride_head = c.head;
      p.kb_stride_row = p.vb_stride_row = c.hk * c.head;
      p.kb_stride_head = p.vb_stride_head = c.head;
    }
    RopeConfig cfg;
    cfg.threads = kThreadOptions[sched];
    const cudaError_t err =
        sched == 0 ? launch_rope<bf16, float, bf16>(p, cfg, nullptr) : kLaunch[sched](p, cfg, nullptr);
    ASSERT_EQ(err, cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    out_q[sched] = to_host(oq, nq);
    out_k[sched] = to_host(ok, nk);
    out_kb[sched] = to_host(kb, poison_buf.size());
    out_vb[sched] = to_host(vb, poison_buf.size());
    cudaFree(oq);
    cudaFree(ok);
    cudaFree(kb);
    cudaFree(vb);
  }
  // The options agree bit for bit (NaN poison included: unwritten stays NaN in all).
  for (int o = 1; o < 3; ++o) {
    EXPECT_EQ(std::memcmp(out_q[0].data(), out_q[o].data(), nq * 2), 0) << o;
    EXPECT_EQ(std::memcmp(out_k[0].data(), out_k[o].data(), nk * 2), 0) << o;
    EXPECT_EQ(std::memcmp(out_kb[0].data(), out_kb[o].data(), out_kb[0].size() * 2), 0) << o;
    EXPECT_EQ(std::memcmp(out_vb[0].data(), out_vb[o].data(), out_vb[0].size() * 2), 0) << o;
  }
  // And the host reference (q heads; k follows the same code path).
  for (int64_t t = 0; t < c.nnz; ++t) {
    for (int64_t h = 0; h < c.hq; ++h) {
      const bf16* x = q.data() + (t * c.hq + h) * c.head;
      const bf16* y = out_q[0].data() + (t * c.hq + h) * c.head;
      for (int64_t i = 0; i < half; ++i) {
        int comp = 0;
        if (c.mrope) {
          RopeParams mp{};
          mp.mrope = true;
          mp.mrope_interleaved = true;
          mp.mrope_section[0] = half - 2 * (half / 3);
          mp.mrope_section[1] = half / 3;
          mp.mrope_section[2] = half / 3;
          comp = mrope_component(mp, i);
        }
        const int64_t ps = pos[comp * (c.mrope ? c.nnz : 0) + t];
        const double cs_c = cs[ps * c.rot + i], cs_s = cs[ps * c.rot + half + i];
        const int64_t a = c.interleave ? 2 * i : i, b = c.interleave ? 2 * i + 1 : i + half;
        const double xa = __bfloat162float(x[a]), xb = __bfloat162float(x[b]);
        const double ea = xa * cs_c - xb * cs_s, eb = xb * cs_c + xa * cs_s;
        ASSERT_NEAR(__bfloat162float(y[a]), ea, 1e-2 * (1 + std::fabs(ea))) << "t " << t << " h " << h << " i " << i;
        ASSERT_NEAR(__bfloat162float(y[b]), eb, 1e-2 * (1 + std::fabs(eb))) << "t " << t << " h " << h << " i " << i;
      }
      for (int64_t i = c.rot; i < c.head; ++i) {
        ASSERT_EQ(__bfloat162float(y[i]), __bfloat162float(x[i])) << "pass-through lane " << i;
      }
    }
  }
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(dcs);
  cudaFree(dpos);
  cudaFree(dloc);
}

// nnz, rotary divisor (1: full, 2: half of the head), interleave, mrope, fused
INSTANTIATE_TEST_SUITE_P(Cases, RopeKernel,
                         ::testing::Combine(::testing::Values(1, 37, 300), ::testing::Values(1, 2), ::testing::Bool(),
                                            ::testing::Bool(), ::testing::Bool()));

}  // namespace

// ---------------------------------------------------------------- token tables
// Full-width HF tables built from a position cache give the position-cache
// kernel's result bit for bit (same fp32 operations), in place, key optional.
namespace {

TEST(RopeTokenTable, FullWidthEqualsPositionCache) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t nnz = 77, hq = 8, hk = 2, head = 128, rot = 128, half = rot / 2, max_pos = 512;
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_int_distribution<int64_t> pd(0, max_pos - 1);
  std::vector<bf16> q(nnz * hq * head), k(nnz * hk * head);
  for (auto& x : q) x = __float2bfloat16_rn(nd(gen));
  for (auto& x : k) x = __float2bfloat16_rn(nd(gen));
  std::vector<float> cache(max_pos * rot), cos_t(nnz * rot), sin_t(nnz * rot);
  for (auto& x : cache) x = nd(gen);
  std::vector<int64_t> pos(nnz);
  for (auto& x : pos) x = pd(gen);
  for (int64_t t = 0; t < nnz; ++t) {
    for (int64_t i = 0; i < rot; ++i) {
      cos_t[t * rot + i] = cache[pos[t] * rot + i % half];
      sin_t[t * rot + i] = cache[pos[t] * rot + half + i % half];
    }
  }
  std::vector<bf16> out[2][2];
  for (int form = 0; form < 2; ++form) {
    bf16 *dq = to_device(q), *dk = to_device(k);
    float *dcache = to_device(cache), *dcos = to_device(cos_t), *dsin = to_device(sin_t);
    int64_t* dpos = to_device(pos);
    RopeParams p{};
    p.q = p.q_out = dq;
    p.k = p.k_out = dk;
    p.nnz = nnz;
    p.num_q_heads = hq;
    p.num_k_heads = hk;
    p.head_size = head;
    p.rotary_dim = rot;
    p.q_stride_tok = p.q_out_stride_tok = hq * head;
    p.q_stride_head = p.q_out_stride_head = head;
    p.k_stride_tok = p.k_out_stride_tok = hk * head;
    p.k_stride_head = p.k_out_stride_head = head;
    p.k_scale = p.v_scale = 1.f;
    cudaError_t err;
    if (form == 0) {
      p.cos_sin = dcache;
      p.cs_stride = rot;
      p.pos = dpos;
      p.pos_stride_tok = 1;
      p.pos_int64 = true;
      err = launch_rope<bf16, float, bf16>(p, nullptr);
    } else {
      p.table = RopeTable::kTokenFull;
      p.cos_sin = dcos;
      p.sin = dsin;
      p.cs_stride = p.sin_stride = rot;
      p.cs_step = 1;
      err = launch_rope_token_table<bf16, float>(p, nullptr);
    }
    ASSERT_EQ(err, cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    out[form][0] = to_host(dq, q.size());
    out[form][1] = to_host(dk, k.size());
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dcache);
    cudaFree(dcos);
    cudaFree(dsin);
    cudaFree(dpos);
  }
  EXPECT_EQ(std::memcmp(out[0][0].data(), out[1][0].data(), q.size() * 2), 0);
  EXPECT_EQ(std::memcmp(out[0][1].data(), out[1][1].data(), k.size() * 2), 0);
}

}  // namespace

// ---------------------------------------------------------------- fused QK norm + RoPE
// The register path (several group sizes) and the shared-memory path against
// a host reference and each other (within fp32 rounding: sum order differs).

namespace {

class QKNormRopeKernel : public ::testing::TestWithParam<std::tuple<int, int, bool>> {};

TEST_P(QKNormRopeKernel, PathsMatchHost) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const auto [nnz, rot, interleave] = GetParam();
  const int64_t hq = 8, hk = 2, hv = 2, head = 128, width = (hq + hk + hv) * head;
  std::mt19937 gen(static_cast<unsigned>(nnz * 3 + rot));
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> qkv(nnz * width), qw(head), kw(head);
  for (auto& x : qkv) x = nd(gen);
  for (auto& x : qw) x = 1.f + 0.2f * nd(gen);
  for (auto& x : kw) x = 1.f + 0.2f * nd(gen);
  std::vector<int32_t> pos(nnz);
  for (int64_t t = 0; t < nnz; ++t) pos[t] = static_cast<int32_t>((t * 7919) % 200000);
  QKNormRopeParams p{};
  p.num_tokens = nnz;
  p.row_stride = width;
  p.pos_stride = 1;
  p.num_heads_q = hq;
  p.num_heads_k = hk;
  p.head_dim = head;
  p.rotary_dim = rot;
  p.eps = 1e-6f;
  p.attention_factor = 1.25f;
  p.weight_float = true;
  p.interleave = interleave;
  fill_qk_norm_rope_freqs(p, 1e6, 4.0, 4.0, 30.0);
  const QKNormRopeConfig cfgs[] = {{0, false}, {1, false}, {7, false}, {0, true}, {3, true}};
  std::vector<std::vector<float>> outs;
  for (const auto& cfg : cfgs) {
    float *d = to_device(qkv), *dq = to_device(qw), *dk = to_device(kw);
    int32_t* dp = to_device(pos);
    QKNormRopeParams run = p;
    run.qkv = d;
    run.q_weight = dq;
    run.k_weight = dk;
    run.pos = dp;
    ASSERT_EQ(launch_qk_norm_rope<float>(run, cfg, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    outs.push_back(to_host(d, qkv.size()));
    cudaFree(d);
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dp);
  }
  // Host reference in double from the same frequency table and fp32 angle.
  const int64_t half = rot / 2;
  for (int64_t t = 0; t < nnz; ++t) {
    for (int64_t h = 0; h < hq + hk + hv; ++h) {
      const float* x = qkv.data() + t * width + h * head;
      std::vector<double> y(head), e(head);
      if (h < hq + hk) {
        double ss = 0;
        for (int64_t i = 0; i < head; ++i) ss += double(x[i]) * x[i];
        const double rstd = 1.0 / std::sqrt(ss / head + 1e-6);
        const std::vector<float>& w = h < hq ? qw : kw;
        for (int64_t i = 0; i < head; ++i) y[i] = x[i] * rstd * w[i];
        e = y;
        for (int64_t j = 0; j < half; ++j) {
          const double ang = static_cast<float>(pos[t]) * p.inv_freq[j];
          const int64_t a = interleave ? 2 * j : j, b = interleave ? 2 * j + 1 : j + half;
          e[a] = (y[a] * std::cos(ang) - y[b] * std::sin(ang)) * 1.25;
          e[b] = (y[b] * std::cos(ang) + y[a] * std::sin(ang)) * 1.25;
        }
      } else {
        for (int64_t i = 0; i < head; ++i) e[i] = x[i];
      }
      for (size_t o = 0; o < outs.size(); ++o) {
        for (int64_t i = 0; i < head; ++i) {
          const float got = outs[o][t * width + h * head + i];
          if (h >= hq + hk) {
            ASSERT_EQ(got, x[i]) << "V changed: cfg " << o;
          } else {
            ASSERT_NEAR(got, e[i], 2e-5 * (1 + std::fabs(e[i]))) << "cfg " << o << " t " << t << " h " << h
                                                                  << " i " << i;
          }
        }
      }
    }
  }
}

// nnz, rotary_dim (128: full; 64: half; 36: neox takes the general path), interleave
INSTANTIATE_TEST_SUITE_P(Cases, QKNormRopeKernel,
                         ::testing::Combine(::testing::Values(1, 37, 300), ::testing::Values(128, 64, 36),
                                            ::testing::Bool()));

}  // namespace
