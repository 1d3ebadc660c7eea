"""KV-cache I/O benchmark: every transfer_kv_* variant at page sizes 1, 16
and 64, moving 16384 tokens of Qwen3-VL-sized items (4 kv heads x 128 x bf16 =
1024 bytes per layer; 94 layers for the all-layer variants when memory allows).

* device -> device: GB/s (bytes read + written) and the fraction of the
  device copy bandwidth measured in this run, with a block_quota that fills
  the GPU (2 blocks of 32 warps an SM; all-layer rows also at 2 blocks of 16
  warps and with no bound); one-layer rows also against a contiguous
  device copy of the same bytes;
* pinned host <-> device: GB/s of payload with block_quota <= 4, against
  cudaMemcpyAsync of the same total bytes (torch copy_ between a contiguous
  pinned tensor and a device tensor), measured in the same run;
* one-layer device -> device at 16384, 65536 and 262144 tokens against the
  copy bandwidth, a contiguous copy of the same bytes, and torch eager and
  torch.compile of the same gather / scatter (dst[di] = src[si]).

Index lists are pages of `page` consecutive tokens in random page order (page
1: random tokens). Writes kvcacheio.md / .json / .png into --out.
"""

import argparse
import json
import os
import statistics

import torch

import sgl_kernel
from sgl_kernel.testing.bench import Row, copy_bandwidth, format_table, plot, time_graph

TOKENS, ITEM, LAYERS = 16384, 1024, 94
SAME = "same-bytes copy"
SCAN_BASELINES = (SAME, "torch.compile", "torch eager")
HOST_QUOTA, HOST_WARPS = 4, 32
UNBOUNDED = 1 << 20  # a block_quota past any grid the scan needs


def time_events(fn, reps=3, calls=3):
    """Median microseconds of fn() for long (ms-scale) transfers: `calls`
    calls between two events, queued behind a lead call so that the GPU is
    busy while the host prepares them. (Timed from an idle GPU, the events
    also caught the host's checks and launch work before the first kernel:
    the direct variants, which check and tabulate 188 tensors a call, read
    0.81-0.85 x copy bandwidth that way in session 12, call 2, against
    0.92-0.93 in kvio_sweep for the same kernel.)"""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        fn()  # lead call
        s.record()
        for _ in range(calls):
            fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) * 1e3 / calls)
    return statistics.median(times)


def timed(fn, payload):
    # Short transfers are timed as graph replays (launch overhead off the
    # clock); long ones with events.
    if payload < 256 * 2**20:
        return time_graph(lambda: fn(), [()], calls_per_graph=10, reps=7)
    return time_events(fn)


def page_indices(page, tokens, gen):
    pages = tokens // page
    order = torch.randperm(pages, generator=gen)
    return (order[:, None] * page + torch.arange(page)).flatten()


def torch_per_layer(sk, dk, sv, dv, si, di):
    """transfer_kv_per_layer in torch: gather the source rows, scatter them."""
    dk[di] = sk[si]
    dv[di] = sv[si]


def torch_mla(sk, dk, si, di):
    dk[di] = sk[si]


