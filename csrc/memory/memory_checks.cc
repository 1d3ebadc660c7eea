// Argument checks for the memory family, shared by both backends.
#include <cmath>
#include <vector>

#include "common/torch_utils.h"
#include "memory/memory.h"

namespace sgl_kernel {
namespace {

void check_index_dtype(const Tensor& t, const char* name) {
  SGL_CHECK_TYPE(t.scalar_type() == kInt || t.scalar_type() == kLong, name,
                   " must have dtype int32 or int64, got ", t.scalar_type());
}

bool is_cast_dtype(ScalarType st) {
  return st == kFloat || st == kHalf || st == kBFloat16 || st == kFloat8_e4m3fn;
}

// True when dims [from, ndim) are laid out densely (size-1 dims ignored).
bool dense_from(const Tensor& t, int64_t from) {
  int64_t expected = 1;
  for (int64_t k = t.dim() - 1; k >= from; --k) {
    if (t.size(k) == 1) continue;
    if (t.stride(k) != expected) return false;
    expected *= t.size(k);
  }
  return true;
}

int64_t numel_from(const Tensor& t, int64_t from) {
  int64_t n = 1;
  for (int64_t k = from; k < t.dim(); ++k) n *= t.size(k);
  return n;
}

// A [rows, ...] tensor whose rows (dims 1..) are contiguous: {rows, row stride}.
void check_dense_rows(const Tensor& t, const char* name) {
  SGL_CHECK_VALUE(t.dim() >= 1, name, " must have at least 1 dim, got a scalar");
  SGL_CHECK_VALUE(dense_from(t, 1), name, " must be contiguous after its first dim, got shape ", t.sizes(),
                    " and strides ", t.strides());
}

// Views t [..., inner, last] as (outer, inner) rows with strides (in
// elements); raises when the dims before `inner` do not collapse to one.
struct Rows2 {
  int64_t outer, inner, stride_outer, stride_inner;
};
Rows2 rows2_of(const Tensor& t, const char* name) {
  const int64_t nd = t.dim();
  SGL_CHECK_VALUE(nd >= 1, name, " must have at least 1 dim, got a scalar");
  check_last_contiguous(t, name);
  Rows2 r{1, 1, 0, 0};
  if (nd >= 2) {
    r.inner = t.size(nd - 2);
    r.stride_inner = t.stride(nd - 2);
  }
  int64_t expected = -1;
  for (int64_t k = nd - 3; k >= 0; --k) {
    if (t.size(k) == 1) continue;
    if (expected < 0) {
      r.stride_outer = t.stride(k);
    } else {
      SGL_CHECK_VALUE(t.stride(k) == expected, name, ": dims before the last two must collapse into one (a view), ",
                        "got shape ", t.sizes(), " and strides ", t.strides());
    }
    expected = t.stride(k) * t.size(k);
    r.outer *= t.size(k);
  }
  for (int64_t k = 0; k < nd; ++k) {
    if (t.size(k) == 0) r.outer = 0;
  }
  return r;
}

}  // namespace

StoreKVParams make_store_kv_params(const Tensor& k_cache, const Tensor& v_cache, const Tensor& out_loc,
                                   const Tensor& k, const Tensor& v) {
  check_same_device(k_cache, "k_cache", v_cache, "v_cache");
  check_same_device(k_cache, "k_cache", out_loc, "out_loc");
  check_same_device(k_cache, "k_cache", k, "k");
  check_same_device(k_cache, "k_cache", v, "v");
  check_same_dtype(k_cache, "k_cache", k, "k");
  check_same_dtype(v_cache, "v_cache", v, "v");
  check_index_dtype(out_loc, "out_loc");
  SGL_CHECK_VALUE(out_loc.dim() == 1, "out_loc must be 1-D, got shape ", out_loc.sizes());
  check_dense_rows(k_cache, "k_cache");
  check_dense_rows(v_cache, "v_cache");
  check_dense_rows(k, "k");
  check_dense_rows(v, "v");
  SGL_CHECK_VALUE(same_sizes(k.sizes().slice(1), k_cache.sizes().slice(1)), "k must have the row shape of k_cache ",
                    k_cache.sizes().slice(1), ", got shape ", k.sizes());
  SGL_CHECK_VALUE(same_sizes(v.sizes().slice(1), v_cache.sizes().slice(1)), "v must have the row shape of v_cache ",
                    v_cache.sizes().slice(1), ", got shape ", v.sizes());
  SGL_CHECK_VALUE(v_cache.size(0) == k_cache.size(0), "v_cache must have the rows of k_cache (", k_cache.size(0),
                    "), got ", v_cache.size(0));
  const int64_t tokens = out_loc.size(0);
  SGL_CHECK_VALUE(k.size(0) == tokens && v.size(0) == tokens, "k and v must have out_loc's ", tokens,
                    " tokens, got ", k.size(0), " and ", v.size(0));
  StoreKVParams p{};
  p.k_cache = k_cache.data_ptr();
  p.v_cache = v_cache.data_ptr();
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.loc = out_loc.data_ptr();
  p.loc_int64 = out_loc.scalar_type() == kLong;
  p.tokens = tokens;
  p.cache_rows = k_cache.size(0);
  p.k_row_bytes = numel_from(k_cache, 1) * k_cache.element_size();
  p.v_row_bytes = numel_from(v_cache, 1) * v_cache.element_size();
  p.k_cache_stride = k_cache.stride(0) * k_cache.element_size();
  p.v_cache_stride = v_cache.stride(0) * v_cache.element_size();
  p.k_stride = k.stride(0) * k.element_size();
  p.v_stride = v.stride(0) * v.element_size();
  p.loc_stride = out_loc.stride(0);
  return p;
}

ConcatParams make_concat_params(const Tensor& out, const char* out_name, const Tensor& a,
                                const char* a_name, const Tensor& b, const char* b_name, bool broadcast_b) {
  check_same_device(out, out_name, a, a_name);
  check_same_device(out, out_name, b, b_name);
  check_same_dtype(out, out_name, a, a_name);
  check_same_dtype(out, out_name, b, b_name);
  SGL_CHECK_VALUE(a.dim() >= 1 && a.dim() == b.dim() && a.dim() == out.dim(), out_name, ", ", a_name, " and ",
                    b_name, " must have the same number of dims (at least 1), got shapes ", out.sizes(), ", ",
                    a.sizes(), " and ", b.sizes());
  const int64_t nd = a.dim();
  std::vector<int64_t> expect_b(a.sizes().begin(), a.sizes().end());
  std::vector<int64_t> expect_out(a.sizes().begin(), a.sizes().end());
  expect_b.back() = b.size(-1);
  if (broadcast_b) {
    SGL_CHECK_VALUE(nd >= 2, a_name, " must have at least 2 dims, got shape ", a.sizes());
    expect_b[nd - 2] = 1;
  }
  check_shape(b, b_name, expect_b);
  expect_out.back() = a.size(-1) + b.size(-1);
  check_shape(out, out_name, expect_out);
  const Rows2 ro = rows2_of(out, out_name), ra = rows2_of(a, a_name), rb = rows2_of(b, b_name);
  const int64_t es = out.element_size();
  ConcatParams p{};
  p.out = out.data_ptr();
  p.a = a.data_ptr();
  p.b = b.data_ptr();
  p.outer = ro.outer;
  p.inner = ro.inner;
  p.a_bytes = a.size(-1) * es;
  p.b_bytes = b.size(-1) * es;
  p.out_stride_outer = ro.stride_outer * es;
  p.out_stride_inner = ro.stride_inner * es;
  p.a_stride_outer = ra.stride_outer * es;
  p.a_stride_inner = ra.stride_inner * es;
  p.b_stride_outer = rb.stride_outer * es;
  p.b_stride_inner = broadcast_b ? 0 : rb.stride_inner * es;
  return p;
}

CastParams make_cast_params(const Tensor& out, const Tensor& input) {
  SGL_CHECK_TYPE(is_cast_dtype(input.scalar_type()), "input must have dtype in {float32, float16, bfloat16, ",
                   "float8_e4m3fn}, got ", input.scalar_type());
  SGL_CHECK_TYPE(is_cast_dtype(out.scalar_type()), "out must have dtype in {float32, float16, bfloat16, ",
                   "float8_e4m3fn}, got ", out.scalar_type());
  check_same_device(input, "input", out, "out");
  check_shape(out, "out", input.sizes());
  CastParams p{};
  p.out = out.data_ptr();
  p.in = input.data_ptr();
  if (input.is_contiguous() && out.is_contiguous()) {
    // One long row: the kernel spreads it over the whole grid.
    p.rows = input.numel() == 0 ? 0 : 1;
    p.cols = input.numel();
    p.in_stride = p.out_stride = p.cols;
    return p;
  }
  SGL_CHECK_VALUE(input.dim() >= 1, "input must have at least 1 dim");
  const Rows2 ri = rows2_of(input, "input"), ro = rows2_of(out, "out");
  // Rows are (outer, inner) pairs; flatten them when they form one strided run.
  auto flat_stride = [](const Rows2& r, const char* name, const Tensor& t) {
    if (r.outer <= 1) return r.stride_inner;
    if (r.inner <= 1) return r.stride_outer;
    SGL_CHECK_VALUE(r.stride_outer == r.stride_inner * r.inner, name,
                      ": leading dims must collapse into one row dim (a view), got shape ", t.sizes(),
                      " and strides ", t.strides(), "; call .contiguous() first");
    return r.stride_inner;
  };
  p.rows = ri.outer * ri.inner;
  p.cols = input.size(-1);
  p.in_stride = flat_stride(ri, "input", input);
  p.out_stride = flat_stride(ro, "out", out);
  return p;
}

DowncastFp8Params make_downcast_fp8_params(const Tensor& k, const Tensor& v, const Tensor& k_out,
                                           const Tensor& v_out, const Tensor& k_scale,
                                           const Tensor& v_scale, const Tensor& loc, int64_t mult,
                                           int64_t offset) {
  const auto st = k.scalar_type();
  SGL_CHECK_TYPE(st == kFloat || st == kHalf || st == kBFloat16,
                   "k must have dtype in {float32, float16, bfloat16}, got ", st);
  check_same_dtype(k, "k", v, "v");
  SGL_CHECK_TYPE(k_out.scalar_type() == kFloat8_e4m3fn, "k_out must have dtype float8_e4m3fn, got ",
                   k_out.scalar_type());
  SGL_CHECK_TYPE(v_out.scalar_type() == kFloat8_e4m3fn, "v_out must have dtype float8_e4m3fn, got ",
                   v_out.scalar_type());
  SGL_CHECK_TYPE(k_scale.scalar_type() == kFloat, "k_scale must have dtype float32, got ",
                   k_scale.scalar_type());
  SGL_CHECK_TYPE(v_scale.scalar_type() == kFloat, "v_scale must have dtype float32, got ",
                   v_scale.scalar_type());
  check_index_dtype(loc, "loc");
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&v, "v"}, {&k_out, "k_out"}, {&v_out, "v_out"},
                         {&k_scale, "k_scale"}, {&v_scale, "v_scale"}, {&loc, "loc"}}) {
    check_same_device(k, "k", *t, name);
  }
  check_dim(k, "k", 3);
  check_shape(v, "v", k.sizes());
  check_dim(k_out, "k_out", 3);
  check_dim(v_out, "v_out", 3);
  const int64_t tokens = k.size(0), heads = k.size(1), dim = k.size(2);
  SGL_CHECK_VALUE(k_out.size(1) == heads && k_out.size(2) == dim, "k_out must have shape [rows, ", heads, ", ", dim,
                    "] (heads and dim of k), got ", k_out.sizes());
  check_shape(v_out, "v_out", k_out.sizes());
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&k, "k"}, {&v, "v"}, {&k_out, "k_out"},
                         {&v_out, "v_out"}}) {
    check_last_contiguous(*t, name);
  }
  SGL_CHECK_VALUE(k_scale.numel() == 1, "k_scale must have 1 element, got shape ", k_scale.sizes());
  SGL_CHECK_VALUE(v_scale.numel() == 1, "v_scale must have 1 element, got shape ", v_scale.sizes());
  SGL_CHECK_VALUE(loc.dim() == 1 && loc.size(0) == tokens, "loc must have shape [", tokens,
                    "] (the tokens of k), got ", loc.sizes());
  DowncastFp8Params p{};
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.k_out = k_out.data_ptr();
  p.v_out = v_out.data_ptr();
  p.k_scale = ptr<float>(k_scale);
  p.v_scale = ptr<float>(v_scale);
  p.loc = loc.data_ptr();
  p.loc_int64 = loc.scalar_type() == kLong;
  p.tokens = tokens;
  p.heads = heads;
  p.dim = dim;
  p.out_rows = k_out.size(0);
  p.k_stride_t = k.stride(0);
  p.k_stride_h = k.stride(1);
  p.v_stride_t = v.stride(0);
  p.v_stride_h = v.stride(1);
  p.ko_stride_t = k_out.stride(0);
  p.ko_stride_h = k_out.stride(1);
  p.vo_stride_t = v_out.stride(0);
  p.vo_stride_h = v_out.stride(1);
  p.loc_stride = loc.stride(0);
  p.mult = mult;
  p.offset = offset;
  return p;
}

