"""Every upstream import path of a built family works (../shared/api/modules.md).

Code written against upstream sgl_kernel imports names from the module that
defines them upstream (``from sgl_kernel.elementwise import
copy_to_gpu_no_ce``). This walks the whole table, so a name that drifts fails
CI. Where a name is defined in one of our modules and re-exported by another,
both must be the same object.
"""

import importlib
import importlib.metadata

import pytest
import torch

import sgl_kernel

_TRANSFERS = [
    "transfer_kv_per_layer",
    "transfer_kv_all_layer",
    "transfer_kv_per_layer_pf_lf",
    "transfer_kv_per_layer_ph_lf",
    "transfer_kv_all_layer_lf_pf",
    "transfer_kv_all_layer_lf_ph",
    "transfer_kv_direct",
    "transfer_kv_per_layer_direct_pf_lf",
    "transfer_kv_all_layer_direct_lf_pf",
    "transfer_kv_per_layer_mla",
    "transfer_kv_all_layer_mla",
    "transfer_kv_per_layer_mla_pf_lf",
    "transfer_kv_all_layer_mla_lf_pf",
]

# upstream module -> public names that upstream code imports from it (built
# families only; the quant fusions of `elementwise` come with the quantization
# family).
MODULES = {
    "elementwise": [
        "rmsnorm", "fused_add_rmsnorm", "gemma_rmsnorm", "gemma_fused_add_rmsnorm", "silu_and_mul",
        "gelu_and_mul", "gelu_tanh_and_mul", "gelu_quick", "FusedSetKVBufferArg",
        "apply_rope_with_cos_sin_cache_inplace", "downcast_fp8", "copy_to_gpu_no_ce", "concat_mla_k",
        "concat_mla_absorb_q", "timestep_embedding", "rotary_embedding", "is_arch_support_pdl",
    ],
    "rotary_embedding": ["rotary_embedding", "rotary_embedding_cos_sin", "apply_rotary_embedding"],
    "memory": ["set_kv_buffer_kernel", "weak_ref_tensor"],
    "kvcacheio": _TRANSFERS + ["is_hip"],
    "attention": ["merge_state", "merge_state_v2"],
    "utils": [
        "is_arch_support_pdl", "get_cuda_stream", "is_hopper_arch", "is_hopper_or_later_arch", "_get_cache_buf",
        "_to_tensor_scalar_tuple",
    ],
    "testing": [],
    "testing.rotary_embedding": [
        "RotaryEmbedding", "FlashInferRotaryEmbedding", "SglKernelRotaryEmbedding", "MHATokenToKVPool",
        "create_inputs",
    ],
    "moe": ["fused_qk_norm_rope"],
    "version": ["__version__"],
}

# Names our package defines once and re-exports: (module, name) pairs that must
# be the same object.
SAME_OBJECT = [
    (("elementwise", "downcast_fp8"), ("memory", "downcast_fp8")),
    (("elementwise", "copy_to_gpu_no_ce"), ("memory", "copy_to_gpu_no_ce")),
    (("elementwise", "concat_mla_k"), ("memory", "concat_mla_k")),
    (("elementwise", "concat_mla_absorb_q"), ("memory", "concat_mla_absorb_q")),
    (("elementwise", "timestep_embedding"), ("memory", "timestep_embedding")),
    (("elementwise", "FusedSetKVBufferArg"), ("rope", "FusedSetKVBufferArg")),
    (("elementwise", "apply_rope_with_cos_sin_cache_inplace"), ("rope", "apply_rope_with_cos_sin_cache_inplace")),
    (("elementwise", "is_arch_support_pdl"), ("utils", "is_arch_support_pdl")),
    (("moe", "fused_qk_norm_rope"), ("rope", "fused_qk_norm_rope")),
]


