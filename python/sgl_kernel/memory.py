"""KV-cache stores, fp8 downcast, concatenations, casts, a copy without the
copy engine, weak tensor references and the diffusion timestep embedding.

Every function accepts CUDA and CPU tensors (``copy_to_gpu_no_ce`` reads a CPU
input by definition). The copies are bitwise. On CUDA no index is checked on
the host (that would sync and break CUDA graphs): rows whose destination index
is out of range are skipped on the device. On CPU an out-of-range index raises
``ValueError`` before anything is written.
"""

from typing import Optional

import torch

from sgl_kernel.errors import translate_errors

_ops = torch.ops.sgl_kernel


@translate_errors
def set_kv_buffer_kernel(
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    loc: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    fallback: bool = False,
) -> None:
    """In place: ``k_cache[loc[t]] = k[t]`` and ``v_cache[loc[t]] = v[t]`` for every token ``t``.

    k_cache, v_cache: ``[cache_size, ...]``; everything after the first dim is
        one contiguous row of any width (e.g. ``[cache_size, heads, head_dim]``);
        the first dim may have any stride.
    k, v: ``[tokens, ...]`` with the row shape and dtype of their cache, rows
        contiguous, any token stride (e.g. slices of a fused qkv tensor).
    loc: ``[tokens]`` int32 or int64 slot indices, any stride. Duplicate slots
        write in an unspecified order.
    fallback: use plain torch indexing instead of the kernel (negative indices
        then wrap as in torch).
    Errors are raised, never swallowed into the fallback.
    """
    if fallback:
        k_cache[loc] = k
        v_cache[loc] = v
        return
    _ops.store_kv_cache(k_cache, v_cache, loc, k, v)


@translate_errors
def weak_ref_tensor(tensor):
    """A tensor over ``tensor``'s memory (same data pointer, sizes, strides,
    dtype and device) that holds no reference to its storage: the caller must
    keep ``tensor`` (or its storage) alive while the result is used. Anything
    that is not a tensor is returned unchanged (as upstream)."""
    if not isinstance(tensor, torch.Tensor):
        return tensor
    return _ops.weak_ref_tensor(tensor)


@translate_errors
def copy_to_gpu_no_ce(input: torch.Tensor, output: torch.Tensor) -> None:
    """Copy ``input`` (CPU int32 ``[n]``, n <= 1024) into ``output`` (int32 ``[n]``, contiguous).

    On a CUDA ``output`` the values travel as kernel parameters of one small
    kernel on the current stream: no copy engine, no pinned memory, and a
    captured CUDA graph replays the values seen at capture time. On a CPU
    ``output`` it is a plain copy.
    """
    _ops.copy_to_gpu_no_ce(input, output)


