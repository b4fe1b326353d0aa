"""The quality section's bleaching-block means: the mean over the blocks of their statistic and
of their two interleaved halves, the frame-weighted average image and the block prefixes, from
one sum tree of packed per-block stacks (graph pieces of :func:`sofi_dask.pipeline._quality.
split_statistic`)."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np


def _pack_block(
    *stacks: np.ndarray, counts: tuple[int, int], has: tuple[bool, bool], cumulants: bool
) -> np.ndarray:
    """One block's ``[statistic, frames * mean image, half A, half B]`` from the moment stacks
    of its halves (``counts``: frames of A and B, 0 for a half the block lacks: ``stacks`` holds
    the others), in one task: the whole is their exact merge (as
    :func:`sofi_dask.stats._stack_tree.interleaved_stacks`' ``full``), every stack converted to
    cumulants when asked, straight into its part of the packed stack; a half not kept
    (``has``) is zeros."""
    from sofi_dask.pipeline._methods_graph import _put_statistic, _stat_pack
    from sofi_dask.stats._moment_state import merge_stacks

    present = [c for c in counts if c > 0]
    full = merge_stacks(list(stacks), present) if len(stacks) == 2 else stacks[0]
    k = int(full.shape[0])
    out = np.empty((3 * k + 1, *full.shape[1:]), dtype=np.float64)
    _stat_pack(full, frames=sum(present), cumulants=cumulants, out=out)
    found = iter(stacks)
    for part, (count, keep) in enumerate(zip(counts, has, strict=True)):
        stack = next(found) if count > 0 else None
        half = out[k + 1 + part * k : k + 1 + (part + 1) * k]
        if keep and stack is not None:
            _put_statistic(stack, half, cumulants=cumulants)
        else:
            half[...] = 0.0
    return out


def _packed_means(
    trees: list[Any], sizes: list[int], has: list[tuple[bool, bool]], cumulants: bool
) -> tuple[Any, tuple[Any, Any], Any, tuple[tuple[int, Any], ...]]:
    """Mean over the bleaching blocks of their statistic and of their two halves (over the
    blocks that keep the half: ``has``), the frame-weighted average image and the means of the
    first 1, 2, 4... blocks, from ONE packed stack per block (:func:`_pack_block`: the merge of
    the halves, the cumulant conversions and the packing in one task; a half a block does not
    keep is zeros) and ONE sum tree (:func:`sofi_dask.stats._stack_tree.sum_tree`): each
    block's stack has one consumer, so the blocks do not pile up until the end, and the sum of
    the halves costs no tree of its own."""
    from sofi_dask.stats._stack_tree import sum_tree

    tree0 = trees[0]
    k = int(tree0.full.shape[0])
    meta = np.empty((0, 0, 0), dtype=np.float64)
    packs = []
    for tree, hs in zip(trees, has, strict=True):
        pair = (tree.half_a, tree.half_b)
        counts = tuple(
            c if h is not None else 0 for h, c in zip(pair, tree.counts[1:], strict=True)
        )
        packs.append(
            da.map_blocks(
                _pack_block, *(h for h in pair if h is not None), counts=counts, has=hs,
                cumulants=cumulants, dtype=np.float64,
                chunks=((3 * k + 1,), *tree.full.chunks[1:]), meta=meta,
            )
        )  # fmt: skip
    total, prefixes = sum_tree(packs, prefixes=True)
    n_a, n_b = (sum(h[i] for h in has) for i in (0, 1))
    means = (
        total[k + 1 : 2 * k + 1] / n_a if n_a else None,
        total[2 * k + 1 :] / n_b if n_b else None,
    )
    pref = tuple((n, p[:k] / n) for n, p in prefixes)
    return total[:k] / len(trees), means, total[k] / sum(sizes), pref


def _square_sums(*images: np.ndarray, orders: tuple[int, ...]) -> np.ndarray:
    """One tile's sums of squares ``[||I_i - I_{i-1}||^2 ..., ||I_i||^2 ...]`` (i >= 1, every
    order), each summed over a ``(1, 1, y, x)`` array as dask's ``sum`` of a chunk of the
    ``(prefix, order)`` stack: the same floating-point operations. The squares go through one
    buffer of the tile (was: three fresh tiles per prefix and order)."""
    d, c = [], []
    buf = np.empty(images[0].shape[1:], dtype=np.result_type(images[0].dtype, np.float64))
    squares = buf[None, None]
    for prev, cur in zip(images[:-1], images[1:], strict=True):
        for k in orders:
            np.subtract(cur[k], prev[k], out=buf)
            np.multiply(buf, buf, out=buf)
            d.append(np.sum(squares, axis=(2, 3)))
            np.multiply(cur[k], cur[k], out=buf)
            c.append(np.sum(squares, axis=(2, 3)))
    return np.concatenate(d + c, axis=None)[:, None, None]


def convergence_norms(images: list[Any], orders: list[int]) -> tuple[Any, Any]:
    """Lazy ``(d, c)``, arrays ``(len(images) - 1, len(orders))`` of ``||I_i - I_{i-1}||`` and
    ``||I_i||`` over lazy image stacks ``(k, y, x)`` of one tiling (order ``k`` at ``[k]``): one
    task per tile for every prefix and order, then one sum over the tiles (the reduction of
    ``da.stack`` of the images, with a few tasks instead of several per prefix and order)."""
    images = [im if im.numblocks[0] == 1 else im.rechunk({0: -1}) for im in images]
    m = (len(images) - 1) * len(orders)
    sq = da.map_blocks(
        _square_sums, *images, orders=tuple(orders), dtype=np.float64,
        chunks=((2 * m,), *((1,) * len(c) for c in images[0].chunks[1:])),
        meta=np.empty((0, 0, 0), dtype=np.float64),
    )  # fmt: skip
    total = sq.sum(axis=(-2, -1))
    shape = (len(images) - 1, len(orders))
    return da.sqrt(total[:m].reshape(shape)), da.sqrt(total[m:].reshape(shape))
