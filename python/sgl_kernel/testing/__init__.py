"""Test helpers: tolerances by dtype, poisoned outputs, comparisons."""

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# (atol, rtol) for a result rounded once to the dtype, compared with float64.
TOLERANCES = {
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


def cuda_available() -> bool:
    return torch.cuda.is_available()


def devices():
    """The devices a test should run on: CPU always, CUDA where present."""
    return ["cpu", "cuda"] if cuda_available() else ["cpu"]


def poison(t: torch.Tensor) -> torch.Tensor:
    """Fill `t` with a value no kernel would write (NaN for floats), in place."""
    if t.is_floating_point():
        t.fill_(float("nan"))
    else:
        t.fill_(-0x5A5A5A5A if t.element_size() >= 4 else -91)
    return t


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype=None, scale: float = 1.0, msg: str = ""):
    """Compare with the dtype's tolerance (times `scale`); NaNs must match."""
    dtype = dtype or actual.dtype
    atol, rtol = TOLERANCES[dtype]
    torch.testing.assert_close(
        actual.double().cpu(),
        expected.double().cpu(),
        atol=atol * scale,
        rtol=rtol * scale,
        equal_nan=True,
        msg=(lambda m: f"{msg}: {m}") if msg else None,
    )


def strided_rows(rows: int, cols: int, dtype, device, pad: int = 24, offset: int = 0) -> torch.Tensor:
    """Random [rows, cols] view with row stride cols + pad, starting `offset` elements in."""
    base = torch.randn(rows, cols + pad + offset, dtype=torch.float32, device=device).to(dtype)
    return base[:, offset : offset + cols]
