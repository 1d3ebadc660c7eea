// The attention family's adapter interface: argument checks shared by the CPU
// and CUDA paths build the kernels' POD params; each backend then runs them.
#pragma once

#include "common/torch_utils.h"

#include "sgl_kernel/attention/merge_state.h"

namespace sgl_kernel {

// Checks v_a, v_b, v_merged [tokens, heads, head_dim] (same float dtype and
// device, unit last stride, any token/head strides; v_merged may be v_a or
// v_b itself) and s_a, s_b, s_merged [tokens, heads] float32 (s_merged must
// not overlap s_a or s_b). Raises naming the argument on any mismatch.
MergeStateParams make_merge_state_params(const Tensor& v_a, const Tensor& s_a, const Tensor& v_b,
                                         const Tensor& s_b, const Tensor& v_merged,
                                         const Tensor& s_merged, bool base2);

// CPU backend.
void merge_state_cpu(const MergeStateParams& p, ScalarType dtype);

#ifdef SGL_KERNEL_WITH_CUDA
// CUDA backend: current device and stream; PDL wherever the GPU has it.
void merge_state_cuda(MergeStateParams p, const Tensor& v_a);
#endif

}  // namespace sgl_kernel
