"""Elementwise family benchmark: norms, QK-norm, silu_and_mul and gelu_quick on the
default model's shapes (hidden 4096, expert width 1536 x top-8, 64/4 heads
of 128), against torch eager and torch.compile measured in the same run, and
against the device-to-device copy bandwidth measured in the same run.

Every timing is a CUDA-graph replay cycling over enough buffer sets to keep
inputs out of L2 (sgl_kernel.testing.bench). Writes a markdown table, a JSON
file and a PNG into --out.
"""


import torch

import sgl_kernel
from sgl_kernel.testing.bench import compile_per_shape, start, bench_case, format_table, write_results

TOKENS = [1, 16, 128, 1024, 4096, 16384]
HIDDEN, D_FF, TOPK, HEAD_DIM = 4096, 1536, 8, 128
EPS = 1e-6


def torch_rmsnorm(x, w, out):
    xf = x.float()
    out.copy_((xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS) * w.float()).to(x.dtype))


def torch_fused_add_rmsnorm(x, r, w):
    s = x.float() + r.float()
    r.copy_(s.to(r.dtype))
    x.copy_((s * torch.rsqrt(s.pow(2).mean(-1, keepdim=True) + EPS) * w.float()).to(x.dtype))


def torch_silu_and_mul(x, out):
    d = x.shape[-1] // 2
    out.copy_((torch.nn.functional.silu(x[..., :d].float()) * x[..., d:].float()).to(x.dtype))


def torch_gelu_quick(x, out):
    xf = x.float()
    out.copy_((xf * torch.sigmoid(1.702 * xf)).to(x.dtype))


# gelu_quick: the vision MLP of Qwen2-VL-style towers (width 5120).
D_VIT_MLP = 5120


def main():
    args, copy_gbps = start(__doc__.splitlines()[0], lambda ap: ap.add_argument("--dtypes", default="bfloat16,float16"))
    torch._dynamo.config.cache_size_limit = 256
    dev = "cuda"
    tokens = [1, 16, 4096, 16384] if args.quick else TOKENS
    rows = []
    c_rms = compile_per_shape(torch_rmsnorm)
    c_add = compile_per_shape(torch_fused_add_rmsnorm)
    c_silu = compile_per_shape(torch_silu_and_mul)
    c_gq = compile_per_shape(torch_gelu_quick)
    for dname in args.dtypes.split(","):
        dt = getattr(torch, dname)
        isz = torch.tensor([], dtype=dt).element_size()
        tag = "bf16" if dt == torch.bfloat16 else "fp16"
        for t in tokens:
            w = torch.randn(HIDDEN, device=dev).to(dt)
            nb = (2 * t * HIDDEN + HIDDEN) * isz
            rows.append(bench_case(
                f"rmsnorm {tag}", f"{t}x{HIDDEN}", nb,
                lambda: (torch.randn(t, HIDDEN, device=dev).to(dt), torch.empty(t, HIDDEN, device=dev, dtype=dt)),
                lambda x, o: sgl_kernel.rmsnorm(x, w, EPS, out=o),
                lambda x, o: torch_rmsnorm(x, w, o),
                lambda x, o: c_rms(x, w, o)))
            print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)
            nb = (4 * t * HIDDEN + HIDDEN) * isz
            rows.append(bench_case(
                f"fused_add_rmsnorm {tag}", f"{t}x{HIDDEN}", nb,
                lambda: (torch.randn(t, HIDDEN, device=dev).to(dt), torch.randn(t, HIDDEN, device=dev).to(dt)),
                lambda x, r: sgl_kernel.fused_add_rmsnorm(x, r, w, EPS),
                lambda x, r: torch_fused_add_rmsnorm(x, r, w),
                lambda x, r: c_add(x, r, w)))
            print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)
            r_ = t * TOPK
            nb = 3 * r_ * D_FF * isz
            rows.append(bench_case(
                f"silu_and_mul {tag}", f"{r_}x{2 * D_FF}", nb,
                lambda: (torch.randn(r_, 2 * D_FF, device=dev).to(dt), torch.empty(r_, D_FF, device=dev, dtype=dt)),
                lambda x, o: sgl_kernel.silu_and_mul(x, out=o),
                lambda x, o: torch_silu_and_mul(x, o),
                lambda x, o: c_silu(x, o)))
            print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)
            nb = 2 * t * D_VIT_MLP * isz
            rows.append(bench_case(
                f"gelu_quick {tag}", f"{t}x{D_VIT_MLP}", nb,
                lambda: (torch.randn(t, D_VIT_MLP, device=dev).to(dt), torch.empty(t, D_VIT_MLP, device=dev, dtype=dt)),
                lambda x, o: sgl_kernel.gelu_quick(x, out=o),
                lambda x, o: torch_gelu_quick(x, o),
                lambda x, o: c_gq(x, o)))
            print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)
            for heads in (64, 4):
                wq = torch.randn(HEAD_DIM, device=dev).to(dt)
                nb = (2 * t * heads * HEAD_DIM + HEAD_DIM) * isz
                rows.append(bench_case(
                    f"qk_rmsnorm {tag}", f"{t}x{heads}x{HEAD_DIM}", nb,
                    lambda: (torch.randn(t, heads, HEAD_DIM, device=dev).to(dt),
                             torch.empty(t, heads, HEAD_DIM, device=dev, dtype=dt)),
                    lambda x, o: sgl_kernel.qk_rmsnorm(x, wq, EPS, out=o),
                    lambda x, o: torch_rmsnorm(x, wq, o),
                    lambda x, o: c_rms(x, wq, o)))
                print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)
    write_results(rows, copy_gbps, args.out, "elementwise", "")


if __name__ == "__main__":
    main()
