"""The one-pass graph of :func:`sofi_dask.xc_cumulants` (cross-cumulants with virtual pixels).

Every spatial tile (with a halo of the neighbourhood from :func:`dask.array.overlap.overlap`)
folds its frame chunks into a state: the frame count, the per-pixel sum, the shift (the chunk
mean), the per-pixel single sums and, per order, the product sums of every combination and
subset about that shift (kernel :func:`combo_product_sums`). States merge along ``t`` by the
exact shift of product sums (:func:`shift_combo_sums`), so one read of the movie gives every
order and combination. The merged state of a tile becomes the raw cross-cumulant image of every
combination on its base pixels; the tiles are assembled into one ``(n_combos, H, W)`` stack.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask.stats._correlations import sorted_k_partitions
from sofi_dask.stats._fold_graph import _assemble, _bounds, _call, _fold_reduce
from sofi_dask.stats._xc_sofi_kernels import (
    ShapeTable,
    product_masks,
    shape_product_sums,
    shape_table,
    shift_shape_sums,
)


def _xcs_state(block: np.ndarray, *, table: ShapeTable) -> tuple:
    n_t = block.shape[0]
    total = block.sum(axis=0, dtype=np.float64)
    shift = total / n_t
    x = np.ascontiguousarray(block)
    single = (x - shift).sum(axis=0)
    sums = shape_product_sums(x, shift, table.offsets, table.size, table.parent)
    return n_t, total, shift, single, sums


def _xcs_combine(*states: tuple, table: ShapeTable) -> tuple:
    n = sum(s[0] for s in states)
    total = np.sum([s[1] for s in states], axis=0)
    shift = total / n
    single = np.zeros_like(states[0][3])
    sums = np.zeros_like(states[0][4])
    t = table
    for m, _, c, s1, part in states:
        delta = c - shift
        sums += shift_shape_sums(
            part, s1, m, delta, t.offsets, t.size, t.sub_index, t.sub_dy, t.sub_dx
        )
        single += s1 + m * delta
    return n, total, shift, single, sums


def _cumulant_from_sums(sums: np.ndarray, order: int, masks: np.ndarray, n: int) -> np.ndarray:
    """Joint cumulants (C, rows, cols) of zero-mean factors from subset product sums:
    ``k = sum over partitions P with parts >= 2 of (-1)^(|P|-1) (|P|-1)! prod_B m_B``."""
    slot = {int(m): k for k, m in enumerate(masks)}

    def moment(part: tuple) -> np.ndarray:
        return sums[:, slot[sum(1 << i for i in part)]] / n

    acc = moment(tuple(range(order)))
    for n_parts in range(2, order // 2 + 1):
        weight = (-1) ** (n_parts - 1) * math.factorial(n_parts - 1)
        for partition in sorted_k_partitions(range(order), n_parts):
            term = moment(partition[0])
            for part in partition[1:]:
                term = term * moment(part)
            acc = acc + weight * term
    return acc


def _xcs_images(
    state: tuple,
    *,
    offsets: list[np.ndarray],
    table: ShapeTable,
    halo: int,
    row0: int,
    n_rows: int,
    col0: int,
    n_cols: int,
) -> np.ndarray:
    n = state[0]
    # zero margins: combinations that leave the frame read zeros (masked by the caller)
    sums = np.pad(state[4], ((0, 0), (halo, halo), (halo, halo)))
    r0, c0 = row0 + halo, col0 + halo
    out = []
    for off in offsets:
        order = off.shape[1]
        masks = product_masks(order)
        group = np.empty((off.shape[0], masks.size, n_rows, n_cols))
        for c, combo in enumerate(off):
            for k, m in enumerate(masks):
                members = tuple(sorted(tuple(combo[j]) for j in range(order) if m >> j & 1))
                idx, (ay, ax) = table.lookup[members]
                group[c, k] = sums[idx, r0 + ay : r0 + ay + n_rows, c0 + ax : c0 + ax + n_cols]
        out.append(_cumulant_from_sums(group, order, masks, n))
    return np.concatenate(out, axis=0)


def xc_stack(x: da.Array, offsets: list[np.ndarray], halo: int, every: int) -> da.Array:
    """Raw cross-cumulants ``(sum C_g, H, W)`` of every combination group ``offsets[g]``
    (``(C_g, n_g, 2)`` pixel offsets from the base pixel) at every base pixel of ``x``.

    Bases whose combination leaves the frame hold meaningless values (masked by the caller).
    """
    _, height, width = x.shape
    for axis in (1, 2):
        if len(x.chunks[axis]) > 1 and min(x.chunks[axis]) < halo:
            x = x.rechunk({axis: -1})
    table = shape_table([tuple(map(tuple, c)) for off in offsets for c in off])
    n_combos = sum(off.shape[0] for off in offsets)
    ext = da.overlap.overlap(x, depth={0: 0, 1: halo, 2: halo}, boundary="none")
    blocks = ext.to_delayed(optimize_graph=False)
    token = dask.base.tokenize(x.name, [o.tolist() for o in offsets], halo, every)
    pieces: list[list[Any]] = []
    for iy, (y0, y1) in enumerate(_bounds(x.chunks[1])):
        row = []
        for ix, (x0, x1) in enumerate(_bounds(x.chunks[2])):
            geom = dict(row0=halo if iy > 0 else 0, col0=halo if ix > 0 else 0)
            size = dict(n_rows=y1 - y0, n_cols=x1 - x0)
            leaves = [((blocks[it, iy, ix],), dict(table=table)) for it in range(blocks.shape[0])]
            combine = partial(_xcs_combine, table=table)
            final = _fold_reduce(leaves, _xcs_state, combine, every, f"xcs-merge-{token}-{iy}-{ix}")
            finish = partial(_xcs_images, offsets=offsets, table=table, halo=halo, **geom, **size)
            images = _call(finish, f"xcs-images-{token}-{iy}-{ix}", final)
            row.append(
                da.from_delayed(
                    images,
                    shape=(n_combos, y1 - y0, x1 - x0),
                    dtype=np.float64,
                    meta=np.empty((0, 0, 0), dtype=np.float64),
                )
            )
        pieces.append(row)
    return _assemble(pieces)
