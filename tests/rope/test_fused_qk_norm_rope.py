"""fused_qk_norm_rope: per-head RMSNorm of the Q and K heads of qkv, then RoPE
with base/YaRN frequencies, in place. The CPU op is checked against a float64
formula written from api/modules.md (with the documented fp32 frequency and
fp32 angle); the CUDA op against the CPU op within a few fp32 ulp (sum order,
rsqrtf and sincosf differ; see include/sgl_kernel/rope/qk_norm_rope.cuh)."""

import math

import pytest
import torch

from sgl_kernel import rope
from sgl_kernel.testing import FLOAT_DTYPES, assert_close

gpu = pytest.mark.gpu
ops = torch.ops.sgl_kernel


def rand(*shape, dtype, device="cpu"):
    return torch.randn(*shape, dtype=torch.float32, device=device).to(dtype)


def ref_freqs(base, rd, factor, low, high):
    """f_j = base^(-2j/R), YaRN-blended when factor != 1 (float64)."""
    j = torch.arange(rd // 2, dtype=torch.float64)
    f = base ** (-2 * j / rd)
    if factor != 1.0:
        hi = high + 0.001 if abs(high - low) <= 1e-6 else high
        r = ((j - low) / (hi - low)).clamp(0.0, 1.0)
        f = f / factor * r + f * (1 - r)
    return f


def ref_fused(qkv, hq, hk, hv, head, eps, qw, kw, base, is_neox, pos, factor, low, high, af, rd):
    """float64 result [T, (hq + hk + hv) * head] of the op on qkv [T, width] (width may exceed the heads)."""
    t = qkv.shape[0]
    x = qkv[:, : (hq + hk + hv) * head].double().cpu().reshape(t, hq + hk + hv, head)
    qk = x[:, : hq + hk]
    w = torch.cat([qw.double().cpu().expand(hq, head), kw.double().cpu().expand(hk, head)])
    y = qk * torch.rsqrt(qk.pow(2).mean(-1, keepdim=True) + eps) * w
    # Documented precision: frequency rounded to fp32, angle one fp32 product.
    f = ref_freqs(base, rd, factor, low, high).float()
    ang = (pos.cpu().float()[:, None] * f[None, :]).double()
    c, s = ang.cos()[:, None, :], ang.sin()[:, None, :]
    half = rd // 2
    a = torch.arange(half) if is_neox else torch.arange(0, rd, 2)
    b = a + half if is_neox else a + 1
    out = y.clone()
    ya, yb = y[..., a], y[..., b]
    out[..., a] = (ya * c - yb * s) * af
    out[..., b] = (yb * c + ya * s) * af
    res = x.clone()
    res[:, : hq + hk] = out
    return res.reshape(t, -1)


# (factor, low, high, attention_factor): plain; YaRN; factor 1 with an attention factor; |high - low| <= 1e-6
YARN = [(1.0, 0.0, 0.0, 1.0), (4.0, 3.0, 40.0, 1.1386), (1.0, 5.0, 20.0, 0.75), (8.0, 7.0, 7.0 + 5e-7, 1.2)]


def make_case(t, hq, hk, hv, head, dtype, device="cpu", pad=0, offset=0, weight_dtype=None, pos_dtype=torch.int64,
              max_pos=4096):
    width = (hq + hk + hv) * head
    base = rand(t, width + pad + offset, dtype=dtype, device=device)[:, offset:]
    qkv = base[:, :width] if pad else base
    wdt = weight_dtype or dtype
    qw = (1 + 0.3 * torch.randn(head, device=device)).to(wdt)
    kw = (1 + 0.3 * torch.randn(head, device=device)).to(wdt)
    pos = torch.randint(0, max_pos, (t,), dtype=pos_dtype, device=device)
    return base, qkv, qw, kw, pos


def run(qkv, hq, hk, hv, head, qw, kw, pos, is_neox, yarn, rd=None, eps=1e-6, base=1e6):
    factor, low, high, af = yarn
    rope.fused_qk_norm_rope(qkv, hq, hk, hv, head, eps, qw, kw, base, is_neox, pos, factor, low, high, af, rd)


# ---------------------------------------------------------------- CPU vs formula
SHAPES = [
    # T, hq, hk, hv, head, rotary_dim (None: head)
    (1, 64, 4, 4, 128, None),
    (199, 8, 2, 2, 128, None),
    (7, 4, 1, 1, 64, 32),
    (5, 2, 2, 1, 256, 128),
    (3, 3, 1, 0, 96, 40),
    (2, 1, 1, 1, 2, 2),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("is_neox", [True, False])
@pytest.mark.parametrize("t,hq,hk,hv,head,rd", SHAPES)
@pytest.mark.parametrize("yarn", YARN)
def test_fused_qk_norm_rope_cpu_matches_formula(dtype, is_neox, t, hq, hk, hv, head, rd, yarn):
    base, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, pad=24)
    keep = base.clone()
    expect = ref_fused(qkv, hq, hk, hv, head, 1e-6, qw, kw, 1e6, is_neox, pos, *yarn, rd or head)
    run(qkv, hq, hk, hv, head, qw, kw, pos, is_neox, yarn, rd)
    assert_close(qkv, expect)
    v0 = (hq + hk) * head
    assert torch.equal(base[:, v0:], keep[:, v0:])  # V and the row padding untouched, bit for bit


@pytest.mark.parametrize("pos_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("weight_dtype", [None, torch.float32])
def test_fused_qk_norm_rope_positions_and_weights_cpu(pos_dtype, weight_dtype):
    dtype, t, hq, hk, hv, head = torch.bfloat16, 9, 8, 2, 2, 128
    base, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, weight_dtype=weight_dtype, pos_dtype=pos_dtype,
                                       max_pos=200000)
    expect = ref_fused(qkv, hq, hk, hv, head, 1e-6, qw, kw, 1e6, True, pos, *YARN[1], head)
    run(qkv, hq, hk, hv, head, qw, kw, pos, True, YARN[1])
    assert_close(qkv, expect)


def test_fused_qk_norm_rope_factor_one_ignores_low_high_cpu():
    dtype, t, hq, hk, hv, head = torch.float32, 4, 2, 1, 1, 64
    _, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype)
    other = qkv.clone()
    run(qkv, hq, hk, hv, head, qw, kw, pos, True, (1.0, 0.0, 0.0, 1.0))
    run(other, hq, hk, hv, head, qw, kw, pos, True, (1.0, 3.0, 9.0, 1.0))
    assert torch.equal(qkv, other)