def one_layer_scan(copy_gbps, quota, warps):
    """One-layer device -> device transfers of growing size (random 1-token
    rows, K and V halves of one buffer so that the same-bytes copy is one
    launch): how much of the gap to the 2 GiB copy bandwidth is the fixed cost
    of a launch (start, tail) that a contiguous copy pays as well."""
    rows = []
    q = dict(block_quota=quota, num_warps_per_block=warps)
    q_free = dict(block_quota=UNBOUNDED, num_warps_per_block=8)
    c_per_layer, c_mla = torch.compile(torch_per_layer), torch.compile(torch_mla)
    for tokens, rot in ((16384, 8), (65536, 4), (262144, 2)):
        src = [torch.randint(0, 255, (2, tokens, ITEM), dtype=torch.uint8, device="cuda") for _ in range(rot)]
        dst = [torch.empty(2, tokens, ITEM, dtype=torch.uint8, device="cuda") for _ in range(rot)]
        si = torch.randperm(tokens, device="cuda")
        di = torch.randperm(tokens, device="cuda")
        args = [(i,) for i in range(rot)]
        for variant, kvs in (("per_layer", 2), ("mla", 1)):
            payload = tokens * ITEM * kvs
            row = Row(f"{variant} page=1", f"{tokens} tokens x {kvs}kv, rotating {rot}, quota {quota}", 2 * payload)
            if kvs == 2:
                ours = lambda qq: lambda i: sgl_kernel.transfer_kv_per_layer(  # noqa: E731
                    src[i][0], dst[i][0], src[i][1], dst[i][1], si, di, ITEM, **qq)
                ref = lambda i: dst[i].copy_(src[i])  # noqa: E731
                eager = lambda i: torch_per_layer(src[i][0], dst[i][0], src[i][1], dst[i][1], si, di)  # noqa: E731
                comp = lambda i: c_per_layer(src[i][0], dst[i][0], src[i][1], dst[i][1], si, di)  # noqa: E731
            else:
                ours = lambda qq: lambda i: sgl_kernel.transfer_kv_per_layer_mla(  # noqa: E731
                    src[i][0], dst[i][0], si, di, ITEM, **qq)
                ref = lambda i: dst[i][0].copy_(src[i][0])  # noqa: E731
                eager = lambda i: torch_mla(src[i][0], dst[i][0], si, di)  # noqa: E731
                comp = lambda i: c_mla(src[i][0], dst[i][0], si, di)  # noqa: E731
            # With the benchmark's quota, and with no block bound (the grid
            # torch.compile takes: a block per few rows) against the same
            # baselines.
            free = Row(row.name, row.shape.replace(f"quota {quota}", f"quota {UNBOUNDED} x 8 warps"), 2 * payload)
            for r, qq in ((row, q), (free, q_free)):
                fn = ours(qq)
                dst[0].random_(0, 255)
                fn(0)
                torch.cuda.synchronize()
                assert torch.equal(dst[0][:kvs, di.long()], src[0][:kvs, si.long()]), (variant, qq)
                r.us["sgl_kernel"] = time_graph(fn, args, calls_per_graph=2 * rot, reps=7)
            row.us[SAME] = time_graph(ref, args, calls_per_graph=2 * rot, reps=7)
            row.us["torch eager"] = time_graph(eager, args, calls_per_graph=2 * rot, reps=7)
            row.us["torch.compile"] = time_graph(comp, args, calls_per_graph=2 * rot, reps=7)
            free.us.update({k: v for k, v in row.us.items() if k != "sgl_kernel"})
            rows += [row, free]
            for line in format_table([row, free], copy_gbps, baselines=SCAN_BASELINES).splitlines()[-2:]:
                print(line, flush=True)
        del src, dst
        torch.cuda.empty_cache()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench_out")
    ap.add_argument("--quick", action="store_true", help="page sizes 1 and 64, 16 layers")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    dev = "cuda"
    copy_gbps = copy_bandwidth()
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    name = torch.cuda.get_device_name()
    print(f"device: {name}  copy bandwidth (read+write): {copy_gbps:.0f} GB/s, {sms} SMs", flush=True)

    layers = 16 if args.quick else LAYERS
    free = torch.cuda.mem_get_info()[0]
    # device: lf K/V source and destination pools, pf K/V pools; host: pf K/V (pinned)
    need = lambda L: 6 * L * TOKENS * ITEM  # noqa: E731
    while layers > 1 and need(layers) > 0.8 * free:
        layers //= 2
    print(f"layers for the all-layer variants: {layers}", flush=True)
    pages = [1, 64] if args.quick else [1, 16, 64]
    # Two blocks of 32 warps (the API's default block size) an SM: 64 warps,
    # what fills an SM for the row walk (26-32 registers a thread). Two
    # blocks of 16 warps (the records before session 12) fill it only for
    # the warp walk (64 registers); the all-layer rows are timed that way
    # too, and with no block bound.
    d2d_quota, d2d_warps = 2 * sms, 32
    alt_quotas = ((2 * sms, 16), (UNBOUNDED, 8))

    dk = [torch.randint(0, 255, (TOKENS, ITEM), dtype=torch.uint8, device=dev) for _ in range(layers)]
    dv = [torch.randint(0, 255, (TOKENS, ITEM), dtype=torch.uint8, device=dev) for _ in range(layers)]
    ok = [torch.empty(TOKENS, ITEM, dtype=torch.uint8, device=dev) for _ in range(layers)]
    ov = [torch.empty(TOKENS, ITEM, dtype=torch.uint8, device=dev) for _ in range(layers)]
    ld = layers * ITEM
    pf_k = torch.empty(TOKENS, layers, ITEM, dtype=torch.uint8, device=dev)
    pf_v = torch.empty(TOKENS, layers, ITEM, dtype=torch.uint8, device=dev)
    hk = torch.empty(TOKENS, layers, ITEM, dtype=torch.uint8, pin_memory=True)
    hv = torch.empty(TOKENS, layers, ITEM, dtype=torch.uint8, pin_memory=True)
    hk_l, hv_l = hk.view(-1)[: TOKENS * ITEM].view(TOKENS, ITEM), hv.view(-1)[: TOKENS * ITEM].view(TOKENS, ITEM)
    addr = lambda ts: torch.tensor([t.data_ptr() for t in ts], dtype=torch.int64, device=dev)  # noqa: E731
    a_dk, a_dv, a_ok, a_ov = addr(dk), addr(dv), addr(ok), addr(ov)
    gen = torch.Generator().manual_seed(0)

    def memcpy_fn(direction, nbytes):
        # cudaMemcpyAsync of the same bytes. K and V payloads span both host
        # pools: one copy per pool.
        pairs = []
        left = nbytes
        for h, d in ((hk, pf_k), (hv, pf_v)):
            take = min(left, h.numel())
            if take:
                pairs.append((h.view(-1)[:take], d.view(-1)[:take]))
            left -= take
        assert left == 0

        def fn():
            for h, d in pairs:
                (d.copy_(h, non_blocking=True) if direction == "H2D" else h.copy_(d, non_blocking=True))
        return fn

    def paired_us(fn, ref, nbytes, rounds=3):
        # Ours and the reference in alternating rounds, the median of each:
        # PCIe throughput drifts between and within runs (one run saw the
        # same cudaMemcpyAsync take 612 and 852 us), and a reference timed
        # once would carry a passing disturbance into every row's ratio.
        ours, base = [], []
        for _ in range(rounds):
            ours.append(timed(fn, nbytes))
            base.append(timed(ref, nbytes))
        return statistics.median(ours), statistics.median(base)

    same_cache = {}
    rot = min(8, layers)  # layers (or copy regions) the one-layer device timings rotate over

    def same_size_copy_us(nbytes):
        # A contiguous device-to-device copy of the same bytes: at 16-32 MB its
        # start and tail take a visible share, so it runs below the 2 GiB
        # copy bandwidth (the x copy BW column's reference).
        # Rotating over `rot` regions, as the one-layer transfers rotate layers.
        if nbytes not in same_cache:
            src = [pf_k.view(-1)[i * nbytes:(i + 1) * nbytes] for i in range(rot)]
            dst = [pf_v.view(-1)[i * nbytes:(i + 1) * nbytes] for i in range(rot)]
            same_cache[nbytes] = time_graph(lambda i: dst[i].copy_(src[i]), [(i,) for i in range(rot)],
                                            calls_per_graph=2 * rot, reps=7)
        return same_cache[nbytes]

    d2d_rows, host_rows, free_rows = [], [], []
    for page in pages:
        si = page_indices(page, TOKENS, gen).to(dev)
        di = page_indices(page, TOKENS, gen).to(dev)
        q_d = dict(block_quota=d2d_quota, num_warps_per_block=d2d_warps)
        q_h = dict(block_quota=HOST_QUOTA, num_warps_per_block=HOST_WARPS)
        L, H = layers, 4
        # The same buffers in upstream's pool shapes: ph [pages, heads, page,
        # layers, head_dim] and the direct variants' page-first [pages, layers,
        # page, heads, head_dim] (the ops read raw bytes, the shapes document
        # the layout and the direct variants check theirs).
        ph = lambda t: t.view(TOKENS // page, H, page, L, ITEM // H)  # noqa: E731
        pfd = lambda t: t.view(TOKENS // page, L, page, H, ITEM // H)  # noqa: E731
        ph_k, ph_v, ph_hk, ph_hv = ph(pf_k), ph(pf_v), ph(hk), ph(hv)
        pfd_k, pfd_v, pfd_hk, pfd_hv = pfd(pf_k), pfd(pf_v), pfd(hk), pfd(hv)
        # (variant, layers moved, kv buffers, device->device call, host call, host direction)
        cases = [
            ("per_layer", 1, 2,
             lambda l=0: sgl_kernel.transfer_kv_per_layer(dk[l], ok[l], dv[l], ov[l], si, di, ITEM, **q_d),
             lambda: sgl_kernel.transfer_kv_per_layer(dk[0], hk_l, dv[0], hv_l, si, di, ITEM, **q_h), "D2H"),
            ("all_layer", L, 2,
             lambda l=0: sgl_kernel.transfer_kv_all_layer(a_dk, a_ok, a_dv, a_ov, si, di, ITEM, L, **q_d),
             None, None),
            ("per_layer_pf_lf", 1, 2,
             lambda l=0: sgl_kernel.transfer_kv_per_layer_pf_lf(pf_k, ok[l], pf_v, ov[l], si, di, L - 1 - l, ITEM,
                                                                ld, **q_d),
             lambda: sgl_kernel.transfer_kv_per_layer_pf_lf(hk, ok[0], hv, ov[0], si, di, L - 1, ITEM, ld, **q_h),
             "H2D"),
            ("per_layer_ph_lf", 1, 2,
             lambda l=0: sgl_kernel.transfer_kv_per_layer_ph_lf(ph_k, ok[l], ph_v, ov[l], si, di, L - 1 - l, ITEM,
                                                                ld, page, H, **q_d),
             lambda: sgl_kernel.transfer_kv_per_layer_ph_lf(ph_hk, ok[0], ph_hv, ov[0], si, di, L - 1, ITEM, ld, page,
                                                            H, **q_h), "H2D"),
            ("all_layer_lf_pf", L, 2,
             lambda l=0: sgl_kernel.transfer_kv_all_layer_lf_pf(a_dk, pf_k, a_dv, pf_v, si, di, ITEM, ld, L, **q_d),
             lambda: sgl_kernel.transfer_kv_all_layer_lf_pf(a_dk, hk, a_dv, hv, si, di, ITEM, ld, L, **q_h), "D2H"),
            ("all_layer_lf_ph", L, 2,
             lambda l=0: sgl_kernel.transfer_kv_all_layer_lf_ph(a_dk, ph_k, a_dv, ph_v, si, di, ITEM, ld, L, page, H,
                                                                **q_d),
             lambda: sgl_kernel.transfer_kv_all_layer_lf_ph(a_dk, ph_hk, a_dv, ph_hv, si, di, ITEM, ld, L, page, H,
                                                            **q_h), "D2H"),
            ("direct", L, 2,
             lambda l=0: sgl_kernel.transfer_kv_direct(dk + dv, ok + ov, si, di, page), None, None),
            ("direct_pf_lf", 1, 2,
             lambda l=0: sgl_kernel.transfer_kv_per_layer_direct_pf_lf([pfd_k, pfd_v], [ok[l], ov[l]], si, di,
                                                                       L - 1 - l, page),
             lambda: sgl_kernel.transfer_kv_per_layer_direct_pf_lf([pfd_hk, pfd_hv], [ok[0], ov[0]], si, di, L - 1,
                                                                   page),
             "H2D"),
            ("direct_lf_pf", L, 2,
             lambda l=0: sgl_kernel.transfer_kv_all_layer_direct_lf_pf(dk + dv, [pfd_k, pfd_v], si, di, page),
             lambda: sgl_kernel.transfer_kv_all_layer_direct_lf_pf(dk + dv, [pfd_hk, pfd_hv], si, di, page), "D2H"),
            ("mla", 1, 1,
             lambda l=0: sgl_kernel.transfer_kv_per_layer_mla(dk[l], ok[l], si, di, ITEM, **q_d),
             lambda: sgl_kernel.transfer_kv_per_layer_mla(dk[0], hk_l, si, di, ITEM, **q_h), "D2H"),
            ("all_layer_mla", L, 1,
             lambda l=0: sgl_kernel.transfer_kv_all_layer_mla(a_dk, a_ok, si, di, ITEM, L, **q_d), None, None),
            ("mla_pf_lf", 1, 1,
             lambda l=0: sgl_kernel.transfer_kv_per_layer_mla_pf_lf(pf_k, ok[l], si, di, L - 1 - l, ITEM, ld, **q_d),
             lambda: sgl_kernel.transfer_kv_per_layer_mla_pf_lf(hk, ok[0], si, di, L - 1, ITEM, ld, **q_h), "H2D"),
            ("all_layer_mla_lf_pf", L, 1,
             lambda l=0: sgl_kernel.transfer_kv_all_layer_mla_lf_pf(a_dk, pf_k, si, di, ITEM, ld, L, **q_d),
             lambda: sgl_kernel.transfer_kv_all_layer_mla_lf_pf(a_dk, hk, si, di, ITEM, ld, L, **q_h), "D2H"),
        ]
        for variant, nl, kvs, d2d, host, direction in cases:
            payload = TOKENS * ITEM * nl * kvs
            direct = variant.startswith("direct")
            row = Row(f"{variant} page={page}", f"{nl}L x {kvs}kv, quota {'2xSMs (direct)' if direct else d2d_quota}",
                      2 * payload)
            if nl == 1:
                # One layer (16-32 MB, which L2 would partly hold across
                # replays): the replays rotate over `rot` layers.
                row.us["sgl_kernel"] = time_graph(d2d, [(i,) for i in range(rot)], calls_per_graph=2 * rot, reps=7)
                row.us[SAME] = same_size_copy_us(payload)
            else:
                row.us["sgl_kernel"] = timed(d2d, payload)
            d2d_rows.append(row)
            print(format_table([row], copy_gbps, baselines=(SAME,)).splitlines()[-1], flush=True)
            if nl > 1 and not direct:
                # The same transfer at the other quotas (half the warps an SM,
                # and no block bound: a caller that gives it the whole GPU):
                # the d2d lambdas read q_d when called.
                bounded = dict(q_d)
                for quota, warps in alt_quotas:
                    q_d.update(block_quota=quota, num_warps_per_block=warps)
                    free = Row(row.name, f"{nl}L x {kvs}kv, quota {quota} x {warps} warps", 2 * payload)
                    free.us["sgl_kernel"] = timed(d2d, payload)
                    free_rows.append(free)
                    print(format_table([free], copy_gbps, baselines=()).splitlines()[-1], flush=True)
                q_d.update(bounded)
            if host is None:
                continue
            us, base = paired_us(host, memcpy_fn(direction, payload), payload)
            r = {"variant": variant, "page": page, "direction": direction, "bytes": payload,
                 "block_quota": "2xSMs (direct)" if direct else HOST_QUOTA, "us": us,
                 "gbps": payload / us / 1e3, "memcpy_us": base, "memcpy_gbps": payload / base / 1e3}
            host_rows.append(r)
            print(f"  host {direction}: {r['gbps']:.1f} GB/s vs memcpy {r['memcpy_gbps']:.1f} GB/s", flush=True)

    scan_rows = one_layer_scan(copy_gbps, d2d_quota, d2d_warps)

    host_table = ["| op | direction | MB | block_quota | us | GB/s | cudaMemcpyAsync us | GB/s | ratio |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for r in host_rows:
        host_table.append(
            f"| {r['variant']} page={r['page']} | {r['direction']} | {r['bytes'] / 2**20:.0f} | {r['block_quota']} | "
            f"{r['us']:.1f} | {r['gbps']:.1f} | {r['memcpy_us']:.1f} | {r['memcpy_gbps']:.1f} | "
            f"{r['gbps'] / r['memcpy_gbps']:.2f} |")
    header = (f"Device: {name} ({sms} SMs), torch {torch.__version__}. Copy bandwidth measured in this run: "
              f"{copy_gbps:.0f} GB/s (read + written). {TOKENS} tokens, item {ITEM} bytes, {layers} layers for "
              f"all-layer variants.\n\n")
    d2d_md = ("## device -> device (GB/s = bytes read + written; block_quota "
              f"{d2d_quota} x {d2d_warps} warps, direct variants: two blocks of 32 warps per SM)\n\n"
              + "One-layer rows also give a contiguous copy of the same bytes (torch copy_, same run) and its time "
              "over ours (speedup vs same-bytes copy).\n\n"
              + format_table(d2d_rows, copy_gbps, baselines=(SAME,)))
    host_md = ("## pinned host <-> device (GB/s = payload; block_quota <= 4 x 32 warps; direct variants take no "
               "quota) vs cudaMemcpyAsync of the same bytes\n\n" + "\n".join(host_table))
    scan_md = ("## one-layer device -> device by size (random 1-token rows; block_quota "
               f"{d2d_quota} x {d2d_warps} warps) against a contiguous copy of the same bytes and torch "
               "(dst[di] = src[si], eager and torch.compile)\n\n"
               + format_table(scan_rows, copy_gbps, baselines=SCAN_BASELINES))
    free_md = ("## all-layer device -> device at other quotas (block_quota "
               f"{alt_quotas[0][0]} x {alt_quotas[0][1]} warps: 32 warps an SM; {UNBOUNDED} x 8 warps: no block "
               "bound, a grid of two 16-byte words a thread where the row walk applies)\n\n"
               + format_table(free_rows, copy_gbps, baselines=()))
    text = header + d2d_md + "\n\n" + free_md + "\n\n" + scan_md + "\n\n" + host_md + "\n"
    with open(os.path.join(args.out, "kvcacheio.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "kvcacheio.json"), "w") as f:
        json.dump({"copy_gbps": copy_gbps, "layers": layers, "d2d": [r.__dict__ for r in d2d_rows],
                   "one_layer_scan": [r.__dict__ for r in scan_rows], "host": host_rows,
                   "d2d_unbounded": [r.__dict__ for r in free_rows]}, f, indent=1)
    plot(d2d_rows, copy_gbps, os.path.join(args.out, "kvcacheio.png"), "sgl_kernel kvcacheio (device -> device)",
         ["sgl_kernel"])
    print()
    print(text)


if __name__ == "__main__":
    main()
