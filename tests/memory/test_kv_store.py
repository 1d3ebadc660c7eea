"""store_kv_cache (set_kv_buffer_kernel), downcast_fp8, copy_to_gpu_no_ce, weak_ref_tensor."""

import pytest
import torch

import sgl_kernel
from sgl_kernel.testing import FLOAT_DTYPES, poison

gpu = pytest.mark.gpu
FP8 = torch.float8_e4m3fn


def rand(*shape, dtype=torch.float32, device="cpu", scale=1.0):
    return (torch.randn(shape, dtype=torch.float32, device=device) * scale).to(dtype)


def distinct_loc(tokens, cache_rows, dtype=torch.int64, device="cpu"):
    return torch.randperm(cache_rows, device=device)[:tokens].to(dtype)


def ref_fp8(x: torch.Tensor) -> torch.Tensor:
    """float -> fp8 e4m3fn with saturation: torch's cast after clamping to +-448."""
    return x.float().clamp(-448, 448).to(FP8)


def bits(t):
    return t.view(torch.uint8) if t.element_size() == 1 else t.view(torch.int16 if t.element_size() == 2 else torch.int32)


# ---------------------------------------------------------------- store_kv_cache
def make_rows(n, row_shape, dtype, device="cpu"):
    if dtype.itemsize == 1:  # random bit patterns (fp8 NaNs included): the copy is bitwise
        return torch.randint(0, 256, (n, *row_shape), dtype=torch.uint8, device=device).view(dtype)
    return rand(n, *row_shape, dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, FP8, torch.uint8])
@pytest.mark.parametrize("row_shape", [(4, 128), (1, 1), (3, 7), (576,)])
@pytest.mark.parametrize("loc_dtype", [torch.int32, torch.int64])
def test_store_kv_cache_cpu_matches_index_put(dtype, row_shape, loc_dtype):
    cache_rows, tokens = 301, 37
    kc, vc = make_rows(cache_rows, row_shape, dtype), make_rows(cache_rows, row_shape, dtype)
    k, v = make_rows(tokens, row_shape, dtype), make_rows(tokens, row_shape, dtype)
    loc = distinct_loc(tokens, cache_rows, loc_dtype)
    ek, ev = bits(kc).clone(), bits(vc).clone()
    ek[loc.long()] = bits(k)
    ev[loc.long()] = bits(v)
    if dtype != FP8:  # torch's index_put has no fp8 kernel on CPU
        kf, vf = kc.clone(), vc.clone()
        sgl_kernel.set_kv_buffer_kernel(kf, vf, loc, k, v, fallback=True)
        assert torch.equal(bits(kf), ek) and torch.equal(bits(vf), ev)
    sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
    assert torch.equal(bits(kc), ek) and torch.equal(bits(vc), ev)


def test_store_kv_cache_cpu_strided_views():
    # k/v as column slices of a fused qkv tensor, caches as row-strided views,
    # loc as a strided view; k and v with different row widths.
    tokens, cache_rows = 9, 50
    qkv = rand(tokens, 8 * 16 + 2 * 16 + 3 * 8, dtype=torch.float16)
    k = qkv[:, 128:160].view(tokens, 2, 16)
    v = qkv[:, 160:184].view(tokens, 3, 8)
    kc_base = rand(cache_rows, 40, dtype=torch.float16)
    kc = kc_base[:, :32].view(cache_rows, 2, 16)
    vc = rand(cache_rows, 3, 8, dtype=torch.float16)
    loc = distinct_loc(2 * tokens, cache_rows)[::2]
    keep = kc_base.clone()
    ek, ev = kc.clone(), vc.clone()
    ek[loc] = k
    ev[loc] = v
    sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
    assert torch.equal(kc, ek) and torch.equal(vc, ev)
    assert torch.equal(kc_base[:, 32:], keep[:, 32:])


def test_store_kv_cache_cpu_out_of_range_raises_before_writing():
    kc, vc = torch.zeros(10, 4), torch.zeros(10, 4)
    k, v = torch.ones(3, 4), torch.ones(3, 4)
    for bad in (10, -1):
        loc = torch.tensor([1, bad, 2])
        with pytest.raises(ValueError, match=r"out_loc\[1\] = .* outside the cache \[0, 10\)"):
            sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
        assert not kc.any() and not vc.any()


