import pytest
import torch

import sgl_kernel
from sgl_kernel.testing import FLOAT_DTYPES, assert_close, poison, strided_rows

gpu = pytest.mark.gpu


def ref_rmsnorm(x, w, eps=1e-6, gemma=False, residual=None):
    x64 = x.double()
    if residual is not None:
        x64 = x64 + residual.double()
    w64 = w.double() + (1.0 if gemma else 0.0)
    return x64 / torch.sqrt(x64.pow(2).mean(-1, keepdim=True) + eps) * w64


def rand(*shape, dtype, device="cpu", scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32, device=device) * scale).to(dtype)


# ---------------------------------------------------------------- CPU vs formula
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rows,hidden", [(1, 1), (7, 8), (3, 199), (2, 4096), (5, 4097)])
@pytest.mark.parametrize("gemma", [False, True])
def test_rmsnorm_cpu_matches_formula(dtype, rows, hidden, gemma):
    x, w = rand(rows, hidden, dtype=dtype), rand(hidden, dtype=dtype)
    out = poison(torch.empty_like(x))
    fn = sgl_kernel.gemma_rmsnorm if gemma else sgl_kernel.rmsnorm
    fn(x, w, eps=1e-5, out=out)
    assert_close(out, ref_rmsnorm(x, w, 1e-5, gemma))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rows,hidden", [(1, 1), (3, 199), (4, 4096)])
