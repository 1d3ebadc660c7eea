"""Helpers shared by the wrappers of every family."""

from typing import Optional

import torch

_SM90_OR_NEWER: dict = {}


def resolve_pdl(enable_pdl: Optional[bool], device: torch.device) -> bool:
    """`enable_pdl=None` means: on where the device is a GPU of sm_90 or newer."""
    if enable_pdl is not None:
        return bool(enable_pdl)
    if device.type != "cuda":
        return False
    index = device.index if device.index is not None else torch.cuda.current_device()
    known = _SM90_OR_NEWER.get(index)
    if known is None:
        known = torch.cuda.get_device_capability(index)[0] >= 9
        _SM90_OR_NEWER[index] = known
    return known


def rows_view(t: torch.Tensor, name: str) -> torch.Tensor:
    """`t` as [rows, last] without a copy; a clear error when that needs one."""
    if t.dim() == 2:
        return t
    if t.dim() == 0:
        raise ValueError(f"{name} must have at least 1 dim, got a scalar")
    try:
        return t.view(-1, t.shape[-1])
    except RuntimeError as e:
        raise ValueError(
            f"{name} of shape {tuple(t.shape)} and strides {t.stride()} cannot be viewed as "
            f"[rows, {t.shape[-1]}] without a copy; pass a contiguous tensor"
        ) from e
