"""sgl_kernel.testing.rotary_embedding: the reference classes agree with each other (CPU)."""

import pytest
import torch

from sgl_kernel.testing.rotary_embedding import (
    FlashInferRotaryEmbedding,
    MHATokenToKVPool,
    RotaryEmbedding,
    SglKernelRotaryEmbedding,
    create_inputs,
)


@pytest.mark.parametrize("neox", [True, False])
@pytest.mark.parametrize("cls", [FlashInferRotaryEmbedding, SglKernelRotaryEmbedding])
def test_forward_cuda_matches_forward_native(cls, neox):
    head, rot = 64, 32
    rope = cls(head, rot, 512, 10000.0, neox, torch.float32)
    inp = create_inputs(head, 2, 7, "cpu", torch.float32, 4, 2)
    q_ref, k_ref = rope.forward_native(inp["pos_ids"], inp["query"].clone(), inp["key"].clone())
    q, k = rope.forward_cuda(inp["pos_ids"], inp["query"].clone(), inp["key"].clone())
    torch.testing.assert_close(q, q_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(k, k_ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(q_ref, inp["query"])  # it rotated


def test_cache_rows_and_pool():
    rope = RotaryEmbedding(8, 8, 16, 100.0, True, torch.float32)
    f = 1.0 / 100.0 ** (torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    expect = torch.cat([torch.cos(3 * f), torch.sin(3 * f)])
    torch.testing.assert_close(rope.cos_sin_cache[3].double(), expect, atol=1e-6, rtol=0)
    pool = MHATokenToKVPool(2, 8, device="cpu")
    assert pool.k_buffer[0].shape == (MHATokenToKVPool.KV_POOL_SIZE + 1, 2, 8)
    loc = torch.tensor([5, 9])
    k, v = torch.randn(2, 2, 8).to(torch.bfloat16), torch.randn(2, 2, 8).to(torch.bfloat16)
    pool.set_kv_buffer(loc, k, v)
    assert torch.equal(pool.k_buffer[0][loc], k) and torch.equal(pool.v_buffer[0][loc], v)