@pytest.mark.parametrize("gemma", [False, True])
def test_fused_add_rmsnorm_cpu_matches_formula(dtype, rows, hidden, gemma):
    x, r, w = rand(rows, hidden, dtype=dtype), rand(rows, hidden, dtype=dtype), rand(hidden, dtype=dtype)
    x0, r0 = x.clone(), r.clone()
    fn = sgl_kernel.gemma_fused_add_rmsnorm if gemma else sgl_kernel.fused_add_rmsnorm
    fn(x, r, w, eps=1e-6)
    # residual holds the fp32 sum rounded once to the dtype: bitwise.
    assert torch.equal(r, (x0.float() + r0.float()).to(dtype))
    assert_close(x, ref_rmsnorm(x0, w, 1e-6, gemma, residual=r0))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_rmsnorm_strided_and_3d_cpu(dtype):
    x = strided_rows(6, 200, dtype, "cpu", pad=13)
    w = rand(200, dtype=dtype)
    out = strided_rows(6, 200, dtype, "cpu", pad=5)
    poison(out)
    sgl_kernel.rmsnorm(x, w, out=out)
    assert_close(out, ref_rmsnorm(x, w))
    x3 = rand(2, 3, 64, dtype=dtype)
    assert_close(sgl_kernel.rmsnorm(x3, rand(64, dtype=dtype) * 0 + 1), ref_rmsnorm(x3, torch.ones(64)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("head_dim", [64, 128, 256, 100])
def test_qk_rmsnorm_cpu_fused_qkv_view(dtype, head_dim):
    tokens, hq, hk = 5, 8, 2
    qkv = rand(tokens, (hq + 2 * hk) * head_dim, dtype=dtype)
    keep = qkv.clone()
    q = qkv[:, : hq * head_dim].view(tokens, hq, head_dim)
    k = qkv[:, hq * head_dim : (hq + hk) * head_dim].view(tokens, hk, head_dim)
    wq, wk = rand(head_dim, dtype=dtype), rand(head_dim, dtype=dtype)
    expect_q, expect_k = ref_rmsnorm(q, wq), ref_rmsnorm(k, wk)
    sgl_kernel.qk_rmsnorm(q, wq, out=q)  # in place
    out_k = sgl_kernel.qk_rmsnorm(k, wk)
    assert_close(q, expect_q)
    assert_close(out_k, expect_k)
    # the k and v columns of the fused tensor were not touched
    assert torch.equal(qkv[:, hq * head_dim :], keep[:, hq * head_dim :])


def test_qk_rmsnorm_head_strided_cpu():
    x = rand(4, 6, 128, dtype=torch.bfloat16).transpose(0, 1)  # [6 tokens, 4 heads, 128], head stride 6*128
    w = rand(128, dtype=torch.bfloat16)
    assert_close(sgl_kernel.qk_rmsnorm(x, w), ref_rmsnorm(x, w))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_rmsnorm_nan_inf_rows_cpu(dtype):
    x, w = rand(4, 96, dtype=dtype), rand(96, dtype=dtype)
    x[0, 5] = float("nan")
    x[1, 7] = float("inf")
    x[2, 9] = float("-inf")
    out = sgl_kernel.rmsnorm(x, w)
    assert_close(out, ref_rmsnorm(x, w))
    assert torch.isnan(out[0]).all()
    assert torch.isnan(out[1, 7]) and torch.isfinite(out[3]).all()


# ---------------------------------------------------------------- CUDA vs CPU
def _cuda_vs_cpu(fn, *tensors, **kw):
    cpu = [t.clone() for t in tensors]
    gpu_ = [t.cuda() for t in tensors]
    r_cpu = fn(*cpu, **kw)
    r_gpu = fn(*gpu_, **kw)
    return cpu, gpu_, r_cpu, r_gpu


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "rows,hidden",
    [(1, 1), (1, 4096), (16, 4096), (199, 4096), (3, 199), (5, 4097), (2, 8192), (3, 16384), (2, 40000), (7, 5120)],
)
@pytest.mark.parametrize("gemma", [False, True])
def test_rmsnorm_cuda_matches_cpu(dtype, rows, hidden, gemma):
    x, w = rand(rows, hidden, dtype=dtype), rand(hidden, dtype=dtype)
    fn = sgl_kernel.gemma_rmsnorm if gemma else sgl_kernel.rmsnorm
    expect = fn(x, w)
    out = poison(torch.empty_like(x, device="cuda"))
    for pdl in (False, True):
        fn(x.cuda(), w.cuda(), out=out, enable_pdl=pdl)
        assert_close(out, expect, scale=1.0)
        assert_close(out, ref_rmsnorm(x, w, gemma=gemma))


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rows,hidden", [(1, 4096), (16, 4096), (257, 4096), (3, 199), (2, 40000), (9, 2048)])
@pytest.mark.parametrize("gemma", [False, True])
def test_fused_add_rmsnorm_cuda_matches_cpu(dtype, rows, hidden, gemma):
    x, r, w = rand(rows, hidden, dtype=dtype), rand(rows, hidden, dtype=dtype), rand(hidden, dtype=dtype)
    fn = sgl_kernel.gemma_fused_add_rmsnorm if gemma else sgl_kernel.fused_add_rmsnorm
    xc, rc = x.clone(), r.clone()
    fn(xc, rc, w)
    xg, rg = x.cuda(), r.cuda()
    fn(xg, rg, w.cuda())
    assert torch.equal(rg.cpu(), rc)
    assert_close(xg, xc)
    assert_close(xg, ref_rmsnorm(x, w, gemma=gemma, residual=r))


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("offset", [0, 1])
def test_rmsnorm_cuda_strided_and_misaligned(dtype, offset):
    # offset=1 moves every row off 16-byte alignment: the element-wise path.
    x = strided_rows(33, 4096, dtype, "cuda", pad=64, offset=offset)
    r = strided_rows(33, 4096, dtype, "cuda", pad=8, offset=offset)
    w = rand(4096, dtype=dtype, device="cuda")
    out = poison(strided_rows(33, 4096, dtype, "cuda", pad=32, offset=offset))
    sgl_kernel.rmsnorm(x, w, out=out)
    assert_close(out, ref_rmsnorm(x.cpu(), w.cpu()))
    expect = ref_rmsnorm(x.cpu(), w.cpu(), residual=r.cpu())
    r_sum = (x.float() + r.float()).to(dtype)
    sgl_kernel.fused_add_rmsnorm(x, r, w)
    assert torch.equal(r, r_sum)
    assert_close(x, expect)


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("head_dim", [64, 128, 256, 96])
@pytest.mark.parametrize("tokens", [1, 16, 333])
def test_qk_rmsnorm_cuda_matches_cpu(dtype, head_dim, tokens):
    hq, hk = 64, 4
    qkv = rand(tokens, (hq + 2 * hk) * head_dim, dtype=dtype, device="cuda")
    keep = qkv.clone()
    q = qkv[:, : hq * head_dim].view(tokens, hq, head_dim)
    k = qkv[:, hq * head_dim : (hq + hk) * head_dim].view(tokens, hk, head_dim)
    wq, wk = rand(head_dim, dtype=dtype, device="cuda"), rand(head_dim, dtype=dtype, device="cuda")
    expect_q = sgl_kernel.qk_rmsnorm(q.cpu(), wq.cpu())
    expect_k = sgl_kernel.qk_rmsnorm(k.cpu(), wk.cpu())
    sgl_kernel.qk_rmsnorm(q, wq, out=q)
    out_k = sgl_kernel.qk_rmsnorm(k, wk, out=poison(torch.empty_like(k)))
    assert_close(q, expect_q)
    assert_close(out_k, expect_k)
    assert torch.equal(qkv[:, hq * head_dim :], keep[:, hq * head_dim :])


@gpu
def test_rmsnorm_nan_inf_rows_cuda():
    x, w = rand(4, 4096, dtype=torch.bfloat16), rand(4096, dtype=torch.bfloat16)
    x[0, 5] = float("nan")
    x[1, 7] = float("inf")
    out = sgl_kernel.rmsnorm(x.cuda(), w.cuda())
    assert_close(out, sgl_kernel.rmsnorm(x, w))


@gpu
def test_norms_cuda_graph_replay():
    x = rand(16, 4096, dtype=torch.bfloat16, device="cuda")
    r = rand(16, 4096, dtype=torch.bfloat16, device="cuda")
    w = rand(4096, dtype=torch.bfloat16, device="cuda")
    out = torch.empty_like(x)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.rmsnorm(x, w, out=out, enable_pdl=True)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.rmsnorm(x, w, out=out, enable_pdl=True)
        sgl_kernel.fused_add_rmsnorm(x, r, w, enable_pdl=True)
    for _ in range(2):
        x.copy_(rand(16, 4096, dtype=torch.bfloat16, device="cuda"))
        r.copy_(rand(16, 4096, dtype=torch.bfloat16, device="cuda"))
        x0, r0 = x.clone(), r.clone()
        g.replay()
        torch.cuda.synchronize()
        assert_close(out, ref_rmsnorm(x0.cpu(), w.cpu()))
        assert_close(x, ref_rmsnorm(x0.cpu(), w.cpu(), residual=r0.cpu()))


@gpu
@pytest.mark.large
def test_rmsnorm_past_2_31_elements():
    rows, hidden = (2**31) // 4096 + 3, 4096
    x = torch.empty(rows, hidden, dtype=torch.bfloat16, device="cuda").normal_()
    w = rand(hidden, dtype=torch.bfloat16, device="cuda")
    out = sgl_kernel.rmsnorm(x, w)
    tail = slice(rows - 5, rows)
    assert_close(out[tail], sgl_kernel.rmsnorm(x[tail].cpu(), w.cpu()))
    assert_close(out[:2], sgl_kernel.rmsnorm(x[:2].cpu(), w.cpu()))
    del x, out
    torch.cuda.empty_cache()


# ---------------------------------------------------------------- torch.library / compile
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_norms(device):
    x, r, w = (rand(5, 256, dtype=torch.bfloat16, device=device) for _ in range(2)), None, None
    x, r = list(x)
    w = rand(256, dtype=torch.bfloat16, device=device)
    ops = torch.ops.sgl_kernel
    torch.library.opcheck(ops.rmsnorm.default, (torch.empty_like(x), x, w, 1e-6, False))
    torch.library.opcheck(ops.gemma_rmsnorm.default, (torch.empty_like(x), x, w, 1e-6, False))
    torch.library.opcheck(ops.fused_add_rmsnorm.default, (x.clone(), r.clone(), w, 1e-6, False))
    torch.library.opcheck(ops.gemma_fused_add_rmsnorm.default, (x.clone(), r.clone(), w, 1e-6, False))
    q = rand(5, 4, 64, dtype=torch.bfloat16, device=device)
    torch.library.opcheck(ops.qk_rmsnorm.default, (torch.empty_like(q), q, w[:64].contiguous(), 1e-6, False))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_norms(device):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def block(x, r, w, wq, q):
        sgl_kernel.fused_add_rmsnorm(x, r, w)
        y = sgl_kernel.rmsnorm(x * 2, w)
        return y + 1, sgl_kernel.qk_rmsnorm(q, wq)

    x, r = rand(4, 128, dtype=torch.float32, device=device), rand(4, 128, dtype=torch.float32, device=device)
    w, wq = rand(128, dtype=torch.float32, device=device), rand(32, dtype=torch.float32, device=device)
    q = rand(4, 2, 32, dtype=torch.float32, device=device)
    x0, r0 = x.clone(), r.clone()
    y, qn = block(x, r, w, wq, q)
    normed = ref_rmsnorm(x0.cpu(), w.cpu(), residual=r0.cpu())
    assert_close(x, normed)
    assert_close(r, x0.cpu() + r0.cpu())
    assert_close(y, ref_rmsnorm(normed * 2, w.cpu()) + 1, scale=4)
    assert_close(qn, ref_rmsnorm(q.cpu(), wq.cpu()))


# ---------------------------------------------------------------- bad inputs
def _raises(exc, match, fn, *args, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_norm_bad_inputs(device):
    x = rand(4, 64, dtype=torch.float16, device=device)
    w = rand(64, dtype=torch.float16, device=device)
    _raises(TypeError, "input must have dtype", sgl_kernel.rmsnorm, x.int(), w.int())
    _raises(TypeError, "weight must have the dtype", sgl_kernel.rmsnorm, x, w.float())
    _raises(ValueError, r"weight must have shape \[64\]", sgl_kernel.rmsnorm, x, w[:63])
    _raises(ValueError, "output must have shape", sgl_kernel.rmsnorm, x, w, out=torch.empty_like(x)[:3])
    _raises(ValueError, "stride 1", sgl_kernel.rmsnorm, rand(4, 128, dtype=torch.float16, device=device)[:, ::2], w)
    _raises(ValueError, "residual must have shape", sgl_kernel.fused_add_rmsnorm, x, x[:2].clone(), w)
    _raises(TypeError, "residual must have the dtype", sgl_kernel.fused_add_rmsnorm, x, x.float(), w)
    _raises(ValueError, "input must be 3-D", sgl_kernel.qk_rmsnorm, x, w)
    _raises(ValueError, "eps must be", sgl_kernel.rmsnorm, x, w, eps=float("nan"))
    # a permuted 3-D input that cannot be flattened is reported as `input`, not as the implicit out
    x3 = rand(4, 3, 64, dtype=torch.float16, device=device).transpose(0, 1)
    _raises(ValueError, "input of shape", sgl_kernel.rmsnorm, x3, w)
    if device == "cuda":
        _raises(RuntimeError, "weight must be on the device of input", sgl_kernel.rmsnorm, x, w.cpu())
        _raises(RuntimeError, "output must be on the device", sgl_kernel.rmsnorm, x, w, out=x.cpu())