def _module(name):
    return importlib.import_module(f"sgl_kernel.{name}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_upstream_module_imports(module):
    mod = _module(module)
    missing = [n for n in MODULES[module] if not hasattr(mod, n)]
    assert not missing, f"sgl_kernel.{module} lacks {missing}"
    # `from sgl_kernel.<module> import <name>` as upstream code writes it
    for n in MODULES[module]:
        ns = {}
        exec(f"from sgl_kernel.{module} import {n}", ns)
        assert ns[n] is getattr(mod, n)


@pytest.mark.parametrize("a,b", SAME_OBJECT, ids=lambda p: ".".join(p))
def test_reexports_are_the_same_object(a, b):
    assert getattr(_module(a[0]), a[1]) is getattr(_module(b[0]), b[1])


def test_package_level_names():
    for n in ["common_ops", "__version__", "rotary_embedding"] + _TRANSFERS:
        assert hasattr(sgl_kernel, n), n
    assert sgl_kernel.common_ops is sgl_kernel._C
    for n in sgl_kernel.__all__:
        assert hasattr(sgl_kernel, n), n


def test_rotary_embedding_attribute_is_callable_module():
    # 0.3.21 exposes a function sgl_kernel.rotary_embedding; later upstream adds
    # a submodule of the same name, and importing it rebinds the attribute. Ours
    # is the module, callable as the 0.3.21 function.
    import sgl_kernel.rotary_embedding as rmod

    assert sgl_kernel.rotary_embedding is rmod
    assert callable(sgl_kernel.rotary_embedding)
    pos = torch.arange(3)
    q = torch.randn(3, 2 * 8)
    k = torch.randn(3, 8)
    q2, k2 = q.clone(), k.clone()
    cache = torch.randn(4, 8)
    sgl_kernel.rotary_embedding(pos, q, k, 8, cache, True)
    sgl_kernel.elementwise.rotary_embedding(pos, q2, k2, 8, cache, True)
    assert torch.equal(q, q2) and torch.equal(k, k2)
    assert not torch.equal(q, q2.new_zeros(q2.shape))


def test_version_passes_engine_minimums():
    from packaging.version import Version

    v = Version(sgl_kernel.__version__)
    assert v.public == "0.3.21" and v.local is not None
    assert v >= Version("0.3.12")  # sglang's minimum in late 2025
    assert sgl_kernel.version.__version__ == sgl_kernel.__version__


def test_installed_metadata_version_matches():
    # Engines check the distribution's version (importlib.metadata), not the
    # attribute: both must agree. The distribution name normalizes like upstream's.
    try:
        dist = importlib.metadata.version("sgl-kernel")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("sgl_kernel imported from a source tree, not an installed distribution")
    assert dist == sgl_kernel.__version__


def test_is_hip_is_false():
    from sgl_kernel.kvcacheio import is_hip

    assert is_hip() is False


def test_utils_helpers():
    from sgl_kernel import utils

    expected = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 9
    assert utils.is_arch_support_pdl() is expected
    assert utils.is_hopper_or_later_arch() is expected
    assert utils.is_hopper_arch() is (torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9)
    t = torch.zeros(2)
    assert utils._to_tensor_scalar_tuple(t)[0] is t and utils._to_tensor_scalar_tuple(t)[1] == 0
    assert utils._to_tensor_scalar_tuple(0.5) == (None, 0.5)
    b = utils._get_cache_buf("ws", 64, torch.device("cpu"))
    assert b.dtype == torch.uint8 and b.shape == (64,)
    assert utils._get_cache_buf("ws", 64, "cpu").data_ptr() == b.data_ptr()  # cached
    assert utils._get_cache_buf("other", 64, "cpu").data_ptr() != b.data_ptr()
    if torch.cuda.is_available():
        assert utils.get_cuda_stream() == torch.cuda.current_stream().cuda_stream


def test_errors_are_dual_classes():
    from sgl_kernel.errors import SglKernelTypeError, SglKernelValueError

    x = torch.randn(4, 8)
    with pytest.raises(SglKernelValueError) as e:
        sgl_kernel.rmsnorm(x, torch.randn(7))
    assert isinstance(e.value, ValueError) and isinstance(e.value, RuntimeError)
    assert "weight" in str(e.value)
    with pytest.raises(SglKernelTypeError) as e:
        sgl_kernel.rmsnorm(x, torch.randn(8, dtype=torch.float16))
    assert isinstance(e.value, TypeError) and isinstance(e.value, RuntimeError)
    # upstream code catches RuntimeError
    try:
        sgl_kernel.silu_and_mul(torch.randn(3, 5))
    except RuntimeError as err:
        assert "even" in str(err)
    else:
        raise AssertionError("odd last dim accepted")
