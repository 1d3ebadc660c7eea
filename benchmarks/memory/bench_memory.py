"""Memory family benchmark: store_kv_cache and downcast_fp8 at Qwen3-VL's KV
shapes (4 kv heads x 128, bf16, random distinct slots of a 200k-slot cache),
concat_mla_k at DeepSeek MLA shapes (128 heads, 128 + 64) and a bf16 -> fp8
cast of [16384, 4096], against torch eager (index_put_ / slice copies / .to)
and torch.compile of the same code, and against the device-to-device copy
bandwidth measured in the same run.

Every timing is a CUDA-graph replay cycling over enough buffer sets to keep
inputs out of L2 (sgl_kernel.testing.bench); the caches are shared by all sets
(as in serving), so the scattered writes land at cold random rows. Writes
memory.md, memory.json and memory.png into --out.
"""


import torch

import sgl_kernel
from sgl_kernel.testing.bench import compile_per_shape, start, bench_case, format_table, write_results

KV_HEADS, HEAD_DIM, CACHE_SLOTS = 4, 128, 200_000
MLA_HEADS, NOPE, ROPE = 128, 128, 64
FP8 = torch.float8_e4m3fn


def torch_store_kv(kc, vc, loc, k, v):
    kc[loc] = k
    vc[loc] = v


def torch_downcast_fp8(k, v, ko, vo, ks, vs, loc):
    # index_put_ has no fp8 kernel: scatter the bytes.
    ko.view(torch.uint8)[loc] = (k / ks).to(FP8).view(torch.uint8)
    vo.view(torch.uint8)[loc] = (v / vs).to(FP8).view(torch.uint8)


def torch_concat_mla_k(k, k_nope, k_rope):
    k[..., :NOPE] = k_nope
    k[..., NOPE:] = k_rope


def torch_cast(x, out):
    out.copy_(x)


def main():
    args, copy_gbps = start(__doc__.splitlines()[0])
    torch._dynamo.config.cache_size_limit = 256
    dev, bf16 = "cuda", torch.bfloat16
    rows = []

    def emit(row):
        rows.append(row)
        print(format_table([row], copy_gbps).splitlines()[-1], flush=True)

    c_store = compile_per_shape(torch_store_kv)
    c_down = compile_per_shape(torch_downcast_fp8)
    c_concat = compile_per_shape(torch_concat_mla_k)
    c_cast = compile_per_shape(torch_cast)

    kc = torch.zeros(CACHE_SLOTS, KV_HEADS, HEAD_DIM, dtype=bf16, device=dev)
    vc = torch.zeros_like(kc)
    ko = torch.zeros(CACHE_SLOTS, KV_HEADS, HEAD_DIM, dtype=FP8, device=dev)
    vo = torch.zeros_like(ko)
    ks = torch.tensor([0.5], device=dev)
    vs = torch.tensor([0.25], device=dev)
    row_elems = KV_HEADS * HEAD_DIM
    tokens_list = [1, 16, 16384] if args.quick else [1, 16, 1024, 16384]
    for t in tokens_list:
        def make_kv(t=t):
            k = torch.randn(t, KV_HEADS, HEAD_DIM, device=dev).to(bf16)
            v = torch.randn(t, KV_HEADS, HEAD_DIM, device=dev).to(bf16)
            loc = torch.randperm(CACHE_SLOTS, device=dev)[:t]
            return k, v, loc

        shape = f"{t}x{KV_HEADS}x{HEAD_DIM}"
        # bytes: k and v read and written once, loc read once
        emit(bench_case(
            "store_kv_cache bf16", shape, 2 * 2 * t * row_elems * 2 + t * 8, make_kv,
            lambda k, v, loc: sgl_kernel.set_kv_buffer_kernel(kc, vc, loc, k, v),
            lambda k, v, loc: torch_store_kv(kc, vc, loc, k, v),
            lambda k, v, loc: c_store(kc, vc, loc, k, v)))
        emit(bench_case(
            "downcast_fp8 bf16->fp8", shape, 2 * t * row_elems * (2 + 1) + t * 8 + 8, make_kv,
            lambda k, v, loc: sgl_kernel.downcast_fp8(k, v, ko, vo, ks, vs, loc),
            lambda k, v, loc: torch_downcast_fp8(k, v, ko, vo, ks, vs, loc),
            lambda k, v, loc: c_down(k, v, ko, vo, ks, vs, loc)))

    for t in [16, 4096]:
        def make_mla(t=t):
            return (torch.empty(t, MLA_HEADS, NOPE + ROPE, dtype=bf16, device=dev),
                    torch.randn(t, MLA_HEADS, NOPE, device=dev).to(bf16),
                    torch.randn(t, 1, ROPE, device=dev).to(bf16))

        emit(bench_case(
            "concat_mla_k bf16", f"{t}x{MLA_HEADS}x({NOPE}+{ROPE})",
            2 * (t * MLA_HEADS * (NOPE + NOPE + ROPE) + t * ROPE), make_mla,
            lambda k, kn, kr: sgl_kernel.concat_mla_k(k, kn, kr),
            torch_concat_mla_k, c_concat))

    n, d = 16384, 4096
    emit(bench_case(
        "cast bf16->fp8", f"{n}x{d}", n * d * 3,
        lambda: (torch.randn(n, d, device=dev).to(bf16), torch.empty(n, d, dtype=FP8, device=dev)),
        lambda x, o: sgl_kernel.cast(x, FP8, out=o), torch_cast, c_cast))

    write_results(rows, copy_gbps, args.out, "memory", ("The caches are shared. torch's fp8 cast does not saturate (NaN past 464); ours does (+-448)."))


if __name__ == "__main__":
    main()
