// Schemas and backend registrations of the elementwise family (norms, gated
// activations). Each op checks its arguments once (elementwise_checks.cc) and
// hands the resulting params to the backend of the input's device.
#include "common/torch_utils.h"
#include "elementwise/elementwise.h"

namespace sgl_kernel {
namespace {

void run_norm(const RMSNormParams& p, const Tensor& input) {
  if (input.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    rmsnorm_cuda(p, input);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  rmsnorm_cpu(p, input.scalar_type());
}

void rmsnorm(Tensor& output, const Tensor& input, const Tensor& weight, double eps, bool pdl) {
  run_norm(make_rmsnorm_params(output, input, nullptr, weight, eps, false, pdl, false), input);
}

void gemma_rmsnorm(Tensor& output, const Tensor& input, const Tensor& weight, double eps, bool pdl) {
  run_norm(make_rmsnorm_params(output, input, nullptr, weight, eps, true, pdl, false), input);
}

void fused_add_rmsnorm(Tensor& input, Tensor& residual, const Tensor& weight, double eps, bool pdl) {
  run_norm(make_rmsnorm_params(input, input, &residual, weight, eps, false, pdl, false), input);
}

void gemma_fused_add_rmsnorm(Tensor& input, Tensor& residual, const Tensor& weight, double eps,
                             bool pdl) {
  run_norm(make_rmsnorm_params(input, input, &residual, weight, eps, true, pdl, false), input);
}

void qk_rmsnorm(Tensor& output, const Tensor& input, const Tensor& weight, double eps, bool pdl) {
  run_norm(make_rmsnorm_params(output, input, nullptr, weight, eps, false, pdl, true), input);
}

void run_activation(Activation act, const GatedActParams& p, const Tensor& input) {
  if (input.is_cuda()) {
#ifdef SGL_KERNEL_WITH_CUDA
    gated_activation_cuda(act, p, input);
    return;
#else
    SGL_CHECK(false, "sgl_kernel was built without CUDA");
#endif
  }
  gated_activation_cpu(act, p, input.scalar_type());
}

template <Activation A>
void gated(Tensor& out, const Tensor& input) {
  run_activation(A, make_gated_act_params(out, input), input);
}

void gelu_quick(Tensor& out, const Tensor& input) {
  run_activation(Activation::kGeluQuick, make_act_params(out, input), input);
}

}  // namespace
}  // namespace sgl_kernel

STABLE_TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
  m.def("rmsnorm(Tensor(a!) output, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("gemma_rmsnorm(Tensor(a!) output, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("fused_add_rmsnorm(Tensor(a!) input, Tensor(b!) residual, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def(
      "gemma_fused_add_rmsnorm(Tensor(a!) input, Tensor(b!) residual, Tensor weight, float eps, bool enable_pdl) -> "
      "()");
  m.def("qk_rmsnorm(Tensor(a!) output, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()");
  m.def("silu_and_mul(Tensor(a!) out, Tensor input) -> ()");
  m.def("gelu_and_mul(Tensor(a!) out, Tensor input) -> ()");
  m.def("gelu_tanh_and_mul(Tensor(a!) out, Tensor input) -> ()");
  m.def("gelu_quick(Tensor(a!) out, Tensor input) -> ()");
}

#define SGL_ELEMENTWISE_IMPLS(m)                                                  \
  m.impl("rmsnorm", TORCH_BOX((&sgl_kernel::rmsnorm)));                                        \
  m.impl("gemma_rmsnorm", TORCH_BOX((&sgl_kernel::gemma_rmsnorm)));                            \
  m.impl("fused_add_rmsnorm", TORCH_BOX((&sgl_kernel::fused_add_rmsnorm)));                    \
  m.impl("gemma_fused_add_rmsnorm", TORCH_BOX((&sgl_kernel::gemma_fused_add_rmsnorm)));        \
  m.impl("qk_rmsnorm", TORCH_BOX((&sgl_kernel::qk_rmsnorm)));                                  \
  m.impl("silu_and_mul", TORCH_BOX((&sgl_kernel::gated<sgl_kernel::Activation::kSilu>)));      \
  m.impl("gelu_and_mul", TORCH_BOX((&sgl_kernel::gated<sgl_kernel::Activation::kGelu>)));      \
  m.impl("gelu_tanh_and_mul", TORCH_BOX((&sgl_kernel::gated<sgl_kernel::Activation::kGeluTanh>)));     \
  m.impl("gelu_quick", TORCH_BOX((&sgl_kernel::gelu_quick)))

STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_ELEMENTWISE_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_ELEMENTWISE_IMPLS(m); }
#endif
