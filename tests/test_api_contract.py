"""The API contract of ../shared/API.md, pinned: Python parameter names, order
and defaults, and the torch op schemas that API.md spells out. Code written
against upstream sgl_kernel calls these positionally and by keyword."""

import inspect

import pytest
import torch

import sgl_kernel

_E = inspect.Parameter.empty

# name -> [(parameter, default)], in order; _E = required. Extensions may add
# trailing keyword parameters after these (e.g. an optional out=).
PYTHON = {
    "rmsnorm": [("input", _E), ("weight", _E), ("eps", 1e-6), ("out", None), ("enable_pdl", None)],
    "gemma_rmsnorm": [("input", _E), ("weight", _E), ("eps", 1e-6), ("out", None), ("enable_pdl", None)],
    "fused_add_rmsnorm": [("input", _E), ("residual", _E), ("weight", _E), ("eps", 1e-6), ("enable_pdl", None)],
    "gemma_fused_add_rmsnorm": [("input", _E), ("residual", _E), ("weight", _E), ("eps", 1e-6), ("enable_pdl", None)],
    "qk_rmsnorm": [("input", _E), ("weight", _E), ("eps", 1e-6), ("out", None), ("enable_pdl", None)],
    "silu_and_mul": [("input", _E), ("out", None)],
    "gelu_and_mul": [("input", _E), ("out", None)],
    "gelu_tanh_and_mul": [("input", _E), ("out", None)],
    "apply_rope_with_cos_sin_cache_inplace": [
        ("positions", _E), ("query", _E), ("key", _E), ("head_size", _E), ("cos_sin_cache", _E),
        ("is_neox", True), ("fused_set_kv_buffer_arg", None), ("enable_pdl", None)],
    "apply_mrope_with_cos_sin_cache_inplace": [
        ("positions", _E), ("query", _E), ("key", _E), ("head_size", _E), ("cos_sin_cache", _E),
        ("mrope_section", _E), ("mrope_interleaved", True), ("is_neox", True), ("fused_set_kv_buffer_arg", None),
        ("enable_pdl", None)],
    "set_kv_buffer_kernel": [("k_cache", _E), ("v_cache", _E), ("loc", _E), ("k", _E), ("v", _E), ("fallback", False)],
    "weak_ref_tensor": [("tensor", _E)],
    "copy_to_gpu_no_ce": [("input", _E), ("output", _E)],
    "downcast_fp8": [("k", _E), ("v", _E), ("k_out", _E), ("v_out", _E), ("k_scale", _E), ("v_scale", _E),
                     ("loc", _E), ("mult", 1), ("offset", 0)],
    "concat_mla_k": [("k", _E), ("k_nope", _E), ("k_rope", _E)],
    "concat_mla_absorb_q": [("a", _E), ("b", _E)],
    "timestep_embedding": [("t", _E), ("dim", _E), ("flip_sin_to_cos", False), ("downscale_freq_shift", 0.0),
                           ("scale", 1), ("max_period", 10000), ("dtype", torch.float32)],
    "gelu_quick": [("input", _E), ("out", None)],
    "merge_state": [("v_a", _E), ("s_a", _E), ("v_b", _E), ("s_b", _E), ("v_merged", None), ("s_merged", None)],
    "merge_state_v2": [("v_a", _E), ("s_a", _E), ("v_b", _E), ("s_b", _E), ("v_merged", None), ("s_merged", None)],
}

_Q = [("block_quota", 2), ("num_warps_per_block", 32)]
_KV = [("src_indices", _E), ("dst_indices", _E)]
PYTHON.update({
    "transfer_kv_per_layer": [("src_k", _E), ("dst_k", _E), ("src_v", _E), ("dst_v", _E)] + _KV + [("item_size", _E)] + _Q,
    "transfer_kv_all_layer": [("src_k_layers", _E), ("dst_k_layers", _E), ("src_v_layers", _E), ("dst_v_layers", _E)]
    + _KV + [("item_size", _E), ("num_layers", _E)] + _Q,
    "transfer_kv_per_layer_pf_lf": [("src_k", _E), ("dst_k", _E), ("src_v", _E), ("dst_v", _E)] + _KV
    + [("layer_id", _E), ("item_size", _E), ("src_layout_dim", _E)] + _Q,
    "transfer_kv_all_layer_lf_pf": [("src_k_layers", _E), ("dst_k", _E), ("src_v_layers", _E), ("dst_v", _E)] + _KV
    + [("item_size", _E), ("dst_layout_dim", _E), ("num_layers", _E)] + _Q,
    "transfer_kv_direct": [("src_layers", _E), ("dst_layers", _E)] + _KV + [("page_size", _E)],
    "transfer_kv_per_layer_direct_pf_lf": [("src_ptrs", _E), ("dst_ptrs", _E)] + _KV
    + [("layer_id", _E), ("page_size", _E)],
    "transfer_kv_all_layer_direct_lf_pf": [("src_ptrs", _E), ("dst_ptrs", _E)] + _KV + [("page_size", _E)],
    "transfer_kv_per_layer_mla": [("src", _E), ("dst", _E)] + _KV + [("item_size", _E)] + _Q,
    "transfer_kv_all_layer_mla": [("src_layers", _E), ("dst_layers", _E)] + _KV + [("item_size", _E), ("num_layers", _E)] + _Q,
    "transfer_kv_per_layer_mla_pf_lf": [("src", _E), ("dst", _E)] + _KV
    + [("layer_id", _E), ("item_size", _E), ("src_layout_dim", _E)] + _Q,
    "transfer_kv_all_layer_mla_lf_pf": [("src_layers", _E), ("dst", _E)] + _KV
    + [("item_size", _E), ("dst_layout_dim", _E), ("num_layers", _E)] + _Q,
})
# ph variants: API.md gives their tail; the head is the pf/lf one.
PYTHON["transfer_kv_per_layer_ph_lf"] = PYTHON["transfer_kv_per_layer_pf_lf"][:-2] + [("page_size", _E), ("head_num", _E)] + _Q
PYTHON["transfer_kv_all_layer_lf_ph"] = PYTHON["transfer_kv_all_layer_lf_pf"][:-2] + [("page_size", _E), ("head_num", _E)] + _Q

