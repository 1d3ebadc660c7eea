"""KV-cache I/O: copies of KV-cache items between pools, selected by index lists.

An **item** is one token's slot of one layer, ``item_size`` bytes. Index
tensors are int64 ``[n]``; entry ``j`` copies item ``src_indices[j]`` of the
source to item ``dst_indices[j]`` of the destination. The copies are raw byte
copies (bitwise), whatever the pools' dtypes.

Layouts (byte offsets; ``L`` = layer, ``i`` = token index):

* **lf** (layer-first): per layer one contiguous buffer ``[pool_size, ...]``
  whose rows are ``item_size`` bytes; item ``i`` at ``i * item_size``.
* **pf** (page/token-first): one contiguous buffer ``[pool_size, layers, ...]``;
  ``layout_dim`` is the bytes of one token across all layers; item ``(i, L)``
  at ``i * layout_dim + L * item_size``.
* **ph** (paged, head-split), upstream's page-head pools: one buffer
  ``[pages, head_num, page_size, layers, head_item]`` with ``head_item =
  item_size // head_num`` (SGLang builds it as ``torch.empty(pages, head_num,
  page_size, layers, head_dim, dtype)``, K and V each). Token ``i`` of head
  ``h`` in layer ``L`` is element ``[i // page_size, h, i % page_size, L]``:
  a page holds, head by head, its tokens with their layers in a row.
  ``layout_dim`` is the bytes of one token across all layers (``layers *
  item_size``) and must be a multiple of ``head_num``; with ``P = page_size``
  the piece sits at ``(i // P) * P * layout_dim + h * P * (layout_dim //
  head_num) + (i % P) * (layout_dim // head_num) + L * head_item``. Every
  index is a token index.
* **page-first (direct)**: the pools of the ``*_direct_pf_lf`` /
  ``*_direct_lf_pf`` variants, ``[pages, layers, page_size, ...]`` (token
  ``i`` of layer ``L`` at ``[i // page_size, L, i % page_size]``; SGLang's
  ``page_first_direct`` host pools ``[pages, layers, page_size, head_num,
  head_dim]``, or ``[pages, layers, page_size, 1, dim]`` for MLA).

Backends: when every tensor argument is a CPU tensor the copy runs on the CPU
(indices are bounds-checked and an out-of-range one raises ValueError naming
the argument). Otherwise the CUDA kernel runs on the current stream of the
CUDA tensors' device; CPU tensors (pools, indices, address tensors) must then
be pinned, and the kernel reads and writes them directly over the bus. The
CUDA path does no host sync and no allocation (CUDA-graph safe), so it cannot
check index values: indices must be valid. The ``*_layers`` address tensors
(int64 ``[num_layers]``, e.g. ``torch.tensor([t.data_ptr() for t in
k_buffers])``) hold raw addresses that cannot be checked either; on the CPU
path they must be host addresses, on the CUDA path device or pinned-host ones,
and the address tensor itself must be device-readable (CUDA or pinned).

``block_quota`` is the total number of thread blocks of the launch: the
transfer runs on at most ``block_quota`` SMs and leaves the rest of the GPU to
compute running beside it (a few blocks saturate PCIe for host transfers; a
device-to-device copy of many layers reaches 0.92-0.95 of the copy bandwidth
with two blocks of 32 warps per SM on an H200, 0.85-0.91 with two of 16).
``num_warps_per_block`` (1..32) sets the block size. Between device buffers,
where every row is whole 16-byte words, a thread copies one or two words at a
time (one layer always; several layers when the quota gives 64 warps to every
SM or a thread to every word). Otherwise each warp moves one or two items at a
time with 16-byte accesses when both addresses and the item (or head piece)
size allow, else 8, 4, 2 or 1 bytes; warps stride over the items.

The *direct* variants take lists of pool tensors and copy whole pages:
``len(src_indices)`` must be a multiple of ``page_size``, and page ``k`` (entries
``[k * page_size, (k + 1) * page_size)``) copies tokens ``src_indices[k *
page_size] + t`` to ``dst_indices[k * page_size] + t`` for ``t < page_size``; the
other entries of the page are not read. On a page-first pool the page's first
index names page ``index // page_size`` (as upstream), whose slots ``t`` it
copies; with page-aligned indices (what the engine's allocators give) that is
the same token rule. They use the same kernel as the other
variants (not one cudaMemcpyAsync per page), so device index tensors need no
host sync and the copies can be graph-captured. They take
no block_quota: they run with two blocks of 32 warps per SM between device
pools (16 warps when a pool is pinned host memory), and move up to 96 layers'
K and V pools (192 tensors a side) in one launch.
"""

from typing import List

import torch

from sgl_kernel.errors import translate_errors

_ops = torch.ops.sgl_kernel