def test_fused_qk_norm_rope_nan_head_cpu():
    dtype, t, hq, hk, hv, head = torch.float32, 3, 2, 1, 1, 64
    _, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype)
    qkv[1, head + 5] = float("nan")  # token 1, q head 1
    qkv[2, (hq + hk) * head + 3] = float("nan")  # a V lane: left as is
    expect = ref_fused(qkv, hq, hk, hv, head, 1e-6, qw, kw, 1e6, True, pos, *YARN[0], head)
    run(qkv, hq, hk, hv, head, qw, kw, pos, True, YARN[0])
    h = qkv.view(t, -1, head)
    assert torch.isnan(h[1, 1]).all()  # the norm spreads NaN over its head only
    assert torch.isnan(qkv).sum() == head + 1
    assert_close(qkv, expect)


def test_fused_qk_norm_rope_empty_cpu():
    qkv = torch.empty(0, 6 * 64)
    w = torch.ones(64)
    rope.fused_qk_norm_rope(qkv, 4, 1, 1, 64, 1e-6, w, w, 1e4, True, torch.empty(0, dtype=torch.int32), 1.0, 0.0,
                            0.0, 1.0)


# ---------------------------------------------------------------- CUDA vs CPU
GPU_SHAPES = [
    # T, hq, hk, hv, head, rotary_dim: register path (64/128/256) and the general path
    (1, 64, 4, 4, 128, 128),
    (16, 64, 4, 4, 128, 128),
    (1024, 64, 4, 4, 128, 128),
    (4097, 64, 4, 4, 128, 128),
    (199, 32, 4, 4, 64, 64),
    (37, 16, 2, 2, 256, 256),
    (33, 8, 2, 2, 128, 64),    # R < D, register path
    (33, 8, 2, 2, 128, 36),    # neox: (R/2) % 4 != 0 -> general path; interleaved: register path
    (21, 4, 2, 2, 96, 96),     # head 96 -> general path
    (9, 3, 1, 1, 10, 6),       # tiny odd head
    (5, 2, 1, 1, 768, 512),    # large head, general path
]


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("is_neox", [True, False])
@pytest.mark.parametrize("t,hq,hk,hv,head,rd", GPU_SHAPES)
@pytest.mark.parametrize("yarn", YARN[:2])
def test_fused_qk_norm_rope_cuda_matches_cpu(dtype, is_neox, t, hq, hk, hv, head, rd, yarn):
    base, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, pad=8, max_pos=300000)
    bg = base.cuda()
    qkv_g = bg[:, : qkv.shape[1]]
    run(qkv, hq, hk, hv, head, qw, kw, pos, is_neox, yarn, rd)
    run(qkv_g, hq, hk, hv, head, qw.cuda(), kw.cuda(), pos.cuda(), is_neox, yarn, rd)
    torch.cuda.synchronize()
    assert_close(qkv_g, qkv.float(), dtype=dtype)
    v0 = (hq + hk) * head
    assert torch.equal(bg[:, v0:].cpu(), base[:, v0:])  # V and padding as the CPU left them: untouched


@gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("pos_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("weight_dtype", [None, torch.float32])
def test_fused_qk_norm_rope_cuda_strided_misaligned(dtype, pos_dtype, offset, weight_dtype):
    t, hq, hk, hv, head = 67, 16, 2, 2, 128
    base, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, pad=5, offset=offset, pos_dtype=pos_dtype,
                                       weight_dtype=weight_dtype)
    bg = base.clone().cuda()
    qkv_g = bg[:, : qkv.shape[1]]
    for is_neox in (True, False):
        run(qkv, hq, hk, hv, head, qw, kw, pos, is_neox, YARN[3])
        run(qkv_g, hq, hk, hv, head, qw.cuda(), kw.cuda(), pos.cuda(), is_neox, YARN[3])
    torch.cuda.synchronize()
    assert_close(qkv_g, qkv.float(), dtype=dtype, scale=2)
    assert torch.equal(bg[:, (hq + hk) * head :].cpu(), base[:, (hq + hk) * head :])


@gpu
def test_fused_qk_norm_rope_cuda_graph_replay():
    dtype, t, hq, hk, hv, head = torch.bfloat16, 16, 64, 4, 4, 128
    _, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, device="cuda")
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        run(qkv, hq, hk, hv, head, qw, kw, pos, True, YARN[0])
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        run(qkv, hq, hk, hv, head, qw, kw, pos, True, YARN[0])
    for _ in range(2):
        qkv.copy_(rand(*qkv.shape, dtype=dtype, device="cuda"))
        pos.copy_(torch.randint(0, 4096, (t,), device="cuda"))
        ref = qkv.cpu()
        run(ref, hq, hk, hv, head, qw.cpu(), kw.cpu(), pos.cpu(), True, YARN[0])
        g.replay()
        torch.cuda.synchronize()
        assert_close(qkv, ref.float(), dtype=dtype)


