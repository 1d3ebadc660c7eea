"""gelu_quick: x * sigmoid(1.702 x), an extension on CPU and CUDA."""

import pytest
import torch

import sgl_kernel
from sgl_kernel.testing import FLOAT_DTYPES, assert_close, poison, strided_rows

gpu = pytest.mark.gpu


def ref(x):
    x64 = x.double()
    return x64 * torch.sigmoid(1.702 * x64)


def rand(*shape, dtype, device="cpu", scale=3.0):
    return (torch.randn(*shape, dtype=torch.float32, device=device) * scale).to(dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(1,), (1, 1), (7, 199), (3, 1280), (2, 3, 64), (4096,)])
def test_gelu_quick_cpu_matches_formula(dtype, shape):
    x = rand(*shape, dtype=dtype)
    out = poison(torch.empty(shape, dtype=dtype))
    assert sgl_kernel.gelu_quick(x, out=out) is out
    assert_close(out, ref(x))
    assert_close(sgl_kernel.gelu_quick(x), ref(x))


def test_gelu_quick_strided_rows_nan_inf():
    x = strided_rows(5, 96, torch.bfloat16, "cpu", pad=10)
    x[1, 3] = float("nan")
    x[2, 10] = float("inf")
    x[3, 11] = float("-inf")
    out = poison(strided_rows(5, 96, torch.bfloat16, "cpu", pad=7))
    sgl_kernel.gelu_quick(x, out=out)
    assert_close(out, ref(x))
    assert torch.isnan(out[1, 3]) and out[2, 10] == float("inf") and torch.isnan(out[3, 11])  # -inf * sigmoid(-inf), as torch


@gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rows,d", [(1, 1), (1, 1280), (3, 199), (257, 1280), (5, 4097), (4096, 3456)])
def test_gelu_quick_cuda_matches_cpu(dtype, rows, d):
    x = rand(rows, d, dtype=dtype)
    x[0, 0] = float("nan")
    expect = sgl_kernel.gelu_quick(x)
    out = poison(torch.empty(rows, d, dtype=dtype, device="cuda"))
    sgl_kernel.gelu_quick(x.cuda(), out=out)
    # __expf against std::exp: a few ulp of fp32 before the rounding to dtype.
    assert_close(out.cpu(), expect.double(), dtype=dtype, scale=1.0 if dtype != torch.float32 else 10.0)


@gpu
def test_gelu_quick_cuda_strided_and_misaligned():
    base = rand(9, 203, dtype=torch.float16, device="cuda")
    x = base[:, 1:200]  # rows 2-byte aligned only: the element path
    out = poison(torch.empty(9, 199, dtype=torch.float16, device="cuda"))
    sgl_kernel.gelu_quick(x, out=out)
    assert_close(out.cpu(), ref(x.cpu()))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_gelu_quick_opcheck_and_compile(device):
    x = rand(6, 40, dtype=torch.bfloat16, device=device)
    torch.library.opcheck(torch.ops.sgl_kernel.gelu_quick.default, (torch.empty_like(x), x))
    torch._dynamo.reset()
    f = torch.compile(lambda t: sgl_kernel.gelu_quick(t) * 2, fullgraph=True)
    assert_close(f(x).cpu(), ref(x.cpu()) * 2)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_gelu_quick_bad_inputs(device):
    x = rand(4, 8, dtype=torch.float16, device=device)
    with pytest.raises(TypeError, match="input"):
        sgl_kernel.gelu_quick(x.to(torch.int32))
    with pytest.raises(TypeError, match="out"):
        sgl_kernel.gelu_quick(x, out=torch.empty(4, 8, dtype=torch.float32, device=device))
    with pytest.raises(ValueError, match="out"):
        sgl_kernel.gelu_quick(x, out=torch.empty(4, 9, dtype=torch.float16, device=device))
    with pytest.raises(ValueError, match="input"):
        sgl_kernel.gelu_quick(torch.tensor(1.0, device=device))
    with pytest.raises(RuntimeError):  # the dual classes: upstream callers catch RuntimeError
        sgl_kernel.gelu_quick(x, out=torch.empty(4, 9, dtype=torch.float16, device=device))