TimestepEmbeddingParams make_timestep_embedding_params(const Tensor& t, const Tensor& output, int64_t dim,
                                                       bool flip_sin_to_cos, double downscale_freq_shift,
                                                       double scale, int64_t max_period) {
  const auto st = t.scalar_type();
  SGL_CHECK_TYPE(st == kFloat || st == kHalf || st == kBFloat16 || st == kDouble ||
                       st == kInt || st == kLong,
                   "t must have dtype in {float32, float16, bfloat16, float64, int32, int64}, got ", st);
  SGL_CHECK_TYPE(output.scalar_type() == kFloat, "output must have dtype float32, got ", output.scalar_type());
  check_same_device(t, "t", output, "output");
  check_dim(t, "t", 1);
  SGL_CHECK_VALUE(dim >= 1, "dim must be positive, got ", dim);
  check_shape(output, "output", {t.size(0), dim});
  check_last_contiguous(output, "output");
  SGL_CHECK_VALUE(max_period > 0, "max_period must be positive, got ", max_period);
  const int64_t half = dim / 2;
  SGL_CHECK_VALUE(half == 0 || static_cast<double>(half) != downscale_freq_shift,
                    "downscale_freq_shift must differ from dim // 2 (", half, "): it divides by their difference");
  SGL_CHECK_VALUE(std::isfinite(downscale_freq_shift) && std::isfinite(scale),
                    "downscale_freq_shift and scale must be finite, got ", downscale_freq_shift, " and ", scale);
  TimestepEmbeddingParams p{};
  p.out = ptr<float>(output);
  p.t = t.data_ptr();
  p.n = t.size(0);
  p.dim = dim;
  p.t_stride = t.stride(0);
  p.out_stride = output.stride(0);
  p.flip_sin_to_cos = flip_sin_to_cos;
  p.downscale_freq_shift = static_cast<float>(downscale_freq_shift);
  p.scale = static_cast<float>(scale);
  p.log_max_period = static_cast<float>(std::log(static_cast<double>(max_period)));
  return p;
}

void check_copy_no_ce(const Tensor& input, const Tensor& output) {
  SGL_CHECK(input.device().is_cpu(), "input must be a CPU tensor (its values travel as kernel parameters), got ",
              input.device());
  SGL_CHECK_TYPE(input.scalar_type() == kInt, "input must have dtype int32, got ", input.scalar_type());
  SGL_CHECK_TYPE(output.scalar_type() == kInt, "output must have dtype int32, got ", output.scalar_type());
  SGL_CHECK_VALUE(input.dim() == 1, "input must be 1-D, got shape ", input.sizes());
  SGL_CHECK_VALUE(input.numel() <= kCopyNoCECapacity, "input must have at most ", kCopyNoCECapacity,
                    " elements (the kernel-parameter capacity), got ", input.numel());
  check_shape(output, "output", input.sizes());
  SGL_CHECK_VALUE(output.is_contiguous(), "output must be contiguous, got strides ", output.strides());
}

}  // namespace sgl_kernel