# ---------------------------------------------------------------- torch.library / compile
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_fused_qk_norm_rope(device):
    dtype, t, hq, hk, hv, head = torch.bfloat16, 5, 4, 2, 2, 64
    _, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, device=device)
    torch.library.opcheck(ops.fused_qk_norm_rope.default,
                          (qkv.clone(), hq, hk, hv, head, 1e-6, qw, kw, 1e4, True, pos, 1.0, 0.0, 0.0, 1.0, head))
    torch.library.opcheck(ops.fused_qk_norm_rope.default,
                          (qkv.clone(), hq, hk, hv, head, 1e-5, qw.float(), kw.float(), 1e6, False, pos.int(), 4.0,
                           2.0, 20.0, 1.1, 32))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_fused_qk_norm_rope(device):
    torch._dynamo.reset()
    dtype, t, hq, hk, hv, head = torch.float32, 6, 4, 2, 2, 64
    _, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, device=device)

    @torch.compile(fullgraph=True)
    def block(x):
        qkv2 = x * 1.0
        rope.fused_qk_norm_rope(qkv2, hq, hk, hv, head, 1e-6, qw, kw, 1e4, True, pos, 4.0, 2.0, 20.0, 1.1)
        q, k, v = qkv2.split([hq * head, hk * head, hv * head], dim=-1)
        return q + 1, k * 2, v

    q, k, v = block(qkv)
    ref = qkv.clone()
    rope.fused_qk_norm_rope(ref, hq, hk, hv, head, 1e-6, qw, kw, 1e4, True, pos, 4.0, 2.0, 20.0, 1.1)
    rq, rk, rv = ref.split([hq * head, hk * head, hv * head], dim=-1)
    assert_close(q, rq + 1)
    assert_close(k, rk * 2)
    assert torch.equal(v, rv)


# ---------------------------------------------------------------- bad inputs
def _raises(exc, match, fn, *args, **kw):
    # Direct torch.ops calls report a dtype error as ValueError("TypeError: ...")
    # (stable ABI, see sgl_kernel.errors); the Python functions as a TypeError.
    if exc is TypeError:
        with pytest.raises((TypeError, ValueError), match=match) as info:
            fn(*args, **kw)
        assert isinstance(info.value, TypeError) or str(info.value).startswith("TypeError: ")
        return
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_fused_qk_norm_rope_bad_inputs(device):
    dtype, t, hq, hk, hv, head = torch.bfloat16, 3, 4, 2, 2, 64
    _, qkv, qw, kw, pos = make_case(t, hq, hk, hv, head, dtype, device=device)
    op = ops.fused_qk_norm_rope

    def call(qkv=qkv, hq=hq, hk=hk, hv=hv, head=head, eps=1e-6, qw=qw, kw=kw, base=1e4, pos=pos, factor=1.0,
             low=0.0, high=0.0, af=1.0, rd=head):
        op(qkv, hq, hk, hv, head, eps, qw, kw, base, True, pos, factor, low, high, af, rd)

    _raises(TypeError, "qkv must have dtype", call, qkv=qkv.int())
    _raises(ValueError, "qkv must have shape", call, hv=3)
    _raises(ValueError, "qkv must have shape", call, qkv=qkv.view(t, -1, head))
    _raises(ValueError, "head_dim must be even", call, head=63)
    _raises(ValueError, "num_heads_q", call, hq=-1)
    _raises(ValueError, "stride 1", call, qkv=rand(t, 2 * qkv.shape[1], dtype=dtype, device=device)[:, ::2])
    _raises(ValueError, "rotary_dim must be", call, rd=65)
    _raises(ValueError, "rotary_dim must be", call, rd=0)
    _raises(ValueError, "rotary_dim must be", call, rd=31)
    _raises(TypeError, "q_weight must have qkv's dtype", call, qw=qw.half(), kw=kw.half())
    _raises(TypeError, "k_weight must have the dtype of q_weight", call, kw=kw.float())
    _raises(ValueError, "q_weight must have shape", call, qw=qw[:32])
    _raises(ValueError, "k_weight must have shape", call, kw=torch.ones(2, head, dtype=dtype, device=device))
    _raises(TypeError, "position_ids must have dtype", call, pos=pos.float())
    _raises(ValueError, "position_ids must have shape", call, pos=pos[:2])
    _raises(ValueError, "base must be", call, base=0.0)
    _raises(ValueError, "factor must be", call, factor=0.0)
    _raises(ValueError, "low and high must be finite", call, factor=2.0, high=math.inf)
    _raises(ValueError, "eps must be", call, eps=-1.0)
    if device == "cuda":
        _raises(RuntimeError, "position_ids must be on the device of qkv", call, pos=pos.cpu())
        _raises(RuntimeError, "q_weight must be on the device of qkv", call, qw=qw.cpu())
