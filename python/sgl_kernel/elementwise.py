"""Norms and activations (and, as in upstream's module of the same name,
re-exports of RoPE and memory ops; see the end of the file).

Every function accepts CUDA and CPU tensors of dtype float32, float16 or
bfloat16. Arithmetic is fp32; results are rounded once to the input dtype.
"""

from typing import Optional

import torch

from sgl_kernel.errors import translate_errors

from sgl_kernel.utils import resolve_pdl, rows_view

_ops = torch.ops.sgl_kernel


@translate_errors
def rmsnorm(
    input: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    out: Optional[torch.Tensor] = None,
    enable_pdl: Optional[bool] = None,
) -> torch.Tensor:
    """Root-mean-square norm of each row.

    ``out = input / sqrt(mean(input**2, -1) + eps) * weight``

    input: ``[..., hidden]``; rows may be strided (e.g. a column slice of a
        fused tensor) but the last dim must have stride 1; leading dims are
        flattened when that is a view.
    weight: ``[hidden]``, input's dtype.
    out: optional, input's shape (any row stride); may be ``input`` itself.
    enable_pdl: programmatic dependent launch; ``None`` = on for sm_90+.
    Returns ``out``.
    """
    rows = rows_view(input, "input")  # checked first: a bad input is named as such
    if out is None:
        out = torch.empty(input.shape, dtype=input.dtype, device=input.device)
    _ops.rmsnorm(rows_view(out, "out"), rows, weight, eps, resolve_pdl(enable_pdl, input.device))
    return out


@translate_errors
def gemma_rmsnorm(
    input: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    out: Optional[torch.Tensor] = None,
    enable_pdl: Optional[bool] = None,
) -> torch.Tensor:
    """As :func:`rmsnorm`, scaling by ``(weight + 1)`` (Gemma's convention)."""
    rows = rows_view(input, "input")  # checked first: a bad input is named as such
    if out is None:
        out = torch.empty(input.shape, dtype=input.dtype, device=input.device)
    _ops.gemma_rmsnorm(rows_view(out, "out"), rows, weight, eps, resolve_pdl(enable_pdl, input.device))
    return out


@translate_errors
def fused_add_rmsnorm(
    input: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    enable_pdl: Optional[bool] = None,
) -> None:
    """In place: ``residual += input``, then ``input = rmsnorm(residual)``.

    The sum is formed in fp32; ``residual`` stores it rounded to its dtype,
    while the norm is computed from the unrounded fp32 sum (as upstream).
    input, residual: ``[..., hidden]``, same shape and dtype, last dim stride 1.
    """
    _ops.fused_add_rmsnorm(
        rows_view(input, "input"),
        rows_view(residual, "residual"),
        weight,
        eps,
        resolve_pdl(enable_pdl, input.device),
    )


@translate_errors
def gemma_fused_add_rmsnorm(
    input: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    enable_pdl: Optional[bool] = None,
) -> None:
    """As :func:`fused_add_rmsnorm`, scaling by ``(weight + 1)``."""
    _ops.gemma_fused_add_rmsnorm(
        rows_view(input, "input"),
        rows_view(residual, "residual"),
        weight,
        eps,
        resolve_pdl(enable_pdl, input.device),
    )


@translate_errors
def qk_rmsnorm(
    input: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    out: Optional[torch.Tensor] = None,
    enable_pdl: Optional[bool] = None,
) -> torch.Tensor:
    """Per-head RMSNorm (QK-norm), an extension of the upstream API.

    input: ``[tokens, heads, head_dim]`` with any token and head strides and a
        unit last stride, e.g. ``qkv[:, :q_size].view(tokens, heads, head_dim)``.
    weight: ``[head_dim]``, shared by all heads.
    out: optional, input's shape, any strides with a unit last stride; may be
        ``input`` (in place).
    Returns ``out``.
    """
    if out is None:
        out = torch.empty_like(input)
    _ops.qk_rmsnorm(out, input, weight, eps, resolve_pdl(enable_pdl, input.device))
    return out


def _gated(op, input: torch.Tensor, out: Optional[torch.Tensor]) -> torch.Tensor:
    if input.dim() == 0:
        raise ValueError("input must have at least 1 dim, got a scalar")
    if input.shape[-1] % 2 != 0:
        raise ValueError(f"input's last dim must be even (gate and up halves), got {input.shape[-1]}")
    if out is None:
        out = torch.empty(*input.shape[:-1], input.shape[-1] // 2, dtype=input.dtype, device=input.device)
    op(out, input)
    return out


@translate_errors
def silu_and_mul(input: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``silu(input[..., :d]) * input[..., d:]`` for ``input [..., 2d]``; returns ``out [..., d]``.

    Any ``d`` is served (16-byte vectors where the halves are aligned, else
    element by element). Leading dims of input and out must collapse to one
    row dim (any row stride).
    """
    return _gated(_ops.silu_and_mul, input, out)


@translate_errors
def gelu_and_mul(input: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Exact (erf) GELU of the first half times the second half; see :func:`silu_and_mul`."""
    return _gated(_ops.gelu_and_mul, input, out)


@translate_errors
def gelu_tanh_and_mul(input: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """tanh-approximated GELU of the first half times the second half; see :func:`silu_and_mul`."""
    return _gated(_ops.gelu_tanh_and_mul, input, out)


@translate_errors
def gelu_quick(input: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``input * sigmoid(1.702 * input)`` (quick GELU of CLIP-style vision towers), fp32 math.

    An extension on CUDA and CPU (upstream has it on HIP only, and rejects rows
    whose bytes are not a multiple of 16): any size is served. ``out``:
    optional, input's shape and dtype. Leading dims of input and out must
    collapse to one row dim (any row stride). Returns ``out``.
    """
    if input.dim() == 0:
        raise ValueError("input must have at least 1 dim, got a scalar")
    if out is None:
        out = torch.empty(input.shape, dtype=input.dtype, device=input.device)
    _ops.gelu_quick(out, input)
    return out


# Fake (meta) implementations: every op here only writes into its arguments.
for _name in (
    "rmsnorm",
    "gemma_rmsnorm",
    "fused_add_rmsnorm",
    "gemma_fused_add_rmsnorm",
    "qk_rmsnorm",
    "silu_and_mul",
    "gelu_and_mul",
    "gelu_tanh_and_mul",
    "gelu_quick",
):
    torch.library.register_fake(f"sgl_kernel::{_name}")(lambda *args: None)


# Upstream's sgl_kernel.elementwise also holds these; the same objects are
# defined in our rope, memory and utils modules (api/modules.md).
from sgl_kernel.memory import (  # noqa: E402
    concat_mla_absorb_q,
    concat_mla_k,
    copy_to_gpu_no_ce,
    downcast_fp8,
    timestep_embedding,
)
from sgl_kernel.rope import (  # noqa: E402
    FusedSetKVBufferArg,
    apply_rope_with_cos_sin_cache_inplace,
    rotary_embedding,
)
from sgl_kernel.utils import is_arch_support_pdl  # noqa: E402
