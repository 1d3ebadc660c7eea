// Argument checks for the attention family, shared by both backends.
#include <cstdint>
#include <utility>

#include "attention/attention.h"
#include "common/torch_utils.h"

namespace sgl_kernel {
namespace {

void check_v(const Tensor& v, const char* name, const Tensor& ref, const char* ref_name) {
  check_same_dtype(ref, ref_name, v, name);
  check_same_device(ref, ref_name, v, name);
  check_shape(v, name, ref.sizes());
  check_last_contiguous(v, name);
}

void check_s(const Tensor& s, const char* name, const Tensor& v_a) {
  SGL_CHECK_TYPE(s.scalar_type() == kFloat, name, " must have dtype float32, got ", s.scalar_type());
  check_same_device(v_a, "v_a", s, name);
  check_shape(s, name, {v_a.size(0), v_a.size(1)});
}

// Same elements in the same positions: an in-place update.
bool same_elements(const Tensor& a, const Tensor& b) {
  return a.data_ptr() == b.data_ptr() && same_sizes(a.sizes(), b.sizes()) && same_sizes(a.strides(), b.strides());
}

void check_no_partial_overlap(const Tensor& out, const char* out_name, const Tensor& in,
                              const char* in_name, bool allow_same) {
  const bool ok = !ranges_overlap(out, in) || (allow_same && same_elements(out, in));
  if (allow_same) {
    SGL_CHECK_VALUE(ok, out_name, " must be ", in_name, " itself or not overlap it, got overlapping memory");
  } else {
    SGL_CHECK_VALUE(ok, out_name, " must not overlap ", in_name, " (every thread of a row reads ", in_name,
                      ")");
  }
}

}  // namespace

MergeStateParams make_merge_state_params(const Tensor& v_a, const Tensor& s_a, const Tensor& v_b,
                                         const Tensor& s_b, const Tensor& v_merged,
                                         const Tensor& s_merged, bool base2) {
  const auto st = v_a.scalar_type();
  SGL_CHECK_TYPE(st == kFloat || st == kHalf || st == kBFloat16,
                   "v_a must have dtype in {float32, float16, bfloat16}, got ", st);
  check_dim(v_a, "v_a", 3);
  check_last_contiguous(v_a, "v_a");
  SGL_CHECK_VALUE(v_a.size(2) >= 1, "v_a must have head_dim >= 1, got shape ", v_a.sizes());
  check_v(v_b, "v_b", v_a, "v_a");
  check_v(v_merged, "v_merged", v_a, "v_a");
  check_s(s_a, "s_a", v_a);
  check_s(s_b, "s_b", v_a);
  check_s(s_merged, "s_merged", v_a);
  // Each v element is read and written by one thread, so v_merged may be an
  // input itself; the LSE row is read by every thread of the row, so s_merged
  // must be separate memory.
  check_no_partial_overlap(v_merged, "v_merged", v_a, "v_a", true);
  check_no_partial_overlap(v_merged, "v_merged", v_b, "v_b", true);
  check_no_partial_overlap(s_merged, "s_merged", s_a, "s_a", false);
  check_no_partial_overlap(s_merged, "s_merged", s_b, "s_b", false);

  MergeStateParams p{};
  p.v_out = v_merged.data_ptr();
  p.s_out = ptr<float>(s_merged);
  p.v_a = v_a.data_ptr();
  p.s_a = ptr<float>(s_a);
  p.v_b = v_b.data_ptr();
  p.s_b = ptr<float>(s_b);
  p.tokens = v_a.size(0);
  p.heads = v_a.size(1);
  p.head_dim = v_a.size(2);
  p.va_stride_token = v_a.stride(0);
  p.va_stride_head = v_a.stride(1);
  p.vb_stride_token = v_b.stride(0);
  p.vb_stride_head = v_b.stride(1);
  p.vo_stride_token = v_merged.stride(0);
  p.vo_stride_head = v_merged.stride(1);
  p.sa_stride_token = s_a.stride(0);
  p.sa_stride_head = s_a.stride(1);
  p.sb_stride_token = s_b.stride(0);
  p.sb_stride_head = s_b.stride(1);
  p.so_stride_token = s_merged.stride(0);
  p.so_stride_head = s_merged.stride(1);
  p.base2 = base2;
  p.pdl = false;
  return p;
}

}  // namespace sgl_kernel
