// Schemas and backend registrations of the attention family (merge_state).
// Each op checks its arguments once (attention_checks.cc) and hands the
// resulting params to the backend of v_a's device.
#include "attention/attention.h"
#include "common/torch_utils.h"

namespace sgl_kernel {
namespace {

template <bool kBase2>
void merge(const Tensor& v_a, const Tensor& s_a, const Tensor& v_b, const Tensor& s_b,
           Tensor& v_merged, Tensor& s_merged) {
  const MergeStateParams p = make_merge_state_params(v_a, s_a, v_b, s_b, v_merged, s_merged, kBase2);
  if (v_a.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    merge_state_cuda(p, v_a);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  merge_state_cpu(p, v_a.scalar_type());
}

}  // namespace
}  // namespace sgl_kernel

STABLE_TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
  m.def(
      "merge_state(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor(a!) v_merged, Tensor(b!) s_merged) -> ()");
  m.def(
      "merge_state_v2(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor(a!) v_merged, Tensor(b!) s_merged) -> "
      "()");
}

#define SGL_ATTENTION_IMPLS(m)                          \
  m.impl("merge_state", TORCH_BOX((&sgl_kernel::merge<true>)));      \
  m.impl("merge_state_v2", TORCH_BOX((&sgl_kernel::merge<false>)))

STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_ATTENTION_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_ATTENTION_IMPLS(m); }
#endif
