"""Reference RoPE modules and a tiny KV pool for tests and benchmarks.

Same names and behaviour as upstream's ``sgl_kernel.testing.rotary_embedding``
(api/modules.md): a plain-torch reference (``forward_native``), one calling
``apply_rope_with_cos_sin_cache_inplace`` and one calling the
``rotary_embedding`` op, so tests written against upstream run unchanged.
"""

from typing import Optional, Tuple

import torch

__all__ = [
    "FlashInferRotaryEmbedding",
    "MHATokenToKVPool",
    "RotaryEmbedding",
    "SglKernelRotaryEmbedding",
    "create_inputs",
]


class RotaryEmbedding(torch.nn.Module):
    """RoPE with a cached ``[max_position_embeddings, rotary_dim]`` fp32 table.

    Row ``p`` of ``cos_sin_cache`` is ``[cos(p f_0) .. cos(p f_{R/2-1}),
    sin(p f_0) .. sin(p f_{R/2-1})]`` with ``f_j = base^(-2j/R)``, ``R =
    rotary_dim``. ``forward_native`` is the out-of-place reference.
    """

    def __init__(
        self,
        head_size: int,
        rotary_dim: int,
        max_position_embeddings: int,
        base: float,
        is_neox_style: bool,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        self.head_size = head_size
        self.rotary_dim = rotary_dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        self.is_neox_style = is_neox_style
        self.dtype = dtype
        self.register_buffer("cos_sin_cache", self._compute_cos_sin_cache(), persistent=False)

    def _compute_inv_freq(self, base: float) -> torch.Tensor:
        exponents = torch.arange(0, self.rotary_dim, 2, dtype=torch.float32) / self.rotary_dim
        return 1.0 / (base**exponents)

    def _compute_cos_sin_cache(self) -> torch.Tensor:
        inv_freq = self._compute_inv_freq(self.base)
        t = torch.arange(self.max_position_embeddings, dtype=torch.float32)
        angles = torch.outer(t, inv_freq)
        return torch.cat((angles.cos(), angles.sin()), dim=-1)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # x [T, H, R]; cos, sin [T, 1, R/2]
        if self.is_neox_style:
            x1, x2 = torch.chunk(x, 2, dim=-1)
        else:
            x1, x2 = x[..., ::2], x[..., 1::2]
        o1 = x1 * cos - x2 * sin
        o2 = x2 * cos + x1 * sin
        if self.is_neox_style:
            return torch.cat((o1, o2), dim=-1)
        return torch.stack((o1, o2), dim=-1).flatten(-2)

    def forward_native(
        self,
        positions: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        offsets: Optional[torch.Tensor] = None,
        fused_set_kv_buffer_arg=None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Out of place: returns rotated ``(query, key)`` in ``self.dtype``,
        shaped as given. The fused KV store is not part of the reference."""
        if fused_set_kv_buffer_arg is not None:
            raise NotImplementedError("forward_native does not take fused_set_kv_buffer_arg")
        if offsets is not None:
            positions = positions + offsets
        positions = positions.flatten()
        cache = self.cos_sin_cache.to(query.device)
        cos, sin = cache.index_select(0, positions).float().chunk(2, dim=-1)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        r = self.rotary_dim
        out = []
        for x in (query, key):
            shape = x.shape
            x = x.reshape(positions.shape[0], -1, self.head_size).float()
            rot = self._rotate(x[..., :r], cos, sin)
            x = torch.cat((rot, x[..., r:]), dim=-1)
            out.append(x.reshape(shape).to(self.dtype))
        return out[0], out[1]


class FlashInferRotaryEmbedding(RotaryEmbedding):
    """Rotates in place with :func:`sgl_kernel.apply_rope_with_cos_sin_cache_inplace`."""

    def forward_cuda(
        self,
        positions: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        offsets: Optional[torch.Tensor] = None,
        fused_set_kv_buffer_arg=None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        from sgl_kernel import apply_rope_with_cos_sin_cache_inplace

        apply_rope_with_cos_sin_cache_inplace(
            positions=positions,
            query=query,
            key=key,
            head_size=self.head_size,
            cos_sin_cache=self.cos_sin_cache.to(query.device),
            is_neox=self.is_neox_style,
            fused_set_kv_buffer_arg=fused_set_kv_buffer_arg,
        )
        return query, key


class SglKernelRotaryEmbedding(RotaryEmbedding):
    """Rotates in place with the ``rotary_embedding`` op (vLLM's positions form)."""

    def forward_cuda(
        self,
        positions: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        offsets: Optional[torch.Tensor] = None,
        fused_set_kv_buffer_arg=None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        assert fused_set_kv_buffer_arg is None, "SglKernelRotaryEmbedding does not fuse the KV store"
        self.cos_sin_cache = self.cos_sin_cache.to(query.device, dtype=query.dtype)
        torch.ops.sgl_kernel.rotary_embedding(
            positions, query, key, self.head_size, self.cos_sin_cache, self.is_neox_style
        )
        return query, key


class MHATokenToKVPool:
    """A one-layer token KV pool: ``k_buffer``/``v_buffer`` are lists holding
    one ``[size + 1, head_num, head_dim]`` zero tensor each (slot ``size`` is
    the padding slot, as in serving engines)."""

    KV_POOL_SIZE = 16384

    def __init__(self, head_num: int, head_dim: int, device: str = "cuda") -> None:
        self.head_num = head_num
        self.head_dim = head_dim
        self.size = MHATokenToKVPool.KV_POOL_SIZE
        self.page_size = 1
        self.store_dtype = torch.bfloat16
        self.device = device
        self.layer_num = 1
        self.start_layer = 0
        self._create_buffers()

    def _create_buffers(self) -> None:
        shape = (self.size + 1, self.head_num, self.head_dim)
        self.k_buffer = [torch.zeros(shape, dtype=self.store_dtype, device=self.device) for _ in range(self.layer_num)]
        self.v_buffer = [torch.zeros(shape, dtype=self.store_dtype, device=self.device) for _ in range(self.layer_num)]

    def set_kv_buffer(self, loc: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor) -> None:
        layer_id = 0
        self.k_buffer[layer_id][loc] = cache_k
        self.v_buffer[layer_id][loc] = cache_v


def create_inputs(
    head_size: int,
    batch_size: int,
    seq_len: int,
    device,
    dtype: torch.dtype,
    num_q_heads: int,
    num_kv_heads: int,
) -> dict:
    """Random inputs of a prefill batch: positions ``arange(seq_len)`` per
    request (int64), ``query [B*S, Hq*D]``, ``key``/``value [B*S, Hkv*D]`` and
    ``out_cache_loc``, the first ``B*S`` of a random permutation of the pool's
    slots (int64)."""
    n = batch_size * seq_len
    pos_ids = torch.arange(seq_len, device=device).repeat(batch_size)
    query = torch.randn(n, num_q_heads * head_size, dtype=dtype, device=device)
    key = torch.randn(n, num_kv_heads * head_size, dtype=dtype, device=device)
    value = torch.randn(n, num_kv_heads * head_size, dtype=dtype, device=device)
    out_cache_loc = torch.randperm(MHATokenToKVPool.KV_POOL_SIZE, dtype=torch.int64, device=device)[:n]
    return dict(pos_ids=pos_ids, query=query, key=key, value=value, out_cache_loc=out_cache_loc)
