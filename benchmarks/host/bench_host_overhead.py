"""Host overhead per call: 1-token rmsnorm (1 x 4096) through the Python function
and through torch.ops.sgl_kernel, eager, on CUDA where there is a GPU (else CPU).

The time per call is the best of several rounds of back-to-back calls, measured
on the host clock (the GPU is not waited on inside a round, so for CUDA this is
the launch path: argument handling, dispatch, checks, the launch itself). Run
it before and after a change to the adapters; the figure is machine-specific,
so compare two runs on one machine only.
"""

import argparse
import os
import time

import torch

import sgl_kernel


def per_call_us(fn, calls=2000, rounds=7):
    for _ in range(200):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t1 = time.perf_counter()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, (t1 - t0) / calls * 1e6)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="bench_out", help="folder for host_overhead.md")
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    args = ap.parse_args()
    rounds = 3 if args.quick else 7
    dev = args.device
    x = torch.randn(1, 4096, device=dev, dtype=torch.bfloat16)
    w = torch.randn(4096, device=dev, dtype=torch.bfloat16)
    out = torch.empty_like(x)
    rows = [
        ("sgl_kernel.rmsnorm (Python function)", lambda: sgl_kernel.rmsnorm(x, w, 1e-6, out=out)),
        ("torch.ops.sgl_kernel.rmsnorm", lambda: torch.ops.sgl_kernel.rmsnorm(out, x, w, 1e-6, False)),
        ("torch.ops.sgl_kernel.rmsnorm.default", lambda: torch.ops.sgl_kernel.rmsnorm.default(out, x, w, 1e-6, False)),
        ("torch.add (reference: one torch op)", lambda: torch.add(x, x, out=out)),
    ]
    lines = [f"device {dev}, torch {torch.__version__}, sgl_kernel {sgl_kernel.__version__}", "",
             "| call | us per call |", "|---|---|"]
    for name, fn in rows:
        lines.append(f"| {name} | {per_call_us(fn, rounds=rounds):.2f} |")
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "host_overhead.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
