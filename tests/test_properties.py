"""Property tests: hypothesis draws shapes, strides, offsets (misalignment) and
dtypes; the CPU op must match a float64 formula, and the CUDA op the CPU op.
Small example counts keep CI fast; each run draws fresh cases."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import sgl_kernel
from sgl_kernel.testing import FLOAT_DTYPES, assert_close, poison

gpu = pytest.mark.gpu
SETTINGS = settings(max_examples=25, deadline=None, derandomize=False)
dtypes = st.sampled_from(FLOAT_DTYPES)


def strided(rows, cols, dtype, pad, offset, device="cpu", scale=1.0):
    base = (torch.randn(rows, cols + pad + offset) * scale).to(dtype).to(device)
    return base[:, offset: offset + cols]


def ref_rmsnorm(x, w, eps, gemma, residual=None):
    s = x.double() + (residual.double() if residual is not None else 0)
    return s / torch.sqrt(s.pow(2).mean(-1, keepdim=True) + eps) * (w.double() + (1 if gemma else 0))


norm_case = st.tuples(st.integers(1, 9), st.integers(1, 700), st.integers(0, 17), st.integers(0, 3), dtypes,
                      st.booleans())


def _norm(case, device):
    rows, hidden, pad, offset, dtype, gemma = case
    x = strided(rows, hidden, dtype, pad, offset, device)
    w = torch.randn(hidden).to(dtype).to(device)
    out = poison(strided(rows, hidden, dtype, pad + 1, offset, device))
    (sgl_kernel.gemma_rmsnorm if gemma else sgl_kernel.rmsnorm)(x, w, 1e-5, out=out)
    r = strided(rows, hidden, dtype, pad, offset, device)
    x2, r0 = x.clone(), r.clone()
    (sgl_kernel.gemma_fused_add_rmsnorm if gemma else sgl_kernel.fused_add_rmsnorm)(x2, r, w, 1e-5)
    return x, w, out, x2, r, r0


@SETTINGS
@given(norm_case)
def test_norms_cpu_property(case):
    gemma = case[-1]
    x, w, out, x2, r, r0 = _norm(case, "cpu")
    assert_close(out, ref_rmsnorm(x, w, 1e-5, gemma))
    assert torch.equal(r, (x.float() + r0.float()).to(x.dtype))
    assert_close(x2, ref_rmsnorm(x, w, 1e-5, gemma, residual=r0))


@gpu
@SETTINGS
@given(norm_case)
def test_norms_cuda_property(case):
    x, w, out, x2, r, r0 = _norm(case, "cuda")
    cout, cx2, cr = out.cpu(), x2.cpu(), r.cpu()
    gemma = case[-1]
    expect = (sgl_kernel.gemma_rmsnorm if gemma else sgl_kernel.rmsnorm)(x.cpu(), w.cpu(), 1e-5)
    assert_close(cout, expect)
    assert_close(cx2, ref_rmsnorm(x.cpu(), w.cpu(), 1e-5, gemma, residual=r0.cpu()))
    assert torch.equal(cr, (x.cpu().float() + r0.cpu().float()).to(x.dtype))


ACTS = {"silu_and_mul": lambda a: F.silu(a), "gelu_and_mul": lambda a: F.gelu(a),
        "gelu_tanh_and_mul": lambda a: F.gelu(a, approximate="tanh")}
act_case = st.tuples(st.sampled_from(sorted(ACTS)), st.integers(1, 9), st.integers(1, 300), st.integers(0, 9),
                     st.integers(0, 3), dtypes)


def _act(case, device):
    name, rows, d, pad, offset, dtype = case
    x = strided(rows, 2 * d, dtype, pad, offset, device, scale=2.0)
    out = poison(strided(rows, d, dtype, pad, offset, device))
    getattr(sgl_kernel, name)(x, out=out)
    return x, out


@SETTINGS
@given(act_case)
def test_gated_cpu_property(case):
    name, d = case[0], case[2]
    x, out = _act(case, "cpu")
    x64 = x.double()
    assert_close(out, ACTS[name](x64[:, :d]) * x64[:, d:])


@gpu
@SETTINGS
@given(act_case)
def test_gated_cuda_property(case):
    x, out = _act(case, "cuda")
    assert_close(out, getattr(sgl_kernel, case[0])(x.cpu()))


merge_case = st.tuples(st.integers(1, 5), st.integers(1, 40), st.integers(1, 150), dtypes, st.booleans(),
                       st.integers(0, 3))


def _merge(case, device):
    tokens, heads, head_dim, dtype, base2, n_inf = case
    v_a = torch.randn(tokens, heads, head_dim).to(dtype).to(device)
    v_b = torch.randn(tokens, heads, head_dim).to(dtype).to(device)
    s_a, s_b = (torch.randn(tokens, heads) * 4).to(device), (torch.randn(tokens, heads) * 4).to(device)
    flat_a, flat_b = s_a.view(-1), s_b.view(-1)
    for i in range(min(n_inf, flat_a.numel())):  # empty parts: -inf and +inf on either side
        (flat_a if i % 2 == 0 else flat_b)[i] = float("-inf") if i < 2 else float("inf")
    fn = sgl_kernel.merge_state if base2 else sgl_kernel.merge_state_v2
    v, s = fn(v_a, s_a, v_b, s_b)
    return v_a, s_a, v_b, s_b, v, s


@SETTINGS
@given(merge_case)
def test_merge_state_cpu_property(case):
    base2 = case[4]
    v_a, s_a, v_b, s_b, v, s = _merge(case, "cpu")
    inf = float("inf")
    sa = torch.where(torch.isinf(s_a), -inf, s_a).double()
    sb = torch.where(torch.isinf(s_b), -inf, s_b).double()
    m = torch.maximum(sa, sb)
    m0 = torch.where(m == -inf, 0.0, m)
    ex, lg = (torch.exp2, torch.log2) if base2 else (torch.exp, torch.log)
    wa, wb = ex(sa - m0), ex(sb - m0)
    tot = wa + wb
    num = torch.where(wa[..., None] == 0, 0.0, wa[..., None] * v_a.double()) + \
        torch.where(wb[..., None] == 0, 0.0, wb[..., None] * v_b.double())
    expect_v = torch.where(tot[..., None] == 0, 0.0, num / tot.clamp_min(1e-300)[..., None])
    expect_s = torch.where(m == -inf, -inf, m0 + lg(tot.clamp_min(1e-300)))
    assert_close(v, expect_v)
    assert_close(s, expect_s, dtype=torch.float32)


@gpu
@SETTINGS
@given(merge_case)
def test_merge_state_cuda_property(case):
    v_a, s_a, v_b, s_b, v, s = _merge(case, "cuda")
    fn = sgl_kernel.merge_state if case[4] else sgl_kernel.merge_state_v2
    ev, es = fn(v_a.cpu(), s_a.cpu(), v_b.cpu(), s_b.cpu())
    assert_close(v, ev)
    assert_close(s, es, dtype=torch.float32)
