"""A short tour: each op on the default model's shapes (hidden 4096, expert
width 1536, 64 q heads of 128), checked against a float64 torch formula."""

import torch

import sgl_kernel

device = "cuda" if torch.cuda.is_available() else "cpu"
dt = torch.bfloat16
torch.manual_seed(0)


def err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


x = torch.randn(16, 4096, device=device, dtype=dt)
w = torch.randn(4096, device=device, dtype=dt)
ref = x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + 1e-6) * w.double()
print(f"[{device}] rmsnorm            [16, 4096]  rel err {err(sgl_kernel.rmsnorm(x, w), ref):.2e}")

r = torch.randn_like(x)
s = x.double() + r.double()
ref = s * torch.rsqrt(s.pow(2).mean(-1, keepdim=True) + 1e-6) * w.double()
sgl_kernel.fused_add_rmsnorm(x, r, w)
print(f"[{device}] fused_add_rmsnorm  [16, 4096]  rel err {err(x, ref):.2e}")

qkv = torch.randn(16, (64 + 8) * 128, device=device, dtype=dt)
q = qkv[:, : 64 * 128].view(16, 64, 128)  # a strided view of the fused projection
wq = torch.randn(128, device=device, dtype=dt)
ref = q.double() * torch.rsqrt(q.double().pow(2).mean(-1, keepdim=True) + 1e-6) * wq.double()
sgl_kernel.qk_rmsnorm(q, wq, out=q)
print(f"[{device}] qk_rmsnorm in place [16, 64, 128] rel err {err(q, ref):.2e}")

h = torch.randn(16 * 8, 2 * 1536, device=device, dtype=dt)
ref = torch.nn.functional.silu(h[:, :1536].double()) * h[:, 1536:].double()
print(f"[{device}] silu_and_mul       [128, 3072] rel err {err(sgl_kernel.silu_and_mul(h), ref):.2e}")