# Schemas spelled out in API.md (trailing defaulted arguments are our extensions).
SCHEMAS = {
    "rmsnorm": "rmsnorm(Tensor(a!) output, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()",
    "gemma_rmsnorm": "gemma_rmsnorm(Tensor(a!) output, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()",
    "fused_add_rmsnorm": "fused_add_rmsnorm(Tensor(a!) input, Tensor(b!) residual, Tensor weight, float eps, "
                         "bool enable_pdl) -> ()",
    "gemma_fused_add_rmsnorm": "gemma_fused_add_rmsnorm(Tensor(a!) input, Tensor(b!) residual, Tensor weight, "
                               "float eps, bool enable_pdl) -> ()",
    "qk_rmsnorm": "qk_rmsnorm(Tensor(a!) output, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()",
    "silu_and_mul": "silu_and_mul(Tensor(a!) out, Tensor input) -> ()",
    "gelu_and_mul": "gelu_and_mul(Tensor(a!) out, Tensor input) -> ()",
    "gelu_tanh_and_mul": "gelu_tanh_and_mul(Tensor(a!) out, Tensor input) -> ()",
    "gelu_quick": "gelu_quick(Tensor(a!) out, Tensor input) -> ()",
    "timestep_embedding": "timestep_embedding(Tensor input, Tensor(a!) output, int dim, bool flip_sin_to_cos, "
                          "float downscale_freq_shift, float scale, int max_period) -> Tensor(a!)",
    "weak_ref_tensor": "weak_ref_tensor(Tensor tensor) -> Tensor",
    "merge_state": "merge_state(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor(a!) v_merged, "
                   "Tensor(b!) s_merged) -> ()",
    "merge_state_v2": "merge_state_v2(Tensor v_a, Tensor s_a, Tensor v_b, Tensor s_b, Tensor(a!) v_merged, "
                      "Tensor(b!) s_merged) -> ()",
    "store_kv_cache": "store_kv_cache(Tensor(a!) k_cache, Tensor(b!) v_cache, Tensor out_loc, Tensor k, Tensor v) -> ()",
    "apply_rope_pos_ids_cos_sin_cache": "apply_rope_pos_ids_cos_sin_cache(Tensor q, Tensor k, Tensor(a!) q_rope, "
    "Tensor(b!) k_rope, Tensor cos_sin_cache, Tensor pos_ids, bool interleave, bool enable_pdl, Tensor? v, "
    "Tensor(c!)? k_buffer, Tensor(d!)? v_buffer, Tensor? kv_cache_loc",
}


@pytest.mark.parametrize("name", sorted(PYTHON))
def test_python_signature(name):
    params = list(inspect.signature(getattr(sgl_kernel, name)).parameters.values())
    expected = PYTHON[name]
    got = [(p.name, p.default) for p in params[: len(expected)]]
    assert got == expected, f"{name}: {got} != {expected}"
    for extra in params[len(expected):]:
        assert extra.default is not _E, f"{name}: extension parameter {extra.name} must have a default"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_torch_op_schema(name):
    schema = str(getattr(torch.ops.sgl_kernel, name).default._schema)
    assert schema.startswith("sgl_kernel::"), schema
    body = schema[len("sgl_kernel::"):]
    expected = SCHEMAS[name]
    if "->" in expected:
        assert body == expected
    else:  # our trailing defaulted extensions follow the upstream arguments
        assert body.startswith(expected), body
        tail = body[len(expected):]
        assert tail.endswith(") -> ()") and all("=" in a for a in tail[:-len(") -> ()")].split(",")[1:]), body


def test_every_op_has_a_fake_and_python_entry():
    # Every public callable is reachable from the package, and every op of the
    # library has a fake (meta) kernel so torch.compile can trace it.
    for name in sgl_kernel.__all__:
        assert hasattr(sgl_kernel, name), name
    ops = [n for n in SCHEMAS] + ["cast", "concat_mla_k", "concat_mla_absorb_q", "copy_to_gpu_no_ce", "downcast_fp8",
                                  "timestep_embedding", "timestep_embedding_out", "weak_ref_tensor", "gelu_quick", "apply_mrope_pos_ids_cos_sin_cache",
                                  "transfer_kv_per_layer", "transfer_kv_direct"]
    for n in ops:
        op = getattr(torch.ops.sgl_kernel, n).default
        # torch.library.register_fake installs the fake kernel on the Meta key
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "Meta"), n
