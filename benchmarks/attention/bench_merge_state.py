"""merge_state benchmark: bf16 v of 64 heads x 128 over 1..16384 tokens,
against a torch eager formula and torch.compile of it, measured in the same
run together with the device-to-device copy bandwidth.

Every timing is a CUDA-graph replay cycling over enough buffer sets to keep
inputs out of L2 (sgl_kernel.testing.bench). Writes merge_state.md, .json
and .png into --out.
"""


import torch

import sgl_kernel
from sgl_kernel.testing.bench import compile_per_shape, start, Row, buffer_sets, format_table, time_impls, write_results

TOKENS = [1, 16, 1024, 16384]
HEADS, HEAD_DIM = 64, 128


def torch_merge_state(v_a, s_a, v_b, s_b, v_out, s_out):
    """Base-2 LSE merge, the straightforward formula (no empty-part handling)."""
    m = torch.maximum(s_a, s_b)
    w_a, w_b = torch.exp2(s_a - m), torch.exp2(s_b - m)
    total = w_a + w_b
    v = (v_a.float() * w_a[..., None] + v_b.float() * w_b[..., None]) / total[..., None]
    v_out.copy_(v.to(v_out.dtype))
    s_out.copy_(m + torch.log2(total))


def main():
    args, copy_gbps = start(__doc__.splitlines()[0])
    torch._dynamo.config.cache_size_limit = 64
    dev, dt = "cuda", torch.bfloat16
    compiled = compile_per_shape(torch_merge_state)
    rows = []
    for t in TOKENS:
        # v_a, v_b read and v_out written (bf16); s_a, s_b read and s_out written (fp32).
        nbytes = 3 * t * HEADS * HEAD_DIM * 2 + 3 * t * HEADS * 4

        def make():
            return (
                torch.randn(t, HEADS, HEAD_DIM, device=dev).to(dt),
                torch.randn(t, HEADS, device=dev) * 4,
                torch.randn(t, HEADS, HEAD_DIM, device=dev).to(dt),
                torch.randn(t, HEADS, device=dev) * 4,
                torch.empty(t, HEADS, HEAD_DIM, device=dev, dtype=dt),
                torch.empty(t, HEADS, device=dev),
            )

        sets = buffer_sets(make, nbytes)
        row = Row("merge_state bf16", f"{t}x{HEADS}x{HEAD_DIM}", nbytes)
        row.us.update(time_impls({
            "sgl_kernel": lambda va, sa, vb, sb, vo, so: sgl_kernel.merge_state(va, sa, vb, sb, vo, so),
            "torch.compile": compiled,
            "torch eager": torch_merge_state,
        }, sets))
        rows.append(row)
        print(format_table(rows[-1:], copy_gbps).splitlines()[-1], flush=True)
        del sets
    write_results(rows, copy_gbps, args.out, "merge_state", "")


if __name__ == "__main__":
    main()