def test_store_kv_cache_zero_tokens_cpu():
    kc, vc = torch.zeros(10, 4), torch.zeros(10, 4)
    sgl_kernel.set_kv_buffer_kernel(kc, vc, torch.empty(0, dtype=torch.int64), kc[:0], vc[:0])
    assert not kc.any()


@gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, FP8])
@pytest.mark.parametrize("row_shape", [(4, 128), (8, 128), (1, 576), (3, 7), (1,), (2, 5, 3)])
@pytest.mark.parametrize("tokens", [1, 16, 1000])
@pytest.mark.parametrize("loc_dtype", [torch.int32, torch.int64])
def test_store_kv_cache_cuda_matches_cpu(dtype, row_shape, tokens, loc_dtype):
    cache_rows = 4099
    kc, vc = make_rows(cache_rows, row_shape, dtype), make_rows(cache_rows, row_shape, dtype)
    k, v = make_rows(tokens, row_shape, dtype), make_rows(tokens, row_shape, dtype)
    loc = distinct_loc(tokens, cache_rows, loc_dtype)
    kg, vg = kc.cuda(), vc.cuda()
    sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
    sgl_kernel.set_kv_buffer_kernel(kg, vg, loc.cuda(), k.cuda(), v.cuda())
    assert torch.equal(bits(kg.cpu()), bits(kc)) and torch.equal(bits(vg.cpu()), bits(vc))


@gpu
@pytest.mark.parametrize("offset", [0, 1])
def test_store_kv_cache_cuda_strided_and_misaligned(offset):
    # offset=1 moves rows off 16-byte alignment: narrower accesses.
    tokens, cache_rows, row = 33, 700, 4 * 128
    qkv = rand(tokens, 3 * row + offset, dtype=torch.bfloat16, device="cuda")
    k = qkv[:, offset + row : offset + 2 * row].view(tokens, 4, 128)
    v = qkv[:, offset + 2 * row : offset + 3 * row].view(tokens, 4, 128)
    base = rand(cache_rows, row + 8 + offset, dtype=torch.bfloat16, device="cuda")
    kc = base[:, offset : offset + row].view(cache_rows, 4, 128)
    vc = rand(cache_rows, 4, 128, dtype=torch.bfloat16, device="cuda")
    loc = distinct_loc(2 * tokens, cache_rows, device="cuda")[::2]
    ek, ev, keep = kc.clone(), vc.clone(), base.clone()
    ek[loc] = k
    ev[loc] = v
    sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
    assert torch.equal(kc, ek) and torch.equal(vc, ev)
    assert torch.equal(base[:, offset + row :], keep[:, offset + row :])
    assert torch.equal(base[:, :offset], keep[:, :offset])


@gpu
def test_store_kv_cache_cuda_out_of_range_skipped():
    kc, vc = torch.zeros(10, 4, device="cuda"), torch.zeros(10, 4, device="cuda")
    k, v = torch.ones(3, 4, device="cuda"), 2 * torch.ones(3, 4, device="cuda")
    sgl_kernel.set_kv_buffer_kernel(kc, vc, torch.tensor([1, 10, -3], device="cuda"), k, v)
    torch.cuda.synchronize()
    assert kc[1].eq(1).all() and vc[1].eq(2).all()
    assert kc.sum() == 4 and vc.sum() == 8


