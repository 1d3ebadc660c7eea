// The elementwise launchers used without any framework: run on the GPU when
// one is present and compare with a double-precision host reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "sgl_kernel/elementwise/activation.cuh"
#include "sgl_kernel/elementwise/norm.cuh"

using namespace sgl_kernel;

namespace {

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define REQUIRE_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device"

template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  explicit DeviceBuffer(size_t n) { EXPECT_EQ(cudaMalloc(&ptr, n * sizeof(T)), cudaSuccess); }
  ~DeviceBuffer() { cudaFree(ptr); }
};

std::vector<float> random_vec(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

}  // namespace

TEST(Launchers, EmptyProblemsLaunchNothing) {
  RMSNormParams p{};
  EXPECT_EQ(launch_rmsnorm<float>(p, nullptr), cudaSuccess);
  GatedActParams a{};
  EXPECT_EQ(launch_gated_activation<float>(Activation::kSilu, a, nullptr), cudaSuccess);
  p.outer = 2;
  p.inner = 1;
  p.hidden = -4;
  EXPECT_EQ(launch_rmsnorm<float>(p, nullptr), cudaErrorInvalidValue);
}

// (rows, hidden, fused add, threads per row (0 = auto), schedule (-1 = auto))
class RMSNormKernel : public ::testing::TestWithParam<std::tuple<int, int, bool, int, int>> {};

TEST_P(RMSNormKernel, MatchesHostReference) {
  REQUIRE_GPU();
  const auto [rows, hidden, add, threads_per_row, schedule] = GetParam();
  RMSNormConfig cfg;
  cfg.threads_per_row = threads_per_row;
  cfg.schedule = schedule;
  const size_t n = static_cast<size_t>(rows) * hidden;
  auto x = random_vec(n, 1), r = random_vec(n, 2), w = random_vec(hidden, 3);
  DeviceBuffer<float> dx(n), dr(n), dw(hidden), dout(n);
  cudaMemcpy(dx.ptr, x.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dr.ptr, r.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dw.ptr, w.data(), hidden * 4, cudaMemcpyHostToDevice);
  cudaMemset(dout.ptr, 0xff, n * 4);  // NaN poison
  RMSNormParams p{};
  p.in = dx.ptr;
  p.out = add ? static_cast<void*>(dx.ptr) : dout.ptr;
  p.residual = add ? dr.ptr : nullptr;
  p.weight = dw.ptr;
  p.outer = rows;
  p.inner = 1;
  p.hidden = hidden;
  p.in_stride_outer = p.out_stride_outer = p.res_stride_outer = hidden;
  p.eps = 1e-6f;
  ASSERT_EQ(launch_rmsnorm<float>(p, cfg, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> out(n), res(n);
  cudaMemcpy(out.data(), add ? dx.ptr : dout.ptr, n * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(res.data(), dr.ptr, n * 4, cudaMemcpyDeviceToHost);
  for (int i = 0; i < rows; ++i) {
    double ss = 0;
    for (int j = 0; j < hidden; ++j) {
      const double v = x[i * hidden + j] + (add ? r[i * hidden + j] : 0.0);
      ss += v * v;
    }
    const double rstd = 1.0 / std::sqrt(ss / hidden + 1e-6);
    for (int j = 0; j < hidden; ++j) {
      const double v = x[i * hidden + j] + (add ? r[i * hidden + j] : 0.0);
      ASSERT_NEAR(out[i * hidden + j], v * rstd * w[j], 1e-4 * (1 + std::fabs(v * rstd * w[j])))
          << "row " << i << " col " << j;
      if (add) ASSERT_FLOAT_EQ(res[i * hidden + j], static_cast<float>(v));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RMSNormKernel,
                         ::testing::Values(std::make_tuple(1, 1, false, 0, -1), std::make_tuple(3, 199, false, 0, -1),
                                           std::make_tuple(17, 4096, false, 0, -1),
                                           std::make_tuple(5, 4096, true, 0, -1),
                                           std::make_tuple(2, 40000, true, 0, -1),
                                           std::make_tuple(64, 128, false, 0, -1)));

// Every schedule and a few launch shapes, on enough rows (300 > the SM count)
// that the grid-stride loop runs more than once per block.
INSTANTIATE_TEST_SUITE_P(Schedules, RMSNormKernel,
                         ::testing::Combine(::testing::Values(300), ::testing::Values(1000, 4096),
                                            ::testing::Values(false, true), ::testing::Values(0, 64, 256),
                                            ::testing::Values(-1, 0, 1, 2, 3)));

TEST(GatedKernel, SiluMatchesHostReference) {
  REQUIRE_GPU();
  const int rows = 9, d = 1537;
  auto x = random_vec(static_cast<size_t>(rows) * 2 * d, 5);
  DeviceBuffer<float> dx(x.size()), dout(static_cast<size_t>(rows) * d);
  cudaMemcpy(dx.ptr, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  GatedActParams p{};
  p.in = dx.ptr;
  p.out = dout.ptr;
  p.rows = rows;
  p.d = d;
  p.in_stride = 2 * d;
  p.out_stride = d;
  ASSERT_EQ(launch_gated_activation<float>(Activation::kSilu, p, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> out(static_cast<size_t>(rows) * d);
  cudaMemcpy(out.data(), dout.ptr, out.size() * 4, cudaMemcpyDeviceToHost);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < d; ++j) {
      const double a = x[i * 2 * d + j], b = x[i * 2 * d + d + j];
      const double expect = a / (1 + std::exp(-a)) * b;
      ASSERT_NEAR(out[i * d + j], expect, 1e-5 * (1 + std::fabs(expect)));
    }
  }
}
