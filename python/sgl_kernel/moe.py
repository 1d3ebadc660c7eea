"""Upstream's ``sgl_kernel.moe`` module. Of its names, only the QK-norm + RoPE
fusion is built so far (defined in :mod:`sgl_kernel.rope`); routing,
alignment and the grouped GEMMs come with the MoE family."""

from sgl_kernel.rope import fused_qk_norm_rope

__all__ = ["fused_qk_norm_rope"]
