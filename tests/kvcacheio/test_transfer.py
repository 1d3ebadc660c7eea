"""KV-cache transfer ops: every variant bitwise against a tiny torch-indexing
reference on CPU, CUDA against CPU between device and pinned host pools."""

from dataclasses import dataclass, field

import pytest
import torch

import sgl_kernel

gpu = pytest.mark.gpu
ops = torch.ops.sgl_kernel


# ---------------------------------------------------------------- pools and reference
@dataclass
class Side:
    layout: str  # "lf", "pf" or "ph"
    pools: list  # lf: pools[kv][layer]; pf / ph: pools[kv]
    layout_dim: int = 0
    page: int = 1
    layer_id: int = 0  # pf / ph: pool layer of moved layer 0


@dataclass
class Case:
    variant: str
    src: Side
    dst: Side
    item: int
    layers: int  # layers moved
    heads: int = 1
    page: int = 1  # direct variants: index run length
    si: torch.Tensor = None
    di: torch.Tensor = None
    extra: dict = field(default_factory=dict)


def rand_pool(*shape, dtype=torch.uint8):
    t = torch.randint(0, 256, shape, dtype=torch.uint8)
    if dtype != torch.uint8:
        t = t.view(dtype)
    return t


def item_view(side: Side, kv, layer, tok, item, heads):
    """View [heads, item // heads] of item (tok, layer) of a side, as torch
    indexing into the pool's upstream shape (kvcacheio.py's layouts)."""
    if side.layout == "lf":
        return side.pools[kv][layer].view(-1).view(torch.uint8).view(-1, heads, item // heads)[tok]
    b = side.pools[kv].view(-1).view(torch.uint8)
    l = side.layer_id + layer
    P = side.page
    if side.layout == "pf":  # [tokens, layout_dim] (layers, then padding)
        return b.view(-1, side.layout_dim)[tok, l * item : (l + 1) * item].view(heads, -1)
    if side.layout == "ph":  # [pages, heads, page_size, layers, head_item]
        pool = b.view(-1, heads, P, side.layout_dim // item, item // heads)
        return pool[tok // P, :, tok % P, l]
    if side.layout == "pfd":  # [pages, layers, page_size, item] (direct variants)
        return b.view(-1, side.layout_dim // item, P, item)[tok // P, l, tok % P].view(heads, -1)
    raise AssertionError(side.layout)


def run_token(side: Side, first_index, k):
    """Token of place k of a run whose first index is first_index: a
    page-first (direct) pool's run fills page first_index // page_size."""
    if side.layout == "pfd":
        return first_index // side.page * side.page + k
    return first_index + k


def reference(case: Case):
    """Expected destination pools (clones), one item at a time."""
    dst = Side(case.dst.layout, [], case.dst.layout_dim, case.dst.page, case.dst.layer_id)
    dst.pools = [[p.clone() for p in kv] if isinstance(kv, list) else kv.clone() for kv in case.dst.pools]
    n, run = case.si.numel(), case.page
    for kv in range(len(case.src.pools)):
        for layer in range(case.layers):
            for j in range(n):
                first = j - j % run
                s_tok = run_token(case.src, int(case.si[first]), j - first)
                d_tok = run_token(case.dst, int(case.di[first]), j - first)
                item_view(dst, kv, layer, d_tok, case.item, case.heads).copy_(
                    item_view(case.src, kv, layer, s_tok, case.item, case.heads)
                )
    return dst.pools


def flat(pools):
    out = []
    for kv in pools:
        out.extend(kv if isinstance(kv, list) else [kv])
    return out


def addresses(ts, device):
    return torch.tensor([t.data_ptr() for t in ts], dtype=torch.int64, device=device)


def call(case: Case, idx_device="cpu", block_quota=2, warps=32):
    """Runs the op of case.variant on the case's pools as they are placed now."""
    s, d, it, L = case.src, case.dst, case.item, case.layers
    si, di = case.si.to(idx_device), case.di.to(idx_device)
    if idx_device == "cpu" and any(t.is_cuda for t in flat(s.pools) + flat(d.pools)):
        si, di = si.pin_memory(), di.pin_memory()
    dev = next((t.device for t in flat(s.pools) + flat(d.pools) if t.is_cuda), torch.device(idx_device))
    if dev.type != "cuda" and idx_device == "cuda":
        dev = torch.device("cuda")

    def addr(side, kv):
        t = addresses(side.pools[kv], dev)
        return t.pin_memory() if dev.type == "cuda" and not t.is_cuda else t

    q = dict(block_quota=block_quota, num_warps_per_block=warps)
    v = case.variant
    if v == "per_layer":
        sgl_kernel.transfer_kv_per_layer(s.pools[0][0], d.pools[0][0], s.pools[1][0], d.pools[1][0], si, di, it, **q)
    elif v == "all_layer":
        sgl_kernel.transfer_kv_all_layer(addr(s, 0), addr(d, 0), addr(s, 1), addr(d, 1), si, di, it, L, **q)
    elif v == "per_layer_pf_lf":
        sgl_kernel.transfer_kv_per_layer_pf_lf(
            s.pools[0], d.pools[0][0], s.pools[1], d.pools[1][0], si, di, s.layer_id, it, s.layout_dim, **q
        )
    elif v == "per_layer_ph_lf":
        sgl_kernel.transfer_kv_per_layer_ph_lf(
            s.pools[0], d.pools[0][0], s.pools[1], d.pools[1][0], si, di, s.layer_id, it, s.layout_dim, s.page,
            case.heads, **q,
        )
    elif v == "all_layer_lf_pf":
        sgl_kernel.transfer_kv_all_layer_lf_pf(
            addr(s, 0), d.pools[0], addr(s, 1), d.pools[1], si, di, it, d.layout_dim, L, **q
        )
    elif v == "all_layer_lf_ph":
        sgl_kernel.transfer_kv_all_layer_lf_ph(
            addr(s, 0), d.pools[0], addr(s, 1), d.pools[1], si, di, it, d.layout_dim, L, d.page, case.heads, **q
        )
    elif v == "direct":
        sgl_kernel.transfer_kv_direct(flat(s.pools), flat(d.pools), si, di, case.page)
    elif v == "direct_pf_lf":
        sgl_kernel.transfer_kv_per_layer_direct_pf_lf(
            [p.view(-1, s.layout_dim // it, s.page, it) for p in s.pools], flat(d.pools), si, di, s.layer_id,
            case.page,
        )
    elif v == "direct_lf_pf":
        sgl_kernel.transfer_kv_all_layer_direct_lf_pf(
            flat(s.pools), [p.view(-1, d.layout_dim // it, d.page, it) for p in d.pools], si, di, case.page
        )
    elif v == "mla":
        sgl_kernel.transfer_kv_per_layer_mla(s.pools[0][0], d.pools[0][0], si, di, it, **q)
    elif v == "all_layer_mla":
        sgl_kernel.transfer_kv_all_layer_mla(addr(s, 0), addr(d, 0), si, di, it, L, **q)
    elif v == "mla_pf_lf":
        sgl_kernel.transfer_kv_per_layer_mla_pf_lf(s.pools[0], d.pools[0][0], si, di, s.layer_id, it, s.layout_dim, **q)
    elif v == "all_layer_mla_lf_pf":
        sgl_kernel.transfer_kv_all_layer_mla_lf_pf(addr(s, 0), d.pools[0], si, di, it, d.layout_dim, L, **q)
    else:
        raise AssertionError(v)


SRC_TOKENS, DST_TOKENS = 96, 80  # multiples of 16; direct cases with page 64 grow them


def make_case(variant, item, page=1, heads=1, n=23, layers=3, dtype=torch.uint8, tokens=None):
    """Random pools and unique indices for `variant`; `page` is the ph page
    size or, for direct variants, the page (index run) length; `tokens`: the
    pools' token count (both sides), SRC_TOKENS / DST_TOKENS when None."""
    mla = "mla" in variant
    kvs = 1 if mla else 2
    direct = variant.startswith("direct")
    src_tokens, dst_tokens = (SRC_TOKENS, DST_TOKENS) if tokens is None else (tokens, tokens)
    if direct:
        src_tokens, dst_tokens = max(src_tokens, 3 * page), max(dst_tokens, 2 * page)
    elem = torch.tensor([], dtype=dtype).element_size()
    assert item % elem == 0

    def lf_pools(tokens, num_layers):
        return [[rand_pool(tokens, item // elem, dtype=dtype) for _ in range(num_layers)] for _ in range(kvs)]

    def pf_side(tokens, pool_layers, layer_id, pad):
        ld = pool_layers * item + pad
        return Side("pf", [rand_pool(tokens * ld) for _ in range(kvs)], ld, 1, layer_id)

    def ph_side(tokens, pool_layers, layer_id):
        ld = pool_layers * item
        pages = -(-tokens // page)  # whole pages; indices stay below `tokens`
        return Side("ph", [rand_pool(pages * page * ld) for _ in range(kvs)], ld, page, layer_id)

    def pfd_side(tokens, pool_layers, layer_id):  # page-first pools of the direct variants
        ld = pool_layers * item  # bytes of one token across the layers
        return Side("pfd", [rand_pool(tokens * ld) for _ in range(kvs)], ld, page, layer_id)

    per_layer = variant in ("per_layer", "per_layer_pf_lf", "per_layer_ph_lf", "mla", "mla_pf_lf", "direct_pf_lf")
    L = 1 if per_layer else layers
    if variant in ("per_layer", "all_layer", "mla", "all_layer_mla", "direct"):
        src, dst = Side("lf", lf_pools(src_tokens, L)), Side("lf", lf_pools(dst_tokens, L))
    elif variant in ("per_layer_pf_lf", "mla_pf_lf"):
        src, dst = pf_side(src_tokens, layers, 1, pad=item // 2 // elem * elem), Side("lf", lf_pools(dst_tokens, 1))
    elif variant == "direct_pf_lf":
        src, dst = pfd_side(src_tokens, layers, 2), Side("lf", lf_pools(dst_tokens, 1))
    elif variant == "per_layer_ph_lf":
        src, dst = ph_side(src_tokens, layers, 1), Side("lf", lf_pools(dst_tokens, 1))
    elif variant in ("all_layer_lf_pf", "all_layer_mla_lf_pf"):
        src, dst = Side("lf", lf_pools(src_tokens, L)), pf_side(dst_tokens, L + 1, 0, pad=elem * 3)
    elif variant == "direct_lf_pf":
        src, dst = Side("lf", lf_pools(src_tokens, L)), pfd_side(dst_tokens, L, 0)
    elif variant == "all_layer_lf_ph":
        src, dst = Side("lf", lf_pools(src_tokens, L)), ph_side(dst_tokens, L, 0)
    else:
        raise AssertionError(variant)
    if direct:
        pages = min(n, src_tokens // page, dst_tokens // page)
        pages = max(1, min(pages, 3 if page > 1 else n))
        s_pages = torch.randperm(src_tokens // page)[:pages]
        d_pages = torch.randperm(dst_tokens // page)[:pages]
        run = torch.arange(page)
        si = (s_pages[:, None] * page + run).flatten()
        di = (d_pages[:, None] * page + run).flatten()
        # Only the first entry of each page is read: junk in the others.
        if page > 1:
            si.view(pages, page)[:, 1:] = -7
            di.view(pages, page)[:, 1:] = 10**9
    else:
        si = torch.randperm(src_tokens)[:n]
        di = torch.randperm(dst_tokens)[:n]
    return Case(variant, src, dst, item, L, heads, page if direct else 1, si, di)


def assert_pools_equal(actual, expected):
    for a, e in zip(flat(actual), flat(expected)):
        assert torch.equal(a.cpu().view(-1).view(torch.uint8), e.cpu().view(-1).view(torch.uint8))


VARIANTS = [
    "per_layer",
    "all_layer",
    "per_layer_pf_lf",
    "all_layer_lf_pf",
    "mla",
    "all_layer_mla",
    "mla_pf_lf",
    "all_layer_mla_lf_pf",
]
ODD_AND_ALIGNED = [2, 6, 130, 256, 1024]


# ---------------------------------------------------------------- CPU vs reference
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("item", ODD_AND_ALIGNED)
def test_cpu_matches_reference(variant, item):
    case = make_case(variant, item)
    expected = reference(case)
    call(case)
    assert_pools_equal(case.dst.pools, expected)


@pytest.mark.parametrize("variant", ["per_layer_ph_lf", "all_layer_lf_ph"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("item,heads", [(6, 3), (256, 1), (1024, 4), (512, 8)])
def test_ph_cpu_matches_reference(variant, page, item, heads):
    case = make_case(variant, item, page=page, heads=heads)
    expected = reference(case)
    call(case)
    assert_pools_equal(case.dst.pools, expected)


@pytest.mark.parametrize("variant", ["direct", "direct_pf_lf", "direct_lf_pf"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("item", [6, 1024])
def test_direct_cpu_matches_reference(variant, page, item):
    case = make_case(variant, item, page=page)
    expected = reference(case)
    call(case)
    assert_pools_equal(case.dst.pools, expected)


def test_typed_pools_and_direct_mla_cpu():
    # bf16 pools [tokens, heads, dim]: the item is a row of bytes whatever the dtype.
    k, v = rand_pool(40, 4, 256, dtype=torch.bfloat16), rand_pool(40, 4, 256, dtype=torch.bfloat16)
    dk, dv = torch.zeros_like(k), torch.zeros_like(v)
    si, di = torch.tensor([3, 0, 39, 7]), torch.tensor([1, 2, 3, 38])
    sgl_kernel.transfer_kv_per_layer(k, dk, v, dv, si, di, 1024)
    assert torch.equal(dk[di].view(torch.uint8), k[si].view(torch.uint8))
    assert torch.equal(dv[di].view(torch.uint8), v[si].view(torch.uint8))
    assert dk[0].abs().sum() == 0
    # direct pf -> lf with a single (MLA) page-first pool [pages, layers, page_size, 1, 576]
    pf = rand_pool(16, 3, 2, 1, 576)
    lf_ = torch.zeros(16, 1, 576, dtype=torch.uint8)
    sgl_kernel.transfer_kv_per_layer_direct_pf_lf([pf], [lf_], torch.tensor([8, 9, 0, 1]), torch.tensor([4, 5, 14, 15]),
                                                   2, 2)
    assert torch.equal(lf_[[4, 5, 14, 15]], pf[[4, 4, 0, 0], 2, [0, 1, 0, 1]])


def test_all_layer_uint64_addresses_cpu():
    # SGLang passes the per-layer addresses as dtype=torch.uint64.
    layers = [rand_pool(12, 64) for _ in range(3)]
    dst = [torch.zeros_like(t) for t in layers]
    vsrc = [rand_pool(12, 64) for _ in range(3)]
    vdst = [torch.zeros_like(t) for t in vsrc]
    as_u64 = lambda ts: addresses(ts, "cpu").to(torch.uint64)  # noqa: E731
    si, di = torch.tensor([0, 11, 5]), torch.tensor([3, 4, 9])
    sgl_kernel.transfer_kv_all_layer(as_u64(layers), as_u64(dst), as_u64(vsrc), as_u64(vdst), si, di, 64, 3)
    for s_, d_, vs, vd in zip(layers, dst, vsrc, vdst):
        assert torch.equal(d_[di], s_[si]) and torch.equal(vd[di], vs[si])
        assert d_[0].sum() == 0


def test_empty_indices_cpu():
    k = rand_pool(8, 16)
    d = k.clone()
    e = torch.empty(0, dtype=torch.int64)
    sgl_kernel.transfer_kv_per_layer(k, d, k, d, e, e, 16)
    sgl_kernel.transfer_kv_direct([k], [d], e, e, 4)
    assert torch.equal(k, d)


# ---------------------------------------------------------------- CUDA vs CPU
def place(side: Side, where: str):
    def one(t):
        if where == "cuda":
            return t.cuda()
        if where == "pinned":
            return t.pin_memory()
        return t

    side.pools = [[one(p) for p in kv] if isinstance(kv, list) else one(kv) for kv in side.pools]


def run_cuda_vs_cpu(case: Case, src_where, dst_where, block_quota=2, warps=32):
    cpu_case = Case(case.variant, Side(**case.src.__dict__), Side(**case.dst.__dict__), case.item, case.layers,
                    case.heads, case.page, case.si, case.di)
    cpu_case.dst.pools = [[p.clone() for p in kv] if isinstance(kv, list) else kv.clone() for kv in case.dst.pools]
    call(cpu_case)
    place(case.src, src_where)
    place(case.dst, dst_where)
    call(case, idx_device="cuda", block_quota=block_quota, warps=warps)
    torch.cuda.synchronize()
    assert_pools_equal(case.dst.pools, cpu_case.dst.pools)


PLACEMENTS = [("cuda", "cuda"), ("cuda", "pinned"), ("pinned", "cuda")]


@gpu
@pytest.mark.parametrize("where", PLACEMENTS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("item", ODD_AND_ALIGNED)
def test_cuda_matches_cpu(where, variant, item):
    run_cuda_vs_cpu(make_case(variant, item), *where)


@gpu
@pytest.mark.parametrize("where", PLACEMENTS)
@pytest.mark.parametrize("variant", ["per_layer_ph_lf", "all_layer_lf_ph"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("item,heads", [(6, 3), (1024, 4), (512, 8)])
def test_ph_cuda_matches_cpu(where, variant, page, item, heads):
    run_cuda_vs_cpu(make_case(variant, item, page=page, heads=heads), *where)


@gpu
@pytest.mark.parametrize("where", PLACEMENTS)
@pytest.mark.parametrize("variant", ["direct", "direct_pf_lf", "direct_lf_pf"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("item", [6, 130, 1024])
def test_direct_cuda_matches_cpu(where, variant, page, item):
    run_cuda_vs_cpu(make_case(variant, item, page=page), *where)


@gpu
@pytest.mark.parametrize("block_quota,warps", [(1, 1), (3, 7), (132, 32), (1000, 4)])
def test_cuda_grid_shapes(block_quota, warps):
    case = make_case("all_layer_lf_pf", 1024, n=61, layers=5)
    run_cuda_vs_cpu(case, "cuda", "cuda", block_quota=block_quota, warps=warps)


@gpu
@pytest.mark.parametrize("variant,page,heads", [("all_layer_lf_pf", 1, 1), ("all_layer_lf_ph", 16, 4),
                                                ("all_layer", 1, 1), ("per_layer_ph_lf", 64, 8)])
@pytest.mark.parametrize("per_sm,warps", [(2, 32), (4, 16), (2, 16)])
def test_cuda_quota_that_fills_the_gpu(variant, page, heads, per_sm, warps):
    # Quotas of 64 warps an SM give the layer walk (transfer.cuh:
    # rows_by_default) with a grid-stride loop (more words than threads);
    # 32 warps an SM, the warp walk.
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    case = make_case(variant, 1024, page=page, heads=heads, n=3001, layers=5, tokens=4100)
    run_cuda_vs_cpu(case, "cuda", "cuda", block_quota=per_sm * sms, warps=warps)


@gpu
@pytest.mark.parametrize("where", [("cuda", "pinned"), ("pinned", "cuda")])
@pytest.mark.parametrize(
    "variant,page,heads,n,layers",
    [
        ("per_layer_pf_lf", 1, 1, 700, 3),
        ("per_layer_ph_lf", 1, 4, 700, 3),
        ("per_layer_ph_lf", 16, 4, 700, 3),
        ("mla_pf_lf", 1, 1, 1100, 3),
        ("per_layer", 1, 1, 700, 3),
        ("all_layer_lf_pf", 1, 1, 75, 8),
        ("all_layer_lf_ph", 1, 4, 75, 8),
        ("all_layer_lf_ph", 16, 4, 75, 8),
    ],
)
@pytest.mark.parametrize("block_quota,warps", [(1, 4), (2, 32), (3, 2)])
def test_cuda_sorted_walk_host(where, variant, page, heads, n, layers, block_quota, warps):
    """Transfers to or from pinned host memory with >= 256 items a block take
    the sorted walk (transfer.h): one chunk or several a block, the last one
    short, scattered indices on both sides; bitwise against the CPU."""
    case = make_case(variant, 1024, page=page, heads=heads, n=n, layers=layers, tokens=1200)
    run_cuda_vs_cpu(case, *where, block_quota=block_quota, warps=warps)


@gpu
def test_cuda_many_layers_direct_chunks():
    # 100 layers of K and V (200 pools): past the inline address table's 192
    # entries, so the transfer spans two launches.
    case = make_case("direct_lf_pf", 256, page=16, layers=100)
    run_cuda_vs_cpu(case, "cuda", "pinned")
    case = make_case("direct", 130, page=1, layers=100)
    run_cuda_vs_cpu(case, "cuda", "cuda")


@gpu
def test_cuda_misaligned_pool_views():
    # Pools that start 2 bytes into their storage: the kernel narrows its accesses.
    base_s, base_d = rand_pool(64 * 1024 + 2), torch.zeros(48 * 1024 + 2, dtype=torch.uint8)
    src, dst = base_s[2:].view(64, 1024), base_d[2:].view(48, 1024)
    si, di = torch.randperm(64)[:20], torch.randperm(48)[:20]
    expect = dst.clone()
    expect[di] = src[si]
    src_g, dst_g = src.cuda(), base_d.cuda()[2:].view(48, 1024)
    sgl_kernel.transfer_kv_per_layer_mla(src_g, dst_g, si.cuda(), di.cuda(), 1024)
    assert torch.equal(dst_g.cpu(), expect)


@gpu
def test_cuda_graph_replay():
    # Device K/V into pinned host pools, per token and by pages of 16; new
    # index values between replays are picked up (no host-side copy of them).
    k = rand_pool(256, 1024).cuda()
    v = rand_pool(256, 1024).cuda()
    hk = torch.zeros(512, 1024, dtype=torch.uint8).pin_memory()
    hv = torch.zeros(512, 1024, dtype=torch.uint8).pin_memory()
    pk = torch.zeros(512, 1024, dtype=torch.uint8).pin_memory()
    si = torch.zeros(64, dtype=torch.int64, device="cuda")
    di = torch.zeros(64, dtype=torch.int64, device="cuda")
    psi = torch.zeros(64, dtype=torch.int64, device="cuda")
    pdi = torch.zeros(64, dtype=torch.int64, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        sgl_kernel.transfer_kv_per_layer(k, hk, v, hv, si, di, 1024)
        sgl_kernel.transfer_kv_direct([k], [pk], psi, pdi, 16)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        sgl_kernel.transfer_kv_per_layer(k, hk, v, hv, si, di, 1024, block_quota=4)
        sgl_kernel.transfer_kv_direct([k], [pk], psi, pdi, 16)
    run = torch.arange(16)
    for _ in range(2):
        src_i, dst_i = torch.randperm(256)[:64], torch.randperm(512)[:64]
        src_p = (torch.randperm(16)[:4, None] * 16 + run).flatten()
        dst_p = (torch.randperm(32)[:4, None] * 16 + run).flatten()
        si.copy_(src_i)
        di.copy_(dst_i)
        psi.copy_(src_p)
        pdi.copy_(dst_p)
        for t in (hk, hv, pk):
            t.zero_()
        g.replay()
        torch.cuda.synchronize()
        ek, ev, ep = torch.zeros_like(hk), torch.zeros_like(hv), torch.zeros_like(pk)
        ek[dst_i] = k.cpu()[src_i]
        ev[dst_i] = v.cpu()[src_i]
        ep[dst_p] = k.cpu()[src_p]
        assert torch.equal(hk, ek) and torch.equal(hv, ev) and torch.equal(pk, ep)


# ---------------------------------------------------------------- torch.library / compile
def _opcheck_args(device):
    k = rand_pool(32, 64).to(device)
    d = torch.zeros(16, 64, dtype=torch.uint8, device=device)
    pf = rand_pool(32, 3 * 64).to(device)
    si = torch.tensor([1, 5, 7], device=device)
    di = torch.tensor([0, 3, 15], device=device)
    return k, d, pf, si, di


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_opcheck(device):
    k, d, pf, si, di = _opcheck_args(device)
    v, dv = k.clone(), d.clone()
    tests = ("test_schema", "test_autograd_registration", "test_faketensor")
    torch.library.opcheck(ops.transfer_kv_per_layer.default, (k, d, v, dv, si, di, 64, 2, 4), test_utils=tests)
    torch.library.opcheck(ops.transfer_kv_per_layer_mla.default, (k, d, si, di, 64, 2, 4), test_utils=tests)
    torch.library.opcheck(ops.transfer_kv_per_layer_pf_lf.default, (pf, d, pf, dv, si, di, 2, 64, 192, 2, 4),
                          test_utils=tests)
    torch.library.opcheck(ops.transfer_kv_per_layer_ph_lf.default, (pf, d, pf, dv, si, di, 1, 64, 192, 4, 2, 2, 4),
                          test_utils=tests)
    torch.library.opcheck(ops.transfer_kv_direct.default, ([k, v], [d, dv], si[:2], di[:2], 1), test_utils=tests)
    ka, da = addresses([k], device), addresses([d], device)
    torch.library.opcheck(ops.transfer_kv_all_layer_mla.default, (ka, da, si, di, 64, 1, 2, 4), test_utils=tests)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_torch_compile_fullgraph(device):
    torch._dynamo.reset()
    k, d, pf, si, di = _opcheck_args(device)
    v, dv = k.clone(), d.clone()

    @torch.compile(fullgraph=True)
    def step(k, d, v, dv, pf, si, di):
        sgl_kernel.transfer_kv_per_layer(k, d, v, dv, si, di, 64)
        sgl_kernel.transfer_kv_per_layer_mla_pf_lf(pf, dv, si, di, 1, 64, 192)

    # No arithmetic in the graph: inductor then compiles no C++ kernel (slow on CI).
    step(k, d, v, dv, pf, si, di)
    assert torch.equal(d[di.cpu()].cpu(), k.cpu()[si.cpu()])
    assert torch.equal(dv[di.cpu()].cpu(), pf.cpu().view(32, 3, 64)[si.cpu(), 1])


# ---------------------------------------------------------------- bad inputs
def _raises(exc, match, fn, *args, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


def test_bad_inputs_cpu():
    k, d = rand_pool(16, 64), torch.zeros(8, 64, dtype=torch.uint8)
    si, di = torch.tensor([1, 2]), torch.tensor([0, 3])
    f = sgl_kernel.transfer_kv_per_layer_mla
    _raises(TypeError, "src_indices must have dtype int64", f, k, d, si.int(), di, 64)
    _raises(TypeError, "dst_indices must have dtype int64", f, k, d, si, di.int(), 64)
    _raises(ValueError, "dst_indices must have the length of src_indices", f, k, d, si, di[:1], 64)
    _raises(ValueError, r"item_size \(128\) must equal the bytes of one row of src", f, k, d, si, di, 128)
    _raises(ValueError, r"item_size \(32\) must equal the bytes of one row of src", f, k, d, si, di, 32)
    _raises(ValueError, "item_size must be in", f, k, d, si, di, 0)
    _raises(ValueError, "block_quota must be at least 1", f, k, d, si, di, 64, 0)
    _raises(ValueError, "num_warps_per_block must be in", f, k, d, si, di, 64, 2, 33)
    _raises(ValueError, "src must be contiguous", f, rand_pool(16, 128)[:, :64], d, si, di, 64)
    _raises(ValueError, r"src_indices\[1\] = 16 is out of range in the source pool \(16 tokens\)", f, k, d,
            torch.tensor([1, 16]), di, 64)
    _raises(ValueError, r"dst_indices\[0\] = -1 is out of range", f, k, d, si, torch.tensor([-1, 0]), 64)
    pf = rand_pool(16, 3 * 64)
    _raises(ValueError, "exceeds src_layout_dim", sgl_kernel.transfer_kv_per_layer_mla_pf_lf, pf, d, si, di, 3, 64,
            192)
    _raises(ValueError, "must be a multiple of head_num", sgl_kernel.transfer_kv_per_layer_ph_lf, pf, d, pf, d, si, di,
            0, 64, 192, 4, 3)
    _raises(ValueError, "must be a multiple of page_size", sgl_kernel.transfer_kv_direct, [k], [d],
            torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), 2)
    _raises(ValueError, r"dst_layers\[0\] must have rows of 64 bytes", sgl_kernel.transfer_kv_direct, [k],
            [torch.zeros(8, 32, dtype=torch.uint8)], si, di, 1)
    _raises(ValueError, "starts a page that does not fit", sgl_kernel.transfer_kv_direct, [k], [d],
            torch.tensor([15, 0]), di, 2)
    _raises(ValueError, r"src_k_layers must have shape \[2\]", sgl_kernel.transfer_kv_all_layer,
            addresses([k], "cpu"), addresses([d], "cpu"), addresses([k], "cpu"), addresses([d], "cpu"), si, di, 64, 2)
    _raises(ValueError, "layer_id must be in", sgl_kernel.transfer_kv_per_layer_direct_pf_lf,
            [pf.view(16, 3, 1, 64)], [d], si, di, 3, 1)


@gpu
def test_direct_pageable_indices_cuda():
    # As upstream: the direct variants accept index lists in pageable host
    # memory (staged to the device first); the kernel variants do not.
    layers = [rand_pool(64, 256).cuda() for _ in range(3)]
    dst = [torch.zeros_like(t) for t in layers]
    si = torch.tensor([16, 17, 18, 19, 40, 41, 42, 43])
    di = torch.tensor([0, 1, 2, 3, 8, 9, 10, 11])
    sgl_kernel.transfer_kv_direct(layers, dst, si, di, 4)
    torch.cuda.synchronize()
    for s_, d_ in zip(layers, dst):
        assert torch.equal(d_[di.cuda()], s_[si.cuda()])
        assert d_[4:8].sum() == 0 and d_[12:].sum() == 0


@gpu
def test_bad_inputs_cuda():
    k, d = rand_pool(16, 64).cuda(), torch.zeros(8, 64, dtype=torch.uint8)
    si, di = torch.tensor([1, 2], device="cuda"), torch.tensor([0, 3], device="cuda")
    f = sgl_kernel.transfer_kv_per_layer_mla
    _raises(RuntimeError, "dst is a CPU tensor in pageable memory", f, k, d, si, di, 64)
    _raises(RuntimeError, "src_indices is a CPU tensor in pageable memory", f, k, d.cuda(), si.cpu(), di, 64)
    _raises(TypeError, "src_indices must have dtype int64", f, k, d.cuda(), si.int(), di, 64)
    _raises(ValueError, r"item_size \(128\) must equal", f, k, d.cuda(), si, di, 128)


# ---------------------------------------------------------------- pools as a serving engine builds them
# SGLang's host and device KV pools, built with their shapes and dtypes, and
# a reference written with plain torch indexing into those shapes (not with
# the byte formulas): the layouts cannot drift from upstream's again.
ENGINE_PAGES = [1, 16, 64, 128]
H, HD, L = 2, 8, 3  # kv heads, head dim, layers (small: page 128 pools stay small)


def poison(t):
    """A destination full of a pattern no source holds: NaN for floats, 0xA5 bytes else."""
    if t.dtype.is_floating_point:
        return t.fill_(float("nan"))
    return t.view(torch.uint8).fill_(0xA5)


def fresh(shape, dtype):
    return torch.randn(shape, dtype=torch.float32).to(dtype) if dtype.is_floating_point else rand_pool(*shape,
                                                                                                        dtype=dtype)


def bits(t):
    return t.detach().cpu().contiguous().view(-1).view(torch.uint8)


def assert_bitwise(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        assert torch.equal(bits(a), bits(e))


def is_poison(t):
    return bool((bits(t) == 0xA5).all()) if not t.dtype.is_floating_point else bool(t.isnan().all())


def engine_indices(page, pages_src, pages_dst, n_pages, seed):
    """Token indices in runs of whole pages (as the engine's allocators hand
    them out), distinct pages each side, pages in random order."""
    g = torch.Generator().manual_seed(seed)
    sp = torch.randperm(pages_src, generator=g)[:n_pages]
    dp = torch.randperm(pages_dst, generator=g)[:n_pages]
    run = torch.arange(page)
    return (sp[:, None] * page + run).flatten(), (dp[:, None] * page + run).flatten()


def place_engine(ts, where):
    if where == "cuda":
        return [t.cuda() for t in ts]
    if where == "pinned":
        return [t.pin_memory() for t in ts]
    return list(ts)


class EngineCase:
    """Device lf pools [pool_tokens, H, HD] per layer (K and V), a host pool
    in `host_layout` ("ph": [pages, H, P, L, HD]; "pfd": [pages, L, P, H, HD]),
    fresh sources, poisoned destinations."""

    def __init__(self, host_layout, page, dtype, to_host, mla=False, seed=0):
        torch.manual_seed(seed)
        self.page, self.dtype, self.to_host, self.mla = page, dtype, to_host, mla
        self.heads, self.hd = (1, 40) if mla else (H, HD)
        kvs = 1 if mla else 2
        self.host_pages, dev_pages = 5, 4
        self.dev_tokens = dev_pages * page + 3  # lf pools need not be whole pages
        if host_layout == "ph":
            host_shape = (self.host_pages, self.heads, page, L, self.hd)
        else:
            host_shape = (self.host_pages, L, page, self.heads, self.hd)
        self.host = [fresh(host_shape, dtype) for _ in range(kvs)]
        self.dev = [[fresh((self.dev_tokens, self.heads, self.hd), dtype) for _ in range(L)] for _ in range(kvs)]
        if to_host:
            for t in self.host:
                poison(t)
        else:
            for kv in self.dev:
                for t in kv:
                    poison(t)
        itemsize = torch.empty((), dtype=dtype).element_size()
        self.item_size = self.heads * self.hd * itemsize
        self.layout_dim = L * self.heads * self.hd * itemsize
        self.n_pages = 3
        hi, di = engine_indices(page, self.host_pages, dev_pages, self.n_pages, seed + 1)
        self.host_idx, self.dev_idx = hi, di


def engine_reference(c: EngineCase, host_layout, layer_id=None):
    """Expected pools (clones) by torch indexing into upstream's shapes."""
    host = [t.clone() for t in c.host]
    dev = [[t.clone() for t in kv] for kv in c.dev]
    hi, di, P = c.host_idx, c.dev_idx, c.page
    layers = range(L) if layer_id is None else [layer_id]
    for kv in range(len(host)):
        for l in layers:
            if host_layout == "ph":  # [pages, heads, page_size, layers, head_dim]
                if c.to_host:
                    host[kv][hi // P, :, hi % P, l] = c.dev[kv][l][di]
                else:
                    dev[kv][l][di] = c.host[kv][hi // P, :, hi % P, l]
            else:  # [pages, layers, page_size, heads, head_dim]
                if c.to_host:
                    host[kv][hi // P, l, hi % P] = c.dev[kv][l][di]
                else:
                    dev[kv][l][di] = c.host[kv][hi // P, l, hi % P]
    return host, dev


def engine_call(c: EngineCase, host_layout, host, dev, hi, di, layer_id=None):
    """The op an engine calls for this move, on pools as placed."""
    kvs = len(host)
    flat_dev = [t for kv in dev for t in kv]  # K of each layer, then V of each layer
    dev_dev = next((t.device for t in host + flat_dev if t.is_cuda), torch.device("cpu"))

    def addr(kv):
        a = addresses(dev[kv], dev_dev)
        return a if a.is_cuda or dev_dev.type == "cpu" else a.pin_memory()

    if host_layout == "ph":
        if c.to_host:
            sgl_kernel.transfer_kv_all_layer_lf_ph(addr(0), host[0], addr(1), host[1], di, hi, c.item_size,
                                                   c.layout_dim, L, c.page, c.heads)
        else:
            sgl_kernel.transfer_kv_per_layer_ph_lf(host[0], dev[0][layer_id], host[1], dev[1][layer_id], hi, di,
                                                   layer_id, c.item_size, c.layout_dim, c.page, c.heads)
        return
    # The direct variants read only the first index of each page's run.
    hj, dj = hi.clone(), di.clone()
    if c.page > 1:
        hj.view(-1, c.page)[:, 1:] = -3
        dj.view(-1, c.page)[:, 1:] = 1 << 40
    hj, dj = hj.to(hi.device), dj.to(di.device)
    if c.to_host:
        sgl_kernel.transfer_kv_all_layer_direct_lf_pf(flat_dev, host, dj, hj, c.page)
    else:
        sgl_kernel.transfer_kv_per_layer_direct_pf_lf(host, [dev[kv][layer_id] for kv in range(kvs)], hj, dj,
                                                      layer_id, c.page)


def run_engine_cpu(c: EngineCase, host_layout, layer_id):
    host, dev = [t.clone() for t in c.host], [[t.clone() for t in kv] for kv in c.dev]
    engine_call(c, host_layout, host, dev, c.host_idx, c.dev_idx, layer_id)
    return host, dev


ENGINE_MOVES = [
    ("ph", True, False),  # transfer_kv_all_layer_lf_ph: device -> host backup
    ("ph", False, False),  # transfer_kv_per_layer_ph_lf: host -> device load, one layer
    ("pfd", True, False),  # transfer_kv_all_layer_direct_lf_pf
    ("pfd", False, False),  # transfer_kv_per_layer_direct_pf_lf
    ("pfd", True, True),  # ... MLA: one latent pool [pages, L, P, 1, dim]
    ("pfd", False, True),
]


@pytest.mark.parametrize("page", ENGINE_PAGES)
@pytest.mark.parametrize("host_layout,to_host,mla", ENGINE_MOVES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.uint8])
def test_engine_pools_cpu(page, host_layout, to_host, mla, dtype):
    c = EngineCase(host_layout, page, dtype, to_host, mla=mla, seed=page)
    layer_id = None if to_host else 1
    host, dev = run_engine_cpu(c, host_layout, layer_id)
    want_host, want_dev = engine_reference(c, host_layout, layer_id)
    assert_bitwise(host, want_host)
    assert_bitwise([t for kv in dev for t in kv], [t for kv in want_dev for t in kv])
    # Untouched slots keep the poison; written ones do not.
    P, hi, di = c.page, c.host_idx, c.dev_idx
    if to_host:
        written = torch.zeros(c.host_pages * P, dtype=torch.bool)
        written[hi] = True
        for t in host:
            # [pages * page_size, ...]: a token's slot of every head and layer
            per_token = (t.permute(0, 2, 1, 3, 4) if host_layout == "ph" else t.transpose(1, 2)).reshape(
                c.host_pages * P, -1)
            assert is_poison(per_token[~written])
            assert not (bits(per_token[written]) == 0xA5).all()
    else:
        written = torch.zeros(c.dev_tokens, dtype=torch.bool)
        written[di] = True
        for kv in dev:
            assert is_poison(kv[layer_id][~written])
            for l in range(L):
                if l != layer_id:
                    assert is_poison(kv[l])


@gpu
@pytest.mark.parametrize("page", ENGINE_PAGES)
@pytest.mark.parametrize("host_layout,to_host,mla", ENGINE_MOVES)
@pytest.mark.parametrize("host_where", ["pinned", "cuda"])
def test_engine_pools_cuda_matches_cpu(page, host_layout, to_host, mla, host_where):
    c = EngineCase(host_layout, page, torch.bfloat16, to_host, mla=mla, seed=page + 7)
    layer_id = None if to_host else 1
    want_host, want_dev = run_engine_cpu(c, host_layout, layer_id)
    host = place_engine(c.host, host_where)
    dev = [place_engine(kv, "cuda") for kv in c.dev]
    engine_call(c, host_layout, host, dev, c.host_idx.cuda(), c.dev_idx.cuda(), layer_id)
    torch.cuda.synchronize()
    assert_bitwise(host, want_host)
    assert_bitwise([t for kv in dev for t in kv], [t for kv in want_dev for t in kv])


def test_engine_direct_unaligned_first_index_cpu():
    # Upstream takes the page-first pool's page as first_index // page_size
    # (the lf side's run starts at its first index as given).
    P = 4
    pf = fresh((3, L, P, H, HD), torch.bfloat16)
    lf_k = [poison(torch.empty(12, H, HD, dtype=torch.bfloat16)) for _ in range(L)]
    si, di = torch.tensor([9, 0, 0, 0]), torch.tensor([5, 0, 0, 0])  # page 2 of pf -> lf tokens 5..8
    sgl_kernel.transfer_kv_per_layer_direct_pf_lf([pf], [lf_k[1]], si, di, 1, P)
    assert torch.equal(bits(lf_k[1][5:9]), bits(pf[2, 1]))
    assert is_poison(lf_k[1][:5]) and is_poison(lf_k[1][9:])
    # pf index 11 names page 2, which fits a 3-page pool; 12 does not.
    sgl_kernel.transfer_kv_per_layer_direct_pf_lf([pf], [lf_k[1]], torch.tensor([11, 0, 0, 0]), di, 1, P)
    _raises(ValueError, r"src_indices\[0\] = 12 starts a page that does not fit",
            sgl_kernel.transfer_kv_per_layer_direct_pf_lf, [pf], [lf_k[1]], torch.tensor([12, 0, 0, 0]), di, 1, P)


def test_engine_bad_shapes_cpu():
    P, dtype = 16, torch.bfloat16
    itemsize = 2
    item, ld = H * HD * itemsize, L * H * HD * itemsize
    ph_k, ph_v = fresh((2, H, P, L, HD), dtype), fresh((2, H, P, L, HD), dtype)
    lf_k, lf_v = torch.empty(40, H, HD, dtype=dtype), torch.empty(40, H, HD, dtype=dtype)
    si, di = torch.arange(16) + 16, torch.arange(16)
    f = sgl_kernel.transfer_kv_per_layer_ph_lf
    f(ph_k, lf_k, ph_v, lf_v, si, di, 0, item, ld, P, H)  # fits
    # layout_dim must split into head_num equal parts
    _raises(ValueError, r"src_layout_dim \(100\) must be a multiple of head_num \(3\)", f, ph_k, lf_k, ph_v, lf_v,
            si, di, 0, 96, 100, P, 3)
    _raises(ValueError, "item_size .* must be a multiple of head_num", f, ph_k, lf_k, ph_v, lf_v, si, di, 0, item,
            ld, P, 3)
    # A ph pool one page short of the indices is rejected (src token 32 is page 2 of 2).
    _raises(ValueError, r"src_indices\[0\] = 32 is out of range in the source pool \(32 tokens\)", f, ph_k, lf_k,
            ph_v, lf_v, si + 16, di, 0, item, ld, P, H)
    # ... and so is a layer past the pool's row
    _raises(ValueError, "exceeds src_layout_dim", f, ph_k, lf_k, ph_v, lf_v, si, di, L, item, ld, P, H)
    g = sgl_kernel.transfer_kv_all_layer_lf_ph
    _raises(ValueError, r"dst_layout_dim \(100\) must be a multiple of head_num \(3\)", g, addresses([lf_k], "cpu"),
            ph_k, addresses([lf_v], "cpu"), ph_v, di, si, 96, 100, 1, P, 3)
    ka, va = addresses([lf_k] * L, "cpu"), addresses([lf_v] * L, "cpu")
    _raises(ValueError, r"dst_indices\[0\] = 32 is out of range in the destination pool \(32 tokens\)", g, ka, ph_k,
            va, ph_v, di, si + 16, item, ld, L, P, H)
    # Direct: page-first pools [pages, layers, page_size, ...]
    pfd = fresh((2, L, P, H, HD), dtype)
    d = sgl_kernel.transfer_kv_per_layer_direct_pf_lf
    d([pfd, pfd.clone()], [lf_k, lf_v], si, di, 1, P)
    # token-first [pages * page_size, layers, ...] (the layout the direct variants used to expect)
    _raises(ValueError, r"src_ptrs\[0\] must be a page-first pool \[pages, layers, page_size, \.\.\.\]", d,
            [pfd.view(2 * P, L, H, HD), pfd], [lf_k, lf_v], si, di, 1, P)
    _raises(ValueError, r"src_ptrs\[1\] must be a page-first pool", d, [pfd, pfd.view(2, L, 2, 8, H, HD)],
            [lf_k, lf_v], si, di, 1, P)
    _raises(ValueError, r"src_ptrs\[0\] must be a page-first pool", d, [pfd.view(2 * L, P, H, HD)], [lf_k], si, di,
            1, P)
    _raises(ValueError, r"dst_ptrs\[0\] must have rows of 32 bytes", d, [pfd], [torch.empty(40, HD, dtype=dtype)],
            si, di, 1, P)
    _raises(ValueError, r"src_indices\[0\] = 32 starts a page that does not fit", d, [pfd], [lf_k], si + 16, di, 1,
            P)
    _raises(ValueError, r"dst_indices\[0\] = 30 starts a page that does not fit", d, [pfd], [lf_k], si,
            di + 30, 1, P)
    e = sgl_kernel.transfer_kv_all_layer_direct_lf_pf
    _raises(ValueError, r"dst_indices\[0\] = 32 starts a page that does not fit", e, [lf_k] * L + [lf_v] * L,
            [pfd, pfd.clone()], di, si + 16, P)
    _raises(ValueError, r"dst_ptrs\[0\] must be a page-first pool", e, [lf_k] * L, [pfd.view(2, L, P * H, HD)], di,
            si, P)


@gpu
@pytest.mark.parametrize("pf_where", ["cuda", "pinned"])
def test_engine_direct_unaligned_first_index_cuda(pf_where):
    # As on the CPU: page-first page = first index // page_size, both
    # directions, bitwise against the CPU.
    P = 4
    pf = fresh((3, L, P, H, HD), torch.bfloat16)
    lf = [fresh((12, H, HD), torch.bfloat16) for _ in range(L)]
    si, di = torch.tensor([9, 0, 0, 0, 2, 0, 0, 0]), torch.tensor([5, 0, 0, 0, 0, 0, 0, 0])
    want_lf = [t.clone() for t in lf]
    sgl_kernel.transfer_kv_per_layer_direct_pf_lf([pf], [want_lf[1]], si, di, 1, P)
    want_pf = pf.clone()
    sgl_kernel.transfer_kv_all_layer_direct_lf_pf(lf, [want_pf], di, si, P)
    g_pf = place_engine([pf], pf_where)[0]
    g_lf = [t.cuda() for t in lf]
    sgl_kernel.transfer_kv_per_layer_direct_pf_lf([g_pf], [g_lf[1]], si.cuda(), di.cuda(), 1, P)
    torch.cuda.synchronize()
    assert_bitwise(g_lf, want_lf)
    g_lf = [t.cuda() for t in lf]
    sgl_kernel.transfer_kv_all_layer_direct_lf_pf(g_lf, [g_pf], di.cuda(), si.cuda(), P)
    torch.cuda.synchronize()
    assert_bitwise([g_pf], [want_pf])
