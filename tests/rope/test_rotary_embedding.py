"""rotary_embedding (vLLM positions form) and rotary_embedding_cos_sin (cos/sin
gathered per token), with the module-form wrappers. The CPU op is checked
against float64 formulas written from api/modules.md; the CUDA op against the
CPU op, bit for bit (same fp32 operations, no contraction)."""

import pytest
import torch

from sgl_kernel import rope
from sgl_kernel.testing import FLOAT_DTYPES, assert_close

gpu = pytest.mark.gpu
ops = torch.ops.sgl_kernel


def rand(*shape, dtype, device="cpu"):
    return torch.randn(*shape, dtype=torch.float32, device=device).to(dtype)


def make_cache(max_pos, rotary_dim, dtype=torch.float32, base=10000.0):
    inv = base ** (-torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
    f = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([f.cos(), f.sin()], dim=-1).to(dtype)


def qkv_views(lead, hq, hk, head, dtype, device="cpu", pad=24, offset=0):
    """query and key as column slices of one fused [*lead, (hq + 2 hk) * head + pad] tensor."""
    width = (hq + 2 * hk) * head
    base = rand(*lead, width + pad + offset, dtype=dtype, device=device)[..., offset:]
    return base, base[..., : hq * head], base[..., hq * head : (hq + hk) * head]


# ---------------------------------------------------------------- float64 references
def rotate_ref(x, a_idx, b_idx, cx, sx, cy, sy):
    """x [T, H, D] float64; cos/sin [T, n] broadcast over heads."""
    out = x.clone()
    xa, xb = x[..., a_idx], x[..., b_idx]
    cx, sx, cy, sy = (t[:, None, :] for t in (cx, sx, cy, sy))
    out[..., a_idx] = xa * cx - xb * sx
    out[..., b_idx] = xb * cy + xa * sy
    return out


def ref_positions(positions, x, head_size, cache, is_neox):
    """modules.md: row = [cos_0..cos_{R/2-1}, sin_0..]; pairs (j, j+R/2) or (2j, 2j+1)."""
    t = positions.numel()
    xv = x.double().cpu().reshape(t, -1, head_size)
    pos = positions.reshape(-1).long().cpu()
    rd = cache.shape[1]
    half = rd // 2
    cs = cache.double().cpu()[pos]
    c, s = cs[:, :half], cs[:, half:]
    a = torch.arange(half) if is_neox else torch.arange(0, rd, 2)
    b = a + half if is_neox else a + 1
    return rotate_ref(xv, a, b, c, s, c, s)


def ref_cos_sin(cos, sin, x, head_size, interleaved):
    """modules.md: interleaved pairs (2j, 2j+1) j < C with cos[t,j], sin[t,j]
    (C == D: cos[t,2j], sin[t,2j+1]); else C = rotary width, pairs (j, j+C/2),
    x' = x cos[j] - y sin[j], y' = y cos[j+C/2] + x sin[j+C/2]."""
    t = x.shape[0]
    xv = x.double().cpu().reshape(t, -1, head_size)
    cos, sin = cos.double().cpu(), sin.double().cpu()
    c = cos.shape[1]
    if interleaved:
        cx, sx = (cos[:, 0::2], sin[:, 1::2]) if c == head_size else (cos, sin)
        a = torch.arange(0, 2 * cx.shape[1], 2)
        return rotate_ref(xv, a, a + 1, cx, sx, cx, sx)
    half = c // 2
    a = torch.arange(half)
    return rotate_ref(xv, a, a + half, cos[:, :half], sin[:, :half], cos[:, half:], sin[:, half:])


def heads(x, head_size):
    """Any [..., H * D] or [..., H, D] tensor as [rows, D] (references included)."""
    return x.reshape(-1, head_size)


# ---------------------------------------------------------------- rotary_embedding, CPU vs formula
SHAPES = [
    # T, hq, hk, head, rotary_dim
    (1, 64, 4, 128, 128),
    (199, 8, 2, 128, 128),
    (7, 4, 1, 128, 64),
    (13, 3, 3, 100, 36),
    (5, 2, 1, 2, 2),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("is_neox", [True, False])
@pytest.mark.parametrize("t,hq,hk,head,rd", SHAPES)
@pytest.mark.parametrize("cache_kind", ["float32", "model"])
def test_rotary_embedding_cpu_matches_formula(dtype, is_neox, t, hq, hk, head, rd, cache_kind):
    max_pos = 300
    cache = make_cache(max_pos, rd, torch.float32 if cache_kind == "float32" else dtype)
    pos = torch.randint(0, max_pos, (t,))
    base, q, k = qkv_views((t,), hq, hk, head, dtype)
    keep = base.clone()
    expect_q = ref_positions(pos, q, head, cache, is_neox)
    expect_k = ref_positions(pos, k, head, cache, is_neox)
    rope.rotary_embedding(pos, q, k, head, cache, is_neox)
    assert_close(heads(q, head), heads(expect_q, head))
    assert_close(heads(k, head), heads(expect_k, head))
    # lanes past the rotary width, v and the row padding are untouched bit for bit
    qv, qv0 = heads(q, head), heads(keep[:, : hq * head], head)
    assert torch.equal(qv[..., rd:], qv0[..., rd:])
    assert torch.equal(base[:, (hq + hk) * head :], keep[:, (hq + hk) * head :])


@pytest.mark.parametrize("pos_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("layout", ["flat", "split"])
@pytest.mark.parametrize("with_key", [True, False])
def test_rotary_embedding_batched_positions_cpu(pos_dtype, layout, with_key):
    dtype, b, s, hq, hk, head, rd = torch.bfloat16, 3, 5, 8, 2, 64, 64
    cache = make_cache(64, rd, dtype)
    pos = torch.randint(0, 64, (b, s), dtype=pos_dtype)
    base, q, k = qkv_views((b, s), hq, hk, head, dtype)
    if layout == "split":
        q, k = q.unflatten(-1, (hq, head)), k.unflatten(-1, (hk, head))
    keep = base.clone()
    expect_q = ref_positions(pos, q, head, cache, True)
    expect_k = ref_positions(pos, k, head, cache, True)
    rope.rotary_embedding(pos, q, k if with_key else None, head, cache)
    assert_close(heads(q, head), heads(expect_q, head))
    if with_key:
        assert_close(heads(k, head), heads(expect_k, head))
    else:
        assert torch.equal(base[..., hq * head :], keep[..., hq * head :])


def test_rotary_embedding_nan_passthrough_cpu():
    t, hq, hk, head, rd = 4, 2, 1, 64, 32
    cache = make_cache(16, rd)
    pos = torch.randint(0, 16, (t,))
    q, k = rand(t, hq * head, dtype=torch.float32), rand(t, hk * head, dtype=torch.float32)
    q[1, 3] = float("nan")  # neox: lane 3 pairs with lane 3 + 16
    q[2, 40] = float("nan")  # past the rotary width
    expect = ref_positions(pos, q, head, cache, True)
    rope.rotary_embedding(pos, q, k, head, cache, True)
    qv = q.view(t, hq, head)
    assert torch.isnan(qv[1, 0, 3]) and torch.isnan(qv[1, 0, 19]) and torch.isnan(qv[2, 0, 40])
    assert torch.isnan(qv).sum() == 3
    assert_close(qv, expect)


def test_rotary_embedding_empty_cpu():
    q = torch.empty(0, 4 * 64)
    rope.rotary_embedding(torch.empty(0, dtype=torch.int64), q, None, 64, make_cache(8, 64))


# ---------------------------------------------------------------- rotary_embedding_cos_sin, CPU vs formula
def cos_sin_tables(t, c, dtype, device="cpu", full_repeat=None):
    """Random-angle cos/sin [t, c]; full_repeat "interleaved" repeats each value
    twice (c == head_size tables), "halves" repeats the half (HF tables)."""
    n = c // 2 if full_repeat else c
    ang = torch.rand(t, n, dtype=torch.float64) * 100
    cos, sin = ang.cos(), ang.sin()
    if full_repeat == "interleaved":
        cos, sin = cos.repeat_interleave(2, -1), sin.repeat_interleave(2, -1)
    elif full_repeat == "halves":
        cos, sin = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
    return cos.to(dtype).to(device), sin.to(dtype).to(device)


COS_SIN_CASES = [
    # T, hq, hk, head, C, interleaved
    (1, 16, 16, 80, 40, True),    # Qwen2-VL-like vision tower, C = head / 2
    (199, 4, 2, 64, 64, True),    # C == head: full-width table reduced to cos[2j], sin[2j+1]
    (9, 3, 1, 64, 16, True),      # rotary width 32 < head
    (1, 16, 16, 80, 80, False),   # HF full-width, whole head
    (199, 4, 2, 64, 32, False),   # rotary width 32 < head
    (6, 2, 1, 10, 6, False),      # odd sizes, scalar path
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("t,hq,hk,head,c,interleaved", COS_SIN_CASES)
@pytest.mark.parametrize("table_dtype", ["model", "float32"])
def test_rotary_embedding_cos_sin_cpu_matches_formula(dtype, t, hq, hk, head, c, interleaved, table_dtype):
    tdt = dtype if table_dtype == "model" else torch.float32
    # random (not repeated) tables: the formula's index choices matter
    cos, sin = rand(t, c, dtype=tdt), rand(t, c, dtype=tdt)
    base, q, k = qkv_views((t,), hq, hk, head, dtype)
    keep = base.clone()
    expect_q = ref_cos_sin(cos, sin, q, head, interleaved)
    expect_k = ref_cos_sin(cos, sin, k, head, interleaved)
    rope.rotary_embedding_cos_sin(cos, sin, q, k, head, interleaved)
    assert_close(heads(q, head), heads(expect_q, head))
    assert_close(heads(k, head), heads(expect_k, head))
    assert torch.equal(base[:, (hq + hk) * head :], keep[:, (hq + hk) * head :])


@pytest.mark.parametrize("interleaved", [True, False])
def test_cos_sin_form_equals_positions_form_cpu(interleaved):
    """Real tables built from a cache give the positions op's result."""
    dtype, t, hq, hk, head = torch.float32, 11, 4, 2, 64
    cache = make_cache(128, head)
    pos = torch.randint(0, 128, (t,))
    cs = cache[pos]
    c, s = cs[:, : head // 2], cs[:, head // 2 :]
    if interleaved:
        cos, sin = c.repeat_interleave(2, -1), s.repeat_interleave(2, -1)  # C == head
    else:
        cos, sin = torch.cat([c, c], -1), torch.cat([s, s], -1)
    q, k = rand(t, hq * head, dtype=dtype), rand(t, hk * head, dtype=dtype)
    q2, k2 = q.clone(), k.clone()
    rope.rotary_embedding(pos, q, k, head, cache, not interleaved)
    rope.rotary_embedding_cos_sin(cos, sin, q2, k2, head, interleaved)
    assert torch.equal(q, q2) and torch.equal(k, k2)


def test_rotary_embedding_cos_sin_key_none_and_nan_cpu():
    t, hq, head = 5, 3, 32
    cos, sin = rand(t, 16, dtype=torch.float32), rand(t, 16, dtype=torch.float32)
    q = rand(t, hq, head, dtype=torch.float32)
    q[2, 1, 4] = float("nan")  # interleaved: pairs with lane 5
    expect = ref_cos_sin(cos, sin, q, head, True)
    rope.rotary_embedding_cos_sin(cos, sin, q, None, head, True)
    assert torch.isnan(q).sum() == 2 and torch.isnan(q[2, 1, 5])
    assert_close(q, expect)


# ---------------------------------------------------------------- module-form wrappers
def test_module_form_flag_rules_cpu():
    t, hq, head = 3, 2, 32
    cache = make_cache(16, head)
    pos = torch.randint(0, 16, (t,))
    x = rand(t, hq * head, dtype=torch.float32)

    def run_pos(**kw):
        y = x.clone()
        rope.rotary_embedding_with_positions(pos, y, None, head, cos_sin_cache=cache, **kw)
        return y

    neox = x.clone()
    rope.rotary_embedding(pos, neox, None, head, cache, True)
    gptj = x.clone()
    rope.rotary_embedding(pos, gptj, None, head, cache, False)
    # default True; is_neox wins; interleaved is the same flag
    assert torch.equal(run_pos(), neox)
    assert torch.equal(run_pos(is_neox=False), gptj)
    assert torch.equal(run_pos(interleaved=False), gptj)
    assert torch.equal(run_pos(interleaved=True), neox)
    assert torch.equal(run_pos(interleaved=False, is_neox=False), gptj)
    with pytest.raises(ValueError, match="disagree"):
        run_pos(interleaved=True, is_neox=False)
    with pytest.raises(ValueError, match="head_size"):
        rope.rotary_embedding_with_positions(pos, x.clone(), cos_sin_cache=cache)

    cos, sin = rand(t, 16, dtype=torch.float32), rand(t, 16, dtype=torch.float32)

    def run_cs(**kw):
        y = x.clone()
        rope.rotary_embedding_cos_sin(cos, sin, y, None, head, **kw)
        return y

    inter = x.clone()
    ops.rotary_embedding_cos_sin(cos, sin, inter, None, head, True)
    assert torch.equal(run_cs(), inter)
    assert torch.equal(run_cs(is_neox=True), inter)
    c32, s32 = rand(t, 32, dtype=torch.float32), rand(t, 32, dtype=torch.float32)
    y1, y2 = x.clone(), x.clone()
    rope.rotary_embedding_cos_sin(c32, s32, y1, None, head, interleaved=False)
    ops.rotary_embedding_cos_sin(c32, s32, y2, None, head, False)
    assert torch.equal(y1, y2)
    with pytest.raises(ValueError, match="disagree"):
        rope.rotary_embedding_cos_sin(cos, sin, x.clone(), None, head, False, is_neox=True)
    with pytest.raises(ValueError, match="head_size"):
        rope.rotary_embedding_cos_sin(cos, sin, x.clone(), None, 0)


def test_apply_rotary_embedding_cpu():
    t, hq, head = 3, 2, 32
    cache = make_cache(16, head)
    pos = torch.randint(0, 16, (t,))
    x = rand(t, hq * head, dtype=torch.float32)
    a, b = x.clone(), x.clone()
    rope.apply_rotary_embedding(mode="positions", query=a, head_size=head, is_neox=False, positions=pos,
                                cos_sin_cache=cache)
    rope.rotary_embedding(pos, b, None, head, cache, False)
    assert torch.equal(a, b)
    cos, sin = rand(t, 16, dtype=torch.float32), rand(t, 16, dtype=torch.float32)
    a, b = x.clone(), x.clone()
    rope.apply_rotary_embedding(mode="cos_sin", query=a, head_size=head, cos=cos, sin=sin)
    rope.rotary_embedding_cos_sin(cos, sin, b, None, head, True)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="needs cos and sin"):
        rope.apply_rotary_embedding(mode="cos_sin", query=x, head_size=head, cos=cos)
    with pytest.raises(ValueError, match="needs positions"):
        rope.apply_rotary_embedding(mode="positions", query=x, head_size=head, positions=pos)
    with pytest.raises(ValueError, match="mode must be"):
        rope.apply_rotary_embedding(mode="other", query=x, head_size=head)


# ---------------------------------------------------------------- CUDA vs CPU (bit for bit)
GPU_SHAPES = [
    # lead, hq, hk, head, rotary_dim
    ((1,), 64, 4, 128, 128),
    ((16,), 64, 4, 128, 128),
    ((1024,), 64, 4, 128, 128),
    ((199,), 8, 2, 128, 64),
    ((3, 67), 8, 1, 64, 64),
    ((13,), 3, 3, 100, 36),  # no vector path
]


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("is_neox", [True, False])
@pytest.mark.parametrize("lead,hq,hk,head,rd", GPU_SHAPES)
@pytest.mark.parametrize("cache_kind", ["float32", "model"])
@pytest.mark.parametrize("pos_dtype", [torch.int32, torch.int64])
def test_rotary_embedding_cuda_matches_cpu(dtype, is_neox, lead, hq, hk, head, rd, cache_kind, pos_dtype):
    cache = make_cache(4096, rd, torch.float32 if cache_kind == "float32" else dtype)
    pos = torch.randint(0, 4096, lead, dtype=pos_dtype)
    for offset, with_key in ((0, True), (1, False)):
        base, q, k = qkv_views(lead, hq, hk, head, dtype, offset=offset)
        bg = base.cuda()
        rope.rotary_embedding(pos, q, k if with_key else None, head, cache, is_neox)
        n = hq * head
        rope.rotary_embedding(pos.cuda(), bg[..., :n], bg[..., n : n + hk * head] if with_key else None, head,
                              cache.cuda(), is_neox)
        torch.cuda.synchronize()
        assert torch.equal(bg.cpu(), base)


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("t,hq,hk,head,c,interleaved", COS_SIN_CASES + [(4096, 16, 16, 80, 40, True),
                                                                         (4096, 16, 16, 80, 80, False)])
@pytest.mark.parametrize("table_dtype", ["model", "float32"])
def test_rotary_embedding_cos_sin_cuda_matches_cpu(dtype, t, hq, hk, head, c, interleaved, table_dtype):
    tdt = dtype if table_dtype == "model" else torch.float32
    for offset in (0, 1):
        cos = rand(t, c + 8, dtype=tdt)[:, offset : offset + c]  # strided rows
        sin = rand(t, c, dtype=tdt)
        base, q, k = qkv_views((t,), hq, hk, head, dtype, offset=offset)
        bg = base.cuda()
        rope.rotary_embedding_cos_sin(cos, sin, q, k, head, interleaved)
        n = hq * head
        rope.rotary_embedding_cos_sin(cos.cuda(), sin.cuda(), bg[:, :n], bg[:, n : n + hk * head], head, interleaved)
        torch.cuda.synchronize()
        assert torch.equal(bg.cpu(), base)


@gpu
def test_rotary_ops_cuda_graph_replay():
    dtype, t, hq, hk, head = torch.bfloat16, 16, 64, 4, 128
    cache = make_cache(1024, head, dtype).cuda()
    pos = torch.randint(0, 1024, (t,), device="cuda")
    cos, sin = rand(t, head // 2, dtype=dtype, device="cuda"), rand(t, head // 2, dtype=dtype, device="cuda")
    base, q, k = qkv_views((t,), hq, hk, head, dtype, device="cuda")

    def body():
        rope.rotary_embedding(pos, q, k, head, cache, True)
        rope.rotary_embedding_cos_sin(cos, sin, q, k, head, True)

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        body()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        body()
    for _ in range(2):
        base.copy_(rand(*base.shape, dtype=dtype, device="cuda"))
        pos.copy_(torch.randint(0, 1024, (t,), device="cuda"))
        ref = base.cpu()
        n = hq * head
        rq, rk = ref[:, :n], ref[:, n : n + hk * head]
        rope.rotary_embedding(pos.cpu(), rq, rk, head, cache.cpu(), True)
        rope.rotary_embedding_cos_sin(cos.cpu(), sin.cpu(), rq, rk, head, True)
        g.replay()
        torch.cuda.synchronize()
        assert torch.equal(base.cpu(), ref)


# ---------------------------------------------------------------- torch.library / compile
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_rotary(device):
    dtype, t, hq, hk, head = torch.bfloat16, 5, 4, 2, 64
    cache = make_cache(16, 64, dtype).to(device)
    pos = torch.randint(0, 16, (t,), device=device)
    q, k = rand(t, hq * head, dtype=dtype, device=device), rand(t, hk, head, dtype=dtype, device=device)
    torch.library.opcheck(ops.rotary_embedding.default, (pos, q.clone(), k.clone(), head, cache, True))
    torch.library.opcheck(ops.rotary_embedding.default, (pos.view(1, t), q.clone().view(1, t, -1), None, head,
                                                         cache.float(), False))
    cos, sin = rand(t, 32, dtype=dtype, device=device), rand(t, 32, dtype=dtype, device=device)
    torch.library.opcheck(ops.rotary_embedding_cos_sin.default, (cos, sin, q.clone(), k.clone(), head, True))
    torch.library.opcheck(ops.rotary_embedding_cos_sin.default, (cos, sin, q.clone(), None, head, False))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_rotary(device):
    torch._dynamo.reset()
    t, hq, hk, head = 4, 4, 2, 64
    cache = make_cache(32, head).to(device)
    cos, sin = rand(t, 32, dtype=torch.float32, device=device), rand(t, 32, dtype=torch.float32, device=device)

    @torch.compile(fullgraph=True)
    def block(qkv, pos):
        q, k, _ = qkv.split([hq * head, hk * head, hk * head], dim=-1)
        rope.rotary_embedding(pos, q, k, head, cache, True)
        rope.rotary_embedding_cos_sin(cos, sin, q, k, head, is_neox=True)
        rope.apply_rotary_embedding(mode="positions", query=q, head_size=head, interleaved=False, positions=pos,
                                    cos_sin_cache=cache)
        return q * 2, k + 1

    qkv = rand(t, (hq + 2 * hk) * head, dtype=torch.float32, device=device)
    pos = torch.randint(0, 32, (t,), device=device)
    ref = qkv.clone()
    q_exp, k_exp = ref[:, : hq * head], ref[:, hq * head : (hq + hk) * head]
    rope.rotary_embedding(pos, q_exp, k_exp, head, cache, True)
    rope.rotary_embedding_cos_sin(cos, sin, q_exp, k_exp, head, True)
    rope.rotary_embedding(pos, q_exp, None, head, cache, False)
    q2, k2 = block(qkv, pos)
    assert_close(q2, q_exp * 2)
    assert_close(k2, k_exp + 1)


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
def test_rotary_embedding_bad_inputs(device):
    t, hq, hk, head, dt = 3, 4, 2, 64, torch.bfloat16
    q, k = rand(t, hq * head, dtype=dt, device=device), rand(t, hk * head, dtype=dt, device=device)
    cache = make_cache(16, 64, dt).to(device)
    pos = torch.zeros(t, dtype=torch.int64, device=device)
    op = ops.rotary_embedding
    _raises(TypeError, "query must have dtype", op, pos, q.int(), None, head, cache, True)
    _raises(TypeError, "key must have the dtype of query", op, pos, q, k.float(), head, cache, True)
    _raises(TypeError, "positions must have dtype", op, pos.float(), q, k, head, cache, True)
    _raises(TypeError, "cos_sin_cache must have dtype", op, pos, q, k, head, cache.half(), True)
    _raises(ValueError, "head_size must be positive", op, pos, q, k, 0, cache, True)
    _raises(ValueError, "query must have shape", op, pos, q[:, :100], k, head, cache, True)
    _raises(ValueError, "query must have shape", op, pos[:2], q, k, head, cache, True)
    _raises(ValueError, "key's head count", op, pos, q, rand(t, 3 * head, dtype=dt, device=device), head, cache,
            True)
    _raises(ValueError, "stride 1", op, pos, rand(t, hq * head * 2, dtype=dt, device=device)[:, ::2], k, head,
            cache, True)
    _raises(ValueError, "rotary_dim", op, pos, q, k, 32, cache, True)
    _raises(ValueError, "positions must be 1-D", op, pos.view(1, 1, t), q.view(1, 1, t, -1), k, head, cache, True)
    qb = rand(6, 4, hq * head, dtype=dt, device=device).transpose(0, 1)  # [4, 6, ...], not one token dim
    _raises(ValueError, "viewable as one token dim", op, torch.zeros(4, 6, dtype=torch.int64, device=device), qb,
            None, head, cache, True)
    cos, sin = rand(t, 32, dtype=dt, device=device), rand(t, 32, dtype=dt, device=device)
    cop = ops.rotary_embedding_cos_sin
    _raises(TypeError, "cos must have query's dtype", cop, cos.half(), sin.half(), q, k, head, True)
    _raises(TypeError, "sin must have the dtype of cos", cop, cos, sin.float(), q, k, head, True)
    _raises(ValueError, "cos must have shape", cop, cos[:2], sin[:2], q, k, head, True)
    _raises(ValueError, "sin must have shape", cop, cos, sin[:, :16], q, k, head, True)
    _raises(ValueError, "at most head_size / 2", cop, rand(t, 40, dtype=dt, device=device),
            rand(t, 40, dtype=dt, device=device), q, k, head, True)
    _raises(ValueError, "rotary width", cop, rand(t, 31, dtype=dt, device=device),
            rand(t, 31, dtype=dt, device=device), q, k, head, False)
    _raises(ValueError, "query must be", cop, cos, sin, q.view(-1), None, head, True)
    if device == "cpu":
        _raises(ValueError, r"positions\[1\] = 16 is out of range", op, torch.tensor([0, 16, 0]), q, k, head, cache,
                True)
    else:
        _raises(RuntimeError, "positions must be on the device of query", op, pos.cpu(), q, k, head, cache, True)
        _raises(RuntimeError, "cos must be on the device of query", cop, cos.cpu(), sin, q, k, head, True)