@gpu
def test_store_kv_cache_cuda_graph_replay():
    cache_rows, tokens = 1000, 16
    kc = torch.zeros(cache_rows, 4, 128, dtype=torch.bfloat16, device="cuda")
    vc = torch.zeros_like(kc)
    k, v = rand(tokens, 4, 128, dtype=torch.bfloat16, device="cuda"), rand(tokens, 4, 128, dtype=torch.bfloat16, device="cuda")
    loc = distinct_loc(tokens, cache_rows, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
    for _ in range(2):
        k.copy_(rand(tokens, 4, 128, dtype=torch.bfloat16, device="cuda"))
        v.copy_(rand(tokens, 4, 128, dtype=torch.bfloat16, device="cuda"))
        loc.copy_(distinct_loc(tokens, cache_rows, device="cuda"))
        g.replay()
        torch.cuda.synchronize()
        assert torch.equal(kc[loc], k) and torch.equal(vc[loc], v)


# ---------------------------------------------------------------- downcast_fp8
def ref_downcast(k, v, k_out, v_out, ks, vs, loc, mult, offset):
    k_out, v_out = k_out.clone(), v_out.clone()
    rows = loc.long() * mult + offset
    k_out[rows] = ref_fp8(k.float() / ks.float())
    v_out[rows] = ref_fp8(v.float() / vs.float())
    return k_out, v_out


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("heads,dim", [(4, 128), (1, 1), (3, 7)])
@pytest.mark.parametrize("mult,offset", [(1, 0), (2, 1)])
@pytest.mark.parametrize("loc_dtype", [torch.int32, torch.int64])
def test_downcast_fp8_cpu_matches_formula(dtype, heads, dim, mult, offset, loc_dtype):
    tokens, rows = 13, 64
    k, v = rand(tokens, heads, dim, dtype=dtype, scale=30), rand(tokens, heads, dim, dtype=dtype, scale=30)
    k[0, 0, 0] = 5000.0  # saturates to 448 after the division
    v[0, 0, 0] = -float("inf")
    k_out = torch.zeros(rows, heads, dim, dtype=FP8)
    v_out = torch.zeros(rows, heads, dim, dtype=FP8)
    ks, vs = torch.tensor([0.7]), torch.tensor([1.3])
    loc = distinct_loc(tokens, rows // mult - 1, loc_dtype)
    ek, ev = ref_downcast(k, v, k_out, v_out, ks, vs, loc, mult, offset)
    sgl_kernel.downcast_fp8(k, v, k_out, v_out, ks, vs, loc, mult, offset)
    assert torch.equal(bits(k_out), bits(ek)) and torch.equal(bits(v_out), bits(ev))
    assert k_out[loc[0].long() * mult + offset, 0, 0].float() == 448
    assert v_out[loc[0].long() * mult + offset, 0, 0].float() == -448


def test_downcast_fp8_cpu_out_of_range_raises():
    k = rand(2, 1, 8)
    out = torch.zeros(4, 1, 8, dtype=FP8)
    one = torch.ones(1)
    with pytest.raises(ValueError, match=r"loc\[1\] \* mult \+ offset = 1 \* 2 \+ 3 = 5 is outside k_out's rows"):
        sgl_kernel.downcast_fp8(k, k, out, out.clone(), one, one, torch.tensor([0, 1]), 2, 3)
    assert not bits(out).any()


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("heads,dim", [(4, 128), (8, 64), (1, 1), (3, 7), (2, 12)])
@pytest.mark.parametrize("tokens", [1, 16, 777])
def test_downcast_fp8_cuda_matches_cpu(dtype, heads, dim, tokens):
    rows, mult, offset = 2 * tokens + 5, 2, 1
    k, v = rand(tokens, heads, dim, dtype=dtype, scale=100), rand(tokens, heads, dim, dtype=dtype, scale=100)
    k_out, v_out = torch.full((rows, heads, dim), 0x5A, dtype=torch.uint8).view(FP8), torch.zeros(rows, heads, dim, dtype=FP8)
    ks, vs = torch.tensor([0.37]), torch.tensor([2.5])
    loc = distinct_loc(tokens, tokens + 2)
    kg, vg = k_out.cuda(), v_out.cuda()
    sgl_kernel.downcast_fp8(k, v, k_out, v_out, ks, vs, loc, mult, offset)
    sgl_kernel.downcast_fp8(k.cuda(), v.cuda(), kg, vg, ks.cuda(), vs.cuda(), loc.cuda(), mult, offset)
    assert torch.equal(bits(kg.cpu()), bits(k_out)) and torch.equal(bits(vg.cpu()), bits(v_out))


@gpu
def test_downcast_fp8_cuda_strided_graph_reads_scale():
    tokens, heads, dim, rows = 16, 4, 128, 100
    kv = rand(tokens, 2, heads, dim, dtype=torch.bfloat16, device="cuda", scale=10)
    k, v = kv[:, 0], kv[:, 1]  # token stride 2 * heads * dim
    k_out = torch.zeros(rows, heads, dim, dtype=FP8, device="cuda")
    v_out = torch.zeros(rows, heads, dim, dtype=FP8, device="cuda")
    ks, vs = torch.tensor([1.0], device="cuda"), torch.tensor([1.0], device="cuda")
    loc = distinct_loc(tokens, rows, torch.int32, "cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.downcast_fp8(k, v, k_out, v_out, ks, vs, loc)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.downcast_fp8(k, v, k_out, v_out, ks, vs, loc)
    for scale in (0.5, 3.0):
        ks.fill_(scale)
        vs.fill_(2 * scale)
        g.replay()
        torch.cuda.synchronize()
        ek, ev = ref_downcast(k.cpu(), v.cpu(), k_out.cpu(), v_out.cpu(), ks.cpu(), vs.cpu(), loc.cpu(), 1, 0)
        assert torch.equal(bits(k_out.cpu()), bits(ek)) and torch.equal(bits(v_out.cpu()), bits(ev))


# ---------------------------------------------------------------- copy_to_gpu_no_ce
@pytest.mark.parametrize("n", [0, 1, 77, 1024])
def test_copy_to_gpu_no_ce_cpu(n):
    x = torch.randint(-(2**31), 2**31 - 1, (n,), dtype=torch.int32)
    out = poison(torch.empty(n, dtype=torch.int32))
    sgl_kernel.copy_to_gpu_no_ce(x, out)
    assert torch.equal(out, x)


def test_copy_to_gpu_no_ce_bad_inputs_cpu():
    with pytest.raises(ValueError, match="at most 1024 elements"):
        sgl_kernel.copy_to_gpu_no_ce(torch.zeros(1025, dtype=torch.int32), torch.zeros(1025, dtype=torch.int32))
    with pytest.raises(TypeError, match="input must have dtype int32"):
        sgl_kernel.copy_to_gpu_no_ce(torch.zeros(4, dtype=torch.int64), torch.zeros(4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"output must have shape \[4\]"):
        sgl_kernel.copy_to_gpu_no_ce(torch.zeros(4, dtype=torch.int32), torch.zeros(5, dtype=torch.int32))


@gpu
@pytest.mark.parametrize("n", [1, 33, 1024])
def test_copy_to_gpu_no_ce_cuda_and_graph(n):
    x = torch.randint(-1000, 1000, (n,), dtype=torch.int32)
    out = poison(torch.empty(n, dtype=torch.int32, device="cuda"))
    sgl_kernel.copy_to_gpu_no_ce(x, out)
    assert torch.equal(out.cpu(), x)
    # captured: the graph replays the values seen at capture
    out2 = poison(torch.empty(n, dtype=torch.int32, device="cuda"))
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.copy_to_gpu_no_ce(x, out2)
    captured = x.clone()
    x.add_(5)
    g.replay()
    torch.cuda.synchronize()
    assert torch.equal(out2.cpu(), captured)
    with pytest.raises(RuntimeError, match="input must be a CPU tensor"):
        sgl_kernel.copy_to_gpu_no_ce(x.cuda(), out)


# ---------------------------------------------------------------- weak_ref_tensor
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_weak_ref_tensor_aliases(device):
    base = rand(6, 10, device=device)
    t = base[1:, 2:7].t()  # offset and non-contiguous
    w = sgl_kernel.weak_ref_tensor(t)
    assert w.data_ptr() == t.data_ptr() and w.shape == t.shape and w.stride() == t.stride()
    assert w.dtype == t.dtype and w.device == t.device
    base.fill_(3.0)
    assert w.eq(3.0).all()
    w.fill_(4.0)
    assert t.eq(4.0).all()
    assert sgl_kernel.weak_ref_tensor(tensor=t).data_ptr() == t.data_ptr()  # upstream's argument name


def test_weak_ref_tensor_passes_non_tensors_through():
    for x in (None, 3, 2.5, "s", [1, 2], (torch.ones(1),)):
        assert sgl_kernel.weak_ref_tensor(x) is x


# ---------------------------------------------------------------- torch.library / compile
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_kv_ops(device):
    ops = torch.ops.sgl_kernel
    kc, vc = rand(20, 4, 16, device=device), rand(20, 4, 16, device=device)
    k, v = rand(5, 4, 16, device=device), rand(5, 4, 16, device=device)
    loc = distinct_loc(5, 20, device=device)
    torch.library.opcheck(ops.store_kv_cache.default, (kc, vc, loc, k, v))
    ko = torch.zeros(20, 4, 16, dtype=FP8, device=device)
    one = torch.ones(1, device=device)
    # The schema check compares outputs with arithmetic torch lacks for fp8.
    fp8_utils = ("test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(ops.downcast_fp8.default, (k, v, ko, ko.clone(), one, one, loc, 1, 0), test_utils=fp8_utils)
    x = torch.arange(7, dtype=torch.int32)
    torch.library.opcheck(ops.copy_to_gpu_no_ce.default, (x, torch.empty(7, dtype=torch.int32, device=device)))
    # weak_ref_tensor aliases its input by design, against its (upstream)
    # schema: only the fake is checked here; torch.compile is tested below.
    torch.library.opcheck(ops.weak_ref_tensor.default, (k,), test_utils=("test_faketensor",))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_kv_ops(device):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def step(kc, vc, loc, k, v, ko, vo, ks, vs):
        sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v)
        sgl_kernel.downcast_fp8(k, v, ko, vo, ks, vs, loc)
        return sgl_kernel.weak_ref_tensor(kc)

    kc, vc = torch.zeros(30, 2, 8, device=device), torch.zeros(30, 2, 8, device=device)
    k, v = rand(4, 2, 8, device=device), rand(4, 2, 8, device=device)
    ko, vo = torch.zeros(30, 2, 8, dtype=FP8, device=device), torch.zeros(30, 2, 8, dtype=FP8, device=device)
    ks, vs = torch.tensor([0.5], device=device), torch.tensor([2.0], device=device)
    loc = distinct_loc(4, 30, device=device)
    ref = step(kc, vc, loc, k, v, ko, vo, ks, vs)
    assert torch.equal(kc[loc], k) and torch.equal(vc[loc], v)
    assert ref.data_ptr() == kc.data_ptr() and torch.equal(ref, kc)
    assert torch.equal(bits(ko.cpu())[loc.cpu()], bits(ref_fp8(k.cpu() / 0.5)))


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_kv_bad_inputs(device):
    kc, vc = rand(20, 4, 16, device=device), rand(20, 4, 16, device=device)
    k, v = rand(5, 4, 16, device=device), rand(5, 4, 16, device=device)
    loc = distinct_loc(5, 20, device=device)
    f = sgl_kernel.set_kv_buffer_kernel
    with pytest.raises(TypeError, match="k must have the dtype of k_cache"):
        f(kc, vc, loc, k.half(), v)
    with pytest.raises(TypeError, match="out_loc must have dtype int32 or int64"):
        f(kc, vc, loc.float(), k, v)
    with pytest.raises(ValueError, match="k must have the row shape of k_cache"):
        f(kc, vc, loc, k[:, :3], v)
    with pytest.raises(ValueError, match="k and v must have out_loc's 4 tokens, got 5 and 5"):
        f(kc, vc, loc[:4], k, v)
    with pytest.raises(ValueError, match="k must be contiguous after its first dim"):
        f(kc, vc, loc, rand(5, 16, 4, device=device).transpose(1, 2), v)
    ko = torch.zeros(20, 4, 16, dtype=FP8, device=device)
    one = torch.ones(1, device=device)
    d = sgl_kernel.downcast_fp8
    with pytest.raises(TypeError, match="k_out must have dtype float8_e4m3fn"):
        d(k, v, kc, ko, one, one, loc)
    with pytest.raises(TypeError, match="k_scale must have dtype float32"):
        d(k, v, ko, ko, one.half(), one, loc)
    with pytest.raises(ValueError, match="v_scale must have 1 element"):
        d(k, v, ko, ko, one, torch.ones(2, device=device), loc)
    with pytest.raises(ValueError, match=r"k_out must have shape \[rows, 4, 16\]"):
        d(k, v, ko[:, :2], ko, one, one, loc)
    with pytest.raises(ValueError, match=r"loc must have shape \[5\]"):
        d(k, v, ko, ko, one, one, loc[:3])
    if device == "cuda":
        with pytest.raises(RuntimeError, match="k must be on the device of k_cache"):
            f(kc, vc, loc, k.cpu(), v)
        with pytest.raises(RuntimeError, match="k_scale must be on the device of k"):
            d(k, v, ko, ko, one.cpu(), one, loc)