@translate_errors
def cast(input: torch.Tensor, dtype: torch.dtype, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Elementwise dtype conversion among float32, float16, bfloat16 and float8_e4m3fn.

    Rounds to nearest even. Conversion to float8_e4m3fn saturates: finite
    values beyond +-448 and +-inf become +-448 (torch's ``.to()`` gives NaN
    there); NaN stays NaN. Same-dtype casts are bitwise copies.
    input: any shape; when input or out is not contiguous, both need a unit
        last stride and leading dims that collapse to one row dim.
    out: optional, input's shape, dtype ``dtype``.
    Returns ``out``.
    """
    if out is None:
        out = torch.empty(input.shape, dtype=dtype, device=input.device)
    elif out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
    _ops.cast(out, input)
    return out


@translate_errors
def downcast_fp8(
    k: torch.Tensor,
    v: torch.Tensor,
    k_out: torch.Tensor,
    v_out: torch.Tensor,
    k_scale: torch.Tensor,
    v_scale: torch.Tensor,
    loc: torch.Tensor,
    mult: int = 1,
    offset: int = 0,
) -> None:
    """In place: ``k_out[loc[t] * mult + offset] = fp8(k[t] / k_scale)``, and the same for v.

    k, v: ``[tokens, heads, dim]`` float32/float16/bfloat16, unit last stride.
    k_out, v_out: ``[rows, heads, dim]`` float8_e4m3fn, unit last stride.
    k_scale, v_scale: one-element float32 tensors on the device of k, read by
        the kernel (so a CUDA graph sees the current scale).
    loc: ``[tokens]`` int32 or int64.
    The quotient is formed in fp32 (a true division, not a reciprocal
    multiply) and rounded to nearest even, saturating to +-448 as :func:`cast`.
    """
    _ops.downcast_fp8(k, v, k_out, v_out, k_scale, v_scale, loc, mult, offset)


@translate_errors
def concat_mla_k(k: torch.Tensor, k_nope: torch.Tensor, k_rope: torch.Tensor) -> None:
    """In place: ``k[t, h] = k_nope[t, h] ‖ k_rope[t, 0]`` (k_rope broadcast over heads).

    k: ``[tokens, heads, dn + dr]``; k_nope: ``[tokens, heads, dn]``;
    k_rope: ``[tokens, 1, dr]``; one dtype, unit last strides, any token and
    head strides. Any sizes are served (MLA uses dn=128, dr=64); 16-byte
    accesses where every row and stride is 16-byte aligned.
    """
    _ops.concat_mla_k(k, k_nope, k_rope)


@translate_errors
def concat_mla_absorb_q(a: torch.Tensor, b: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``out[..., :da] = a``, ``out[..., da:] = b`` for ``a [..., da]``, ``b [..., db]``.

    a and b share their leading shape and dtype; unit last strides; dims
    before the last two must collapse into one (a view). Returns ``out``
    ``[..., da + db]`` (allocated when not given).
    """
    if out is None:
        out = torch.empty(*a.shape[:-1], a.shape[-1] + b.shape[-1], dtype=a.dtype, device=a.device)
    _ops.concat_mla_absorb_q(a, b, out)
    return out


@translate_errors
def timestep_embedding(
    t: torch.Tensor,
    dim: int,
    flip_sin_to_cos: bool = False,
    downscale_freq_shift: float = 0.0,
    scale: float = 1,
    max_period: int = 10000,
    dtype: torch.dtype = torch.float32,
    *,
    out: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Sinusoidal timestep embedding of diffusion models.

    t: ``[N]`` timesteps, float32/float16/bfloat16/float64/int32/int64, any stride.
    Returns float32 ``[N, dim]``: with ``half = dim // 2`` and
    ``freq_j = exp(-ln(max_period) * j / (half - downscale_freq_shift))``,
    columns ``[sin(t * freq * scale), cos(t * freq * scale)]`` (the halves
    swapped when ``flip_sin_to_cos``); an odd ``dim`` gets a last column of
    zeros. Computed in fp32. ``downscale_freq_shift`` defaults to 0.0, as
    upstream's 0.3.21. ``dtype`` is accepted for upstream's signature and
    ignored: the output is float32, as upstream's. ``out`` (our extension,
    keyword only): optional float32 ``[N, dim]`` with a unit last stride.
    Returns the output. (The torch op ``timestep_embedding`` returns its
    output as upstream's does, so torch.compile cannot functionalize it;
    this function calls ``timestep_embedding_out``, which can be compiled.)
    """
    if out is None:
        out = torch.empty(t.shape[0] if t.dim() == 1 else 0, dim, dtype=torch.float32, device=t.device)
    _ops.timestep_embedding_out(t, out, dim, flip_sin_to_cos, float(downscale_freq_shift), float(scale), max_period)
    return out


# Fake (meta) implementations: every op but weak_ref_tensor only writes into its arguments.
for _name in (
    "store_kv_cache",
    "downcast_fp8",
    "concat_mla_k",
    "concat_mla_absorb_q",
    "cast",
    "copy_to_gpu_no_ce",
    "timestep_embedding_out",
):
    torch.library.register_fake(f"sgl_kernel::{_name}")(lambda *args: None)


@torch.library.register_fake("sgl_kernel::weak_ref_tensor")
def _weak_ref_tensor_fake(tensor):
    return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device=tensor.device)


@torch.library.register_fake("sgl_kernel::timestep_embedding")
def _timestep_embedding_fake(input, output, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period):
    return output
