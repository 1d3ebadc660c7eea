"""Upstream's ``sgl_kernel.rotary_embedding`` module: the positions form and
the per-token cos/sin form of rotary embedding, and ``apply_rotary_embedding``.

The functions are defined in :mod:`sgl_kernel.rope`. Upstream 0.3.21 also
exposed a *function* ``sgl_kernel.rotary_embedding`` (the vLLM positions form,
:func:`sgl_kernel.elementwise.rotary_embedding`); importing this submodule
rebinds the package attribute to the module, so the module itself is callable
as that function: ``sgl_kernel.rotary_embedding(positions, q, k, head_size,
cos_sin_cache, is_neox)`` works either way.
"""

import sys
import types

from sgl_kernel.rope import apply_rotary_embedding, rotary_embedding_cos_sin
from sgl_kernel.rope import rotary_embedding as _elementwise_rotary_embedding
from sgl_kernel.rope import rotary_embedding_with_positions as rotary_embedding

__all__ = ["apply_rotary_embedding", "rotary_embedding", "rotary_embedding_cos_sin"]


class _CallableModule(types.ModuleType):
    """This module, callable as 0.3.21's ``sgl_kernel.rotary_embedding`` function."""

    def __call__(self, *args, **kwargs):
        return _elementwise_rotary_embedding(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
