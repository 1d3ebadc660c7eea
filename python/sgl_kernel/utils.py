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


# ---------------------------------------------------------------------------
# Upstream's public helpers of sgl_kernel.utils (api/modules.md).

_ARCH_CACHE: dict = {}


def _current_major() -> int:
    """Major compute capability of the current CUDA device, -1 without CUDA (cached per device)."""
    if not torch.cuda.is_available():
        return -1
    index = torch.cuda.current_device()
    major = _ARCH_CACHE.get(index)
    if major is None:
        major = torch.cuda.get_device_capability(index)[0]
        _ARCH_CACHE[index] = major
    return major


def is_arch_support_pdl() -> bool:
    """True when the current CUDA device is sm_90 or newer (programmatic
    dependent launch); False without CUDA. Cached per device."""
    return _current_major() >= 9


def is_hopper_arch() -> bool:
    """True when the current CUDA device is a Hopper GPU (major capability 9)."""
    return _current_major() == 9


def is_hopper_or_later_arch() -> bool:
    """True when the current CUDA device is sm_90 or newer."""
    return _current_major() >= 9


def get_cuda_stream() -> int:
    """The raw handle (``cudaStream_t`` as an int) of torch's current CUDA stream."""
    return torch.cuda.current_stream().cuda_stream


_CACHE_BUFS: dict = {}


def _get_cache_buf(name: str, bytes: int, device: torch.device) -> torch.Tensor:
    """A uint8 ``[bytes]`` workspace cached per ``(name, device)``; a larger
    request replaces the cached one (its contents are not kept)."""
    key = (name, torch.device(device))
    buf = _CACHE_BUFS.get(key)
    if buf is None or buf.numel() < bytes:
        buf = torch.empty(bytes, dtype=torch.uint8, device=device)
        _CACHE_BUFS[key] = buf
    return buf[:bytes] if buf.numel() != bytes else buf


def _to_tensor_scalar_tuple(x):
    """``(x, 0)`` for a tensor, ``(None, x)`` for a scalar (threshold arguments
    that take either)."""
    if isinstance(x, torch.Tensor):
        return (x, 0)
    return (None, x)
