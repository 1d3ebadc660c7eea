// Host-side tests of the rope headers: the mrope frequency-to-component map
// that the CPU backend and the kernels share.
#include <gtest/gtest.h>

#include <array>
#include <type_traits>

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
