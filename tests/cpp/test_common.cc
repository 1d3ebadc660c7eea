// Host-side tests of include/sgl_kernel/common: dtype tags, the typed
// dispatch helper, Vec layout and the integer helpers.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sgl_kernel/common/dispatch.h"
#include "sgl_kernel/common/dtype.h"
#include "sgl_kernel/common/math.cuh"
#include "sgl_kernel/common/vec.cuh"
#include "sgl_kernel/elementwise/activation.h"
#include "sgl_kernel/elementwise/norm.h"

using namespace sgl_kernel;

TEST(DType, NamesAndSizes) {
  EXPECT_STREQ(dtype_name(DType::kBFloat16), "bfloat16");
  EXPECT_STREQ(dtype_name(DType::kFloat8E4M3), "float8_e4m3fn");
  EXPECT_EQ(dtype_size(DType::kFloat32), 4);
  EXPECT_EQ(dtype_size(DType::kFloat16), 2);
  EXPECT_EQ(dtype_size(DType::kInt64), 8);
  EXPECT_EQ(dtype_size(DType::kFloat8E4M3), 1);
}

TEST(Dispatch, RunsTheMatchingTypeOnce) {
  int calls = 0;
  size_t seen = 0;
  const bool ok = dispatch_dtype<float, int32_t, int64_t>(DType::kInt64, [&](auto tag) {
    using T = typename decltype(tag)::type;
    seen = sizeof(T);
    ++calls;
  });
  EXPECT_TRUE(ok);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 8u);
}

TEST(Dispatch, ReportsTypesOutsideTheSet) {
  int calls = 0;
  EXPECT_FALSE((dispatch_dtype<float, int32_t>(DType::kBFloat16, [&](auto) { ++calls; })));
  EXPECT_EQ(calls, 0);
  char buf[64];
  EXPECT_EQ(std::string(dtype_list<float, int32_t, int64_t>(buf, sizeof(buf))), "float32, int32, int64");
  char tiny[8];
  EXPECT_EQ(std::string(dtype_list<float, int32_t>(tiny, sizeof(tiny))), "float32");
}

TEST(Vec, SixteenBytesAligned) {
  using V = Vec<uint16_t, 8>;
  EXPECT_EQ(sizeof(V), 16u);
  EXPECT_EQ(alignof(V), 16u);
  EXPECT_EQ(kVec16<float>, 4);
  EXPECT_EQ(kVec16<uint16_t>, 8);
  alignas(16) uint16_t src[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  alignas(16) uint16_t dst[8] = {};
  V v;
  v.load(src);
  v[3] = 40;
  v.store(dst);
  EXPECT_EQ(dst[0], 1);
  EXPECT_EQ(dst[3], 40);
  EXPECT_EQ(dst[7], 8);
}

TEST(Math, IntegerHelpers) {
  EXPECT_EQ(div_up<int64_t>(10, 4), 3);
  EXPECT_EQ(div_up<int64_t>(8, 4), 2);
  EXPECT_EQ(round_up<int64_t>(33, 32), 64);
  EXPECT_EQ(next_pow2(1), 1);
  EXPECT_EQ(next_pow2(17), 32);
  EXPECT_EQ(next_pow2(4096), 4096);
  EXPECT_EQ(div_up<int64_t>(int64_t{1} << 40, 3), 366503875926);
}

TEST(Params, ArePlainData) {
  EXPECT_TRUE(std::is_trivially_copyable<RMSNormParams>::value);
  EXPECT_TRUE(std::is_trivially_copyable<GatedActParams>::value);
}
