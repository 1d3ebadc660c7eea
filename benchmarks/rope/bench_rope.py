"""RoPE family benchmark on Qwen3-VL shapes (64 q heads, 4 kv heads, head
128, bf16, fp32 cos_sin_cache of 32768 positions): rope in place, rope with
the fused KV-cache store, and interleaved mrope (sections [24, 20, 20]);
rotary_embedding (vLLM positions form, bf16 cache as SglKernelRotaryEmbedding
keeps it), rotary_embedding_cos_sin (HF full-width bf16 cos/sin per token)
and fused_qk_norm_rope (Qwen3: per-head RMSNorm + neox RoPE, base 1e6, on a
[T, (64 + 4 + 4) * 128] qkv); against torch eager and torch.compile (compiled
per shape, dynamic=False) of a straightforward torch formula measured in the
same run, and against the device-to-device copy bandwidth measured in the
same run.

Every timing is a CUDA-graph replay cycling over enough buffer sets to keep
inputs out of L2 (sgl_kernel.testing.bench). Writes rope.md, rope.json and
rope.png into --out.
"""


import torch

import sgl_kernel
import sgl_kernel.rope
from sgl_kernel.testing.bench import start, bench_case, format_table, write_results

TOKENS = [1, 16, 1024, 4096, 16384]
HQ, HK, HEAD, ROT, MAX_POS = 64, 4, 128, 128, 32768
SECTION = [24, 20, 20]
HALF = ROT // 2


def mrope_components(device):
    c = [1 if i % 3 == 1 and i < 3 * SECTION[1] else 2 if i % 3 == 2 and i < 3 * SECTION[2] else 0
         for i in range(HALF)]
    return torch.tensor(c, device=device)


def _rotate_(x, heads, cos, sin):
    # x [t, heads * HEAD] (a strided view), cos/sin [t, HALF] fp32; neox pairing.
    t = x.shape[0]
    xv = x.view(t, heads, HEAD)
    xf = xv.float()
    a, b = xf[..., :HALF], xf[..., HALF:ROT]
    c, s = cos[:, None, :], sin[:, None, :]
    xv[..., :ROT].copy_(torch.cat([a * c - b * s, b * c + a * s], dim=-1).to(x.dtype))


def torch_rope(pos, q, k, cache):
    cs = cache[pos]
    _rotate_(q, HQ, cs[:, :HALF], cs[:, HALF:])
    _rotate_(k, HK, cs[:, :HALF], cs[:, HALF:])


def torch_rope_fused(pos, q, k, cache, v, kb, vb, loc):
    torch_rope(pos, q, k, cache)
    kb[loc] = k.view(-1, HK, HEAD).to(kb.dtype)
    vb[loc] = v.view(-1, HK, HEAD).to(vb.dtype)


def torch_mrope(pos3, q, k, cache, comp):
    p = pos3[comp].t()  # [t, HALF]: the position of each frequency
    i = torch.arange(HALF, device=q.device)
    cos, sin = cache[p, i], cache[p, HALF + i]
    _rotate_(q, HQ, cos, sin)
    _rotate_(k, HK, cos, sin)


def _rotate_tables_(x, heads, cos, sin):
    # x [t, heads * HEAD] (a strided view); cos/sin [t, HEAD] full-width HF tables.
    t = x.shape[0]
    xv = x.view(t, heads, HEAD)
    xf = xv.float()
    c, s = cos.float()[:, None, :], sin.float()[:, None, :]
    rot = torch.cat([-xf[..., HALF:], xf[..., :HALF]], dim=-1)
    xv.copy_((xf * c + rot * s).to(x.dtype))


def torch_rotary_cos_sin(cos, sin, q, k):
    _rotate_tables_(q, HQ, cos, sin)
    _rotate_tables_(k, HK, cos, sin)


