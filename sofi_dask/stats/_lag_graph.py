"""The lag-moment reduction graph of :func:`sofi_dask.moments_with_lag`.

Each frame chunk is read and reduced in one fused task (:func:`_lag_chunk`), which also hands
out copies of its first and last ``max(tau)`` frames; a per-chunk leaf (:func:`_lag_leaf`) adds
the products straddling the boundary with the next chunk, and the chunk states are merged along
``t`` in one ``da.reduction`` (:func:`_lag_stack`). Kernels in
:mod:`sofi_dask._correlation_kernels`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from sofi_dask.stats._correlation_kernels import lag_subset_sums, mask_tables, shift_subset_sums


def _min_chunks(chunks: Sequence[int], least: int) -> tuple[int, ...]:
    """``chunks`` with runs merged so that every chunk holds >= ``least`` frames."""
    out: list[int] = []
    run = 0
    for c in chunks:
        run += int(c)
        if run >= least:
            out.append(run)
            run = 0
    if run:
        if out:
            out[-1] += run
        else:
            out.append(run)
    return tuple(out)


def _lag_chunk(block: np.ndarray, *, lags: tuple[int, ...], max_lag: int) -> tuple:
    """One chunk (fused with its read): the state of the products whose frames all lie in the
    chunk, plus copies of its first and last ``max_lag`` frames for the seams."""
    n_t, height, width = block.shape
    n_pix = height * width
    frames = np.ascontiguousarray(block).reshape(n_t, n_pix)
    total = frames.sum(axis=0, dtype=np.float64)
    shift = total / n_t
    parent, top_bit, _ = mask_tables(len(lags))
    n_times = n_t - max_lag  # start times t with t + max_lag still inside the chunk
    if n_times > 0:
        sums = lag_subset_sums(frames, shift, np.asarray(lags, np.int64), n_times, parent, top_bit)
    else:
        sums = np.zeros((len(parent), n_pix))
    head = frames[:max_lag].copy()
    tail = frames[n_t - max_lag :].copy()
    return (n_t, total, shift, sums, (height, width)), head, tail


def _lag_leaf(part: tuple, after: tuple | None, *, lags: tuple[int, ...]) -> tuple:
    """A chunk's state plus its seam: products starting in its last ``max_lag`` frames, whose
    later factors lie in the next chunk (summed about the same shift, so they simply add)."""
    state, _, tail = part
    if after is None or tail.shape[0] == 0:
        return state
    n_t, total, shift, sums, shape = state
    parent, top_bit, _ = mask_tables(len(lags))
    frames = np.concatenate((tail, after[1]), axis=0)
    seam = lag_subset_sums(
        frames, shift, np.asarray(lags, np.int64), tail.shape[0], parent, top_bit
    )
    return n_t, total, shift, sums + seam, shape


def _flat(parts: Any) -> list[tuple]:
    if isinstance(parts, tuple):
        return [parts]
    return [s for p in parts for s in _flat(p)]


def _lag_merge(parts: Any, axis: Any = None, keepdims: bool = True) -> tuple:
    states = _flat(parts)
    if len(states) == 1:
        return states[0]
    n = sum(s[0] for s in states)
    total = np.sum([s[1] for s in states], axis=0)
    shift = total / n
    popcount = None
    out = None
    for _, _, c, sums, _ in states:
        if sums[0, 0] == 0:  # no product terms in this state: nothing to shift
            continue
        if popcount is None:
            popcount = mask_tables(int(np.log2(sums.shape[0])))[2]
        moved = shift_subset_sums(sums, c - shift, popcount)
        out = moved if out is None else out + moved
    if out is None:
        out = np.zeros_like(states[0][3])
    return n, total, shift, out, states[0][4]


def _lag_images(
    parts: Any,
    axis: Any = None,
    keepdims: bool = True,
    *,
    masks: tuple[int, ...],
    n_products: int,
) -> np.ndarray:
    state = _lag_merge(parts)
    return (state[3][list(masks)] / n_products).reshape(len(masks), *state[4])


def _identity(x: Any, axis: Any = None, keepdims: bool = True) -> Any:
    return x


def _lag_stack(
    x: da.Array, lags: tuple[int, ...], masks: tuple[int, ...], split_every: int
) -> da.Array:
    """The lag-moment images ``(len(masks), y, x)`` as one ``da.reduction`` over ``t``.

    Each chunk is read and reduced in one fused task (as in :func:`moment_stack`, so the
    scheduler never holds raw chunks waiting for their neighbours); the products that straddle a
    chunk boundary come from the small head/tail copies in a per-chunk leaf task.
    """
    max_lag = max(lags)
    n_products = x.shape[0] - max_lag
    if max_lag and min(x.chunks[0]) < max_lag:
        x = x.rechunk({0: _min_chunks(x.chunks[0], max_lag)})
    token = dask.base.tokenize(x, lags, masks, split_every)
    obj_meta = np.empty((0, 0, 0), dtype=np.float64)
    parts = da.map_blocks(
        _lag_chunk,
        x,
        lags=lags,
        max_lag=max_lag,
        dtype=np.float64,
        meta=obj_meta,
        name=f"lag-chunk-{token}",
    )
    n_t = len(x.chunks[0])
    leaf_name = f"lag-leaf-{token}"
    dsk: dict = {}
    for it, iy, ix in itertools.product(*(range(len(c)) for c in x.chunks)):
        after = (parts.name, it + 1, iy, ix) if it + 1 < n_t else None
        dsk[(leaf_name, it, iy, ix)] = (
            partial(_lag_leaf, lags=lags),
            (parts.name, it, iy, ix),
            after,
        )
    graph = HighLevelGraph.from_collections(leaf_name, dsk, dependencies=[parts])
    leaves = da.Array(graph, leaf_name, chunks=x.chunks, meta=obj_meta)
    stack = da.reduction(
        leaves,
        chunk=_identity,
        combine=_lag_merge,
        aggregate=partial(_lag_images, masks=masks, n_products=n_products),
        axis=0,
        keepdims=True,
        dtype=np.float64,
        split_every=split_every,
        concatenate=False,
        output_size=len(masks),
        meta=obj_meta,
        name=f"lag-moments-{token}",
    )
    return stack