@translate_errors
def transfer_kv_per_layer(
    src_k: torch.Tensor,
    dst_k: torch.Tensor,
    src_v: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """One layer, lf to lf: ``dst_k[dst_indices] = src_k[src_indices]``, same for V.

    src_k, dst_k, src_v, dst_v: lf pools ``[pool_size, ...]`` with rows of
        ``item_size`` bytes (a 1-D tensor is taken as a flat byte buffer).
    """
    _ops.transfer_kv_per_layer(
        src_k, dst_k, src_v, dst_v, src_indices, dst_indices, item_size, block_quota, num_warps_per_block
    )


@translate_errors
def transfer_kv_all_layer(
    src_k_layers: torch.Tensor,
    dst_k_layers: torch.Tensor,
    src_v_layers: torch.Tensor,
    dst_v_layers: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    num_layers: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """All layers, lf to lf. ``*_layers``: int64 ``[num_layers]`` addresses of
    each layer's lf buffer (items of ``item_size`` bytes, packed)."""
    _ops.transfer_kv_all_layer(
        src_k_layers,
        dst_k_layers,
        src_v_layers,
        dst_v_layers,
        src_indices,
        dst_indices,
        item_size,
        num_layers,
        block_quota,
        num_warps_per_block,
    )


@translate_errors
def transfer_kv_per_layer_pf_lf(
    src_k: torch.Tensor,
    dst_k: torch.Tensor,
    src_v: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    item_size: int,
    src_layout_dim: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """Layer ``layer_id`` of pf pools ``src_k``/``src_v`` (``src_layout_dim``
    bytes per token) into lf layer pools ``dst_k``/``dst_v``."""
    _ops.transfer_kv_per_layer_pf_lf(
        src_k,
        dst_k,
        src_v,
        dst_v,
        src_indices,
        dst_indices,
        layer_id,
        item_size,
        src_layout_dim,
        block_quota,
        num_warps_per_block,
    )


@translate_errors
def transfer_kv_per_layer_ph_lf(
    src_k: torch.Tensor,
    dst_k: torch.Tensor,
    src_v: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    item_size: int,
    src_layout_dim: int,
    page_size: int,
    head_num: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """Layer ``layer_id`` of ph pools into lf layer pools.

    src_k, src_v: ph pools ``[pages, head_num, page_size, layers, head_dim]``
        (any shape of those bytes, contiguous); ``src_layout_dim`` = bytes of
        one token across their layers (``layers * item_size``), a multiple of
        ``head_num``.
    dst_k, dst_v: lf pools ``[pool_tokens, head_num, head_dim]`` of layer
        ``layer_id``; ``item_size`` = bytes of one of their rows.
    Token ``src_indices[j]`` (element ``[i // page_size, :, i % page_size,
    layer_id]`` of the source) goes to row ``dst_indices[j]``.
    """
    _ops.transfer_kv_per_layer_ph_lf(
        src_k,
        dst_k,
        src_v,
        dst_v,
        src_indices,
        dst_indices,
        layer_id,
        item_size,
        src_layout_dim,
        page_size,
        head_num,
        block_quota,
        num_warps_per_block,
    )


@translate_errors
def transfer_kv_all_layer_lf_pf(
    src_k_layers: torch.Tensor,
    dst_k: torch.Tensor,
    src_v_layers: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    dst_layout_dim: int,
    num_layers: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """All lf layers (addresses in ``src_*_layers``) into layers ``[0,
    num_layers)`` of pf pools ``dst_k``/``dst_v``."""
    _ops.transfer_kv_all_layer_lf_pf(
        src_k_layers,
        dst_k,
        src_v_layers,
        dst_v,
        src_indices,
        dst_indices,
        item_size,
        dst_layout_dim,
        num_layers,
        block_quota,
        num_warps_per_block,
    )


@translate_errors
def transfer_kv_all_layer_lf_ph(
    src_k_layers: torch.Tensor,
    dst_k: torch.Tensor,
    src_v_layers: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    dst_layout_dim: int,
    num_layers: int,
    page_size: int,
    head_num: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """All lf layers (addresses in ``src_*_layers``) into layers ``[0,
    num_layers)`` of ph pools ``dst_k``/``dst_v`` ``[pages, head_num,
    page_size, layers, head_dim]``: row ``src_indices[j]`` of layer ``l`` goes
    to element ``[i // page_size, :, i % page_size, l]``, ``i =
    dst_indices[j]``. ``dst_layout_dim`` = bytes of one token across the
    pool's layers, a multiple of ``head_num``."""
    _ops.transfer_kv_all_layer_lf_ph(
        src_k_layers,
        dst_k,
        src_v_layers,
        dst_v,
        src_indices,
        dst_indices,
        item_size,
        dst_layout_dim,
        num_layers,
        page_size,
        head_num,
        block_quota,
        num_warps_per_block,
    )


@translate_errors
def transfer_kv_direct(
    src_layers: List[torch.Tensor],
    dst_layers: List[torch.Tensor],
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    page_size: int,
) -> None:
    """Pages of every pool pair: ``src_layers[l]`` to ``dst_layers[l]`` (K and
    V pools alike, any order), each contiguous ``[pool_size, ...]``, a pair's
    rows of equal bytes; the item of a pair is one row."""
    _ops.transfer_kv_direct(list(src_layers), list(dst_layers), src_indices, dst_indices, page_size)


@translate_errors
def transfer_kv_per_layer_direct_pf_lf(
    src_ptrs: List[torch.Tensor],
    dst_ptrs: List[torch.Tensor],
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    page_size: int,
) -> None:
    """Pages of layer ``layer_id`` out of page-first pools.

    src_ptrs: ``[k, v]`` (or ``[kv]`` for MLA), page-first pools ``[pages,
        layers, page_size, ...]`` (``page_size`` in dim 2; an item is the
        bytes of one ``[p, layer, slot]`` entry).
    dst_ptrs: the matching lf pools of layer ``layer_id``, ``[pool_tokens,
        ...]`` with rows of one item.
    Page ``k`` copies ``src[0][s // page_size, layer_id, t]`` to
    ``dst[0][d + t]`` (and V alike) for ``t < page_size``, ``s``, ``d`` the
    page's first entries of ``src_indices`` / ``dst_indices``.
    """
    _ops.transfer_kv_per_layer_direct_pf_lf(
        list(src_ptrs), list(dst_ptrs), src_indices, dst_indices, layer_id, page_size
    )


@translate_errors
def transfer_kv_all_layer_direct_lf_pf(
    src_ptrs: List[torch.Tensor],
    dst_ptrs: List[torch.Tensor],
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    page_size: int,
) -> None:
    """Pages of all layers into page-first pools.

    src_ptrs: the lf layer pools ``[pool_tokens, ...]``, all K layers then
        all V layers (``len(src_ptrs) = len(dst_ptrs) * num_layers``; MLA: the
        latent pool of each layer).
    dst_ptrs: ``[k, v]`` (or ``[kv]``), page-first pools ``[pages, layers,
        page_size, ...]``.
    Page ``k`` copies row ``s + t`` of layer ``l`` to ``dst[0][d //
    page_size, l, t]`` (V alike) for ``t < page_size``, ``s``, ``d`` the
    page's first entries of ``src_indices`` / ``dst_indices``.
    """
    _ops.transfer_kv_all_layer_direct_lf_pf(list(src_ptrs), list(dst_ptrs), src_indices, dst_indices, page_size)


@translate_errors
def transfer_kv_per_layer_mla(
    src: torch.Tensor,
    dst: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """MLA, one layer, lf to lf: one latent pool instead of K and V."""
    _ops.transfer_kv_per_layer_mla(src, dst, src_indices, dst_indices, item_size, block_quota, num_warps_per_block)


@translate_errors
def transfer_kv_all_layer_mla(
    src_layers: torch.Tensor,
    dst_layers: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    num_layers: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """MLA, all layers, lf to lf, pools given by int64 address tensors."""
    _ops.transfer_kv_all_layer_mla(
        src_layers, dst_layers, src_indices, dst_indices, item_size, num_layers, block_quota, num_warps_per_block
    )


@translate_errors
def transfer_kv_per_layer_mla_pf_lf(
    src: torch.Tensor,
    dst: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    item_size: int,
    src_layout_dim: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """MLA, layer ``layer_id`` of a pf pool into an lf layer pool."""
    _ops.transfer_kv_per_layer_mla_pf_lf(
        src, dst, src_indices, dst_indices, layer_id, item_size, src_layout_dim, block_quota, num_warps_per_block
    )


@translate_errors
def transfer_kv_all_layer_mla_lf_pf(
    src_layers: torch.Tensor,
    dst: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    dst_layout_dim: int,
    num_layers: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """MLA, all lf layers (addresses) into layers ``[0, num_layers)`` of a pf pool."""
    _ops.transfer_kv_all_layer_mla_lf_pf(
        src_layers, dst, src_indices, dst_indices, item_size, dst_layout_dim, num_layers, block_quota, num_warps_per_block
    )


# Every op only mutates memory: the fake implementations return nothing.
for _name in (
    "transfer_kv_per_layer",
    "transfer_kv_all_layer",
    "transfer_kv_per_layer_pf_lf",
    "transfer_kv_per_layer_ph_lf",
    "transfer_kv_all_layer_lf_pf",
    "transfer_kv_all_layer_lf_ph",
    "transfer_kv_direct",
    "transfer_kv_per_layer_direct_pf_lf",
    "transfer_kv_all_layer_direct_lf_pf",
    "transfer_kv_per_layer_mla",
    "transfer_kv_all_layer_mla",
    "transfer_kv_per_layer_mla_pf_lf",
    "transfer_kv_all_layer_mla_lf_pf",
):
    torch.library.register_fake(f"sgl_kernel::{_name}")(lambda *args: None)


def is_hip() -> bool:
    """False: this library is built for CUDA (upstream's module exposes it too)."""
    return False
