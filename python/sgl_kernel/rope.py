"""Rotary position embedding (RoPE), multimodal RoPE (mrope) and the fused
store of the rotated key and the value into a KV cache.

q/k/v may be fp32, fp16 or bf16; cos_sin_cache fp32 or the model dtype.
Rotation is computed in fp32 and rounded once to the tensor's dtype:
``x' = x*cos - y*sin``, ``y' = y*cos + x*sin``. CPU and CUDA tensors alike.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from sgl_kernel.utils import resolve_pdl

_ops = torch.ops.sgl_kernel


@dataclass
class FusedSetKVBufferArg:
    """The KV-cache store fused into the rope launch.

    value: ``[nnz, num_k_heads * head_size]`` (or ``[nnz, num_k_heads, head_size]``),
        key's dtype; rows may be strided.
    k_buffer, v_buffer: ``[cache_size, num_k_heads * head_size]`` or
        ``[cache_size, num_k_heads, head_size]``, key's dtype or float8_e4m3fn.
    k_scale, v_scale: optional; the buffers receive ``x / scale`` cast to
        their dtype (fp8 saturates to +-448).
    cache_loc: ``[nnz]`` int64, the buffer row of each token.
    """

    value: torch.Tensor
    k_buffer: torch.Tensor
    v_buffer: torch.Tensor
    k_scale: Optional[float]
    v_scale: Optional[float]
    cache_loc: torch.Tensor


def _heads(x: torch.Tensor, head_size: int, name: str) -> torch.Tensor:
    if x.dim() == 3 and x.shape[-1] == head_size:
        return x
    if x.dim() != 2 or head_size <= 0 or x.shape[-1] % head_size != 0:
        raise ValueError(
            f"{name} must be [nnz, heads * head_size] with head_size {head_size}, got shape {tuple(x.shape)}"
        )
    try:
        return x.view(x.shape[0], -1, head_size)
    except RuntimeError as e:
        raise ValueError(
            f"{name} of shape {tuple(x.shape)} and strides {x.stride()} cannot be viewed as "
            f"[nnz, heads, {head_size}]; its last dim must have stride 1"
        ) from e


def _fused_args(arg: Optional[FusedSetKVBufferArg], head_size: int):
    if arg is None:
        return None, None, None, None, None, None
    return (
        _heads(arg.value, head_size, "value"),
        arg.k_buffer,
        arg.v_buffer,
        arg.cache_loc,
        None if arg.k_scale is None else float(arg.k_scale),
        None if arg.v_scale is None else float(arg.v_scale),
    )


def apply_rope_with_cos_sin_cache_inplace(
    positions: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    head_size: int,
    cos_sin_cache: torch.Tensor,
    is_neox: bool = True,
    fused_set_kv_buffer_arg: Optional[FusedSetKVBufferArg] = None,
    enable_pdl: Optional[bool] = None,
) -> None:
    """Rotate query and key in place.

    positions: ``[nnz]`` int32 or int64, each in ``[0, max_pos)`` (checked on
        CPU; on CUDA an out-of-range position is not detected).
    query: ``[nnz, num_q_heads * head_size]``; key: ``[nnz, num_k_heads * head_size]``;
        rows may be strided (e.g. column slices of a fused qkv tensor), the
        last dim must have stride 1. ``[nnz, heads, head_size]`` is accepted too.
    cos_sin_cache: ``[max_pos, rotary_dim]``, float32 or query's dtype: cos
        for frequencies ``[0, rotary_dim/2)`` then sin. Only the first
        ``rotary_dim`` lanes of each head rotate.
    is_neox: lane ``i`` pairs with ``i + rotary_dim/2``; else (GPT-J
        interleaved) lane ``2i`` pairs with ``2i+1``.
    fused_set_kv_buffer_arg: also write the rotated key and the value of
        token ``t`` into ``k_buffer[cache_loc[t]]`` / ``v_buffer[cache_loc[t]]``.
    enable_pdl: programmatic dependent launch; ``None`` = on for sm_90+.
    """
    q = _heads(query, head_size, "query")
    k = _heads(key, head_size, "key")
    v, kb, vb, loc, ks, vs = _fused_args(fused_set_kv_buffer_arg, head_size)
    _ops.apply_rope_pos_ids_cos_sin_cache(
        q, k, q, k, cos_sin_cache, positions, not is_neox, resolve_pdl(enable_pdl, query.device),
        v, kb, vb, loc, ks, vs,
    )


def apply_mrope_with_cos_sin_cache_inplace(
    positions: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    head_size: int,
    cos_sin_cache: torch.Tensor,
    mrope_section: Sequence[int],
    mrope_interleaved: bool = True,
    is_neox: bool = True,
    fused_set_kv_buffer_arg: Optional[FusedSetKVBufferArg] = None,
    enable_pdl: Optional[bool] = None,
) -> None:
    """Multimodal RoPE (an extension of the upstream API), in place.

    positions: ``[3, nnz]`` (temporal, height, width) or ``[nnz]`` (plain rope).
    mrope_section: three ints summing to ``rotary_dim / 2``. Frequency ``i``
        takes its position from component ``c(i)``: with
        ``mrope_interleaved=False`` (chunked) the first ``section[0]`` indices
        from temporal, the next ``section[1]`` from height, the rest from
        width; with ``True`` (Qwen3-VL) ``c(i) = 1`` if ``i % 3 == 1 and
        i < 3*section[1]``, ``2`` if ``i % 3 == 2 and i < 3*section[2]``, else 0.
    Other arguments as :func:`apply_rope_with_cos_sin_cache_inplace`.
    """
    q = _heads(query, head_size, "query")
    k = _heads(key, head_size, "key")
    v, kb, vb, loc, ks, vs = _fused_args(fused_set_kv_buffer_arg, head_size)
    section: List[int] = [int(s) for s in mrope_section]
    _ops.apply_mrope_pos_ids_cos_sin_cache(
        q, k, q, k, cos_sin_cache, positions, section, bool(mrope_interleaved), not is_neox,
        resolve_pdl(enable_pdl, query.device), v, kb, vb, loc, ks, vs,
    )


# Fake (meta) implementations: both ops only write into their arguments.
for _name in ("apply_rope_pos_ids_cos_sin_cache", "apply_mrope_pos_ids_cos_sin_cache"):
    torch.library.register_fake(f"sgl_kernel::{_name}")(lambda *args, **kwargs: None)
