"""concat_mla_k, concat_mla_absorb_q, cast, timestep_embedding."""

import math

import pytest
import torch

import sgl_kernel
from sgl_kernel.testing import poison

gpu = pytest.mark.gpu
FP8 = torch.float8_e4m3fn
CAST_DTYPES = (torch.float32, torch.float16, torch.bfloat16, FP8)


def rand(*shape, dtype=torch.float32, device="cpu", scale=1.0):
    return (torch.randn(shape, dtype=torch.float32, device=device) * scale).to(dtype)


def bits(t):
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()])


# ---------------------------------------------------------------- concat_mla_k
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, FP8])
@pytest.mark.parametrize("tokens,heads,dn,dr", [(5, 16, 128, 64), (1, 1, 1, 1), (3, 7, 13, 5), (2, 3, 0, 8)])
def test_concat_mla_k_cpu_matches_cat(dtype, tokens, heads, dn, dr):
    k_nope = rand(tokens, heads, dn).to(dtype)
    k_rope = rand(tokens, 1, dr).to(dtype)
    k = torch.full((tokens, heads, (dn + dr) * dtype.itemsize), 0x5A, dtype=torch.uint8).view(dtype)
    sgl_kernel.concat_mla_k(k, k_nope, k_rope)
    expect = torch.cat([bits(k_nope), bits(k_rope).expand(tokens, heads, dr)], dim=-1)
    assert torch.equal(bits(k), expect)


def test_concat_mla_k_cpu_strided():
    tokens, heads = 6, 4
    kv = rand(tokens, heads, 128 + 128, dtype=torch.bfloat16)
    k_nope = kv[..., :128]  # head stride 256
    pe = rand(tokens, 64 + 32, dtype=torch.bfloat16)
    k_rope = pe[:, :64].unsqueeze(1)  # token stride 96
    big = poison(torch.empty(tokens, heads + 2, 192, dtype=torch.bfloat16))
    k = big[:, 1 : heads + 1]
    sgl_kernel.concat_mla_k(k, k_nope, k_rope)
    assert torch.equal(k, torch.cat([k_nope, k_rope.expand(-1, heads, -1)], -1))
    assert big[:, 0].isnan().all() and big[:, -1].isnan().all()


@gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("tokens,heads,dn,dr", [(1, 128, 128, 64), (77, 128, 128, 64), (9, 16, 13, 5), (4, 3, 2, 6)])
@pytest.mark.parametrize("offset", [0, 1])
def test_concat_mla_k_cuda_matches_cpu(dtype, tokens, heads, dn, dr, offset):
    base = rand(tokens, heads, dn + offset, dtype=dtype, device="cuda")
    k_nope = base[..., offset:]
    k_rope = rand(tokens, 1, dr + offset, dtype=dtype, device="cuda")[..., offset:]
    k = poison(torch.empty(tokens, heads, dn + dr, dtype=dtype, device="cuda"))
    expect = poison(torch.empty_like(k, device="cpu"))
    sgl_kernel.concat_mla_k(expect, k_nope.cpu(), k_rope.cpu())
    sgl_kernel.concat_mla_k(k, k_nope, k_rope)
    assert torch.equal(bits(k.cpu()), bits(expect))


# ---------------------------------------------------------------- concat_mla_absorb_q
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape,da,db", [((5, 16), 512, 64), ((3,), 7, 1), ((2, 3, 4), 5, 9), ((1, 1), 1, 0)])
def test_concat_mla_absorb_q_cpu_matches_cat(dtype, shape, da, db):
    a, b = rand(*shape, da, dtype=dtype), rand(*shape, db, dtype=dtype)
    out = sgl_kernel.concat_mla_absorb_q(a, b)
    assert torch.equal(out, torch.cat([a, b], -1))
    # strided inputs (head-strided slices) and a given out
    a2 = rand(*shape, da + 3, dtype=dtype)[..., 3:]
    out2 = poison(torch.empty(*shape, da + db, dtype=dtype))
    assert sgl_kernel.concat_mla_absorb_q(a2, b, out2) is out2
    assert torch.equal(out2, torch.cat([a2, b], -1))


@gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("tokens,heads,da,db", [(1, 128, 512, 64), (100, 16, 512, 64), (3, 5, 7, 9)])
def test_concat_mla_absorb_q_cuda_matches_cpu(dtype, tokens, heads, da, db):
    a = rand(tokens, heads, da, dtype=dtype, device="cuda")
    b = rand(tokens, heads + 1, db, dtype=dtype, device="cuda")[:, 1:]
    out = sgl_kernel.concat_mla_absorb_q(a, b)
    assert torch.equal(out.cpu(), sgl_kernel.concat_mla_absorb_q(a.cpu(), b.cpu()))


