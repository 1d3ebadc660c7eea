import pytest
import torch
import torch.nn.functional as F

import sgl_kernel
from sgl_kernel.testing import FLOAT_DTYPES, assert_close, poison, strided_rows

gpu = pytest.mark.gpu

REFS = {
    "silu_and_mul": lambda a, b: F.silu(a) * b,
    "gelu_and_mul": lambda a, b: F.gelu(a) * b,
    "gelu_tanh_and_mul": lambda a, b: F.gelu(a, approximate="tanh") * b,
}
OPS = list(REFS)


def ref(name, x):
    x64 = x.double()
    d = x.shape[-1] // 2
    return REFS[name](x64[..., :d], x64[..., d:])


def rand(*shape, dtype, device="cpu", scale=2.0):
    return (torch.randn(*shape, dtype=torch.float32, device=device) * scale).to(dtype)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(1, 2), (7, 2 * 199), (3, 2 * 1536), (2, 3, 2 * 64), (2 * 8,)])
def test_gated_cpu_matches_formula(name, dtype, shape):
    x = rand(*shape, dtype=dtype)
    out = poison(torch.empty(*shape[:-1], shape[-1] // 2, dtype=dtype))
    getattr(sgl_kernel, name)(x, out=out)
    assert_close(out, ref(name, x))
    assert_close(getattr(sgl_kernel, name)(x), ref(name, x))


@pytest.mark.parametrize("name", OPS)
def test_gated_cpu_strided_rows_and_nan(name):
    x = strided_rows(5, 2 * 96, torch.bfloat16, "cpu", pad=10)
    x[1, 3] = float("nan")
    x[2, 100] = float("inf")
    out = strided_rows(5, 96, torch.bfloat16, "cpu", pad=7)
    poison(out)
    getattr(sgl_kernel, name)(x, out=out)
    assert_close(out, ref(name, x))
    assert torch.isnan(out[1, 3])


@gpu
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rows,d", [(1, 1), (8, 1536), (128, 1536), (3, 199), (5, 4097), (2, 12288), (4096, 1536)])
def test_gated_cuda_matches_cpu(name, dtype, rows, d):
    x = rand(rows, 2 * d, dtype=dtype)
    x[0, 0] = float("nan")
    expect = getattr(sgl_kernel, name)(x)
    out = poison(torch.empty(rows, d, dtype=dtype, device="cuda"))
    getattr(sgl_kernel, name)(x.cuda(), out=out)
    assert_close(out, expect)
    assert_close(out, ref(name, x))


@gpu
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("offset", [0, 1, 8])
def test_gated_cuda_strided_misaligned(name, offset):
    x = strided_rows(37, 2 * 1536, torch.bfloat16, "cuda", pad=40, offset=offset)
    out = poison(strided_rows(37, 1536, torch.bfloat16, "cuda", pad=16, offset=offset))
    getattr(sgl_kernel, name)(x, out=out)
    assert_close(out, ref(name, x.cpu()))
    x3 = rand(4, 9, 2 * 64, dtype=torch.float16, device="cuda")
    assert_close(getattr(sgl_kernel, name)(x3), ref(name, x3.cpu()))


@gpu
def test_gated_cuda_graph_replay():
    x = rand(64, 2 * 1536, dtype=torch.bfloat16, device="cuda")
    out = torch.empty(64, 1536, dtype=torch.bfloat16, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.silu_and_mul(x, out=out)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.silu_and_mul(x, out=out)
    for _ in range(2):
        x.copy_(rand(64, 2 * 1536, dtype=torch.bfloat16, device="cuda"))
        g.replay()
        torch.cuda.synchronize()
        assert_close(out, ref("silu_and_mul", x.cpu()))


@gpu
@pytest.mark.large
def test_silu_and_mul_past_2_31_elements():
    rows, d = (2**31) // 4096 + 5, 2048
    x = torch.empty(rows, 2 * d, dtype=torch.bfloat16, device="cuda").normal_()
    out = sgl_kernel.silu_and_mul(x)
    for sl in (slice(0, 3), slice(rows - 3, rows)):
        assert_close(out[sl], ref("silu_and_mul", x[sl].cpu()))
    del x, out
    torch.cuda.empty_cache()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck_gated(device):
    x = rand(6, 2 * 128, dtype=torch.bfloat16, device=device)
    for name in OPS:
        op = getattr(torch.ops.sgl_kernel, name).default
        torch.library.opcheck(op, (torch.empty(6, 128, dtype=torch.bfloat16, device=device), x))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph_gated(device):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def mlp(x):
        return sgl_kernel.silu_and_mul(x) + sgl_kernel.gelu_tanh_and_mul(x) * sgl_kernel.gelu_and_mul(x)

    x = rand(4, 2 * 64, dtype=torch.float32, device=device)
    expect = ref("silu_and_mul", x.cpu()) + ref("gelu_tanh_and_mul", x.cpu()) * ref("gelu_and_mul", x.cpu())
    assert_close(mlp(x), expect, scale=10)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_gated_bad_inputs(device):
    x = rand(4, 64, dtype=torch.float16, device=device)
    with pytest.raises(ValueError, match="last dim must be even"):
        sgl_kernel.silu_and_mul(rand(4, 63, dtype=torch.float16, device=device))
    with pytest.raises(ValueError, match="last dim must be even"):
        torch.ops.sgl_kernel.silu_and_mul(torch.empty(4, 31, dtype=torch.float16, device=device), x[:, :63])
    with pytest.raises(TypeError, match="input must have dtype"):
        sgl_kernel.gelu_and_mul(x.int())
    with pytest.raises(TypeError, match="out must have the dtype"):
        sgl_kernel.silu_and_mul(x, out=torch.empty(4, 32, dtype=torch.float32, device=device))
    with pytest.raises(ValueError, match="out must have shape"):
        sgl_kernel.silu_and_mul(x, out=torch.empty(4, 33, dtype=torch.float16, device=device))
    with pytest.raises(ValueError, match="stride 1"):
        sgl_kernel.silu_and_mul(rand(4, 128, dtype=torch.float16, device=device)[:, ::2])
    with pytest.raises(ValueError, match="collapse"):
        sgl_kernel.silu_and_mul(rand(4, 6, 64, dtype=torch.float16, device=device).transpose(0, 1))
    if device == "cuda":
        with pytest.raises(RuntimeError, match="out must be on the device"):
            sgl_kernel.silu_and_mul(x, out=torch.empty(4, 32, dtype=torch.float16))
