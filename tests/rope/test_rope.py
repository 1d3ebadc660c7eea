import pytest
import torch

import sgl_kernel
from sgl_kernel import FusedSetKVBufferArg
from sgl_kernel.testing import FLOAT_DTYPES, assert_close, poison

gpu = pytest.mark.gpu
FP8 = torch.float8_e4m3fn


def rand(*shape, dtype, device="cpu", scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32, device=device) * scale).to(dtype)


def make_cache(max_pos, rotary_dim, dtype=torch.float32, device="cpu", base=10000.0):
    inv = 1.0 / base ** (torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
    f = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([f.cos(), f.sin()], dim=-1).to(dtype).to(device)


def components(half, section, interleaved):
    if section is None:
        return [0] * half
    if interleaved:
        return [1 if i % 3 == 1 and i < 3 * section[1] else 2 if i % 3 == 2 and i < 3 * section[2] else 0
                for i in range(half)]
    return [0 if i < section[0] else 1 if i < section[0] + section[1] else 2 for i in range(half)]


def ref_rope(x, cache, pos, interleave, section=None, mrope_interleaved=True):
    """float64 rope of x [nnz, heads, head_size]; pos [nnz] or [3, nnz]."""
    rd = cache.shape[1]
    half = rd // 2
    pos3 = pos.long().cpu().view(1, -1) if pos.dim() == 1 else pos.long().cpu()
    comp = torch.tensor(components(half, section if pos.dim() == 2 else None, mrope_interleaved))
    p = pos3[comp if pos3.shape[0] == 3 else torch.zeros_like(comp)].t()  # [nnz, half]
    cs = cache.double().cpu()
    i = torch.arange(half)
    cos, sin = cs[p, i][:, None, :], cs[p, half + i][:, None, :]
    x = x.double().cpu()
    out = x.clone()
    a_idx = torch.arange(0, rd, 2) if interleave else torch.arange(half)
    b_idx = a_idx + 1 if interleave else a_idx + half
    a, b = x[..., a_idx], x[..., b_idx]
    out[..., a_idx] = a * cos - b * sin
    out[..., b_idx] = b * cos + a * sin
    return out


def run_op(q, k, cache, pos, interleave, q_out=None, k_out=None, fused=None, scales=(None, None)):
    q_out = q if q_out is None else q_out
    k_out = k if k_out is None else k_out
    v, kb, vb, loc = fused if fused else (None, None, None, None)
    torch.ops.sgl_kernel.apply_rope_pos_ids_cos_sin_cache(
        q, k, q_out, k_out, cache, pos, interleave, False, v, kb, vb, loc, scales[0], scales[1])
    return q_out, k_out


def to_buffer(x, dtype, scale):
    y = x.float() / (scale if scale is not None else 1.0)
    if dtype == FP8:
        y = y.clamp(-448, 448)
    return y.to(dtype)


def bits(t):
    return t.view(torch.uint8) if t.element_size() == 1 else t.view(torch.int16 if t.element_size() == 2 else torch.int32)


# ---------------------------------------------------------------- CPU vs formula
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("interleave", [False, True])
@pytest.mark.parametrize("hq,hk,head,rd", [(4, 2, 128, 128), (3, 1, 128, 64), (2, 2, 100, 36), (1, 1, 2, 2)])
def test_rope_cpu_matches_formula(dtype, interleave, hq, hk, head, rd):
    nnz, max_pos = 7, 50
    q, k = rand(nnz, hq, head, dtype=dtype), rand(nnz, hk, head, dtype=dtype)
    cache = make_cache(max_pos, rd)
    pos = torch.randint(0, max_pos, (nnz,))
    q_out, k_out = poison(torch.empty_like(q)), poison(torch.empty_like(k))
    run_op(q, k, cache, pos, interleave, q_out, k_out)
    assert_close(q_out, ref_rope(q, cache, pos, interleave))
    assert_close(k_out, ref_rope(k, cache, pos, interleave))
    # pass-through lanes are copied bit for bit
    assert torch.equal(q_out[..., rd:], q[..., rd:]) and torch.equal(k_out[..., rd:], k[..., rd:])


@pytest.mark.parametrize("pos_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("cache_dtype", ["float32", "model"])
@pytest.mark.parametrize("is_neox", [True, False])
def test_rope_inplace_wrapper_cpu(pos_dtype, cache_dtype, is_neox):
    dtype, nnz, hq, hk, head = torch.bfloat16, 9, 64, 4, 128
    cache = make_cache(100, 128, dtype=torch.float32 if cache_dtype == "float32" else dtype)
    pos = torch.randint(0, 100, (nnz,), dtype=pos_dtype)
    query, key = rand(nnz, hq * head, dtype=dtype), rand(nnz, hk * head, dtype=dtype)
    expect_q = ref_rope(query.view(nnz, hq, head), cache, pos, not is_neox)
    expect_k = ref_rope(key.view(nnz, hk, head), cache, pos, not is_neox)
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(pos, query, key, head, cache, is_neox=is_neox)
    assert_close(query.view(nnz, hq, head), expect_q)
    assert_close(key.view(nnz, hk, head), expect_k)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_fused_qkv_views_cpu(dtype):
    nnz, hq, hk, head, rd, pad = 5, 8, 2, 128, 64, 24
    width = (hq + 2 * hk) * head
    qkv = rand(nnz, width + pad, dtype=dtype)
    keep = qkv.clone()
    query = qkv[:, : hq * head]
    key = qkv[:, hq * head : (hq + hk) * head]
    cache = make_cache(64, rd)
    pos = torch.randint(0, 64, (nnz,))
    expect_q = ref_rope(query.reshape(nnz, hq, head), cache, pos, False)
    expect_k = ref_rope(key.reshape(nnz, hk, head), cache, pos, False)
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(pos, query, key, head, cache)
    assert_close(query.reshape(nnz, hq, head), expect_q)
    assert_close(key.reshape(nnz, hk, head), expect_k)
    assert torch.equal(qkv[:, (hq + hk) * head :], keep[:, (hq + hk) * head :])
    # the pass-through lanes of each head are untouched
    assert torch.equal(query.reshape(nnz, hq, head)[..., rd:], keep[:, : hq * head].reshape(nnz, hq, head)[..., rd:])


def _fused_case(dtype, buf_dtype, nnz, hk, head, layout, device="cpu", cache_size=40):
    value = rand(nnz, hk * head + 8, dtype=dtype, device=device)[:, : hk * head]  # strided rows
    shape = (cache_size, hk * head) if layout == "2d" else (cache_size, hk, head)
    kb = torch.full(shape, float("nan"), dtype=torch.float32, device=device).to(buf_dtype)
    vb = kb.clone()
    loc = torch.randperm(cache_size, device=device)[:nnz].to(torch.int64)
    return value, kb, vb, loc


@pytest.mark.parametrize("buf_dtype", [torch.bfloat16, FP8])
@pytest.mark.parametrize("scales", [(None, None), (0.5, 2.0)])
@pytest.mark.parametrize("layout", ["2d", "3d"])
@pytest.mark.parametrize("is_neox", [True, False])
def test_rope_fused_kv_store_cpu(buf_dtype, scales, layout, is_neox):
    dtype, nnz, hq, hk, head = torch.bfloat16, 6, 4, 2, 128
    query, key = rand(nnz, hq * head, dtype=dtype), rand(nnz, hk * head, dtype=dtype)
    value, kb, vb, loc = _fused_case(dtype, buf_dtype, nnz, hk, head, layout)
    kb0 = kb.clone()
    cache = make_cache(32, 128)
    pos = torch.randint(0, 32, (nnz,))
    expect_k = ref_rope(key.view(nnz, hk, head), cache, pos, not is_neox)
    arg = FusedSetKVBufferArg(value, kb, vb, scales[0], scales[1], loc)
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(pos, query, key, head, cache, is_neox, arg)
    assert_close(key.view(nnz, hk, head), expect_k)
    rows_k, rows_v = kb.view(kb.shape[0], -1)[loc], vb.view(vb.shape[0], -1)[loc]
    assert torch.equal(bits(rows_k), bits(to_buffer(key, buf_dtype, scales[0])))
    assert torch.equal(bits(rows_v), bits(to_buffer(value, buf_dtype, scales[1])))
    others = torch.ones(kb.shape[0], dtype=torch.bool)
    others[loc] = False
    assert torch.equal(bits(kb[others]), bits(kb0[others]))  # rows not addressed stay untouched


def test_rope_fused_fp8_saturates_cpu():
    nnz, hk, head = 2, 1, 16
    q, k = rand(nnz, 1, head, dtype=torch.float32), rand(nnz, hk, head, dtype=torch.float32, scale=1000)
    v = rand(nnz, hk, head, dtype=torch.float32, scale=1000)
    kb, vb = torch.zeros(4, hk, head, dtype=FP8), torch.zeros(4, hk, head, dtype=FP8)
    loc = torch.tensor([3, 0])
    pos = torch.zeros(nnz, dtype=torch.int64)  # cos 1, sin 0: k unchanged
    run_op(q, k, make_cache(4, head), pos, False, fused=(v, kb, vb, loc))
    assert kb.float().abs().max() <= 448 and not torch.isnan(vb.float()).any()
    assert torch.equal(bits(vb[loc]), bits(v.clamp(-448, 448).to(FP8)))


MROPE_CASES = [([16, 24, 24], True), ([24, 20, 20], True), ([16, 24, 24], False), ([10, 33, 21], False)]


@pytest.mark.parametrize("section,interleaved", MROPE_CASES)
@pytest.mark.parametrize("is_neox", [True, False])
def test_mrope_cpu_matches_formula(section, interleaved, is_neox):
    dtype, nnz, hq, hk, head, max_pos = torch.bfloat16, 11, 4, 2, 128, 200
    cache = make_cache(max_pos, 128)
    pos = torch.randint(0, max_pos, (3, nnz))
    query, key = rand(nnz, hq * head, dtype=dtype), rand(nnz, hk * head, dtype=dtype)
    expect_q = ref_rope(query.view(nnz, hq, head), cache, pos, not is_neox, section, interleaved)
    expect_k = ref_rope(key.view(nnz, hk, head), cache, pos, not is_neox, section, interleaved)
    sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(pos, query, key, head, cache, section, interleaved, is_neox)
    assert_close(query.view(nnz, hq, head), expect_q)
    assert_close(key.view(nnz, hk, head), expect_k)


@pytest.mark.parametrize("interleaved", [True, False])
def test_mrope_equal_components_is_plain_rope_cpu(interleaved):
    dtype, nnz, hq, hk, head = torch.bfloat16, 6, 4, 2, 128
    cache = make_cache(64, 128)
    p1 = torch.randint(0, 64, (nnz,))
    query, key = rand(nnz, hq * head, dtype=dtype), rand(nnz, hk * head, dtype=dtype)
    q2, k2, q3, k3 = query.clone(), key.clone(), query.clone(), key.clone()
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(p1, query, key, head, cache)
    sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(p1.expand(3, nnz), q2, k2, head, cache, [24, 20, 20], interleaved)
    sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(p1, q3, k3, head, cache, [24, 20, 20], interleaved)
    for a, b in ((query, q2), (key, k2), (query, q3), (key, k3)):
        assert torch.equal(a, b)


def test_mrope_fused_kv_store_cpu():
    dtype, nnz, hq, hk, head = torch.bfloat16, 5, 4, 2, 128
    cache = make_cache(64, 128)
    pos = torch.randint(0, 64, (3, nnz), dtype=torch.int32)
    query, key = rand(nnz, hq * head, dtype=dtype), rand(nnz, hk * head, dtype=dtype)
    value, kb, vb, loc = _fused_case(dtype, FP8, nnz, hk, head, "2d")
    expect_k = ref_rope(key.view(nnz, hk, head), cache, pos, False, [24, 20, 20], True)
    arg = FusedSetKVBufferArg(value, kb, vb, 0.25, None, loc)
    sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(pos, query, key, head, cache, [24, 20, 20], True, True, arg)
    assert_close(key.view(nnz, hk, head), expect_k)
    assert torch.equal(bits(kb[loc]), bits(to_buffer(key, FP8, 0.25)))
    assert torch.equal(bits(vb[loc]), bits(to_buffer(value, FP8, None)))


def test_rope_empty_cpu():
    q, k = torch.empty(0, 4, 64), torch.empty(0, 2, 64)
    run_op(q, k, make_cache(8, 64), torch.empty(0, dtype=torch.int64), False)


# ---------------------------------------------------------------- CUDA vs CPU
GPU_SHAPES = [
    # nnz, hq, hk, head, rd
    (1, 64, 4, 128, 128),
    (16, 64, 4, 128, 128),
    (333, 64, 4, 128, 128),
    (4097, 64, 4, 128, 128),
    (7, 4, 2, 128, 64),
    (129, 8, 1, 64, 32),
    (5, 3, 1, 100, 36),   # no 16-byte path
    (300, 32, 8, 256, 256),
]


def _gpu_vs_cpu(dtype, interleave, nnz, hq, hk, head, rd, cache_dtype, pos_dtype, inplace, offset=0):
    max_pos = 4096
    cache = make_cache(max_pos, rd, dtype=cache_dtype)
    pos = torch.randint(0, max_pos, (nnz,), dtype=pos_dtype)
    base = rand(nnz, (hq + hk) * head + 16 + offset, dtype=dtype)[:, offset:]
    q = base[:, : hq * head].view(nnz, hq, head)
    k = base[:, hq * head : (hq + hk) * head].view(nnz, hk, head)
    q_cpu, k_cpu = run_op(q.clone(), k.clone(), cache, pos, interleave)
    bg = base.cuda()
    qg, kg = bg[:, : hq * head].view(nnz, hq, head), bg[:, hq * head : (hq + hk) * head].view(nnz, hk, head)
    if inplace:
        run_op(qg, kg, cache.cuda(), pos.cuda(), interleave)
        out_q, out_k = qg, kg
    else:
        out_q, out_k = poison(torch.empty_like(qg)), poison(torch.empty_like(kg))
        run_op(qg, kg, cache.cuda(), pos.cuda(), interleave, out_q, out_k)
    torch.cuda.synchronize()
    assert torch.equal(out_q.cpu(), q_cpu)
    assert torch.equal(out_k.cpu(), k_cpu)
    if inplace:
        assert torch.equal(bg[:, (hq + hk) * head :].cpu(), base[:, (hq + hk) * head :])


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("interleave", [False, True])
@pytest.mark.parametrize("nnz,hq,hk,head,rd", GPU_SHAPES)
def test_rope_cuda_matches_cpu(dtype, interleave, nnz, hq, hk, head, rd):
    _gpu_vs_cpu(dtype, interleave, nnz, hq, hk, head, rd, torch.float32, torch.int64, inplace=True)


@gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("pos_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("inplace", [True, False])
def test_rope_cuda_model_dtype_cache_misaligned_out_of_place(dtype, pos_dtype, offset, inplace):
    for interleave in (False, True):
        _gpu_vs_cpu(dtype, interleave, 37, 16, 2, 128, 64, dtype, pos_dtype, inplace, offset=offset)


@gpu
@pytest.mark.parametrize("buf_dtype", [torch.bfloat16, FP8])
@pytest.mark.parametrize("scales", [(None, None), (0.5, 2.0)])
@pytest.mark.parametrize("layout", ["2d", "3d"])
@pytest.mark.parametrize("interleave", [False, True])
@pytest.mark.parametrize("nnz,hq,hk,head,rd", [(1, 64, 4, 128, 128), (16, 64, 4, 128, 128), (1000, 64, 4, 128, 128),
                                               (9, 4, 2, 128, 64), (5, 3, 1, 100, 36)])
def test_rope_fused_kv_store_cuda_matches_cpu(buf_dtype, scales, layout, interleave, nnz, hq, hk, head, rd):
    dtype = torch.bfloat16
    cache = make_cache(2048, rd)
    pos = torch.randint(0, 2048, (nnz,))
    q, k = rand(nnz, hq, head, dtype=dtype), rand(nnz, hk, head, dtype=dtype)
    value, kb, vb, loc = _fused_case(dtype, buf_dtype, nnz, hk, head, layout, cache_size=nnz + 50)
    v = value.view(nnz, hk, head)
    res = {}
    for dev in ("cpu", "cuda"):
        t = [x.clone().to(dev) for x in (q, k, v, kb, vb, loc)]
        run_op(t[0], t[1], cache.to(dev), pos.to(dev), interleave, fused=(t[2], t[3], t[4], t[5]), scales=scales)
        res[dev] = [x.cpu() for x in t]
    for a, b in zip(res["cpu"], res["cuda"]):
        assert torch.equal(bits(a), bits(b))


@gpu
@pytest.mark.parametrize("section,interleaved", MROPE_CASES)
@pytest.mark.parametrize("nnz", [1, 16, 1000])
@pytest.mark.parametrize("fused", [False, True])
def test_mrope_cuda_matches_cpu(section, interleaved, nnz, fused):
    dtype, hq, hk, head = torch.bfloat16, 64, 4, 128
    cache = make_cache(4096, 128)
    pos = torch.randint(0, 4096, (3, nnz))
    q, k = rand(nnz, hq * head, dtype=dtype), rand(nnz, hk * head, dtype=dtype)
    value, kb, vb, loc = _fused_case(dtype, FP8, nnz, hk, head, "3d", cache_size=nnz + 8)
    res = {}
    for dev in ("cpu", "cuda"):
        t = [x.clone().to(dev) for x in (q, k, value, kb, vb, loc)]
        arg = FusedSetKVBufferArg(t[2], t[3], t[4], 0.5, None, t[5]) if fused else None
        sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(
            pos.to(dev), t[0], t[1], head, cache.to(dev), section, interleaved, fused_set_kv_buffer_arg=arg)
        res[dev] = [x.cpu() for x in t]
    for a, b in zip(res["cpu"], res["cuda"]):
        assert torch.equal(bits(a), bits(b))


@gpu
def test_rope_cuda_graph_replay():
    dtype, nnz, hq, hk, head = torch.bfloat16, 16, 64, 4, 128
    cache = make_cache(1024, 128, device="cuda")
    pos = torch.randint(0, 1024, (nnz,), device="cuda")
    pos3 = torch.randint(0, 1024, (3, nnz), device="cuda")
    query = rand(nnz, hq * head, dtype=dtype, device="cuda")
    key = rand(nnz, hk * head, dtype=dtype, device="cuda")
    value, kb, vb, loc = _fused_case(dtype, FP8, nnz, hk, head, "2d", device="cuda", cache_size=64)
    arg = FusedSetKVBufferArg(value, kb, vb, 0.5, 0.5, loc)

    def body():
        sgl_kernel.apply_rope_with_cos_sin_cache_inplace(pos, query, key, head, cache, True, arg, enable_pdl=True)
        sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(pos3, query, key, head, cache, [24, 20, 20], enable_pdl=True)

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        body()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        body()
    for _ in range(2):
        query.copy_(rand(nnz, hq * head, dtype=dtype, device="cuda"))
        key.copy_(rand(nnz, hk * head, dtype=dtype, device="cuda"))
        pos.copy_(torch.randint(0, 1024, (nnz,), device="cuda"))
        loc.copy_(torch.randperm(64, device="cuda")[:nnz])
        qc, kc, vc, kbc, vbc = (x.cpu() for x in (query, key, value, kb, vb))
        g.replay()
        torch.cuda.synchronize()
        arg_c = FusedSetKVBufferArg(vc, kbc, vbc, 0.5, 0.5, loc.cpu())
        sgl_kernel.apply_rope_with_cos_sin_cache_inplace(pos.cpu(), qc, kc, head, cache.cpu(), True, arg_c)
        sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(pos3.cpu(), qc, kc, head, cache.cpu(), [24, 20, 20])
        for a, b in ((query, qc), (key, kc), (kb, kbc), (vb, vbc)):
            assert torch.equal(bits(a.cpu()), bits(b))


# ---------------------------------------------------------------- torch.library / compile
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_rope(device):
    dtype, nnz, hq, hk, head = torch.bfloat16, 5, 4, 2, 64
    q, k = rand(nnz, hq, head, dtype=dtype, device=device), rand(nnz, hk, head, dtype=dtype, device=device)
    v = rand(nnz, hk, head, dtype=dtype, device=device)
    cache = make_cache(16, 64, device=device)
    pos = torch.randint(0, 16, (nnz,), device=device)
    pos3 = torch.randint(0, 16, (3, nnz), device=device)
    # bf16 buffers: opcheck's own comparisons do arithmetic fp8 tensors lack
    kb = torch.zeros(8, hk * head, dtype=dtype, device=device)
    loc = torch.randperm(8, device=device)[:nnz]
    ops = torch.ops.sgl_kernel
    torch.library.opcheck(ops.apply_rope_pos_ids_cos_sin_cache.default,
                          (q, k, torch.empty_like(q), torch.empty_like(k), cache, pos, False, False,
                           None, None, None, None))
    torch.library.opcheck(ops.apply_rope_pos_ids_cos_sin_cache.default,
                          (q, k, torch.empty_like(q), torch.empty_like(k), cache, pos, True, False,
                           v, kb.clone(), kb.clone(), loc, 0.5, None))
    torch.library.opcheck(ops.apply_mrope_pos_ids_cos_sin_cache.default,
                          (q, k, torch.empty_like(q), torch.empty_like(k), cache, pos3, [8, 12, 12], True, False,
                           False, v, kb.clone(), kb.clone(), loc, None, 2.0))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_rope(device):
    torch._dynamo.reset()
    nnz, hq, hk, head = 4, 4, 2, 64
    cache = make_cache(32, 64, device=device)

    @torch.compile(fullgraph=True)
    def block(qkv, pos, pos3, kb, vb, loc):
        q, k, v = qkv.split([hq * head, hk * head, hk * head], dim=-1)
        arg = FusedSetKVBufferArg(v, kb, vb, None, None, loc)
        sgl_kernel.apply_rope_with_cos_sin_cache_inplace(pos, q, k, head, cache, True, arg)
        sgl_kernel.apply_mrope_with_cos_sin_cache_inplace(pos3, q, k, head, cache, [16, 8, 8], False)
        return q * 2, k + 1

    qkv = rand(nnz, (hq + 2 * hk) * head, dtype=torch.float32, device=device)
    pos = torch.randint(0, 32, (nnz,), device=device)
    pos3 = torch.randint(0, 32, (3, nnz), device=device)
    kb, vb = torch.zeros(8, hk * head, device=device), torch.zeros(8, hk * head, device=device)
    loc = torch.randperm(8, device=device)[:nnz]
    q0 = qkv[:, : hq * head].reshape(nnz, hq, head).clone()
    k0 = qkv[:, hq * head : (hq + hk) * head].reshape(nnz, hk, head).clone()
    q2, k2 = block(qkv, pos, pos3, kb, vb, loc)
    k1 = ref_rope(k0, cache, pos, False)
    q_exp = ref_rope(ref_rope(q0, cache, pos, False), cache, pos3, False, [16, 8, 8], False)
    k_exp = ref_rope(k1, cache, pos3, False, [16, 8, 8], False)
    assert_close(q2.view(nnz, hq, head), q_exp * 2, scale=4)
    assert_close(k2.view(nnz, hk, head), k_exp + 1, scale=4)
    assert_close(kb[loc].view(nnz, hk, head), k1, scale=2)
    assert torch.equal(vb[loc].cpu(), qkv[:, (hq + hk) * head :].cpu())


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
def test_rope_bad_inputs(device):
    nnz, hq, hk, head = 3, 4, 2, 64
    dt = torch.bfloat16
    q, k = rand(nnz, hq, head, dtype=dt, device=device), rand(nnz, hk, head, dtype=dt, device=device)
    cache = make_cache(16, 64, device=device)
    pos = torch.zeros(nnz, dtype=torch.int64, device=device)
    op = torch.ops.sgl_kernel.apply_rope_pos_ids_cos_sin_cache
    mop = torch.ops.sgl_kernel.apply_mrope_pos_ids_cos_sin_cache

    def call(q=q, k=k, qo=None, ko=None, cache=cache, pos=pos, fused=(None,) * 4, scales=(None, None)):
        op(q, k, q.clone() if qo is None else qo, k.clone() if ko is None else ko, cache, pos, False, False,
           *fused, *scales)

    _raises(TypeError, "q must have dtype", call, q=q.int(), k=k.int())
    _raises(TypeError, "k must have the dtype of q", call, k=k.float())
    _raises(ValueError, "q must be 3-D", call, q=q.view(nnz, -1))
    _raises(ValueError, "k must have shape", call, k=k[:2])
    _raises(ValueError, "q_rope must have shape", call, qo=q[:, :2].clone())
    _raises(ValueError, "stride 1", call, q=rand(nnz, hq, 2 * head, dtype=dt, device=device)[..., ::2])
    _raises(TypeError, "cos_sin_cache must have dtype", call, cache=cache.half())
    _raises(ValueError, "rotary_dim", call, cache=make_cache(16, 128, device=device))
    _raises(ValueError, "rotary_dim", call, cache=cache[:, :63])
    _raises(TypeError, "pos_ids must have dtype", call, pos=pos.float())
    _raises(ValueError, "pos_ids must have shape", call, pos=pos[:2])
    v = rand(nnz, hk, head, dtype=dt, device=device)
    kb = torch.zeros(8, hk * head, dtype=dt, device=device)
    loc = torch.arange(nnz, device=device)
    _raises(ValueError, "together", call, fused=(v, kb, None, loc))
    _raises(ValueError, "k_buffer must have shape", call, fused=(v, kb[:, :64], kb, loc))
    _raises(TypeError, "k_buffer must have dtype", call, fused=(v, kb.half(), kb.half(), loc))
    _raises(TypeError, "v_buffer must have the dtype of k_buffer", call, fused=(v, kb, kb.to(FP8), loc))
    _raises(TypeError, "kv_cache_loc must have dtype int64", call, fused=(v, kb, kb, loc.int()))
    _raises(ValueError, "v must have shape", call, fused=(v[:, :1], kb, kb, loc))
    _raises(ValueError, "k_scale must be", call, fused=(v, kb, kb, loc), scales=(0.0, None))
    _raises(ValueError, "k_scale and v_scale apply only", call, scales=(1.0, None))
    pos3 = torch.zeros(3, nnz, dtype=torch.int64, device=device)
    _raises(ValueError, "mrope_section must be", mop, q, k, q.clone(), k.clone(), cache, pos3, [10, 10, 10], True,
            False, False, None, None, None, None)
    _raises(ValueError, "pos_ids must have shape", mop, q, k, q.clone(), k.clone(), cache, pos3[:2], [16, 8, 8],
            True, False, False, None, None, None, None)
    _raises(ValueError, "query must be", sgl_kernel.apply_rope_with_cos_sin_cache_inplace, pos,
            q.view(nnz, -1)[:, :100], k.view(nnz, -1), head, cache)
    if device == "cpu":
        _raises(ValueError, r"pos_ids\[1\] = 16 is out of range", call, pos=torch.tensor([0, 16, 0]))
        _raises(ValueError, "kv_cache_loc.* out of range", call, fused=(v, kb, kb, torch.tensor([0, 8, 1])))
        _raises(ValueError, r"pos_ids\[2, 0\]", mop, q, k, q.clone(), k.clone(), cache,
                torch.tensor([[0, 0, 0], [0, 0, 0], [-1, 0, 0]]), [16, 8, 8], True, False, False,
                None, None, None, None)
    else:
        _raises(RuntimeError, "cos_sin_cache must be on the device of q", call, cache=cache.cpu())
        _raises(RuntimeError, "pos_ids must be on the device of q", call, pos=pos.cpu())
        _raises(RuntimeError, "kv_cache_loc must be on the device", call, fused=(v, kb, kb, loc.cpu()))
