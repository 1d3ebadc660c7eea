// Argument checks for the elementwise family, shared by both backends.
#include <cmath>

#include "common/torch_utils.h"
#include "elementwise/elementwise.h"

namespace sgl_kernel {
namespace {

void check_float_dtype(const Tensor& t, const char* name) {
  const auto st = t.scalar_type();
  SGL_CHECK_TYPE(st == kFloat || st == kHalf || st == kBFloat16, name,
                   " must have dtype in {float32, float16, bfloat16}, got ", st);
}

// Collapses all dims but the last into one row dim. Returns {rows, row_stride};
// raises when the leading dims are not one uniformly strided run.
std::pair<int64_t, int64_t> rows_of(const Tensor& t, const char* name) {
  const int64_t nd = t.dim();
  SGL_CHECK_VALUE(nd >= 1, name, " must have at least 1 dim, got a scalar");
  check_last_contiguous(t, name);
  int64_t rows = 1;
  int64_t row_stride = t.size(nd - 1);  // irrelevant while rows <= 1
  int64_t expected = -1;                // stride the next non-unit leading dim must have
  for (int64_t k = nd - 2; k >= 0; --k) {
    if (t.size(k) == 1) continue;
    if (expected < 0) {
      row_stride = t.stride(k);
    } else {
      SGL_CHECK_VALUE(t.stride(k) == expected, name,
                        ": leading dims must collapse into one row dim (a view), got shape ", t.sizes(),
                        " and strides ", t.strides(), "; call .contiguous() first");
    }
    expected = t.stride(k) * t.size(k);
    rows *= t.size(k);
  }
  for (int64_t k = 0; k < nd - 1; ++k) rows = t.size(k) == 0 ? 0 : rows;
  return {rows, row_stride};
}

}  // namespace

RMSNormParams make_rmsnorm_params(const Tensor& output, const Tensor& input, const Tensor* residual,
                                  const Tensor& weight, double eps, bool gemma, bool pdl, bool per_head) {
  const char* in_name = "input";
  check_float_dtype(input, in_name);
  check_dim(input, in_name, per_head ? 3 : 2);
  check_last_contiguous(input, in_name);
  check_same_dtype(input, in_name, output, "output");
  check_same_device(input, in_name, output, "output");
  check_shape(output, "output", input.sizes());
  check_last_contiguous(output, "output");
  check_same_dtype(input, in_name, weight, "weight");
  check_same_device(input, in_name, weight, "weight");
  const int64_t hidden = input.size(-1);
  SGL_CHECK_VALUE(weight.dim() == 1 && weight.size(0) == hidden, "weight must have shape [", hidden,
                    "] (the last dim of input), got ", weight.sizes());
  SGL_CHECK_VALUE(weight.is_contiguous(), "weight must be contiguous, got strides ", weight.strides());
  SGL_CHECK_VALUE(std::isfinite(eps) && eps >= 0, "eps must be a finite non-negative number, got ", eps);

  RMSNormParams p{};
  p.out = output.data_ptr();
  p.in = input.data_ptr();
  p.weight = weight.data_ptr();
  p.hidden = hidden;
  p.eps = static_cast<float>(eps);
  p.gemma = gemma;
  p.pdl = pdl;
  if (per_head) {
    p.outer = input.size(0);
    p.inner = input.size(1);
    p.in_stride_outer = input.stride(0);
    p.in_stride_inner = input.stride(1);
    p.out_stride_outer = output.stride(0);
    p.out_stride_inner = output.stride(1);
  } else {
    p.outer = input.size(0);
    p.inner = 1;
    p.in_stride_outer = input.stride(0);
    p.out_stride_outer = output.stride(0);
  }
  if (residual) {
    const Tensor& r = *residual;
    check_same_dtype(input, in_name, r, "residual");
    check_same_device(input, in_name, r, "residual");
    check_shape(r, "residual", input.sizes());
    check_last_contiguous(r, "residual");
    p.residual = r.data_ptr();
    p.res_stride_outer = r.stride(0);
    p.res_stride_inner = per_head ? r.stride(1) : 0;
  }
  return p;
}

GatedActParams make_act_params(const Tensor& out, const Tensor& input) {
  check_float_dtype(input, "input");
  check_same_dtype(input, "input", out, "out");
  check_same_device(input, "input", out, "out");
  SGL_CHECK_VALUE(input.dim() >= 1, "input must have at least 1 dim, got a scalar");
  check_shape(out, "out", input.sizes());
  auto [rows, in_stride] = rows_of(input, "input");
  GatedActParams p{};
  p.out = out.data_ptr();
  p.in = input.data_ptr();
  p.rows = rows;
  p.d = input.size(-1);
  p.in_stride = in_stride;
  p.out_stride = rows_of(out, "out").second;
  p.gated = false;
  return p;
}

GatedActParams make_gated_act_params(const Tensor& out, const Tensor& input) {
  check_float_dtype(input, "input");
  check_same_dtype(input, "input", out, "out");
  check_same_device(input, "input", out, "out");
  SGL_CHECK_VALUE(input.dim() >= 1, "input must have at least 1 dim, got a scalar");
  const int64_t two_d = input.size(-1);
  SGL_CHECK_VALUE(two_d % 2 == 0, "input's last dim must be even (gate and up halves), got ", two_d);
  std::vector<int64_t> expected(input.sizes().begin(), input.sizes().end());
  expected.back() = two_d / 2;
  check_shape(out, "out", expected);
  auto [rows, in_stride] = rows_of(input, "input");
  const int64_t out_stride = rows_of(out, "out").second;
  GatedActParams p{};
  p.out = out.data_ptr();
  p.in = input.data_ptr();
  p.rows = rows;
  p.d = two_d / 2;
  p.in_stride = in_stride;
  p.out_stride = out_stride;
  return p;
}

}  // namespace sgl_kernel
