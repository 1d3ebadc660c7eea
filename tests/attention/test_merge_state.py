import math

import pytest
import torch

import sgl_kernel
from sgl_kernel.testing import FLOAT_DTYPES, assert_close, poison

gpu = pytest.mark.gpu
INF = float("inf")


def ref_merge(v_a, s_a, v_b, s_b, base2):
    """float64 formula; an infinite LSE is an empty part (weight 0, v ignored)."""
    sa, sb = s_a.double(), s_b.double()
    sa = torch.where(torch.isinf(sa), -INF, sa)
    sb = torch.where(torch.isinf(sb), -INF, sb)
    m = torch.maximum(sa, sb)  # propagates NaN
    empty = m == -INF
    m_safe = torch.where(empty, 0.0, m)
    exp = torch.exp2 if base2 else torch.exp
    log = torch.log2 if base2 else torch.log
    wa, wb = exp(sa - m_safe), exp(sb - m_safe)
    total = wa + wb
    ta = torch.where(wa[..., None] == 0, 0.0, wa[..., None] * v_a.double())
    tb = torch.where(wb[..., None] == 0, 0.0, wb[..., None] * v_b.double())
    v = torch.where(empty[..., None], 0.0, (ta + tb) / total[..., None])
    s = torch.where(empty, -INF, m_safe + log(total))
    return v, s


def rand(*shape, dtype, device="cpu", scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32, device=device) * scale).to(dtype)


def inputs(tokens, heads, head_dim, dtype, device="cpu"):
    v_a, v_b = rand(tokens, heads, head_dim, dtype=dtype, device=device), rand(tokens, heads, head_dim, dtype=dtype, device=device)
    s_a, s_b = rand(tokens, heads, dtype=torch.float32, device=device, scale=4), rand(tokens, heads, dtype=torch.float32, device=device, scale=4)
    return v_a, s_a, v_b, s_b


def fn_of(base2):
    return sgl_kernel.merge_state if base2 else sgl_kernel.merge_state_v2


def check(v_a, s_a, v_b, s_b, base2, v_out=None, s_out=None):
    expect_v, expect_s = ref_merge(v_a, s_a, v_b, s_b, base2)
    v, s = fn_of(base2)(v_a, s_a, v_b, s_b, v_out, s_out)
    assert_close(v, expect_v, dtype=v_a.dtype)
    assert_close(s, expect_s, dtype=torch.float32, scale=2)
    return v, s


# ---------------------------------------------------------------- CPU vs formula
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("tokens,heads,head_dim", [(1, 1, 1), (3, 1, 7), (5, 4, 100), (7, 32, 128), (2, 2048, 8), (4, 3, 256)])
@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_cpu_matches_formula(dtype, tokens, heads, head_dim, base2):
    v_a, s_a, v_b, s_b = inputs(tokens, heads, head_dim, dtype)
    v_out = poison(torch.empty_like(v_a))
    s_out = poison(torch.empty_like(s_a))
    v, s = check(v_a, s_a, v_b, s_b, base2, v_out, s_out)
    assert v is v_out and s is s_out


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_infinite_lse_cpu(dtype, base2):
    tokens, heads, head_dim = 6, 2, 16
    v_a, s_a, v_b, s_b = inputs(tokens, heads, head_dim, dtype)
    s_a[0, 0] = -INF             # a empty -> v_b, s_b
    s_b[1, 1] = -INF             # b empty -> v_a, s_a
    s_a[2, 0], s_b[2, 0] = -INF, -INF  # both empty -> 0, -inf
    s_a[3, 1] = INF              # +inf counts as empty
    s_a[4, 0], s_b[4, 0] = INF, -INF   # both empty
    v_a[0, 0] = float("nan")     # an empty part's v is ignored
    v_b[2, 0] = float("nan")
    v, s = check(v_a, s_a, v_b, s_b, base2)
    assert torch.equal(v[0, 0], v_b[0, 0]) and s[0, 0] == s_b[0, 0]
    assert torch.equal(v[1, 1], v_a[1, 1]) and s[1, 1] == s_a[1, 1]
    assert torch.equal(v[3, 1], v_b[3, 1]) and s[3, 1] == s_b[3, 1]
    for t in (2, 4):
        assert (v[t, 0] == 0).all() and s[t, 0] == -INF
    assert torch.isfinite(v[5]).all()


@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_nan_passthrough_cpu(base2):
    v_a, s_a, v_b, s_b = inputs(3, 2, 8, torch.float32)
    s_a[0, 0] = float("nan")     # NaN LSE: row and its s become NaN
    v_b[1, 1, 3] = float("nan")  # NaN in a non-empty part's v: that element
    v, s = check(v_a, s_a, v_b, s_b, base2)
    assert torch.isnan(v[0, 0]).all() and torch.isnan(s[0, 0])
    assert torch.isnan(v[1, 1, 3]) and torch.isfinite(s[1, 1])
    assert torch.isfinite(v[2]).all()


