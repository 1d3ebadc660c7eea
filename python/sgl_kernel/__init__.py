"""sgl_kernel: C++/CUDA kernels for LLM inference.

Python functions here allocate outputs and fill defaults; the work is done by
the torch ops in ``torch.ops.sgl_kernel`` (schemas in csrc/<family>/*_ops.cc),
which run on CUDA and CPU tensors alike.
"""

import torch  # noqa: F401  (loads torch's libraries before our extension)

from sgl_kernel import _C  # noqa: F401  (registers torch.ops.sgl_kernel.*)
from sgl_kernel import errors, utils  # noqa: F401
from sgl_kernel.attention import merge_state, merge_state_v2
from sgl_kernel.elementwise import (
    fused_add_rmsnorm,
    gelu_and_mul,
    gelu_quick,
    gelu_tanh_and_mul,
    gemma_fused_add_rmsnorm,
    gemma_rmsnorm,
    qk_rmsnorm,
    rmsnorm,
    silu_and_mul,
)
from sgl_kernel.kvcacheio import (
    transfer_kv_all_layer,
    transfer_kv_all_layer_direct_lf_pf,
    transfer_kv_all_layer_lf_pf,
    transfer_kv_all_layer_lf_ph,
    transfer_kv_all_layer_mla,
    transfer_kv_all_layer_mla_lf_pf,
    transfer_kv_direct,
    transfer_kv_per_layer,
    transfer_kv_per_layer_direct_pf_lf,
    transfer_kv_per_layer_mla,
    transfer_kv_per_layer_mla_pf_lf,
    transfer_kv_per_layer_pf_lf,
    transfer_kv_per_layer_ph_lf,
)
from sgl_kernel.memory import (
    cast,
    concat_mla_absorb_q,
    concat_mla_k,
    copy_to_gpu_no_ce,
    downcast_fp8,
    set_kv_buffer_kernel,
    timestep_embedding,
    weak_ref_tensor,
)
from sgl_kernel.rope import (
    FusedSetKVBufferArg,
    apply_mrope_with_cos_sin_cache_inplace,
    apply_rope_with_cos_sin_cache_inplace,
    apply_rotary_embedding,
    fused_qk_norm_rope,
    rotary_embedding_cos_sin,
)

# Upstream 0.3.21's package attribute `rotary_embedding` is a function; later
# upstream adds a submodule of that name, whose import rebinds the attribute.
# Ours is the submodule, callable as the 0.3.21 function.
from sgl_kernel import moe, rotary_embedding  # noqa: E402,F401

from sgl_kernel.version import __version__

# Upstream's name for the loaded op library.
common_ops = _C

__all__ = [
    "FusedSetKVBufferArg",
    "apply_mrope_with_cos_sin_cache_inplace",
    "apply_rope_with_cos_sin_cache_inplace",
    "apply_rotary_embedding",
    "cast",
    "concat_mla_absorb_q",
    "concat_mla_k",
    "copy_to_gpu_no_ce",
    "downcast_fp8",
    "fused_add_rmsnorm",
    "fused_qk_norm_rope",
    "gelu_and_mul",
    "gelu_quick",
    "gelu_tanh_and_mul",
    "gemma_fused_add_rmsnorm",
    "gemma_rmsnorm",
    "merge_state",
    "merge_state_v2",
    "qk_rmsnorm",
    "rmsnorm",
    "rotary_embedding",
    "rotary_embedding_cos_sin",
    "set_kv_buffer_kernel",
    "silu_and_mul",
    "timestep_embedding",
    "weak_ref_tensor",
    "transfer_kv_all_layer",
    "transfer_kv_all_layer_direct_lf_pf",
    "transfer_kv_all_layer_lf_pf",
    "transfer_kv_all_layer_lf_ph",
    "transfer_kv_all_layer_mla",
    "transfer_kv_all_layer_mla_lf_pf",
    "transfer_kv_direct",
    "transfer_kv_per_layer",
    "transfer_kv_per_layer_direct_pf_lf",
    "transfer_kv_per_layer_mla",
    "transfer_kv_per_layer_mla_pf_lf",
    "transfer_kv_per_layer_pf_lf",
    "transfer_kv_per_layer_ph_lf",
]