# ---------------------------------------------------------------- cast
def special_values(dtype):
    v = torch.tensor([0.0, -0.0, 1e-9, -3e-3, 2**-9, 2**-10, 3 * 2**-10, 0.1, 447.0, 448.0, 460.0, 464.0, 470.0,
                      -1000.0, 65504.0, 1e30, float("inf"), -float("inf")])
    return v.to(dtype) if dtype != FP8 else v.clamp(-448, 448).to(FP8)


def ref_cast(x, dtype):
    """torch's cast, saturating for fp8 (torch gives NaN past 464)."""
    if dtype == FP8:
        return x.float().clamp(-448, 448).to(FP8)
    return x.to(dtype)


@pytest.mark.parametrize("src", CAST_DTYPES)
@pytest.mark.parametrize("dst", CAST_DTYPES)
@pytest.mark.parametrize("shape", [(199,), (3, 33), (2, 3, 17), ()])
def test_cast_cpu_matches_torch(src, dst, shape):
    x = rand(*shape, scale=100.0).to(src) if src != FP8 else rand(*shape, scale=100.0).clamp(-448, 448).to(FP8)
    out = sgl_kernel.cast(x, dst)
    assert out.dtype == dst and out.shape == x.shape
    assert torch.equal(bits(out), bits(ref_cast(x, dst)))
    if shape == (199,):
        y = torch.cat([special_values(src), x])
        assert torch.equal(bits(sgl_kernel.cast(y, dst)), bits(ref_cast(y, dst)))


def test_cast_fp8_saturates_and_keeps_nan_cpu():
    x = torch.tensor([500.0, -1e6, float("inf"), -float("inf"), float("nan"), 464.0, 465.0])
    out = sgl_kernel.cast(x, FP8).float()
    assert out[:4].tolist() == [448.0, -448.0, 448.0, -448.0]
    assert out[4].isnan() and out[5] == 448 and out[6] == 448


def test_cast_strided_cpu():
    x = rand(5, 40, dtype=torch.bfloat16)[:, 3:35]
    out = torch.zeros(5, 50, dtype=FP8)[:, 10:42]
    sgl_kernel.cast(x, FP8, out=out)
    assert torch.equal(bits(out), bits(ref_cast(x, FP8)))
    x3 = rand(4, 3, 32, dtype=torch.float16).transpose(0, 1)  # rows do not collapse
    with pytest.raises(ValueError, match="input: leading dims must collapse"):
        sgl_kernel.cast(x3, torch.float32)


@gpu
@pytest.mark.parametrize("src", CAST_DTYPES)
@pytest.mark.parametrize("dst", CAST_DTYPES)
@pytest.mark.parametrize("shape", [(1,), (4097,), (33, 4096), (3, 1001)])
def test_cast_cuda_matches_cpu(src, dst, shape):
    x = rand(*shape, scale=200.0).to(src) if src != FP8 else rand(*shape, scale=200.0).clamp(-448, 448).to(FP8)
    x.view(-1)[: len(special_values(src))] = special_values(src)[: x.numel()]
    expect = sgl_kernel.cast(x, dst)
    out = sgl_kernel.cast(x.cuda(), dst)
    assert torch.equal(bits(out.cpu()), bits(expect))
    # misaligned rows (element path)
    xs = x.cuda().view(-1)[1:]
    assert torch.equal(bits(sgl_kernel.cast(xs, dst).cpu()), bits(sgl_kernel.cast(xs.cpu(), dst)))


@gpu
def test_cast_cuda_nan_stays_nan():
    x = torch.tensor([float("nan"), 1.0, float("nan"), -2.0], device="cuda")
    for dst in (torch.float16, torch.bfloat16, FP8):
        out = sgl_kernel.cast(x, dst).float().cpu()
        assert out[0].isnan() and out[2].isnan() and out[1] == 1 and out[3] == -2


