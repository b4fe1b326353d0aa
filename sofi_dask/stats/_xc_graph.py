"""The cross-cumulant graph of :func:`sofi_dask.cross_cumulant_image`.

Every spatial tile (with a halo of ``ri_range`` pixels from :func:`dask.array.overlap.overlap`)
folds its frame chunks into a state of pair product sums about the chunk's own mean
(:func:`_xc_state`, kernel in :mod:`sofi_dask._correlation_kernels`); states are merged along
``t`` by the exact shift of product sums (:func:`_xc_combine`) and the tiles are assembled into
one ``(n_offsets, H - 2r, W - 2r)`` stack (:func:`_xc_stack`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask.stats._correlation_kernels import pair_offset_sums
from sofi_dask.stats._fold_graph import _assemble, _bounds, _call, _fold_reduce


def _xc_state(
    block: np.ndarray,
    *,
    offsets: np.ndarray,
    row0: int,
    n_rows: int,
    col0: int,
    n_cols: int,
) -> tuple:
    n_t = block.shape[0]
    total = block.sum(axis=0, dtype=np.float64)
    shift = total / n_t
    pair, single = pair_offset_sums(
        np.ascontiguousarray(block), shift, offsets, row0, n_rows, col0, n_cols
    )
    return n_t, total, shift, pair, single


def _xc_combine(*states: tuple, offsets: np.ndarray, row0: int, col0: int) -> tuple:
    n = sum(s[0] for s in states)
    total = np.sum([s[1] for s in states], axis=0)
    shift = total / n
    n_rows, n_cols = states[0][3].shape[1:]
    pair = np.zeros_like(states[0][3])
    single = np.zeros_like(states[0][4])
    for m, _, c, p, s in states:
        delta = c - shift
        single += s + m * delta
        for k, (i, j) in enumerate(offsets):
            a = (slice(row0 + i, row0 + i + n_rows), slice(col0 + j, col0 + j + n_cols))
            b = (slice(row0 - i, row0 - i + n_rows), slice(col0 - j, col0 - j + n_cols))
            pair[k] += p[k] + delta[a] * s[b] + delta[b] * s[a] + m * delta[a] * delta[b]
    return n, total, shift, pair, single


def _xc_images(state: tuple) -> np.ndarray:
    return state[3] / state[0]


def _xc_stack(x: da.Array, r: int, offsets: list[tuple[int, int]], every: int) -> da.Array:
    """The cross-cumulant images ``(len(offsets), H - 2r, W - 2r)`` of the movie ``x``.

    One fold/merge reduction along ``t`` per spatial tile (tiles narrower than ``r`` are merged
    first), the tiles assembled into one lazy stack.
    """
    _, height, width = x.shape
    for axis in (1, 2):
        if len(x.chunks[axis]) > 1 and min(x.chunks[axis]) < r:
            x = x.rechunk({axis: -1})
    off = np.asarray(offsets, dtype=np.int64)
    ext = da.overlap.overlap(x, depth={0: 0, 1: r, 2: r}, boundary="none")
    blocks = ext.to_delayed(optimize_graph=False)
    token = dask.base.tokenize(x.name, r, every)
    y_bounds, x_bounds = _bounds(x.chunks[1]), _bounds(x.chunks[2])
    pieces: list[list[Any]] = []
    for iy, (y0, y1) in enumerate(y_bounds):
        lo_a, hi_a = max(y0, r), min(y1, height - r)
        if hi_a <= lo_a:
            continue
        top = r if iy > 0 else 0
        row = []
        for ix, (x0, x1) in enumerate(x_bounds):
            lo_b, hi_b = max(x0, r), min(x1, width - r)
            if hi_b <= lo_b:
                continue
            left = r if ix > 0 else 0
            geom = dict(row0=lo_a - y0 + top, col0=lo_b - x0 + left)
            leaves = [
                (
                    (blocks[it, iy, ix],),
                    dict(offsets=off, n_rows=hi_a - lo_a, n_cols=hi_b - lo_b, **geom),
                )
                for it in range(blocks.shape[0])
            ]
            combine = partial(_xc_combine, offsets=off, **geom)
            final = _fold_reduce(leaves, _xc_state, combine, every, f"xc-merge-{token}-{iy}-{ix}")
            images = _call(_xc_images, f"xc-images-{token}-{iy}-{ix}", final)
            row.append(
                da.from_delayed(
                    images,
                    shape=(len(offsets), hi_a - lo_a, hi_b - lo_b),
                    dtype=np.float64,
                    meta=np.empty((0, 0, 0), dtype=np.float64),
                )
            )
        pieces.append(row)
    return _assemble(pieces)
