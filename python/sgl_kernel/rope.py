"""Rotary position embedding (RoPE), multimodal RoPE (mrope) and the fused
store of the rotated key and the value into a KV cache.

q/k/v may be fp32, fp16 or bf16; cos_sin_cache fp32 or the model dtype.
Rotation is computed in fp32 and rounded once to the tensor's dtype:
``x' = x*cos - y*sin``, ``y' = y*cos + x*sin``. CPU and CUDA tensors alike.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from sgl_kernel.errors import translate_errors
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


@translate_errors
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


@translate_errors
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


@translate_errors
def rotary_embedding(
    positions: torch.Tensor,
    query: torch.Tensor,
    key: Optional[torch.Tensor],
    head_size: int,
    cos_sin_cache: torch.Tensor,
    is_neox: bool = True,
) -> None:
    """vLLM-form rotary embedding, in place (``sgl_kernel.elementwise.rotary_embedding``).

    positions: ``[T]`` or ``[B, S]``, int64 or int32 (each in ``[0, max_pos)``:
        checked on CPU, not on CUDA).
    query: ``[..., Hq * head_size]`` or ``[..., Hq, head_size]`` over the
        positions' dims; token and head strides free, last dim stride 1.
    key: the same with ``Hk`` heads (``Hq % Hk == 0``), or None.
    cos_sin_cache: ``[max_pos, R]``, query's dtype or float32; row =
        ``[cos_0 .. cos_{R/2-1}, sin_0 ..]``; ``R <= head_size``, lanes past
        ``R`` pass through.
    is_neox: pairs ``(j, j + R/2)``; else ``(2j, 2j+1)``.
    """
    _ops.rotary_embedding(positions, query, key, int(head_size), cos_sin_cache, bool(is_neox))


def _resolve_rope_flag(interleaved: Optional[bool], is_neox: Optional[bool]) -> bool:
    # Upstream's sgl_kernel.rotary_embedding wrappers take `interleaved` and
    # `is_neox` as two names of one flag: the op's last bool.
    if interleaved is not None and is_neox is not None and bool(interleaved) != bool(is_neox):
        raise ValueError(f"interleaved ({interleaved}) and is_neox ({is_neox}) disagree; pass one of them")
    if is_neox is not None:
        return bool(is_neox)
    if interleaved is not None:
        return bool(interleaved)
    return True


def _check_head_size(head_size: int) -> int:
    if head_size is None or int(head_size) <= 0:
        raise ValueError(f"head_size must be a positive int, got {head_size}")
    return int(head_size)


@translate_errors
def rotary_embedding_with_positions(
    positions: torch.Tensor,
    query: torch.Tensor,
    key: Optional[torch.Tensor] = None,
    head_size: int = 0,
    interleaved: Optional[bool] = None,
    *,
    is_neox: Optional[bool] = None,
    cos_sin_cache: torch.Tensor,
) -> None:
    """``sgl_kernel.rotary_embedding.rotary_embedding``: the positions form
    (op ``rotary_embedding``) with upstream's module-level argument rules.

    ``interleaved`` and ``is_neox`` name one flag (the op's ``is_neox``): both
    given and unequal raises ValueError; else ``is_neox``, else
    ``interleaved``, else True. ``head_size <= 0`` raises ValueError. Shapes
    as :func:`rotary_embedding`.
    """
    flag = _resolve_rope_flag(interleaved, is_neox)
    _ops.rotary_embedding(positions, query, key, _check_head_size(head_size), cos_sin_cache, flag)


@translate_errors
def rotary_embedding_cos_sin(
    cos: torch.Tensor,
    sin: torch.Tensor,
    query: torch.Tensor,
    key: Optional[torch.Tensor] = None,
    head_size: int = 0,
    interleaved: Optional[bool] = None,
    *,
    is_neox: Optional[bool] = None,
) -> None:
    """Rotary embedding with cos/sin already gathered per token (vision towers), in place.

    cos, sin: ``[T, C]``, query's dtype (float32 too); rows strided, last dim
        stride 1.
    query: ``[T, Hq * head_size]`` or ``[T, Hq, head_size]``; key likewise
        (``Hq % Hk == 0``) or None.
    The op's ``interleaved`` flag is resolved as in
    :func:`rotary_embedding_with_positions` (``is_neox``, else
    ``interleaved``, else True):
      True: pairs ``(2j, 2j+1)`` for ``j < C`` with ``cos[t, j]``,
        ``sin[t, j]`` (``2C <= head_size``); when ``C == head_size`` (a
        repeated full-width table) ``cos[t, 2j]`` and ``sin[t, 2j+1]``.
      False: ``C`` is the rotary width; pairs ``(j, j + C/2)``,
        ``x' = x cos[j] - y sin[j]``, ``y' = y cos[j + C/2] + x sin[j + C/2]``.
    Lanes past the rotary width pass through.
    """
    flag = _resolve_rope_flag(interleaved, is_neox)
    _ops.rotary_embedding_cos_sin(cos, sin, query, key, _check_head_size(head_size), flag)


@translate_errors
def apply_rotary_embedding(
    *,
    mode: str,
    query: torch.Tensor,
    key: Optional[torch.Tensor] = None,
    head_size: int = 0,
    interleaved: Optional[bool] = None,
    is_neox: Optional[bool] = None,
    cos: Optional[torch.Tensor] = None,
    sin: Optional[torch.Tensor] = None,
    positions: Optional[torch.Tensor] = None,
    cos_sin_cache: Optional[torch.Tensor] = None,
) -> None:
    """``mode="cos_sin"``: :func:`rotary_embedding_cos_sin` (needs ``cos`` and
    ``sin``); ``mode="positions"``: :func:`rotary_embedding_with_positions`
    (needs ``positions`` and ``cos_sin_cache``). Missing tensors or another
    mode raise ValueError."""
    if mode == "cos_sin":
        if cos is None or sin is None:
            raise ValueError('mode="cos_sin" needs cos and sin')
        rotary_embedding_cos_sin(cos, sin, query, key, head_size, interleaved, is_neox=is_neox)
    elif mode == "positions":
        if positions is None or cos_sin_cache is None:
            raise ValueError('mode="positions" needs positions and cos_sin_cache')
        rotary_embedding_with_positions(
            positions, query, key, head_size, interleaved, is_neox=is_neox, cos_sin_cache=cos_sin_cache
        )
    else:
        raise ValueError(f'mode must be "cos_sin" or "positions", got {mode!r}')


@translate_errors
def fused_qk_norm_rope(
    qkv: torch.Tensor,
    num_heads_q: int,
    num_heads_k: int,
    num_heads_v: int,
    head_dim: int,
    eps: float,
    q_weight: torch.Tensor,
    k_weight: torch.Tensor,
    base: float,
    is_neox: bool,
    position_ids: torch.Tensor,
    factor: float,
    low: float,
    high: float,
    attention_factor: float,
    rotary_dim: Optional[int] = None,
) -> None:
    """Per-head RMSNorm then RoPE on the Q and K heads of ``qkv``, in place
    (``sgl_kernel.moe.fused_qk_norm_rope``); V untouched.

    qkv: ``[T, (Hq + Hk + Hv) * head_dim]`` fp32/fp16/bf16, row stride free.
    q_weight, k_weight: ``[head_dim]``, qkv's dtype or float32.
    position_ids: ``[T]`` int32 or int64.
    Per head: ``y = x * rsqrt(mean(x^2) + eps) * w``; then RoPE on the first
    ``R = rotary_dim`` lanes (None: ``head_dim``) with ``f_j = base^(-2j/R)``,
    YaRN-blended when ``factor != 1``: ``r = clamp((j - low) / (high' - low), 0, 1)``
    (``high' = high + 0.001`` if ``|high - low| <= 1e-6``),
    ``f_j = f_j / factor * r + f_j * (1 - r)``; angle ``float32(pos) * f_j`` in
    fp32; pairs ``(j, j + R/2)`` if ``is_neox`` else ``(2j, 2j+1)``; rotated
    lanes times ``attention_factor``. fp32 math, one rounding.
    """
    rd = head_dim if rotary_dim is None else rotary_dim
    _ops.fused_qk_norm_rope(
        qkv, int(num_heads_q), int(num_heads_k), int(num_heads_v), int(head_dim), float(eps), q_weight, k_weight,
        float(base), bool(is_neox), position_ids, float(factor), float(low), float(high), float(attention_factor),
        int(rd),
    )


# Fake (meta) implementations: every op of the family only writes into its arguments.
for _name in (
    "apply_rope_pos_ids_cos_sin_cache",
    "apply_mrope_pos_ids_cos_sin_cache",
    "rotary_embedding",
    "rotary_embedding_cos_sin",
    "fused_qk_norm_rope",
):
    torch.library.register_fake(f"sgl_kernel::{_name}")(lambda *args, **kwargs: None)