# ---------------------------------------------------------------- timestep_embedding
def ref_timestep(t, dim, flip=False, shift=0.0, scale=1.0, max_period=10000):
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float64) / (half - shift)
    arg = t.double()[:, None] * torch.exp(exponent)[None, :] * scale
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], -1)
    if flip:
        emb = torch.cat([emb[:, half:], emb[:, :half]], -1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


# fp32 rounding of t * freq (|t| <= 1000) moves the angle by up to ~1e-4.
TS_TOL = dict(atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("t_dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.int64])
@pytest.mark.parametrize("dim", [1, 2, 7, 256, 321])
@pytest.mark.parametrize("flip,shift,scale", [(False, 1.0, 1.0), (True, 0.0, 3.0), (True, 0.5, 0.3)])
def test_timestep_embedding_cpu_matches_formula(t_dtype, dim, flip, shift, scale):
    n = 11
    if dim == 2 and shift == 1.0:
        shift = 0.0  # dim // 2 == shift divides by zero (rejected)
    t = (torch.rand(n) * 1000).to(t_dtype)
    out = sgl_kernel.timestep_embedding(t, dim, flip, shift, scale)
    assert out.dtype == torch.float32 and out.shape == (n, dim)
    torch.testing.assert_close(out.double(), ref_timestep(t, dim, flip, shift, scale), atol=2e-4 * max(1, scale), rtol=0)
    if dim % 2:
        assert (out[:, -1] == 0).all()


def test_timestep_embedding_strided_t_and_out_cpu():
    t = torch.rand(20) * 100
    out_base = poison(torch.empty(10, 40))
    out = sgl_kernel.timestep_embedding(t[::2], 32, out=out_base[:, 4:36])
    torch.testing.assert_close(out.double(), ref_timestep(t[::2], 32), **TS_TOL)
    assert out_base[:, :4].isnan().all() and out_base[:, 36:].isnan().all()


@gpu
@pytest.mark.parametrize("t_dtype", [torch.float32, torch.bfloat16, torch.int64, torch.float64])
@pytest.mark.parametrize("dim", [1, 3, 256, 320, 1025])
@pytest.mark.parametrize("flip", [False, True])
def test_timestep_embedding_cuda_matches_cpu(t_dtype, dim, flip):
    n = 129
    t = (torch.rand(n) * 1000).to(t_dtype)
    shift = 0.0 if dim // 2 == 1 else 1.0  # dim // 2 == shift divides by zero (rejected)
    expect = sgl_kernel.timestep_embedding(t, dim, flip, shift, 1.0)
    out = sgl_kernel.timestep_embedding(t.cuda(), dim, flip, shift, 1.0)
    torch.testing.assert_close(out.cpu(), expect, **TS_TOL)


# ---------------------------------------------------------------- torch.library / compile / graphs
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_concat_cast_timestep(device):
    ops = torch.ops.sgl_kernel
    kn, kr = rand(3, 4, 16, device=device), rand(3, 1, 8, device=device)
    torch.library.opcheck(ops.concat_mla_k.default, (torch.empty(3, 4, 24, device=device), kn, kr))
    torch.library.opcheck(ops.concat_mla_absorb_q.default, (kn, kn, torch.empty(3, 4, 32, device=device)))
    torch.library.opcheck(ops.cast.default, (torch.empty(3, 4, 16, dtype=torch.bfloat16, device=device), kn))
    t = torch.rand(5, device=device) * 100
    torch.library.opcheck(ops.timestep_embedding_out.default, (t, torch.empty(5, 9, device=device), 9, True, 1.0, 1.0, 10000))
    # The upstream-compatible op returns its output (an alias): torch.compile
    # cannot functionalize it, so only its fake and schema are checked here.
    out = torch.empty(5, 9, device=device)
    torch.library.opcheck(ops.timestep_embedding.default, (t, out, 9, True, 1.0, 1.0, 10000),
                          test_utils=("test_schema", "test_faketensor"))
    assert ops.timestep_embedding(t, out, 9, True, 1.0, 1.0, 10000) is out


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_timestep_embedding_defaults_match_upstream(device):
    # 0.3.21: downscale_freq_shift=0.0, scale=1, max_period=10000, dtype ignored (fp32 out)
    t = torch.rand(7, device=device) * 1000
    out = sgl_kernel.timestep_embedding(t, 64, dtype=torch.bfloat16)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.cpu().double(), ref_timestep(t.cpu(), 64, shift=0.0), **TS_TOL)
    shifted = sgl_kernel.timestep_embedding(t, 64, downscale_freq_shift=1)
    assert not torch.allclose(out, shifted)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_concat_cast_timestep(device):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def f(k, kn, kr, a, b, t):
        sgl_kernel.concat_mla_k(k, kn, kr)
        q = sgl_kernel.concat_mla_absorb_q(a, b)
        return sgl_kernel.cast(q, torch.bfloat16), sgl_kernel.timestep_embedding(t, 16)

    kn, kr = rand(3, 4, 16, device=device), rand(3, 1, 8, device=device)
    k = torch.empty(3, 4, 24, device=device)
    a, b = rand(3, 4, 8, device=device), rand(3, 4, 4, device=device)
    t = torch.rand(5, device=device) * 100
    qc, emb = f(k, kn, kr, a, b, t)
    assert torch.equal(k, torch.cat([kn, kr.expand(-1, 4, -1)], -1))
    assert torch.equal(qc, torch.cat([a, b], -1).to(torch.bfloat16))
    torch.testing.assert_close(emb.cpu().double(), ref_timestep(t.cpu(), 16), **TS_TOL)


@gpu
def test_concat_cast_timestep_cuda_graph_replay():
    kn = rand(16, 128, 128, dtype=torch.bfloat16, device="cuda")
    kr = rand(16, 1, 64, dtype=torch.bfloat16, device="cuda")
    k = torch.empty(16, 128, 192, dtype=torch.bfloat16, device="cuda")
    x = rand(64, 256, dtype=torch.bfloat16, device="cuda")
    xq = torch.empty(64, 256, dtype=FP8, device="cuda")
    t = torch.rand(8, device="cuda") * 1000
    emb = torch.empty(8, 64, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.concat_mla_k(k, kn, kr)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.concat_mla_k(k, kn, kr)
        sgl_kernel.cast(x, FP8, out=xq)
        sgl_kernel.timestep_embedding(t, 64, out=emb)
    for _ in range(2):
        kn.copy_(rand(16, 128, 128, dtype=torch.bfloat16, device="cuda"))
        x.copy_(rand(64, 256, dtype=torch.bfloat16, device="cuda", scale=100))
        t.copy_(torch.rand(8, device="cuda") * 1000)
        g.replay()
        torch.cuda.synchronize()
        assert torch.equal(k, torch.cat([kn, kr.expand(-1, 128, -1)], -1))
        assert torch.equal(bits(xq.cpu()), bits(sgl_kernel.cast(x.cpu(), FP8)))
        torch.testing.assert_close(emb.cpu(), sgl_kernel.timestep_embedding(t.cpu(), 64), **TS_TOL)


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_concat_cast_timestep_bad_inputs(device):
    kn, kr = rand(3, 4, 16, device=device), rand(3, 1, 8, device=device)
    k = torch.empty(3, 4, 24, device=device)
    with pytest.raises(ValueError, match=r"k_rope must have shape \[3, 1, 8\]"):
        sgl_kernel.concat_mla_k(k, kn, rand(3, 4, 8, device=device))
    with pytest.raises(ValueError, match=r"k must have shape \[3, 4, 24\]"):
        sgl_kernel.concat_mla_k(k[..., :20], kn, kr)
    with pytest.raises(TypeError, match="k_nope must have the dtype of k"):
        sgl_kernel.concat_mla_k(k, kn.half(), kr)
    with pytest.raises(ValueError, match="k_nope must have stride 1 in its last dim"):
        sgl_kernel.concat_mla_k(k, rand(3, 4, 32, device=device)[..., ::2], kr)
    with pytest.raises(ValueError, match=r"b must have shape \[3, 4, 8\]"):
        sgl_kernel.concat_mla_absorb_q(kn, rand(3, 5, 8, device=device))
    with pytest.raises(TypeError, match="input must have dtype in"):
        sgl_kernel.cast(torch.ones(3, dtype=torch.int32, device=device), torch.float32)
    with pytest.raises(TypeError, match="out must have dtype in"):
        sgl_kernel.cast(kn, torch.int8)
    with pytest.raises(ValueError, match="out must have shape"):
        sgl_kernel.cast(kn, torch.float16, out=torch.empty(3, 4, device=device, dtype=torch.float16))
    t = torch.rand(5, device=device)
    with pytest.raises(ValueError, match="downscale_freq_shift must differ from dim // 2"):
        sgl_kernel.timestep_embedding(t, 2, False, 1.0)
    with pytest.raises(ValueError, match="max_period must be positive"):
        sgl_kernel.timestep_embedding(t, 8, max_period=0)
    with pytest.raises(ValueError, match="t must be 1-D"):
        sgl_kernel.timestep_embedding(t[None], 8)
    with pytest.raises(TypeError, match="output must have dtype float32"):
        sgl_kernel.timestep_embedding(t, 8, out=torch.empty(5, 8, dtype=torch.float16, device=device))
    if device == "cuda":
        with pytest.raises(RuntimeError, match="k_rope must be on the device of k"):
            sgl_kernel.concat_mla_k(k, kn, kr.cpu())