def torch_rope_model_cache(pos, q, k, cache):
    cs = cache[pos].float()
    _rotate_(q, HQ, cs[:, :HALF], cs[:, HALF:])
    _rotate_(k, HK, cs[:, :HALF], cs[:, HALF:])


QK_BASE, QK_EPS = 1e6, 1e-6


def torch_fused_qk_norm_rope(qkv, pos, qw, kw, inv_freq):
    t = qkv.shape[0]
    x = qkv.view(t, HQ + 2 * HK, HEAD)
    qk = x[:, : HQ + HK].float()
    w = torch.cat([qw.float().expand(HQ, HEAD), kw.float().expand(HK, HEAD)])
    y = qk * torch.rsqrt(qk.pow(2).mean(-1, keepdim=True) + QK_EPS) * w
    ang = pos.float()[:, None] * inv_freq[None, :]
    c, s = ang.cos()[:, None, :], ang.sin()[:, None, :]
    a, b = y[..., :HALF], y[..., HALF:]
    x[:, : HQ + HK].copy_(torch.cat([a * c - b * s, b * c + a * s], dim=-1).to(qkv.dtype))


def main():
    args, copy_gbps = start(__doc__.splitlines()[0])
    torch._dynamo.config.cache_size_limit = 64
    dev, dt = "cuda", torch.bfloat16
    tokens = [1, 16, 4096, 16384] if args.quick else TOKENS
    cache = torch.randn(MAX_POS, ROT, device=dev)  # fp32, as the models keep it
    cache_bf16 = cache.to(dt)
    comp = mrope_components(dev)
    qw = (1 + 0.1 * torch.randn(HEAD, device=dev)).to(dt)
    kw = (1 + 0.1 * torch.randn(HEAD, device=dev)).to(dt)
    inv_freq = (QK_BASE ** (-torch.arange(0, ROT, 2, dtype=torch.float64, device=dev) / ROT)).float()
    isz = 2
    width = (HQ + 2 * HK) * HEAD
    rows = []

    def qkv(t):
        x = torch.randn(t, width, device=dev).to(dt)
        return x[:, : HQ * HEAD], x[:, HQ * HEAD : (HQ + HK) * HEAD], x[:, (HQ + HK) * HEAD :]

    for t in tokens:
        # torch.compile baselines: one compiled function per shape (dynamic=False).
        c_rope = torch.compile(torch_rope, dynamic=False)
        c_fused = torch.compile(torch_rope_fused, dynamic=False)
        c_mrope = torch.compile(torch_mrope, dynamic=False)
        c_rope_model = torch.compile(torch_rope_model_cache, dynamic=False)
        c_cos_sin = torch.compile(torch_rotary_cos_sin, dynamic=False)
        c_qk_norm_rope = torch.compile(torch_fused_qk_norm_rope, dynamic=False)
        shape = f"{t}x({HQ}+{HK})x{HEAD}"
        qk_bytes = 2 * t * (HQ + HK) * HEAD * isz + t * ROT * 4
        kv_bytes = 3 * t * HK * HEAD * isz + t * 8  # v read, k and v rows written, cache_loc

        def make_rope():
            q, k, _ = qkv(t)
            return torch.randint(0, MAX_POS, (t,), device=dev), q, k

        rows.append(bench_case(
            "rope", shape, qk_bytes + t * 8, make_rope,
            lambda p, q, k: sgl_kernel.apply_rope_with_cos_sin_cache_inplace(p, q, k, HEAD, cache),
            lambda p, q, k: torch_rope(p, q, k, cache),
            lambda p, q, k: c_rope(p, q, k, cache)))
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)

        def make_fused():
            q, k, v = qkv(t)
            kb = torch.zeros(t, HK, HEAD, device=dev, dtype=dt)
            vb = torch.zeros_like(kb)
            loc = torch.randperm(t, device=dev)
            return torch.randint(0, MAX_POS, (t,), device=dev), q, k, v, kb, vb, loc

        def ours_fused(p, q, k, v, kb, vb, loc):
            arg = sgl_kernel.FusedSetKVBufferArg(v, kb, vb, None, None, loc)
            sgl_kernel.apply_rope_with_cos_sin_cache_inplace(p, q, k, HEAD, cache, True, arg)

        rows.append(bench_case(
            "rope + KV store", shape, qk_bytes + kv_bytes + t * 8, make_fused, ours_fused,
            lambda p, q, k, v, kb, vb, loc: torch_rope_fused(p, q, k, cache, v, kb, vb, loc),
            lambda p, q, k, v, kb, vb, loc: c_fused(p, q, k, cache, v, kb, vb, loc)))
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)

        def make_mrope():
            q, k, _ = qkv(t)
            return torch.randint(0, MAX_POS, (3, t), device=dev), q, k

        rows.append(bench_case(
            "mrope interleaved", shape, qk_bytes + 3 * t * 8, make_mrope,
            lambda p, q, k: sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(p, q, k, HEAD, cache, SECTION, True),
            lambda p, q, k: torch_mrope(p, q, k, cache, comp),
            lambda p, q, k: c_mrope(p, q, k, cache, comp)))
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)

        qk_bytes_bf16 = 2 * t * (HQ + HK) * HEAD * isz + t * ROT * isz
        rows.append(bench_case(
            "rotary_embedding", shape, qk_bytes_bf16 + t * 8, make_rope,
            lambda p, q, k: sgl_kernel.rope.rotary_embedding(p, q, k, HEAD, cache_bf16, True),
            lambda p, q, k: torch_rope_model_cache(p, q, k, cache_bf16),
            lambda p, q, k: c_rope_model(p, q, k, cache_bf16)))
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)

        def make_cos_sin():
            q, k, _ = qkv(t)
            ang = torch.rand(t, HALF, device=dev) * 1000
            cos, sin = ang.cos().repeat(1, 2).to(dt), ang.sin().repeat(1, 2).to(dt)
            return cos, sin, q, k

        rows.append(bench_case(
            "rotary_embedding_cos_sin", shape, 2 * t * (HQ + HK) * HEAD * isz + 2 * t * HEAD * isz, make_cos_sin,
            lambda c, s, q, k: sgl_kernel.rope.rotary_embedding_cos_sin(c, s, q, k, HEAD, False),
            torch_rotary_cos_sin, c_cos_sin))
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)

        def make_qkv():
            x = torch.randn(t, width, device=dev).to(dt)
            return x, torch.randint(0, MAX_POS, (t,), device=dev, dtype=torch.int32)

        rows.append(bench_case(
            "fused_qk_norm_rope", shape, 2 * t * (HQ + HK) * HEAD * isz + t * 4, make_qkv,
            lambda x, p: sgl_kernel.rope.fused_qk_norm_rope(x, HQ, HK, HK, HEAD, QK_EPS, qw, kw, QK_BASE, True, p,
                                                            1.0, 0.0, 0.0, 1.0),
            lambda x, p: torch_fused_qk_norm_rope(x, p, qw, kw, inv_freq),
            lambda x, p: c_qk_norm_rope(x, p, qw, kw, inv_freq)))
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)

    write_results(rows, copy_gbps, args.out, "rope", (
        "Qwen3-VL shapes: 64 q heads, 4 kv heads, head 128, bf16 q/k/v, fp32 cos_sin_cache "
        f"[{MAX_POS}, {ROT}], q and k as views of a fused qkv tensor. Bytes: q and k read and written, "
        "cos/sin rows, positions; fused: v read, k and v cache rows written, cache_loc. rotary_embedding: "
        "bf16 cache rows; rotary_embedding_cos_sin: q and k read and written, bf16 cos and sin rows [T, 128]; "
        "fused_qk_norm_rope: the Q and K heads of qkv read and written, int32 positions (V not touched)."))


if __name__ == "__main__":
    main()