@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_equal_halves_cpu(base2):
    # Merging a part with itself keeps v and adds log(2) (or 1 in base 2).
    v_a, s_a, _, _ = inputs(4, 3, 32, torch.float32)
    v, s = fn_of(base2)(v_a, s_a, v_a, s_a)
    torch.testing.assert_close(v, v_a, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(s, s_a + (1.0 if base2 else math.log(2)), atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_strided_cpu(dtype, base2):
    tokens, heads, head_dim = 5, 4, 100
    # v_a: head-major storage viewed token-major; v_b: a slice of a wider buffer.
    v_a = rand(heads, tokens, head_dim, dtype=dtype).transpose(0, 1)
    v_b = rand(tokens, heads, head_dim + 12, dtype=dtype)[:, :, 3 : 3 + head_dim]
    s_a = rand(heads, tokens, dtype=torch.float32, scale=3).t()
    s_b = rand(tokens, heads * 2, dtype=torch.float32, scale=3)[:, ::2]
    v_out = poison(rand(tokens, heads * 2, head_dim, dtype=dtype))[:, 1::2]
    s_out = poison(torch.empty(tokens, heads + 1))[:, :heads]
    check(v_a, s_a, v_b, s_b, base2, v_out, s_out)


@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_in_place_cpu(base2):
    v_a, s_a, v_b, s_b = inputs(4, 8, 64, torch.bfloat16)
    expect_v, expect_s = ref_merge(v_a, s_a, v_b, s_b, base2)
    s_out = torch.full_like(s_a, float("nan"))
    fn_of(base2)(v_a, s_a, v_b, s_b, v_a, s_out)
    assert_close(v_a, expect_v)
    assert_close(s_out, expect_s, dtype=torch.float32)


def test_merge_state_empty_cpu():
    v_a, s_a, v_b, s_b = inputs(0, 4, 16, torch.float16)
    v, s = sgl_kernel.merge_state(v_a, s_a, v_b, s_b)
    assert v.shape == (0, 4, 16) and s.shape == (0, 4)


# ---------------------------------------------------------------- CUDA vs CPU
@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "tokens,heads,head_dim",
    [(1, 1, 1), (1, 64, 128), (16, 64, 128), (1024, 32, 128), (3, 5, 7), (9, 3, 100), (2, 2048, 8), (4, 1536, 256), (7, 8, 512)],
)
@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_cuda_matches_cpu(dtype, tokens, heads, head_dim, base2):
    v_a, s_a, v_b, s_b = inputs(tokens, heads, head_dim, dtype)
    s_a[0, 0] = -INF
    if tokens * heads > 2:
        s_b[-1, -1] = INF
        s_a[-1, -1] = -INF
    cpu_v, cpu_s = fn_of(base2)(v_a, s_a, v_b, s_b)
    g = [t.cuda() for t in (v_a, s_a, v_b, s_b)]
    v_out, s_out = poison(torch.empty_like(g[0])), poison(torch.empty_like(g[1]))
    fn_of(base2)(*g, v_out, s_out)
    assert_close(v_out, cpu_v)
    torch.testing.assert_close(s_out.cpu(), cpu_s, atol=1e-5, rtol=1e-6)
    assert_close(v_out, ref_merge(v_a, s_a, v_b, s_b, base2)[0])


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("base2", [True, False])
def test_merge_state_cuda_strided_and_misaligned(dtype, offset, base2):
    # offset=1 moves rows off 16-byte alignment: the element path.
    tokens, heads, head_dim = 33, 16, 128
    v_a = rand(heads, tokens, head_dim + offset, dtype=dtype, device="cuda").transpose(0, 1)[:, :, offset:]
    v_b = rand(tokens, heads, head_dim + 8 + offset, dtype=dtype, device="cuda")[:, :, offset : offset + head_dim]
    s_a = rand(heads, tokens, dtype=torch.float32, device="cuda", scale=3).t()
    s_b = rand(tokens, heads, dtype=torch.float32, device="cuda", scale=3)
    v_out = poison(torch.empty(tokens, heads, head_dim + offset, dtype=dtype, device="cuda"))[:, :, offset:]
    v, s = fn_of(base2)(v_a, s_a, v_b, s_b, v_out)
    cpu_v, cpu_s = fn_of(base2)(v_a.cpu(), s_a.cpu(), v_b.cpu(), s_b.cpu())
    assert_close(v, cpu_v)
    torch.testing.assert_close(s.cpu(), cpu_s, atol=1e-5, rtol=1e-6)


@gpu
def test_merge_state_cuda_special_values():
    v_a, s_a, v_b, s_b = inputs(6, 2, 16, torch.bfloat16)
    s_a[0, 0] = -INF
    s_b[1, 1] = -INF
    s_a[2, 0], s_b[2, 0] = -INF, -INF
    s_a[3, 1] = INF
    s_a[4, 0] = float("nan")
    v_a[0, 0] = float("nan")
    for base2 in (True, False):
        cpu_v, cpu_s = fn_of(base2)(v_a, s_a, v_b, s_b)
        v, s = fn_of(base2)(*(t.cuda() for t in (v_a, s_a, v_b, s_b)))
        assert torch.equal(v.cpu().isnan(), cpu_v.isnan())
        assert_close(v, cpu_v)
        torch.testing.assert_close(s.cpu(), cpu_s, atol=1e-5, rtol=1e-6, equal_nan=True)


@gpu
def test_merge_state_cuda_graph_replay():
    v_a, s_a, v_b, s_b = inputs(16, 64, 128, torch.bfloat16, device="cuda")
    v_out, s_out = torch.empty_like(v_a), torch.empty_like(s_a)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.merge_state(v_a, s_a, v_b, s_b, v_out, s_out)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.merge_state(v_a, s_a, v_b, s_b, v_out, s_out)
        sgl_kernel.merge_state_v2(v_out, s_out, v_b, s_b, v_a, s_a.new_empty(s_a.shape))
    for _ in range(2):
        new = inputs(16, 64, 128, torch.bfloat16, device="cuda")
        for dst, src in zip((v_a, s_a, v_b, s_b), new):
            dst.copy_(src)
        g.replay()
        torch.cuda.synchronize()
        ev, es = ref_merge(*(t.cpu() for t in new), True)
        assert_close(v_out, ev)
        torch.testing.assert_close(s_out.cpu(), es.float(), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- torch.library / compile
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_merge_state(device):
    v_a, s_a, v_b, s_b = inputs(5, 4, 64, torch.bfloat16, device=device)
    ops = torch.ops.sgl_kernel
    for op in (ops.merge_state.default, ops.merge_state_v2.default):
        torch.library.opcheck(op, (v_a, s_a, v_b, s_b, torch.empty_like(v_a), torch.empty_like(s_a)))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_merge_state(device):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def merge3(v_a, s_a, v_b, s_b, v_c, s_c):
        v, s = sgl_kernel.merge_state_v2(v_a * 1, s_a, v_b, s_b)
        return sgl_kernel.merge_state_v2(v, s, v_c, s_c)

    v_a, s_a, v_b, s_b = inputs(4, 8, 32, torch.float32, device=device)
    v_c, s_c = rand(4, 8, 32, dtype=torch.float32, device=device), rand(4, 8, dtype=torch.float32, device=device)
    v, s = merge3(v_a, s_a, v_b, s_b, v_c, s_c)
    # Three-way merge equals the direct softmax-weighted combination.
    ss = torch.stack([s_a, s_b, s_c]).cpu().double()
    w = torch.softmax(ss, dim=0)
    expect_v = sum(w[i][..., None] * t.cpu().double() for i, t in enumerate((v_a, v_b, v_c)))
    assert_close(v, expect_v, scale=4)
    torch.testing.assert_close(s.cpu().double(), torch.logsumexp(ss, 0), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- bad inputs
def _raises(exc, match, fn, *args, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_merge_state_bad_inputs(device):
    v_a, s_a, v_b, s_b = inputs(4, 2, 16, torch.float16, device=device)
    f = sgl_kernel.merge_state
    _raises(TypeError, "v_a must have dtype", f, v_a.int(), s_a, v_b.int(), s_b)
    _raises(TypeError, "v_b must have the dtype of v_a", f, v_a, s_a, v_b.float(), s_b)
    _raises(TypeError, "s_a must have dtype float32", f, v_a, s_a.half(), v_b, s_b)
    _raises(TypeError, "s_b must have dtype float32", f, v_a, s_a, v_b, s_b.double())
    _raises(ValueError, "v_a must be 3-D", f, v_a[0], s_a, v_b[0], s_b)
    _raises(ValueError, "v_b must have shape", f, v_a, s_a, v_b[:3], s_b)
    _raises(ValueError, r"s_a must have shape \[4, 2\]", f, v_a, s_a[:3], v_b, s_b)
    _raises(ValueError, "s_b must have shape", f, v_a, s_a, v_b, s_b[..., None])
    _raises(ValueError, "v_a must have stride 1", f, rand(4, 2, 32, dtype=torch.float16, device=device)[..., ::2], s_a, v_b, s_b)
    _raises(ValueError, "v_merged must have shape", f, v_a, s_a, v_b, s_b, torch.empty_like(v_a)[:, :1])
    _raises(TypeError, "v_merged must have the dtype", f, v_a, s_a, v_b, s_b, v_a.float())
    _raises(ValueError, "s_merged must have shape", f, v_a, s_a, v_b, s_b, None, torch.empty(4, 3, device=device))
    _raises(ValueError, "s_merged must not overlap s_a", f, v_a, s_a, v_b, s_b, None, s_a)
    buf = rand(4 * 2 * 16 + 1, dtype=torch.float16, device=device)
    _raises(ValueError, "v_merged must be v_b itself", f, v_a, s_a, buf[:-1].view(4, 2, 16), s_b, buf[1:].view(4, 2, 16))
    _raises(ValueError, "head_dim >= 1", f, v_a[..., :0], s_a, v_b[..., :0], s_b)
    if device == "cuda":
        _raises(RuntimeError, "v_b must be on the device of v_a", f, v_a, s_a, v_b.cpu(), s_b)
        _raises(RuntimeError, "s_a must be on the device of v_a", f, v_a, s_a.cpu(), v_b, s_b)
