"""Attention helpers: merging partial attention results.

Functions accept CUDA and CPU tensors. Arithmetic is fp32; v results are
rounded once to v's dtype.
"""

from typing import Optional, Tuple

import torch

from sgl_kernel.errors import translate_errors

_ops = torch.ops.sgl_kernel


def _merge(op, v_a, s_a, v_b, s_b, v_merged, s_merged) -> Tuple[torch.Tensor, torch.Tensor]:
    if v_merged is None:
        v_merged = torch.empty_like(v_a)
    if s_merged is None:
        s_merged = torch.empty(v_a.shape[:2], dtype=torch.float32, device=v_a.device)
    op(v_a, s_a, v_b, s_b, v_merged, s_merged)
    return v_merged, s_merged


@translate_errors
def merge_state(
    v_a: torch.Tensor,
    s_a: torch.Tensor,
    v_b: torch.Tensor,
    s_b: torch.Tensor,
    v_merged: Optional[torch.Tensor] = None,
    s_merged: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Merge two partial attention results over disjoint key sets (base-2 LSE).

    With ``m = max(s_a, s_b)``, ``w_a = 2**(s_a - m)``, ``w_b = 2**(s_b - m)``:
    ``v = (w_a v_a + w_b v_b) / (w_a + w_b)``, ``s = m + log2(w_a + w_b)``.

    v_a, v_b: ``[tokens, heads, head_dim]`` float32/float16/bfloat16, same
        dtype; any token and head strides, last dim stride 1; any head_dim
        (16-byte vectors where rows are aligned, else element by element).
    s_a, s_b: ``[tokens, heads]`` float32 log-sum-exp of each part, base 2.
    v_merged: optional, v_a's shape and dtype; may be ``v_a`` or ``v_b`` itself.
    s_merged: optional, ``[tokens, heads]`` float32; must not overlap s_a/s_b.

    An infinite LSE (+inf or -inf) marks an empty part: weight 0, its v is
    ignored. When both parts are empty, ``v = 0`` and ``s = -inf``. A NaN LSE
    makes that row's v and s NaN; NaN in a non-empty part's v propagates.
    Returns ``(v_merged, s_merged)``.
    """
    return _merge(_ops.merge_state, v_a, s_a, v_b, s_b, v_merged, s_merged)


@translate_errors
def merge_state_v2(
    v_a: torch.Tensor,
    s_a: torch.Tensor,
    v_b: torch.Tensor,
    s_b: torch.Tensor,
    v_merged: Optional[torch.Tensor] = None,
    s_merged: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """As :func:`merge_state`, with natural-log LSE: ``w = exp(s - m)``,
    ``s = m + log(w_a + w_b)``. Shapes, dtypes and special cases are the same.
    """
    return _merge(_ops.merge_state_v2, v_a, s_a, v_b, s_b, v_merged, s_merged)


# Fake (meta) implementations: both ops only write into their arguments.
for _name in ("merge_state", "merge_state_v2"):
    torch.library.register_fake(f"sgl_kernel::{_name}")(lambda *args: None)
