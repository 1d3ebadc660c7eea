// The elementwise family's adapter interface: argument checks shared by the
// CPU and CUDA paths build the kernels' POD params; each backend then runs them.
#pragma once

#include "common/torch_utils.h"

#include "sgl_kernel/elementwise/activation.h"
#include "sgl_kernel/elementwise/norm.h"

namespace sgl_kernel {

// Checks `input` [rows, hidden] (or [tokens, heads, head_dim] when per_head),
// `output` (same shape; may alias input), `weight` [hidden] and, for fused
// add, `residual` (same shape). Raises naming the argument on any mismatch.
RMSNormParams make_rmsnorm_params(const Tensor& output, const Tensor& input, const Tensor* residual,
                                  const Tensor& weight, double eps, bool gemma, bool pdl, bool per_head);

// Checks `input` [..., 2d] and `out` [..., d]; leading dims of each must
// collapse to one row dim (any row stride).
GatedActParams make_gated_act_params(const Tensor& out, const Tensor& input);
// Checks `input` [..., d] and `out` (same shape) of a plain activation.
GatedActParams make_act_params(const Tensor& out, const Tensor& input);

// CPU backends.
void rmsnorm_cpu(const RMSNormParams& p, ScalarType dtype);
void gated_activation_cpu(Activation act, const GatedActParams& p, ScalarType dtype);

#ifdef SGL_KERNEL_WITH_CUDA
// CUDA backends: current device and stream, PDL as given by the params.
void rmsnorm_cuda(const RMSNormParams& p, const Tensor& input);
void gated_activation_cuda(Activation act, GatedActParams p, const Tensor& input);
#endif

}  // namespace sgl_kernel
