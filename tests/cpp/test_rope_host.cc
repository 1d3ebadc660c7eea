// Host-side tests of the rope headers: the mrope frequency-to-component map
// and the fused QK-norm + RoPE frequency table that the CPU backend and the
// kernels share.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <type_traits>

#include "sgl_kernel/rope/qk_norm_rope.h"
#include "sgl_kernel/rope/rope.h"

using namespace sgl_kernel;

namespace {
RopeParams mrope_params(bool interleaved, int64_t t, int64_t h, int64_t w) {
  RopeParams p{};
  p.mrope = true;
  p.mrope_interleaved = interleaved;
  p.mrope_section[0] = t;
  p.mrope_section[1] = h;
  p.mrope_section[2] = w;
  return p;
}
}  // namespace

TEST(Mrope, InterleavedQwen3VLSections) {
  // Qwen3-VL: rotary_dim 128, sections [24, 20, 20]: height and width take
  // every third frequency (1 and 2 mod 3) below 60, temporal the rest.
  const RopeParams p = mrope_params(true, 24, 20, 20);
  std::array<int, 3> count{};
  for (int64_t i = 0; i < 64; ++i) {
    const int c = mrope_component(p, i);
    ASSERT_GE(c, 0);
    ASSERT_LE(c, 2);
    ++count[c];
    if (i >= 60) EXPECT_EQ(c, 0) << i;
  }
  EXPECT_EQ(count[0], 24);
  EXPECT_EQ(count[1], 20);
  EXPECT_EQ(count[2], 20);
  EXPECT_EQ(mrope_component(p, 0), 0);
  EXPECT_EQ(mrope_component(p, 1), 1);
  EXPECT_EQ(mrope_component(p, 2), 2);
  EXPECT_EQ(mrope_component(p, 3), 0);
  EXPECT_EQ(mrope_component(p, 58), 1);
  EXPECT_EQ(mrope_component(p, 59), 2);
}

TEST(Mrope, ChunkedSections) {
  const RopeParams p = mrope_params(false, 16, 24, 24);
  for (int64_t i = 0; i < 64; ++i) {
    const int expect = i < 16 ? 0 : (i < 40 ? 1 : 2);
    EXPECT_EQ(mrope_component(p, i), expect) << i;
  }
}

TEST(Mrope, PlainRopeUsesTheFirstComponent) {
  RopeParams p = mrope_params(true, 24, 20, 20);
  p.mrope = false;
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(mrope_component(p, i), 0);
  EXPECT_TRUE(std::is_trivially_copyable<RopeParams>::value);
}

// The fused QK-norm + RoPE frequency table (shared by the CPU backend and the
// kernel): base^(-2j/R), YaRN blend, the |high - low| <= 1e-6 guard.
TEST(QKNormRopeFreqs, PlainAndYarn) {
  QKNormRopeParams p{};
  p.rotary_dim = 128;
  fill_qk_norm_rope_freqs(p, 1e6, 1.0, 0.0, 0.0);
  EXPECT_EQ(p.inv_freq[0], 1.f);
  EXPECT_FLOAT_EQ(p.inv_freq[10], static_cast<float>(std::pow(1e6, -20.0 / 128)));
  EXPECT_EQ(p.inv_freq[64], 0.f);  // past rotary_dim / 2
  QKNormRopeParams y = p;
  fill_qk_norm_rope_freqs(y, 1e6, 4.0, 8.0, 24.0);
  for (int j = 0; j <= 8; ++j) EXPECT_EQ(y.inv_freq[j], p.inv_freq[j]) << j;  // ramp 0: extrapolation
  for (int j = 24; j < 64; ++j) {
    EXPECT_FLOAT_EQ(y.inv_freq[j], static_cast<float>(std::pow(1e6, -2.0 * j / 128) / 4)) << j;  // ramp 1
  }
  const double f16 = std::pow(1e6, -32.0 / 128), r = 0.5;
  EXPECT_FLOAT_EQ(y.inv_freq[16], static_cast<float>(f16 / 4 * r + f16 * (1 - r)));
  QKNormRopeParams z = p;
  fill_qk_norm_rope_freqs(z, 1e6, 4.0, 8.0, 8.0 + 5e-7);  // high' = high + 0.001
  EXPECT_EQ(z.inv_freq[8], p.inv_freq[8]);
  EXPECT_FLOAT_EQ(z.inv_freq[9], static_cast<float>(std::pow(1e6, -18.0 / 128) / 4));
}
